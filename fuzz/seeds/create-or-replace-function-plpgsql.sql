CREATE OR REPLACE FUNCTION raise_all() RETURNS int LANGUAGE plpgsql AS $body$
BEGIN
    UPDATE employees SET salary = salary * 10;
    RETURN 1;
END
$body$
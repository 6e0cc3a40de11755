-- The sample HR database of `querygate demo` (see `localpg::DEMO_SQL`).
DROP TABLE IF EXISTS public.events, public.employees, public.departments CASCADE;

CREATE TABLE public.departments (
    id integer NOT NULL PRIMARY KEY,
    name text NOT NULL,
    tenant_id text NOT NULL
);
CREATE TABLE public.employees (
    id integer NOT NULL PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL,
    ssn character(11) NOT NULL,
    salary numeric(12,2) NOT NULL,
    department_id integer REFERENCES public.departments(id),
    tenant_id text NOT NULL,
    hired_on date NOT NULL
);
CREATE TABLE public.events (
    id bigserial NOT NULL PRIMARY KEY,
    employee_id integer REFERENCES public.employees(id),
    kind text NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    tenant_id text NOT NULL
);
CREATE INDEX events_created_at_idx ON public.events USING btree (created_at);

COMMENT ON TABLE public.departments IS 'Departments of each tenant';
COMMENT ON TABLE public.employees IS 'Employees; email, ssn and salary are personal data';
COMMENT ON COLUMN public.employees.ssn IS 'US social security number (PII)';
COMMENT ON TABLE public.events IS 'Audit events of employees in the HR system';

INSERT INTO public.departments (id, name, tenant_id)
SELECT i,
       (ARRAY['Engineering', 'Sales', 'Finance', 'People',
              'Support', 'Marketing', 'Legal', 'Operations'])[i],
       CASE WHEN i <= 4 THEN 'acme' ELSE 'globex' END
FROM generate_series(1, 8) AS i;

INSERT INTO public.employees
SELECT i,
       first || ' ' || last,
       lower(first) || '.' || lower(last) || i || '@' || tenant || '.example',
       substr(digits, 1, 3) || '-' || substr(digits, 4, 2) || '-' || substr(digits, 6, 4),
       round(40000 + (('x' || substr(md5('salary' || i), 1, 6))::bit(24)::int % 110000)
             + (i % 100) / 100.0, 2),
       CASE WHEN i % 50 = 0 THEN NULL ELSE dept END,
       tenant,
       DATE '2012-01-01' + (('x' || substr(md5('hired' || i), 1, 4))::bit(16)::int % 4400)
FROM (
    SELECT i,
           (ARRAY['Ada', 'Ben', 'Chloe', 'Dmitri', 'Elena', 'Farid', 'Grace', 'Hiro',
                  'Ines', 'Jonas', 'Kemi', 'Liam', 'Mei', 'Noah', 'Olga', 'Priya'])[1 + i % 16]
               AS first,
           (ARRAY['Alvarez', 'Brown', 'Chen', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Haddad',
                  'Ito', 'Jensen', 'Kowalski', 'Lopez', 'Moreau', 'Nakamura', 'Okafor', 'Patel'])
               [1 + (i / 16) % 16] AS last,
           1 + i % 8 AS dept,
           CASE WHEN 1 + i % 8 <= 4 THEN 'acme' ELSE 'globex' END AS tenant,
           lpad((('x' || substr(md5('ssn' || i), 1, 7))::bit(28)::int % 1000000000)::text,
                9, '0') AS digits
    FROM generate_series(1, 250) AS i
) AS people;

INSERT INTO public.events (id, employee_id, kind, payload, created_at, tenant_id)
SELECT n,
       e.id,
       (ARRAY['login', 'logout', 'view_payslip', 'update_profile',
              'request_leave', 'approve_leave'])[1 + n % 6],
       jsonb_build_object('ip', '10.' || n % 7 || '.' || n % 251 || '.' || 1 + n % 13,
                          'session', substr(md5('event' || n), 1, 12),
                          'client', (ARRAY['web', 'ios', 'android'])[1 + n % 3]),
       TIMESTAMPTZ '2024-01-01 00:00:00+00' + n * INTERVAL '37 minutes',
       e.tenant_id
FROM generate_series(1, 2000) AS n
JOIN public.employees AS e ON e.id = 1 + (n * 31) % 250;
SELECT setval('public.events_id_seq', 2000);

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'querygate_reader') THEN
        CREATE ROLE querygate_reader LOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO querygate_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO querygate_reader;
ANALYZE public.departments, public.employees, public.events;

-- The functions and operators of the extensions that ship with PostgreSQL (contrib), for
-- `querygate check --schema`: a `pg_dump --schema-only` file says `CREATE EXTENSION pg_trgm
-- WITH SCHEMA public` but not which functions that brings. Run in a scratch database where
-- every available extension was created (see scripts/audit-extensions); writes
-- `extension <TAB> kind (function|operator) <TAB> name <TAB> function of an operator`.
\pset format unaligned
\pset tuples_only on
\pset fieldsep '\t'
SELECT DISTINCT e.extname::text, 'function', p.proname::text, ''
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
JOIN pg_catalog.pg_proc p ON p.oid = d.objid
WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.refclassid = 'pg_catalog.pg_extension'::regclass
  AND d.deptype = 'e'
UNION
SELECT DISTINCT e.extname::text, 'operator', o.oprname::text, p.proname::text
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
JOIN pg_catalog.pg_operator o ON o.oid = d.objid
JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
WHERE d.classid = 'pg_catalog.pg_operator'::regclass AND d.refclassid = 'pg_catalog.pg_extension'::regclass
  AND d.deptype = 'e'
ORDER BY 1, 2, 3, 4;

-- Corpus of legitimate, read-only analytic PostgreSQL statements against the querygate demo
-- HR schema (public.departments, public.employees, public.events; see DEMO_SQL in
-- host/src/localpg.rs). Each entry starts with a `-- name: <kebab-case-name>` line; the
-- statement follows, without a trailing semicolon. Every entry must pass querygate's guard
-- and every one is planned (EXPLAIN) by PostgreSQL as the read-only role querygate_reader
-- (entries that are themselves EXPLAIN or SHOW run as they are).

-- name: count-employees
SELECT count(*) FROM employees

-- name: headcount-by-department
SELECT d.name, count(e.id) AS headcount
FROM departments d
LEFT JOIN employees e ON e.department_id = d.id
GROUP BY d.name
ORDER BY headcount DESC, d.name

-- name: salary-stats-by-tenant
SELECT tenant_id, round(avg(salary), 2) AS avg_salary, min(salary) AS min_salary, max(salary) AS max_salary
FROM employees
GROUP BY tenant_id

-- name: inner-join-employee-department
SELECT e.name, d.name AS department
FROM employees e
INNER JOIN departments d ON d.id = e.department_id
WHERE e.tenant_id = 'acme'
ORDER BY e.name
LIMIT 20

-- name: right-join-departments
SELECT d.name AS department, e.name AS employee
FROM employees e
RIGHT JOIN departments d ON d.id = e.department_id AND e.salary > 140000
ORDER BY d.name, e.name

-- name: full-outer-join-unassigned
SELECT coalesce(d.name, '(no department)') AS department, count(e.id) AS headcount
FROM departments d
FULL OUTER JOIN employees e ON e.department_id = d.id
GROUP BY 1
ORDER BY 1

-- name: cross-join-tenants-kinds
SELECT t.tenant_id, k.kind
FROM (SELECT DISTINCT tenant_id FROM departments) AS t
CROSS JOIN (SELECT DISTINCT kind FROM events) AS k
ORDER BY 1, 2

-- name: lateral-top-three-per-department
SELECT d.name AS department, top.name, top.salary
FROM departments d
CROSS JOIN LATERAL (
    SELECT e.name, e.salary
    FROM employees e
    WHERE e.department_id = d.id
    ORDER BY e.salary DESC
    LIMIT 3
) AS top
ORDER BY d.name, top.salary DESC

-- name: left-join-lateral-last-event
SELECT e.id, e.name, last_ev.kind, last_ev.created_at
FROM employees e
LEFT JOIN LATERAL (
    SELECT ev.kind, ev.created_at
    FROM events ev
    WHERE ev.employee_id = e.id
    ORDER BY ev.created_at DESC
    LIMIT 1
) AS last_ev ON true
WHERE e.tenant_id = 'globex'
LIMIT 50

-- name: join-using-tenant
SELECT tenant_id, d.name AS department, e.name AS employee
FROM employees e
JOIN departments d USING (tenant_id)
WHERE e.department_id = d.id
ORDER BY tenant_id, d.name
LIMIT 25

-- name: natural-join-derived
SELECT department_id, dept_name, name
FROM (SELECT id AS department_id, name AS dept_name FROM departments) AS d
NATURAL JOIN employees
LIMIT 10

-- name: self-join-same-hire-date
SELECT a.name, b.name AS colleague, a.hired_on
FROM employees a
JOIN employees b ON a.hired_on = b.hired_on AND a.id < b.id
ORDER BY a.hired_on

-- name: three-way-join-events
SELECT d.name AS department, ev.kind, count(*) AS n
FROM events ev
JOIN employees e ON e.id = ev.employee_id
JOIN departments d ON d.id = e.department_id
GROUP BY d.name, ev.kind
ORDER BY d.name, n DESC

-- name: rollup-tenant-department
SELECT e.tenant_id, d.name AS department, sum(e.salary) AS payroll
FROM employees e
JOIN departments d ON d.id = e.department_id
GROUP BY ROLLUP (e.tenant_id, d.name)
ORDER BY 1 NULLS LAST, 2 NULLS LAST

-- name: cube-with-casts
SELECT d.name::text AS department, e.tenant_id, count(*) AS headcount,
       GROUPING(d.name::text, e.tenant_id) AS grouping_level
FROM employees e
JOIN departments d ON d.id = e.department_id
GROUP BY CUBE (d.name::text, e.tenant_id)
ORDER BY grouping_level, department, e.tenant_id

-- name: grouping-sets-events
SELECT tenant_id, kind, count(*) AS n
FROM events
GROUP BY GROUPING SETS ((tenant_id, kind), (tenant_id), (kind), ())
ORDER BY tenant_id NULLS LAST, kind NULLS LAST

-- name: grouping-sets-hire-year
SELECT extract(year FROM hired_on) AS hire_year, tenant_id, count(*) AS hires
FROM employees
GROUP BY GROUPING SETS (extract(year FROM hired_on), tenant_id)

-- name: group-by-distinct-rollup
SELECT tenant_id, department_id, count(*)
FROM employees
GROUP BY DISTINCT ROLLUP (tenant_id, department_id), ROLLUP (tenant_id)

-- name: row-number-per-department
SELECT name, department_id, salary,
       row_number() OVER (PARTITION BY department_id ORDER BY salary DESC) AS rn
FROM employees

-- name: rank-family-named-window
SELECT name, salary,
       rank() OVER w AS rnk,
       dense_rank() OVER w AS dense_rnk,
       percent_rank() OVER w AS pct_rank,
       cume_dist() OVER w AS cume
FROM employees
WINDOW w AS (ORDER BY salary DESC)

-- name: top-earner-per-department
SELECT *
FROM (
    SELECT e.*, rank() OVER (PARTITION BY department_id ORDER BY salary DESC) AS r
    FROM employees e
) AS ranked
WHERE r = 1

-- name: lag-lead-hire-gaps
SELECT name, hired_on,
       lag(hired_on) OVER (ORDER BY hired_on, id) AS previous_hire,
       lead(hired_on, 1, NULL) OVER (ORDER BY hired_on, id) AS next_hire,
       hired_on - lag(hired_on) OVER (ORDER BY hired_on, id) AS gap_days
FROM employees

-- name: running-payroll
SELECT hired_on, name, salary,
       sum(salary) OVER (ORDER BY hired_on, id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running_payroll
FROM employees
ORDER BY hired_on, id

-- name: seven-day-moving-average
SELECT date_trunc('day', created_at) AS day, count(*) AS n,
       avg(count(*)) OVER (ORDER BY date_trunc('day', created_at) ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS avg_7d
FROM events
GROUP BY 1
ORDER BY 1

-- name: range-frame-interval
SELECT id, created_at,
       count(*) OVER (ORDER BY created_at RANGE BETWEEN INTERVAL '1 day' PRECEDING AND CURRENT ROW) AS events_last_day
FROM events
WHERE tenant_id = 'acme'

-- name: groups-frame
SELECT hired_on, salary,
       avg(salary) OVER (ORDER BY hired_on GROUPS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS neighbourhood_avg
FROM employees

-- name: exclude-current-row
SELECT name, department_id, salary,
       avg(salary) OVER (PARTITION BY department_id ORDER BY salary
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
                         EXCLUDE CURRENT ROW) AS peers_avg
FROM employees

-- name: exclude-ties-and-group
SELECT hired_on, salary,
       count(*) OVER (ORDER BY hired_on RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE TIES) AS earlier_or_self,
       count(*) OVER (ORDER BY hired_on GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE GROUP) AS neighbours
FROM employees

-- name: named-windows-inheriting
SELECT name, department_id, salary,
       sum(salary) OVER w_run AS running,
       first_value(name) OVER w_dept AS lowest_paid,
       last_value(name) OVER (w_dept ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS highest_paid
FROM employees
WINDOW w_dept AS (PARTITION BY department_id ORDER BY salary),
       w_run AS (w_dept ROWS UNBOUNDED PRECEDING)

-- name: ntile-quartiles
SELECT name, salary, ntile(4) OVER (ORDER BY salary) AS quartile
FROM employees

-- name: nth-value-second-best
SELECT DISTINCT department_id,
       nth_value(name, 2) OVER (PARTITION BY department_id ORDER BY salary DESC
                                ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS second_best
FROM employees

-- name: share-of-department-payroll
SELECT name, department_id, salary,
       round(100 * salary / sum(salary) OVER (PARTITION BY department_id), 2) AS pct_of_department,
       count(*) OVER () AS total_employees
FROM employees

-- name: filter-clause-pivot
SELECT tenant_id,
       count(*) FILTER (WHERE kind = 'login') AS logins,
       count(*) FILTER (WHERE kind = 'logout') AS logouts,
       count(*) FILTER (WHERE payload->>'client' = 'ios') AS from_ios
FROM events
GROUP BY tenant_id

-- name: filter-with-window
SELECT DISTINCT department_id,
       count(*) FILTER (WHERE salary > 100000) OVER (PARTITION BY department_id) AS high_earners
FROM employees

-- name: percentile-cont-median
SELECT department_id,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY salary) AS median_salary,
       percentile_cont(ARRAY[0.25, 0.75]) WITHIN GROUP (ORDER BY salary) AS quartiles
FROM employees
GROUP BY department_id

-- name: mode-and-percentile-disc
SELECT mode() WITHIN GROUP (ORDER BY kind) AS most_common_kind,
       percentile_disc(0.9) WITHIN GROUP (ORDER BY created_at) AS p90_created_at
FROM events

-- name: hypothetical-rank
SELECT tenant_id, rank(100000) WITHIN GROUP (ORDER BY salary DESC) AS rank_of_100k
FROM employees
GROUP BY tenant_id

-- name: distinct-on-latest-event
SELECT DISTINCT ON (employee_id) employee_id, kind, created_at
FROM events
ORDER BY employee_id, created_at DESC

-- name: distinct-on-highest-paid
SELECT DISTINCT ON (d.id) d.name AS department, e.name, e.salary
FROM departments d
JOIN employees e ON e.department_id = d.id
ORDER BY d.id, e.salary DESC

-- name: recursive-month-numbers
WITH RECURSIVE n(i) AS (
    SELECT 1
    UNION ALL
    SELECT i + 1 FROM n WHERE i < 12
)
SELECT i AS month FROM n

-- name: recursive-search-depth-first
WITH RECURSIVE chain(id, department_id, depth) AS (
    SELECT id, department_id, 0 FROM employees WHERE id <= 8
    UNION ALL
    SELECT e.id, e.department_id, c.depth + 1
    FROM chain c
    JOIN employees e ON e.id = c.id + 8
    WHERE c.depth < 4
) SEARCH DEPTH FIRST BY id SET ordercol
SELECT id, department_id, depth FROM chain ORDER BY ordercol

-- name: recursive-search-breadth-first
WITH RECURSIVE chain(id, depth) AS (
    SELECT id, 0 FROM employees WHERE id <= 3
    UNION ALL
    SELECT e.id, c.depth + 1
    FROM chain c
    JOIN employees e ON e.id = c.id * 2
    WHERE c.depth < 5
) SEARCH BREADTH FIRST BY id SET ordercol
SELECT * FROM chain ORDER BY ordercol

-- name: recursive-cycle-detection
WITH RECURSIVE walk(id, hop) AS (
    SELECT 1, 0
    UNION ALL
    SELECT e.id, w.hop + 1
    FROM walk w
    JOIN employees e ON e.id = (w.id * 7) % 250 + 1
) CYCLE id SET is_cycle USING path
SELECT id, hop, is_cycle, path FROM walk

-- name: recursive-cycle-to-default
WITH RECURSIVE walk(id, hop) AS (
    SELECT 10, 0
    UNION ALL
    SELECT e.id, w.hop + 1
    FROM walk w
    JOIN employees e ON e.id = (w.id * 3) % 20 + 1
) CYCLE id SET looped TO true DEFAULT false USING visited
SELECT * FROM walk WHERE NOT looped

-- name: recursive-calendar-join
WITH RECURSIVE days(d) AS (
    SELECT DATE '2024-01-01'
    UNION ALL
    SELECT d + 1 FROM days WHERE d < DATE '2024-01-31'
)
SELECT days.d, count(ev.id) AS events
FROM days
LEFT JOIN events ev ON ev.created_at::date = days.d
GROUP BY days.d
ORDER BY days.d

-- name: cte-chain
WITH dept_pay AS (
    SELECT department_id, sum(salary) AS payroll, count(*) AS headcount
    FROM employees
    GROUP BY department_id
), ranked AS (
    SELECT dp.*, rank() OVER (ORDER BY payroll DESC) AS r
    FROM dept_pay dp
)
SELECT d.name, r.payroll, r.headcount, r.r
FROM ranked r
LEFT JOIN departments d ON d.id = r.department_id
ORDER BY r.r

-- name: cte-materialized
WITH big_earners AS MATERIALIZED (
    SELECT * FROM employees WHERE salary > 120000
)
SELECT tenant_id, count(*) FROM big_earners GROUP BY tenant_id

-- name: cte-not-materialized
WITH recent AS NOT MATERIALIZED (
    SELECT * FROM events WHERE created_at >= TIMESTAMPTZ '2024-02-01 00:00:00+00'
)
SELECT kind, count(*) FROM recent GROUP BY kind ORDER BY 2 DESC

-- name: cte-column-list
WITH totals(tenant, n) AS (SELECT tenant_id, count(*) FROM events GROUP BY tenant_id)
SELECT tenant, n, n * 100.0 / sum(n) OVER () AS pct FROM totals

-- name: table-command
TABLE departments

-- name: table-command-ordered
TABLE departments ORDER BY name LIMIT 3

-- name: rows-from-generate-series-unnest
SELECT *
FROM ROWS FROM (generate_series(1, 3), unnest(ARRAY['a', 'b', 'c', 'd'])) AS t(n, letter)

-- name: rows-from-with-ordinality
SELECT *
FROM ROWS FROM (unnest(ARRAY['login', 'logout']), generate_series(10, 11)) WITH ORDINALITY AS t(kind, n, ord)

-- name: between-symmetric
SELECT name, salary FROM employees WHERE salary BETWEEN SYMMETRIC 90000 AND 60000 ORDER BY salary

-- name: not-between-symmetric-dates
SELECT name, hired_on
FROM employees
WHERE hired_on NOT BETWEEN SYMMETRIC DATE '2020-12-31' AND DATE '2015-01-01'

-- name: unicode-escape-literal
SELECT U&'d\0061t\+000061' AS word, count(*) FROM employees

-- name: unicode-escape-uescape
SELECT name FROM departments WHERE name <> U&'S!0061les' UESCAPE '!'

-- name: unicode-quoted-identifier
SELECT U&"n\0061me" FROM departments

-- name: e-string-tab-newline
SELECT E'Name:\t' || name || E'\n' AS line FROM employees LIMIT 5

-- name: e-string-escaped-quote
SELECT count(*) FROM employees WHERE name NOT LIKE E'%\'%'

-- name: e-string-backslash
SELECT E'C:\\reports\\' || tenant_id || '.csv' AS path FROM departments

-- name: dollar-quoted-with-tag
SELECT $q$It's "quoted"; with a semicolon$q$ AS note, count(*) FROM departments

-- name: dollar-quoted-plain
SELECT name FROM departments WHERE name <> $$Legal$$

-- name: dollar-quoted-nested-tags
SELECT $outer$ contains $inner$ and $$ $outer$ AS s

-- name: nested-block-comment
SELECT /* outer /* inner */ still outer */ count(*) FROM employees

-- name: line-comments-inside
SELECT d.name, -- the department
       count(*) AS n -- how many people
FROM employees e
-- only assigned employees
JOIN departments d ON d.id = e.department_id
GROUP BY d.name

-- name: leading-block-comment
/* Monthly report; requested by finance */ SELECT date_trunc('month', hired_on) AS m, count(*) FROM employees GROUP BY 1 ORDER BY 1

-- name: jsonb-field-access
SELECT payload->>'client' AS client, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC

-- name: jsonb-path-operators
SELECT id, payload->'ip' AS ip_json, payload #> '{session}' AS session_json, payload #>> '{client}' AS client
FROM events
LIMIT 10

-- name: jsonb-containment
SELECT count(*) FROM events WHERE payload @> '{"client": "web"}'

-- name: jsonb-key-exists
SELECT count(*) FROM events WHERE payload ? 'ip' AND NOT payload ? 'device'

-- name: jsonb-any-all-keys
SELECT kind, count(*)
FROM events
WHERE payload ?| ARRAY['ip', 'device'] AND payload ?& ARRAY['session', 'client']
GROUP BY kind

-- name: jsonb-path-query
SELECT id, jsonb_path_query(payload, '$.client') AS client FROM events LIMIT 5

-- name: jsonb-path-match-operators
SELECT count(*) FILTER (WHERE payload @? '$.ip ? (@ starts with "10.1.")') AS subnet_1,
       count(*) FILTER (WHERE payload @@ '$.client == "android"') AS android
FROM events

-- name: jsonb-path-query-first
SELECT jsonb_path_query_first(payload, '$.session') AS session, jsonb_path_exists(payload, '$.ip') AS has_ip
FROM events
WHERE id < 10

-- name: jsonb-each-text-keys
SELECT kv.key, count(*)
FROM events, jsonb_each_text(payload) AS kv
GROUP BY kv.key

-- name: jsonb-object-keys
SELECT DISTINCT jsonb_object_keys(payload) AS key FROM events

-- name: jsonb-agg-build-object
SELECT d.name,
       jsonb_agg(jsonb_build_object('name', e.name, 'hired', e.hired_on) ORDER BY e.hired_on) AS staff
FROM departments d
JOIN employees e ON e.department_id = d.id
GROUP BY d.name

-- name: json-build-object
SELECT json_build_object('tenant', tenant_id, 'headcount', count(*), 'payroll', sum(salary)) AS summary
FROM employees
GROUP BY tenant_id

-- name: json-object-agg
SELECT tenant_id, json_object_agg(kind, n ORDER BY kind) AS by_kind
FROM (SELECT tenant_id, kind, count(*) AS n FROM events GROUP BY tenant_id, kind) AS s
GROUP BY tenant_id

-- name: row-to-json
SELECT row_to_json(d) FROM departments d ORDER BY d.id

-- name: to-jsonb-subquery
SELECT to_jsonb(x) FROM (SELECT id, name, hired_on FROM employees ORDER BY id LIMIT 3) AS x

-- name: jsonb-typeof-pretty
SELECT jsonb_typeof(payload->'ip'), jsonb_pretty(payload) FROM events WHERE id = 1

-- name: jsonb-set-in-select
SELECT payload - 'session' AS redacted, jsonb_set(payload, '{client}', '"redacted"') AS masked, payload || '{"seen": true}' AS merged
FROM events
LIMIT 3

-- name: array-constructor-concat
SELECT ARRAY[1, 2, 3] || 4 AS nums, ARRAY['acme', 'globex'] AS tenants, '{1,2}'::int[] && ARRAY[2] AS overlaps

-- name: array-any
SELECT name FROM departments WHERE id = ANY (ARRAY[1, 3, 5])

-- name: array-all-subquery
SELECT name, salary
FROM employees
WHERE salary > ALL (SELECT avg(salary) FROM employees GROUP BY department_id)

-- name: array-agg-ordered
SELECT department_id, array_agg(name ORDER BY name) AS names FROM employees GROUP BY department_id

-- name: array-slice-top-three
SELECT department_id, (array_agg(name ORDER BY salary DESC))[1:3] AS top3
FROM employees
GROUP BY department_id

-- name: unnest-with-ordinality-join
SELECT t.pos, d.*
FROM unnest(ARRAY['Engineering', 'Sales', 'Legal']) WITH ORDINALITY AS t(name, pos)
JOIN departments d USING (name)
ORDER BY t.pos

-- name: array-functions
SELECT array_length(ARRAY[1, 2, 3], 1), cardinality(ARRAY[[1, 2], [3, 4]]),
       array_position(ARRAY['a', 'b', 'c'], 'b'), array_to_string(ARRAY['x', NULL, 'z'], ',', '?'),
       array_remove(ARRAY[1, 2, 1], 1), array_cat(ARRAY[1], ARRAY[2, 3])

-- name: array-overlap-filter
SELECT kind, count(*) FROM events WHERE ARRAY[kind] && ARRAY['login', 'logout'] GROUP BY kind

-- name: string-to-array-index
SELECT (string_to_array(email, '@'))[2] AS domain, count(*) FROM employees GROUP BY 1

-- name: like-any-array
SELECT name FROM employees WHERE name LIKE ANY (ARRAY['Ada%', 'Ben%']) ORDER BY name

-- name: cast-double-colon
SELECT id::text, salary::int, hired_on::timestamp, '42'::bigint + 1 FROM employees LIMIT 5

-- name: cast-function-syntax
SELECT CAST(salary AS bigint) AS whole_salary, CAST(hired_on AS text) AS hired_text, CAST('2024-03-01' AS date) - hired_on AS days
FROM employees
LIMIT 5

-- name: typed-literals
SELECT DATE '2024-01-01' + 30 AS d, INTERVAL '1 month' * 3 AS i, TIMESTAMP '2024-02-29 12:00' AS ts, TIME '08:30' AS t

-- name: numeric-cast-precision
SELECT name, salary::numeric(10, 0) AS rounded, (salary / 12)::numeric(12, 2) AS monthly FROM employees LIMIT 10

-- name: date-trunc-month
SELECT date_trunc('month', created_at) AS month, count(*) FROM events GROUP BY 1 ORDER BY 1

-- name: extract-fields
SELECT extract(year FROM hired_on) AS y, extract(dow FROM hired_on) AS dow, extract(epoch FROM created_at) AS epoch, extract(hour FROM created_at) AS h
FROM events ev
JOIN employees e ON e.id = ev.employee_id
LIMIT 10

-- name: date-part-quarter
SELECT date_part('quarter', hired_on) AS q, count(*) FROM employees GROUP BY 1 ORDER BY 1

-- name: age-tenure
SELECT name, age(DATE '2025-01-01', hired_on) AS tenure FROM employees ORDER BY tenure DESC LIMIT 10

-- name: at-time-zone
SELECT created_at AT TIME ZONE 'America/New_York' AS local_ny, created_at AT TIME ZONE 'UTC' AS utc, (created_at AT TIME ZONE 'Asia/Tokyo')::date AS tokyo_day
FROM events
LIMIT 5

-- name: interval-window-filter
SELECT kind, count(*)
FROM events
WHERE created_at >= TIMESTAMPTZ '2024-02-01 00:00:00+00' - INTERVAL '7 days'
  AND created_at < TIMESTAMPTZ '2024-02-01 00:00:00+00'
GROUP BY kind

-- name: to-char-formatting
SELECT to_char(hired_on, 'YYYY-MM') AS month, to_char(sum(salary), 'FM999,999,999.00') AS payroll
FROM employees
GROUP BY 1
ORDER BY 1

-- name: make-date-and-interval
SELECT make_date(2024, 2, 29) AS leap_day, make_interval(days => 10, hours => 3) AS span, make_timestamptz(2024, 1, 1, 0, 0, 0, 'UTC') AS start

-- name: overlaps-operator
SELECT name, hired_on
FROM employees
WHERE (hired_on, INTERVAL '90 days') OVERLAPS (DATE '2020-01-01', DATE '2020-06-30')

-- name: generate-series-years-join
SELECT y::date AS year, count(e.id) AS hires
FROM generate_series(DATE '2012-01-01', DATE '2024-01-01', INTERVAL '1 year') AS y
LEFT JOIN employees e ON date_trunc('year', e.hired_on) = y
GROUP BY y
ORDER BY y

-- name: generate-series-hours-of-day
SELECT h AS hour_of_day, count(ev.id) AS events
FROM generate_series(0, 23) AS h
LEFT JOIN events ev ON extract(hour FROM ev.created_at AT TIME ZONE 'UTC') = h
GROUP BY h
ORDER BY h

-- name: date-bin-quarter-hours
SELECT date_bin(INTERVAL '15 minutes', created_at, TIMESTAMPTZ '2024-01-01 00:00:00+00') AS bucket, count(*)
FROM events
GROUP BY 1
ORDER BY 1
LIMIT 20

-- name: justify-interval
SELECT justify_interval(max(created_at) - min(created_at)) AS span, justify_days(INTERVAL '45 days') FROM events

-- name: string-functions
SELECT upper(name), lower(email), initcap(lower(name)), length(name), split_part(email, '@', 2) AS domain,
       left(name, 3), right(email, 8), position('@' IN email) AS at_pos, reverse(name)
FROM employees
LIMIT 10

-- name: substring-regex
SELECT substring(email FROM '@(.*)$') AS domain, substring(name FROM 1 FOR 1) AS initial FROM employees LIMIT 10

-- name: regexp-replace-mask
SELECT name, regexp_replace(ssn, '\d', '*', 'g') AS masked_ssn FROM employees LIMIT 5

-- name: regex-match-operator
SELECT name, email FROM employees WHERE email ~ '^[a-z]+\.[a-z]+[0-9]+@acme\.example$' LIMIT 10

-- name: regex-case-insensitive
SELECT name FROM employees WHERE name ~* '^a' AND name !~ 'z$' AND email !~* 'GLOBEX'

-- name: similar-to
SELECT name FROM employees WHERE name SIMILAR TO '(Ada|Ben) %' ORDER BY name

-- name: not-similar-to
SELECT count(*) FROM employees WHERE email NOT SIMILAR TO '%@(acme|globex).example'

-- name: ilike-and-escape
SELECT name FROM employees WHERE name ILIKE '%chen%' OR email LIKE '%!_%' ESCAPE '!'

-- name: regexp-matches-set
SELECT m[1] AS octet, count(*)
FROM events, regexp_matches(payload->>'ip', '^10\.(\d+)\.') AS m
GROUP BY 1
ORDER BY 1

-- name: regexp-split-to-table
SELECT part, count(*) FROM employees, regexp_split_to_table(name, '\s+') AS part GROUP BY part ORDER BY 2 DESC LIMIT 10

-- name: string-agg-ordered
SELECT d.name, string_agg(e.name, ', ' ORDER BY e.name) AS staff
FROM departments d
JOIN employees e ON e.department_id = d.id
GROUP BY d.name

-- name: string-agg-distinct
SELECT tenant_id, string_agg(DISTINCT kind, '|' ORDER BY kind) FROM events GROUP BY tenant_id

-- name: format-and-concat
SELECT format('%s <%s>', name, email) AS contact, concat_ws(' / ', name, tenant_id, department_id) AS label, concat(name, ' (', id, ')')
FROM employees
LIMIT 10

-- name: lpad-rpad-trim
SELECT lpad(id::text, 6, '0') AS badge, rpad(name, 20, '.') AS padded, trim(BOTH ' ' FROM name) AS trimmed, btrim(email, 'a')
FROM employees
LIMIT 5

-- name: case-salary-bands
SELECT CASE
           WHEN salary < 60000 THEN 'junior'
           WHEN salary < 100000 THEN 'mid'
           WHEN salary < 130000 THEN 'senior'
           ELSE 'principal'
       END AS band,
       count(*)
FROM employees
GROUP BY 1
ORDER BY min(salary)

-- name: case-simple-form
SELECT CASE kind WHEN 'login' THEN 'session' WHEN 'logout' THEN 'session' ELSE 'hr' END AS category, count(*)
FROM events
GROUP BY 1

-- name: coalesce-nullif
SELECT coalesce(department_id::text, 'unassigned') AS dept, nullif(tenant_id, 'acme') AS non_acme, count(*)
FROM employees
GROUP BY 1, 2

-- name: greatest-least
SELECT name, greatest(salary, 50000) AS floored, least(salary, 120000) AS capped FROM employees LIMIT 10

-- name: exists-subquery
SELECT d.name
FROM departments d
WHERE EXISTS (SELECT 1 FROM employees e WHERE e.department_id = d.id AND e.salary > 140000)

-- name: not-exists-without-events
SELECT e.id, e.name
FROM employees e
WHERE NOT EXISTS (SELECT FROM events ev WHERE ev.employee_id = e.id)

-- name: in-subquery
SELECT name FROM employees WHERE department_id IN (SELECT id FROM departments WHERE name IN ('Sales', 'Support'))

-- name: not-in-subquery
SELECT count(*) FROM employees WHERE id NOT IN (SELECT employee_id FROM events WHERE employee_id IS NOT NULL)

-- name: scalar-subquery-deviation
SELECT name, salary, salary - (SELECT avg(salary) FROM employees) AS vs_company_avg
FROM employees
ORDER BY 3 DESC
LIMIT 10

-- name: correlated-scalar-subquery
SELECT e.name,
       (SELECT count(*) FROM events ev WHERE ev.employee_id = e.id) AS event_count,
       (SELECT max(ev.created_at) FROM events ev WHERE ev.employee_id = e.id) AS last_seen
FROM employees e
ORDER BY event_count DESC
LIMIT 10

-- name: exists-in-select-list
SELECT d.name, EXISTS (SELECT 1 FROM employees e WHERE e.department_id = d.id AND e.hired_on >= DATE '2023-01-01') AS hired_recently
FROM departments d

-- name: union-distinct
SELECT tenant_id FROM departments UNION SELECT tenant_id FROM employees

-- name: union-all-ordered
SELECT 'department' AS kind, name FROM departments
UNION ALL
SELECT 'employee', name FROM employees WHERE id <= 5
ORDER BY kind, name

-- name: intersect
SELECT tenant_id FROM employees INTERSECT SELECT tenant_id FROM events

-- name: intersect-all
SELECT employee_id FROM events WHERE kind = 'login' INTERSECT ALL SELECT employee_id FROM events WHERE kind = 'logout'

-- name: except
SELECT id FROM employees EXCEPT SELECT employee_id FROM events

-- name: except-all
SELECT tenant_id FROM employees EXCEPT ALL SELECT tenant_id FROM departments

-- name: nested-set-operations
(SELECT name FROM departments WHERE tenant_id = 'acme' UNION SELECT name FROM departments WHERE id > 6)
EXCEPT
SELECT name FROM departments WHERE name = 'Legal'
ORDER BY 1

-- name: order-by-nulls-last
SELECT name, department_id FROM employees ORDER BY department_id DESC NULLS LAST, name LIMIT 30

-- name: order-by-nulls-first
SELECT name, department_id FROM employees ORDER BY department_id ASC NULLS FIRST LIMIT 10

-- name: order-by-using
SELECT name, salary FROM employees ORDER BY salary USING >, name LIMIT 10

-- name: order-by-case
SELECT name, tenant_id FROM employees ORDER BY CASE WHEN tenant_id = 'globex' THEN 0 ELSE 1 END, name LIMIT 10

-- name: order-by-collate
SELECT name FROM departments ORDER BY name COLLATE "C" DESC

-- name: limit-offset
SELECT id, name FROM employees ORDER BY id LIMIT 10 OFFSET 20

-- name: limit-all
SELECT id FROM departments ORDER BY id LIMIT ALL

-- name: fetch-first-rows-only
SELECT name, salary FROM employees ORDER BY salary DESC FETCH FIRST 5 ROWS ONLY

-- name: fetch-first-with-ties
SELECT name, hired_on FROM employees ORDER BY hired_on FETCH FIRST 3 ROWS WITH TIES

-- name: offset-fetch-next
SELECT id, kind FROM events ORDER BY id OFFSET 10 ROWS FETCH NEXT 10 ROWS ONLY

-- name: values-list
VALUES (1, 'one'), (2, 'two'), (3, 'three')

-- name: values-in-from-join
SELECT t.label, d.name
FROM (VALUES ('acme', 'ACME Corp'), ('globex', 'Globex Inc')) AS t(tenant_id, label)
JOIN departments d USING (tenant_id)
ORDER BY 1, 2

-- name: values-ordered-limited
VALUES (3, 'c'), (1, 'a'), (2, 'b') ORDER BY 1 LIMIT 2

-- name: values-salary-targets
SELECT e.name, e.salary, t.target
FROM employees e
JOIN (VALUES (1, 90000.00), (2, 80000.00), (3, 85000.00)) AS t(department_id, target) ON t.department_id = e.department_id
WHERE e.salary < t.target

-- name: explain-select
EXPLAIN SELECT * FROM employees WHERE id = 42

-- name: explain-format-json
EXPLAIN (FORMAT JSON) SELECT d.name, count(*) FROM employees e JOIN departments d ON d.id = e.department_id GROUP BY d.name

-- name: explain-verbose-costs-off
EXPLAIN (VERBOSE, COSTS OFF) SELECT kind, count(*) FROM events GROUP BY kind

-- name: explain-format-yaml
EXPLAIN (FORMAT YAML, SETTINGS) SELECT * FROM events WHERE created_at > TIMESTAMPTZ '2024-03-01 00:00:00+00'

-- name: explain-cte
EXPLAIN WITH x AS (SELECT department_id, avg(salary) AS a FROM employees GROUP BY 1) SELECT * FROM x WHERE a > 80000

-- name: explain-values
EXPLAIN VALUES (1), (2)

-- name: show-statement-timeout
SHOW statement_timeout

-- name: show-search-path
SHOW search_path

-- name: show-server-version
SHOW server_version

-- name: show-timezone
SHOW TimeZone

-- name: show-transaction-isolation
SHOW transaction_isolation

-- name: show-work-mem
SHOW work_mem

-- name: show-datestyle
SHOW DateStyle

-- name: show-transaction-read-only
SHOW transaction_read_only

-- name: information-schema-columns
SELECT column_name, data_type, is_nullable, column_default
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'employees'
ORDER BY ordinal_position

-- name: information-schema-tables
SELECT table_schema, table_name, table_type
FROM information_schema.tables
WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2

-- name: pg-tables
SELECT schemaname, tablename, tableowner FROM pg_catalog.pg_tables WHERE schemaname = 'public' ORDER BY tablename

-- name: pg-class-namespace
SELECT n.nspname AS schema, c.relname AS name, c.relkind, c.reltuples
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
ORDER BY c.relname

-- name: pg-indexes
SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2

-- name: table-comments
SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment
FROM pg_catalog.pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'

-- name: column-comments
SELECT a.attname, col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a
WHERE a.attrelid = 'public.employees'::regclass AND a.attnum > 0 AND NOT a.attisdropped

-- name: pg-attribute-types
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = 'public.events'::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum

-- name: relation-sizes
SELECT relname, pg_size_pretty(pg_total_relation_size(c.oid)) AS total, pg_relation_size(c.oid) AS heap_bytes
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')
ORDER BY pg_total_relation_size(c.oid) DESC

-- name: constraint-definitions
SELECT conrelid::regclass AS table_name, conname, contype, pg_get_constraintdef(oid) AS definition
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace
ORDER BY 1, 2

-- name: foreign-keys-information-schema
SELECT tc.table_name, kcu.column_name, ccu.table_name AS references_table
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
WHERE tc.constraint_type = 'FOREIGN KEY'

-- name: column-statistics
SELECT attname, null_frac, n_distinct FROM pg_stats WHERE schemaname = 'public' AND tablename = 'employees' ORDER BY attname

-- name: session-information
SELECT current_setting('statement_timeout') AS timeout, current_user, session_user, current_database(), current_schema(), version()

-- name: pg-settings-subset
SELECT name, setting, unit FROM pg_settings WHERE name IN ('work_mem', 'statement_timeout', 'default_transaction_read_only') ORDER BY name

-- name: user-table-stats
SELECT relname, seq_scan, n_live_tup FROM pg_stat_user_tables ORDER BY relname

-- name: tablesample-system
SELECT count(*) FROM events TABLESAMPLE SYSTEM (10)

-- name: tablesample-bernoulli-repeatable
SELECT e.name, e.salary FROM employees AS e TABLESAMPLE BERNOULLI (5) REPEATABLE (42)

-- name: having-filter
SELECT employee_id, count(*) AS n FROM events GROUP BY employee_id HAVING count(*) > 10 ORDER BY n DESC

-- name: having-with-aggregate-expression
SELECT department_id, avg(salary) FROM employees GROUP BY department_id HAVING avg(salary) > (SELECT avg(salary) FROM employees)

-- name: count-distinct
SELECT tenant_id, count(DISTINCT employee_id) AS active_employees, count(DISTINCT kind) AS kinds FROM events GROUP BY tenant_id

-- name: bool-aggregates
SELECT department_id, bool_and(salary > 50000) AS all_above_50k, bool_or(salary > 140000) AS any_above_140k, every(hired_on > DATE '2012-01-01')
FROM employees
GROUP BY department_id

-- name: statistical-aggregates
SELECT tenant_id, stddev_samp(salary), var_pop(salary),
       corr(salary, extract(epoch FROM hired_on::timestamp)),
       regr_slope(salary, extract(year FROM hired_on))
FROM employees
GROUP BY tenant_id

-- name: width-bucket-histogram
SELECT width_bucket(salary, 40000, 150000, 11) AS bucket, count(*), min(salary), max(salary)
FROM employees
GROUP BY 1
ORDER BY 1

-- name: math-functions
SELECT round(avg(salary), -3), ceil(avg(salary)), floor(min(salary)), trunc(max(salary)), abs(min(salary) - max(salary)), sqrt(count(*)), power(2, 10), mod(count(*), 7)
FROM employees

-- name: is-distinct-from
SELECT count(*) FROM employees WHERE department_id IS DISTINCT FROM 1

-- name: is-not-distinct-null
SELECT name FROM employees WHERE department_id IS NOT DISTINCT FROM NULL

-- name: row-constructor-comparison
SELECT name FROM employees WHERE (tenant_id, department_id) IN (('acme', 1), ('globex', 5)) AND (hired_on, id) > (DATE '2020-01-01', 0)

-- name: composite-field-access
SELECT (e).name, (e).salary FROM employees e WHERE (e).id < 5

-- name: row-star-expansion
SELECT (x).* FROM (SELECT e AS x FROM employees e LIMIT 2) AS s

-- name: text-search
SELECT name FROM employees WHERE to_tsvector('simple', name) @@ to_tsquery('simple', 'chen | patel')

-- name: md5-pseudonymise
SELECT md5(email) AS email_hash, tenant_id, salary FROM employees LIMIT 10

-- name: sha256-digest
SELECT encode(sha256(convert_to(email, 'UTF8')), 'hex') AS digest FROM employees LIMIT 3

-- name: inet-subnet-filter
SELECT (payload->>'ip')::inet AS ip, kind FROM events WHERE (payload->>'ip')::inet << inet '10.1.0.0/16' LIMIT 20

-- name: inet-host-family
SELECT host(network(set_masklen((payload->>'ip')::inet, 16))) AS subnet, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC

-- name: lateral-unnest-words
SELECT e.name, w.word
FROM employees e, LATERAL unnest(string_to_array(e.name, ' ')) AS w(word)
LIMIT 10

-- name: lateral-jsonb-each
SELECT ev.id, kv.key, kv.value
FROM events ev
CROSS JOIN LATERAL jsonb_each(ev.payload) AS kv
WHERE ev.id <= 3

-- name: derived-table-aggregate-join
SELECT d.name, s.avg_salary, s.headcount
FROM departments d
JOIN (SELECT department_id, avg(salary) AS avg_salary, count(*) AS headcount FROM employees GROUP BY department_id) AS s
  ON s.department_id = d.id
ORDER BY s.avg_salary DESC

-- name: first-last-event-per-employee
SELECT employee_id, min(created_at) AS first_event, max(created_at) AS last_event, max(created_at) - min(created_at) AS active_span
FROM events
GROUP BY employee_id
ORDER BY active_span DESC
LIMIT 10

-- name: gaps-and-islands
WITH days AS (
    SELECT DISTINCT employee_id, created_at::date AS d FROM events
), grouped AS (
    SELECT employee_id, d, d - (row_number() OVER (PARTITION BY employee_id ORDER BY d))::int AS grp FROM days
)
SELECT employee_id, min(d) AS streak_start, max(d) AS streak_end, count(*) AS streak_days
FROM grouped
GROUP BY employee_id, grp
HAVING count(*) > 1
ORDER BY streak_days DESC

-- name: hire-cohort-activity
SELECT date_trunc('year', e.hired_on)::date AS cohort, count(DISTINCT e.id) AS hires, count(ev.id) AS events,
       round(count(ev.id)::numeric / nullif(count(DISTINCT e.id), 0), 1) AS events_per_hire
FROM employees e
LEFT JOIN events ev ON ev.employee_id = e.id
GROUP BY 1
ORDER BY 1

-- name: client-pivot-by-month
SELECT date_trunc('month', created_at)::date AS month,
       count(*) FILTER (WHERE payload->>'client' = 'web') AS web,
       count(*) FILTER (WHERE payload->>'client' = 'ios') AS ios,
       count(*) FILTER (WHERE payload->>'client' = 'android') AS android
FROM events
GROUP BY 1
ORDER BY 1

-- name: leave-request-approval-ratio
SELECT tenant_id,
       count(*) FILTER (WHERE kind = 'approve_leave')::numeric / nullif(count(*) FILTER (WHERE kind = 'request_leave'), 0) AS approval_ratio
FROM events
GROUP BY tenant_id

-- name: boolean-predicates
SELECT name, (salary > 100000) IS TRUE AS high, department_id IS NULL AS unassigned, (department_id = 1) IS NOT FALSE AS maybe_eng
FROM employees
LIMIT 10

-- name: quoted-identifiers
SELECT "e"."name", "e"."salary" AS "Annual Salary" FROM "public"."employees" AS "e" WHERE "e"."tenant_id" = 'acme' LIMIT 5

-- name: uppercase-keywords-schema-qualified
SELECT E.TENANT_ID, COUNT(*) AS HEADCOUNT FROM PUBLIC.EMPLOYEES E WHERE E.SALARY > 75000 GROUP BY E.TENANT_ID

-- name: select-distinct-all
SELECT DISTINCT tenant_id, kind FROM events ORDER BY 1, 2

-- name: select-all-keyword
SELECT ALL kind FROM events LIMIT 5

-- name: xml-forest
SELECT xmlelement(name department, xmlattributes(id AS id), xmlforest(name, tenant_id)) FROM departments

-- name: window-over-aggregate
SELECT tenant_id, kind, count(*) AS n, rank() OVER (PARTITION BY tenant_id ORDER BY count(*) DESC) AS kind_rank
FROM events
GROUP BY tenant_id, kind

-- name: percent-change-month-over-month
WITH monthly AS (
    SELECT date_trunc('month', created_at) AS m, count(*) AS n FROM events GROUP BY 1
)
SELECT m, n, lag(n) OVER (ORDER BY m) AS prev, round(100.0 * (n - lag(n) OVER (ORDER BY m)) / nullif(lag(n) OVER (ORDER BY m), 0), 1) AS pct_change
FROM monthly
ORDER BY m

-- name: salary-vs-department-median
SELECT e.name, e.salary, m.median, e.salary - m.median AS diff
FROM employees e
JOIN (SELECT department_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY salary) AS median FROM employees GROUP BY department_id) AS m
  USING (department_id)
ORDER BY diff DESC
LIMIT 10

-- name: generate-series-salary-bands
SELECT lower_bound, lower_bound + 10000 AS upper_bound, count(e.id)
FROM generate_series(40000, 140000, 10000) AS lower_bound
LEFT JOIN employees e ON e.salary >= lower_bound AND e.salary < lower_bound + 10000
GROUP BY lower_bound
ORDER BY lower_bound

-- name: in-list-and-any-subquery
SELECT name FROM employees WHERE tenant_id IN ('acme', 'globex') AND department_id = ANY (SELECT id FROM departments WHERE name LIKE 'S%')

-- name: subquery-in-order-by
SELECT d.name FROM departments d ORDER BY (SELECT count(*) FROM employees e WHERE e.department_id = d.id) DESC

-- name: employees-by-email-domain
SELECT split_part(email, '@', 2) AS domain, tenant_id, count(*) FROM employees GROUP BY 1, 2

-- name: events-per-weekday
SELECT to_char(created_at AT TIME ZONE 'UTC', 'Dy') AS weekday, extract(isodow FROM created_at AT TIME ZONE 'UTC') AS dow, count(*)
FROM events
GROUP BY 1, 2
ORDER BY 2

-- name: recent-hires-relative-date
SELECT name, hired_on FROM employees WHERE hired_on > CURRENT_DATE - INTERVAL '10 years' ORDER BY hired_on DESC LIMIT 10

-- name: now-based-age-of-events
SELECT kind, max(now() - created_at) AS oldest, min(now() - created_at) AS newest FROM events GROUP BY kind

-- name: multiple-ctes-with-set-operation
WITH acme AS (SELECT name FROM departments WHERE tenant_id = 'acme'),
     globex AS (SELECT name FROM departments WHERE tenant_id = 'globex')
SELECT 'acme' AS tenant, name FROM acme
UNION ALL
SELECT 'globex', name FROM globex

-- name: recursive-cte-with-aggregate-after
WITH RECURSIVE thresholds(t) AS (
    SELECT 50000::numeric
    UNION ALL
    SELECT t + 25000 FROM thresholds WHERE t < 150000
)
SELECT t, (SELECT count(*) FROM employees WHERE salary >= t) AS at_or_above FROM thresholds

-- name: generate-subscripts
SELECT i, (ARRAY['a', 'b', 'c'])[i] FROM generate_subscripts(ARRAY['a', 'b', 'c'], 1) AS i

-- name: json-array-elements
SELECT elem FROM jsonb_array_elements('[{"a": 1}, {"a": 2}]'::jsonb) AS elem

-- name: jsonb-to-record
SELECT r.* FROM events ev, jsonb_to_record(ev.payload) AS r(ip text, session text, client text) WHERE ev.id <= 5

-- name: explicit-inner-join-on-expression
SELECT e.name, ev.kind FROM employees e JOIN events ev ON ev.employee_id = e.id AND ev.tenant_id = e.tenant_id WHERE ev.created_at < TIMESTAMPTZ '2024-01-02 00:00:00+00'

-- name: left-join-anti-join
SELECT d.id, d.name FROM departments d LEFT JOIN employees e ON e.department_id = d.id AND e.salary > 149000 WHERE e.id IS NULL

-- name: semi-colon-free-multiline-whitespace
SELECT
	id,
	name
FROM
	departments
WHERE
	tenant_id = 'acme'

-- name: pg-catalog-functions
SELECT pg_catalog.upper(name), pg_catalog.length(email) FROM employees LIMIT 3

-- name: type-info-pg-typeof
SELECT pg_typeof(salary), pg_typeof(payload), pg_typeof(created_at) FROM employees, events LIMIT 1

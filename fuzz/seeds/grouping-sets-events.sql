SELECT tenant_id, kind, count(*) AS n
FROM events
GROUP BY GROUPING SETS ((tenant_id, kind), (tenant_id), (kind), ())
ORDER BY tenant_id NULLS LAST, kind NULLS LAST
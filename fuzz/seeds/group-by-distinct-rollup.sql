SELECT tenant_id, department_id, count(*)
FROM employees
GROUP BY DISTINCT ROLLUP (tenant_id, department_id), ROLLUP (tenant_id)
SELECT department_id,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY salary) AS median_salary,
       percentile_cont(ARRAY[0.25, 0.75]) WITHIN GROUP (ORDER BY salary) AS quartiles
FROM employees
GROUP BY department_id
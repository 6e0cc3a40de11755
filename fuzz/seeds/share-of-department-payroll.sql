SELECT name, department_id, salary,
       round(100 * salary / sum(salary) OVER (PARTITION BY department_id), 2) AS pct_of_department,
       count(*) OVER () AS total_employees
FROM employees
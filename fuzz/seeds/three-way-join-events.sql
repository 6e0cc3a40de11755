SELECT d.name AS department, ev.kind, count(*) AS n
FROM events ev
JOIN employees e ON e.id = ev.employee_id
JOIN departments d ON d.id = e.department_id
GROUP BY d.name, ev.kind
ORDER BY d.name, n DESC
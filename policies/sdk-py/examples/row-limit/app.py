"""`row-limit`, in Python: every query returns at most `max_rows` rows.
A port of policies/row-limit (Rust); both pass the same cases file. It edits the syntax tree and
has querygate render it back to SQL (`rewrite_tree`, WIT 0.1.1), as the Rust policy does with
sqlparser.

The outermost query is bounded: without a LIMIT it gets `LIMIT max_rows`; a literal LIMIT or
`FETCH FIRST n ROWS ONLY` above `max_rows` is lowered to it; one at or below it is left alone. A
count that is not a literal number is rejected rather than replaced, as are `FETCH … WITH TIES`
and `PERCENT`. `LIMIT ALL` and `LIMIT NULL` mean no limit and are replaced. EXPLAIN and SHOW are
allowed unchanged.
"""

from querygate import (
    Policy,
    StatementKind,
    allow,
    number_expr,
    reject,
    rewrite,
    rewrite_tree,
    tree,
)


class WitWorld(Policy):
    defaults = {"max_rows": 1000}

    def decide(self, statement, context, config):
        limit = config["max_rows"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return reject("invalid policy config: `max_rows` must be at least 1")
        if statement.kind != StatementKind.QUERY:
            return allow()
        if not statement.ast_json:
            return bound_text(statement, limit)
        edited = tree(statement)
        if "Query" not in edited:
            return reject("row-limit: a query statement has no query")
        problem = bound(edited["Query"], limit, statement)
        return reject(problem) if problem else rewrite_tree(statement, edited)


def bound_text(statement, limit):
    """No tree: a literal LIMIT within bounds is kept, anything else is wrapped."""
    if statement.limit is not None and statement.limit <= limit:
        return allow()
    return rewrite(f"SELECT * FROM ({statement.sql}\n) AS row_limited LIMIT {limit}")


def bound(query, limit, statement):
    """Bounds `query` (edited in place); returns why it cannot be done faithfully, or None."""
    fetch = query.get("fetch")
    if fetch:
        if fetch["percent"]:
            return f"`FETCH FIRST … PERCENT` cannot be bounded: use `LIMIT n` with n at most {limit}"
        if fetch["with_ties"]:
            return (
                "`FETCH … WITH TIES` can return more rows than asked for: use `ROWS ONLY` or "
                f"`LIMIT n` with n at most {limit}"
            )
        # `FETCH FIRST ROW ONLY` (no quantity) is one row.
        if fetch["quantity"] is not None:
            problem = clamp(fetch, "quantity", limit, statement)
            if problem:
                return problem
    clause = query.get("limit_clause")
    counted = clause and (clause.get("OffsetCommaLimit") or clause.get("LimitOffset"))
    if counted and counted["limit"] is not None:
        if is_null(counted["limit"]):
            counted["limit"] = number_expr(limit)
            return None
        return clamp(counted, "limit", limit, statement)
    if not fetch:
        if counted:
            counted["limit"] = number_expr(limit)  # LIMIT ALL, or only an OFFSET
        else:
            query["limit_clause"] = {
                "LimitOffset": {"limit": number_expr(limit), "offset": None, "limit_by": []}
            }
    return None


def clamp(holder, key, limit, statement):
    """Lowers the literal row count `holder[key]` above `limit` to it; refuses anything else."""
    literal = holder[key].get("Value", {}).get("value") if isinstance(holder[key], dict) else None
    number = literal.get("Number") if isinstance(literal, dict) else None
    if number and number[0].isdigit():
        if int(number[0]) > limit:
            holder[key] = number_expr(limit)
        return None
    return (
        f"the row count `{statement.limit_expr}` is not a literal number: write `LIMIT n` with n "
        f"at most {limit}"
    )


def is_null(expr):
    value = expr.get("Value") if isinstance(expr, dict) else None
    return isinstance(value, dict) and value.get("value") == "Null"

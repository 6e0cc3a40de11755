"""`{{name}}`: a querygate policy. It sees each statement after querygate has parsed it and
checked it with its read-only guard, and answers allow, rewrite or reject.

This starting point shows one of each, driven by `[policy.config]` in querygate.toml:
- reject a statement that reads one of `denied_tables`;
- rewrite a query without LIMIT into one with `LIMIT max_rows`;
- allow everything else.
"""

from querygate import Policy, StatementKind, allow, number_expr, reject, rewrite_tree, tree


class WitWorld(Policy):
    # Every key [policy.config] may set, with its default.
    defaults = {"max_rows": 100, "denied_tables": []}

    def decide(self, statement, context, config):
        denied = {table.lower() for table in config["denied_tables"]}
        for relation in statement.relations:
            if relation.name.lower() in denied:
                return reject(
                    f"table `{relation.name}` may not be read: ask for the data you need "
                    "another way"
                )
        if statement.kind == StatementKind.QUERY and statement.ast_json:
            # Edit the syntax tree (sqlparser's format); querygate renders it back to SQL, then
            # parses the rewrite again and checks it like any statement.
            edited = tree(statement)
            query = edited["Query"]
            if query["limit_clause"] is None and query["fetch"] is None:
                limit = number_expr(config["max_rows"])
                clause = {"limit": limit, "offset": None, "limit_by": []}
                query["limit_clause"] = {"LimitOffset": clause}
                return rewrite_tree(statement, edited)
        return allow()

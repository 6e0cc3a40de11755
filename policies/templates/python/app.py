"""`{{name}}`: a querygate policy. It sees each statement after querygate has parsed it and
checked it with its read-only guard, and answers allow, rewrite or reject.

This starting point shows one of each, driven by `[policy.config]` in querygate.toml:
- reject a statement that reads one of `denied_tables`;
- rewrite a query without LIMIT into one with `LIMIT max_rows`;
- allow everything else.
"""

from querygate import Policy, StatementKind, allow, reject, rewrite


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
        if statement.kind == StatementKind.QUERY and statement.limit_expr is None:
            # querygate parses a rewrite again and checks it like any statement.
            return rewrite(f"{statement.sql} LIMIT {config['max_rows']}")
        return allow()

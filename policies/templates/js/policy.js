// `{{name}}`: a querygate policy. It sees each statement after querygate has parsed it and
// checked it with its read-only guard, and answers allow, rewrite or reject.
//
// This starting point shows one of each, driven by `[policy.config]` in querygate.toml:
// - reject a statement that reads one of `denied_tables`;
// - rewrite a query without LIMIT into one with `LIMIT max_rows`;
// - allow everything else.
import { allow, definePolicy, numberExpr, reject, rewriteTree, tree } from "./querygate.js";

export const evaluate = definePolicy(
  (statement, _context, config) => {
    const denied = statement.relations.find((relation) =>
      config.denied_tables.some((table) => table.toLowerCase() === relation.name.toLowerCase()),
    );
    if (denied) {
      return reject(
        `table \`${denied.name}\` may not be read: ask for the data you need another way`,
      );
    }
    if (statement.kind === "query" && statement.astJson) {
      // Edit the syntax tree (sqlparser's format); querygate renders it back to SQL, then parses
      // the rewrite again and checks it like any statement.
      const edited = tree(statement);
      const query = edited.Query;
      if (query.limit_clause === null && query.fetch === null) {
        const limit = numberExpr(config.max_rows);
        query.limit_clause = { LimitOffset: { limit, offset: null, limit_by: [] } };
        return rewriteTree(statement, edited);
      }
    }
    return allow();
  },
  // Every key [policy.config] may set, with its default.
  { max_rows: 100, denied_tables: [] },
);

// `row-limit`, in JavaScript: every query returns at most `max_rows` rows.
// A port of policies/row-limit (Rust); both pass the same cases file. It edits the syntax tree
// and has querygate render it back to SQL (`rewriteTree`, WIT 0.1.1), as the Rust policy does
// with sqlparser.
//
// The outermost query is bounded: without a LIMIT it gets `LIMIT max_rows`; a literal LIMIT or
// `FETCH FIRST n ROWS ONLY` above `max_rows` is lowered to it; one at or below it is left alone.
// A count that is not a literal number is rejected rather than replaced, as are `FETCH … WITH
// TIES` and `PERCENT`. `LIMIT ALL` and `LIMIT NULL` mean no limit and are replaced. EXPLAIN and
// SHOW are allowed unchanged.
import {
  allow,
  definePolicy,
  numberExpr,
  reject,
  rewrite,
  rewriteTree,
  tree,
} from "../../querygate.js";

export const evaluate = definePolicy(
  (statement, context, config) => {
    const max = config.max_rows;
    if (!Number.isInteger(max) || max < 1) {
      return reject("invalid policy config: `max_rows` must be at least 1");
    }
    if (statement.kind !== "query") {
      return allow();
    }
    if (!statement.astJson) {
      return boundText(statement, max);
    }
    const edited = tree(statement);
    if (!edited.Query) {
      return reject("row-limit: a query statement has no query");
    }
    const problem = bound(edited.Query, max, statement);
    return problem ? reject(problem) : rewriteTree(statement, edited);
  },
  { max_rows: 1000 },
);

// A query only PostgreSQL's grammar could read has no tree: a literal LIMIT within bounds is
// kept, anything else is wrapped.
function boundText(statement, max) {
  if (statement.limit !== null && statement.limit <= max) {
    return allow();
  }
  return rewrite(`SELECT * FROM (${statement.sql}\n) AS row_limited LIMIT ${max}`);
}

// Bounds `query` (edited in place); returns why it cannot be done faithfully, or null.
function bound(query, max, statement) {
  const fetch = query.fetch;
  if (fetch) {
    if (fetch.percent) {
      return `\`FETCH FIRST … PERCENT\` cannot be bounded: use \`LIMIT n\` with n at most ${max}`;
    }
    if (fetch.with_ties) {
      return (
        "`FETCH … WITH TIES` can return more rows than asked for: use `ROWS ONLY` or " +
        `\`LIMIT n\` with n at most ${max}`
      );
    }
    // `FETCH FIRST ROW ONLY` (no quantity) is one row.
    if (fetch.quantity !== null) {
      const problem = clamp(fetch, "quantity", max, statement);
      if (problem) {
        return problem;
      }
    }
  }
  const clause = query.limit_clause;
  const counted = clause && (clause.OffsetCommaLimit || clause.LimitOffset);
  if (counted && counted.limit !== null) {
    if (isNull(counted.limit)) {
      counted.limit = numberExpr(max);
      return null;
    }
    return clamp(counted, "limit", max, statement);
  }
  if (!fetch) {
    if (counted) {
      counted.limit = numberExpr(max); // LIMIT ALL, or only an OFFSET
    } else {
      query.limit_clause = { LimitOffset: { limit: numberExpr(max), offset: null, limit_by: [] } };
    }
  }
  return null;
}

// Lowers the literal row count `holder[key]` above `max` to `max`; refuses anything else.
function clamp(holder, key, max, statement) {
  const value = holder[key].Value;
  const number = value && value.value && value.value.Number;
  if (number && /^[0-9]+$/.test(number[0])) {
    if (BigInt(number[0]) > BigInt(max)) {
      holder[key] = numberExpr(max);
    }
    return null;
  }
  return (
    `the row count \`${statement.limitExpr}\` is not a literal number: write \`LIMIT n\` with n ` +
    `at most ${max}`
  );
}

function isNull(expr) {
  return Boolean(expr.Value) && expr.Value.value === "Null";
}

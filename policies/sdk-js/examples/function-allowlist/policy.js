// `function-allowlist`, in JavaScript: a statement may call only allow-listed functions.
// A port of policies/function-allowlist (Rust); both pass the same cases file.
//
// Every function call counts, wherever it is (select list, WHERE, ORDER BY, subqueries, table
// functions in FROM). Names are compared lower-cased; a `pg_catalog.` prefix is ignored, any
// other schema must be listed as written (`public.my_fn`). Without a configured list,
// DEFAULT_FUNCTIONS applies.
import { allow, definePolicy, reject } from "../../querygate.js";

// prettier-ignore
export const DEFAULT_FUNCTIONS = [
  // aggregates
  "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "bool_and", "bool_or", "every",
  "bit_and", "bit_or", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
  "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "regr_r2", "regr_count",
  "percentile_cont", "percentile_disc", "mode", "json_agg", "jsonb_agg", "json_object_agg",
  "jsonb_object_agg",
  // window functions
  "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
  "first_value", "last_value", "nth_value",
  // conditionals
  "coalesce", "nullif", "greatest", "least",
  // math
  "abs", "ceil", "ceiling", "floor", "round", "trunc", "mod", "div", "power", "sqrt", "cbrt",
  "exp", "ln", "log", "log10", "sign", "width_bucket",
  // strings
  "length", "char_length", "character_length", "octet_length", "lower", "upper", "initcap",
  "trim", "btrim", "ltrim", "rtrim", "lpad", "rpad", "left", "right", "substr", "substring",
  "concat", "concat_ws", "replace", "split_part", "strpos", "position", "starts_with", "reverse",
  "format", "regexp_replace", "regexp_match", "regexp_like", "string_to_array",
  "array_to_string", "to_char", "to_number",
  // dates and times
  "now", "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
  "date_trunc", "date_part", "date_bin", "extract", "age", "make_date", "make_time",
  "make_timestamp", "make_timestamptz", "make_interval", "to_date", "to_timestamp",
  "justify_days", "justify_hours", "justify_interval", "isfinite",
  // JSON
  "to_json", "to_jsonb", "row_to_json", "json_build_object", "jsonb_build_object",
  "json_build_array", "jsonb_build_array", "json_extract_path", "json_extract_path_text",
  "jsonb_extract_path", "jsonb_extract_path_text", "json_array_length", "jsonb_array_length",
  "json_typeof", "jsonb_typeof", "json_array_elements", "jsonb_array_elements",
  "json_array_elements_text", "jsonb_array_elements_text", "json_each", "jsonb_each",
  "json_each_text", "jsonb_each_text", "json_object_keys", "jsonb_object_keys",
  // arrays
  "array_length", "cardinality", "unnest", "array_position", "array_remove", "array_append",
  "array_prepend", "array_cat",
];

/** The call as written: `now`, `pg_catalog.now`, `public.my_fn`. */
function written(call) {
  return call.schema === null ? call.name : `${call.schema}.${call.name}`;
}

/** Lower-cased, without a `pg_catalog.` prefix: the form both the list and calls compare in. */
function normalize(name) {
  const lower = name.trim().toLowerCase();
  return lower.startsWith("pg_catalog.") ? lower.slice("pg_catalog.".length) : lower;
}

export const evaluate = definePolicy(
  (statement, _context, config) => {
    const allowed = new Set((config.functions ?? DEFAULT_FUNCTIONS).map(normalize));
    const refused = [];
    for (const call of statement.functions) {
      const name = written(call);
      if (!allowed.has(normalize(name)) && !refused.includes(name)) {
        refused.push(name);
      }
    }
    if (refused.length === 0) {
      return allow();
    }
    if (refused.length === 1) {
      return reject(
        `function \`${refused[0]}\` is not on this deployment's list of allowed functions: ` +
          "write the query without it",
      );
    }
    const names = refused.map((name) => `\`${name}\``).join(", ");
    return reject(
      `functions ${names} are not on this deployment's list of allowed functions: write the ` +
        "query without them",
    );
  },
  // `functions`: the allowed functions, replacing the default list: `count`, or `schema.name`.
  { functions: null },
);

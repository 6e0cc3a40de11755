// The querygate guest SDK for JavaScript: types, configuration and verdict helpers for a policy
// built into a WebAssembly component with componentize-qjs (QuickJS, `--sync`).
//
//     import { definePolicy, allow, rewrite, reject } from "./querygate.js";
//     export const evaluate = definePolicy((statement, context, config) => allow());
//
// The host calls `evaluate` with a fresh instance per statement: nothing kept in a variable
// survives to the next one. There is no file system, network, clock-based randomness or
// environment at evaluation time; import everything at the top of the module.

// The host's rendering of a syntax tree back to SQL (WIT 0.1.1). componentize-qjs exposes an
// imported interface as an ES module under its WIT name; a result's error is thrown.
import sql from "querygate:policy/sql@0.1.1";

/**
 * A column of a relation, as the catalog (or a `--schema` file) describes it.
 * @typedef {{ name: string, dataType: string }} Column
 *
 * A table or view the statement reads, once per place it is named.
 * @typedef {{ schema: string | null, name: string, alias: string | null, known: boolean,
 *             columns: Column[] }} Relation
 *
 * A function called anywhere in the statement (`inFrom`: used as a table in FROM).
 * @typedef {{ schema: string | null, name: string, inFrom: boolean }} FunctionCall
 *
 * A column reference (`name` null for a wildcard `*` or `e.*`).
 * @typedef {{ qualifier: string | null, name: string | null }} ColumnRef
 *
 * The statement as querygate checked it; `sql` is what runs if every policy allows it.
 * @typedef {{ sql: string, astJson: string, kind: "query" | "explain" | "show",
 *             relations: Relation[], functions: FunctionCall[], columnRefs: ColumnRef[],
 *             limit: number | null, limitExpr: string | null }} Statement
 *
 * Where the statement comes from; `config` is this policy's `[policy.config]` as JSON.
 * @typedef {{ database: string, databaseUser: string, databaseName: string,
 *             clientName: string, tool: string, config: string }} Context
 *
 * @typedef {{ tag: "allow" } | { tag: "rewrite", val: string } | { tag: "reject", val: string }} Verdict
 */

/** The WIT package version this SDK and its `wit/` target. */
export const WIT_VERSION = "0.1.1";

/** Let the statement through unchanged. @returns {Verdict} */
export function allow() {
  return { tag: "allow" };
}

/** Replace the statement with `sql`; querygate parses and checks it again. @returns {Verdict} */
export function rewrite(sql) {
  return { tag: "rewrite", val: String(sql) };
}

/** Refuse the statement; `reason` is shown to the user: say what to do instead. @returns {Verdict} */
export function reject(reason) {
  const text = String(reason).trim();
  return { tag: "reject", val: text === "" ? "rejected" : text };
}

/** A policy's configuration could not be used; `definePolicy` turns it into a rejection. */
export class ConfigError extends Error {}

/**
 * This policy's `[policy.config]` as an object, with `defaults` for missing keys. Throws
 * ConfigError when it is not a JSON object or has a key `defaults` does not name.
 * @param {Context} context
 * @param {Record<string, unknown>} defaults every key the configuration may set
 */
export function config(context, defaults = {}) {
  let parsed;
  try {
    parsed = JSON.parse(context.config || "{}");
  } catch (error) {
    throw new ConfigError(`invalid policy configuration: ${error.message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ConfigError("invalid policy configuration: expected a table of settings");
  }
  for (const key of Object.keys(parsed)) {
    if (!(key in defaults)) {
      const known = Object.keys(defaults).map((k) => `\`${k}\``).join(", ");
      throw new ConfigError(
        `invalid policy configuration: unknown key \`${key}\` (expected ${known || "none"})`,
      );
    }
  }
  return { ...defaults, ...parsed };
}

/**
 * Wraps a policy function `(statement, context, config) => Verdict` as the component's
 * `evaluate`: reads the configuration first (with `defaults`), and turns a thrown error into a
 * rejection that names it, so the policy fails closed with a readable reason.
 * @param {(statement: Statement, context: Context, config: any) => Verdict} policy
 * @param {Record<string, unknown>} defaults
 */
export function definePolicy(policy, defaults = {}) {
  return function evaluate(statement, context) {
    try {
      return policy(statement, context, config(context, defaults));
    } catch (error) {
      if (error instanceof ConfigError || error instanceof TreeError) {
        return reject(error.message);
      }
      return reject(`policy error: ${error && error.message ? error.message : String(error)}`);
    }
  };
}

/** The statement has no syntax tree to edit, or an edited one could not be rendered. */
export class TreeError extends Error {}

/**
 * The statement's syntax tree as a plain object, in the serde format of sqlparser 0.64 (a
 * `Statement`: `{ Query: { body, order_by, limit_clause, fetch, … } }` for a query). Edit it, then
 * answer with `rewriteTree(statement, tree)`. Throws TreeError when only PostgreSQL's grammar
 * could read the statement (`astJson` is empty): work on `statement.sql` as text then.
 * @param {Statement} statement
 */
export function tree(statement) {
  if (!statement.astJson) {
    throw new TreeError(
      "only PostgreSQL's grammar could read this statement, so there is no syntax tree to edit",
    );
  }
  return JSON.parse(statement.astJson);
}

/**
 * A syntax tree rendered back to SQL by querygate, in its canonical form (the form of
 * `statement.sql`). Throws TreeError with the host's reason when the tree is not a statement.
 * @param {object} tree
 */
export function render(tree) {
  try {
    return sql.render(JSON.stringify(tree));
  } catch (error) {
    const reason = error && error.message ? error.message : String(error);
    throw new TreeError(`cannot render the edited syntax tree: ${reason}`);
  }
}

/**
 * The verdict for a possibly edited tree: allow when it renders to the statement's own SQL, else
 * a rewrite to the rendering, which querygate parses and checks again like any rewrite.
 * @param {Statement} statement
 * @param {object} tree
 * @returns {Verdict}
 */
export function rewriteTree(statement, tree) {
  const rendered = render(tree);
  return rendered === statement.sql ? allow() : rewrite(rendered);
}

/**
 * A number literal as an expression of the tree (`Expr::Value`), e.g. for a LIMIT.
 * @param {number | bigint | string} digits
 */
export function numberExpr(digits) {
  const nowhere = { line: 0, column: 0 };
  return {
    Value: { value: { Number: [String(digits), false] }, span: { start: nowhere, end: nowhere } },
  };
}

/** `schema.name` when the statement names a schema, else `name`. @param {Relation} relation */
export function qualifiedName(relation) {
  return relation.schema ? `${relation.schema}.${relation.name}` : relation.name;
}

/**
 * Whether `relation` is `name` (`employees`, or `hr.employees` for one schema), without case.
 * @param {Relation} relation
 * @param {string} name
 */
export function isNamed(relation, name) {
  const dot = name.lastIndexOf(".");
  const table = dot < 0 ? name : name.slice(dot + 1);
  if (table.toLowerCase() !== relation.name.toLowerCase()) {
    return false;
  }
  return dot < 0 || (relation.schema ?? "").toLowerCase() === name.slice(0, dot).toLowerCase();
}

/** Whether the catalog lists `column` for `relation`. @param {Relation} relation */
export function hasColumn(relation, column) {
  return relation.columns.some((c) => c.name.toLowerCase() === column.toLowerCase());
}

// The host's `log` import. componentize-qjs exposes a world-level import as a global; other
// backends differ, which is why policies call these rather than `log` itself.
function write(level, message) {
  if (typeof globalThis.log === "function") {
    globalThis.log(level, String(message));
  }
}

/** Messages to querygate's log, tagged with the policy's name; capped per evaluation. */
export const log = {
  debug: (message) => write("debug", message),
  info: (message) => write("info", message),
  warn: (message) => write("warn", message),
  error: (message) => write("error", message),
};

"""The querygate guest SDK for Python: typed statement and context (the generated `wit_world`
bindings), configuration and verdict helpers, for a policy built with componentize-py.

    from querygate import Policy, allow, reject, rewrite

    class WitWorld(Policy):
        defaults = {"max_rows": 100}

        def decide(self, statement, context, config):
            return allow()

The host calls `evaluate` on a fresh instance per statement: nothing survives to the next one.
Import every module at the top of the file: there are no files at evaluation time.
"""

import json
from typing import Any, Dict

import wit_world
from wit_world.imports import sql, types
from wit_world.imports.types import (  # noqa: F401  (re-exported for policies)
    Column,
    ColumnRef,
    Context,
    FunctionCall,
    Relation,
    Statement,
    StatementKind,
    Verdict,
)

WIT_VERSION = "0.1.1"


def allow() -> Verdict:
    """Let the statement through unchanged."""
    return types.Verdict_Allow()


def rewrite(sql: str) -> Verdict:
    """Replace the statement with `sql`; querygate parses and checks it again."""
    return types.Verdict_Rewrite(str(sql))


def reject(reason: str) -> Verdict:
    """Refuse the statement; the reason is shown to the user: say what to do instead."""
    text = str(reason).strip()
    return types.Verdict_Reject(text or "rejected")


class ConfigError(Exception):
    """The policy's configuration cannot be used; `Policy` turns it into a rejection."""


def config(context: Context, defaults: Dict[str, Any]) -> Dict[str, Any]:
    """This policy's `[policy.config]` with `defaults` for missing keys; unknown keys refused."""
    try:
        parsed = json.loads(context.config or "{}")
    except ValueError as error:
        raise ConfigError(f"invalid policy configuration: {error}") from None
    if not isinstance(parsed, dict):
        raise ConfigError("invalid policy configuration: expected a table of settings")
    for key in parsed:
        if key not in defaults:
            known = ", ".join(f"`{k}`" for k in defaults) or "none"
            raise ConfigError(
                f"invalid policy configuration: unknown key `{key}` (expected {known})"
            )
    return {**defaults, **parsed}


class TreeError(Exception):
    """The statement has no syntax tree to edit, or an edited one could not be rendered."""


def tree(statement: Statement) -> Dict[str, Any]:
    """The statement's syntax tree as dicts and lists, in the serde format of sqlparser 0.64 (a
    `Statement`: `{"Query": {"body": …, "limit_clause": …, "fetch": …}}` for a query). Edit it,
    then answer with `rewrite_tree(statement, tree)`. Raises TreeError when only PostgreSQL's
    grammar could read the statement (`ast_json` is empty): work on `statement.sql` as text."""
    if not statement.ast_json:
        raise TreeError(
            "only PostgreSQL's grammar could read this statement, so there is no syntax tree "
            "to edit"
        )
    return json.loads(statement.ast_json)


def render(tree: Dict[str, Any]) -> str:
    """The tree rendered back to SQL by querygate, in its canonical form (the form of
    `statement.sql`). Raises TreeError with the host's reason when it is not a statement."""
    try:
        return sql.render(json.dumps(tree))
    except wit_world.types.Err as error:
        raise TreeError(f"cannot render the edited syntax tree: {error.value}") from None


def rewrite_tree(statement: Statement, tree: Dict[str, Any]) -> Verdict:
    """Allow when the tree renders to the statement's own SQL, else rewrite to the rendering,
    which querygate parses and checks again like any rewrite."""
    rendered = render(tree)
    return allow() if rendered == statement.sql else rewrite(rendered)


def number_expr(digits: Any) -> Dict[str, Any]:
    """A number literal as an expression of the tree (`Expr::Value`), e.g. for a LIMIT."""
    nowhere = {"line": 0, "column": 0}
    span = {"start": nowhere, "end": nowhere}
    return {"Value": {"value": {"Number": [str(digits), False]}, "span": span}}


def qualified_name(relation: Relation) -> str:
    """`schema.name` when the statement names a schema, else `name`."""
    return f"{relation.schema}.{relation.name}" if relation.schema else relation.name


def is_named(relation: Relation, name: str) -> bool:
    """Whether `relation` is `name` (`employees`, or `hr.employees`), without case."""
    schema, _, table = name.rpartition(".")
    if table.lower() != relation.name.lower():
        return False
    return not schema or (relation.schema or "").lower() == schema.lower()


def has_column(relation: Relation, column: str) -> bool:
    """Whether the catalog lists `column` for `relation`."""
    return any(c.name.lower() == column.lower() for c in relation.columns)


def log(level: str, message: str) -> None:
    """A message to querygate's log (`debug`, `info`, `warn`, `error`); capped per evaluation."""
    wit_world.log(types.Level[level.upper()], str(message))


class Policy(wit_world.WitWorld):
    """Base of a policy's `WitWorld` class: reads the configuration (with `defaults`), calls
    `decide`, and turns an exception into a rejection that names it (fail closed)."""

    defaults: Dict[str, Any] = {}

    def decide(self, statement: Statement, context: Context, config: Dict[str, Any]) -> Verdict:
        raise NotImplementedError

    def evaluate(self, statement: Statement, context: Context) -> Verdict:
        try:
            return self.decide(statement, context, config(context, self.defaults))
        except (ConfigError, TreeError) as error:
            return reject(str(error))
        except Exception as error:  # a policy that fails refuses the statement
            return reject(f"policy error: {type(error).__name__}: {error}")

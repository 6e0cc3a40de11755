//! The guard's walk over PostgreSQL's tree: every node of every kind, through the tree's JSON
//! form, so no node kind is skipped. On the way it refuses what writes, creates a table, locks
//! rows, takes parameters or calls a function on the deny-list, and it collects what the
//! statement names (relations, functions, column references, operators, casts, sampling
//! methods), which are then resolved through the catalog ([`Walk::check_reach`]).

use super::statement_name;
use super::tree::Json as Value;

use crate::sql::{Catalog, ColumnRef, FunctionCall, Reach, ReachRefusal};

#[derive(Default)]
pub(super) struct Walk {
    pub(super) relations: Vec<(Option<String>, String, Option<String>)>,
    pub(super) functions: Vec<FunctionCall>,
    pub(super) column_refs: Vec<ColumnRef>,
    pub(super) ctes: Vec<String>,
    /// Operators used, by (schema, symbol), including those PostgreSQL looks up by name for
    /// `IN`, `LIKE`, `BETWEEN`, simple `CASE`, `USING` and `NATURAL` joins.
    operators: Vec<(Option<String>, String)>,
    /// Types cast to, by (schema, name).
    types: Vec<(Option<String>, String)>,
    /// TABLESAMPLE methods, by (schema, name): each is a function.
    samples: Vec<(Option<String>, String)>,
    /// Only collect (a definition in a schema file): refusals come when it is used.
    collect_only: bool,
}

impl Walk {
    /// A walk over a definition in a schema file (a view, a policy, a domain's checks): it
    /// only collects, and the refusals come when a statement uses what was defined.
    pub(super) fn definition() -> Walk {
        Walk {
            collect_only: true,
            ..Walk::default()
        }
    }
}

/// A qualified name's last part and its schema.
pub(super) fn split_name(mut names: Vec<String>) -> Option<(Option<String>, String)> {
    let name = names.pop()?;
    Some((names.pop(), name))
}

pub(super) fn strings(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.pointer("/String/sval").and_then(Value::as_str))
        .map(String::from)
        .collect()
}

pub(super) fn non_empty(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

impl Walk {
    /// Visit every value; `in_from` is set under a function in FROM (`RangeFunction`).
    pub(super) fn value(&mut self, value: &Value, in_from: bool) -> Result<(), String> {
        match value {
            Value::Array(items) => items.iter().try_for_each(|v| self.value(v, in_from)),
            Value::Object(members) => {
                for (key, inner) in members {
                    let in_from = in_from || key == "RangeFunction";
                    self.node(key, inner, in_from)?;
                    self.value(inner, in_from)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn node(&mut self, key: &str, node: &Value, in_from: bool) -> Result<(), String> {
        match key {
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => Err(format!(
                "PostgreSQL's grammar finds {} inside the statement: data-modifying statements are refused",
                statement_name(key)
            )),
            "SelectStmt" => {
                if node.get("intoClause").is_some_and(|v| !v.is_null()) {
                    return Err("SELECT INTO creates a table: use a plain SELECT".to_string());
                }
                if node
                    .get("lockingClause")
                    .and_then(Value::as_array)
                    .is_some_and(|l| !l.is_empty())
                {
                    return Err(
                        "FOR UPDATE / FOR SHARE locks rows: remove the locking clause".to_string(),
                    );
                }
                Ok(())
            }
            "ParamRef" => Err(
                "the statement has `$n` parameter placeholders and no values: write the values in"
                    .to_string(),
            ),
            "FuncCall" => {
                let mut names = strings(node.get("funcname"));
                let Some(name) = names.pop() else {
                    return Ok(());
                };
                if let Some(why) =
                    crate::sql::functions::side_effect(&name).filter(|_| !self.collect_only)
                {
                    return Err(format!("function `{name}` is not allowed: {why}"));
                }
                self.functions.push(FunctionCall {
                    schema: names.pop(),
                    name,
                    in_from,
                });
                Ok(())
            }
            "RangeVar" => {
                let Some(name) = non_empty(node.get("relname")) else {
                    return Ok(());
                };
                let alias = non_empty(node.pointer("/alias/aliasname"));
                self.relations
                    .push((non_empty(node.get("schemaname")), name, alias));
                Ok(())
            }
            "CommonTableExpr" => {
                if let Some(name) = non_empty(node.get("ctename")) {
                    self.ctes.push(name);
                }
                Ok(())
            }
            "A_Expr" => {
                let Some((schema, symbol)) = split_name(strings(node.get("name"))) else {
                    return Ok(());
                };
                if symbol.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') {
                    // BETWEEN [SYMMETRIC] is written with a word; PostgreSQL runs the
                    // comparison operators, found by name.
                    for op in [">=", "<=", ">", "<"] {
                        self.operators.push((schema.clone(), op.to_string()));
                    }
                } else {
                    self.operators.push((schema, symbol));
                }
                Ok(())
            }
            "SubLink" => {
                match split_name(strings(node.get("operName"))) {
                    Some(op) => self.operators.push(op),
                    // `x IN (SELECT …)` is `= ANY` without a name written.
                    None if node.get("subLinkType").and_then(Value::as_str)
                        == Some("ANY_SUBLINK") =>
                    {
                        self.operators.push((None, "=".to_string()))
                    }
                    None => {}
                }
                Ok(())
            }
            "SortBy" => {
                if let Some(op) = split_name(strings(node.get("useOp"))) {
                    self.operators.push(op);
                }
                Ok(())
            }
            "CaseExpr" if node.get("arg").is_some_and(|a| !a.is_null()) => {
                self.operators.push((None, "=".to_string()));
                Ok(())
            }
            "JoinExpr"
                if node.get("isNatural").is_some_and(|v| !v.is_null())
                    || node
                        .get("usingClause")
                        .and_then(Value::as_array)
                        .is_some_and(|u| !u.is_empty()) =>
            {
                self.operators.push((None, "=".to_string()));
                Ok(())
            }
            "TypeCast" => {
                if let Some(t) = split_name(strings(node.pointer("/typeName/names"))) {
                    self.types.push(t);
                }
                Ok(())
            }
            "RangeTableSample" => {
                if let Some(method) = split_name(strings(node.get("method"))) {
                    self.samples.push(method);
                }
                Ok(())
            }
            "ColumnRef" => {
                let fields = node.get("fields").and_then(Value::as_array);
                let mut parts: Vec<Option<String>> = fields
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        f.pointer("/String/sval")
                            .and_then(Value::as_str)
                            .map(String::from)
                    })
                    .collect();
                let name = parts.pop().flatten();
                self.column_refs.push(ColumnRef {
                    qualifier: parts.pop().flatten(),
                    name,
                });
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Walk {
    /// Everything the statement reaches, resolved through the catalog (see `sql::reach`).
    pub(super) fn check_reach(&self, catalog: &Catalog) -> Result<(), ReachRefusal> {
        for f in &self.functions {
            catalog.check_function(f.schema.as_deref(), &f.name)?;
        }
        for (schema, symbol) in &self.operators {
            catalog.check_operator(schema.as_deref(), symbol)?;
        }
        for (schema, name) in &self.types {
            catalog.check_type(schema.as_deref(), name)?;
        }
        for (schema, name) in &self.samples {
            if !is_builtin_sample(schema.as_deref(), name) {
                catalog.check_function(schema.as_deref(), name)?;
            }
        }
        for (schema, name, _) in &self.relations {
            if schema.is_none() && self.ctes.contains(name) {
                continue;
            }
            catalog.check_relation(schema.as_deref(), name)?;
        }
        Ok(())
    }

    /// What the walked text reaches, as a view or policy definition in a schema file.
    pub(super) fn reaches(&self) -> Vec<Reach> {
        let mut out: Vec<Reach> = Vec::new();
        for f in &self.functions {
            out.push(Reach::Function {
                schema: f.schema.clone(),
                name: f.name.clone(),
            });
        }
        for (schema, symbol) in &self.operators {
            out.push(Reach::Operator {
                schema: schema.clone(),
                symbol: symbol.clone(),
            });
        }
        for (schema, name) in &self.types {
            out.push(Reach::Type {
                schema: schema.clone(),
                name: name.clone(),
            });
        }
        for (schema, name) in &self.samples {
            if !is_builtin_sample(schema.as_deref(), name) {
                out.push(Reach::Function {
                    schema: schema.clone(),
                    name: name.clone(),
                });
            }
        }
        for (schema, name, _) in &self.relations {
            if schema.is_none() && self.ctes.contains(name) {
                continue;
            }
            out.push(Reach::Relation {
                schema: schema.clone(),
                name: name.clone(),
            });
        }
        out
    }
}

/// `TABLESAMPLE SYSTEM` and `BERNOULLI` are PostgreSQL's own sampling methods (their handler
/// functions are not for queries, so the audit refuses calling them).
fn is_builtin_sample(schema: Option<&str>, name: &str) -> bool {
    matches!(schema, None | Some("pg_catalog")) && matches!(name, "system" | "bernoulli")
}

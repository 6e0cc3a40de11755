//! The statements of a `pg_dump --schema-only` file that only PostgreSQL's grammar reads for
//! the guard: what user functions, views, domains, operators, extensions and row-level
//! security policies the database has, and what each of them reaches.

use super::ffi::parse_json;
use super::tree::Json as Value;
use super::walk::{Walk, non_empty, split_name, strings};
use crate::sql::functions::extension_members;
use crate::sql::{Catalog, Origin};

/// Read one statement of a `pg_dump --schema-only` file into `catalog`, if it is one the guard
/// needs: `CREATE FUNCTION`/`PROCEDURE` (a user function), `CREATE VIEW` (what its definition
/// reaches), `CREATE DOMAIN` (what its checks call), `CREATE OPERATOR` (the function it runs),
/// `CREATE EXTENSION` (its members, from the checked-in list of the extensions PostgreSQL
/// ships) and `CREATE POLICY` (what its expressions reach). Other statements are skipped.
/// Unqualified names go to `public`.
pub(crate) fn read_schema_statement(sql: &str, catalog: &mut Catalog) -> Result<(), String> {
    // pg_dump writes a comment block before each statement.
    let words: Vec<String> = sql
        .lines()
        .skip_while(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with("--")
        })
        .flat_map(str::split_whitespace)
        .take(6)
        .map(str::to_uppercase)
        .collect();
    let read = words.first().map(String::as_str) == Some("CREATE")
        && words.iter().skip(1).any(|w| {
            matches!(
                w.as_str(),
                "FUNCTION" | "PROCEDURE" | "VIEW" | "OPERATOR" | "EXTENSION" | "POLICY" | "DOMAIN"
            )
        });
    if !read {
        return Ok(());
    }
    let json = parse_json(sql)?;
    let tree: Value =
        serde_json::from_str(&json).map_err(|e| format!("cannot read its parse tree: {e}"))?;
    let public = || "public".to_string();
    for raw in tree
        .get("stmts")
        .and_then(Value::as_array)
        .unwrap_or_default()
    {
        let Some((kind, node)) = raw.get("stmt").and_then(Value::first_member) else {
            continue;
        };
        match kind {
            "CreateFunctionStmt" => {
                if let Some((schema, name)) = split_name(strings(node.get("funcname"))) {
                    let schema = schema.unwrap_or_else(public);
                    catalog.insert_function(&schema, &name, Origin::User);
                }
            }
            "ViewStmt" | "CreatePolicyStmt" => {
                let target = if kind == "ViewStmt" { "view" } else { "table" };
                let Some(relation) = node.get(target) else {
                    continue;
                };
                let Some(name) = non_empty(relation.get("relname")) else {
                    continue;
                };
                let schema = non_empty(relation.get("schemaname")).unwrap_or_else(public);
                let mut walk = Walk::definition();
                for part in ["query", "qual", "with_check"] {
                    if let Some(body) = node.get(part) {
                        walk.value(body, false)?;
                    }
                }
                for what in walk.reaches() {
                    catalog.insert_relation_reach(&schema, &name, what);
                }
            }
            "CreateDomainStmt" => {
                let Some((schema, name)) = split_name(strings(node.get("domainname"))) else {
                    continue;
                };
                let schema = schema.unwrap_or_else(public);
                let mut walk = Walk::definition();
                if let Some(constraints) = node.get("constraints") {
                    walk.value(constraints, false)?;
                }
                for what in walk.reaches() {
                    catalog.insert_type_reach(&schema, &name, what);
                }
            }
            "DefineStmt" if node.get("kind").and_then(Value::as_str) == Some("OBJECT_OPERATOR") => {
                let Some((schema, symbol)) = split_name(strings(node.get("defnames"))) else {
                    continue;
                };
                let schema = schema.unwrap_or_else(public);
                let definition = node.get("definition").and_then(Value::as_array);
                for element in definition.into_iter().flatten() {
                    let Some(def) = element.get("DefElem") else {
                        continue;
                    };
                    let is_function = def
                        .get("defname")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n == "function" || n == "procedure");
                    if !is_function {
                        continue;
                    }
                    let names = def
                        .pointer("/arg/TypeName/names")
                        .or_else(|| def.pointer("/arg/List/items"));
                    if let Some((fschema, fname)) = split_name(strings(names)) {
                        let fschema = fschema.unwrap_or_else(public);
                        catalog.insert_operator(&schema, &symbol, (&fschema, &fname));
                    }
                }
            }
            "CreateExtensionStmt" => {
                let Some(extension) = non_empty(node.get("extname")) else {
                    continue;
                };
                let options = node.get("options").and_then(Value::as_array);
                let schema = options
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.get("DefElem"))
                    .find(|d| d.get("defname").and_then(Value::as_str) == Some("schema"))
                    .and_then(|d| non_empty(d.pointer("/arg/String/sval")))
                    .unwrap_or_else(public);
                catalog.insert_extension(&extension, &schema);
                for (member, name, function) in extension_members(&extension) {
                    let origin = Origin::Extension(extension.clone());
                    if member == "function" {
                        catalog.insert_function(&schema, name, origin);
                    } else {
                        catalog.insert_operator(&schema, name, (&schema, function));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

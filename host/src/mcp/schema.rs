//! Hand-written JSON schemas for the output fields whose Rust type is an open `Value`.
//!
//! schemars describes `serde_json::Value` as the boolean schema `true`. That is valid JSON
//! Schema, but the official TypeScript SDK (Claude Desktop, Cursor, the MCP Inspector) refuses
//! a whole `tools/list` that holds one, so every field here gets a plain object schema. The
//! rows of a query are described as one array, with no `items` schema: the Python SDK
//! validates structured content with `jsonschema` on every answer, and any `items` schema makes
//! it visit every row (`{"type": "array"}` per row: about 25 times the cost of the rest of the
//! answer's validation for 1,000 rows, measured with the SDK's own cached validator).

use schemars::{Schema, SchemaGenerator, json_schema};

/// `rows` of a query: one array per row, its values in column order, each in the JSON form
/// of its column's type.
pub fn rows(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "description": "The rows: each row an array of its values in column order (numeric \
                        as a string, timestamps as ISO 8601, bytea as base64, arrays as arrays, \
                        json as JSON, NULL as null)"
    })
}

/// `plan` of `explain`: PostgreSQL's `EXPLAIN (FORMAT JSON)` document.
pub fn plan(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "description": "PostgreSQL's EXPLAIN (FORMAT JSON) output: one object with a `Plan`"
    })
}

/// Teleport's labels of an offered database.
pub fn labels(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "description": "Teleport's labels of the database, name to value"
    })
}

/// Why `arguments` do not fit the tool's input `schema`, naming the argument: a value of the
/// wrong JSON type for a declared property. rmcp reports the same mistake through serde, whose
/// message ("invalid type: integer `42`, expected a string") does not say which argument it
/// means, and a model needs that to correct its call. Missing and unknown arguments are left to
/// serde, whose messages name them.
pub fn argument_error(
    schema: &serde_json::Map<String, serde_json::Value>,
    arguments: &serde_json::Map<String, serde_json::Value>,
) -> Option<String> {
    let properties = schema.get("properties")?.as_object()?;
    for (name, value) in arguments {
        let Some(declared) = properties.get(name).and_then(|p| p.get("type")) else {
            continue;
        };
        let allowed: Vec<&str> = match declared {
            serde_json::Value::String(one) => vec![one.as_str()],
            serde_json::Value::Array(many) => many.iter().filter_map(|t| t.as_str()).collect(),
            _ => continue,
        };
        if !allowed.iter().any(|t| json_type_is(value, t)) {
            let expected: Vec<&str> = allowed.iter().filter(|t| **t != "null").copied().collect();
            let optional = if allowed.contains(&"null") {
                " (or null, or left out)"
            } else {
                ""
            };
            return Some(format!(
                "argument `{name}` must be {}{optional}, not {} `{value}`",
                expected
                    .iter()
                    .map(|t| with_article(t))
                    .collect::<Vec<_>>()
                    .join(" or "),
                with_article(json_type_name(value)),
            ));
        }
    }
    None
}

fn json_type_is(value: &serde_json::Value, json_type: &str) -> bool {
    use serde_json::Value;
    match json_type {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => matches!(value, Value::Null),
        _ => true,
    }
}

fn json_type_name(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn with_article(json_type: &str) -> String {
    match json_type {
        "null" => "null".to_string(),
        "array" | "object" | "integer" => format!("an {json_type}"),
        other => format!("a {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::argument_error;
    use serde_json::{Value, json};

    fn object(value: Value) -> serde_json::Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("an object"),
        }
    }

    fn check(arguments: Value) -> Option<String> {
        let schema = object(json!({
            "type": "object",
            "properties": {
                "database": {"type": ["string", "null"]},
                "sql": {"type": "string"},
                "teleport_offered": {"type": "boolean"},
                "free": {}
            },
            "required": ["sql"]
        }));
        argument_error(&schema, &object(arguments))
    }

    #[test]
    fn a_wrong_type_names_the_argument_and_both_types() {
        assert_eq!(
            check(json!({"sql": 42})).as_deref(),
            Some("argument `sql` must be a string, not an integer `42`")
        );
        assert_eq!(
            check(json!({"sql": "SELECT 1", "teleport_offered": "yes"})).as_deref(),
            Some("argument `teleport_offered` must be a boolean, not a string `\"yes\"`")
        );
        assert_eq!(
            check(json!({"sql": "SELECT 1", "database": ["hr"]})).as_deref(),
            Some(
                "argument `database` must be a string (or null, or left out), not an array `[\"hr\"]`"
            )
        );
    }

    #[test]
    fn fitting_missing_unknown_and_untyped_arguments_are_left_alone() {
        assert_eq!(check(json!({"sql": "SELECT 1", "database": null})), None);
        assert_eq!(check(json!({"sql": "SELECT 1", "database": "hr"})), None);
        assert_eq!(check(json!({})), None, "serde names a missing argument");
        assert_eq!(check(json!({"sql": "x", "other": 1, "free": [1]})), None);
    }
}

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

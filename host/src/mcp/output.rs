//! What the tools take and answer: their arguments, their structured outputs (which give the
//! output schemas), and the `query` answer written without copying its rows.

use super::schema;
use crate::chain::{Action, StepKind};
use crate::database::{RowJson, TableDescription, TableInfo};
use crate::teleport::Offered;
use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Arguments of `query`, `explain` and `check_query`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SqlParams {
    /// Name of the database, as `list_databases` shows it. May be omitted when only one is configured.
    pub database: Option<String>,
    /// One PostgreSQL statement (SELECT, VALUES, WITH, SHOW, or EXPLAIN without ANALYZE).
    pub sql: String,
}

/// Arguments of `list_tables`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListTablesParams {
    /// Name of the database. May be omitted when only one is configured.
    pub database: Option<String>,
    /// Only tables in this schema (default: every schema the role can see, except system schemas).
    pub schema: Option<String>,
}

/// Arguments of `describe_table`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DescribeTableParams {
    /// Name of the database. May be omitted when only one is configured.
    pub database: Option<String>,
    /// The table, optionally schema-qualified (`hr.employees`).
    pub table: String,
}

/// Arguments of `list_databases`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListDatabasesParams {
    /// Also list what Teleport offers (`tsh db ls`) in the clusters of the configured
    /// teleport:// databases. Offered databases are not queryable until configured.
    #[serde(default)]
    pub teleport_offered: bool,
}

/// Arguments of `teleport_postgres_query`, as `tsh mcp db start` names them.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TeleportQueryParams {
    /// The database: its teleport:// URI (as teleport_list_databases shows it) or its name.
    pub database: String,
    /// One PostgreSQL statement (SELECT, VALUES, WITH, SHOW, or EXPLAIN without ANALYZE).
    pub query: String,
}

/// A configured database.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DatabaseInfo {
    /// The name to pass as `database`.
    pub name: String,
    /// The database name on the server.
    pub database_name: String,
    /// The role statements run as.
    pub user: String,
    /// Where it is (host or socket directory, and port; the teleport:// URI for a Teleport
    /// database). Never includes a password.
    pub location: String,
    /// The database's teleport:// URI, for Teleport databases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DatabasesOutput {
    pub databases: Vec<DatabaseInfo>,
    /// With `teleport_offered`: what `tsh db ls` lists in the configured clusters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teleport_offered: Option<Vec<Offered>>,
    /// With `teleport_offered`: why tsh could not list them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teleport_offered_error: Option<String>,
}

/// A result column.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ColumnOutput {
    pub name: String,
    /// PostgreSQL type name.
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A `query` answer: [`QueryOutput`] as structured content and, for clients that show the
/// model only text, as JSON text. Built without copying the rows (rmcp's `Json<T>` turns the
/// output into a `Value` by serialising it, a deep copy) and without writing them twice: the
/// text takes each row's JSON as the executor wrote it.
pub struct QueryAnswer {
    pub output: QueryOutput,
    pub rows_json: Vec<RowJson>,
    /// Whether the text content is fenced as untrusted data ([`super::fence`]).
    pub fenced: bool,
}

impl QueryAnswer {
    /// The answer's text: `output` as compact JSON, in field order, with the rows as written.
    pub(super) fn text(&self) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct Text<'a> {
            database: &'a str,
            columns: &'a [ColumnOutput],
            rows: Vec<&'a serde_json::value::RawValue>,
            row_count: usize,
            truncated: bool,
            executed_sql: &'a str,
            rewritten_by: &'a [String],
            timings: &'a Timings,
        }
        let o = &self.output;
        serde_json::to_string(&Text {
            database: &o.database,
            columns: &o.columns,
            rows: self.rows_json.iter().map(|r| r.0.as_ref()).collect(),
            row_count: o.row_count,
            truncated: o.truncated,
            executed_sql: &o.executed_sql,
            rewritten_by: &o.rewritten_by,
            timings: &o.timings,
        })
    }

    /// The answer's structured content: `output` as a `Value`, its rows moved, not copied.
    pub(super) fn structured(self) -> serde_json::Result<serde_json::Value> {
        use serde_json::Value;
        let QueryOutput {
            database,
            columns,
            rows,
            row_count,
            truncated,
            executed_sql,
            rewritten_by,
            timings,
        } = self.output;
        let mut map = serde_json::Map::with_capacity(8);
        map.insert("database".into(), Value::String(database));
        map.insert("columns".into(), serde_json::to_value(columns)?);
        map.insert(
            "rows".into(),
            Value::Array(rows.into_iter().map(Value::Array).collect()),
        );
        map.insert("row_count".into(), row_count.into());
        map.insert("truncated".into(), truncated.into());
        map.insert("executed_sql".into(), Value::String(executed_sql));
        map.insert("rewritten_by".into(), serde_json::to_value(rewritten_by)?);
        map.insert("timings".into(), serde_json::to_value(timings)?);
        Ok(Value::Object(map))
    }
}

impl IntoCallToolResult for QueryAnswer {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        let encode = |e: serde_json::Error| {
            ErrorData::internal_error(format!("could not write the answer as JSON: {e}"), None)
        };
        let mut text = self.text().map_err(encode)?;
        if self.fenced {
            let fence = super::fence::Fence::new().map_err(|e| {
                ErrorData::internal_error(format!("no random marker for the results: {e}"), None)
            })?;
            text = fence.wrap(&self.output.database, &text);
        }
        let structured = self.structured().map_err(encode)?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(structured);
        Ok(result.into())
    }
}

/// How long each part took, in milliseconds.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Timings {
    pub decide_ms: f64,
    pub execute_ms: f64,
}

/// Rows of a query.
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueryOutput {
    pub database: String,
    pub columns: Vec<ColumnOutput>,
    /// One array per row, values in column order.
    #[schemars(schema_with = "schema::rows")]
    pub rows: Vec<Vec<serde_json::Value>>,
    pub row_count: usize,
    /// True when the row or byte cap cut the result short.
    pub truncated: bool,
    /// The SQL that ran (after policies).
    pub executed_sql: String,
    /// Policies that rewrote the statement, in order.
    pub rewritten_by: Vec<String>,
    pub timings: Timings,
}

/// A plan.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExplainOutput {
    pub database: String,
    /// The statement that was explained (after policies).
    pub explained_sql: String,
    pub rewritten_by: Vec<String>,
    /// PostgreSQL's `EXPLAIN (FORMAT JSON)` output.
    #[schemars(schema_with = "schema::plan")]
    pub plan: serde_json::Value,
}

/// One policy's verdict.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicyVerdict {
    pub policy: String,
    pub verdict: StepKind,
    /// False when the policy runs in monitor mode: its verdict is shown, not applied.
    pub enforced: bool,
    /// The rewritten SQL, the reason, or the fault.
    pub detail: Option<String>,
    pub micros: u64,
}

/// The decision on a statement, without running it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckOutput {
    pub database: String,
    pub decision: Action,
    /// The SQL that would run.
    pub final_sql: Option<String>,
    pub rewritten_by: Vec<String>,
    /// `parse`, `guard` or a policy name, when rejected.
    pub rejected_by: Option<String>,
    pub reason: Option<String>,
    pub policies: Vec<PolicyVerdict>,
}

/// Tables, views and their kinds.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TablesOutput {
    pub database: String,
    pub tables: Vec<TableInfo>,
}

/// A table's columns, keys and comments.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TableOutput {
    pub database: String,
    pub table: TableDescription,
}

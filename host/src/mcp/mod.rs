//! The MCP server: tools and resources over stdio, each statement through the one pipeline.
//!
//! Tools: `list_databases`, `query`, `explain`, `check_query`, `list_tables`,
//! `describe_table`, all read-only; with `[teleport] tool_names` also `teleport_list_databases`
//! and `teleport_postgres_query`, the names `tsh mcp db start` uses. Every call writes one audit
//! line before it answers. The client's name from the MCP handshake is what policies see as
//! `client-name`.

pub(crate) mod schema;

use crate::audit::{AuditLog, AuditRecord};
use crate::database::{Database, RowJson, TableDescription, TableInfo};
use crate::pipeline::{Decision, Outcome, Pipeline};
use crate::policy::Context;
use crate::sql::Catalog;
use crate::teleport::{Offered, TeleportSettings, TeleportUri};
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, Implementation, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Json, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// One configured database and what querygate knows of its tables.
pub struct DatabaseEntry {
    pub db: Database,
    catalog: RwLock<Option<(Arc<Catalog>, Instant)>>,
    guard: crate::sql::GuardSettings,
    /// A later snapshot at which the database found the cached catalog unchanged, with that
    /// catalog's key: see [`DatabaseEntry::stamp`].
    observed: std::sync::Mutex<Option<(String, String)>>,
}

impl DatabaseEntry {
    pub fn new(db: Database) -> Self {
        DatabaseEntry {
            db,
            catalog: RwLock::new(None),
            guard: crate::sql::GuardSettings::default(),
            observed: std::sync::Mutex::new(None),
        }
    }

    /// Trust what `[guard]` allows when deciding on this database's statements.
    pub fn with_guard(mut self, guard: crate::sql::GuardSettings) -> Self {
        self.guard = guard;
        self
    }

    /// Forget the catalog: the database says it changed.
    async fn forget_catalog(&self) {
        *self.catalog.write().await = None;
        *self.observed() = None;
    }

    fn observed(&self) -> std::sync::MutexGuard<'_, Option<(String, String)>> {
        self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stamp (`snapshot|key`) to check a decision's catalog with: its own, or the same
    /// key at the latest snapshot the database found it unchanged. Without this, any write
    /// anywhere in the cluster after the catalog was loaded would make every later call
    /// recompute the key on the server (about 2 ms).
    fn stamp(&self, freshness: &str) -> String {
        let Some((_, key)) = freshness.split_once('|') else {
            return freshness.to_string();
        };
        match &*self.observed() {
            Some((seen_key, snapshot)) if seen_key == key => format!("{snapshot}|{key}"),
            _ => freshness.to_string(),
        }
    }

    /// The database found the catalog of `freshness` unchanged at `snapshot`.
    fn observe(&self, freshness: &str, snapshot: Option<&str>) {
        if let (Some((_, key)), Some(snapshot)) = (freshness.split_once('|'), snapshot) {
            *self.observed() = Some((key.to_string(), snapshot.to_string()));
        }
    }

    /// The catalog, loaded on first use; reloaded when `stale` and older than a second.
    async fn catalog(&self, stale: bool) -> Result<Arc<Catalog>, String> {
        if let Some((catalog, loaded)) = &*self.catalog.read().await
            && (!stale || loaded.elapsed() < Duration::from_secs(1))
        {
            return Ok(catalog.clone());
        }
        let mut catalog = self.db.load_catalog().await.map_err(|e| e.to_string())?;
        catalog.set_guard(self.guard.clone());
        let catalog = Arc::new(catalog);
        *self.catalog.write().await = Some((catalog.clone(), Instant::now()));
        Ok(catalog)
    }
}

/// Shared state of the server.
pub struct ServerState {
    pub pipeline: Pipeline,
    pub databases: Vec<DatabaseEntry>,
    pub audit: AuditLog,
    /// How tsh runs, and whether Teleport's tool names are served.
    pub teleport: TeleportSettings,
}

/// The MCP server.
#[derive(Clone)]
pub struct QuerygateServer {
    state: Arc<ServerState>,
    tool_router: ToolRouter<Self>,
}

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
    output: QueryOutput,
    rows_json: Vec<RowJson>,
}

impl QueryAnswer {
    /// The answer's text: `output` as compact JSON, in field order, with the rows as written.
    fn text(&self) -> serde_json::Result<String> {
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
    fn structured(self) -> serde_json::Result<serde_json::Value> {
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
        let text = self.text().map_err(encode)?;
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
    /// allow, rewrite, reject or fault.
    pub verdict: String,
    pub detail: Option<String>,
    pub micros: u64,
}

/// The decision on a statement, without running it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckOutput {
    pub database: String,
    /// allow, rewrite or reject.
    pub decision: String,
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

/// The client's name: from the handshake, or, for a client in 2026-07-28's discovery mode (no
/// `initialize`), from the request's own metadata.
fn client_name(request: &RequestContext<RoleServer>) -> String {
    request
        .client_info()
        .map(|info| info.name)
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl QuerygateServer {
    pub fn new(state: ServerState) -> Self {
        let mut tool_router = Self::tool_router();
        if !state.teleport.tool_names {
            tool_router.remove_route("teleport_list_databases");
            tool_router.remove_route("teleport_postgres_query");
        }
        QuerygateServer {
            state: Arc::new(state),
            tool_router,
        }
    }

    /// The configured databases, as `list_databases` shows them.
    fn database_infos(&self) -> Vec<DatabaseInfo> {
        self.state
            .databases
            .iter()
            .map(|d| DatabaseInfo {
                name: d.db.name().to_string(),
                database_name: d.db.dbname().to_string(),
                user: d.db.user().to_string(),
                location: d.db.location(),
                uri: d.db.teleport().map(|t| t.uri().to_string()),
            })
            .collect()
    }

    /// What `tsh db ls` offers in each cluster of the configured Teleport databases.
    async fn teleport_offered(&self) -> Result<Vec<Offered>, String> {
        let mut clusters: Vec<&str> = Vec::new();
        for d in &self.state.databases {
            if let Some(t) = d.db.teleport()
                && !clusters.contains(&t.uri().cluster.as_str())
            {
                clusters.push(&t.uri().cluster);
            }
        }
        if clusters.is_empty() {
            return Err(
                "no teleport:// database is configured, so there is no Teleport cluster to ask"
                    .to_string(),
            );
        }
        let mut offered = Vec::new();
        for cluster in clusters {
            offered.extend(crate::teleport::list_offered(&self.state.teleport, cluster).await?);
        }
        Ok(offered)
    }

    fn entry(&self, name: Option<&str>) -> Result<&DatabaseEntry, String> {
        let names = || {
            self.state
                .databases
                .iter()
                .map(|d| format!("`{}`", d.db.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match name {
            Some(name) => self
                .state
                .databases
                .iter()
                .find(|d| d.db.name() == name)
                .or_else(|| self.by_uri(name))
                .ok_or_else(|| format!("no database named `{name}`: configured are {}", names())),
            None if self.state.databases.len() == 1 => Ok(&self.state.databases[0]),
            None if self.state.databases.is_empty() => {
                Err("no database is configured: add a [[database]] to the config or pass --database NAME=URL".to_string())
            }
            None => Err(format!(
                "several databases are configured ({}): say which one in `database`",
                names()
            )),
        }
    }

    /// A database named by URI: `querygate://databases/NAME`, or a teleport:// URI that names
    /// a configured Teleport database (cluster and database; dbName and dbUser, when given,
    /// must match too).
    fn by_uri(&self, uri: &str) -> Option<&DatabaseEntry> {
        if let Some(name) = uri.strip_prefix(RESOURCE_PREFIX) {
            return self.state.databases.iter().find(|d| d.db.name() == name);
        }
        if !TeleportUri::is_teleport(uri) {
            return None;
        }
        let wanted = url::Url::parse(uri.trim()).ok()?;
        let segments: Vec<_> = wanted.path_segments()?.collect();
        let query: Vec<(String, String)> = wanted.query_pairs().into_owned().collect();
        self.state.databases.iter().find(|d| {
            let Some(tunnel) = d.db.teleport() else {
                return false;
            };
            let have = tunnel.uri();
            let same_name = url::Url::parse(&have.to_string())
                .ok()
                .and_then(|u| u.path_segments().map(|s| s.collect::<Vec<_>>() == segments))
                .unwrap_or(false);
            same_name
                && query.iter().all(|(k, v)| match k.as_str() {
                    "dbName" => *v == have.db_name,
                    "dbUser" => *v == have.db_user,
                    _ => false,
                })
        })
    }

    fn audit(&self, record: &AuditRecord) -> Result<(), String> {
        self.state.audit.write(record).map_err(|e| {
            tracing::error!(error = %e, "audit log write failed");
            format!("could not write the audit log ({e}); nothing was returned")
        })
    }

    /// Decide on `sql` for `entry`, refreshing the catalog once if the statement names a
    /// relation it does not know.
    async fn decide(
        &self,
        entry: &DatabaseEntry,
        sql: &str,
        context: Context,
    ) -> Result<Decision, String> {
        // Text that can never pass (empty, too large, NUL, replaced bytes) is refused without
        // a trip to the database for the catalog.
        if crate::sql::check_raw_text(sql, self.state.pipeline.sql_limits()).is_err() {
            return Ok(self
                .state
                .pipeline
                .decide(sql, &Catalog::default(), &context));
        }
        let mut catalog = entry.catalog(false).await?;
        let mut refreshed = false;
        loop {
            let pipeline = self.state.pipeline.clone();
            let (sql_owned, ctx, cat) = (sql.to_string(), context.clone(), catalog.clone());
            let decision =
                tokio::task::spawn_blocking(move || pipeline.decide(&sql_owned, &cat, &ctx))
                    .await
                    .map_err(|e| format!("the policy pipeline failed: {e}"))?;
            if decision.unknown_relations.is_empty() || refreshed {
                return Ok(decision);
            }
            refreshed = true;
            catalog = entry.catalog(true).await?;
        }
    }

    fn context(
        &self,
        entry: &DatabaseEntry,
        request: &RequestContext<RoleServer>,
        tool: &str,
    ) -> Context {
        Context {
            database: entry.db.name().to_string(),
            database_user: entry.db.user().to_string(),
            database_name: entry.db.dbname().to_string(),
            client_name: client_name(request),
            tool: tool.to_string(),
        }
    }

    /// The shared path of `query` and `explain`: resolve, decide, audit a rejection.
    async fn decided_sql(
        &self,
        params: &SqlParams,
        request: &RequestContext<RoleServer>,
        tool: &str,
        record: &mut AuditRecord,
    ) -> Result<(&DatabaseEntry, Decision), String> {
        let entry = self.entry(params.database.as_deref())?;
        record.database = Some(entry.db.name().to_string());
        record.database_user = Some(entry.db.user().to_string());
        let decision = self
            .decide(entry, &params.sql, self.context(entry, request, tool))
            .await?;
        record.decision(&decision);
        Ok((entry, decision))
    }

    /// As [`Self::decided_sql`], for tools that go on to the database: the allowed statement
    /// (with who rewrote it and how long deciding took), or the rejection as the tool's error.
    async fn allowed_sql(
        &self,
        params: &SqlParams,
        request: &RequestContext<RoleServer>,
        tool: &str,
        record: &mut AuditRecord,
    ) -> Result<
        (
            &DatabaseEntry,
            Box<crate::sql::Analysis>,
            Vec<String>,
            Duration,
            String,
        ),
        String,
    > {
        let (entry, decision) = self.decided_sql(params, request, tool, record).await?;
        match decision.outcome {
            Outcome::Allowed {
                analysis,
                rewritten_by,
            } => Ok((
                entry,
                analysis,
                rewritten_by,
                decision.elapsed,
                decision.catalog_freshness,
            )),
            Outcome::Rejected { .. } => Err(decision.rejection().unwrap_or_default()),
        }
    }

    /// Decide on the statement and `run` what was allowed on its database, with the stamp of
    /// the catalog it was decided on. Should the catalog have changed before it ran (nothing
    /// ran then), forget the cached catalog and decide once more on the catalog as it is.
    #[allow(clippy::type_complexity)]
    async fn run_allowed<T>(
        &self,
        params: &SqlParams,
        request: &RequestContext<RoleServer>,
        tool: &str,
        record: &mut AuditRecord,
        run: impl AsyncFn(
            &DatabaseEntry,
            &crate::sql::Analysis,
            &str,
        ) -> Result<T, crate::database::DbError>,
    ) -> Result<
        (
            &DatabaseEntry,
            Box<crate::sql::Analysis>,
            Vec<String>,
            Duration,
            T,
        ),
        String,
    > {
        let mut retried = false;
        loop {
            let (entry, analysis, rewritten_by, decided, freshness) =
                self.allowed_sql(params, request, tool, record).await?;
            let freshness = entry.stamp(&freshness);
            match run(entry, &analysis, &freshness).await {
                Err(e) if e.is_stale_catalog() && !retried => {
                    retried = true;
                    entry.forget_catalog().await;
                }
                Err(e) => return Err(e.to_string()),
                Ok(out) => return Ok((entry, analysis, rewritten_by, decided, out)),
            }
        }
    }

    /// A catalog tool's call: find the database, do `work` on it, audit.
    async fn on_database<T>(
        &self,
        request: &RequestContext<RoleServer>,
        tool: &str,
        database: Option<&str>,
        work: impl AsyncFnOnce(&DatabaseEntry) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut record = AuditRecord::new(&client_name(request), tool);
        let result = async {
            let entry = self.entry(database)?;
            record.database = Some(entry.db.name().to_string());
            work(entry).await
        }
        .await;
        self.finish(record, result).await
    }

    /// `query` and `teleport_postgres_query`: decide, run, answer, audit.
    async fn run_query(
        &self,
        params: SqlParams,
        request: &RequestContext<RoleServer>,
        tool: &str,
    ) -> Result<QueryAnswer, String> {
        let mut record = AuditRecord::new(&client_name(request), tool);
        let result = async {
            let (entry, analysis, rewritten_by, decided, (result, execute)) = self
                .run_allowed(
                    &params,
                    request,
                    tool,
                    &mut record,
                    async |entry, analysis, fresh| {
                        let started = Instant::now();
                        let result = entry
                            .db
                            .execute_decided(&analysis.sql, analysis.limit, fresh)
                            .await?;
                        entry.observe(fresh, result.catalog_snapshot.as_deref());
                        Ok((result, started.elapsed()))
                    },
                )
                .await?;
            record.outcome = "executed";
            record.row_count = Some(result.row_count);
            record.truncated = Some(result.truncated);
            Ok(QueryAnswer {
                rows_json: result.rows_json,
                output: QueryOutput {
                    database: entry.db.name().to_string(),
                    columns: result
                        .columns
                        .into_iter()
                        .map(|c| ColumnOutput {
                            name: c.name,
                            type_name: c.type_name,
                        })
                        .collect(),
                    rows: result.rows,
                    row_count: result.row_count,
                    truncated: result.truncated,
                    executed_sql: analysis.sql,
                    rewritten_by,
                    timings: Timings {
                        decide_ms: ms(decided),
                        execute_ms: ms(execute),
                    },
                },
            })
        }
        .await;
        self.finish(record, result).await
    }

    async fn finish<T>(
        &self,
        mut record: AuditRecord,
        result: Result<T, String>,
    ) -> Result<T, String> {
        if let Err(error) = &result {
            if record.error.is_none() {
                record.error = Some(error.clone());
            }
            if record.outcome != "rejected" {
                record.outcome = "error";
            }
        }
        self.audit(&record)?;
        result
    }
}

#[tool_router]
impl QuerygateServer {
    #[tool(
        description = "List the databases this server can query, with the name to pass as `database`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_databases(
        &self,
        Parameters(params): Parameters<ListDatabasesParams>,
        request: RequestContext<RoleServer>,
    ) -> Result<Json<DatabasesOutput>, String> {
        let record = AuditRecord::new(&client_name(&request), "list_databases");
        let (teleport_offered, teleport_offered_error) = if params.teleport_offered {
            match self.teleport_offered().await {
                Ok(offered) => (Some(offered), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        let output = DatabasesOutput {
            databases: self.database_infos(),
            teleport_offered,
            teleport_offered_error,
        };
        self.finish(record, Ok(Json(output))).await
    }

    #[tool(
        description = "Lists the databases this server can query (Teleport's name for list_databases; served with --teleport-tools). Pass a database's `uri` (or name) as `database` to teleport_postgres_query.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn teleport_list_databases(
        &self,
        request: RequestContext<RoleServer>,
    ) -> Result<Json<DatabasesOutput>, String> {
        let record = AuditRecord::new(&client_name(&request), "teleport_list_databases");
        let output = DatabasesOutput {
            databases: self.database_infos(),
            teleport_offered: None,
            teleport_offered_error: None,
        };
        self.finish(record, Ok(Json(output))).await
    }

    #[tool(
        description = "Runs one read-only SQL statement on a PostgreSQL database (Teleport's name for query; served with --teleport-tools). The statement passes querygate's read-only guard and security policies, which may rewrite or reject it with a reason; results are capped.",
        output_schema = rmcp::handler::server::tool::schema_for_output::<QueryOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn teleport_postgres_query(
        &self,
        Parameters(params): Parameters<TeleportQueryParams>,
        request: RequestContext<RoleServer>,
    ) -> Result<QueryAnswer, String> {
        let params = SqlParams {
            database: Some(params.database),
            sql: params.query,
        };
        self.run_query(params, &request, "teleport_postgres_query")
            .await
    }

    #[tool(
        description = "Run one read-only SQL statement (PostgreSQL) and return its rows. The statement is checked by querygate's read-only guard and security policies, which may rewrite it (for example add a LIMIT) or reject it with a reason; results are capped in rows and bytes (`truncated` says when).",
        output_schema = rmcp::handler::server::tool::schema_for_output::<QueryOutput>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn query(
        &self,
        Parameters(params): Parameters<SqlParams>,
        request: RequestContext<RoleServer>,
    ) -> Result<QueryAnswer, String> {
        self.run_query(params, &request, "query").await
    }

    #[tool(
        description = "Show PostgreSQL's query plan (EXPLAIN, FORMAT JSON) for one read-only statement after querygate's policies; the statement is not run (never ANALYZE).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn explain(
        &self,
        Parameters(params): Parameters<SqlParams>,
        request: RequestContext<RoleServer>,
    ) -> Result<Json<ExplainOutput>, String> {
        let mut record = AuditRecord::new(&client_name(&request), "explain");
        let result = async {
            let (entry, analysis, rewritten_by, _, plan) = self
                .run_allowed(
                    &params,
                    &request,
                    "explain",
                    &mut record,
                    async |entry, analysis, fresh| {
                        if analysis.kind != crate::sql::StatementKind::Query {
                            return Ok(None);
                        }
                        Ok(Some(entry.db.explain_fresh(&analysis.sql, fresh).await?))
                    },
                )
                .await?;
            let plan = plan.ok_or_else(|| {
                "only queries can be explained: send a SELECT, VALUES or WITH statement".to_string()
            })?;
            record.outcome = "executed";
            Ok(Json(ExplainOutput {
                database: entry.db.name().to_string(),
                explained_sql: analysis.sql,
                rewritten_by,
                plan,
            }))
        }
        .await;
        self.finish(record, result).await
    }

    #[tool(
        description = "Say what querygate would do with one SQL statement, without running it: allow, rewrite (with the SQL that would run) or reject (with the reason), and each policy's verdict.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn check_query(
        &self,
        Parameters(params): Parameters<SqlParams>,
        request: RequestContext<RoleServer>,
    ) -> Result<Json<CheckOutput>, String> {
        let mut record = AuditRecord::new(&client_name(&request), "check_query");
        let result = async {
            let (entry, decision) = self
                .decided_sql(&params, &request, "check_query", &mut record)
                .await?;
            let policies = record
                .policies
                .iter()
                .map(|p| PolicyVerdict {
                    policy: p.policy.clone(),
                    verdict: p.verdict.to_string(),
                    detail: p.detail.clone(),
                    micros: p.micros,
                })
                .collect();
            // A rejection is this tool's answer, not its failure.
            record.error = None;
            Ok(Json(match &decision.outcome {
                Outcome::Allowed {
                    analysis,
                    rewritten_by,
                } => CheckOutput {
                    database: entry.db.name().to_string(),
                    decision: if rewritten_by.is_empty() {
                        "allow"
                    } else {
                        "rewrite"
                    }
                    .to_string(),
                    final_sql: Some(analysis.sql.clone()),
                    rewritten_by: rewritten_by.clone(),
                    rejected_by: None,
                    reason: None,
                    policies,
                },
                Outcome::Rejected { by, .. } => CheckOutput {
                    database: entry.db.name().to_string(),
                    decision: "reject".to_string(),
                    final_sql: None,
                    rewritten_by: Vec::new(),
                    rejected_by: Some(by.to_string()),
                    reason: decision.rejection(),
                    policies,
                },
            }))
        }
        .await;
        self.finish(record, result).await
    }

    #[tool(
        description = "List the tables and views the database role can see, optionally in one schema.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_tables(
        &self,
        Parameters(params): Parameters<ListTablesParams>,
        request: RequestContext<RoleServer>,
    ) -> Result<Json<TablesOutput>, String> {
        self.on_database(
            &request,
            "list_tables",
            params.database.as_deref(),
            async |entry| {
                let tables = entry
                    .db
                    .list_tables(params.schema.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Json(TablesOutput {
                    database: entry.db.name().to_string(),
                    tables,
                }))
            },
        )
        .await
    }

    #[tool(
        description = "Describe one table or view: its columns with types and nullability, primary key, and comments.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn describe_table(
        &self,
        Parameters(params): Parameters<DescribeTableParams>,
        request: RequestContext<RoleServer>,
    ) -> Result<Json<TableOutput>, String> {
        self.on_database(
            &request,
            "describe_table",
            params.database.as_deref(),
            async |entry| {
                let table = entry
                    .db
                    .describe_table(&params.table)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Json(TableOutput {
                    database: entry.db.name().to_string(),
                    table,
                }))
            },
        )
        .await
    }
}

const RESOURCE_PREFIX: &str = "querygate://databases/";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for QuerygateServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("querygate", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Query PostgreSQL read-only. Every statement passes querygate's read-only guard and \
                 security policies, which may rewrite or reject it; a rejection says why and what \
                 to do instead. Use check_query to test a statement without running it.",
        )
    }

    /// Every call goes through the router, after one check of its own: an argument of the
    /// wrong type is a tool error that names the argument ([`schema::argument_error`]).
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if let (Some(tool), Some(arguments)) =
            (self.tool_router.get(&request.name), &request.arguments)
            && let Some(message) = schema::argument_error(&tool.input_schema, arguments)
        {
            // Audited like any other call that failed.
            let record = AuditRecord::new(&client_name(&context), &request.name);
            // `finish` hands the error back, or the audit log's own failure.
            let message = match self.finish::<()>(record, Err(message.clone())).await {
                Err(error) => error,
                Ok(()) => message,
            };
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        let call = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = self
            .state
            .databases
            .iter()
            .map(|d| {
                let uri = match d.db.teleport() {
                    Some(tunnel) => tunnel.uri().to_string(),
                    None => format!("{RESOURCE_PREFIX}{}", d.db.name()),
                };
                Resource::new(uri, d.db.name())
                    .with_description(format!(
                        "PostgreSQL database `{}` as `{}`: its tables and columns",
                        d.db.dbname(),
                        d.db.user()
                    ))
                    .with_mime_type("application/json")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let record = AuditRecord::new(&client_name(&context), "read_resource");
        let result = async {
            let entry = self
                .by_uri(&request.uri)
                .ok_or_else(|| format!("unknown resource `{}`", request.uri))?;
            let tables = entry
                .db
                .list_tables(None)
                .await
                .map_err(|e| e.to_string())?;
            let summary = serde_json::json!({
                "database": entry.db.name(),
                "database_name": entry.db.dbname(),
                "user": entry.db.user(),
                "tables": tables,
            });
            Ok(ReadResourceResult::new(vec![ResourceContents::text(
                summary.to_string(),
                request.uri.clone(),
            )]))
        }
        .await;
        match self.finish(record, result).await {
            Ok(result) => Ok(result.into()),
            Err(message) => Err(ErrorData::resource_not_found(message, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(rows: Vec<Vec<serde_json::Value>>) -> QueryOutput {
        QueryOutput {
            database: "hr".into(),
            columns: vec![
                ColumnOutput {
                    name: "id".into(),
                    type_name: "int4".into(),
                },
                ColumnOutput {
                    name: "doc".into(),
                    type_name: "jsonb".into(),
                },
            ],
            row_count: rows.len(),
            rows,
            truncated: true,
            executed_sql: "SELECT id, doc FROM t LIMIT 2".into(),
            rewritten_by: vec!["row-limit".into()],
            timings: Timings {
                decide_ms: 0.5,
                execute_ms: 1.25,
            },
        }
    }

    /// After a write elsewhere in the cluster, the database answers a later snapshot at which
    /// the catalog was still the same; later checks of that catalog use it, so the server does
    /// not recompute the catalog's key on every call. Another catalog keeps its own stamp.
    #[test]
    fn a_stamp_takes_the_latest_snapshot_seen_for_the_same_catalog() {
        let config = crate::database::DatabaseConfig::new("t", "postgres://u@localhost/d");
        let entry = DatabaseEntry::new(Database::new(config).expect("valid config"));
        assert_eq!(entry.stamp("10:10:|k1"), "10:10:|k1");
        entry.observe("10:10:|k1", Some("12:12:"));
        assert_eq!(entry.stamp("10:10:|k1"), "12:12:|k1");
        assert_eq!(entry.stamp("10:10:|k2"), "10:10:|k2");
        entry.observe("no stamp", Some("13:13:"));
        entry.observe("10:10:|k1", None);
        assert_eq!(entry.stamp("10:10:|k1"), "12:12:|k1");
        assert_eq!(
            entry.stamp(""),
            "",
            "a catalog without a stamp is not checked"
        );
    }

    /// Where in `schema` a boolean sub-schema sits (`true` / `false` in place of a schema),
    /// as JSON pointers. Only schema positions count: `"required": [..]` or a `"default": true`
    /// are values, not schemas.
    fn boolean_subschemas(schema: &serde_json::Value, at: &str, found: &mut Vec<String>) {
        use serde_json::Value;
        match schema {
            Value::Bool(_) => found.push(at.to_string()),
            Value::Object(map) => {
                for (key, value) in map {
                    let here = format!("{at}/{key}");
                    match key.as_str() {
                        "properties" | "$defs" | "definitions" | "patternProperties" => {
                            if let Value::Object(children) = value {
                                for (name, child) in children {
                                    boolean_subschemas(child, &format!("{here}/{name}"), found);
                                }
                            }
                        }
                        "items"
                        | "additionalProperties"
                        | "not"
                        | "contains"
                        | "propertyNames"
                        | "if"
                        | "then"
                        | "else"
                        | "unevaluatedItems"
                        | "unevaluatedProperties"
                        | "additionalItems" => boolean_subschemas(value, &here, found),
                        "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                            for (i, child) in value.as_array().into_iter().flatten().enumerate() {
                                boolean_subschemas(child, &format!("{here}/{i}"), found);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Every tool's input and output schema is a plain object schema with no boolean
    /// sub-schema anywhere: the official TypeScript SDK refuses the whole `tools/list`
    /// otherwise, and its clients then show no tools at all.
    #[test]
    fn every_tool_schema_is_an_object_schema_without_boolean_subschemas() {
        let tools = QuerygateServer::tool_router().list_all();
        assert_eq!(tools.len(), 8, "six tools and Teleport's two");
        let mut found = Vec::new();
        for tool in &tools {
            let schemas = std::iter::once(("input", Some(&tool.input_schema)))
                .chain(std::iter::once(("output", tool.output_schema.as_ref())));
            for (which, schema) in schemas {
                let Some(schema) = schema else { continue };
                let schema = serde_json::Value::Object((**schema).clone());
                assert_eq!(
                    schema["type"], "object",
                    "{} {which} schema is not an object schema",
                    tool.name
                );
                boolean_subschemas(&schema, &format!("{}/{which}", tool.name), &mut found);
            }
        }
        assert!(found.is_empty(), "boolean sub-schemas at {found:?}");
        // The check itself sees one where schemars would put it.
        let mut seen = Vec::new();
        boolean_subschemas(
            &json!({"type": "object", "properties": {"v": true}}),
            "",
            &mut seen,
        );
        assert_eq!(seen, ["/properties/v"]);
    }

    /// The rows are described as an array and no deeper, so a client that validates
    /// structured content does not descend into every row and value.
    #[test]
    fn query_rows_are_described_without_a_per_value_schema() {
        let tools = QuerygateServer::tool_router().list_all();
        let query = tools
            .iter()
            .find(|t| t.name == "query")
            .expect("query tool");
        let output = query
            .output_schema
            .as_ref()
            .expect("query has an output schema");
        let rows = &output["properties"]["rows"];
        assert_eq!(rows["type"], "array");
        assert!(
            rows.get("items").is_none(),
            "rows have an items schema: {rows}"
        );
    }

    /// The answer's text and structured content are both exactly what serialising the output
    /// gives (rmcp's `Json<T>` path), rows included, in field order.
    #[test]
    fn a_query_answer_is_the_output_as_text_and_as_structured_content() {
        let rows = vec![
            vec![json!(1), json!({"a": [1, "x\"y", null], "é": 1.5})],
            vec![json!(-9007199254740993i64), json!("\u{1F600}\n")],
        ];
        let expected = serde_json::to_value(output(rows.clone())).expect("serialises");
        let rows_json = rows
            .iter()
            .map(|r| RowJson(serde_json::value::to_raw_value(r).expect("serialises")))
            .collect();
        let answer = QueryAnswer {
            output: output(rows),
            rows_json,
        };
        let text = answer.text().expect("text");
        assert_eq!(text, expected.to_string());
        assert_eq!(
            answer.structured().expect("structured").to_string(),
            expected.to_string()
        );
    }
}

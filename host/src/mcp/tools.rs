//! The tools: each a short adapter from its arguments to the pipeline and the database, and
//! the shared road of the tools that run a statement.

use super::{QuerygateServer, ToolError, ms, output::*};
use crate::audit::{AuditOutcome, AuditRecord};
use crate::chain::Decision;
use crate::pipeline::{DatabaseEntry, Outcome};
use crate::teleport::Offered;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{Json, RoleServer, tool, tool_router};
use std::time::{Duration, Instant};

impl QuerygateServer {
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

    /// The shared path of `query` and `explain`: resolve, decide, audit a rejection.
    async fn decided_sql(
        &self,
        params: &SqlParams,
        request: &RequestContext<RoleServer>,
        tool: &str,
        record: &mut AuditRecord,
    ) -> Result<(&DatabaseEntry, Decision), ToolError> {
        let entry = self.entry(params.database.as_deref())?;
        self.on_entry(record, entry, request).await;
        let decision = self
            .state
            .pipeline
            .decide_on(entry, &params.sql, self.context(entry, request, tool))
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
        ToolError,
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
            Outcome::Rejected { .. } => Err(ToolError::Rejected(
                decision.rejection().unwrap_or_default(),
            )),
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
        ToolError,
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
                Err(e) => return Err(e.into()),
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
        work: impl AsyncFnOnce(&DatabaseEntry) -> Result<T, ToolError>,
    ) -> Result<T, ToolError> {
        let mut record = self.record(request, tool);
        let result = async {
            let entry = self.entry(database)?;
            self.on_entry(&mut record, entry, request).await;
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
    ) -> Result<QueryAnswer, ToolError> {
        let mut record = self.record(request, tool);
        let result = async {
            let (entry, analysis, rewritten_by, decided, (result, execute)) = self
                .run_allowed(
                    &params,
                    request,
                    tool,
                    &mut record,
                    async |entry, analysis, fresh| {
                        let started = Instant::now();
                        let result = crate::telemetry::database(
                            "execute",
                            entry.db.name(),
                            entry
                                .db
                                .execute_decided(&analysis.sql, analysis.limit, fresh),
                            |result| Some((result.row_count, result.truncated)),
                        )
                        .await?;
                        entry.observe(fresh, result.catalog_snapshot.as_deref());
                        Ok((result, started.elapsed()))
                    },
                )
                .await?;
            record.outcome = AuditOutcome::Executed;
            record.row_count = Some(result.row_count);
            record.truncated = Some(result.truncated);
            Ok(QueryAnswer {
                fenced: self.state.fence_results,
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
}

#[tool_router(vis = "pub(super)")]
impl QuerygateServer {
    #[tool(
        description = "List the databases this server can query, with the name to pass as `database`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_databases(
        &self,
        Parameters(params): Parameters<ListDatabasesParams>,
        request: RequestContext<RoleServer>,
    ) -> Result<Json<DatabasesOutput>, ToolError> {
        let record = self.record(&request, "list_databases");
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
    ) -> Result<Json<DatabasesOutput>, ToolError> {
        let record = self.record(&request, "teleport_list_databases");
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
    ) -> Result<QueryAnswer, ToolError> {
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
    ) -> Result<QueryAnswer, ToolError> {
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
    ) -> Result<Json<ExplainOutput>, ToolError> {
        let mut record = self.record(&request, "explain");
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
                        let plan = crate::telemetry::database(
                            "explain",
                            entry.db.name(),
                            entry.db.explain_fresh(&analysis.sql, fresh),
                            |_| None,
                        );
                        Ok(Some(plan.await?))
                    },
                )
                .await?;
            let plan = plan.ok_or_else(|| {
                ToolError::Input(
                    "only queries can be explained: send a SELECT, VALUES or WITH statement"
                        .to_string(),
                )
            })?;
            record.outcome = AuditOutcome::Executed;
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
    ) -> Result<Json<CheckOutput>, ToolError> {
        let mut record = self.record(&request, "check_query");
        let result = async {
            let (entry, decision) = self
                .decided_sql(&params, &request, "check_query", &mut record)
                .await?;
            let policies = decision
                .steps
                .iter()
                .map(|step| PolicyVerdict {
                    policy: step.policy.clone(),
                    verdict: step.verdict.kind(),
                    enforced: step.enforced,
                    detail: step.verdict.detail().map(str::to_string),
                    micros: step.elapsed.as_micros() as u64,
                })
                .collect();
            // A rejection is this tool's answer, not its failure.
            record.error = None;
            let (rewritten_by, rejected_by) = match &decision.outcome {
                Outcome::Allowed { rewritten_by, .. } => (rewritten_by.clone(), None),
                Outcome::Rejected { by, .. } => (Vec::new(), Some(by.to_string())),
            };
            Ok(Json(CheckOutput {
                database: entry.db.name().to_string(),
                decision: decision.action(),
                final_sql: decision.final_sql().map(str::to_string),
                rewritten_by,
                rejected_by,
                reason: decision.rejection(),
                policies,
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
    ) -> Result<Json<TablesOutput>, ToolError> {
        self.on_database(
            &request,
            "list_tables",
            params.database.as_deref(),
            async |entry| {
                let tables = entry.db.list_tables(params.schema.as_deref()).await?;
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
    ) -> Result<Json<TableOutput>, ToolError> {
        self.on_database(
            &request,
            "describe_table",
            params.database.as_deref(),
            async |entry| {
                let table = entry.db.describe_table(&params.table).await?;
                Ok(Json(TableOutput {
                    database: entry.db.name().to_string(),
                    table,
                }))
            },
        )
        .await
    }
}

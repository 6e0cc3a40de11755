//! The MCP server: tools and resources over stdio, each statement through the one pipeline.
//!
//! Tools: `list_databases`, `query`, `explain`, `check_query`, `list_tables`,
//! `describe_table`, all read-only; with `[teleport] tool_names` also `teleport_list_databases`
//! and `teleport_postgres_query`, the names `tsh mcp db start` uses. Every call writes one audit
//! line before it answers. The client's name from the MCP handshake is what policies see as
//! `client-name`.
//!
//! - [`tools`]: each tool, a short adapter from its arguments to the pipeline and the database;
//! - [`output`]: what the tools take and answer (and so their schemas, with [`schema`]);
//! - [`server`]: the handler itself (server info, the argument check, resources);
//! - [`error`]: why a call failed, as the client sees it and the audit log records it.
//!
//! Deciding (with the catalog cache) is the pipeline's ([`crate::pipeline::DatabaseEntry`]).

mod error;
pub mod fence;
mod output;
pub(crate) mod schema;
mod server;
mod tools;

#[cfg(test)]
mod tests;

pub use crate::pipeline::DatabaseEntry;
pub use error::ToolError;
pub use output::*;

use crate::audit::{AuditLog, AuditOutcome, AuditRecord};
use crate::chain::Context;
use crate::pipeline::Pipeline;
use crate::teleport::{IdentityCache, TeleportSettings};
use arc_swap::ArcSwap;
use rmcp::RoleServer;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::service::RequestContext;
use std::sync::Arc;
use std::time::Duration;

/// The URI of a plain database's resource is this and its name.
const RESOURCE_PREFIX: &str = "querygate://databases/";

/// What the server serves: one generation of the configuration. A reload builds the next one
/// and swaps it in ([`QuerygateServer::swap`]); a call in flight finishes on the generation it
/// started with.
pub struct ServerState {
    /// 1 for the configuration the server started with, then one more per successful reload.
    pub generation: u64,
    pub pipeline: Pipeline,
    pub databases: Vec<Arc<DatabaseEntry>>,
    /// Shared by every generation: the log outlives reloads.
    pub audit: Arc<AuditLog>,
    /// How tsh runs, and whether Teleport's tool names are served.
    pub teleport: TeleportSettings,
    /// Fence `query` results in the text content as untrusted data ([`fence`]).
    pub fence_results: bool,
}

/// The MCP server.
#[derive(Clone)]
pub struct QuerygateServer {
    /// The generation being served; swapped by a reload.
    current: Arc<ArcSwap<ServerState>>,
    /// The generation this handle serves: each request works on a handle pinned to the current
    /// generation when it arrived ([`QuerygateServer::pinned`]).
    state: Arc<ServerState>,
    tool_router: ToolRouter<Self>,
    /// Who is logged in to Teleport, for the audit records of Teleport databases.
    teleport_identity: Arc<IdentityCache>,
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
        let state = Arc::new(state);
        QuerygateServer {
            current: Arc::new(ArcSwap::new(state.clone())),
            state,
            tool_router,
            teleport_identity: Arc::default(),
        }
    }

    /// Serve `next` from the next request on; calls in flight finish on their generation.
    /// Returns the generation it replaces.
    pub fn swap(&self, next: ServerState) -> Arc<ServerState> {
        self.current.swap(Arc::new(next))
    }

    /// The generation being served now.
    pub fn current(&self) -> Arc<ServerState> {
        self.current.load_full()
    }

    /// This handle, pinned to the generation being served now.
    fn pinned(&self) -> QuerygateServer {
        QuerygateServer {
            state: self.current.load_full(),
            ..self.clone()
        }
    }

    /// A new audit record for a call of `tool`: who asked (the OS user, the client's name and
    /// version), nothing decided yet.
    fn record(&self, request: &RequestContext<RoleServer>, tool: &str) -> AuditRecord {
        let mut record = AuditRecord::new(&client_name(request), tool);
        record.generation = Some(self.state.generation);
        record.client_version = request
            .client_info()
            .map(|info| info.version)
            .filter(|version| !version.is_empty());
        record
    }

    /// The call is on `entry`: record the database, its user and, for a Teleport database,
    /// who is logged in to Teleport; and name the client in the database's own views.
    async fn on_entry(
        &self,
        record: &mut AuditRecord,
        entry: &DatabaseEntry,
        request: &RequestContext<RoleServer>,
    ) {
        record.database = Some(entry.db.name().to_string());
        record.database_user = Some(entry.db.user().to_string());
        entry.db.set_client(&client_name(request));
        if entry.db.teleport().is_some()
            && let Some(identity) = self.teleport_identity.get(&self.state.teleport).await
        {
            record.teleport_user = Some(identity.user);
            record.teleport_roles = Some(identity.roles);
        }
    }

    /// The database a call names: by name, by resource URI or by teleport:// URI; or the only
    /// one, when the call names none.
    fn entry(&self, name: Option<&str>) -> Result<&DatabaseEntry, ToolError> {
        let databases = &self.state.databases;
        let names = || {
            databases
                .iter()
                .map(|d| format!("`{}`", d.db.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match name {
            Some(name) => databases
                .iter()
                .find(|d| d.db.name() == name)
                .map(|d| d.as_ref())
                .or_else(|| self.by_uri(name))
                .ok_or_else(|| {
                    ToolError::Input(format!(
                        "no database named `{name}`: configured are {}",
                        names()
                    ))
                }),
            None if databases.len() == 1 => Ok(databases[0].as_ref()),
            None if databases.is_empty() => Err(ToolError::Input(
                "no database is configured: add a [[database]] to the config or pass --database \
                 NAME=URL"
                    .to_string(),
            )),
            None => Err(ToolError::Input(format!(
                "several databases are configured ({}): say which one in `database`",
                names()
            ))),
        }
    }

    /// A database named by URI: `querygate://databases/NAME`, or a teleport:// URI that names
    /// a configured Teleport database ([`crate::teleport::TeleportUri::is_named_by`]).
    fn by_uri(&self, uri: &str) -> Option<&DatabaseEntry> {
        let databases = &self.state.databases;
        if let Some(name) = uri.strip_prefix(RESOURCE_PREFIX) {
            return databases
                .iter()
                .find(|d| d.db.name() == name)
                .map(|d| d.as_ref());
        }
        databases
            .iter()
            .find(|d| d.db.teleport().is_some_and(|t| t.uri().is_named_by(uri)))
            .map(|d| d.as_ref())
    }

    /// What policies see of a call on `entry`.
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

    /// Audit the call, then answer: a failure is recorded with its message (a rejection as
    /// `rejected`, anything else as `error`). When the audit log cannot be written, the call
    /// fails instead of answering unaudited.
    async fn finish<T>(
        &self,
        mut record: AuditRecord,
        result: Result<T, ToolError>,
    ) -> Result<T, ToolError> {
        if let Err(error) = &result {
            if record.error.is_none() {
                record.error = Some(error.to_string());
            }
            if !error.is_rejection() {
                record.outcome = AuditOutcome::Error;
            }
        }
        if let Err(e) = self.state.audit.write(&record) {
            tracing::error!(error = %e, "audit log write failed");
            return Err(ToolError::Audit(e));
        }
        result
    }
}

//! The handler: server info, one argument check before the router, and the resources (each
//! configured database, with its tables).

use super::{QuerygateServer, RESOURCE_PREFIX, ToolError, schema};
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, Implementation, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    Resource, ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};

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
    /// wrong type is a tool error that names the argument ([`schema::argument_error`]). With
    /// telemetry on, each call is a trace of its own.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tool = request.name.clone();
        crate::telemetry::tool_call(&tool, self.call_tool_now(request, context), |answer| {
            !matches!(answer, Ok(CallToolResponse::Complete(result)) if result.is_error != Some(true))
        })
        .await
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = self
            .current()
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
        let this = &self.pinned();
        let mut record = this.record(&context, "read_resource");
        let result = async {
            let entry = this
                .by_uri(&request.uri)
                .ok_or_else(|| ToolError::Input(format!("unknown resource `{}`", request.uri)))?;
            this.on_entry(&mut record, entry, &context).await;
            let tables = entry.db.list_tables(None).await?;
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
        match this.finish(record, result).await {
            Ok(result) => Ok(result.into()),
            Err(error) => Err(ErrorData::resource_not_found(error.to_string(), None)),
        }
    }
}

impl QuerygateServer {
    /// [`ServerHandler::call_tool`], in its trace.
    async fn call_tool_now(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // The whole call works on the generation being served now, even if a reload swaps in
        // another before it ends.
        let this = &self.pinned();
        if let (Some(tool), Some(arguments)) =
            (self.tool_router.get(&request.name), &request.arguments)
            && let Some(message) = schema::argument_error(&tool.input_schema, arguments)
        {
            // Audited like any other call that failed.
            let record = this.record(&context, &request.name);
            // `finish` hands the error back, or the audit log's own failure.
            let message = match this
                .finish::<()>(record, Err(ToolError::Input(message.clone())))
                .await
            {
                Err(error) => error.to_string(),
                Ok(()) => message,
            };
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        let call = rmcp::handler::server::tool::ToolCallContext::new(this, request, context);
        this.tool_router.call(call).await
    }
}

//! Why a tool call failed, as the tool error (`isError`) the client sees and the audit log
//! records.

use crate::database::DbError;
use crate::pipeline::DecideError;
use rmcp::model::{ContentBlock, IntoContents};

/// A failed tool call. Its message is what the client sees; its kind decides the audit
/// record's outcome (`rejected` for [`ToolError::Rejected`], `error` otherwise).
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The call cannot be served as asked: an unknown database, an argument of the wrong type,
    /// a statement the tool does not take.
    #[error("{0}")]
    Input(String),
    /// The guard or a policy rejected the statement (the decision's message).
    #[error("{0}")]
    Rejected(String),
    /// The database refused or failed (its SQLSTATE and message, or why it is unreachable).
    #[error(transparent)]
    Database(#[from] DbError),
    /// No decision could be made.
    #[error(transparent)]
    Decide(#[from] DecideError),
    /// The audit log could not be written, so nothing is returned.
    #[error("could not write the audit log ({0}); nothing was returned")]
    Audit(std::io::Error),
}

impl ToolError {
    /// Whether the statement was rejected (rather than failing).
    pub fn is_rejection(&self) -> bool {
        matches!(self, ToolError::Rejected(_))
    }
}

impl IntoContents for ToolError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.to_string())]
    }
}

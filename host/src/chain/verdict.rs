//! What the chain accepts from a policy, and what it tells the sender when a policy fails.

use super::{Fault, Verdict};

/// Longest reject reason kept; longer ones are cut.
pub const MAX_REASON_BYTES: usize = 4096;

/// A verdict as the chain accepts it: a rejection's reason without control characters (but
/// newlines and tabs), trimmed, and cut at [`MAX_REASON_BYTES`] with `…`; an empty reason or a
/// rewrite to empty SQL is a [`Fault::Malformed`].
pub fn checked(verdict: Verdict) -> Result<Verdict, Fault> {
    match verdict {
        Verdict::Allow => Ok(Verdict::Allow),
        Verdict::Rewrite(sql) if sql.trim().is_empty() => {
            Err(Fault::Malformed("a rewrite to empty SQL".to_string()))
        }
        Verdict::Rewrite(sql) => Ok(Verdict::Rewrite(sql)),
        Verdict::Reject(reason) => {
            let reason: String = reason
                .chars()
                .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
                .collect();
            let reason = reason.trim();
            if reason.is_empty() {
                return Err(Fault::Malformed("a rejection without a reason".to_string()));
            }
            let mut end = reason.len().min(MAX_REASON_BYTES);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            let suffix = if end < reason.len() { "…" } else { "" };
            Ok(Verdict::Reject(format!("{}{suffix}", &reason[..end])))
        }
    }
}

pub(super) fn fault_reason(fault: &Fault) -> String {
    let advice = match fault {
        Fault::Deadline(_) => "make the policy faster or raise `limits.policy_deadline_ms`",
        Fault::Memory(_) => "make the policy use less memory or raise `limits.policy_memory_mib`",
        Fault::Trap(_) | Fault::Malformed(_) => "fix the policy",
    };
    format!("the policy {fault}, so the statement is rejected; {advice}")
}

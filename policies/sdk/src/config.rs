//! A policy's own configuration: the `[policy.config]` table of `querygate.toml`, which the host
//! passes as a JSON object in `Context::config`.

use serde::de::DeserializeOwned;

use crate::Context;

/// Reads the policy's configuration into `T`.
///
/// An empty string counts as `{}`, so a policy whose fields all have defaults works without a
/// `[policy.config]` table. The error is written to be the reason of a `Verdict::Reject`, for
/// example ``invalid policy config: missing field `max_rows` ``: a policy that cannot read its
/// configuration should refuse every statement rather than guess. Add
/// `#[serde(deny_unknown_fields)]` to `T` so that a misspelt key is an error too.
pub fn config<T: DeserializeOwned>(context: &Context) -> Result<T, String> {
    let text = context.config.trim();
    let text = if text.is_empty() { "{}" } else { text };
    serde_json::from_str(text)
        .map_err(|error| format!("invalid policy config: {}", describe(&error)))
}

/// The error without serde_json's " at line 1 column 17" suffix: the user wrote TOML, not this JSON.
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Limits {
        max_rows: u64,
        #[serde(default)]
        strict: bool,
    }

    fn context(config: &str) -> Context {
        Context {
            database: "demo".into(),
            database_user: "analyst".into(),
            database_name: "demo".into(),
            client_name: "test".into(),
            tool: "check".into(),
            config: config.into(),
        }
    }

    #[test]
    fn reads_a_json_object() {
        let limits: Limits = config(&context(r#"{"max_rows": 5}"#)).unwrap();
        assert_eq!(
            limits,
            Limits {
                max_rows: 5,
                strict: false
            }
        );
    }

    #[test]
    fn a_missing_field_is_a_readable_reason() {
        let error = config::<Limits>(&context("{}")).unwrap_err();
        assert_eq!(error, "invalid policy config: missing field `max_rows`");
    }

    #[test]
    fn an_unknown_field_is_an_error() {
        let error = config::<Limits>(&context(r#"{"max_row": 5}"#)).unwrap_err();
        assert!(
            error.starts_with("invalid policy config: unknown field `max_row`"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_string_is_an_empty_object() {
        #[derive(Deserialize)]
        struct Empty {}
        assert!(config::<Empty>(&context("")).is_ok());
    }

    #[test]
    fn a_wrong_type_names_the_problem() {
        let error = config::<Limits>(&context(r#"{"max_rows": "ten"}"#)).unwrap_err();
        assert!(
            error.starts_with("invalid policy config: invalid type: string"),
            "{error}"
        );
    }
}

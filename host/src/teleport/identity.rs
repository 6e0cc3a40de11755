//! Who is logged in to Teleport, for the audit log: the user and roles of `tsh status`'s active
//! profile. Read once per login: the answer is kept while the profile files in the tsh
//! directory (`TELEPORT_HOME`, else `~/.tsh`: `current-profile` and the `*.yaml` profiles, which
//! `tsh login` writes) keep their modification times.

use super::TeleportSettings;
use std::path::PathBuf;
use std::time::SystemTime;
use tokio::sync::Mutex;

/// The Teleport user and roles of the active login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeleportIdentity {
    pub user: String,
    pub roles: Vec<String>,
}

/// The modification times of the files `tsh login` writes.
type LoginStamp = Vec<(PathBuf, SystemTime)>;

/// `tsh status`, asked once per login.
#[derive(Debug, Default)]
pub struct IdentityCache {
    /// The profile files' modification times when the identity was read, and what was read
    /// (`None`: tsh gave no identity, e.g. logged out).
    cached: Mutex<Option<(LoginStamp, Option<TeleportIdentity>)>>,
}

impl IdentityCache {
    /// The active login's identity; `None` when tsh cannot say (not logged in, no tsh).
    pub async fn get(&self, settings: &TeleportSettings) -> Option<TeleportIdentity> {
        let stamp = profile_dir(settings)
            .map(|dir| login_stamp(&dir))
            .unwrap_or_default();
        let mut cached = self.cached.lock().await;
        if let Some((seen, identity)) = &*cached
            && *seen == stamp
        {
            return identity.clone();
        }
        let identity = ask(settings).await;
        *cached = Some((stamp, identity.clone()));
        identity
    }
}

fn profile_dir(settings: &TeleportSettings) -> Option<PathBuf> {
    settings
        .home
        .clone()
        .or_else(|| std::env::var_os("TELEPORT_HOME").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".tsh")))
}

/// The modification times of the files `tsh login` writes.
fn login_stamp(dir: &std::path::Path) -> LoginStamp {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut stamp: LoginStamp = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name == "current-profile" || name.ends_with(".yaml")
        })
        .filter_map(|entry| Some((entry.path(), entry.metadata().ok()?.modified().ok()?)))
        .collect();
    stamp.sort();
    stamp
}

async fn ask(settings: &TeleportSettings) -> Option<TeleportIdentity> {
    let mut command = settings.command();
    command.args(["status", "--format=json"]).kill_on_drop(true);
    let output = tokio::time::timeout(settings.start_timeout(), command.output())
        .await
        .ok()?
        .ok()?;
    if !output.status.success() {
        tracing::info!(
            said = %String::from_utf8_lossy(&output.stderr).trim(),
            "tsh status gave no identity for the audit log"
        );
        return None;
    }
    parse(&output.stdout)
}

/// The active profile of `tsh status --format=json`: `{"active": {"username", "roles"}}`.
fn parse(json: &[u8]) -> Option<TeleportIdentity> {
    let status: serde_json::Value = serde_json::from_slice(json).ok()?;
    let active = status.get("active")?;
    let user = active.get("username")?.as_str()?.to_string();
    let roles = active
        .get("roles")
        .and_then(|r| r.as_array())
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some(TeleportIdentity { user, roles })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_profile_names_the_user_and_roles() {
        let json = br#"{"active": {"profile_url": "https://p:3080", "username": "alice",
            "cluster": "prod", "roles": ["access", "db-reader"]}, "profiles": []}"#;
        assert_eq!(
            parse(json),
            Some(TeleportIdentity {
                user: "alice".into(),
                roles: vec!["access".into(), "db-reader".into()]
            })
        );
        assert_eq!(parse(br#"{"profiles": []}"#), None, "not logged in");
        assert_eq!(parse(b"not json"), None);
    }
}

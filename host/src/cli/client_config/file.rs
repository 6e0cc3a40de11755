//! A client's JSON configuration file: read without ever losing it, written atomically with a
//! backup.
//!
//! - A file that does not parse is never written; the error says where parsing stopped.
//! - A write goes to a temporary file in the same directory (with the old file's permissions),
//!   which is then renamed over the file, so a crash leaves the old or the new file, never half
//!   of one. The previous content is kept beside it as `<file>.bak`, written the same way.
//! - A symbolic link (a dotfiles manager's) is followed: the file it points to is replaced, and
//!   the link stays.

use anyhow::Context as _;
use serde_json::{Map, Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};

pub(super) struct ClientFile {
    pub path: PathBuf,
    /// The bytes read, when the file existed.
    original: Option<String>,
    /// The document as read, to tell whether anything changed.
    parsed: Value,
    pub document: Value,
}

impl ClientFile {
    /// Read and parse `path`; a missing or empty file is an empty object.
    pub fn read(path: &Path) -> anyhow::Result<ClientFile> {
        let original = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        };
        let parsed = match original.as_deref() {
            Some(text) if !text.trim().is_empty() => parse(path, text)?,
            _ => json!({}),
        };
        anyhow::ensure!(
            parsed.is_object(),
            "`{}` is not a JSON object: nothing was written",
            path.display()
        );
        Ok(ClientFile {
            path: path.to_path_buf(),
            original,
            document: parsed.clone(),
            parsed,
        })
    }

    pub fn exists(&self) -> bool {
        self.original.is_some()
    }

    /// The servers object under `key`, created when missing.
    pub fn servers_mut(&mut self, key: &str) -> anyhow::Result<&mut Map<String, Value>> {
        let path = self.path.display().to_string();
        self.document
            .as_object_mut()
            .context("not an object")?
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .with_context(|| format!("`{path}` has a `{key}` that is not an object"))
    }

    /// The servers object under `key`, if there is one.
    pub fn servers(&self, key: &str) -> Option<&Map<String, Value>> {
        self.document.get(key).and_then(Value::as_object)
    }

    pub fn changed(&self) -> bool {
        self.document != self.parsed
    }

    pub fn text(&self) -> anyhow::Result<String> {
        Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&self.document)?
        ))
    }

    /// Write the document; returns the backup's path when there was a previous file.
    pub fn write(&self) -> anyhow::Result<Option<PathBuf>> {
        let text = self.text()?;
        let target = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(&self.path)
                .with_context(|| format!("cannot follow the link `{}`", self.path.display()))?,
            _ => self.path.clone(),
        };
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let permissions = std::fs::metadata(&target).ok().map(|m| m.permissions());
        let backup = match &self.original {
            Some(original) => {
                let mut name = target.file_name().unwrap_or_default().to_os_string();
                name.push(".bak");
                let backup = target.with_file_name(name);
                write_atomically(dir, &backup, original.as_bytes(), permissions.as_ref())?;
                Some(backup)
            }
            None => None,
        };
        write_atomically(dir, &target, text.as_bytes(), permissions.as_ref())?;
        Ok(backup)
    }
}

fn write_atomically(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    permissions: Option<&std::fs::Permissions>,
) -> anyhow::Result<()> {
    let cannot = || format!("cannot write `{}`", path.display());
    let mut file = tempfile::NamedTempFile::new_in(dir).with_context(cannot)?;
    file.write_all(bytes).with_context(cannot)?;
    if let Some(permissions) = permissions {
        file.as_file()
            .set_permissions(permissions.clone())
            .with_context(cannot)?;
    }
    file.as_file().sync_all().with_context(cannot)?;
    file.persist(path).with_context(cannot)?;
    Ok(())
}

/// Parse JSON, saying where it stopped when it is not.
fn parse(path: &Path, text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let message = e.to_string();
        let message = message
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&message);
        let at = text
            .lines()
            .nth(line.saturating_sub(1))
            .and_then(|l| l.chars().nth(column.saturating_sub(1)));
        let hint = if at == Some('/') {
            " (comments are not JSON: querygate cannot keep them, so remove them first)"
        } else {
            ""
        };
        anyhow::anyhow!(
            "`{}` is not valid JSON: parsing stopped at line {line}, column {column}: \
             {message}{hint}; the file was left untouched: fix it, or move it away",
            path.display()
        )
    })
}

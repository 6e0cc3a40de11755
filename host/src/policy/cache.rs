//! A disk cache of compiled policies, so start-up does not recompile unchanged modules.
//!
//! An entry is named by the module's sha256 and a hash of the engine's compilation settings
//! (which covers the wasmtime version), so a changed module or engine misses the cache. Loading
//! compiled code runs it as native code, so only files this host wrote are loaded: the
//! directory is created private (0700), an entry is written to a temporary file and renamed
//! into place, it ends with the sha256 of its contents, and an entry that is writable by others,
//! sits in a directory writable by others, or fails its checksum is ignored and rewritten.

use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use wasmtime::Engine;
use wasmtime::component::Component;

const CHECKSUM_LEN: usize = 32;

/// The compiled component for `bytes`, from the cache when a trustworthy entry exists.
pub(super) fn component(
    engine: &Engine,
    dir: &Path,
    sha256: &str,
    bytes: &[u8],
) -> wasmtime::Result<Component> {
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let entry = dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish()));

    if let Some(compiled) = read_trusted(dir, &entry) {
        // SAFETY: the bytes are an artifact this host's engine produced and wrote (see the
        // module docs for the checks that establish it), and wasmtime validates that they
        // were compiled with compatible settings.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize(engine, &compiled) };
        if let Ok(component) = loaded {
            return Ok(component);
        }
    }

    let compiled = engine.precompile_component(bytes)?;
    // The cache is an optimisation: failing to write it only costs the next start-up time.
    if let Err(error) = write_entry(dir, &entry, &compiled) {
        tracing::warn!(path = %entry.display(), %error, "could not write the compiled-policy cache");
    }
    // SAFETY: `compiled` was produced just now by this engine.
    #[allow(unsafe_code)]
    unsafe {
        Component::deserialize(engine, &compiled)
    }
}

fn private(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .map(|m| !m.file_type().is_symlink() && m.permissions().mode() & 0o022 == 0)
        .unwrap_or(false)
}

fn read_trusted(dir: &Path, entry: &Path) -> Option<Vec<u8>> {
    if !private(dir) || !private(entry) {
        return None;
    }
    let mut data = std::fs::read(entry).ok()?;
    if data.len() < CHECKSUM_LEN {
        return None;
    }
    let body_len = data.len() - CHECKSUM_LEN;
    if Sha256::digest(&data[..body_len]).as_slice() != &data[body_len..] {
        return None;
    }
    data.truncate(body_len);
    Some(data)
}

fn write_entry(dir: &Path, entry: &Path, compiled: &[u8]) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(compiled)?;
    file.write_all(&Sha256::digest(compiled))?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.persist(entry).map_err(|e| e.error)?;
    Ok(())
}

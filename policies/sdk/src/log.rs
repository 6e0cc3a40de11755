//! Messages for querygate's log.
//!
//! In a component they go to the host's `log` import, which tags them with the policy's name and
//! caps their size and number per evaluation (the excess is dropped, so logging never fails).
//! Natively, for unit tests, they are printed to stderr.

use crate::Level;

/// Logs a message at debug level.
pub fn debug(message: &str) {
    write(Level::Debug, message);
}

/// Logs a message at info level.
pub fn info(message: &str) {
    write(Level::Info, message);
}

/// Logs a message at warn level.
pub fn warn(message: &str) {
    write(Level::Warn, message);
}

/// Logs a message at error level.
pub fn error(message: &str) {
    write(Level::Error, message);
}

#[cfg(target_arch = "wasm32")]
fn write(level: Level, message: &str) {
    crate::bindings::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
fn write(level: Level, message: &str) {
    let level = match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    };
    eprintln!("[policy {level}] {message}");
}

//! Cleanup that must happen even when querygate is killed outright (SIGKILL runs no destructor).

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

/// Start a shell that waits for this process to be gone, then runs `then` (shell code). It has
/// its own process group, so a signal to querygate's group spares it; kill it once the cleanup
/// it guards has been done the normal way.
pub(crate) fn after_exit(then: &str) -> std::io::Result<Child> {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; {then}",
        me = std::process::id()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

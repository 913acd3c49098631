//! Running a `.sh` route: `/bin/sh <file>` in the script's directory, in a process group of
//! its own, the request body on stdin, the request in environment variables:
//!
//! | variable | value |
//! |---|---|
//! | `REQUEST_METHOD`, `REQUEST_URI`, `PATH_INFO`, `QUERY_STRING` | as in CGI |
//! | `CONTENT_TYPE`, `CONTENT_LENGTH` | of the request body |
//! | `HTTP_<HEADER>` | every request header but `Authorization` and `Cookie` (CGI style) |
//! | `HOODY_PARAM_<NAME>` | a route parameter; catch-alls joined with `/` |
//! | `HOODY_QUERY_<NAME>` | a query parameter (the last, when repeated) |
//! | `HOODY_PARAMS`, `HOODY_QUERY` | all of them as JSON |
//! | `HOODY_INSTANCE`, `HOODY_SCRIPT`, `HOODY_REQUEST_ID` | which instance, script, request |
//!
//! Names are upper-cased with every character outside `[A-Z0-9]` turned into `_`. Stdout is
//! the response body (JSON when it parses as an object or array, text otherwise), buffered up
//! to [`MAX_STDOUT`]; a non-zero exit is a 500 carrying stderr. At the deadline, or when the
//! request is dropped (client gone), the whole process group is killed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// Stdout kept (the response body).
pub(crate) const MAX_STDOUT: u64 = 16 * 1024 * 1024;
/// Stderr kept (the error message).
const MAX_STDERR: u64 = 64 * 1024;

/// One shell request.
#[derive(Debug)]
pub(crate) struct ShJob {
    /// The script.
    pub file: PathBuf,
    /// Environment variables to add.
    pub env: Vec<(String, String)>,
    /// The request body (stdin).
    pub body: Bytes,
    /// Wall-clock budget.
    pub timeout: Duration,
}

/// How a shell script ended.
#[derive(Debug)]
pub(crate) enum ShOutcome {
    /// Exit status 0: stdout.
    Ok(Vec<u8>),
    /// Another exit status (`None`: killed by a signal), with stderr and stdout.
    Failed {
        /// The exit status.
        code: Option<i32>,
        /// What it wrote to stderr (at most 64 KiB).
        stderr: String,
    },
    /// It ran past its timeout and was killed.
    Timeout,
    /// It wrote more than [`MAX_STDOUT`].
    TooLarge,
    /// It could not be started.
    Spawn(String),
}

/// Kills a process group when dropped, unless disarmed (the leader was reaped).
struct GroupKiller(Option<i32>);

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            // The group we created; its leader is not yet reaped, so the id cannot have been
            // reused. Best effort: it may have ended by itself.
            let _ = hoody_sys::process::kill_group(pgid, libc::SIGKILL);
        }
    }
}

/// Upper-cases `s` and turns everything outside `[A-Z0-9]` into `_`.
pub(crate) fn env_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_alphanumeric() { c } else { '_' }
        })
        .collect()
}

/// Reads `r` to its end keeping the first `cap + 1` bytes (so that "more than `cap`" shows);
/// with `drain`, reads on past that and discards, so the writer never blocks.
async fn read_capped(
    r: Option<impl AsyncRead + Unpin>,
    cap: u64,
    drain: bool,
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(mut r) = r {
        (&mut r).take(cap + 1).read_to_end(&mut out).await?;
        if drain {
            tokio::io::copy(&mut r, &mut tokio::io::sink()).await?;
        }
    }
    Ok(out)
}

/// Runs `job`. Dropping the future kills the script's process group.
pub(crate) async fn run(job: ShJob) -> ShOutcome {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(&job.file)
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = job.file.parent() {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ShOutcome::Spawn(format!("/bin/sh {}: {e}", job.file.display())),
    };
    let mut killer = GroupKiller(child.id().and_then(|p| i32::try_from(p).ok()));
    let stdin = child.stdin.take();
    let body = job.body.clone();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A script that does not read its stdin closes the pipe: not an error.
            let _ = stdin.write_all(&body).await;
        }
    };
    let stdout = read_capped(child.stdout.take(), MAX_STDOUT, false);
    let stderr = read_capped(child.stderr.take(), MAX_STDERR, true);
    let all = async {
        let ((), out, err) = tokio::join!(feed, stdout, stderr);
        let out = out.unwrap_or_default();
        if out.len() as u64 > MAX_STDOUT {
            return None;
        }
        Some((out, err.unwrap_or_default(), child.wait().await))
    };
    // On every early return `killer` kills the group.
    let (out, mut err, status) = match tokio::time::timeout(job.timeout, all).await {
        Ok(Some(r)) => r,
        Ok(None) => return ShOutcome::TooLarge,
        Err(_) => return ShOutcome::Timeout,
    };
    if status.is_ok() {
        killer.0 = None;
    }
    err.truncate(MAX_STDERR as usize);
    match status {
        Ok(s) if s.success() => ShOutcome::Ok(out),
        Ok(s) => ShOutcome::Failed {
            code: s.code(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
        },
        Err(e) => ShOutcome::Spawn(format!("waiting for {}: {e}", job.file.display())),
    }
}

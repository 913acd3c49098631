//! The host's error: what went wrong, with every source kept, until the HTTP edge turns it
//! into the API's `{statusCode, error, message}` ([`ApiError`], through `From`).

use hoody_api::ApiError;
use hoody_fs::FsError;
use hoody_machine::MachineError;

use crate::store::StoreError;

/// What can go wrong in a [`crate::Host`] call.
///
/// A refusal that is the caller's to fix (not found, invalid, conflicting, busy) is already
/// the API's error ([`HostError::Api`]); a failure of the server's own (the database, a
/// machine, storage, the kernel) keeps its typed source, so an embedder can match on it and
/// a log or the HTTP edge can print the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Refused as the API says (its status and stable code).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The state database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A machine (its monitor, boot, configuration).
    #[error(transparent)]
    Machine(#[from] MachineError),
    /// Storage (the pool, snapshots).
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The server's configuration cannot be used (named in the message).
    #[error("configuration: {0}")]
    Config(String),
    /// Something else the server needed failed (a thread, a file, random bytes).
    #[error("{what}")]
    Io {
        /// What was attempted.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl HostError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> HostError {
        HostError::Io {
            what: what.into(),
            source,
        }
    }

    /// What went wrong, for people (status logs, the daemon's log): a refusal's message, else
    /// the whole chain of sources.
    pub fn message(&self) -> String {
        match self {
            HostError::Api(a) => a.message.clone(),
            e => hoody_api::error::chain(e),
        }
    }

    /// The HTTP status the API answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            HostError::Api(e) => e.status,
            HostError::Machine(e) => machine_api(e).map_or(500, |a| a.status),
            HostError::Fs(e) => fs_api(e).map_or(500, |a| a.status),
            HostError::Store(_) | HostError::Io { .. } | HostError::Config(_) => 500,
        }
    }
}

/// The caller-facing errors among the machine layer's: a missing machine, a wrong state.
fn machine_api(e: &MachineError) -> Option<ApiError> {
    Some(match e {
        MachineError::NotFound(n) => ApiError::new(
            404,
            "MACHINE_NOT_FOUND",
            format!("container {n}: its machine is missing"),
        ),
        MachineError::Running(n) => ApiError::conflict(
            "INVALID_STATE_TRANSITION",
            format!("container {n} is running"),
        ),
        MachineError::NotRunning(n) => ApiError::conflict(
            "INVALID_STATE_TRANSITION",
            format!("container {n} is not running"),
        ),
        MachineError::Fs(e) => return fs_api(e),
        _ => return None,
    })
}

/// The caller-facing errors among storage's: a missing image, container or snapshot.
fn fs_api(e: &FsError) -> Option<ApiError> {
    match e {
        FsError::NotFound { kind, name, .. } => Some(ApiError::new(
            404,
            &format!("{}_NOT_FOUND", kind.to_ascii_uppercase().replace(' ', "_")),
            format!("{kind} {name} not found"),
        )),
        _ => None,
    }
}

/// The HTTP edge: a refusal as it is, a failure of the server's own as a 500 whose message
/// is the whole chain of sources.
impl From<HostError> for ApiError {
    fn from(e: HostError) -> ApiError {
        match e {
            HostError::Api(a) => a,
            HostError::Machine(ref m) => {
                machine_api(m).unwrap_or_else(|| ApiError::internal_chain(&e))
            }
            HostError::Fs(ref f) => fs_api(f).unwrap_or_else(|| ApiError::internal_chain(&e)),
            HostError::Store(_) | HostError::Io { .. } | HostError::Config(_) => {
                ApiError::internal_chain(&e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edge_keeps_codes_and_chains() {
        let e = HostError::Machine(MachineError::NotFound("abc".into()));
        assert_eq!(e.status(), 404);
        assert_eq!(ApiError::from(e).code, "MACHINE_NOT_FOUND");
        let io = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = HostError::io("write /x/state.db", io);
        assert_eq!(e.status(), 500);
        let a = ApiError::from(e);
        assert_eq!(a.code, "INTERNAL_ERROR");
        assert!(
            a.message
                .starts_with("write /x/state.db: No space left on device"),
            "{}",
            a.message
        );
        let refused = ApiError::conflict("CONTAINER_BUSY", "busy");
        assert_eq!(ApiError::from(HostError::from(refused.clone())), refused);
    }
}

//! The library's one error type. Every variant names the object or path it is about, so the CLI
//! can print a single clear line; `main` maps variants to exit codes.

use std::path::PathBuf;

use crate::crypto::CryptoError;
use crate::format::DecodeError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no snap repository at {0}")]
    NoRepository(String),
    #[error("{0} holds something that is not a snap repository")]
    ForeignRepository(String),
    #[error("cannot init: {0} already holds files")]
    NotEmpty(String),
    #[error("repository {location} has format version {found}; this snap reads version {supported}")]
    UnsupportedVersion { location: String, found: u64, supported: u64 },
    #[error("wrong password: no key in {0} opens with it")]
    WrongPassword(String),
    #[error("repository is locked: {0}")]
    Locked(String),
    /// A held lock can no longer be trusted (its refresh failed, or its file was removed), so the
    /// command stops before it deletes or commits anything.
    #[error("repository lock lost: {0}; stopped before changing anything more")]
    LockLost(String),
    #[error("storage {op} {path}: {source}")]
    Backend { op: &'static str, path: String, source: Box<opendal::Error> },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{what} {name}: {source}")]
    Decode { what: &'static str, name: String, source: DecodeError },
    #[error("{what} {name}: {source}")]
    Crypto { what: &'static str, name: String, source: CryptoError },
    #[error("{what} {name} is damaged: {reason}")]
    Corrupt { what: &'static str, name: String, reason: String },
    #[error("{path}: {size} bytes, more than the {} {kind} may have", binary_size(*max))]
    TooLarge { path: String, size: u64, max: u64, kind: &'static str },
    #[error("blob {0} is not in the index")]
    MissingBlob(String),
    #[error("no snapshot matches {0:?}")]
    SnapshotNotFound(String),
    #[error("snapshot id prefix {0:?} matches more than one snapshot")]
    AmbiguousSnapshot(String),
    #[error("path {path:?} not found in snapshot {snapshot}")]
    PathNotFound { snapshot: String, path: String },
    #[error("local index {}: {source}", path.display())]
    Index { path: PathBuf, source: rocksdb::Error },
    #[error("{0}")]
    CommandFailed(String),
    #[error("interrupted; nothing was lost, the next backup reuses what was stored")]
    Interrupted,
    /// An option, argument or pattern that cannot be acted on; names it and says why.
    #[error("{0}")]
    Usage(String),
    /// A problem in the server-jobs config file, with the line it is on when known. A variant of
    /// its own (not [`Error::Usage`]) because a config file is read long after it was written,
    /// often by a daemon: the file and line are what the reader needs to fix it, and a caller
    /// such as the daemon's reload can tell "the new file is bad, keep the old one" from other
    /// failures by matching on it.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config { path: PathBuf, line: Option<usize>, message: String },
    /// A command that deletes refused to act on uncertain ground; nothing was deleted.
    #[error("{0}")]
    Refused(String),
    /// Something below `path` of a snapshot could not be read.
    #[error("{path}: {source}")]
    At { path: String, source: Box<Error> },
    /// What only a bug in snap can cause (a worker gone, a value past a format limit).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
    pub(crate) fn decode(what: &'static str, name: impl ToString, source: DecodeError) -> Self {
        Self::Decode { what, name: name.to_string(), source }
    }
    pub(crate) fn crypto(what: &'static str, name: impl ToString, source: CryptoError) -> Self {
        Self::Crypto { what, name: name.to_string(), source }
    }
    pub(crate) fn corrupt(what: &'static str, name: impl ToString, reason: impl ToString) -> Self {
        Self::Corrupt { what, name: name.to_string(), reason: reason.to_string() }
    }
}

/// `64 KiB`, `8 MiB`: a limit in the largest binary unit that divides it.
fn binary_size(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS.iter().find(|(u, _)| n >= *u && n.is_multiple_of(*u)).map_or_else(|| format!("{n} bytes"), |(u, name)| format!("{} {name}", n / u))
}

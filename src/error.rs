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
    /// `cause` is deliberately not a `source`: [`describe`] already says what it holds in one
    /// line, where OpenDAL's own display dumps the whole request.
    #[error("storage {op} {path}: {}", describe(cause))]
    Backend { op: &'static str, path: String, cause: Box<opendal::Error> },
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

/// One line on what went wrong in storage: the kind in words, the service's own code and message
/// when it sent one (S3's `<Code>`), and the lowest cause, without OpenDAL's request dump.
fn describe(e: &opendal::Error) -> String {
    use opendal::ErrorKind as K;
    let full = format!("{e:#}");
    // S3 says what went wrong as `<Code>` and `<Message>` in its XML body; OpenDAL passes the
    // body on, or parses it into `S3Error { code: "..", message: "..", .. }`.
    let tag = |t: &str| -> Option<String> {
        let (open, close) = (format!("<{t}>"), format!("</{t}>"));
        if let Some(start) = full.find(&open) {
            let start = start + open.len();
            let end = full[start..].find(&close)? + start;
            return Some(full[start..end].to_string());
        }
        let field = format!("{}: \"", t.to_lowercase());
        let start = full.find(&field)? + field.len();
        let end = full[start..].find('"')? + start;
        Some(full[start..end].to_string()).filter(|v| !v.is_empty())
    };
    let kind = match e.kind() {
        K::NotFound => "not found",
        K::PermissionDenied => "access denied (check the credentials and what they may do)",
        K::RateLimited => "rate limited",
        K::ConfigInvalid if names_missing_bucket(e) => "the bucket does not exist",
        K::ConfigInvalid => "invalid storage configuration",
        K::Unsupported => "not supported by this storage",
        K::AlreadyExists => "already exists",
        _ => "failed",
    };
    let mut out = kind.to_string();
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(msg)) => out.push_str(&format!(": {code}: {msg}")),
        (Some(code), None) => out.push_str(&format!(": {code}")),
        _ => {
            let mut cause = e.message().to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                cause = s.to_string();
                src = s.source();
            }
            let cause = ssh_cause(&cause).map_or_else(|| first_words(&cause), str::to_string);
            if !cause.is_empty() {
                out.push_str(&format!(": {cause}"));
            }
        }
    }
    out
}

/// Whether `e` says the S3 bucket itself is missing (as opposed to a file in it).
pub(crate) fn names_missing_bucket(e: &opendal::Error) -> bool {
    format!("{e:?}").contains("NoSuchBucket")
}

/// What ssh's own log (the lowest cause of an SFTP failure) means, for the messages that matter.
fn ssh_cause(log: &str) -> Option<&'static str> {
    const KNOWN: [(&str, &str); 5] = [
        ("REMOTE HOST IDENTIFICATION HAS CHANGED", "host key mismatch: the server's key is not the one known_hosts holds for it (a reinstalled server, or someone in between)"),
        ("Host key verification failed", "host key verification failed: the server is not in known_hosts (add it, or use -o sftp.host-keys=accept-new)"),
        ("Permission denied", "access denied: the server refused the login (check the user and key)"),
        ("Connection refused", "connection refused"),
        ("Could not resolve hostname", "unknown host"),
    ];
    KNOWN.iter().find(|(needle, _)| log.contains(needle)).map(|(_, said)| *said)
}

/// The first line of `text` that says something (not a row of `@` or `-`).
fn first_words(text: &str) -> String {
    text.lines().map(str::trim).find(|l| l.chars().any(char::is_alphanumeric)).unwrap_or_default().to_string()
}

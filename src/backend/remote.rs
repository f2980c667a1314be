//! Operators for storage reached over a network (S3, SFTP): the OpenDAL service built from a
//! [`Location`] and its options, wrapped in the layers every remote request needs — a timeout
//! per attempt, retries with exponential backoff and jitter for temporary failures, and a bound
//! on requests in flight.

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use opendal::layers::{ConcurrentLimitLayer, RetryLayer, TimeoutLayer};
use opendal::Operator;

use super::location::{Location, Options};
use crate::error::{Error, Result};

/// The longest control-socket path OpenSSH accepts is the 108 bytes of `sun_path`; the socket
/// lives at `<state dir>/.ssh-connectionXXXXXX/master`.
const MAX_SSH_STATE_DIR: usize = 108 - 1 - "/.ssh-connectionXXXXXX/master".len();

/// The operator for a remote `loc` (written as `given`), with retries, timeouts and a bound on
/// concurrency from `opts`.
///
/// # Errors
/// [`Error::Usage`] for options that do not fit; [`Error::Backend`] when OpenDAL refuses the
/// configuration.
pub(super) fn operator(loc: &Location, opts: &Options, given: &str) -> Result<Operator> {
    let built = match loc {
        Location::S3 { endpoint, bucket, prefix } => s3(endpoint.as_deref(), bucket, prefix, opts)?,
        Location::Sftp { user, host, port, path } => sftp(user.as_deref(), host, *port, path, opts)?,
        Location::Local(_) | Location::Memory => return Err(Error::Internal(format!("{given} is not remote storage"))),
    };
    let op = built.map_err(|e| Error::Backend { op: "open", path: given.to_string(), cause: Box::new(e) })?;
    let timeout = opts.timeout()?;
    // The timeout is inside the retry: each attempt gets its own, and a timed-out attempt is
    // retried. Backoff doubles from 250 ms to at most 30 s, with jitter, so the default 8 retries
    // wait about a minute in all (plus the attempts themselves) before a request fails for good.
    Ok(op
        .layer(ConcurrentLimitLayer::new(opts.connections()?))
        .layer(TimeoutLayer::new().with_timeout(timeout).with_io_timeout(timeout))
        .layer(
            RetryLayer::new()
                .with_max_times(opts.retries()?)
                .with_factor(2.0)
                .with_min_delay(Duration::from_millis(250))
                .with_max_delay(Duration::from_secs(30))
                .with_jitter(),
        ))
}

/// The process-wide HTTP transport and TLS provider: OpenDAL without its default features
/// registers neither, and an S3 request would fail at run time.
fn install_http() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal_http_transport_reqwest::install_default();
    });
}

fn s3(endpoint: Option<&str>, bucket: &str, prefix: &str, opts: &Options) -> Result<opendal::Result<Operator>> {
    install_http();
    let mut b = opendal::services::S3::default().bucket(bucket).root(&format!("/{prefix}"));
    let region = match opts.get("s3.region") {
        Some(r) => r.to_string(),
        None => ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "us-east-1".to_string()),
    };
    b = b.region(&region);
    // Path style suits self-hosted stores (no wildcard DNS); AWS prefers virtual hosts.
    let path_style = opts.flag("s3.path-style", endpoint.is_some())?;
    if let Some(ep) = endpoint {
        b = b.endpoint(ep);
    }
    if !path_style {
        b = b.enable_virtual_host_style();
    }
    if let Some(class) = opts.get("s3.storage-class") {
        b = b.default_storage_class(class);
    }
    if let Some(profile) = opts.get("s3.profile") {
        b = b.profile(profile);
    }
    // The instance metadata service is a link-local address every machine in a cloud answers;
    // asking it outside one stalls, and inside one it hands out the machine's role. Only when
    // asked for.
    if !opts.flag("s3.instance-metadata", false)? {
        b = b.disable_ec2_metadata();
    }
    Ok(Operator::new(b))
}

fn sftp(user: Option<&str>, host: &str, port: Option<u16>, path: &str, opts: &Options) -> Result<opendal::Result<Operator>> {
    check_ssh_state_dir()?;
    let endpoint = match port {
        Some(p) if host.contains(':') => format!("ssh://[{host}]:{p}"),
        Some(p) => format!("ssh://{host}:{p}"),
        None => host.to_string(),
    };
    let mut b = opendal::services::Sftp::default().endpoint(&endpoint).root(path);
    if let Some(u) = user {
        b = b.user(u);
    }
    if let Some(k) = opts.get("sftp.key") {
        b = b.key(k);
    }
    let strategy = match opts.get("sftp.host-keys").unwrap_or("strict") {
        "strict" => "strict",
        "accept-new" => "add",
        "off" => "accept",
        other => return Err(Error::Usage(format!("option sftp.host-keys={other}: expected strict, accept-new or off"))),
    };
    b = b.known_hosts_strategy(strategy);
    Ok(Operator::new(b))
}

/// OpenDAL's SFTP service drives the system `ssh` as a control master whose socket lives under
/// `$XDG_STATE_HOME` (else `~/.local/state`); a path too long for a Unix socket fails with an
/// obscure message from ssh, so say it plainly first.
fn check_ssh_state_dir() -> Result<()> {
    let dir = match std::env::var_os("XDG_STATE_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
        Some(d) => d,
        None => match std::env::var_os("HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
            Some(h) => h.join(".local/state"),
            None => return Ok(()),
        },
    };
    let len = dir.as_os_str().len();
    if len > MAX_SSH_STATE_DIR {
        return Err(Error::Usage(format!(
            "sftp: the ssh control socket would live under {} ({len} bytes), too long for a Unix socket; set XDG_STATE_HOME to a directory of at most {MAX_SSH_STATE_DIR} bytes",
            dir.display()
        )));
    }
    Ok(())
}

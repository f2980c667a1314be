//! `snap init [--from SRC]`: create a repository in an empty location; with `--from`, one that
//! shares SRC's blob ids and chunker settings, so `snap copy` can send SRC's snapshots to it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

use snap::crypto::KdfParams;
use snap::format::config::ChunkerParams;
use snap::repo::Repository;

use super::{GlobalArgs, OtherRepo};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Argon2id memory in KiB (default 65536)
    #[arg(long, hide = true)]
    kdf_memory_kib: Option<u32>,
    /// Argon2id iterations (default 3)
    #[arg(long, hide = true)]
    kdf_iterations: Option<u32>,
    /// Average chunk size for streams (database dumps), in bytes, 256 to 4194304; minimum and
    /// maximum follow as a quarter and eight times it (default 8192)
    #[arg(long, value_name = "BYTES", conflicts_with = "from")]
    stream_chunk_size: Option<u32>,
    /// Share this repository's blob ids and chunker settings (with its own key and password),
    /// so that `snap copy` can copy its snapshots here
    #[arg(long, value_name = "LOCATION")]
    from: Option<String>,
    /// Read the password of the --from repository from this file (first line)
    #[arg(long, value_name = "FILE", requires = "from", conflicts_with = "from_password_command")]
    from_password_file: Option<PathBuf>,
    /// Run this shell command and use its first output line as the --from repository's password
    #[arg(long, value_name = "COMMAND", requires = "from")]
    from_password_command: Option<String>,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let loc = g.location()?;
    // Refuse a non-empty location before asking for a password, and create nothing until both
    // are settled.
    if let Ok(probe) = g.backend(loc, false) {
        match probe.is_empty() {
            Ok(true) => {}
            Ok(false) => return Err(snap::Error::NotEmpty(loc.to_string()).into()),
            // snap makes directories but not buckets: a bucket is an account-level decision
            // (region, quotas, object lock) for whoever owns the storage.
            Err(snap::Error::NoRepository(_)) => bail!("cannot init {loc}: the bucket does not exist; create it first"),
            Err(e) => return Err(e.into()),
        }
    }
    let d = KdfParams::default();
    let kdf = KdfParams { memory_kib: a.kdf_memory_kib.unwrap_or(d.memory_kib), iterations: a.kdf_iterations.unwrap_or(d.iterations), parallelism: d.parallelism };
    // Readers refuse a key file outside the bounds, so none is ever written.
    kdf.check()?;
    let src = match &a.from {
        Some(from) => Some(
            OtherRepo {
                role: "source",
                flag: "from",
                location: from,
                password_file: a.from_password_file.as_deref(),
                password_command: a.from_password_command.as_deref(),
                cache_dir: None,
            }
            .open_unlocked(g)?,
        ),
        None => None,
    };
    let password = g.password(true)?;
    let backend = g.backend(loc, true)?;
    let repo = match &src {
        Some(src) => Repository::init_from(backend, &password, kdf, &g.cache_root()?, src, |_| {})?,
        None => Repository::init_with(backend, &password, kdf, &g.cache_root()?, |c| {
            if let Some(avg) = a.stream_chunk_size {
                c.chunker_streams = ChunkerParams::around(avg);
            }
        })?,
    };
    if g.json {
        println!("{}", serde_json::json!({ "id": repo.config().id, "location": loc, "from": a.from }));
    } else if !g.quiet {
        match &a.from {
            Some(from) => println!("created snap repository {} at {loc}, sharing blob ids with {from}", &repo.config().id[..8]),
            None => println!("created snap repository {} at {loc}", &repo.config().id[..8]),
        }
    }
    Ok(ExitCode::SUCCESS)
}

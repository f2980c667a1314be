//! `snap init`: create a repository in an empty location.

use std::process::ExitCode;

use anyhow::Result;

use snap::backend::Backend;
use snap::crypto::KdfParams;
use snap::format::config::ChunkerParams;
use snap::repo::Repository;

use super::GlobalArgs;

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
    #[arg(long, value_name = "BYTES")]
    stream_chunk_size: Option<u32>,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let loc = g.location()?;
    // Refuse a non-empty location before asking for a password, and create nothing until both
    // are settled.
    if let Ok(probe) = Backend::open(loc, false)
        && !probe.is_empty()?
    {
        return Err(snap::Error::NotEmpty(loc.to_string()).into());
    }
    let d = KdfParams::default();
    let kdf = KdfParams { memory_kib: a.kdf_memory_kib.unwrap_or(d.memory_kib), iterations: a.kdf_iterations.unwrap_or(d.iterations), parallelism: d.parallelism };
    // Readers refuse a key file outside the bounds, so none is ever written.
    kdf.check()?;
    let password = g.password(true)?;
    let backend = Backend::open(loc, true)?;
    let repo = Repository::init_with(backend, &password, kdf, &g.cache_root()?, |c| {
        if let Some(avg) = a.stream_chunk_size {
            c.chunker_streams = ChunkerParams::around(avg);
        }
    })?;
    if g.json {
        println!("{}", serde_json::json!({ "id": repo.config().id, "location": loc }));
    } else if !g.quiet {
        println!("created snap repository {} at {loc}", &repo.config().id[..8]);
    }
    Ok(ExitCode::SUCCESS)
}

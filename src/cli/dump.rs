//! `snap dump <snapshot> PATH`: a file's bytes (or a directory as tar) to stdout.

use std::process::ExitCode;

use anyhow::Result;

use snap::ops::dump::dump;
use snap::ops::select::find_snapshot;

use super::snapshots::FilterArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot id, prefix or `latest`
    snapshot: String,
    /// Path inside the snapshot, e.g. /pg.sql
    path: String,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (repo, _lock) = g.open()?;
    let (id, snap) = find_snapshot(&repo, &a.snapshot, &a.filter.filter())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    dump(&repo, &id, &snap, &a.path, &mut out)?;
    Ok(ExitCode::SUCCESS)
}

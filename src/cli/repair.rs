//! `snap repair index`: rebuild index files from pack headers (exclusive lock).

use std::process::ExitCode;

use anyhow::Result;

use snap::ops::repair::repair_index;
use snap::repo::lock::LockKind;

use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Rebuild index/ from the headers of every pack
    Index,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    match a.what {
        What::Index => {
            let repo = g.open_unlocked()?;
            let _lock = repo.lock(LockKind::Exclusive)?;
            let r = repair_index(&repo)?;
            if g.json {
                println!("{}", serde_json::to_value(&r)?);
            } else if !g.quiet {
                println!("indexed {} blobs in {} packs: wrote {} index file(s), removed {}", r.blobs, r.packs, r.index_files_written, r.index_files_removed);
            }
            for u in &r.unreadable {
                eprintln!("error: {u}");
            }
            for k in &r.index_files_kept {
                eprintln!("warning: {k}");
            }
            if r.unreadable.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Err(anyhow::anyhow!("{} pack(s) could not be read; their blobs are not indexed", r.unreadable.len()))
            }
        }
    }
}

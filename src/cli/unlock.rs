//! `snap unlock [--remove-all]`: remove stale locks (or every lock).

use std::process::ExitCode;

use anyhow::Result;

use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove every lock, even live ones (only when you know no snap is running)
    #[arg(long)]
    remove_all: bool,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let repo = g.open_unlocked()?;
    let n = repo.unlock(a.remove_all)?;
    if g.json {
        println!("{}", serde_json::json!({ "removed": n }));
    } else if !g.quiet {
        println!("removed {n} lock(s)");
    }
    Ok(ExitCode::SUCCESS)
}

//! `snap tag --add T | --remove T | --set T [SNAPSHOT...]`: change snapshots' tags, rewriting
//! only their snapshot files (each retagged snapshot gets a new id).
//!
//! `--json` output: an array with one `{"old_id", "new_id", "tags"}` per rewritten snapshot
//! (full ids; `tags` the snapshot's new tags), oldest first. Snapshots whose tags were already as
//! asked are not rewritten and not listed.

use std::process::ExitCode;

use anyhow::Result;

use snap::ops::tag::{tag, TagChange, TagOptions};
use snap::repo::lock::LockKind;

use super::snapshots::FilterArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshots to retag: ids, prefixes or `latest` (default: every snapshot passing the filters)
    snapshots: Vec<String>,
    /// Add this tag where missing (repeatable)
    #[arg(long, value_name = "TAG")]
    add: Vec<String>,
    /// Remove this tag (repeatable)
    #[arg(long, value_name = "TAG")]
    remove: Vec<String>,
    /// Replace every tag with these (repeatable; `--set ""` removes every tag)
    #[arg(long, value_name = "TAG", conflicts_with_all = ["add", "remove"])]
    set: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let change = TagChange { add: a.add.clone(), remove: a.remove.clone(), set: (!a.set.is_empty()).then(|| a.set.clone()) };
    change.validate()?;
    let opts = TagOptions { snapshots: a.snapshots.clone(), filter: a.filter.filter(), change };
    // Old snapshot files are deleted: alone, as forget does. The index is not needed.
    let repo = g.open_unlocked()?;
    let lock = repo.lock(LockKind::Exclusive)?;
    let report = tag(&repo, &opts, &lock)?;
    if g.json {
        println!("{}", serde_json::to_value(&report.retagged)?);
    } else if !g.quiet {
        for r in &report.retagged {
            println!("snapshot {} is now {}, tags: {}", r.old_id.short(), r.new_id.short(), if r.tags.is_empty() { "(none)".to_string() } else { r.tags.join(",") });
        }
        println!("{} snapshot(s) retagged, {} already as asked", report.retagged.len(), report.unchanged.len());
    }
    Ok(ExitCode::SUCCESS)
}

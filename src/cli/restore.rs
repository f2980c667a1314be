//! `snap restore <snapshot> --target DIR [--once]`: recreate a snapshot's files under DIR.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Result;

use snap::job::restore_db::{restore_db, target_for};
use snap::ops::restore::once::{self, Marker, Once};
use snap::ops::restore::{restore, RestoreOptions, RestoreProgress};
use snap::ops::select::find_snapshot;

use super::snapshots::FilterArgs;
use super::{human, GlobalArgs, Ticker};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Snapshot id, prefix or `latest`
    snapshot: String,
    /// Directory to restore into (`/` puts files back where they were)
    #[arg(long, short)]
    target: PathBuf,
    /// Restore only paths matching this glob (and what lies below them)
    #[arg(long = "include")]
    includes: Vec<String>,
    /// Skip paths matching this glob
    #[arg(long = "exclude")]
    excludes: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// Restore only if TARGET carries no marker of an earlier --once restore; write the marker
    /// last; a no-op afterwards (safe to leave in a container's entrypoint)
    #[arg(long)]
    once: bool,
    /// With --once: restore into a non-empty TARGET that carries no marker
    #[arg(long, requires = "once")]
    overwrite: bool,
    /// After the files, stream every database dump of the snapshot back into the server (or
    /// SQLite file) its job dumps it from; needs --job and the config file
    #[arg(long, requires = "jobs")]
    with_databases: bool,
    /// With --with-databases: drop and recreate databases that already hold tables
    #[arg(long, requires = "with_databases")]
    clean: bool,
    #[command(flatten)]
    config: super::config::ConfigArg,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let retry = if a.once {
        match once::decide(&a.target, a.overwrite)? {
            Once::Done(m) => {
                if !g.quiet {
                    println!("{} already holds snapshot {} (restored {}); nothing to do", a.target.display(), &m.snapshot[..8.min(m.snapshot.len())], m.time);
                }
                return Ok(ExitCode::SUCCESS);
            }
            Once::Restore { retry_of } => retry_of,
        }
    } else {
        None
    };
    let (repo, _lock) = g.open()?;
    let (id, snap) = find_snapshot(&repo, &a.snapshot, &a.filter.filter())?;
    let marker = Marker { snapshot: id.to_hex(), snapshot_time: snap.time.clone(), time: jiff::Timestamp::now().to_string() };
    if a.once {
        if let Some(m) = &retry {
            eprintln!("snap: an earlier --once restore (snapshot {}, started {}) did not complete; restoring again", &m.snapshot[..8.min(m.snapshot.len())], m.time);
        }
        once::mark_started(&a.target, &marker)?;
    }
    let opts = RestoreOptions { target: a.target.clone(), includes: a.includes.clone(), excludes: a.excludes.clone() };
    let progress = Arc::new(RestoreProgress::default());
    let p = Arc::clone(&progress);
    let ticker = Ticker::start(g.show_progress(), move |bar| {
        bar.set_message(format!("{} of {}", human(p.bytes_done.load(Ordering::Relaxed)), human(p.bytes_total.load(Ordering::Relaxed))));
    });
    let result = restore(&repo, &snap, &opts, &progress);
    drop(ticker);
    let out = result?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({ "snapshot_id": id.to_hex(), "files": out.files, "dirs": out.dirs, "links": out.links, "bytes": out.bytes, "errors": out.errors })
        );
    } else if !g.quiet {
        println!("restored snapshot {}: {} files, {} dirs, {} links, {} to {}", id.short(), out.files, out.dirs, out.links, human(out.bytes), a.target.display());
    }
    for e in &out.errors {
        eprintln!("error: {e}");
    }
    if out.errors.is_empty() && a.with_databases {
        let (_, config) = a.config.load()?;
        let job = config.job(&a.filter.jobs[0])?;
        for record in &snap.databases {
            let target = target_for(job, record, &a.target).ok_or_else(|| anyhow::anyhow!("job {} no longer names database {} ({}); restore it with `snap restore-db`", job.name, record.name, record.kind))?;
            let report = restore_db(&repo, &id, &snap, record, &target, a.clean)?;
            if !g.quiet {
                println!("restored {} {} into {}{}", report.kind, record.name, report.into, if report.cleaned { " (dropped and recreated first)" } else { "" });
            }
        }
    }
    if out.errors.is_empty() {
        if a.once {
            once::mark_done(&a.target, &Marker { time: jiff::Timestamp::now().to_string(), ..marker })?;
        }
        Ok(ExitCode::SUCCESS)
    } else {
        Err(anyhow::anyhow!("{} entr{} could not be restored (listed above)", out.errors.len(), if out.errors.len() == 1 { "y" } else { "ies" }))
    }
}

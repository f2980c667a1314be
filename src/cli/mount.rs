//! `snap mount DIR`: the repository as a read-only filesystem at DIR until Ctrl-C, SIGTERM or an
//! outside `umount DIR`. Read errors and a lost lock are lines on stderr; the readers get `EIO`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};

use snap::ops::mount::{check_mountpoint, serve, Ended, Event, MountOptions};

use super::snapshots::FilterArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
#[command(after_help = "Layout: ids/<short id>/ holds each snapshot's files; snapshots/<time>, \
hosts/<host>/<time> and tags/<tag>/<time> link into ids/, each directory with a `latest` link \
(times in UTC). New snapshots appear within seconds. Files are read on demand, every chunk \
verified; a damaged one fails that read with an I/O error. Holds a shared lock while mounted, so \
prune waits. Ends on Ctrl-C or SIGTERM (unmounting) or when DIR is unmounted (umount DIR, \
fusermount -u DIR), exiting 0. As root no helper is needed; other users need fusermount3 \
(Debian: fuse3). --json prints {\"mountpoint\", \"snapshots\"} once mounted.")]
pub struct Args {
    /// An existing, empty directory
    dir: PathBuf,
    /// Let other users in (the snapshot's own modes and owners still apply)
    #[arg(long)]
    allow_other: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    check_mountpoint(&a.dir)?;
    let (repo, lock) = g.open()?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handler")?;
    }
    let opts = MountOptions { allow_other: a.allow_other, filter: a.filter.filter() };
    let (json, quiet, dir) = (g.json, g.quiet, a.dir.display().to_string());
    let events = Arc::new(move |e: Event| match e {
        Event::Mounted { snapshots } => {
            if json {
                println!("{}", serde_json::json!({ "mountpoint": dir, "snapshots": snapshots }));
            } else if !quiet {
                println!("{snapshots} snapshot(s) mounted at {dir}; Ctrl-C or `umount {dir}` unmounts");
            }
            let _ = std::io::stdout().flush();
        }
        Event::Failed { path, error } => eprintln!("snap: error: {path}: {error}"),
        Event::LockLost(error) => eprintln!("snap: warning: {error}"),
    });
    let ended = serve(repo, &a.dir, &opts, &stop, &lock, events)?;
    if ended == Ended::Detached {
        eprintln!("snap: warning: {} was busy: detached; what still has files open there loses them now", a.dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

//! `snap restore <snapshot> --target DIR [--overwrite=MODE] [--delete] [--verify] [--dry-run]
//! [--once]`: recreate a snapshot's files under DIR, safely over what DIR already holds.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Result;

use snap::job::restore_db::{restore_db, target_for};
use snap::ops::restore::once::{self, Marker, Once};
use snap::ops::restore::{restore, ActionKind, Overwrite, RestoreOptions, RestoreOutcome, RestoreProgress};
use snap::ops::select::find_snapshot;

use super::snapshots::FilterArgs;
use super::{human, GlobalArgs, Reading, Ticker};

/// `--overwrite` modes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum OverwriteArg {
    /// Replace every entry that exists
    Always,
    /// Leave an entry alone when it already is what the snapshot has (same size and content,
    /// every chunk read back and checked; only differing metadata is set)
    IfChanged,
    /// Replace an entry only when the snapshot's modification time is newer
    IfNewer,
    /// Leave every existing entry alone
    Never,
}

impl From<OverwriteArg> for Overwrite {
    fn from(a: OverwriteArg) -> Self {
        match a {
            OverwriteArg::Always => Self::Always,
            OverwriteArg::IfChanged => Self::IfChanged,
            OverwriteArg::IfNewer => Self::IfNewer,
            OverwriteArg::Never => Self::Never,
        }
    }
}

/// What `snap restore --help` says after the options.
const AFTER_HELP: &str = "\
Safe over a live target: an existing entry is handled as --overwrite says (by default left alone
when it already holds the snapshot's content, so a repeated restore writes nothing). Files are
written to a temporary name and renamed into place when complete, so a rerun after an
interruption writes only what is missing and removes the temporary files it left. Links already
in TARGET are never followed and nothing is written outside it: a link where the snapshot has a
directory is replaced by the directory (kept, with a warning, under --overwrite=never). As root,
owners, setuid/setgid/sticky bits, FIFOs, device nodes and extended attributes (file
capabilities included) are restored; as another user one warning line says what was not.

--json prints one object: snapshot_id, dry_run, files, dirs, links, bytes (entries of the
snapshot handled without error, and their size), written, updated, unchanged, deleted,
bytes_written, verified, not_restored {owners, special_bits, devices, xattrs, xattr_names},
warnings [..], errors [..]; with --dry-run also actions [{path, kind, action, reason}], action
one of write, update, keep, delete.";

#[derive(clap::Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Snapshot id, prefix or `latest`
    snapshot: String,
    /// Directory to restore into (`/` puts files back where they were)
    #[arg(long, short)]
    target: PathBuf,
    /// Restore only paths matching this glob (and what lies below them)
    #[arg(long = "include")]
    includes: Vec<String>,
    /// Skip paths matching this glob (they are neither written nor deleted)
    #[arg(long = "exclude")]
    excludes: Vec<String>,
    #[command(flatten)]
    filter: FilterArgs,
    /// What to do with entries TARGET already has [default: if-changed; `--overwrite` alone:
    /// always]. Give the mode with `=`: `--overwrite=never`
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, require_equals = true, default_missing_value = "always")]
    overwrite: Option<OverwriteArg>,
    /// Remove what TARGET has and the snapshot does not, inside the directories restored whole
    /// (the snapshot's paths and below, as selected by --include); never what --exclude
    /// matches, never through a link, never on another mounted filesystem
    #[arg(long)]
    delete: bool,
    /// Read every file written back and compare it with the snapshot's chunk ids; a mismatch is
    /// an error
    #[arg(long)]
    verify: bool,
    /// Print what would be written, updated, deleted and left alone; change nothing
    #[arg(long, short = 'n', conflicts_with = "with_databases")]
    dry_run: bool,
    /// Do not restore owners (as root they are restored by default)
    #[arg(long)]
    no_owner: bool,
    /// Do not restore setuid/setgid/sticky bits, FIFOs, device nodes, or security.* and
    /// trusted.* extended attributes (file capabilities, security labels)
    #[arg(long)]
    no_special: bool,
    /// Restore only if TARGET carries no marker of an earlier --once restore; write the marker
    /// last; a no-op afterwards (safe to leave in a container's entrypoint). A non-empty TARGET
    /// without a marker is refused unless --overwrite is given
    #[arg(long)]
    once: bool,
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
        match once::decide(&a.target, a.overwrite.is_some())? {
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
    let mark = a.once && !a.dry_run;
    if mark {
        if let Some(m) = &retry {
            eprintln!("snap: an earlier --once restore (snapshot {}, started {}) did not complete; restoring again", &m.snapshot[..8.min(m.snapshot.len())], m.time);
        }
        once::mark_started(&a.target, &marker)?;
    }
    let opts = RestoreOptions {
        target: a.target.clone(),
        includes: a.includes.clone(),
        excludes: a.excludes.clone(),
        overwrite: a.overwrite.map(Overwrite::from).unwrap_or_default(),
        delete: a.delete,
        verify: a.verify,
        dry_run: a.dry_run,
        no_owner: a.no_owner,
        no_special: a.no_special,
    };
    let progress = Arc::new(RestoreProgress::default());
    let p = Arc::clone(&progress);
    // Before writing starts (planning, comparing with what TARGET holds) no total is known yet.
    let ticker = Ticker::meter(g.show_progress() && !a.dry_run, move || {
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let (bytes_total, files_total) = (n(&p.bytes_total), n(&p.files_total));
        let known = bytes_total > 0 || files_total > 0;
        Reading {
            stage: None,
            bytes: n(&p.bytes_done),
            bytes_total: known.then_some(bytes_total),
            items: n(&p.files_done),
            items_total: known.then_some(files_total),
            unit: "files",
        }
    });
    let result = restore(&repo, &snap, &opts, &progress);
    drop(ticker);
    let out = result?;
    if g.json {
        println!("{}", json(&id.to_hex(), a.dry_run, &out));
    } else if !g.quiet {
        print_text(g, a, &id.short(), &out);
    }
    if !g.quiet {
        for w in &out.warnings {
            eprintln!("snap: warning: {w}");
        }
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
        if mark {
            once::mark_done(&a.target, &Marker { time: jiff::Timestamp::now().to_string(), ..marker })?;
        }
        Ok(ExitCode::SUCCESS)
    } else {
        Err(anyhow::anyhow!("{} entr{} could not be restored (listed above)", out.errors.len(), if out.errors.len() == 1 { "y" } else { "ies" }))
    }
}

fn json(id: &str, dry_run: bool, out: &RestoreOutcome) -> serde_json::Value {
    let mut v = serde_json::json!({
        "snapshot_id": id,
        "dry_run": dry_run,
        "files": out.files,
        "dirs": out.dirs,
        "links": out.links,
        "bytes": out.bytes,
        "written": out.written,
        "updated": out.updated,
        "unchanged": out.unchanged,
        "deleted": out.deleted,
        "bytes_written": out.bytes_written,
        "verified": out.verified,
        "not_restored": out.not_restored,
        "warnings": out.warnings,
        "errors": out.errors,
    });
    if dry_run && let Some(o) = v.as_object_mut() {
        o.insert("actions".into(), serde_json::json!(out.actions));
    }
    v
}

fn print_text(g: &GlobalArgs, a: &Args, id: &str, out: &RestoreOutcome) {
    if a.dry_run {
        for act in &out.actions {
            let verb = match act.action {
                ActionKind::Write => "write",
                ActionKind::Update => "update",
                ActionKind::Delete => "delete",
                ActionKind::Keep if g.verbose > 0 => "keep",
                ActionKind::Keep => continue,
            };
            println!("{verb:<7} {} ({}, {})", act.path, act.kind, act.reason.as_str());
        }
        println!(
            "dry run of snapshot {id} into {}: would write {} entries ({}), update {}, delete {}, leave {} alone",
            a.target.display(),
            out.written,
            human(out.bytes_written),
            out.updated,
            out.deleted,
            out.unchanged
        );
        return;
    }
    let verified = if a.verify { format!(", verified {} files", out.verified) } else { String::new() };
    println!(
        "restored snapshot {id}: {} files, {} dirs, {} links, {} to {}; wrote {} entries ({}), updated {}, left {} alone, deleted {}{verified}",
        out.files,
        out.dirs,
        out.links,
        human(out.bytes),
        a.target.display(),
        out.written,
        human(out.bytes_written),
        out.updated,
        out.unchanged,
        out.deleted
    );
}

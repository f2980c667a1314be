//! `snap backup`: paths and/or one stream into one snapshot; exit 3 when some files could not be
//! read.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use snap::ops::backup::{backup, estimate, BackupOptions, Progress, StreamSource, StreamSpec};

use super::{human, GlobalArgs, Reading, Ticker};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files and directories to back up
    paths: Vec<PathBuf>,
    /// Also back up standard input as /<stdin-filename>
    #[arg(long, conflicts_with = "stdin_from_command")]
    stdin: bool,
    /// Back up the output of the command after `--` as /<stdin-filename>; fails if it fails
    #[arg(long)]
    stdin_from_command: bool,
    /// Name of the stream inside the snapshot
    #[arg(long, default_value = "stdin")]
    stdin_filename: String,
    /// Tag the snapshot (repeatable)
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Hostname to record (default: this machine's)
    #[arg(long)]
    host: Option<String>,
    /// Snapshot time, "YYYY-MM-DD HH:MM:SS" in local time (default: now)
    #[arg(long)]
    time: Option<String>,
    /// Exclude paths matching this glob; with a `/` it matches the absolute path, else the name
    #[arg(long = "exclude")]
    excludes: Vec<String>,
    /// Read exclude globs from a file, one per line (# comments)
    #[arg(long = "exclude-file")]
    exclude_files: Vec<PathBuf>,
    /// Do not cross into other filesystems
    #[arg(long, short = 'x')]
    one_file_system: bool,
    /// Read and chunk everything, but write nothing
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// The command whose output is backed up (with --stdin-from-command)
    #[arg(last = true)]
    command: Vec<OsString>,
}

pub fn parse_time(s: &str) -> Result<jiff::Zoned> {
    let dt: jiff::civil::DateTime = s.parse().with_context(|| format!("--time {s:?} is not \"YYYY-MM-DD HH:MM:SS\""))?;
    dt.to_zoned(jiff::tz::TimeZone::system()).with_context(|| format!("--time {s:?} does not exist in the local time zone"))
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let stream = if a.stdin {
        Some(StreamSpec::new(a.stdin_filename.clone(), StreamSource::Stdin))
    } else if a.stdin_from_command {
        if a.command.is_empty() {
            bail!("--stdin-from-command needs a command after --, e.g. -- pg_dump mydb");
        }
        Some(StreamSpec::new(a.stdin_filename.clone(), StreamSource::Command { argv: a.command.clone(), env: Vec::new(), unset: Vec::new() }))
    } else {
        if !a.command.is_empty() {
            bail!("a command after -- needs --stdin-from-command");
        }
        None
    };
    let opts = BackupOptions {
        paths: a.paths.clone(),
        streams: stream.into_iter().collect(),
        tags: a.tags.clone(),
        host: a.host.clone(),
        time: a.time.as_deref().map(parse_time).transpose()?,
        excludes: a.excludes.clone(),
        exclude_files: a.exclude_files.clone(),
        one_file_system: a.one_file_system,
        dry_run: a.dry_run,
        job: None,
        databases: Vec::new(),
    };
    let (repo, lock) = g.open()?;
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&cancel)).context("installing signal handler")?;
    }
    let show = g.show_progress();
    let progress = Arc::new(Progress::default());
    let p = Arc::clone(&progress);
    // Files read plus files found unchanged, against what a walk beside the backup counts (for
    // files only: a stream's size is unknown until it ends).
    let totals = opts.streams.is_empty();
    let ticker = Ticker::meter(show, move || {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let known = totals && p.estimate_done.load(Ordering::Relaxed);
        Reading {
            stage: None,
            bytes: n(&p.bytes_read) + n(&p.bytes_skipped),
            bytes_total: known.then(|| n(&p.bytes_estimate)),
            items: n(&p.files_done) + n(&p.files_skipped),
            items_total: known.then(|| n(&p.files_estimate)),
            unit: "files",
        }
    });
    let stop_estimate = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        if show && totals {
            // Its errors are the backup's too, and reported by it.
            s.spawn(|| estimate(&opts, &progress, &stop_estimate));
        }
        let result = backup(&repo, &opts, &progress, &cancel, &lock);
        stop_estimate.store(true, Ordering::Relaxed);
        result
    });
    drop(ticker);
    let out = result?;
    let s = &out.snapshot.summary;
    if g.json {
        let v = serde_json::json!({
            "snapshot_id": out.id.map(|i| i.to_hex()),
            "parent": out.snapshot.parent.map(|i| i.to_hex()),
            "dry_run": a.dry_run,
            "time": out.snapshot.time,
            "files_new": s.files_new,
            "files_changed": s.files_changed,
            "files_unchanged": s.files_unchanged,
            "dirs": s.dirs,
            "bytes_read": s.bytes_read,
            "bytes_total": s.bytes_total,
            "blobs_added": s.blobs_added,
            "bytes_added": s.bytes_added,
            "bytes_stored": s.bytes_stored,
            "duration_secs": s.duration_secs,
            "errors": out.errors,
            "warnings": out.warnings,
        });
        println!("{v}");
    } else if !g.quiet {
        println!("files: {} new, {} changed, {} unchanged; {} dirs", s.files_new, s.files_changed, s.files_unchanged, s.dirs);
        println!("read {} of {}; added {} ({} stored) in {:.1}s", human(s.bytes_read), human(s.bytes_total), human(s.bytes_added), human(s.bytes_stored), s.duration_secs);
        match out.id {
            Some(id) => println!("snapshot {} saved", id.short()),
            None => println!("dry run: nothing was written"),
        }
    }
    for w in &out.warnings {
        eprintln!("warning: {w}");
    }
    for e in &out.errors {
        eprintln!("error: {e}");
    }
    if out.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("snap: snapshot saved, but {} file(s) could not be read (listed above)", out.errors.len());
        Ok(ExitCode::from(3))
    }
}

//! `snap run JOB... | --all`: carry out jobs of the config file, one after another; exit non-zero
//! if any failed (each still runs), with the worst job's code (failed 1 > interrupted 130 >
//! locked 11 > partial 3).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use snap::error::Error;
use snap::job::run::{run_job, RunOptions, RunOutcome};
use snap::job::status::Outcome;

use super::config::StateArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
#[command(after_help = "Order of a run: the job's lock; `before` hooks (one failing stops the run); one \
snapshot of every path and every database dump; `after` hooks (always, once the run started); \
retention in the job's repository; for each `copy_to` repository the snapshots it lacks, then \
its own retention; the check; then `on_success` or `on_error`. Hooks run with `sh -c`; \
{job}, {snapshot}, {repository} and {error} are replaced by their shell-quoted values, which are \
also in SNAP_JOB, SNAP_SNAPSHOT, SNAP_REPOSITORY_NAME and SNAP_ERROR.")]
pub struct Args {
    #[command(flatten)]
    state: StateArgs,
    /// The jobs to run, by name
    jobs: Vec<String>,
    /// Run every job of the config file
    #[arg(long, conflicts_with = "jobs")]
    all: bool,
    /// Record the snapshot at this time instead of now ("YYYY-MM-DD HH:MM:SS", local time)
    #[arg(long)]
    time: Option<String>,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (_, config) = a.state.load()?;
    let names: Vec<String> = if a.all { config.jobs.keys().cloned().collect() } else { a.jobs.clone() };
    if names.is_empty() {
        bail!("name the jobs to run, or give --all");
    }
    let jobs = names.iter().map(|n| config.job(n).cloned()).collect::<Result<Vec<_>, _>>()?;
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&cancel)).context("installing signal handler")?;
    }
    let opts = RunOptions { cache_root: g.cache_root()?, time: a.time.as_deref().map(super::backup::parse_time).transpose()? };
    let quiet = g.quiet || g.json;
    let mut worst = 0u8;
    let mut results = Vec::new();
    for job in &jobs {
        let name = job.name.clone();
        let log = move |line: &str| {
            if !quiet {
                eprintln!("snap: job {name}: {line}");
            }
        };
        let code = match run_job(&config, job, &opts, &cancel, &log) {
            Ok(out) => {
                let code = report(g, &out);
                results.push(serde_json::to_value(&out.status)?);
                code
            }
            Err(e) => {
                eprintln!("snap: job {}: {e}", job.name);
                if matches!(e, Error::Locked(_)) { 11 } else { 1 }
            }
        };
        if severity(code) > severity(worst) {
            worst = code;
        }
    }
    if g.json {
        println!("{}", serde_json::Value::Array(results));
    }
    Ok(ExitCode::from(worst))
}

/// How bad an exit code is, to pick the one `snap run` of several jobs exits with: a failed job
/// outweighs an interrupted one, which outweighs a locked one, which outweighs a partial one.
fn severity(code: u8) -> u8 {
    match code {
        0 => 0,
        3 => 1,
        11 => 2,
        130 => 3,
        _ => 4,
    }
}

/// Prints one job's outcome; its exit code.
fn report(g: &GlobalArgs, out: &RunOutcome) -> u8 {
    let s = &out.status;
    for w in &out.warnings {
        if !g.quiet {
            eprintln!("warning: {w}");
        }
    }
    for e in &out.file_errors {
        eprintln!("error: {e}");
    }
    if let Some(e) = &out.error {
        eprintln!("snap: job {} failed: {e}", s.job);
        return if matches!(e, Error::Interrupted) { 130 } else { 1 };
    }
    if !g.quiet && !g.json {
        println!("job {}: snapshot {} saved in {:.1}s", s.job, s.snapshot.as_deref().map_or("-", |id| &id[..8]), s.duration_secs);
    }
    if s.outcome == Outcome::Partial {
        eprintln!("snap: job {}: snapshot saved, but {} file(s) could not be read (listed above)", s.job, out.file_errors.len());
        return 3;
    }
    0
}

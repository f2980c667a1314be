//! `snap drill JOB`: restore a job's latest snapshot into scratch space, load its databases
//! into scratch servers, verify, and report the recovery time and point reached; `--history`
//! lists the drills stored in the repository.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};

use snap::format::drill::DrillReport;
use snap::job::drill::{drill, history, DrillOptions};
use snap::units::duration as human;

use super::config::StateArgs;
use super::GlobalArgs;

/// Exit code of a drill that ran but failed a check or missed an objective.
const DRILL_FAILED: u8 = 4;

#[derive(clap::Args, Debug)]
#[command(after_help = "A drill restores the job's latest snapshot into a scratch directory (every blob \
verified) and compares it with the snapshot, loads each database dump into a scratch server of its \
kind (PostgreSQL from initdb, MariaDB from mariadb-install-db, SQLite into a file) and runs the \
job's verify queries, runs the drill command, and measures the recovery point (the snapshot's age) \
and recovery time (the drill's wall time) against the job's objectives. Nothing live is touched. \
The report is stored, encrypted, in the repository drilled. Exit 0: every check passed and both \
objectives were met; 4: the drill ran and failed; 1: it could not run.")]
pub struct Args {
    #[command(flatten)]
    state: StateArgs,
    /// The job to drill
    job: String,
    /// Restore from this repository of the config (default: the drill's `from`, else the job's)
    #[arg(long)]
    from: Option<String>,
    /// Drill this snapshot (id or prefix) instead of the job's latest
    #[arg(long)]
    snapshot: Option<String>,
    /// Put the scratch directory under DIR (default: drill.scratch, else <state_dir>/drill)
    #[arg(long, value_name = "DIR")]
    scratch: Option<std::path::PathBuf>,
    /// Leave the scratch directory in place
    #[arg(long)]
    keep: bool,
    /// Measure the recovery point against this time instead of now ("YYYY-MM-DD HH:MM:SS")
    #[arg(long)]
    time: Option<String>,
    /// List the drills of the job stored in the repository instead of running one
    #[arg(long)]
    history: bool,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (_, config) = a.state.load()?;
    let job = config.job(&a.job)?.clone();
    if a.history {
        let (reports, warnings) = history(&config, &job, a.from.as_deref(), &g.cache_root()?)?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
        if g.json {
            println!("{}", serde_json::to_string(&reports)?);
        } else {
            println!("{:<26} {:<9} {:<8} {:>10} {:>10}  result", "started", "snapshot", "repo", "rpo", "rto");
            for r in &reports {
                println!(
                    "{:<26} {:<9} {:<8} {:>10} {:>10}  {}",
                    r.started,
                    r.snapshot.get(..8).unwrap_or("-"),
                    r.repository,
                    r.rpo_secs.map_or("-".into(), human),
                    r.rto_secs.map_or("-".into(), human),
                    if r.passed { "passed".to_string() } else { format!("FAILED: {}", r.errors.first().map_or("", String::as_str)) }
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cancel = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&cancel)).context("installing signal handler")?;
    }
    let opts = DrillOptions {
        from: a.from.clone(),
        snapshot: a.snapshot.clone(),
        scratch: a.scratch.clone(),
        keep: a.keep,
        now: a.time.as_deref().map(super::backup::parse_time).transpose()?.map(|z| z.timestamp()),
        cache_root: g.cache_root()?,
    };
    let quiet = g.quiet || g.json;
    let name = job.name.clone();
    let log = move |line: &str| {
        if !quiet {
            eprintln!("snap: drill {name}: {line}");
        }
    };
    let out = drill(&config, &job, &opts, &cancel, &log)?;
    if let Some(e) = &out.store_error {
        eprintln!("warning: the drill report could not be stored in the repository: {e}");
    }
    if g.json {
        println!("{}", serde_json::to_string(&out.report)?);
    } else if !g.quiet {
        print_summary(&out.report);
    }
    if out.interrupted {
        eprintln!("snap: drill {}: interrupted", job.name);
        return Ok(ExitCode::from(130));
    }
    if !out.report.passed {
        eprintln!("snap: drill {} failed: {}", job.name, out.report.errors.first().map_or("no check ran", String::as_str));
        return Ok(ExitCode::from(DRILL_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(r: &DrillReport) {
    println!("drill of job {} from repository {}: {}", r.job, r.repository, if r.passed { "PASSED" } else { "FAILED" });
    if !r.snapshot.is_empty() {
        println!("  snapshot   {} of {}", r.snapshot.get(..8).unwrap_or(""), r.snapshot_time);
    }
    let objective = |reached: Option<f64>, target: Option<f64>| match (reached, target) {
        (Some(v), Some(t)) => format!("{} (objective {}{})", human(v), human(t), if v > t { ", MISSED" } else { "" }),
        (Some(v), None) => format!("{} (no objective)", human(v)),
        (None, _) => "-".to_string(),
    };
    println!("  rpo        {}", objective(r.rpo_secs, r.rpo_target_secs));
    println!("  rto        {}", objective(r.rto_secs, r.rto_target_secs));
    for p in &r.phases {
        println!("    {:<28} {:>8}{}", p.name, human(p.secs), if p.ok { "" } else { "  failed" });
    }
    for c in &r.checks {
        println!("  {} {:<18} {}", if c.ok { "ok  " } else { "FAIL" }, c.name, c.detail);
    }
}

//! `snap daemon`: the scheduler as a service. Signals become the scheduler's requests (SIGHUP:
//! reload; SIGTERM, SIGINT: stop), and each of its events is one line on stderr, where journald
//! picks it up, and a message to systemd when it runs under `Type=notify`.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};

use snap::job::daemon::{notify_systemd, Control, Daemon, Event, SystemClock};
use snap::job::drill::{drill, DrillOptions};
use snap::job::run::{run_job, RunOptions};
use snap::job::{Config, JobSpec};

use super::config::StateArgs;
use super::GlobalArgs;

#[derive(clap::Args, Debug)]
#[command(after_help = "Runs every job that has a `schedule` at its times, in its zone, one job at a \
time; a job that comes due while another runs goes right after it. With `catch_up = true` a run \
missed while the daemon was down runs once at start. SIGHUP reads the config file again (a file \
that does not load is refused and the running config stays); SIGTERM or SIGINT interrupts the \
running job (its `after` hooks still run), waits for it, and exits 0. Under systemd use \
Type=notify: see tools/systemd/snap.service.")]
pub struct Args {
    #[command(flatten)]
    state: StateArgs,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    let (path, config) = a.state.load()?;
    // A reload reads the same file, with the same override.
    let mut reload = || -> snap::Result<Config> {
        let mut config = Config::load(&path)?;
        a.state.apply(&mut config);
        Ok(config)
    };
    let control = Control::default();
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&control.reload)).context("installing the SIGHUP handler")?;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&control.stop)).context("installing the stop handlers")?;
    }
    let opts = RunOptions { cache_root: g.cache_root()?, time: None };
    let quiet = g.quiet;
    let mut run = |config: &Config, job: &JobSpec, cancel: &AtomicBool| {
        let log = |line: &str| {
            if !quiet {
                eprintln!("snap: job {}: {line}", job.name);
            }
        };
        run_job(config, job, &opts, cancel, &log)
    };
    let mut drill_one = |config: &Config, job: &JobSpec, cancel: &AtomicBool| {
        let log = |line: &str| {
            if !quiet {
                eprintln!("snap: drill {}: {line}", job.name);
            }
        };
        let dopts = DrillOptions { cache_root: opts.cache_root.clone(), ..DrillOptions::default() };
        drill(config, job, &dopts, cancel, &log)
    };
    let mut event = |e: &Event<'_>| {
        notify_systemd(e);
        eprintln!("snap: {e}");
    };
    Daemon { clock: &SystemClock, control: &control, run: &mut run, drill: &mut drill_one, reload: &mut reload, event: &mut event }.serve(config);
    Ok(ExitCode::SUCCESS)
}

//! `snap daemon`'s scheduler: it runs each scheduled job of the config file at its cron times,
//! in the job's zone, until it is asked to stop, and reads the config file again when asked to.
//! The clock and the job runner are passed in ([`Clock`], [`Daemon::run`]), so tests drive days
//! of schedule in microseconds and the same loop runs in production.
//!
//! # Rules
//! - **One job at a time.** Jobs that share a repository would queue on its lock, and every job
//!   competes for the same disks and CPUs; on the small servers snap is made for, running jobs
//!   one after another is the simplest choice that is always correct. So a job that comes due
//!   while another runs waits, and runs right after it; waiting jobs run in the order they came
//!   due (by name when equal).
//! - **A job never overlaps itself**: the daemon never starts a second job while one runs, and
//!   the runner's lock refuses the scheduled run while a run started by hand (`snap run`) holds
//!   it; the daemon then logs that the run did not start and waits for the next time.
//! - **Missed times are not queued.** A job that waited through several of its times runs once,
//!   and its next run is its first time after that run ended. A time that passes while the job
//!   itself runs is skipped: the run that just ended is as fresh as that one would have been.
//! - **catch_up**: at start, a job whose status record shows its last attempt before one of its
//!   scheduled times that has since passed (the daemon was down then) runs once at once. Without
//!   `catch_up` the missed run is only logged. A job with no status record has never run, so
//!   nothing is known to be missed, and it waits for its first time.
//! - **Reload** ([`Control::reload`]): the config file is read again. A file that does not load
//!   is refused (an event says why) and the old config keeps running. Jobs whose schedule and
//!   zone did not change keep their next time (also when they are waiting to run); new or
//!   changed ones get the next time of their schedule. A reload asked for during a run happens
//!   when the run ends.
//! - **Stop** ([`Control::stop`]): no new run starts. The stop flag is the running job's
//!   `cancel` flag, so the runner interrupts the backup and still runs the `after` hooks; the
//!   daemon waits for that run to return, then [`Daemon::serve`] returns.
//!
//! Every decision is an [`Event`], which the caller logs; [`notify_systemd`] turns events into
//! `sd_notify` messages (READY, STATUS, RELOADING, STOPPING).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::config::{Config, JobSpec};
use super::drill::DrillOutcome;
use super::run::RunOutcome;
use super::status::{self, Outcome};
use crate::error::{Error, Result};

/// Requests to a running scheduler; signal handlers set them (`signal_hook::flag::register`).
#[derive(Debug, Default, Clone)]
pub struct Control {
    /// Stop: start nothing more, and cancel the running job (this is its `cancel` flag).
    pub stop: Arc<AtomicBool>,
    /// Read the config file again.
    pub reload: Arc<AtomicBool>,
}

impl Control {
    /// Whether a stop or a reload is waiting to be handled: a sleeping scheduler wakes for it.
    #[must_use]
    pub fn pending(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.reload.load(Ordering::SeqCst)
    }
}

/// Where the scheduler gets the time from and how it waits.
pub trait Clock {
    /// Now.
    fn now(&self) -> Timestamp;
    /// Waits until `until` (with `None`, until a request), returning early once `control` has a
    /// stop or reload request ([`Control::pending`]).
    fn sleep_until(&self, until: Option<Timestamp>, control: &Control);
}

/// The system's clock. It waits in short slices so that a signal is acted on quickly, and so
/// that a wall clock set forward or back (NTP, a suspended VM) is noticed within a slice.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// The longest the system clock sleeps before it looks at the requests and the time again.
const SLICE: Duration = Duration::from_millis(200);

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, until: Option<Timestamp>, control: &Control) {
        while !control.pending() {
            let left = match until {
                Some(t) => match Duration::try_from(t.duration_since(Timestamp::now())) {
                    Ok(d) if !d.is_zero() => d,
                    _ => return,
                },
                None => SLICE,
            };
            std::thread::sleep(left.min(SLICE));
        }
    }
}

/// What the scheduler did or decided; [`fmt::Display`] gives the line to log.
#[derive(Debug)]
pub enum Event<'a> {
    /// The config is loaded and scheduling begins.
    Started { scheduled: usize, manual: usize },
    /// A scheduled time passed while the daemon was not running; with `catch_up` the job runs
    /// now.
    Missed { job: &'a str, missed: Zoned, catch_up: bool },
    /// The soonest run; the daemon sleeps until then (or a request).
    Next { job: &'a str, at: Zoned },
    /// No job has a time to run at: only a reload or a stop wakes the daemon.
    Idle,
    /// A run starts; `due` is the time it was scheduled for.
    Starting { job: &'a str, due: Zoned },
    /// A run ended; its outcome is in the job's status record too.
    Finished { job: &'a str, outcome: &'a RunOutcome },
    /// The soonest task is a job's drill.
    NextDrill { job: &'a str, at: Zoned },
    /// A drill of the job starts (`drill.schedule`).
    DrillStarting { job: &'a str, due: Zoned },
    /// A drill ended; its report is in the repository and the state directory.
    DrillFinished { job: &'a str, outcome: &'a DrillOutcome },
    /// A run did not start: the job is running already (started by hand), or its state
    /// directory cannot be written.
    NotStarted { job: &'a str, error: &'a Error },
    /// A reload was asked for; the config file is read again.
    Reloading,
    /// The new config is in force.
    Reloaded { scheduled: usize, manual: usize },
    /// The new config did not load; the old one keeps running.
    ReloadRefused { error: &'a Error },
    /// A stop was asked for; `interrupted` is the job that was running then, now ended.
    Stopping { interrupted: Option<&'a str> },
    /// Nothing runs any more; the daemon exits.
    Stopped,
}

/// `Thu 2026-12-03 02:30:00 +01:00`.
fn when(t: &Zoned) -> String {
    t.strftime("%a %Y-%m-%d %H:%M:%S %:z").to_string()
}

fn jobs(scheduled: usize, manual: usize) -> String {
    let s = if scheduled == 1 { "" } else { "s" };
    let m = if manual == 1 { "job runs" } else { "jobs run" };
    format!("{scheduled} scheduled job{s}, {manual} {m} only when started by hand")
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Started { scheduled, manual } => write!(f, "daemon started: {}", jobs(*scheduled, *manual)),
            Self::Missed { job, missed, catch_up: true } => {
                write!(f, "job {job}: its run at {} was missed while the daemon was not running; catch_up: running it now", when(missed))
            }
            Self::Missed { job, missed, catch_up: false } => {
                write!(f, "job {job}: its run at {} was missed while the daemon was not running; skipped (catch_up is off)", when(missed))
            }
            Self::Next { job, at } => write!(f, "next: job {job} at {}", when(at)),
            Self::Idle => f.write_str("no job has a time to run at; waiting for a reload or a stop"),
            Self::Starting { job, due } => write!(f, "job {job}: starting the run due at {}", when(due)),
            Self::Finished { job, outcome } => {
                let s = &outcome.status;
                let snapshot = s.snapshot.as_deref().map_or("-", |id| id.get(..8).unwrap_or(id));
                match (&outcome.error, s.outcome) {
                    (Some(e), _) => write!(f, "job {job}: failed after {:.1}s: {e}", s.duration_secs),
                    (None, Outcome::Partial) => write!(
                        f,
                        "job {job}: snapshot {snapshot} saved in {:.1}s, but {} file(s) could not be read",
                        s.duration_secs,
                        outcome.file_errors.len()
                    ),
                    (None, _) => write!(f, "job {job}: snapshot {snapshot} saved in {:.1}s", s.duration_secs),
                }
            }
            Self::NotStarted { job, error } => write!(f, "job {job}: not started: {error}"),
            Self::NextDrill { job, at } => write!(f, "next: drill of job {job} at {}", when(at)),
            Self::DrillStarting { job, due } => write!(f, "job {job}: starting the drill due at {}", when(due)),
            Self::DrillFinished { job, outcome } => {
                let r = &outcome.report;
                let rto = r.rto_secs.map_or("-".to_string(), crate::units::duration);
                let rpo = r.rpo_secs.map_or("-".to_string(), crate::units::duration);
                match r.errors.first() {
                    None if r.passed => write!(f, "job {job}: drill passed: recovery time {rto}, recovery point {rpo}"),
                    first => write!(f, "job {job}: drill FAILED: {}", first.map_or(if outcome.interrupted { "interrupted" } else { "no check ran" }, String::as_str)),
                }
            }
            Self::Reloading => f.write_str("reload requested: reading the config file again"),
            Self::Reloaded { scheduled, manual } => write!(f, "config reloaded: {}", jobs(*scheduled, *manual)),
            Self::ReloadRefused { error } => write!(f, "new config refused, the running one stays in force: {error}"),
            Self::Stopping { interrupted: Some(job) } => write!(f, "stop requested: job {job} was interrupted and has ended; stopping"),
            Self::Stopping { interrupted: None } => f.write_str("stop requested; stopping"),
            Self::Stopped => f.write_str("daemon stopped"),
        }
    }
}

/// The `sd_notify` messages for `event`, as `KEY=value` lines: READY=1 once a config is in
/// force (at start and after every reload, accepted or refused), RELOADING=1 with the
/// monotonic time systemd 253 and later require, STOPPING=1, and a STATUS= line saying what
/// the daemon does or waits for.
#[must_use]
pub fn notify_states(event: &Event<'_>) -> Vec<String> {
    let status = |s: String| format!("STATUS={s}");
    match event {
        Event::Started { .. } | Event::Reloaded { .. } | Event::ReloadRefused { .. } => vec!["READY=1".to_string(), status(event.to_string())],
        Event::Reloading => {
            let usec = sd_notify::NotifyState::monotonic_usec_now().map(|m| m.to_string()).ok();
            std::iter::once("RELOADING=1".to_string()).chain(usec).collect()
        }
        Event::Next { .. } | Event::Idle => vec![status(event.to_string())],
        Event::Starting { job, .. } => vec![status(format!("running job {job}"))],
        Event::NextDrill { .. } => vec![status(event.to_string())],
        Event::DrillStarting { job, .. } => vec![status(format!("drilling job {job}"))],
        Event::Stopping { .. } => vec!["STOPPING=1".to_string(), status(event.to_string())],
        Event::Missed { .. } | Event::Finished { .. } | Event::DrillFinished { .. } | Event::NotStarted { .. } | Event::Stopped => Vec::new(),
    }
}

/// Tells systemd about `event` ([`notify_states`]); nothing happens without `NOTIFY_SOCKET`,
/// and a failure to send is ignored (the daemon works the same without its manager knowing).
pub fn notify_systemd(event: &Event<'_>) {
    let lines = notify_states(event);
    if lines.is_empty() {
        return;
    }
    let states: Vec<sd_notify::NotifyState<'_>> = lines.iter().map(|l| sd_notify::NotifyState::Custom(l)).collect();
    let _ = sd_notify::notify(false, &states);
}

/// The scheduler and what it acts through.
pub struct Daemon<'a> {
    pub clock: &'a dyn Clock,
    pub control: &'a Control,
    /// Runs one job (in production [`super::run::run_job`]); `cancel` is [`Control::stop`].
    pub run: &'a mut dyn FnMut(&Config, &JobSpec, &AtomicBool) -> Result<RunOutcome>,
    /// Runs one drill of a job (in production [`super::drill::drill`]), when its
    /// `drill.schedule` comes due; `cancel` is [`Control::stop`].
    pub drill: &'a mut dyn FnMut(&Config, &JobSpec, &AtomicBool) -> Result<DrillOutcome>,
    /// Reads the config file again.
    pub reload: &'a mut dyn FnMut() -> Result<Config>,
    /// Hears every [`Event`].
    pub event: &'a mut dyn FnMut(&Event<'_>),
}

/// What the scheduler starts: a job's run, or its drill. Runs sort first, so a run and a drill
/// of one job due at the same time run in that order (the drill then restores the new snapshot).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Task {
    Run(String),
    Drill(String),
}

impl Task {
    fn job(&self) -> &str {
        match self {
            Self::Run(j) | Self::Drill(j) => j,
        }
    }

    /// The task's next time after `after`, by the job's schedule or its drill's.
    fn next_after(&self, job: &JobSpec, after: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Run(_) => job.next_run(after),
            Self::Drill(_) => job.drill.as_ref()?.schedule.as_ref()?.next_after(after, &job.zone),
        }
    }
}

/// When each scheduled task runs next; a job without a schedule, or whose schedule matches no
/// later time, is not in it.
type Plan = BTreeMap<Task, Timestamp>;

/// How many jobs of `config` have a schedule, and how many not.
fn counts(config: &Config) -> (usize, usize) {
    let scheduled = config.jobs.values().filter(|j| j.schedule.is_some()).count();
    (scheduled, config.jobs.len() - scheduled)
}

/// The job's last attempt, from its status record in the state directory.
fn last_attempt(config: &Config, job: &JobSpec) -> Option<Timestamp> {
    status::load(&config.state_dir, &job.name)?.last_attempt.parse().ok()
}

impl Daemon<'_> {
    /// Schedules the jobs of `config` until [`Control::stop`] is set; returns once the job that
    /// was running then has ended.
    pub fn serve(&mut self, mut config: Config) {
        let (scheduled, manual) = counts(&config);
        (self.event)(&Event::Started { scheduled, manual });
        let mut plan = self.first_plan(&config);
        let mut interrupted: Option<String> = None;
        while !self.control.stop.load(Ordering::SeqCst) {
            if self.control.reload.swap(false, Ordering::SeqCst) {
                self.reload_config(&mut config, &mut plan);
                continue;
            }
            let now = self.clock.now();
            let due = plan.iter().filter(|(_, t)| **t <= now).min_by_key(|(task, t)| (**t, *task)).map(|(k, t)| (k.clone(), *t));
            let Some((task, due)) = due else {
                self.wait(&config, &plan);
                continue;
            };
            let name = task.job().to_string();
            let Some(job) = config.jobs.get(&name) else {
                plan.remove(&task);
                continue;
            };
            let at = due.to_zoned(job.zone.clone());
            match &task {
                Task::Run(_) => {
                    (self.event)(&Event::Starting { job: &name, due: at });
                    match (self.run)(&config, job, &self.control.stop) {
                        Ok(outcome) => (self.event)(&Event::Finished { job: &name, outcome: &outcome }),
                        Err(error) => (self.event)(&Event::NotStarted { job: &name, error: &error }),
                    }
                }
                Task::Drill(_) => {
                    (self.event)(&Event::DrillStarting { job: &name, due: at });
                    match (self.drill)(&config, job, &self.control.stop) {
                        Ok(outcome) => (self.event)(&Event::DrillFinished { job: &name, outcome: &outcome }),
                        Err(error) => (self.event)(&Event::NotStarted { job: &name, error: &error }),
                    }
                }
            }
            if self.control.stop.load(Ordering::SeqCst) {
                interrupted = Some(name.clone());
            }
            // Times that passed meanwhile are not queued (a clock set back cannot bring `due`
            // round again either).
            let ended = self.clock.now().max(due);
            match task.next_after(job, ended) {
                Some(t) => plan.insert(task, t),
                None => plan.remove(&task),
            };
        }
        (self.event)(&Event::Stopping { interrupted: interrupted.as_deref() });
        (self.event)(&Event::Stopped);
    }

    /// The first time of each scheduled job: a run missed while the daemon was down runs at
    /// once with `catch_up`; otherwise the job's next time from now.
    fn first_plan(&mut self, config: &Config) -> Plan {
        let now = self.clock.now();
        let mut plan = Plan::new();
        for job in config.jobs.values() {
            let Some(schedule) = &job.schedule else { continue };
            let missed = last_attempt(config, job).and_then(|last| schedule.next_after(last, &job.zone)).filter(|t| *t <= now);
            if let Some(missed) = missed {
                (self.event)(&Event::Missed { job: &job.name, missed: missed.to_zoned(job.zone.clone()), catch_up: job.catch_up });
                if job.catch_up {
                    plan.insert(Task::Run(job.name.clone()), missed);
                    continue;
                }
            }
            if let Some(t) = schedule.next_after(now, &job.zone) {
                plan.insert(Task::Run(job.name.clone()), t);
            }
        }
        // Drills are not caught up: the next one proves the same thing.
        for job in config.jobs.values() {
            let task = Task::Drill(job.name.clone());
            if let Some(t) = task.next_after(job, now) {
                plan.insert(task, t);
            }
        }
        plan
    }

    /// Sleeps until the soonest run, or a request.
    fn wait(&mut self, config: &Config, plan: &Plan) {
        let soonest = plan.iter().min_by_key(|(task, t)| (**t, *task));
        match soonest {
            Some((task, at)) => {
                let job = task.job();
                let at = at.to_zoned(config.jobs.get(job).map_or(TimeZone::UTC, |j| j.zone.clone()));
                match task {
                    Task::Run(_) => (self.event)(&Event::Next { job, at }),
                    Task::Drill(_) => (self.event)(&Event::NextDrill { job, at }),
                }
            }
            None => (self.event)(&Event::Idle),
        }
        self.clock.sleep_until(soonest.map(|(_, t)| *t), self.control);
    }

    /// Reads the config again; keeps the old one when the new one does not load.
    fn reload_config(&mut self, config: &mut Config, plan: &mut Plan) {
        (self.event)(&Event::Reloading);
        let new = match (self.reload)() {
            Ok(new) => new,
            Err(error) => {
                (self.event)(&Event::ReloadRefused { error: &error });
                return;
            }
        };
        let now = self.clock.now();
        let mut fresh = Plan::new();
        for job in new.jobs.values() {
            let drill_schedule = |j: &JobSpec| j.drill.as_ref().and_then(|d| d.schedule.clone());
            let old = config.jobs.get(&job.name);
            for (task, unchanged) in [
                (Task::Run(job.name.clone()), old.is_some_and(|o| o.schedule == job.schedule && o.zone == job.zone)),
                (Task::Drill(job.name.clone()), old.is_some_and(|o| drill_schedule(o) == drill_schedule(job) && o.zone == job.zone)),
            ] {
                let next = if unchanged { plan.get(&task).copied() } else { task.next_after(job, now) };
                if let Some(t) = next {
                    fresh.insert(task, t);
                }
            }
        }
        *config = new;
        *plan = fresh;
        let (scheduled, manual) = counts(config);
        (self.event)(&Event::Reloaded { scheduled, manual });
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::path::Path;

    use super::*;
    use crate::job::status::JobStatus;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// What happens at a time of the simulation.
    #[derive(Clone)]
    enum Action {
        Stop,
        /// Replace the config file with this text and ask for a reload.
        Reload(String),
    }

    /// A clock that jumps: sleeping moves it to the wake-up time, or to the first scripted
    /// action before it (which sets its request); a job's run moves it on by the run's length,
    /// acting on the scripted actions it passes.
    struct FakeClock {
        now: Cell<Timestamp>,
        script: RefCell<Vec<(Timestamp, Action)>>,
        control: Control,
        /// The config file's text, as a reload reads it.
        file: RefCell<String>,
    }

    impl FakeClock {
        /// Acts on the first scripted action at or before `until` (all of them with `None`):
        /// moves the clock to it; whether there was one.
        fn act_before(&self, until: Option<Timestamp>) -> bool {
            let mut script = self.script.borrow_mut();
            let Some(i) = (0..script.len()).filter(|i| until.is_none_or(|u| script[*i].0 <= u)).min_by_key(|i| script[*i].0) else { return false };
            let (at, action) = script.remove(i);
            self.now.set(self.now.get().max(at));
            match action {
                Action::Stop => self.control.stop.store(true, Ordering::SeqCst),
                Action::Reload(text) => {
                    *self.file.borrow_mut() = text;
                    self.control.reload.store(true, Ordering::SeqCst);
                }
            }
            true
        }

        /// A run of `secs` seconds.
        fn advance(&self, secs: i64) {
            let end = self.now.get() + jiff::SignedDuration::from_secs(secs);
            while self.act_before(Some(end)) {}
            self.now.set(end);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Timestamp {
            self.now.get()
        }
        fn sleep_until(&self, until: Option<Timestamp>, control: &Control) {
            if control.pending() || self.act_before(until) {
                return;
            }
            match until {
                Some(t) => self.now.set(t),
                None => panic!("the daemon would sleep forever with nothing scripted"),
            }
        }
    }

    /// The repository every test job uses, and the head of every config.
    fn config_text(state_dir: &Path, jobs: &str) -> String {
        format!("state_dir = \"{}\"\n[repository.r]\nurl = \"/srv/r\"\npassword_file = \"/etc/p\"\n{jobs}", state_dir.display())
    }

    /// `[job.NAME]` with `schedule` and extra lines.
    fn job(name: &str, schedule: &str, extra: &str) -> String {
        format!("[job.{name}]\nrepository = \"r\"\npaths = [\"/srv/{name}\"]\nschedule = \"{schedule}\"\n{extra}\n")
    }

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/snap/snap.toml"))
    }

    fn record(job: &str, last_attempt: &str) -> JobStatus {
        JobStatus {
            job: job.to_string(),
            last_attempt: last_attempt.to_string(),
            last_success: Some(last_attempt.to_string()),
            outcome: Outcome::Success,
            error: None,
            snapshot: Some("0123456789abcdef".to_string()),
            last_snapshot: Some("0123456789abcdef".to_string()),
            duration_secs: 1.0,
            phases: Vec::new(),
            files: 0,
            file_errors: 0,
            bytes_read: 0,
            bytes_added: 0,
            bytes_stored: 0,
            failures_total: 0,
            runs_total: 1,
        }
    }

    /// What a simulation did: each run as `job@start` (`!` when it ended cancelled), every event
    /// line, and the time it ended at.
    struct Sim {
        runs: Vec<String>,
        events: Vec<String>,
        end: Timestamp,
    }

    /// Runs the daemon on `text` from `start`, each job taking `secs` seconds (the first match in
    /// `lengths`, else 60), with `script` acting at its times.
    fn simulate(text: &str, start: &str, lengths: &[(&str, i64)], script: &[(&str, Action)]) -> Sim {
        let control = Control::default();
        let clock = FakeClock {
            now: Cell::new(ts(start)),
            script: RefCell::new(script.iter().map(|(t, a)| (ts(t), a.clone())).collect()),
            control: control.clone(),
            file: RefCell::new(text.to_string()),
        };
        let runs = RefCell::new(Vec::new());
        let mut events = Vec::new();
        let mut run = |_: &Config, job: &JobSpec, cancel: &AtomicBool| -> Result<RunOutcome> {
            let start = clock.now();
            clock.advance(lengths.iter().find(|(n, _)| *n == job.name).map_or(60, |(_, s)| *s));
            let cancelled = cancel.load(Ordering::SeqCst);
            runs.borrow_mut().push(format!("{}@{}{}", job.name, start.strftime("%Y-%m-%dT%H:%M:%S"), if cancelled { "!" } else { "" }));
            let mut status = record(&job.name, &start.to_string());
            if cancelled {
                status.outcome = Outcome::Failed;
                return Ok(RunOutcome { status, error: Some(Error::Interrupted), file_errors: Vec::new(), warnings: Vec::new() });
            }
            Ok(RunOutcome { status, error: None, file_errors: Vec::new(), warnings: Vec::new() })
        };
        let mut drill = |_: &Config, job: &JobSpec, _: &AtomicBool| -> Result<DrillOutcome> {
            let start = clock.now();
            clock.advance(300);
            runs.borrow_mut().push(format!("drill {}@{}", job.name, start.strftime("%Y-%m-%dT%H:%M:%S")));
            let report = crate::format::drill::DrillReport { job: job.name.clone(), passed: true, rto_secs: Some(300.0), rpo_secs: Some(5400.0), ..Default::default() };
            Ok(DrillOutcome { report, stored: None, store_error: None, kept: None, interrupted: false })
        };
        let mut reload = || parse(&clock.file.borrow());
        let mut event = |e: &Event<'_>| events.push(e.to_string());
        let mut daemon = Daemon { clock: &clock, control: &control, run: &mut run, drill: &mut drill, reload: &mut reload, event: &mut event };
        daemon.serve(parse(text).unwrap());
        let end = clock.now();
        Sim { runs: runs.into_inner(), events, end }
    }

    #[test]
    fn two_jobs_run_exactly_at_their_times_in_their_zones_over_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(
            dir.path(),
            &(job("every6h", "0 0 */6 * * *", "timezone = \"UTC\"") + &job("nightly", "0 30 2 * * *", "timezone = \"Europe/Berlin\"")),
        );
        let sim = simulate(&text, "2026-03-01T00:00:00Z", &[("every6h", 600), ("nightly", 1800)], &[("2026-03-02T00:00:00Z", Action::Stop)]);
        // 02:30 in Berlin is 01:30Z in March; midnight is "now", not after it.
        assert_eq!(sim.runs, ["nightly@2026-03-01T01:30:00", "every6h@2026-03-01T06:00:00", "every6h@2026-03-01T12:00:00", "every6h@2026-03-01T18:00:00"]);
        assert_eq!(sim.events[0], "daemon started: 2 scheduled jobs, 0 jobs run only when started by hand");
        assert_eq!(sim.events[1], "next: job nightly at Sun 2026-03-01 02:30:00 +01:00");
        assert_eq!(sim.events[2], "job nightly: starting the run due at Sun 2026-03-01 02:30:00 +01:00");
        assert_eq!(sim.events[3], "job nightly: snapshot 01234567 saved in 1.0s");
        assert_eq!(sim.events[4], "next: job every6h at Sun 2026-03-01 06:00:00 +00:00");
        assert_eq!(sim.events.last().unwrap(), "daemon stopped");
        assert_eq!(sim.events[sim.events.len() - 2], "stop requested; stopping");
        assert_eq!(sim.end, ts("2026-03-02T00:00:00Z"));
    }

    #[test]
    fn drills_run_on_their_own_schedule_after_a_run_due_at_the_same_time() {
        let dir = tempfile::tempdir().unwrap();
        // Nightly at 04:00, a drill every Sunday at 04:00: on Sunday the run goes first, so the
        // drill restores that night's snapshot.
        let text = config_text(dir.path(), &job("a", "0 0 4 * * *", "timezone = \"UTC\"\ndrill = { schedule = \"0 0 4 * * Sun\" }"));
        let sim = simulate(&text, "2026-02-27T12:00:00Z", &[("a", 600)], &[("2026-03-02T12:00:00Z", Action::Stop)]);
        assert_eq!(sim.runs, ["a@2026-02-28T04:00:00", "a@2026-03-01T04:00:00", "drill a@2026-03-01T04:10:00", "a@2026-03-02T04:00:00"]);
        assert!(sim.events.contains(&"job a: starting the drill due at Sun 2026-03-01 04:00:00 +00:00".to_string()), "{:#?}", sim.events);
        assert!(sim.events.contains(&"job a: drill passed: recovery time 5m 00s, recovery point 1h 30m".to_string()), "{:#?}", sim.events);
        // A reload that changes only the job's schedule keeps the drill's next time.
        let changed = config_text(dir.path(), &job("a", "0 0 5 * * *", "timezone = \"UTC\"\ndrill = { schedule = \"0 0 4 * * Sun\" }"));
        let sim = simulate(&text, "2026-02-27T12:00:00Z", &[("a", 600)], &[("2026-02-27T13:00:00Z", Action::Reload(changed)), ("2026-03-01T12:00:00Z", Action::Stop)]);
        assert_eq!(sim.runs, ["a@2026-02-28T05:00:00", "drill a@2026-03-01T04:00:00", "a@2026-03-01T05:00:00"]);
        assert!(sim.events.contains(&"next: drill of job a at Sun 2026-03-01 04:00:00 +00:00".to_string()), "{:#?}", sim.events);
    }

    #[test]
    fn a_job_that_comes_due_while_another_runs_runs_once_right_after() {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(dir.path(), &(job("a", "0 0 1 * * *", "timezone = \"UTC\"") + &job("b", "0 */15 * * * *", "timezone = \"UTC\"")));
        // a runs three hours; b's ticks at 01:00 (a tie, a goes first by name) to 04:00 all pass
        // while it runs: b runs once when a ends, then at its next time after that.
        let sim = simulate(&text, "2026-03-01T00:10:00Z", &[("a", 3 * 3600), ("b", 60)], &[("2026-03-01T04:20:00Z", Action::Stop)]);
        assert_eq!(
            sim.runs,
            ["b@2026-03-01T00:15:00", "b@2026-03-01T00:30:00", "b@2026-03-01T00:45:00", "a@2026-03-01T01:00:00", "b@2026-03-01T04:00:00", "b@2026-03-01T04:15:00"]
        );
        assert!(sim.events.contains(&"job b: starting the run due at Sun 2026-03-01 01:00:00 +00:00".to_string()), "{:#?}", sim.events);
        // A job whose own time passes while it runs skips it: a one-minute job every minute
        // that takes 90 seconds runs every other minute.
        let text = config_text(dir.path(), &job("slow", "0 * * * * *", "timezone = \"UTC\""));
        let sim = simulate(&text, "2026-03-01T00:00:30Z", &[("slow", 90)], &[("2026-03-01T00:06:45Z", Action::Stop)]);
        assert_eq!(sim.runs, ["slow@2026-03-01T00:01:00", "slow@2026-03-01T00:03:00", "slow@2026-03-01T00:05:00"]);
    }

    #[test]
    fn catch_up_runs_one_missed_run_at_start_and_without_it_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // Last run two days before: three 03:00 runs were missed.
        crate::job::status::save(dir.path(), &record("a", "2026-03-01T03:00:01Z")).unwrap();
        let script = [("2026-03-04T04:00:00Z", Action::Stop)];
        let with = config_text(dir.path(), &job("a", "0 0 3 * * *", "timezone = \"UTC\"\ncatch_up = true"));
        let sim = simulate(&with, "2026-03-03T12:00:00Z", &[], &script);
        assert_eq!(sim.runs, ["a@2026-03-03T12:00:00", "a@2026-03-04T03:00:00"]);
        assert_eq!(sim.events[1], "job a: its run at Mon 2026-03-02 03:00:00 +00:00 was missed while the daemon was not running; catch_up: running it now");
        assert_eq!(sim.events[2], "job a: starting the run due at Mon 2026-03-02 03:00:00 +00:00");

        let without = config_text(dir.path(), &job("a", "0 0 3 * * *", "timezone = \"UTC\""));
        let sim = simulate(&without, "2026-03-03T12:00:00Z", &[], &script);
        assert_eq!(sim.runs, ["a@2026-03-04T03:00:00"]);
        assert_eq!(sim.events[1], "job a: its run at Mon 2026-03-02 03:00:00 +00:00 was missed while the daemon was not running; skipped (catch_up is off)");

        // Nothing was missed when the last attempt came after the last time that passed, and
        // nothing is known to be missed for a job that never ran.
        crate::job::status::save(dir.path(), &record("a", "2026-03-03T03:00:00.5Z")).unwrap();
        let sim = simulate(&with, "2026-03-03T12:00:00Z", &[], &script);
        assert_eq!(sim.runs, ["a@2026-03-04T03:00:00"]);
        let fresh = tempfile::tempdir().unwrap();
        let never = config_text(fresh.path(), &job("a", "0 0 3 * * *", "timezone = \"UTC\"\ncatch_up = true"));
        let sim = simulate(&never, "2026-03-03T12:00:00Z", &[], &script);
        assert_eq!(sim.runs, ["a@2026-03-04T03:00:00"]);
        assert!(!sim.events.iter().any(|e| e.contains("missed")), "{:#?}", sim.events);
    }

    #[test]
    fn a_reload_with_an_invalid_config_keeps_the_old_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(dir.path(), &job("a", "0 0 * * * *", "timezone = \"UTC\""));
        let broken = config_text(dir.path(), &job("a", "0 0 * * * *", "timezone = \"UTC\"\nbogus = 1"));
        let moved = config_text(dir.path(), &(job("a", "0 15 * * * *", "timezone = \"UTC\"") + &job("b", "0 45 13 * * *", "timezone = \"UTC\"")));
        let sim = simulate(
            &text,
            "2026-03-01T10:00:00Z",
            &[],
            &[
                ("2026-03-01T10:30:00Z", Action::Reload(broken)),
                ("2026-03-01T12:30:00Z", Action::Reload(moved)),
                ("2026-03-01T14:20:00Z", Action::Stop),
            ],
        );
        assert_eq!(sim.runs, ["a@2026-03-01T11:00:00", "a@2026-03-01T12:00:00", "a@2026-03-01T13:15:00", "b@2026-03-01T13:45:00", "a@2026-03-01T14:15:00"]);
        let refused = sim.events.iter().find(|e| e.contains("refused")).unwrap();
        assert!(refused.starts_with("new config refused, the running one stays in force: /etc/snap/snap.toml:"), "{refused}");
        assert!(refused.contains("bogus"), "{refused}");
        assert!(sim.events.contains(&"config reloaded: 2 scheduled jobs, 0 jobs run only when started by hand".to_string()), "{:#?}", sim.events);

        // A reload asked for during a run happens when it ends; a job whose schedule did not
        // change keeps its place in the queue.
        let two = config_text(dir.path(), &(job("a", "0 0 1 * * *", "timezone = \"UTC\"") + &job("b", "0 30 1 * * *", "timezone = \"UTC\"")));
        let sim = simulate(&two, "2026-03-01T00:00:00Z", &[("a", 3600)], &[("2026-03-01T01:40:00Z", Action::Reload(two.clone())), ("2026-03-01T02:30:00Z", Action::Stop)]);
        assert_eq!(sim.runs, ["a@2026-03-01T01:00:00", "b@2026-03-01T02:00:00"]);
        let at = |line: &str| sim.events.iter().position(|e| e.starts_with(line)).unwrap();
        assert!(at("job a: snapshot") < at("reload requested") && at("config reloaded") < at("job b: starting"), "{:#?}", sim.events);
    }

    #[test]
    fn stop_during_a_run_cancels_it_and_ends_once_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(dir.path(), &(job("a", "0 0 1 * * *", "timezone = \"UTC\"") + &job("b", "0 30 1 * * *", "timezone = \"UTC\"")));
        let sim = simulate(&text, "2026-03-01T00:00:00Z", &[("a", 2 * 3600)], &[("2026-03-01T02:00:00Z", Action::Stop)]);
        // The run saw its cancel flag set, b (due meanwhile) never started, and the daemon
        // ended when the run returned, not when the stop came.
        assert_eq!(sim.runs, ["a@2026-03-01T01:00:00!"]);
        assert_eq!(sim.end, ts("2026-03-01T03:00:00Z"));
        let tail: Vec<&str> = sim.events.iter().rev().take(3).rev().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                "job a: failed after 1.0s: interrupted; nothing was lost, the next backup reuses what was stored",
                "stop requested: job a was interrupted and has ended; stopping",
                "daemon stopped"
            ]
        );
    }

    #[test]
    fn jobs_without_a_time_leave_the_daemon_idle_until_a_request() {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(dir.path(), "[job.byhand]\nrepository = \"r\"\npaths = [\"/srv/x\"]\n");
        let sim = simulate(&text, "2026-03-01T00:00:00Z", &[], &[("2026-03-01T05:00:00Z", Action::Stop)]);
        assert!(sim.runs.is_empty());
        assert_eq!(sim.events, ["daemon started: 0 scheduled jobs, 1 job runs only when started by hand", "no job has a time to run at; waiting for a reload or a stop", "stop requested; stopping", "daemon stopped"]);
    }

    #[test]
    fn systemd_hears_ready_status_reloading_and_stopping() {
        let ready = notify_states(&Event::Started { scheduled: 1, manual: 0 });
        assert_eq!(ready, ["READY=1", "STATUS=daemon started: 1 scheduled job, 0 jobs run only when started by hand"]);
        let at = ts("2026-03-01T02:30:00Z").to_zoned(TimeZone::UTC);
        assert_eq!(notify_states(&Event::Next { job: "a", at: at.clone() }), ["STATUS=next: job a at Sun 2026-03-01 02:30:00 +00:00"]);
        assert_eq!(notify_states(&Event::Starting { job: "a", due: at }), ["STATUS=running job a"]);
        let reloading = notify_states(&Event::Reloading);
        assert_eq!(reloading[0], "RELOADING=1");
        assert!(reloading.get(1).is_none_or(|m| m.starts_with("MONOTONIC_USEC=")), "{reloading:?}");
        let refused = notify_states(&Event::ReloadRefused { error: &Error::Usage("bad".into()) });
        assert_eq!(refused[0], "READY=1");
        assert_eq!(notify_states(&Event::Stopping { interrupted: None })[0], "STOPPING=1");
        assert!(notify_states(&Event::Stopped).is_empty());
        // No NOTIFY_SOCKET in tests: sending is a no-op.
        notify_systemd(&Event::Stopped);
        notify_systemd(&Event::Idle);
    }
}

//! `snap run JOB`: one job from start to end, in a fixed order — take the job's lock, `before`
//! hooks, one snapshot of every path and every database dump, `after` hooks (always, once the
//! run started), retention in the job's repository, then for each off-site repository the copy
//! of what it lacks and its own retention, the check, then `on_success` or `on_error` — each step
//! timed, and the outcome recorded for `snap status` and Prometheus.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::config::{Config, JobSpec};
use super::dump::plan_dumps;
use super::hooks::{run_hooks, HookVars};
use super::status::{self, JobStatus, Outcome, Phase};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::ops::backup::{backup, BackupOptions, BackupOutcome, Progress};
use crate::ops::check::{check, CheckProgress};
use crate::ops::copy::{copy, CopyOptions, CopyProgress};
use crate::ops::forget::{forget, ForgetOptions, GroupBy};
use crate::ops::prune::{prune, PruneOptions};
use crate::ops::select::SnapshotFilter;
use crate::repo::lock::{LockGuard, LockKind};
use crate::repo::Repository;

/// How to run a job.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The cache root of repositories whose config names none.
    pub cache_root: PathBuf,
    /// The snapshot's time instead of now (to replay days in tests and drills).
    pub time: Option<jiff::Zoned>,
}

/// What a run did. `error` is the first thing that failed; the run still went on with every
/// step that is safe after it (the `after` hooks always, `on_error`).
#[derive(Debug)]
pub struct RunOutcome {
    pub status: JobStatus,
    pub error: Option<Error>,
    /// Files the backup could not read (the snapshot was saved without them: exit 3).
    pub file_errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Holds a job's lock: two runs of one job never overlap. An advisory `flock` on
/// `<state_dir>/locks/<job>.lock`, released by the kernel however the run ends.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

impl JobLock {
    /// Takes the lock of `job`, or says which process holds it.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the running pid; the state directory cannot be written.
    pub fn acquire(state_dir: &Path, job: &str) -> Result<Self> {
        let dir = state_dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join(format!("{job}.lock"));
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| Error::io(&path, e))?;
        if let Err(e) = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            if e == rustix::io::Errno::WOULDBLOCK {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(Error::Locked(format!("job {job} is already running (pid {})", pid.trim())));
            }
            return Err(Error::io(&path, e.into()));
        }
        let written = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| writeln!(file, "{}", std::process::id()));
        written.map_err(|e| Error::io(&path, e))?;
        Ok(Self { _file: file })
    }
}

/// Opens the config's repository `name` with its options, password and cache.
///
/// # Errors
/// No such repository in the config; nothing there; a wrong password; storage errors.
pub fn open_repository(config: &Config, name: &str, cache_root: &Path) -> Result<Repository> {
    let spec = config.repository(name).ok_or_else(|| Error::Usage(format!("no repository named {name:?} in the config")))?;
    let backend = Backend::open_with(&spec.url, &spec.options, false)?;
    Repository::probe(&backend)?;
    let password = spec.password.read()?;
    let root = spec.cache_dir.clone().unwrap_or_else(|| cache_root.to_path_buf());
    Repository::open(backend, &password, &root)
}

/// The repositories of one run, each opened (password, key derivation) once, when a step
/// first needs it; every step then takes its own lock and brings the index up to date under it.
struct Repos<'c> {
    config: &'c Config,
    cache_root: &'c Path,
    open: HashMap<String, Repository>,
}

impl Repos<'_> {
    /// Opens the repositories `names` that are not open yet.
    fn open(&mut self, names: &[&str]) -> Result<()> {
        for &name in names {
            if self.open.contains_key(name) {
                continue;
            }
            self.open.insert(name.to_string(), open_repository(self.config, name, self.cache_root)?);
        }
        Ok(())
    }

    /// The open repository `name` under a new lock of `kind`, its index up to date.
    fn locked(&self, name: &str, kind: LockKind) -> Result<(&Repository, LockGuard)> {
        let repo = self.open.get(name).ok_or_else(|| Error::Internal(format!("repository {name} was not opened")))?;
        let lock = repo.lock(kind)?;
        repo.sync_index()?;
        Ok((repo, lock))
    }
}

/// The steps of one run, timed as they go.
struct Steps<'a> {
    phases: Vec<Phase>,
    log: &'a dyn Fn(&str),
}

impl Steps<'_> {
    fn step<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let (r, secs) = super::timed(self.log, name, f);
        self.phases.push(Phase { name: name.to_string(), secs, ok: r.is_ok() });
        r
    }
}

/// Runs `job` of `config` once. `log` receives one line per step; `cancel` (SIGINT/SIGTERM)
/// interrupts the backup cleanly, and the `after` hooks still run.
///
/// # Errors
/// Only when the run could not start: the job is already running ([`Error::Locked`]) or the
/// state directory cannot be written. Everything that fails later is in [`RunOutcome::error`].
pub fn run_job(config: &Config, job: &JobSpec, opts: &RunOptions, cancel: &AtomicBool, log: &dyn Fn(&str)) -> Result<RunOutcome> {
    let _lock = JobLock::acquire(&config.state_dir, &job.name)?;
    let attempt = jiff::Timestamp::now();
    let started = Instant::now();
    let mut steps = Steps { phases: Vec::new(), log };
    let hide = config.env_secret_names();
    let mut vars = HookVars { job: job.name.clone(), repository: job.repository.clone(), hide: hide.clone(), ..HookVars::default() };
    let mut error: Option<Error> = None;
    let mut saved: Option<BackupOutcome> = None;
    let mut repos = Repos { config, cache_root: &opts.cache_root, open: HashMap::new() };

    if let Err(e) = steps.step("before", || run_hooks("before", &job.before, &vars)) {
        error = Some(e);
    }
    if error.is_none() {
        match steps.step("backup", || backup_step(&mut repos, job, opts, cancel, &hide)) {
            Ok(out) => {
                vars.snapshot = out.id.map(|i| i.to_hex()).unwrap_or_default();
                saved = Some(out);
            }
            Err(e) => error = Some(e),
        }
    }
    // Once the run started, the service comes back whatever happened.
    if let Err(e) = steps.step("after", || run_hooks("after", &job.after, &vars)) {
        error.get_or_insert(e);
    }
    // Retention here first, then each off-site copy gets what it lacks of the job's snapshots
    // and keeps its own policy.
    if error.is_none() {
        if let Err(e) = steps.step("retention", || retention_step(&mut repos, job, &job.repository)) {
            error = Some(e);
        }
    }
    for target in &job.copy_to {
        if error.is_some() {
            break;
        }
        if let Err(e) = steps.step(&format!("copy to {target}"), || copy_step(&mut repos, job, target)) {
            error = Some(e);
            break;
        }
        if let Err(e) = steps.step(&format!("retention {target}"), || retention_step(&mut repos, job, target)) {
            error = Some(e);
        }
    }
    if error.is_none() && job.check.options().is_some() {
        if let Err(e) = steps.step("check", || check_step(&mut repos, job)) {
            error = Some(e);
        }
    }
    let partial = saved.as_ref().is_some_and(|o| !o.errors.is_empty());
    match &error {
        Some(e) => {
            vars.error = e.to_string();
            if let Err(h) = steps.step("on_error", || run_hooks("on_error", &job.on_error, &vars)) {
                (steps.log)(&format!("on_error hook failed too: {h}"));
            }
        }
        None => {
            if let Err(e) = steps.step("on_success", || run_hooks("on_success", &job.on_success, &vars)) {
                error = Some(e);
            }
        }
    }

    let previous = status::load(&config.state_dir, &job.name);
    let outcome = match (&error, partial) {
        (Some(_), _) => Outcome::Failed,
        (None, true) => Outcome::Partial,
        (None, false) => Outcome::Success,
    };
    let summary = saved.as_ref().map(|o| o.snapshot.summary.clone()).unwrap_or_default();
    let snapshot = saved.as_ref().and_then(|o| o.id).map(|i| i.to_hex());
    let status = JobStatus {
        job: job.name.clone(),
        last_attempt: attempt.to_string(),
        last_success: if outcome == Outcome::Failed { previous.as_ref().and_then(|p| p.last_success.clone()) } else { Some(jiff::Timestamp::now().to_string()) },
        outcome,
        error: error.as_ref().map(ToString::to_string),
        snapshot: snapshot.clone(),
        last_snapshot: snapshot.or_else(|| previous.as_ref().and_then(|p| p.last_snapshot.clone())),
        duration_secs: started.elapsed().as_secs_f64(),
        phases: steps.phases,
        files: summary.files_new + summary.files_changed + summary.files_unchanged,
        file_errors: summary.errors,
        bytes_read: summary.bytes_read,
        bytes_added: summary.bytes_added,
        bytes_stored: summary.bytes_stored,
        failures_total: previous.as_ref().map_or(0, |p| p.failures_total) + u64::from(outcome == Outcome::Failed),
        runs_total: previous.as_ref().map_or(0, |p| p.runs_total) + 1,
    };
    if let Err(e) = status::save(&config.state_dir, &status) {
        error.get_or_insert(e);
    }
    let (file_errors, warnings) = saved.map(|o| (o.errors, o.warnings)).unwrap_or_default();
    Ok(RunOutcome { status, error, file_errors, warnings })
}

/// One snapshot of every path and every dump of the job.
fn backup_step(repos: &mut Repos<'_>, job: &JobSpec, opts: &RunOptions, cancel: &AtomicBool, hide: &[String]) -> Result<BackupOutcome> {
    repos.open(&[&job.repository])?;
    let (repo, lock) = repos.locked(&job.repository, LockKind::Shared)?;
    let dumps = plan_dumps(&job.databases, hide)?;
    let bopts = BackupOptions {
        paths: job.paths.clone(),
        streams: dumps.iter().map(|d| d.stream.clone()).collect(),
        tags: job.tags.clone(),
        host: job.host.clone(),
        time: opts.time.clone(),
        excludes: job.exclude.clone(),
        exclude_files: Vec::new(),
        one_file_system: job.one_file_system,
        dry_run: false,
        job: Some(job.name.clone()),
        databases: dumps.into_iter().map(|d| d.record).collect(),
    };
    backup(repo, &bopts, &Progress::default(), cancel, &lock)
}

/// The job's retention policy for repository `name`, applied to the job's own snapshots there.
fn retention_step(repos: &mut Repos<'_>, job: &JobSpec, name: &str) -> Result<()> {
    let Some(policy) = job.retention.get(name) else { return Ok(()) };
    repos.open(&[name])?;
    let (repo, lock) = repos.locked(name, LockKind::Exclusive)?;
    let fopts = ForgetOptions {
        ids: Vec::new(),
        filter: SnapshotFilter { jobs: vec![job.name.clone()], ..SnapshotFilter::default() },
        policy: policy.policy(),
        group_by: GroupBy::default(),
        dry_run: false,
        tz: job.zone.clone(),
    };
    let report = forget(repo, &fopts, &lock)?;
    if policy.prune && report.removed() > 0 {
        prune(repo, &PruneOptions::default(), &lock)?;
    }
    Ok(())
}

/// Copies the job's snapshots that repository `target` lacks into it.
fn copy_step(repos: &mut Repos<'_>, job: &JobSpec, target: &str) -> Result<()> {
    repos.open(&[&job.repository, target])?;
    let (src, _src_lock) = repos.locked(&job.repository, LockKind::Shared)?;
    let (dst, dst_lock) = repos.locked(target, LockKind::Shared)?;
    let copts = CopyOptions { snapshots: Vec::new(), filter: SnapshotFilter { jobs: vec![job.name.clone()], ..SnapshotFilter::default() }, dry_run: false };
    copy(src, dst, &copts, &dst_lock, &CopyProgress::default()).map(|_| ())
}

/// The job's check of its main repository.
fn check_step(repos: &mut Repos<'_>, job: &JobSpec) -> Result<()> {
    let Some(copts) = job.check.options() else { return Ok(()) };
    repos.open(&[&job.repository])?;
    let (repo, _lock) = repos.locked(&job.repository, LockKind::Shared)?;
    let report = check(repo, &copts, &CheckProgress::default())?;
    match report.errors.first() {
        None => Ok(()),
        Some(first) => Err(Error::Refused(format!("check of repository {} found {} problem(s), the first: {first}", job.repository, report.errors.len()))),
    }
}

//! `snap drill JOB`: proves that a job's backups restore, and measures the recovery it actually
//! achieves. A drill picks the job's latest snapshot (from the job's repository or an off-site
//! one), holds its age against the recovery point objective, restores every path into a scratch
//! directory with every blob verified, compares the result with the snapshot, loads every
//! database dump into a scratch server of its kind and runs the job's verification queries,
//! runs the job's own drill command, and times all of it against the recovery time objective.
//! The report is stored, sealed, in the repository drilled, and the latest one goes into the
//! state directory and the metrics file. Nothing here touches the live paths or databases.

mod compare;
mod queries;
mod scratch;

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use self::queries::QueryTarget;
use self::scratch::{ScratchMariadb, ScratchPostgres};
use super::config::{Config, DatabaseSpec, DrillSpec, JobSpec, VerifyQuery};
use super::restore_db::{restore_db, DbTarget};
use super::run::open_repository;
use crate::error::{Error, Result};
use crate::format::drill::{DrillCheck, DrillDatabase, DrillPhase, DrillReport, DrillQuery, DRILL_VERSION};
use crate::format::snapshot::{DatabaseRecord, Snapshot};
use crate::format::SnapshotId;
use crate::ops::restore::{restore, RestoreOptions, RestoreProgress};
use crate::ops::select::{find_snapshot, SnapshotFilter};
use crate::repo::lock::LockKind;
use crate::repo::Repository;
use crate::units::duration as human;

pub use self::compare::Comparison;

/// How to run one drill; unset fields come from the job's `drill` table.
#[derive(Debug, Clone, Default)]
pub struct DrillOptions {
    /// The repository (by config name) to restore from.
    pub from: Option<String>,
    /// A snapshot id or prefix instead of the job's latest.
    pub snapshot: Option<String>,
    /// Where the scratch directory goes.
    pub scratch: Option<PathBuf>,
    /// Leave the scratch directory (restored files, database files) in place.
    pub keep: bool,
    /// The clock the recovery point is measured against, instead of now.
    pub now: Option<jiff::Timestamp>,
    /// The cache root of repositories whose config names none.
    pub cache_root: PathBuf,
}

/// What a drill did.
#[derive(Debug)]
pub struct DrillOutcome {
    pub report: DrillReport,
    /// The report's name in the repository's `drills/`, once stored.
    pub stored: Option<String>,
    /// Why it could not be stored, if it could not.
    pub store_error: Option<String>,
    /// The scratch directory, when kept.
    pub kept: Option<PathBuf>,
    /// Stopped by SIGINT/SIGTERM.
    pub interrupted: bool,
}

/// The drill as it goes: phases timed, checks recorded.
struct Run<'a> {
    report: DrillReport,
    log: &'a dyn Fn(&str),
}

impl Run<'_> {
    fn phase<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let (r, secs) = super::timed(self.log, name, f);
        self.report.phases.push(DrillPhase { name: name.to_string(), secs, ok: r.is_ok() });
        r
    }

    fn check(&mut self, name: &str, ok: bool, detail: String) {
        (self.log)(&format!("check {name}: {} ({detail})", if ok { "passed" } else { "FAILED" }));
        if !ok {
            self.report.errors.push(format!("{name}: {detail}"));
        }
        self.report.checks.push(DrillCheck { name: name.to_string(), ok, detail });
    }
}

/// Runs one drill of `job`. Only a state directory that cannot be written is an `Err`;
/// everything that fails during the drill is a failed check in the report.
///
/// # Errors
/// The scratch or state directory cannot be created or written.
pub fn drill(config: &Config, job: &JobSpec, opts: &DrillOptions, cancel: &AtomicBool, log: &dyn Fn(&str)) -> Result<DrillOutcome> {
    let t0 = Instant::now();
    let spec = job.drill.clone().unwrap_or_default();
    let from = opts.from.clone().or_else(|| spec.from.clone()).unwrap_or_else(|| job.repository.clone());
    let started = opts.now.unwrap_or_else(jiff::Timestamp::now);
    let mut run = Run {
        report: DrillReport {
            version: DRILL_VERSION,
            job: job.name.clone(),
            repository: from.clone(),
            started: started.to_string(),
            rpo_target_secs: spec.rpo.map(|d| d.as_secs_f64()),
            rto_target_secs: spec.rto.map(|d| d.as_secs_f64()),
            program_version: format!("snap {}", env!("CARGO_PKG_VERSION")),
            hostname: hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
            ..DrillReport::default()
        },
        log,
    };

    let base = opts.scratch.clone().or_else(|| spec.scratch.clone()).unwrap_or_else(|| config.state_dir.join("drill"));
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    let scratch = tempfile::Builder::new().prefix(&format!("{}-", job.name)).tempdir_in(&base).map_err(|e| Error::io(&base, e))?;
    // Searchable, not listable: a scratch server run as its own system user reaches its
    // directory below this one.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o711)).map_err(|e| Error::io(scratch.path(), e))?;
    }

    let mut interrupted = false;
    let repo = match run.phase("open repository", || open_repository(config, &from, &opts.cache_root)) {
        Ok(r) => Some(r),
        Err(e) => {
            run.check("repository", false, format!("repository {from}: {e}"));
            None
        }
    };
    if let Some(repo) = &repo {
        interrupted = drill_in(&mut run, repo, job, &spec, opts, scratch.path(), started, cancel, t0);
    }
    run.report.passed = !interrupted && !run.report.checks.is_empty() && run.report.checks.iter().all(|c| c.ok);

    let kept = if opts.keep {
        let p = scratch.keep();
        (run.log)(&format!("scratch directory kept: {}", p.display()));
        Some(p)
    } else {
        drop(scratch);
        None
    };
    let (stored, store_error) = match &repo {
        Some(r) => match r.save_drill_report(&run.report) {
            Ok(name) => (Some(name), None),
            Err(e) => (None, Some(e.to_string())),
        },
        None => (None, Some(format!("repository {from} could not be opened"))),
    };
    super::status::save_drill(&config.state_dir, &run.report)?;
    Ok(DrillOutcome { report: run.report, stored, store_error, kept, interrupted })
}

/// The drill once the repository is open; returns whether it was interrupted.
#[expect(clippy::too_many_arguments, reason = "one call site; the pieces of one drill")]
fn drill_in(run: &mut Run<'_>, repo: &Repository, job: &JobSpec, spec: &DrillSpec, opts: &DrillOptions, scratch: &Path, started: jiff::Timestamp, cancel: &AtomicBool, t0: Instant) -> bool {
    // Held throughout, so no prune removes a pack the restore still needs.
    let selected = run.phase("select snapshot", || {
        let lock = repo.lock(LockKind::Shared)?;
        repo.sync_index()?;
        let filter = SnapshotFilter { jobs: vec![job.name.clone()], ..SnapshotFilter::default() };
        let found = find_snapshot(repo, opts.snapshot.as_deref().unwrap_or("latest"), &filter)?;
        Ok((lock, found))
    });
    let (_lock, (id, snap)) = match selected {
        Ok(s) => s,
        Err(e) => {
            let detail = match &e {
                Error::SnapshotNotFound(_) if opts.snapshot.is_none() => format!("no snapshot of job {} in this repository", job.name),
                _ => e.to_string(),
            };
            run.check("snapshot", false, detail);
            return false;
        }
    };
    run.report.snapshot = id.to_hex();
    run.report.snapshot_time = snap.time.clone();
    run.check("snapshot", true, format!("{} taken {}", id.short(), snap.time));

    // The recovery point: how old the newest restorable state is. A miss stops the drill here.
    let age = snap.timestamp().ok().map(|t| started.duration_since(t).as_secs_f64());
    run.report.rpo_secs = age;
    match (age, spec.rpo) {
        (None, _) => run.check("rpo", false, format!("the snapshot's time {:?} cannot be read", snap.time)),
        (Some(a), Some(target)) if a > target.as_secs_f64() => {
            run.check("rpo", false, format!("the latest snapshot is {}, older than the objective {}", human(a), human(target.as_secs_f64())));
            return false;
        }
        (Some(a), Some(target)) => run.check("rpo", true, format!("the latest snapshot is {}, within the objective {}", human(a), human(target.as_secs_f64()))),
        (Some(a), None) => run.check("rpo", true, format!("the latest snapshot is {} (no objective set)", human(a))),
    }

    let files = scratch.join("files");
    let dumps: Vec<String> = snap.databases.iter().map(|d| d.path.clone()).collect();
    if cancel.load(Ordering::Relaxed) {
        return true;
    }
    let restored = run.phase("restore files", || {
        std::fs::create_dir_all(&files).map_err(|e| Error::io(&files, e))?;
        let ropts = RestoreOptions { target: files.clone(), includes: Vec::new(), excludes: dumps.iter().map(|p| globset::escape(p)).collect(), ..RestoreOptions::default() };
        restore(repo, &snap, &ropts, &RestoreProgress::default())
    });
    match restored {
        Ok(out) if out.errors.is_empty() => {
            run.report.files_restored = out.files;
            run.report.dirs_restored = out.dirs;
            run.report.bytes_restored = out.bytes;
            let root_only = effective_root();
            match run.phase("compare files", || compare::compare(repo, &snap.tree, &files, &dumps, root_only)) {
                Ok(c) if c.difference_count == 0 => run.check("files", true, format!("{} files, {} directories, {} links, {} restored and matching the snapshot", c.files, c.dirs, c.links, crate::units::bytes(c.bytes))),
                Ok(c) => run.check("files", false, format!("{} differences from the snapshot, the first: {}", c.difference_count, c.differences.join("; "))),
                Err(e) => run.check("files", false, e.to_string()),
            }
        }
        Ok(out) => run.check("files", false, format!("{} entries could not be restored, the first: {}", out.errors.len(), out.errors.first().cloned().unwrap_or_default())),
        Err(e) => run.check("files", false, e.to_string()),
    }

    let mut servers = Servers::default();
    let mut records: Vec<&DatabaseRecord> = snap.databases.iter().collect();
    // Roles first: a database's dump names owners that the globals create.
    records.sort_by_key(|r| r.name != "_globals");
    for record in records {
        if cancel.load(Ordering::Relaxed) {
            return true;
        }
        let db = database(run, repo, &id, &snap, record, job, spec, scratch, &mut servers);
        let ok = db.loaded && db.error.is_none() && db.queries.iter().all(|q| q.ok);
        let detail = match &db.error {
            Some(e) => e.clone(),
            None => format!("loaded in {:.1}s; {}", db.load_secs, db.queries.iter().map(|q| format!("{} = {}", q.sql, q.value.as_deref().unwrap_or("?"))).collect::<Vec<_>>().join("; ")),
        };
        run.check(&format!("database {}", record.name), ok, detail);
        run.report.databases.push(db);
    }

    if let Some(cmd) = &spec.command {
        if cancel.load(Ordering::Relaxed) {
            return true;
        }
        let env = command_env(job, &id, scratch, &files, &servers);
        match run.phase("command", || run_command(cmd, &env, spec.timeout, cancel)) {
            Ok(()) => run.check("command", true, format!("`{cmd}` succeeded")),
            Err(e) => run.check("command", false, e.to_string()),
        }
    }

    // The recovery time: everything a recovery needs, up to the last check.
    let rto = t0.elapsed().as_secs_f64();
    run.report.rto_secs = Some(rto);
    match spec.rto {
        Some(target) if rto > target.as_secs_f64() => run.check("rto", false, format!("the recovery took {}, longer than the objective {}", human(rto), human(target.as_secs_f64()))),
        Some(target) => run.check("rto", true, format!("the recovery took {}, within the objective {}", human(rto), human(target.as_secs_f64()))),
        None => run.check("rto", true, format!("the recovery took {} (no objective set)", human(rto))),
    }
    drop(servers);
    false
}

/// The drill reports of `job` stored in repository `from` (default: the drill's `from`, else
/// the job's repository), oldest first, and a warning for each report that could not be read.
///
/// # Errors
/// The repository cannot be opened or listed.
pub fn history(config: &Config, job: &JobSpec, from: Option<&str>, cache_root: &Path) -> Result<(Vec<DrillReport>, Vec<String>)> {
    let name = from.map(str::to_string).or_else(|| job.drill.as_ref().and_then(|d| d.from.clone())).unwrap_or_else(|| job.repository.clone());
    let repo = open_repository(config, &name, cache_root)?;
    let mut reports = Vec::new();
    let mut warnings = Vec::new();
    for (stored, r) in repo.drill_reports()? {
        match r {
            Ok(r) if r.job == job.name => reports.push(r),
            Ok(_) => {}
            Err(e) => warnings.push(format!("drill report {}: {e}", stored.get(..8).unwrap_or(&stored))),
        }
    }
    Ok((reports, warnings))
}

fn effective_root() -> bool {
    uzers::get_effective_uid() == 0
}

/// The scratch servers of one drill, started when a dump first needs one.
#[derive(Default)]
struct Servers {
    postgres: Option<std::result::Result<ScratchPostgres, String>>,
    mariadb: Option<std::result::Result<ScratchMariadb, String>>,
    sqlite_dir: Option<PathBuf>,
}

/// Loads and verifies one dump.
#[expect(clippy::too_many_arguments, reason = "one call site; the pieces of one drill")]
fn database(run: &mut Run<'_>, repo: &Repository, id: &SnapshotId, snap: &Snapshot, record: &DatabaseRecord, job: &JobSpec, spec: &DrillSpec, scratch: &Path, servers: &mut Servers) -> DrillDatabase {
    let mut out = DrillDatabase { name: record.name.clone(), kind: record.kind.clone(), path: record.path.clone(), ..DrillDatabase::default() };
    let queries: Vec<VerifyQuery> = job_spec(job, record).map(|d| if d.is_all() { d.verify.iter().filter(|q| q.database.as_deref() == Some(record.name.as_str())).cloned().collect() } else { d.verify.clone() }).unwrap_or_default();
    let mut t = Instant::now();
    let loaded: Result<Option<(DbTarget, Option<QueryTarget<'_>>)>> = match record.kind.as_str() {
        "postgresql" => {
            if servers.postgres.is_none() {
                // Its own phase: how long a recovery waits for an empty server.
                let started = run.phase("start postgresql", || {
                    let pg = ScratchPostgres::start(&scratch.join("postgresql"), spec.postgresql_bindir.as_deref())?;
                    create_roles(&pg, &spec.roles)?;
                    Ok(pg)
                });
                servers.postgres = Some(started.map_err(|e| e.to_string()));
                t = Instant::now();
            }
            match &servers.postgres {
                Some(Ok(pg)) => {
                    let target = pg.target();
                    let phase = format!("load {}", record.name);
                    run.phase(&phase, || restore_db(repo, id, snap, record, &target, false)).map(|_| {
                        let q = (record.name != "_globals").then(|| QueryTarget::Postgres { env: pg.env(), database: &record.name });
                        Some((target, q))
                    })
                }
                Some(Err(e)) => Err(Error::CommandFailed(format!("scratch PostgreSQL: {e}"))),
                None => Err(Error::Internal("no scratch PostgreSQL".into())),
            }
        }
        "mariadb" | "mysql" => {
            if servers.mariadb.is_none() {
                let started = run.phase("start mariadb", || ScratchMariadb::start(&scratch.join("mariadb")));
                servers.mariadb = Some(started.map_err(|e| e.to_string()));
                t = Instant::now();
            }
            match &servers.mariadb {
                Some(Ok(m)) => {
                    let target = m.target();
                    let phase = format!("load {}", record.name);
                    run.phase(&phase, || restore_db(repo, id, snap, record, &target, false)).map(|_| Some((target, Some(QueryTarget::Mariadb { socket: m.socket(), database: &record.name }))))
                }
                Some(Err(e)) => Err(Error::CommandFailed(format!("scratch MariaDB: {e}"))),
                None => Err(Error::Internal("no scratch MariaDB".into())),
            }
        }
        "sqlite" => {
            let dir = servers.sqlite_dir.get_or_insert_with(|| scratch.join("sqlite")).clone();
            let file = dir.join(format!("{}.db", record.name));
            let target = DbTarget { file: Some(file), isolated: true, ..DbTarget::default() };
            let phase = format!("load {}", record.name);
            run.phase(&phase, || {
                std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                restore_db(repo, id, snap, record, &target, false)
            })
            .map(|_| Some((target, None)))
        }
        _ => {
            // No tool loads it: reading every byte (each blob verified) is what can be proven.
            let phase = format!("read {}", record.name);
            run.phase(&phase, || crate::ops::dump::dump(repo, id, snap, &record.path, &mut std::io::sink())).map(|()| None)
        }
    };
    out.load_secs = t.elapsed().as_secs_f64();
    let target = match loaded {
        Ok(t) => t,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    out.loaded = true;
    let qtarget: Option<QueryTarget<'_>> = match &target {
        Some((_, Some(q))) => Some(q.clone()),
        Some((t, None)) if record.kind == "sqlite" => t.file.as_deref().map(|f| QueryTarget::Sqlite { file: f }),
        _ => None,
    };
    let Some(qt) = qtarget else { return out };
    let phase = format!("verify {}", record.name);
    let mut first_error: Option<String> = None;
    let mut results: Vec<DrillQuery> = Vec::new();
    let _ = run.phase(&phase, || {
        let sanity = queries::sanity(&qt);
        match queries::first_value(&qt, &sanity) {
            Ok(v) => {
                let ok = record.kind != "sqlite" || v == "ok";
                if !ok {
                    first_error.get_or_insert(format!("PRAGMA integrity_check says {v:?}"));
                }
                results.push(DrillQuery { sql: sanity, value: Some(v), min: None, max: None, ok });
            }
            Err(e) => {
                first_error.get_or_insert(e.to_string());
                results.push(DrillQuery { sql: sanity, value: None, min: None, max: None, ok: false });
            }
        }
        for q in &queries {
            let (r, err) = queries::verify(&qt, q);
            if let Some(e) = err {
                first_error.get_or_insert(e);
            }
            results.push(r);
        }
        match &first_error {
            Some(e) => Err(Error::Refused(e.clone())),
            None => Ok(()),
        }
    });
    out.queries = results;
    out.error = first_error;
    out
}

/// The job's database table a dump came from.
fn job_spec<'j>(job: &'j JobSpec, record: &DatabaseRecord) -> Option<&'j DatabaseSpec> {
    job.databases.iter().find(|d| d.kind.as_str() == record.kind && d.name == record.name).or_else(|| job.databases.iter().find(|d| d.kind.as_str() == record.kind && d.is_all()))
}

/// Creates the drill's `roles` in the scratch PostgreSQL.
fn create_roles(pg: &ScratchPostgres, roles: &[String]) -> Result<()> {
    for role in roles {
        let sql = format!("CREATE ROLE \"{role}\" LOGIN");
        let t = QueryTarget::Postgres { env: pg.env(), database: "postgres" };
        queries::first_value(&t, &sql).map_err(|e| Error::CommandFailed(format!("creating role {role:?} in the scratch PostgreSQL: {e}")))?;
    }
    Ok(())
}

/// The drill command's environment: where everything was restored.
fn command_env(job: &JobSpec, id: &SnapshotId, scratch: &Path, files: &Path, servers: &Servers) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("SNAP_DRILL_JOB".into(), job.name.clone().into()),
        ("SNAP_DRILL_SNAPSHOT".into(), id.to_hex().into()),
        ("SNAP_DRILL_DIR".into(), scratch.into()),
        ("SNAP_DRILL_FILES".into(), files.into()),
    ];
    if let Some(Ok(pg)) = &servers.postgres {
        env.push(("SNAP_DRILL_PGHOST".into(), pg.socket_dir().into()));
        env.push(("SNAP_DRILL_PGPORT".into(), pg.port().to_string().into()));
        env.extend(pg.env());
    }
    if let Some(Ok(m)) = &servers.mariadb {
        env.push(("SNAP_DRILL_MYSQL_SOCKET".into(), m.socket().into()));
        env.push(("SNAP_DRILL_MYSQL_PORT".into(), m.port().to_string().into()));
    }
    if let Some(d) = &servers.sqlite_dir {
        env.push(("SNAP_DRILL_SQLITE_DIR".into(), d.into()));
    }
    env
}

/// Runs the drill command with `sh -c` in its own process group, killed (the whole group) when
/// it outlives `timeout` or the drill is interrupted.
fn run_command(cmd: &str, env: &[(OsString, OsString)], timeout: Duration, cancel: &AtomicBool) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::CommandFailed(format!("cannot run `{cmd}`: {e}")))?;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let t = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) => {}
            Err(e) => break Err(Error::CommandFailed(format!("`{cmd}`: {e}"))),
        }
        let late = t.elapsed() > timeout;
        if late || cancel.load(Ordering::Relaxed) {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) on the process group our own unreaped child leads; no memory.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.wait();
            break Err(Error::CommandFailed(if late { format!("`{cmd}` did not finish within {}; killed", human(timeout.as_secs_f64())) } else { format!("`{cmd}` interrupted") }));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = reader.join().unwrap_or_default();
    let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    let status = status?;
    if !status.success() {
        return Err(Error::CommandFailed(format!("`{cmd}` failed ({status}){}", if last.is_empty() { String::new() } else { format!(": {last}") })));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_outlives_its_timeout_is_killed_with_its_children() {
        let never = AtomicBool::new(false);
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let cmd = format!("sleep 300 >/dev/null 2>&1 & echo $! > {}; wait", pidfile.display());
        let e = run_command(&cmd, &[], Duration::from_millis(300), &never).unwrap_err().to_string();
        assert!(e.ends_with("did not finish within 0.3s; killed"), "{e}");
        // The background child went with the group: no process left, or only its zombie.
        // SIGKILL lands asynchronously: wait (boundedly) for it to take effect.
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let gone = |state: &str| state.is_empty() || state.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'));
        let mut state = String::new();
        for _ in 0..200 {
            state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
            if gone(&state) {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        assert!(gone(&state), "sleep still alive: {state}");
        let e = run_command("echo bad >&2; exit 3", &[], Duration::from_secs(10), &never).unwrap_err().to_string();
        assert_eq!(e, "`echo bad >&2; exit 3` failed (exit status: 3): bad");
        run_command("test \"$X\" = 1", &[("X".into(), "1".into())], Duration::from_secs(10), &never).unwrap();
    }
}

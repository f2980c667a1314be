//! Server jobs: the config file that describes whole-server backup jobs (repositories, paths,
//! database dumps, hooks, retention, checks), the cron schedules that say when they run, the
//! runner that carries one out ([`run::run_job`]) and records how it went ([`status`]), the
//! scheduler that runs them at their times ([`daemon`]), and the recovery drills that prove their
//! snapshots restore ([`drill`]). What the runner needs comes from here
//! already checked, so it never meets a dangling repository name or a bad expression halfway
//! through a job.

pub mod config;
pub mod daemon;
pub mod drill;
pub mod dump;
pub mod hooks;
pub mod restore_db;
pub mod run;
pub mod schedule;
pub mod secret;
pub mod status;

pub use config::{CheckSpec, Config, DatabaseSpec, DbKind, DumpFormat, JobSpec, RepositorySpec, RetentionSpec};
pub use schedule::Schedule;
pub use secret::Secret;

/// Runs one step of a job's run or drill with a line to `log` at its start and end; gives its
/// result and how many seconds it took.
pub(crate) fn timed<T>(log: &dyn Fn(&str), name: &str, f: impl FnOnce() -> crate::Result<T>) -> (crate::Result<T>, f64) {
    log(&format!("{name}: started"));
    let t = std::time::Instant::now();
    let r = f();
    let secs = t.elapsed().as_secs_f64();
    match &r {
        Ok(_) => log(&format!("{name}: done in {secs:.1}s")),
        Err(e) => log(&format!("{name}: failed after {secs:.1}s: {e}")),
    }
    (r, secs)
}

//! Issue 10, `snap daemon`: the real binary schedules a job every two seconds, keeps running
//! with its old config when a reload finds a broken file, and on SIGTERM lets the running job
//! end, exits 0 and leaves a repository that checks clean. Waits poll with generous deadlines and
//! nothing asserts on timing: the machine running the suite may be slow and busy.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::{assert_contains, expect_code, s, write, Env, Run};

/// How long anything may take before the test gives up.
const DEADLINE: Duration = Duration::from_secs(180);

/// Polls `f` until it gives `Some`, or fails the test naming `what` and the daemon's log.
fn wait_until<T>(what: &str, log: &Path, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}; daemon log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(i32::try_from(child.id()).unwrap(), sig) }, 0);
}

struct Daemon {
    env: Env,
    config: PathBuf,
    log: PathBuf,
    child: Child,
}

impl Daemon {
    /// A repository, a small tree and a config whose job `tick` runs every two seconds; then
    /// `snap daemon` started on it with its stderr in a file.
    fn start() -> Self {
        let env = Env::with_repo();
        let src = env.path().join("srv/app");
        write(&src.join("config/app.toml"), b"port = 80\n");
        write(&src.join("data/blob.bin"), &crate::util::pseudo_random(100_000, 3));
        let text = format!(
            r#"state_dir = "{state}"

[repository.local]
url = "{repo}"
password_file = "{pass}"

[job.tick]
schedule = "*/2 * * * * *"
timezone = "UTC"
paths = ["{src}"]
repository = "local"
after = ["echo after >> {hooks}"]
"#,
            state = s(&env.path().join("state")),
            repo = s(&env.repo()),
            pass = s(&env.path().join("password")),
            src = s(&src),
            hooks = s(&env.path().join("hooks.log")),
        );
        let config = env.path().join("snap.toml");
        std::fs::write(&config, text).unwrap();
        let log = env.path().join("daemon.log");
        let child = env
            .cmd()
            .arg("daemon")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { env, config, log, child }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `runs_total` of the job's status record, once there is one. The state directory is
    /// named, as the config file may be broken on purpose.
    fn runs(&self) -> Option<u64> {
        let run: Run = self.env.cmd().args(["status", "--json", "--state-dir"]).arg(self.env.path().join("state")).output().unwrap().into();
        if run.code != 0 {
            return None;
        }
        run.json().as_array()?.first()?["runs_total"].as_u64()
    }

    fn snapshots(&self) -> usize {
        let run = self.env.snap(["snapshots", "--json"]);
        if run.code != 0 {
            return 0;
        }
        run.json().as_array().map_or(0, Vec::len)
    }

    /// Sends SIGTERM and waits for the exit; the daemon's exit code and log.
    fn stop(&mut self) -> (Option<i32>, String) {
        signal(&self.child, libc::SIGTERM);
        let status = wait_until("the daemon to exit after SIGTERM", &self.log, || self.child.try_wait().unwrap());
        (status.code(), self.log())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed assertion must not leave a daemon behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn the_daemon_runs_a_job_at_its_times_refuses_a_broken_reload_and_stops_cleanly() {
    let mut d = Daemon::start();
    wait_until("two scheduled runs and two snapshots", &d.log, || (d.runs()? >= 2 && d.snapshots() >= 2).then_some(()));
    let log = d.log();
    assert_contains(&log, "snap: daemon started: 1 scheduled job, 0 jobs run only when started by hand", "the start line");
    assert_contains(&log, "snap: next: job tick at ", "the next run is logged");
    assert_contains(&log, "snap: job tick: starting the run due at ", "a run is logged");
    assert_contains(&log, "snap: job tick: backup: started", "the runner's steps are logged");

    // A broken file on SIGHUP is refused; the old config keeps running the job.
    std::fs::write(&d.config, "this is = not [valid toml\n").unwrap();
    signal(&d.child, libc::SIGHUP);
    wait_until("the refused reload in the log", &d.log, || d.log().contains("snap: new config refused, the running one stays in force: ").then_some(()));
    let runs = d.runs().unwrap();
    wait_until("a run after the refused reload", &d.log, || (d.runs()? > runs).then_some(()));
    assert!(matches!(d.child.try_wait(), Ok(None)), "the daemon exited after a refused reload:\n{}", d.log());
    assert_contains(&d.log(), "snap: reload requested: reading the config file again", "the reload line");

    // SIGTERM: the daemon lets a running job end (its after hooks run), then exits 0.
    let (code, log) = d.stop();
    assert_eq!(code, Some(0), "daemon exit code; log:\n{log}");
    assert_contains(&log, "snap: stop requested", "the stop line");
    assert!(log.trim_end().ends_with("snap: daemon stopped"), "the last line; log:\n{log}");
    let starts = log.matches("starting the run due at").count();
    let afters = std::fs::read_to_string(d.env.path().join("hooks.log")).unwrap_or_default().lines().count();
    assert_eq!(starts, afters, "every run that started ran its after hooks; log:\n{log}");
    expect_code(&d.env.snap(["check"]), 0, "snap check after the daemon stopped");
}

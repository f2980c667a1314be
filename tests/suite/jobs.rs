//! Issue 10, server jobs: `snap run` carries out a job of the config file through the real
//! binary — hooks in their exact order (also when a dump fails and when snap gets SIGTERM), one
//! snapshot holding the paths and every dump with the job recorded, no snapshot when a dump
//! fails, one run of a job at a time, retention scoped to the job, and the status record and
//! Prometheus metrics written afterwards.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::util::{assert_contains, assert_same_tree, expect_code, restored, s, write, Env, Run};

/// A job environment: a repository, a source tree, a hook log and a config file.
struct Job {
    env: Env,
    src: PathBuf,
    log: PathBuf,
    config: PathBuf,
}

impl Job {
    /// `job_body` is the rest of `[job.app]` (after `repository`); `extra` follows it.
    fn new(job_body: &str, extra: &str) -> Self {
        let env = Env::with_repo();
        let src = env.path().join("srv/app");
        write(&src.join("config/app.toml"), b"port = 80\n");
        write(&src.join("data/blob.bin"), &crate::util::pseudo_random(300_000, 7));
        let log = env.path().join("hooks.log");
        let l = s(&log);
        let text = format!(
            r#"state_dir = "{state}"

[repository.local]
url = "{repo}"
password_file = "{pass}"

[job.app]
paths = ["{src}"]
repository = "local"
before = ["echo before {{job}} >> {l}"]
after = ["echo after {{job}} >> {l}"]
on_success = ["echo success {{snapshot}} >> {l}"]
on_error = ["printf 'error %s\n' {{error}} >> {l}"]
{job_body}
{extra}"#,
            state = s(&env.path().join("state")),
            repo = s(&env.repo()),
            pass = s(&env.path().join("password")),
            src = s(&src),
        );
        let config = env.path().join("snap.toml");
        std::fs::write(&config, text).unwrap();
        Self { env, src, log, config }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.env.cmd();
        c.args(args).arg("--config").arg(&self.config);
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        self.cmd(args).output().unwrap().into()
    }

    fn hook_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn snapshots(&self) -> Vec<serde_json::Value> {
        let run = self.env.snap(["snapshots", "--json"]).ok();
        run.json().as_array().cloned().unwrap_or_default()
    }

    fn status(&self) -> serde_json::Value {
        let run = self.run(&["status", "--json"]);
        expect_code(&run, 0, "status");
        run.json()
    }
}

#[test]
fn a_job_saves_paths_and_dumps_in_one_snapshot_with_hooks_in_order() {
    let job = Job::new(
        "",
        r#"[[job.app.database]]
kind = "command"
name = "rows"
command = ["sh", "-c", "printf 'row 1\nrow 2\n'; echo 'a notice' >&2"]
"#,
    );
    let run = job.run(&["run", "app"]);
    expect_code(&run, 0, "snap run app");
    let snaps = job.snapshots();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let id = snaps[0]["id"].as_str().unwrap().to_string();
    assert_eq!(job.hook_log(), format!("before app\nafter app\nsuccess {id}\n"));
    assert_eq!(snaps[0]["job"], "app", "{:?}", snaps[0]);
    assert_eq!(snaps[0]["databases"], serde_json::json!([{"path": "/databases/command/rows", "kind": "command", "name": "rows", "server_version": "", "tool_version": "", "format": "raw"}]));
    assert_contains(&run.stderr, "warning: database command/rows: a notice", "the dump's stderr as a warning");
    let dumped = job.env.snap(["dump", &id, "/databases/command/rows"]).ok();
    assert_eq!(dumped.stdout, "row 1\nrow 2\n");
    let target = job.env.restore(&id, "r");
    assert_same_tree(&job.src, &restored(&target, &job.src));

    let st = job.status();
    assert_eq!(st[0]["job"], "app");
    assert_eq!(st[0]["outcome"], "success");
    assert_eq!(st[0]["snapshot"], id.as_str());
    assert_eq!(st[0]["runs_total"], 1);
    assert_eq!(st[0]["failures_total"], 0);
    let phases: Vec<&str> = st[0]["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(phases, ["before", "backup", "after", "retention", "on_success"]);
    let prom = std::fs::read_to_string(job.env.path().join("state/metrics/snap.prom")).unwrap();
    assert_contains(&prom, "snap_job_success{job=\"app\"} 1\n", "metrics");
    assert_contains(&prom, "snap_job_runs_total{job=\"app\"} 1\n", "metrics");
}

#[test]
fn a_failing_dump_writes_no_snapshot_and_runs_after_then_on_error() {
    let job = Job::new(
        "",
        r#"[[job.app.database]]
kind = "command"
name = "broken"
command = ["sh", "-c", "echo 'half a dump'; echo 'FATAL: connection refused' >&2; exit 3"]
"#,
    );
    let run = job.run(&["run", "app"]);
    expect_code(&run, 1, "snap run with a failing dump");
    assert_contains(&run.stderr, "database command/broken", "the error names the database");
    assert_contains(&run.stderr, "exited with status 3; no snapshot was written: FATAL: connection refused", "the tool's last stderr line");
    assert!(job.snapshots().is_empty(), "a snapshot was written");
    let log = job.hook_log();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[..2], ["before app", "after app"], "{log}");
    assert!(lines[2].starts_with("error database command/broken: `sh -c") && lines[2].contains("FATAL: connection refused"), "{log}");
    assert_eq!(lines.len(), 3, "{log}");
    let st = job.status();
    assert_eq!(st[0]["outcome"], "failed");
    assert_eq!(st[0]["failures_total"], 1);
    assert_eq!(st[0]["last_success"], serde_json::Value::Null);
    // An empty dump is a failure too.
    let job = Job::new("", "[[job.app.database]]\nkind = \"command\"\nname = \"empty\"\ncommand = [\"true\"]\n");
    let run = job.run(&["run", "app"]);
    expect_code(&run, 1, "snap run with an empty dump");
    assert_contains(&run.stderr, "database command/empty: the dump printed nothing; no snapshot was written", "empty dump");
    assert!(job.snapshots().is_empty());
}

#[test]
fn a_failing_before_hook_skips_the_backup_but_not_the_after_hooks() {
    let job = Job::new("", "");
    let text = std::fs::read_to_string(&job.config).unwrap().replace("before = [\"echo before", "before = [\"exit 7\", \"echo before");
    std::fs::write(&job.config, text).unwrap();
    let run = job.run(&["run", "app"]);
    expect_code(&run, 1, "before hook failing");
    assert_contains(&run.stderr, "before hook \"exit 7\" exited with status 7", "the failing hook is named");
    assert!(job.snapshots().is_empty());
    assert_eq!(job.hook_log(), "after app\nerror before hook \"exit 7\" exited with status 7\n");
}

/// Waits until `p` exists.
fn wait_for(p: &Path) {
    for _ in 0..600 {
        if p.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never appeared", p.display());
}

#[test]
fn one_run_of_a_job_at_a_time_and_sigterm_still_runs_the_after_hooks() {
    let job = Job::new("", "");
    let started = job.env.path().join("started");
    let go = job.env.path().join("go");
    let dump = format!("touch {}; while [ ! -e {} ]; do sleep 0.05; done; echo dumped", s(&started), s(&go));
    let text = std::fs::read_to_string(&job.config).unwrap() + &format!("[[job.app.database]]\nkind = \"command\"\nname = \"slow\"\ncommand = [\"sh\", \"-c\", \"{dump}\"]\n");
    std::fs::write(&job.config, text).unwrap();
    let first = job.cmd(&["run", "app"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for(&started);
    let second = job.run(&["run", "app"]);
    expect_code(&second, 11, "a second run of the same job");
    assert_contains(&second.stderr, &format!("job app is already running (pid {})", first.id()), "the running pid is named");
    // SIGTERM while the dump runs: the backup stops without a snapshot, the after hooks run.
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(i32::try_from(first.id()).unwrap(), libc::SIGTERM) }, 0);
    std::fs::write(&go, b"").unwrap();
    let run: Run = first.wait_with_output().unwrap().into();
    expect_code(&run, 130, "a run that got SIGTERM");
    assert!(job.snapshots().is_empty());
    let log = job.hook_log();
    assert!(log.starts_with("before app\nafter app\nerror "), "{log}");
    assert_contains(&log, "interrupted", "on_error learns why");
    // Afterwards the job runs again.
    std::fs::remove_file(&started).unwrap();
    expect_code(&job.run(&["run", "app"]), 0, "the next run");
}

#[test]
fn retention_keeps_exactly_the_policy_among_the_jobs_own_snapshots() {
    let job = Job::new("retention.local = { keep_last = 2 }", "");
    // A snapshot of another origin in the same repository: the job's policy never touches it.
    let other = job.env.path().join("other");
    write(&other.join("x"), b"x");
    let other_id = job.env.backup(&[&other]);
    for day in 1..=4 {
        write(&job.src.join("data/day.txt"), format!("day {day}\n").as_bytes());
        let run = job.run(&["run", "app", "--time", &format!("2026-03-0{day} 02:30:00")]);
        expect_code(&run, 0, "run");
    }
    let snaps = job.snapshots();
    let mut times: Vec<&str> = snaps.iter().filter(|s| s["job"] == "app").map(|s| s["time"].as_str().unwrap()).collect();
    times.sort_unstable();
    assert_eq!(times.len(), 2, "{snaps:?}");
    assert!(times[0].starts_with("2026-03-03T02:30:00") && times[1].starts_with("2026-03-04T02:30:00"), "{times:?}");
    assert!(snaps.iter().any(|s| s["id"] == other_id.as_str()), "the other snapshot was removed");
    let check = job.env.snap(["check", "--read-data"]);
    expect_code(&check, 0, "check after retention and prune");
    let listed = job.env.snap(["snapshots", "--json", "--job", "app"]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

#[test]
fn forty_days_of_runs_keep_three_days_here_and_thirty_off_site() {
    let job = Job::new("copy_to = [\"offsite\"]\nretention.local = { keep_daily = 3 }\nretention.offsite = { keep_daily = 30 }", "");
    let offsite = job.env.path().join("offsite");
    let pass2 = job.env.path().join("password2");
    std::fs::write(&pass2, "another password\n").unwrap();
    let init = job
        .env
        .cmd()
        .args(["-r", &s(&offsite), "--password-file", &s(&pass2), "init", "--kdf-memory-kib", "256", "--kdf-iterations", "1", "--from", &s(&job.env.repo())])
        .arg("--from-password-file")
        .arg(job.env.path().join("password"))
        .output()
        .unwrap();
    expect_code(&init.into(), 0, "init --from");
    let text = std::fs::read_to_string(&job.config).unwrap()
        + &format!("\n[repository.offsite]\nurl = \"{}\"\npassword_file = \"{}\"\n", s(&offsite), s(&pass2));
    std::fs::write(&job.config, text).unwrap();
    let start = jiff::civil::date(2026, 1, 1);
    for day in 0..40 {
        let date = start.checked_add(jiff::Span::new().days(day)).unwrap();
        write(&job.src.join("data/day.txt"), format!("{date}\n").as_bytes());
        let run = job.run(&["run", "app", "--time", &format!("{date} 02:30:00")]);
        expect_code(&run, 0, &format!("run of {date}"));
    }
    let days = |env_args: &[&str]| -> Vec<String> {
        let mut c = job.env.cmd();
        c.args(env_args).args(["snapshots", "--json", "--job", "app"]);
        let run: Run = c.output().unwrap().into();
        let mut d: Vec<String> = run.json().as_array().unwrap().iter().map(|s| s["time"].as_str().unwrap()[..10].to_string()).collect();
        d.sort();
        d
    };
    let expected = |from: i64| -> Vec<String> { (from..40).map(|d| start.checked_add(jiff::Span::new().days(d)).unwrap().to_string()).collect() };
    assert_eq!(days(&[]), expected(37), "local keeps the last 3 days");
    assert_eq!(days(&["-r", &s(&offsite), "--password-file", &s(&pass2)]), expected(10), "off-site keeps the last 30 days");
    // The off-site copy restores with its own password alone.
    let target = job.env.path().join("from-offsite");
    let run: Run = job.env.cmd().args(["-r", &s(&offsite), "--password-file", &s(&pass2), "restore", "latest", "--target", &s(&target)]).output().unwrap().into();
    expect_code(&run, 0, "restore from off-site");
    assert_same_tree(&job.src, &restored(&target, &job.src));
    let phases: Vec<String> = job.status()[0]["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(phases, ["before", "backup", "after", "retention", "copy to offsite", "retention offsite", "on_success"]);
}

#[test]
fn restore_once_restores_once_retries_an_interrupted_one_and_refuses_a_foreign_directory() {
    let env = Env::with_repo();
    let src = env.path().join("srv");
    write(&src.join("conf/a.toml"), b"a = 1\n");
    write(&src.join("data/big.bin"), &crate::util::pseudo_random(5 << 20, 9));
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    let once = |extra: &[&str]| -> Run {
        let mut args = vec!["restore", "--once", "latest", "--target"];
        let t = s(&target);
        args.push(&t);
        args.extend_from_slice(extra);
        env.snap(&args)
    };
    // An interrupted restore (here: one that could not write its big file) leaves no done marker.
    let mut cmd = env.cmd();
    cmd.args(["restore", "--once", "latest", "--target", &s(&target)]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let lim = libc::rlimit { rlim_cur: 1 << 20, rlim_max: 1 << 20 };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const lim) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
        });
    }
    let failed: Run = cmd.output().unwrap().into();
    expect_code(&failed, 1, "a --once restore that could not finish");
    assert!(!target.join(".snap-restored").exists(), "a done marker after an incomplete restore");
    assert!(target.join(".snap-restore-started").exists());
    // The next start sees its own interrupted restore and tries again (no --overwrite needed).
    let run = once(&[]);
    expect_code(&run, 0, "the retry");
    assert_contains(&run.stderr, "did not complete; restoring again", "the retry says why");
    assert_same_tree(&src, &restored(&target, &src));
    let marker: serde_json::Value = serde_json::from_slice(&std::fs::read(target.join(".snap-restored")).unwrap()).unwrap();
    assert_eq!(marker["snapshot"], id.as_str());
    assert!(!target.join(".snap-restore-started").exists());
    // Afterwards: a logged no-op that leaves local changes alone.
    std::fs::write(restored(&target, &src).join("conf/a.toml"), b"a = 2\n").unwrap();
    let run = once(&[]);
    expect_code(&run, 0, "the third start");
    assert_contains(&run.stdout, "nothing to do", "the no-op says so");
    assert_eq!(std::fs::read(restored(&target, &src).join("conf/a.toml")).unwrap(), b"a = 2\n");
    // A non-empty directory without a marker is refused unless --overwrite.
    let foreign = env.path().join("foreign");
    write(&foreign.join("keep.txt"), b"mine\n");
    let run = env.snap(["restore", "--once", "latest", "--target", &s(&foreign)]);
    expect_code(&run, 1, "a foreign directory");
    assert_contains(&run.stderr, "is not empty and carries no marker of an earlier --once restore", "refusal");
    let run = env.snap(["restore", "--once", "--overwrite", "latest", "--target", &s(&foreign)]);
    expect_code(&run, 0, "with --overwrite");
    assert_same_tree(&src, &restored(&foreign, &src));
}

#[test]
fn hooks_and_dumps_never_see_the_configs_password_variables() {
    let job = Job::new(
        "",
        "[[job.app.database]]\nkind = \"command\"\nname = \"env\"\ncommand = [\"env\"]\n",
    );
    let env_log = job.env.path().join("hook-env");
    let text = std::fs::read_to_string(&job.config)
        .unwrap()
        .replace(&format!("password_file = \"{}\"", s(&job.env.path().join("password"))), "password_env = \"SNAP_TEST_REPO_PASS\"")
        .replace("after = [\"echo after", &format!("after = [\"env > {}\", \"echo after", s(&env_log)));
    assert!(text.contains("password_env = \"SNAP_TEST_REPO_PASS\"") && text.contains("env > "), "{text}");
    std::fs::write(&job.config, text).unwrap();
    let run: Run = job.cmd(&["run", "app"]).env("SNAP_TEST_REPO_PASS", crate::util::PASSWORD).env("SNAP_TEST_VISIBLE", "yes").output().unwrap().into();
    expect_code(&run, 0, "run with a password variable");
    let hook_env = std::fs::read_to_string(&env_log).unwrap();
    assert!(hook_env.contains("SNAP_TEST_VISIBLE=yes") && !hook_env.contains("SNAP_TEST_REPO_PASS"), "{hook_env}");
    let id = job.snapshots()[0]["id"].as_str().unwrap().to_string();
    let dumped = job.env.snap(["dump", &id, "/databases/command/env"]).ok().stdout;
    assert!(dumped.contains("SNAP_TEST_VISIBLE=yes") && !dumped.contains("SNAP_TEST_REPO_PASS"), "{dumped}");
}

#[test]
fn a_dump_cut_short_by_a_tool_that_exits_0_writes_no_snapshot() {
    let job = Job::new("", "");
    let db = job.env.path().join("app.db");
    std::fs::write(&db, b"not read by the fake tool").unwrap();
    // A stand-in sqlite3 that prints the start of a dump and exits 0, as a tool cut short might.
    let bin = job.env.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let fake = bin.join("sqlite3");
    std::fs::write(&fake, "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '3.40.1 stand-in'; exit 0; fi\nprintf 'PRAGMA foreign_keys=OFF;\\nBEGIN TRANSACTION;\\nCREATE TABLE t(x);\\n'\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(&job.config).unwrap() + &format!("[[job.app.database]]\nkind = \"sqlite\"\nname = \"app\"\npath = \"{}\"\n", s(&db));
    std::fs::write(&job.config, text).unwrap();
    let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default());
    let run: Run = job.cmd(&["run", "app"]).env("PATH", path).output().unwrap().into();
    expect_code(&run, 1, "a cut dump");
    assert_contains(&run.stderr, "database sqlite/app: the dump does not end as a complete one does (no \"COMMIT;\" at its end); no snapshot was written", "the cut dump is named");
    assert!(job.snapshots().is_empty());
}

#[test]
fn config_check_probe_opens_every_repository_and_names_the_one_that_does_not() {
    let job = Job::new("", "[[job.app.database]]\nkind = \"command\"\nname = \"rows\"\ncommand = [\"echo\", \"x\"]\n");
    let run = job.run(&["config", "check", "--probe"]);
    expect_code(&run, 0, "config check --probe");
    assert_contains(&run.stdout, "repository local: opens (0 snapshots)", "the repository opened");
    assert_contains(&run.stdout, "job app: database command/rows reachable", "the dump planned");
    let wrong = job.env.path().join("wrong-password");
    std::fs::write(&wrong, "not the password\n").unwrap();
    let text = std::fs::read_to_string(&job.config).unwrap().replace(&format!("password_file = \"{}\"", s(&job.env.path().join("password"))), &format!("password_file = \"{}\"", s(&wrong)));
    std::fs::write(&job.config, text).unwrap();
    let run = job.run(&["config", "check", "--probe"]);
    expect_code(&run, 12, "a repository whose password is wrong");
    assert_contains(&run.stderr, "repository \"local\"", "the repository is named");
    assert_contains(&run.stderr, "wrong password", "why");
    // Without --probe only the sources are tried: the file gives a password, so it passes.
    expect_code(&job.run(&["config", "check"]), 0, "config check without --probe");
}

#[test]
fn several_jobs_all_run_and_the_run_exits_1_when_any_failed() {
    let job = Job::new("", "");
    let text = std::fs::read_to_string(&job.config).unwrap()
        + &format!("\n[job.broken]\nrepository = \"local\"\n\n[[job.broken.database]]\nkind = \"command\"\nname = \"fails\"\ncommand = [\"false\"]\n\n[job.gone]\nrepository = \"local\"\npaths = [\"{}\"]\n", s(&job.env.path().join("missing-on-purpose")));
    std::fs::write(&job.config, text).unwrap();
    let run = job.run(&["run", "--all"]);
    expect_code(&run, 1, "one job failed, the others ran");
    let st = job.status();
    let outcomes: Vec<(&str, &str)> = st.as_array().unwrap().iter().map(|s| (s["job"].as_str().unwrap(), s["outcome"].as_str().unwrap())).collect();
    assert_eq!(outcomes, [("app", "success"), ("broken", "failed"), ("gone", "failed")]);
}

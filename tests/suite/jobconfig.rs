//! Issue 10, server jobs: `snap config check` and `snap schedule` read the config file through
//! the real binary: a valid file is described exactly, a bad one fails with the file and line,
//! every password source is tried without being shown, and schedules give ordered run times.

use std::path::{Path, PathBuf};

use crate::util::{assert_contains, expect_code, s, Env, Run, PASSWORD};

/// Writes `text` as the environment's config file and returns its path.
fn config(env: &Env, text: &str) -> PathBuf {
    let p = env.path().join("snap.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

/// `snap ARGS --config FILE`.
fn run(env: &Env, file: &Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    all.extend(["--config".to_string(), s(file)]);
    env.snap(all)
}

/// A repository whose password is the environment's password file, and one job.
fn valid(env: &Env) -> String {
    format!(
        r#"state_dir = "{state}"

[repository.local]
url = "{repo}"
password_file = "{pass}"

[repository.other]
url = "{repo}-other"
password_command = "cat {pass}"

[job.web]
schedule = "0 30 2 * * *"
timezone = "UTC"
paths = ["/srv/www"]
repository = "local"
copy_to = ["other"]
before = ["true"]
retention.local = {{ keep_daily = 7 }}
check = {{ read_data_subset = "1/7" }}

[[job.web.database]]
kind = "sqlite"
path = "/var/lib/app/app.db"
"#,
        state = s(&env.path().join("state")),
        repo = s(&env.repo()),
        pass = s(&env.path().join("password")),
    )
}

#[test]
fn config_check_describes_a_valid_file_exactly() {
    let env = Env::new();
    let file = config(&env, &valid(&env));
    let out = run(&env, &file, &["config", "check", "--json"]).ok();
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD), "{out:?}");
    let mut v = out.json();
    let next = v["jobs"]["web"].as_object_mut().expect("job").remove("next_runs").expect("next_runs");
    let pass = s(&env.path().join("password"));
    assert_eq!(
        v,
        serde_json::json!({
            "config": s(&file),
            "state_dir": s(&env.path().join("state")),
            "repositories": {
                "local": { "name": "local", "url": s(&env.repo()), "password": { "file": pass }, "cache_dir": null },
                "other": { "name": "other", "url": format!("{}-other", s(&env.repo())), "password": { "command": format!("cat {pass}") }, "cache_dir": null },
            },
            "jobs": { "web": {
                "name": "web", "schedule": "0 30 2 * * *", "timezone": "UTC", "zone": "UTC", "catch_up": false,
                "paths": ["/srv/www"], "exclude": [], "one_file_system": false, "tags": [], "host": null,
                "repository": "local", "copy_to": ["other"],
                "before": ["true"], "after": [], "on_error": [], "on_success": [],
                "retention": { "local": { "keep_last": 0, "keep_hourly": 0, "keep_daily": 7, "keep_weekly": 0, "keep_monthly": 0,
                    "keep_yearly": 0, "keep_within": null, "keep_tags": [], "prune": true } },
                "check": { "read_data_subset": "1/7" },
                "databases": [{ "kind": "sqlite", "name": "app", "host": null, "port": null, "user": null, "password": null,
                    "socket": null, "path": "/var/lib/app/app.db", "command": [], "format": null, "options": [], "verify": [] }],
                "drill": null,
            } },
        })
    );
    let next: Vec<jiff::Timestamp> = next.as_array().expect("array").iter().map(|t| t.as_str().expect("string").parse().expect("time")).collect();
    assert_eq!(next.len(), 3);
    assert!(next.windows(2).all(|w| w[1].as_second() - w[0].as_second() == 86400), "{next:?}");
    assert!(next.iter().all(|t| t.to_string().ends_with("T02:30:00Z")), "{next:?}");
    // Nothing was opened or created.
    assert!(!env.repo().exists() && !env.path().join("state").exists());

    // The human form names what each job does, and never a password.
    let out = run(&env, &file, &["config", "check"]).ok();
    for want in ["repository local:", "password from file", "job web", "0 30 2 * * * (UTC)", "local, then copied to other", "sqlite app from /var/lib/app/app.db", "local: keep daily 7; prune", "read data subset 1/7", "02:30:00 +00:00"] {
        assert_contains(&out.stdout, want, "config check");
    }
    assert!(!out.stdout.contains(PASSWORD), "{}", out.stdout);
}

#[test]
fn config_check_finds_the_file_through_snap_config() {
    let env = Env::new();
    let file = config(&env, &valid(&env));
    let out: Run = env.cmd().env("SNAP_CONFIG", &file).args(["config", "check", "--json"]).output().expect("run").into();
    assert_eq!(out.ok().json()["config"], s(&file));
    // No file given and none in the default places: say where it looked.
    if !Path::new("/etc/snap/snap.toml").exists() {
        let out = env.snap(["config", "check"]);
        expect_code(&out, 1, "no config file");
        assert_eq!(
            out.stderr.trim(),
            format!("snap: no config file (looked for /etc/snap/snap.toml and {}): use --config FILE or SNAP_CONFIG", s(&env.path().join(".config/snap/snap.toml")))
        );
    }
}

#[test]
fn an_unknown_key_fails_with_its_name_and_line() {
    let env = Env::new();
    let text = valid(&env).replace("copy_to = [\"other\"]", "copy_to = [\"other\"]\ncopy_too = [\"other\"]");
    let file = config(&env, &text);
    let out = run(&env, &file, &["config", "check"]);
    expect_code(&out, 1, "unknown key");
    assert!(out.stderr.starts_with(&format!("snap: {}:17: unknown field `copy_too`, expected one of ", s(&file))), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn a_job_naming_a_missing_repository_fails() {
    let env = Env::new();
    let file = config(&env, &valid(&env).replace("copy_to = [\"other\"]", "copy_to = [\"nas\"]"));
    let out = run(&env, &file, &["config", "check"]);
    expect_code(&out, 1, "missing repository");
    assert_eq!(out.stderr.trim(), format!("snap: {}:16: job \"web\": copy_to \"nas\" is not a defined repository (defined: local, other)", s(&file)));
    // `schedule` reads the same file and refuses it the same way.
    let out = run(&env, &file, &["schedule"]);
    expect_code(&out, 1, "schedule of a bad file");
    assert_contains(&out.stderr, "copy_to \"nas\" is not a defined repository", "schedule");
}

#[test]
fn a_missing_or_empty_password_source_fails_and_names_it() {
    let env = Env::new();
    let gone = env.path().join("gone.pass");
    let file = config(&env, &valid(&env).replace(&s(&env.path().join("password")), &s(&gone)));
    let out = run(&env, &file, &["config", "check"]);
    expect_code(&out, 1, "missing password file");
    // Both repositories read it (the second through `cat`): both are named.
    assert_contains(&out.stderr, "snap: 2 password sources failed: ", "missing password file");
    assert_contains(&out.stderr, &format!("repository \"local\": reading password file {}: No such file or directory", s(&gone)), "missing password file");
    assert_contains(&out.stderr, &format!("repository \"other\": password command \"cat {}\" failed with exit status: 1", s(&gone)), "missing password file");

    // An environment variable that is set but empty.
    let text = format!("[repository.r]\nurl = \"{}\"\npassword_env = \"SNAP_TEST_EMPTY\"\n", s(&env.repo()));
    let file = config(&env, &text);
    let out: Run = env.cmd().env("SNAP_TEST_EMPTY", "").args(["config", "check", "--config", &s(&file)]).output().expect("run").into();
    expect_code(&out, 1, "empty variable");
    assert_eq!(out.stderr.trim(), "snap: repository \"r\": empty password: password variable SNAP_TEST_EMPTY is empty");
    let out: Run = env.cmd().env("SNAP_TEST_EMPTY", PASSWORD).args(["config", "check", "--config", &s(&file)]).output().expect("run").into();
    assert_contains(&out.ok().stdout, "repository r: ", "set variable");
}

#[test]
fn schedule_lists_ordered_runs_that_match_the_expression() {
    let env = Env::new();
    let text = format!(
        "[repository.r]\nurl = \"{repo}\"\npassword_file = \"{pass}\"\n\n\
         [job.nightly]\nschedule = \"0 30 * * * *\"\ntimezone = \"Asia/Kolkata\"\npaths = [\"/srv\"]\nrepository = \"r\"\n\n\
         [job.often]\nschedule = \"*/2 * * * * *\"\ntimezone = \"UTC\"\npaths = [\"/srv\"]\nrepository = \"r\"\n\n\
         [job.manual]\npaths = [\"/srv\"]\nrepository = \"r\"\n",
        repo = s(&env.repo()),
        pass = s(&env.path().join("password")),
    );
    let file = config(&env, &text);
    let out = run(&env, &file, &["schedule", "--json", "--count", "3"]).ok();
    let v = out.json();
    let jobs = v.as_array().expect("array");
    let names: Vec<&str> = jobs.iter().map(|j| j["job"].as_str().expect("job")).collect();
    assert_eq!(names, ["manual", "nightly", "often"]);
    assert_eq!(jobs[0]["schedule"], serde_json::Value::Null);
    assert_eq!(jobs[0]["next_runs"], serde_json::json!([]));
    assert_eq!((jobs[1]["schedule"].as_str(), jobs[1]["timezone"].as_str(), jobs[1]["zone"].as_str()), (Some("0 30 * * * *"), Some("Asia/Kolkata"), Some("Asia/Kolkata")));
    let times = |j: &serde_json::Value| -> Vec<jiff::Zoned> {
        j["next_runs"]
            .as_array()
            .expect("next_runs")
            .iter()
            .map(|t| {
                let t: jiff::Timestamp = t.as_str().expect("string").parse().expect("time");
                t.to_zoned(jiff::tz::TimeZone::get(j["zone"].as_str().expect("zone")).expect("zone in the database"))
            })
            .collect()
    };
    let nightly = times(&jobs[1]);
    assert_eq!(nightly.len(), 3);
    // In +05:30, minute 30 of the wall clock is minute 0 in UTC: the offset was applied.
    assert!(nightly.iter().all(|t| t.minute() == 30 && t.second() == 0 && t.offset().seconds() == 19800), "{nightly:?}");
    assert!(nightly.windows(2).all(|w| w[1].timestamp().as_second() - w[0].timestamp().as_second() == 3600), "{nightly:?}");
    assert!(jobs[1]["next_runs"][0].as_str().expect("time").ends_with(":30:00+05:30"), "{}", jobs[1]);
    let often = times(&jobs[2]);
    assert_eq!(often.len(), 3);
    assert!(often.iter().all(|t| t.second() % 2 == 0 && t.subsec_nanosecond() == 0), "{often:?}");
    assert!(often.windows(2).all(|w| w[1].timestamp().as_second() - w[0].timestamp().as_second() == 2), "{often:?}");
    let now = jiff::Timestamp::now().as_second();
    assert!(often[0].timestamp().as_second() > now - 60 && often[0].timestamp().as_second() <= now + 2, "{often:?}");

    // The human form: one block per job.
    let out = run(&env, &file, &["schedule", "--count", "2"]).ok();
    assert_contains(&out.stdout, "manual: no schedule, runs only when started by hand", "schedule");
    assert_contains(&out.stdout, "nightly: 0 30 * * * * (Asia/Kolkata)", "schedule");
    assert_eq!(out.stdout.lines().filter(|l| l.ends_with("+05:30")).count(), 2, "{}", out.stdout);
}

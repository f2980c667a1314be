//! Issue 11, recovery drills: `snap drill JOB` restores a job's snapshot into scratch space, loads
//! every dump into a scratch server it starts itself (PostgreSQL, MariaDB, SQLite), runs the
//! job's verification queries, and measures the recovery point and time — from the job's
//! repository and from an off-site copy — without touching the live data or servers; damage,
//! a dump that does not load, and missed objectives fail it with the cause named; its reports
//! live in the repository and outlive the machine's state.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::mariadb::Maria;
use crate::postgres::{insert_rows_sql, Postgres, STATE_SQL};
use crate::util::{assert_contains, expect_code, s, write, Env, Run};

/// A directory a scratch PostgreSQL run as the `postgres` user can reach (the test environment's
/// own directory is 0700 root).
fn scratch_base() -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("snap-drill-test-").tempdir_in("/tmp").expect("scratch tempdir");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod scratch");
    d
}

/// Everything below `root`: relative path, mode, and content (or link target), sorted.
fn tree(root: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let md = std::fs::symlink_metadata(&p).expect("lstat");
            let rel = p.strip_prefix(root).expect("prefix").display().to_string();
            let body = if md.file_type().is_symlink() {
                std::fs::read_link(&p).expect("readlink").into_os_string().into_encoded_bytes()
            } else if md.is_file() {
                std::fs::read(&p).expect("read")
            } else {
                dirs.push(p.clone());
                Vec::new()
            };
            out.push((rel, md.permissions().mode(), body));
        }
    }
    out.sort();
    out
}

fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("run sqlite3");
    assert!(out.status.success(), "sqlite3 {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn drill(env: &Env, config: &Path, args: &[&str]) -> Run {
    env.cmd().arg("--json").arg("drill").args(args).arg("--config").arg(config).output().expect("run snap drill").into()
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"].as_array().expect("checks").iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn phases(report: &Value) -> Vec<String> {
    report["phases"].as_array().expect("phases").iter().map(|p| p["name"].as_str().expect("name").to_string()).collect()
}

fn database<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["databases"].as_array().expect("databases").iter().find(|d| d["name"] == name).unwrap_or_else(|| panic!("no database {name} in {report}"))
}

fn init_offsite(env: &Env) -> (PathBuf, PathBuf) {
    let offsite = env.path().join("offsite");
    let pass2 = env.path().join("password2");
    std::fs::write(&pass2, "the off-site password\n").expect("write");
    let init = env
        .cmd()
        .args(["-r", &s(&offsite), "--password-file", &s(&pass2), "init", "--kdf-memory-kib", "256", "--kdf-iterations", "1", "--from", &s(&env.repo())])
        .arg("--from-password-file")
        .arg(env.path().join("password"))
        .output()
        .expect("init --from");
    expect_code(&init.into(), 0, "init --from");
    (offsite, pass2)
}

#[test]
fn a_drill_restores_paths_and_every_kind_of_database_into_scratch_and_leaves_the_live_ones_alone() {
    let pg = Postgres::start();
    let maria = Maria::start();
    let env = Env::with_repo();
    let scratch = scratch_base();

    pg.createdb("chat");
    pg.sql("chat", "CREATE TABLE messages (id bigint PRIMARY KEY, room int, author text, body text, created timestamptz)");
    pg.sql("chat", &insert_rows_sql(1, 2500));
    maria.sql("CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT); INSERT INTO shop.items VALUES (1, 'tea'), (2, 'cups'), (3, 'kettle');");
    let lite = env.path().join("live/app.db");
    std::fs::create_dir_all(lite.parent().unwrap()).unwrap();
    sqlite(&lite, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'), ('c'), ('d');");
    let etc = env.path().join("etc/app");
    write(&etc.join("app.conf"), b"answer = 42\n");
    std::fs::set_permissions(etc.join("app.conf"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let data = env.path().join("srv/data");
    write(&data.join("uploads/a.bin"), &crate::util::pseudo_random(200_000, 3));
    write(&data.join("uploads/b.txt"), b"hello\n");
    std::os::unix::fs::symlink("uploads/b.txt", data.join("latest")).unwrap();
    let (offsite, pass2) = init_offsite(&env);

    let config = env.path().join("snap.toml");
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{state}"
[repository.local]
url = "{repo}"
password_file = "{pass}"
[repository.offsite]
url = "{offsite}"
password_file = "{pass2}"

[job.server]
paths = ["{etc}", "{data}"]
repository = "local"
copy_to = ["offsite"]
drill = {{ rpo = "1h", rto = "10m", scratch = "{scratch}", command = "grep -q 'answer = 42' \"$SNAP_DRILL_FILES{etc}/app.conf\" && test \"$(psql -XAtc 'SELECT count(*) FROM messages' chat)\" = 2500 && test -d \"$SNAP_DRILL_SQLITE_DIR\"" }}

[[job.server.database]]
kind = "postgresql"
name = "chat"
host = "127.0.0.1"
port = {port}
user = "postgres"
verify = [{{ sql = "SELECT count(*) FROM messages", min = 2500 }}, {{ sql = "SELECT count(DISTINCT room) FROM messages", min = 2 }}]

[[job.server.database]]
kind = "mariadb"
name = "shop"
socket = "{socket}"
user = "root"
verify = [{{ sql = "SELECT COUNT(*) FROM items", min = 3, max = 3 }}]

[[job.server.database]]
kind = "sqlite"
name = "app"
path = "{lite}"
verify = [{{ sql = "SELECT count(*) FROM t", min = 4 }}]
"#,
            state = s(&env.path().join("state")),
            repo = s(&env.repo()),
            pass = s(&env.path().join("password")),
            offsite = s(&offsite),
            pass2 = s(&pass2),
            etc = s(&etc),
            data = s(&data),
            scratch = s(scratch.path()),
            port = pg.port,
            socket = s(&maria.socket()),
            lite = s(&lite),
        ),
    )
    .unwrap();
    let run: Run = env.cmd().args(["run", "server", "--config"]).arg(&config).output().unwrap().into();
    expect_code(&run, 0, "snap run");

    let live = || (pg.sql("chat", STATE_SQL), maria.sql("CHECKSUM TABLE shop.items"), sqlite(&lite, "SELECT group_concat(id || v) FROM t"), tree(&etc), tree(&data));
    let before = live();

    for from in ["local", "offsite"] {
        let run = drill(&env, &config, &["server", "--from", from]);
        expect_code(&run, 0, &format!("drill from {from}"));
        let r = run.json();
        assert_eq!((r["job"].as_str(), r["repository"].as_str(), r["passed"].as_bool()), (Some("server"), Some(from), Some(true)), "{r}");
        for c in r["checks"].as_array().unwrap() {
            assert_eq!(c["ok"], true, "check failed: {c}");
        }
        assert_eq!(
            r["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect::<Vec<_>>(),
            ["snapshot", "rpo", "files", "database chat", "database shop", "database app", "command", "rto"]
        );
        // What the snapshot holds: app.conf, a.bin, b.txt; dirs etc, app, srv, data, uploads
        // and the path prefix above them; one link.
        assert_eq!(r["files_restored"], 3, "{r}");
        assert_eq!(r["bytes_restored"], 200_000 + 6 + 12, "{r}");
        assert_contains(check(&r, "files")["detail"].as_str().unwrap(), "3 files", "files check");
        let chat = database(&r, "chat");
        assert_eq!((chat["kind"].as_str(), chat["loaded"].as_bool()), (Some("postgresql"), Some(true)));
        let values: Vec<(&str, &str, bool)> = chat["queries"].as_array().unwrap().iter().map(|q| (q["sql"].as_str().unwrap(), q["value"].as_str().unwrap(), q["ok"].as_bool().unwrap())).collect();
        assert_eq!(
            values,
            [
                ("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')", "1", true),
                ("SELECT count(*) FROM messages", "2500", true),
                ("SELECT count(DISTINCT room) FROM messages", &pg.sql("chat", "SELECT count(DISTINCT room) FROM messages"), true),
            ]
        );
        assert_eq!(database(&r, "shop")["queries"][1]["value"], "3");
        assert_eq!(database(&r, "app")["queries"][0]["value"], "ok", "PRAGMA integrity_check");
        assert_eq!(database(&r, "app")["queries"][1]["value"], "4");
        // Both objectives come from the real clock: the snapshot is seconds old, the drill took
        // seconds, and the report says what they were held to.
        let rpo = r["rpo_secs"].as_f64().unwrap();
        let rto = r["rto_secs"].as_f64().unwrap();
        assert!(rpo >= 0.0 && rpo < 3600.0, "rpo {rpo}");
        assert!(rto > 0.0 && rto < 600.0, "rto {rto}");
        assert_eq!((r["rpo_target_secs"].as_f64(), r["rto_target_secs"].as_f64()), (Some(3600.0), Some(600.0)));
        let sum: f64 = r["phases"].as_array().unwrap().iter().map(|p| p["secs"].as_f64().unwrap()).sum();
        assert!(sum <= rto, "phases {sum} s within the rto {rto} s");
        for p in ["open repository", "select snapshot", "restore files", "compare files", "start postgresql", "load chat", "start mariadb", "verify chat", "load shop", "verify shop", "load app", "verify app", "command"] {
            assert!(phases(&r).contains(&p.to_string()), "no phase {p}: {:?}", phases(&r));
        }
        // The scratch directory is gone, and nothing live changed.
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0, "scratch left behind");
        assert_eq!(live(), before, "a drill changed live data");
    }
    // The latest drill is in the status record and the metrics.
    let prom = std::fs::read_to_string(env.path().join("state/metrics/snap.prom")).unwrap();
    assert_contains(&prom, "snap_drill_passed{job=\"server\"} 1\n", "metrics");
    assert_contains(&prom, "snap_drill_rto_seconds{job=\"server\"} ", "metrics");
    // --keep leaves the scratch directory, with the restored files in it.
    let run = drill(&env, &config, &["server", "--keep"]);
    expect_code(&run, 0, "drill --keep");
    let kept: Vec<PathBuf> = std::fs::read_dir(scratch.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(std::fs::read(kept[0].join("files").join(etc.strip_prefix("/").unwrap()).join("app.conf")).unwrap(), b"answer = 42\n");
    std::fs::remove_dir_all(&kept[0]).unwrap();
}

/// A job of files and an SQLite database, with a drill section; `sqlite3_wrapper` (a shell
/// script body) stands in for `sqlite3` during the job's run when given.
struct FilesJob {
    env: Env,
    config: PathBuf,
    _scratch: tempfile::TempDir,
    scratch: PathBuf,
}

impl FilesJob {
    fn new(drill: &str) -> Self {
        let env = Env::with_repo();
        let scratch = scratch_base();
        let src = env.path().join("srv/app");
        write(&src.join("config/app.toml"), b"port = 80\n");
        write(&src.join("data/blob.bin"), &crate::util::pseudo_random(400_000, 11));
        let lite = env.path().join("app.db");
        sqlite(&lite, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('x'), ('y');");
        let config = env.path().join("snap.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{state}\"\n[repository.local]\nurl = \"{repo}\"\npassword_file = \"{pass}\"\n\n[job.app]\npaths = [\"{src}\"]\nrepository = \"local\"\ndrill = {{ scratch = \"{scratch}\"{drill} }}\n\n[[job.app.database]]\nkind = \"sqlite\"\nname = \"app\"\npath = \"{lite}\"\n",
                state = s(&env.path().join("state")),
                repo = s(&env.repo()),
                pass = s(&env.path().join("password")),
                src = s(&src),
                scratch = s(scratch.path()),
                lite = s(&lite),
            ),
        )
        .unwrap();
        let path = scratch.path().to_path_buf();
        Self { env, config, _scratch: scratch, scratch: path }
    }

    fn run_job(&self, path_prefix: Option<&Path>, time: Option<&str>) {
        let mut c = self.env.cmd();
        if let Some(p) = path_prefix {
            c.env("PATH", format!("{}:{}", p.display(), std::env::var("PATH").unwrap_or_default()));
        }
        c.args(["run", "app", "--config"]).arg(&self.config);
        if let Some(t) = time {
            c.args(["--time", t]);
        }
        expect_code(&c.output().unwrap().into(), 0, "snap run");
    }

    fn drill(&self, args: &[&str]) -> Run {
        let mut all = vec!["app"];
        all.extend_from_slice(args);
        drill(&self.env, &self.config, &all)
    }
}

#[test]
fn damage_and_a_dump_that_does_not_load_fail_the_drill_naming_the_cause() {
    // A dump that does not load: the job's sqlite3 writes a statement SQLite cannot parse
    // (still ending in COMMIT;, so the backup takes it).
    let job = FilesJob::new("");
    let bin = job.env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v sqlite3"]).output().unwrap().stdout).unwrap();
    let wrapper = bin.join("sqlite3");
    std::fs::write(&wrapper, format!("#!/bin/sh\n{} \"$@\" | sed 's/^INSERT INTO/INSERT INTOO/'\n", real.trim())).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    job.run_job(Some(&bin), None);
    let run = job.drill(&[]);
    expect_code(&run, 4, "drill of a dump that does not load");
    let r = run.json();
    assert_eq!(r["passed"], false);
    assert_eq!(check(&r, "files")["ok"], true, "the files restore: {r}");
    let app = database(&r, "app");
    assert_eq!(app["loaded"], false);
    let err = app["error"].as_str().unwrap();
    assert!(err.starts_with("restoring /databases/sqlite/app.sql with `sqlite3 -bail "), "{err}");
    assert_contains(err, "near \"INTOO\": syntax error", "sqlite3's own error");
    assert_eq!(check(&r, "database app")["ok"], false);
    assert_contains(&run.stderr, "snap: drill app failed: database app: restoring /databases/sqlite/app.sql", "stderr");

    // Damage: a flipped byte in a data pack the latest snapshot needs.
    let job = FilesJob::new("");
    job.run_job(None, None);
    let packs = job.env.raw().list("data/");
    let (biggest, _) = packs.iter().max_by_key(|(_, n)| *n).cloned().unwrap();
    let mut bytes = job.env.raw().read(&biggest);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    job.env.raw().write(&biggest, &bytes);
    let run = job.drill(&[]);
    expect_code(&run, 4, "drill of a damaged repository");
    let r = run.json();
    assert_eq!(r["passed"], false);
    let files = check(&r, "files");
    assert_eq!(files["ok"], false, "{r}");
    // The file whose chunk lies in the damaged pack, and the blob that failed authentication.
    let detail = files["detail"].as_str().unwrap();
    assert!(detail.starts_with("1 entries could not be restored, the first: "), "{detail}");
    assert_contains(detail, "/srv/app/data/blob.bin: blob ", "the damaged file and blob named");
    assert!(detail.ends_with(": authentication failed (wrong key or damaged data)"), "{detail}");
    assert_contains(&run.stderr, "snap: drill app failed: files: 1 entries could not be restored", "stderr");
    assert_eq!(std::fs::read_dir(&job.scratch).unwrap().count(), 0, "scratch left behind");
}

#[test]
fn missed_objectives_fail_and_the_history_outlives_the_state_and_cache() {
    let job = FilesJob::new(", rpo = \"26h\", rto = \"1s\", command = \"sleep 2\"");
    job.run_job(None, Some("2026-03-01 02:30:00"));
    // The recovery point: three days after the snapshot, it is too old; nothing is restored.
    let run = job.drill(&["--time", "2026-03-04 02:30:00"]);
    expect_code(&run, 4, "drill with the rpo missed");
    let r = run.json();
    assert_eq!(check(&r, "rpo")["ok"], false);
    assert_eq!(check(&r, "rpo")["detail"], "the latest snapshot is 3d 00h 00m, older than the objective 1d 02h 00m");
    assert_eq!(r["rpo_secs"], 3.0 * 86400.0);
    assert!(!phases(&r).contains(&"restore files".to_string()), "restored despite the rpo miss: {r}");
    assert_eq!((r["files_restored"].as_u64(), r["rto_secs"].as_f64()), (Some(0), None));

    // The recovery time: everything passes, but a command that sleeps 2 s misses a 1 s rto.
    let run = job.drill(&["--time", "2026-03-01 12:00:00"]);
    expect_code(&run, 4, "drill with the rto missed");
    let r = run.json();
    for ok in ["snapshot", "rpo", "files", "database app", "command"] {
        assert_eq!(check(&r, ok)["ok"], true, "{ok}: {r}");
    }
    assert_eq!(check(&r, "rto")["ok"], false);
    assert!(r["rto_secs"].as_f64().unwrap() > 2.0);
    assert_contains(check(&r, "rto")["detail"].as_str().unwrap(), "longer than the objective 1.0s", "rto detail");

    // A third drill, then the machine's state and cache are lost: the history is in the repository.
    let run = job.drill(&["--time", "2026-03-01 13:00:00"]);
    expect_code(&run, 4, "third drill");
    std::fs::remove_dir_all(job.env.path().join("state")).unwrap();
    std::fs::remove_dir_all(job.env.cache()).unwrap();
    let run: Run = job.env.cmd().args(["--json", "drill", "app", "--history", "--config"]).arg(&job.config).output().unwrap().into();
    expect_code(&run, 0, "drill --history");
    let h = run.json();
    let listed: Vec<(&str, bool)> = h.as_array().unwrap().iter().map(|r| (r["started"].as_str().unwrap(), r["passed"].as_bool().unwrap())).collect();
    assert_eq!(listed, [("2026-03-01T12:00:00Z", false), ("2026-03-01T13:00:00Z", false), ("2026-03-04T02:30:00Z", false)]);
    assert_eq!(h[0]["checks"].as_array().unwrap().len(), 6, "{}", h[0]);
    // And in people's words.
    let run: Run = job.env.cmd().args(["drill", "app", "--history", "--config"]).arg(&job.config).output().unwrap().into();
    expect_code(&run, 0, "drill --history");
    assert_eq!(run.stdout.lines().count(), 4, "{}", run.stdout);
    assert_contains(&run.stdout, "FAILED: rto: the recovery took", "history line");
}

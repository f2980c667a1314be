//! The product's core promise against a real PostgreSQL: a config directory and a `pg_dump`
//! stream go into one snapshot; after scattered row edits the next snapshot stores only a
//! fraction of the dump again; every snapshot restores to a database with exactly the rows the
//! source had when it was taken, and to the config files as they were; a failing `pg_dump` writes
//! no snapshot.
//!
//! The test starts its own server (PostgreSQL 15 from the Debian packages: server binaries in
//! `/usr/lib/postgresql/15/bin`, or `$SNAP_TEST_PG_BINDIR`; clients `pg_dump`, `psql`, `createdb`
//! in `PATH`) in a temporary directory on a free port, and stops it when the test ends, passing
//! or failing. `initdb` and `postgres` refuse to run as root, so as root the server commands run
//! as the `postgres` system user (`runuser -u postgres --`). Missing binaries fail the test.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::{assert_same_tree, pseudo_random, restored, s, Env};

const DEFAULT_PG_BINDIR: &str = "/usr/lib/postgresql/15/bin";

/// Rows in the table before the edits.
const ROWS: i64 = 50_000;

// ---------------------------------------------------------------------------------------------
// A throwaway PostgreSQL server
// ---------------------------------------------------------------------------------------------

/// A running server in its own temporary directory; dropping it stops the server
/// (`pg_ctl -m immediate stop`) and then removes the directory.
pub(crate) struct Postgres {
    bindir: PathBuf,
    /// Holds `data/`, `sock/` and `server.log`; owned by `postgres` when we are root.
    dir: tempfile::TempDir,
    pub(crate) port: u16,
    /// Run server commands through `runuser -u postgres --` (we are root).
    as_postgres: bool,
    started: bool,
}

fn effective_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid: line in /proc/self/status");
    // "Uid:\treal\teffective\tsaved\tfs"
    line.split_whitespace().nth(2).and_then(|s| s.parse().ok()).expect("effective uid")
}

/// uid and gid of the `postgres` system user, from /etc/passwd.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd.lines().find(|l| l.starts_with("postgres:")).unwrap_or_else(|| {
        panic!("running as root, but there is no `postgres` system user to run the PostgreSQL server as (install the postgresql package)")
    });
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().expect("postgres uid"), f[3].parse().expect("postgres gid"))
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

#[track_caller]
fn check(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({})\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails (not skips) when a program the test needs is not installed.
fn require(program: &Path) {
    let ok = Command::new(program).arg("--version").stdin(Stdio::null()).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(
        ok,
        "PostgreSQL test: `{}` is missing or does not run; install PostgreSQL 15 (Debian: apt-get install postgresql-15 postgresql-client-15) or set SNAP_TEST_PG_BINDIR to the directory holding initdb/pg_ctl/postgres",
        program.display()
    );
}

impl Postgres {
    pub(crate) fn start() -> Self {
        let bindir = std::env::var_os("SNAP_TEST_PG_BINDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(DEFAULT_PG_BINDIR));
        for p in ["initdb", "pg_ctl", "postgres"] {
            require(&bindir.join(p));
        }
        for p in ["pg_dump", "psql", "createdb"] {
            require(Path::new(p));
        }
        let as_postgres = effective_uid() == 0;
        // Under /tmp, not inside the test environment's directory: that one is 0700 root when
        // we are root, and the `postgres` user could not reach anything below it.
        let dir = tempfile::Builder::new().prefix("snap-pg-").tempdir_in("/tmp").expect("tempdir for PostgreSQL");
        let sock = dir.path().join("sock");
        std::fs::create_dir(&sock).expect("socket dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod pg dir");
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o700)).expect("chmod socket dir");
        if as_postgres {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown pg dir to postgres");
            std::os::unix::fs::chown(&sock, Some(uid), Some(gid)).expect("chown socket dir to postgres");
        }
        let mut pg = Self { bindir, dir, port: free_port(), as_postgres, started: false };

        let data = pg.data();
        let out = pg
            .server_cmd("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .output()
            .expect("run initdb");
        check("initdb", &out);
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).expect("chmod data dir");

        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", pg.port, sock.display());
        let log = pg.dir.path().join("server.log");
        // From here on, Drop stops whatever pg_ctl may have started.
        pg.started = true;
        let out = pg.server_cmd("pg_ctl").arg("-D").arg(&data).arg("-l").arg(&log).args(["-o", &opts, "-w", "-t", "60", "start"]).output().expect("run pg_ctl start");
        if !out.status.success() {
            panic!(
                "pg_ctl start failed ({})\nstdout: {}\nstderr: {}\nserver log:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A server program (`initdb`, `pg_ctl`), run as `postgres` when we are root.
    fn server_cmd(&self, program: &str) -> Command {
        let exe = self.bindir.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        // The test's working directory may be unreadable for `postgres`.
        c.current_dir(self.dir.path()).stdin(Stdio::null());
        c
    }

    /// Connection arguments for the client programs.
    fn conn(&self) -> Vec<String> {
        vec!["-h".into(), "127.0.0.1".into(), "-p".into(), self.port.to_string(), "-U".into(), "postgres".into()]
    }

    /// A `psql` on database `db` that stops at the first error and reads no ~/.psqlrc.
    fn psql_cmd(&self, db: &str) -> Command {
        let mut c = Command::new("psql");
        c.args(self.conn()).args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db]);
        c
    }

    /// Runs `sql` on `db` and returns the unaligned, tuples-only output, trimmed.
    #[track_caller]
    pub(crate) fn sql(&self, db: &str, sql: &str) -> String {
        let out = self.psql_cmd(db).args(["-A", "-t", "-c", sql]).stdin(Stdio::null()).output().expect("run psql");
        check(&format!("psql -d {db} -c {sql:?}"), &out).trim().to_string()
    }

    #[track_caller]
    pub(crate) fn createdb(&self, name: &str) {
        let out = Command::new("createdb").args(self.conn()).arg(name).stdin(Stdio::null()).output().expect("run createdb");
        check(&format!("createdb {name}"), &out);
    }

    /// `pg_dump DB` into memory.
    #[track_caller]
    fn pg_dump(&self, db: &str) -> Vec<u8> {
        let out = Command::new("pg_dump").args(self.conn()).arg(db).stdin(Stdio::null()).output().expect("run pg_dump");
        check(&format!("pg_dump {db}"), &out);
        out.stdout
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.started {
            let _ = self.server_cmd("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

/// What the source table holds: count, sum of ids and a digest over every column in id order.
pub(crate) const STATE_SQL: &str = "SELECT count(*) || ' ' || coalesce(sum(id), 0) || ' ' || \
     md5(coalesce(string_agg(id || ':' || room || ':' || author || ':' || body || ':' || extract(epoch FROM created), ',' ORDER BY id), '')) \
     FROM messages";

/// Rows `lo..=hi` of the chat: ~390 bytes of text each, all different (md5s, no repeats, so the
/// content-defined chunker sees realistic, non-periodic data).
pub(crate) fn insert_rows_sql(lo: i64, hi: i64) -> String {
    format!(
        "INSERT INTO messages \
         SELECT g, g % 97, 'user_' || (g * 7919 % 1000), \
                'message ' || g || ': ' || (SELECT string_agg(md5(g || '/' || k), ' ') FROM generate_series(1, 10) k), \
                timestamptz '2024-01-01 00:00:00+00' + g * interval '37 seconds' \
         FROM generate_series({lo}, {hi}) g"
    )
}

/// A deterministic pseudo-random pick of about 1/`n` of the rows, different per `salt`.
fn pick(salt: &str, n: u32) -> String {
    format!("mod(('x' || left(md5('{salt}' || id), 8))::bit(32)::bigint, {n}) = 0")
}

/// The config directory as it is now: relative path → (mode, bytes) for files, (mode, empty)
/// for directories (marked by a trailing `/`).
fn tree_copy(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).expect("metadata");
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
            let mode = md.permissions().mode() & 0o7777;
            if md.is_dir() {
                out.insert(format!("{rel}/"), (mode, Vec::new()));
                walk(root, &p, out);
            } else {
                assert!(md.is_file(), "{} is not a regular file", p.display());
                out.insert(rel, (mode, std::fs::read(&p).expect("read")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A dump without its `\restrict KEY` / `\unrestrict KEY` lines: pg_dump since 15.14 (and
/// 13.22, 14.19, 16.10, 17.6) draws a random key for them on every run, so two dumps of the same
/// data differ only there.
fn without_restrict_keys(dump: &[u8]) -> Vec<u8> {
    dump.split_inclusive(|&b| b == b'\n').filter(|l| !l.starts_with(b"\\restrict ") && !l.starts_with(b"\\unrestrict ")).flatten().copied().collect()
}

/// Where two byte strings first differ, with some context, for assertion messages.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let ctx = |s: &[u8]| String::from_utf8_lossy(&s[at.saturating_sub(80).min(s.len())..(at + 80).min(s.len())]).into_owned();
    format!("{} vs {} bytes, first difference at byte {at}:\n  got:      {:?}\n  expected: {:?}", a.len(), b.len(), ctx(a), ctx(b))
}

/// One backup of the config dir plus `pg_dump chat`, what the database held at that moment, and
/// the config as it was.
struct Taken {
    id: String,
    db_state: String,
    dump: Vec<u8>,
    config: BTreeMap<String, (u32, Vec<u8>)>,
    json: serde_json::Value,
}

fn backup_with_dump(env: &Env, pg: &Postgres, config: &Path) -> Taken {
    // The state and the reference dump are taken right before and right after the backup;
    // nothing writes to `chat` in between, so all three see the same rows.
    let db_state = pg.sql("chat", STATE_SQL);
    let config_copy = tree_copy(config);
    let mut args: Vec<String> = vec!["backup".into(), config.to_string_lossy().into_owned(), "--stdin-from-command".into(), "--stdin-filename".into(), "chat.sql".into(), "--json".into(), "--".into(), "pg_dump".into()];
    args.extend(pg.conn());
    args.push("chat".into());
    let run = env.snap(&args).ok();
    let json = run.json();
    let id = json["snapshot_id"].as_str().unwrap_or_else(|| panic!("no snapshot_id in {json}")).to_string();
    assert_eq!(id.len(), 64, "snapshot id {id:?}");
    let dump = pg.pg_dump("chat");
    assert_eq!(pg.sql("chat", STATE_SQL), db_state, "the source database changed during the backup");
    Taken { id, db_state, dump, config: config_copy, json }
}

fn snapshot_count(env: &Env) -> usize {
    env.snap(["snapshots", "--json"]).ok().json().as_array().expect("snapshots array").len()
}

/// `snap dump ID /chat.sql | psql -d DB`, both checked.
fn restore_into_db(env: &Env, pg: &Postgres, id: &str, db: &str) {
    let mut dump = env.cmd().args(["dump", id, "/chat.sql"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn snap dump");
    let pipe = dump.stdout.take().expect("snap dump stdout");
    let psql = pg.psql_cmd(db).stdin(Stdio::from(pipe)).output().expect("run psql");
    let dumped = dump.wait_with_output().expect("wait snap dump");
    assert!(dumped.status.success(), "snap dump {id} /chat.sql failed ({})\nstderr: {}", dumped.status, String::from_utf8_lossy(&dumped.stderr));
    check(&format!("psql -d {db} < snap dump {id}"), &psql);
}

#[test]
fn pg_dump_stream_backs_up_dedups_and_restores() {
    let t0 = std::time::Instant::now();
    let pg = Postgres::start();
    let env = Env::with_repo();

    // 1. The source database.
    pg.createdb("chat");
    pg.sql("chat", "CREATE TABLE messages (id bigint PRIMARY KEY, room int, author text, body text, created timestamptz)");
    pg.sql("chat", &insert_rows_sql(1, ROWS));
    assert_eq!(pg.sql("chat", "SELECT count(*) FROM messages"), ROWS.to_string());

    // 2. The application's config.
    let config = env.path().join("etc").join("chatapp");
    std::fs::create_dir_all(config.join("tls")).expect("config dirs");
    std::fs::create_dir_all(config.join("conf.d")).expect("config dirs");
    std::fs::write(config.join("app.toml"), "[server]\nlisten = \"0.0.0.0:8080\"\nworkers = 4\n\n[database]\nurl = \"postgres://chat@localhost/chat\"\n").expect("write");
    std::fs::write(config.join("conf.d").join("logging.toml"), "level = \"info\"\nformat = \"json\"\n").expect("write");
    let key = config.join("tls").join("server.key");
    std::fs::write(&key, pseudo_random(3000, 42)).expect("write");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
    std::fs::set_permissions(config.join("tls"), std::fs::Permissions::from_mode(0o700)).expect("chmod tls");

    // 3. First backup: config + dump in one snapshot.
    let first = backup_with_dump(&env, &pg, &config);
    assert!(first.dump.len() > 10_000_000, "dump is only {} bytes", first.dump.len());
    assert_eq!(snapshot_count(&env), 1);

    // 4. Edits: ~1% of rows updated (scattered), a deleted thread of 100 rows plus ~25 scattered
    //    deletes, 1000 new rows; one config file changed (and grown, so size alone shows it).
    let updated: i64 = pg
        .sql("chat", &format!("WITH u AS (UPDATE messages SET body = body || ' (edited)', room = room + 1000 WHERE {} RETURNING 1) SELECT count(*) FROM u", pick("u", 100)))
        .parse()
        .expect("update count");
    let deleted: i64 = pg
        .sql("chat", &format!("WITH d AS (DELETE FROM messages WHERE id BETWEEN 30001 AND 30100 OR {} RETURNING 1) SELECT count(*) FROM d", pick("d", 2000)))
        .parse()
        .expect("delete count");
    pg.sql("chat", &insert_rows_sql(ROWS + 1, ROWS + 1000));
    assert!((350..=650).contains(&updated), "updated {updated} rows");
    assert!((110..=150).contains(&deleted), "deleted {deleted} rows");
    std::fs::write(config.join("app.toml"), "[server]\nlisten = \"0.0.0.0:8443\"\nworkers = 8\ntls = true\n\n[database]\nurl = \"postgres://chat@localhost/chat\"\n").expect("write");

    let second = backup_with_dump(&env, &pg, &config);
    assert_ne!(second.id, first.id);
    assert_ne!(second.db_state, first.db_state, "the edits did not change the table");
    assert_ne!(second.config, first.config);
    assert_eq!(snapshot_count(&env), 2);

    // The dump stream is chunked small, so scattered edits re-store only a fraction of it. With
    // ~390-byte rows, a ~9.8 KiB average chunk holds ~25 of them and 1% scattered updates touch
    // about a third of the chunks (larger chunks are hit more often): an ideal FastCDC dedup of
    // these two dumps with snap's stream parameters re-stores 30-33% over 30 chunker seeds, and
    // snap measured 31-35%. The bound leaves room for the seed and for pg_dump versions.
    let ls = env.snap(["ls", "--json", &format!("{}:/chat.sql", second.id)]).ok().json();
    let entry = ls.as_array().and_then(|a| a.iter().find(|e| e["path"] == "/chat.sql")).unwrap_or_else(|| panic!("no /chat.sql in ls output {ls}"));
    let dump_size = entry["size"].as_u64().expect("size");
    assert_eq!(dump_size, second.dump.len() as u64, "size of /chat.sql in the snapshot");
    let added = second.json["bytes_added"].as_u64().expect("bytes_added");
    let first_added = first.json["bytes_added"].as_u64().expect("bytes_added");
    assert!(first_added * 10 > first.dump.len() as u64 * 9, "first backup added only {first_added} bytes for a {} byte dump", first.dump.len());
    eprintln!("postgres: dump {} -> {} bytes; second backup added {added} bytes ({:.1}%)", first.dump.len(), dump_size, 100.0 * added as f64 / dump_size as f64);
    assert!(added * 100 < dump_size * 40, "second backup added {added} bytes, not < 40% of the {dump_size} byte dump");

    // 5. Every snapshot restores to what the source held when it was taken.
    for (n, taken) in [&first, &second].into_iter().enumerate() {
        let n = n + 1;
        let db = format!("chat_restore_{n}");
        pg.createdb(&db);
        restore_into_db(&env, &pg, &taken.id, &db);
        assert_eq!(pg.sql(&db, STATE_SQL), taken.db_state, "rows restored from snapshot {n}");
        assert_eq!(pg.sql(&db, "SELECT count(*) FROM pg_indexes WHERE tablename = 'messages'"), "1", "primary key of snapshot {n}'s restore");

        let dumped = env.snap(["dump", &taken.id, "/chat.sql"]).ok().raw_stdout;
        let (got, want) = (without_restrict_keys(&dumped), without_restrict_keys(&taken.dump));
        assert!(got == want, "snap dump of snapshot {n} differs from pg_dump's output: {}", first_difference(&got, &want));

        let target = env.restore(&taken.id, &format!("restore_{n}"));
        let file = std::fs::read(target.join("chat.sql")).expect("restored chat.sql");
        assert!(file == dumped, "restored chat.sql of snapshot {n} differs from snap dump: {}", first_difference(&file, &dumped));
        let got = tree_copy(&restored(&target, &config));
        assert!(got == taken.config, "config of snapshot {n}: restored {:?}, backed up {:?}", got.keys().collect::<Vec<_>>(), taken.config.keys().collect::<Vec<_>>());
    }
    // The config has not changed since the second backup: restored with modes and mtimes too.
    assert_same_tree(&config, &restored(&env.path().join("restore_2"), &config));

    // 6. A failing pg_dump: exit 1, the reason on stderr, no snapshot.
    let mut args: Vec<String> = vec!["backup".into(), config.to_string_lossy().into_owned(), "--stdin-from-command".into(), "--stdin-filename".into(), "chat.sql".into(), "--".into(), "pg_dump".into()];
    args.extend(pg.conn());
    args.push("no_such_db".into());
    let run = env.snap(&args);
    assert_eq!(run.code, 1, "backup with a failing pg_dump\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert!(
        run.stderr.lines().any(|l| l.starts_with("snap:") && l.contains("pg_dump") && l.contains("no_such_db") && l.contains("exited with status 1")),
        "stderr should name pg_dump and its exit status:\n{}",
        run.stderr
    );
    assert_eq!(snapshot_count(&env), 2, "a failed dump must not write a snapshot");

    eprintln!("postgres: scenario took {:.1}s", t0.elapsed().as_secs_f64());
}


/// `snap dump ID PATH | <tool>`; the tool's output.
fn dump_into(env: &Env, id: &str, path: &str, tool: &mut Command) -> String {
    let mut dump = env.cmd().args(["dump", id, path]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn snap dump");
    let pipe = dump.stdout.take().expect("snap dump stdout");
    let out = tool.stdin(Stdio::from(pipe)).output().expect("run restore tool");
    let dumped = dump.wait_with_output().expect("wait snap dump");
    assert!(dumped.status.success(), "snap dump {id} {path} failed\nstderr: {}", String::from_utf8_lossy(&dumped.stderr));
    check(&format!("loading {path}"), &out)
}

#[test]
fn a_job_puts_every_database_of_a_server_and_a_live_sqlite_file_into_one_snapshot() {
    let pg = Postgres::start();
    let env = Env::with_repo();
    for db in ["shop", "wiki"] {
        pg.createdb(db);
        pg.sql(db, "CREATE TABLE messages (id bigint PRIMARY KEY, room int, author text, body text, created timestamptz)");
    }
    pg.sql("shop", &insert_rows_sql(1, 3000));
    pg.sql("wiki", &insert_rows_sql(1, 1200));
    // An SQLite database another process keeps writing while the job runs.
    let lite = env.path().join("app.db");
    let out = Command::new("sqlite3").arg(&lite).arg("PRAGMA journal_mode=WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('first');").output().expect("run sqlite3");
    check("sqlite3 create", &out);
    let stop = env.path().join("stop-writer");
    let writer = Command::new("sh")
        .arg("-c")
        .arg(format!("while [ ! -e '{}' ]; do sqlite3 -cmd '.timeout 5000' '{}' \"INSERT INTO t (v) VALUES (hex(randomblob(64)));\" || exit 1; done", s(&stop), s(&lite)))
        .spawn()
        .expect("start the sqlite writer");
    let etc = env.path().join("etc/app");
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::write(etc.join("app.conf"), "answer = 42\n").expect("write");
    let config = env.path().join("snap.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{state}\"\n[repository.local]\nurl = \"{repo}\"\npassword_file = \"{pass}\"\n\n[job.server]\npaths = [\"{etc}\"]\nrepository = \"local\"\n\n\
             [[job.server.database]]\nkind = \"postgresql\"\nname = \"all\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"postgres\"\n\n\
             [[job.server.database]]\nkind = \"sqlite\"\nname = \"app\"\npath = \"{lite}\"\n",
            state = s(&env.path().join("state")),
            repo = s(&env.repo()),
            pass = s(&env.path().join("password")),
            etc = s(&etc),
            port = pg.port,
            lite = s(&lite),
        ),
    )
    .expect("write config");
    let run = env.snap(["run", "server", "--config", &s(&config)]);
    std::fs::write(&stop, b"").expect("stop the writer");
    let status = writer.wait_with_output().expect("writer");
    assert!(status.status.success(), "the sqlite writer failed");
    assert_eq!(run.code, 0, "snap run: {}", run.stderr);

    let snaps = env.snap(["snapshots", "--json", "--job", "server"]).ok().json();
    let snap = &snaps.as_array().expect("array")[0];
    let id = snap["id"].as_str().expect("id").to_string();
    let dbs: Vec<(String, String)> = snap["databases"].as_array().expect("databases").iter().map(|d| (d["name"].as_str().unwrap().to_string(), d["path"].as_str().unwrap().to_string())).collect();
    assert_eq!(
        dbs,
        [
            ("postgres".to_string(), "/databases/postgresql/postgres.sql".to_string()),
            ("shop".into(), "/databases/postgresql/shop.sql".into()),
            ("wiki".into(), "/databases/postgresql/wiki.sql".into()),
            ("_globals".into(), "/databases/postgresql/_globals.sql".into()),
            ("app".into(), "/databases/sqlite/app.sql".into()),
        ]
    );
    let pg_record = &snap["databases"][1];
    assert_eq!(pg_record["server_version"].as_str().unwrap().split('.').next(), pg.sql("shop", "SHOW server_version").split('.').next());
    assert!(pg_record["tool_version"].as_str().unwrap().starts_with("pg_dump (PostgreSQL)"), "{pg_record}");

    // Each database restores into a fresh one with exactly the rows it had.
    for db in ["shop", "wiki"] {
        let fresh = format!("{db}_restored");
        pg.createdb(&fresh);
        dump_into(&env, &id, &format!("/databases/postgresql/{db}.sql"), pg.psql_cmd(&fresh).stdout(Stdio::null()));
        assert_eq!(pg.sql(&fresh, STATE_SQL), pg.sql(db, STATE_SQL), "{db} restored with other rows");
    }
    // The SQLite copy is consistent: it loads, passes integrity_check, and holds at least the
    // first row and no more rows than the live file has now.
    let restored_db = env.path().join("restored.db");
    dump_into(&env, &id, "/databases/sqlite/app.sql", Command::new("sqlite3").arg(&restored_db).stdout(Stdio::null()));
    let q = |db: &Path, sql: &str| check("sqlite3 query", &Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3")).trim().to_string();
    assert_eq!(q(&restored_db, "PRAGMA integrity_check;"), "ok");
    let n: u64 = q(&restored_db, "SELECT count(*) FROM t;").parse().expect("count");
    let live: u64 = q(&lite, "SELECT count(*) FROM t;").parse().expect("count");
    assert!(n >= 1 && n <= live, "restored {n} rows, the live file has {live}");
    assert_eq!(q(&restored_db, "SELECT v FROM t WHERE id = 1;"), "first");
    let target = env.restore(&id, "files");
    assert_same_tree(&etc, &restored(&target, &etc));

    // restore-db: straight into a new database; a second time is refused; --clean redoes it.
    let port = pg.port.to_string();
    let restore_db = |extra: &[&str]| {
        let mut args = vec!["restore-db", &id, "--database", "shop", "--to-database", "shop_again", "--to-host", "127.0.0.1", "--to-port", &port, "--to-user", "postgres"];
        args.extend_from_slice(extra);
        env.snap(&args)
    };
    let run = restore_db(&[]);
    assert_eq!(run.code, 0, "restore-db: {}", run.stderr);
    assert_eq!(pg.sql("shop_again", STATE_SQL), pg.sql("shop", STATE_SQL));
    let run = restore_db(&[]);
    assert_eq!(run.code, 1, "restore-db into a non-empty database: {}", run.stderr);
    assert!(run.stderr.contains("refusing to restore into database shop_again: it is not empty (2 tables, indexes or other relations); give --clean"), "{}", run.stderr);
    pg.sql("shop_again", "INSERT INTO messages VALUES (999999, 1, 'x', 'added after the restore', now())");
    let run = restore_db(&["--clean"]);
    assert_eq!(run.code, 0, "restore-db --clean: {}", run.stderr);
    assert!(run.stderr.contains("--clean: dropped and recreated shop_again"), "{}", run.stderr);
    assert_eq!(pg.sql("shop_again", STATE_SQL), pg.sql("shop", STATE_SQL));
    // The SQLite dump into a new file.
    let file = env.path().join("via-restore-db.db");
    let run = env.snap(["restore-db", &id, "--database", "app", "--to-file", &s(&file)]);
    assert_eq!(run.code, 0, "restore-db sqlite: {}", run.stderr);
    assert_eq!(q(&file, "PRAGMA integrity_check;"), "ok");
    assert_eq!(q(&file, "SELECT count(*) FROM t;"), n.to_string());
    // A database the snapshot does not hold is named with what it does hold.
    let run = env.snap(["restore-db", &id, "--database", "nope", "--to-file", &s(&file)]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no database \"nope\" in the snapshot; it holds postgres (postgresql), shop (postgresql)"), "{}", run.stderr);
}

#[test]
fn the_example_configs_run_against_a_real_server() {
    let pg = Postgres::start();
    let mut env = Env::with_repo();
    // The off-site repository is on S3: a Garage node of the test's own.
    let garage = crate::servers::Garage::start();
    garage.bucket("backups");
    for (k, v) in garage.env() {
        env.set_var(&k, &v);
    }
    let root = env.path().join("root");
    let pass2 = env.path().join("password2");
    std::fs::write(&pass2, "off-site password\n").expect("write");
    let offsite = format!("s3:{}/backups/offsite", garage.endpoint());
    let init = env
        .cmd()
        .args(["-r", &offsite, "--password-file", &s(&pass2), "init", "--kdf-memory-kib", "256", "--kdf-iterations", "1", "--from", &s(&env.repo())])
        .arg("--from-password-file")
        .arg(env.path().join("password"))
        .output()
        .expect("init --from");
    check("init --from", &init);
    for (db, rows) in [("mattermost", 2000), ("wso2_identity", 500), ("wso2_shared", 300), ("wso2_userstore", 200)] {
        pg.createdb(db);
        pg.sql(db, "CREATE TABLE messages (id bigint PRIMARY KEY, room int, author text, body text, created timestamptz)");
        pg.sql(db, &insert_rows_sql(1, rows));
    }
    for (p, body) in [
        ("opt/mattermost/config/config.json", "{\"ServiceSettings\": {}}\n"),
        ("opt/mattermost/data/users/1/avatar.png", "png"),
        ("opt/mattermost/data/tmp/x.tmp", "excluded"),
        ("opt/wso2is/repository/conf/deployment.toml", "[server]\n"),
        ("opt/wso2is/repository/resources/security/keystore.jks", "jks"),
        ("opt/wso2is/repository/deployment/server/webapps/app.war", "war"),
        ("opt/wso2is/repository/logs/carbon.log", "log"),
        ("opt/wso2is/bin/wso2server.sh", "#!/bin/sh\n"),
        ("etc/rauthy/config.toml", "issuer = \"x\"\n"),
    ] {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().expect("parent")).expect("mkdir");
        std::fs::write(&f, body).expect("write");
    }
    let lite = root.join("var/lib/rauthy/rauthy.db");
    std::fs::create_dir_all(lite.parent().expect("parent")).expect("mkdir");
    check("sqlite3", &Command::new("sqlite3").arg(&lite).arg("CREATE TABLE sessions (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO sessions (v) VALUES ('a'), ('b');").output().expect("sqlite3"));
    let hooks = env.path().join("hooks.log");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/examples");
    // Drills' scratch space, reachable by the `postgres` user that runs the scratch server.
    let scratch = tempfile::Builder::new().prefix("snap-drill-ex-").tempdir_in("/tmp").expect("scratch");
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod scratch");
    for (file, job, dbs) in [
        ("mattermost.toml", "mattermost", vec!["mattermost"]),
        ("wso2-identity-server.toml", "wso2", vec!["wso2_identity", "wso2_shared", "wso2_userstore"]),
        ("wso2-identity-server.toml", "wso2-full", vec![]),
        ("rauthy.toml", "rauthy", vec!["rauthy"]),
    ] {
        let text = std::fs::read_to_string(examples.join(file)).expect("read example")
            .replace("/srv/backup/snap", &s(&env.repo()))
            .replace("/mnt/offsite/snap", &offsite)
            .replace("s3:https://s3.example.org/backups/rauthy", &offsite)
            .replace("/etc/snap/local.pass", &s(&env.path().join("password")))
            .replace("/etc/snap/offsite.pass", &s(&pass2))
            .replace("/etc/snap/pg.pass", &s(&env.path().join("password")))
            .replace("/etc/snap/wso2-db.pass", &s(&env.path().join("password")))
            .replace("port = 5432", &format!("port = {}", pg.port))
            .replace("user = \"mmuser\"", "user = \"postgres\"")
            .replace("user = \"wso2\"", "user = \"postgres\"")
            .replace("systemctl stop mattermost", &format!("echo stop >> {}", s(&hooks)))
            .replace("systemctl start mattermost", &format!("echo start >> {}", s(&hooks)))
            .replace("\"/opt/", &format!("\"{}/opt/", s(&root)))
            .replace("\"/etc/rauthy", &format!("\"{}/etc/rauthy", s(&root)))
            .replace("\"/var/lib/rauthy", &format!("\"{}/var/lib/rauthy", s(&root)))
            .replace("/var/tmp/snap-drill", &s(scratch.path()))
            .replace("$SNAP_DRILL_FILES/opt/", &format!("$SNAP_DRILL_FILES{}/opt/", s(&root)))
            .replace("FROM posts", "FROM messages")
            .replace("FROM users", "FROM messages");
        let cfg = env.path().join(format!("{job}.toml"));
        std::fs::write(&cfg, format!("state_dir = \"{}\"\n{text}", s(&env.path().join("state")))).expect("write config");
        let checked = env.snap(["config", "check", "--config", &s(&cfg)]);
        assert_eq!(checked.code, 0, "config check of {file}: {}", checked.stderr);
        let run = env.snap(["run", job, "--config", &s(&cfg)]);
        assert_eq!(run.code, 0, "snap run {job} ({file}): {}", run.stderr);
        let snaps = env.snap(["snapshots", "--json", "--job", job]).ok().json();
        let snap = &snaps.as_array().expect("array")[0];
        let names: Vec<&str> = snap["databases"].as_array().expect("databases").iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(names, dbs, "{job}");
        let id = snap["id"].as_str().unwrap().to_string();
        // The example's drill: from the off-site copy where it names one, every check passed.
        if job != "wso2-full" {
            let drill = env.snap(["--json", "drill", job, "--config", &s(&cfg)]);
            assert_eq!(drill.code, 0, "snap drill {job}: {}\n{}", drill.stderr, drill.stdout);
            let r = drill.json();
            let from = match job { "mattermost" => "offsite", "rauthy" => "s3", _ => "local" };
            // The off-site copy has its own id; it is the same snapshot, taken at the same time.
            assert_eq!((r["passed"].as_bool(), r["repository"].as_str(), r["snapshot_time"].as_str()), (Some(true), Some(from), snap["time"].as_str()), "{r}");
            let loaded: Vec<&str> = r["databases"].as_array().unwrap().iter().filter(|d| d["loaded"] == true).map(|d| d["name"].as_str().unwrap()).collect();
            assert_eq!(loaded, dbs, "{job}: {r}");
        }
        for db in dbs.iter().filter(|d| **d != "rauthy") {
            let fresh = format!("{}_r", db.replace('-', "_"));
            let port = pg.port.to_string();
            let run = env.snap(["restore-db", &id, "--database", db, "--to-database", &fresh, "--to-host", "127.0.0.1", "--to-port", &port, "--to-user", "postgres"]);
            assert_eq!(run.code, 0, "restore-db {db}: {}", run.stderr);
            assert_eq!(pg.sql(&fresh, STATE_SQL), pg.sql(db, STATE_SQL), "{db}");
        }
    }
    assert_eq!(std::fs::read_to_string(&hooks).expect("hooks ran"), "stop\nstart\n");
    // What each job kept: excludes honoured, the one-time job took the whole directory.
    let listed = |job: &str| env.snap(["ls", "latest", "--job", job]).ok().stdout;
    let mm = listed("mattermost");
    assert!(mm.contains("/avatar.png") && !mm.contains("x.tmp"), "{mm}");
    let wso2 = listed("wso2");
    assert!(wso2.contains("keystore.jks") && !wso2.contains("carbon.log") && !wso2.contains("wso2server.sh"), "{wso2}");
    assert!(listed("wso2-full").contains("wso2server.sh"));
    // The copies went off site, and restore there with the off-site password alone.
    let off = env.cmd().args(["-r", &offsite, "--password-file", &s(&pass2), "snapshots", "--json"]).output().expect("snapshots");
    let off: serde_json::Value = serde_json::from_slice(&off.stdout).expect("json");
    let jobs: Vec<&str> = off.as_array().expect("array").iter().map(|s| s["job"].as_str().unwrap_or("")).collect();
    assert_eq!(jobs, ["mattermost", "rauthy"]);

    // A whole server back in one command: files and databases (the database damaged since).
    let before = pg.sql("mattermost", STATE_SQL);
    pg.sql("mattermost", "DELETE FROM messages WHERE id % 3 = 0");
    assert_ne!(pg.sql("mattermost", STATE_SQL), before);
    let cfg = s(&env.path().join("mattermost.toml"));
    let target = env.path().join("server-back");
    let run = env.snap(["restore", "latest", "--job", "mattermost", "--target", &s(&target), "--with-databases", "--config", &cfg]);
    assert_eq!(run.code, 1, "a non-empty database without --clean: {}", run.stderr);
    assert!(run.stderr.contains("refusing to restore into database mattermost: it is not empty"), "{}", run.stderr);
    let run = env.snap(["restore", "latest", "--job", "mattermost", "--target", &s(&target), "--with-databases", "--clean", "--config", &cfg]);
    assert_eq!(run.code, 0, "restore --with-databases --clean: {}", run.stderr);
    assert!(run.stdout.contains("restored postgresql mattermost into mattermost (dropped and recreated first)"), "{}", run.stdout);
    assert_eq!(pg.sql("mattermost", STATE_SQL), before);
    let config_dir = root.join("opt/mattermost/config");
    assert_same_tree(&config_dir, &restored(&target, &config_dir));
}

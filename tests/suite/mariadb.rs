//! A job against a real MariaDB: the test starts its own server (`mariadb-install-db`, then
//! `mariadbd` on a private socket and a free loopback port, in a temporary directory), dumps a
//! database with the job runner (`mariadb-dump --single-transaction`), restores it with
//! `restore-db` into a fresh database and compares every row; stops the server afterwards.
//! Missing binaries fail the test (Debian: `apt-get install mariadb-server`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{s, Env};

pub(crate) struct Maria {
    dir: tempfile::TempDir,
    child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn find(program: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(program);
        if p.is_file() {
            return p;
        }
    }
    panic!("MariaDB test: `{program}` is missing; install MariaDB (Debian: apt-get install mariadb-server)");
}

impl Maria {
    pub(crate) fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("snap-maria-").tempdir_in("/tmp").expect("tempdir");
        let data = dir.path().join("data");
        let out = Command::new(find("mariadb-install-db"))
            .args(["--no-defaults", "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .arg(format!("--datadir={}", data.display()))
            .stdin(Stdio::null())
            .output()
            .expect("run mariadb-install-db");
        assert!(out.status.success(), "mariadb-install-db failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let child = Command::new(find("mariadbd"))
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1", "--skip-log-bin", "--innodb-buffer-pool-size=16M"])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--port={}", free_port()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!("--log-error={}", dir.path().join("error.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let m = Self { dir, child };
        for _ in 0..600 {
            if m.client().args(["-e", "SELECT 1"]).output().is_ok_and(|o| o.status.success()) {
                return m;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("mariadbd did not come up: {}", std::fs::read_to_string(m.dir.path().join("error.log")).unwrap_or_default());
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn client(&self) -> Command {
        let mut c = Command::new(find("mariadb"));
        c.arg("--no-defaults").arg(format!("--socket={}", self.socket().display())).args(["-uroot", "--batch", "--skip-column-names"]).stdin(Stdio::null());
        c
    }

    #[track_caller]
    pub(crate) fn sql(&self, sql: &str) -> String {
        let out = self.client().args(["-e", sql]).output().expect("run mariadb");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Maria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Row count and a digest over every column in id order.
fn state(m: &Maria, db: &str) -> String {
    m.sql(&format!(
        "SET SESSION group_concat_max_len = 1073741824; SELECT CONCAT(COUNT(*), ' ', MD5(GROUP_CONCAT(CONCAT_WS(':', id, author, body) ORDER BY id SEPARATOR ','))) FROM `{db}`.posts"
    ))
}

#[test]
fn a_job_dumps_a_mariadb_database_and_restore_db_brings_every_row_back() {
    let m = Maria::start();
    m.sql("CREATE DATABASE shop; CREATE TABLE shop.posts (id INT PRIMARY KEY, author VARCHAR(40), body TEXT) ENGINE=InnoDB");
    m.sql(
        "INSERT INTO shop.posts SELECT seq, CONCAT('user_', seq % 97), CONCAT('post ', seq, ': ', SHA2(seq, 256), ' it''s \"quoted\"') FROM shop.seq_1_to_2000",
    );
    let env = Env::with_repo();
    let config = env.path().join("snap.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[repository.local]\nurl = \"{}\"\npassword_file = \"{}\"\n\n[job.db]\nrepository = \"local\"\n\n[[job.db.database]]\nkind = \"mariadb\"\nname = \"shop\"\nsocket = \"{}\"\nuser = \"root\"\n",
            s(&env.path().join("state")),
            s(&env.repo()),
            s(&env.path().join("password")),
            s(&m.socket()),
        ),
    )
    .expect("config");
    let run = env.snap(["run", "db", "--config", &s(&config)]);
    assert_eq!(run.code, 0, "snap run: {}", run.stderr);
    let snaps = env.snap(["snapshots", "--json", "--job", "db"]).ok().json();
    let rec = &snaps[0]["databases"][0];
    assert_eq!(rec["path"], "/databases/mariadb/shop.sql");
    assert!(rec["server_version"].as_str().unwrap().contains("MariaDB"), "{rec}");
    let id = snaps[0]["id"].as_str().unwrap().to_string();

    let sock = s(&m.socket());
    let restore = |extra: &[&str]| {
        let mut args = vec!["restore-db", &id, "--database", "shop", "--to-database", "shop2", "--to-socket", &sock, "--to-user", "root"];
        args.extend_from_slice(extra);
        env.snap(&args)
    };
    let run = restore(&[]);
    assert_eq!(run.code, 0, "restore-db: {}", run.stderr);
    assert_eq!(state(&m, "shop2"), state(&m, "shop"));
    assert!(state(&m, "shop").starts_with("2000 "));
    let run = restore(&[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("refusing to restore into database shop2: it is not empty (1 tables); give --clean"), "{}", run.stderr);
    m.sql("DELETE FROM shop2.posts WHERE id < 100");
    let run = restore(&["--clean"]);
    assert_eq!(run.code, 0, "restore-db --clean: {}", run.stderr);
    assert_eq!(state(&m, "shop2"), state(&m, "shop"));
}

//! `restore-db`: a database dump of a snapshot streamed straight into its tool (`psql`,
//! `pg_restore`, `mariadb`/`mysql`, `sqlite3`), with no temporary file. A target that already
//! holds tables is refused unless the caller asks to clean it, which drops and recreates it;
//! the tool's own error stops the restore and is quoted.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::dump::probe;
use super::secret::Secret;
use crate::error::{Error, Result};
use crate::format::snapshot::{DatabaseRecord, Snapshot};
use crate::format::SnapshotId;
use crate::ops::backup::Secret as EnvSecret;
use crate::repo::Repository;

/// Where a dump goes. Unset fields fall back to the tools' own defaults (`PGHOST`, the local
/// socket, ...); `database` defaults to the dumped database's name.
#[derive(Debug, Clone, Default)]
pub struct DbTarget {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub socket: Option<PathBuf>,
    pub password: Option<Secret>,
    pub database: Option<String>,
    /// The database file (SQLite).
    pub file: Option<PathBuf>,
    /// A scratch server (drills): the client reads no option files (`~/.my.cnf` could name
    /// another server's password or host).
    pub isolated: bool,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreDbReport {
    pub kind: String,
    /// The target: a database name, or a file for SQLite.
    pub into: String,
    /// Whether an existing non-empty target was dropped first.
    pub cleaned: bool,
}

/// Where the dump `record` of a snapshot of `job` goes back to: the server (or file) the job
/// dumps it from, with the job's connection settings and password. An SQLite file lands at its
/// path under `root` (the restore target; `/` puts it back where it was). `None` when the job
/// no longer names that database.
#[must_use]
pub fn target_for(job: &super::config::JobSpec, record: &DatabaseRecord, root: &std::path::Path) -> Option<DbTarget> {
    let spec = job.databases.iter().find(|d| d.kind.as_str() == record.kind && (d.name == record.name || d.is_all()))?;
    let file = spec.path.as_ref().map(|p| root.join(p.strip_prefix("/").unwrap_or(p)));
    Some(DbTarget {
        host: spec.host.clone(),
        port: spec.port,
        user: spec.user.clone(),
        socket: spec.socket.clone(),
        password: spec.password.clone(),
        database: None,
        file,
        isolated: false,
    })
}

/// The dump named `name` in `snap`.
///
/// # Errors
/// [`Error::Usage`] listing the dumps the snapshot holds.
pub fn find_record<'s>(snap: &'s Snapshot, name: &str) -> Result<&'s DatabaseRecord> {
    snap.databases.iter().find(|d| d.name == name).ok_or_else(|| {
        let have: Vec<String> = snap.databases.iter().map(|d| format!("{} ({})", d.name, d.kind)).collect();
        Error::Usage(if have.is_empty() { "the snapshot holds no database dump".to_string() } else { format!("no database {name:?} in the snapshot; it holds {}", have.join(", ")) })
    })
}

/// Restores the dump `record` of snapshot `id` into `target`.
///
/// # Errors
/// [`Error::Refused`] for a non-empty target without `clean`; the tool's failure, quoted;
/// damaged or missing blobs (nothing unverified reaches the tool).
pub fn restore_db(repo: &Repository, id: &SnapshotId, snap: &Snapshot, record: &DatabaseRecord, target: &DbTarget, clean: bool) -> Result<RestoreDbReport> {
    match record.kind.as_str() {
        "postgresql" => postgres(repo, id, snap, record, target, clean),
        "mariadb" | "mysql" => mariadb(repo, id, snap, record, target, clean),
        "sqlite" => sqlite(repo, id, snap, record, target, clean),
        other => Err(Error::Usage(format!("a {other} dump has no tool to restore it into; write it out with `snap dump {} {}`", id.short(), record.path))),
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Runs `argv` with the dump on its standard input; its last error line on failure.
fn load(repo: &Repository, id: &SnapshotId, snap: &Snapshot, record: &DatabaseRecord, argv: &[OsString], env: &[(OsString, EnvSecret)]) -> Result<()> {
    let shown = argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    let (prog, args) = argv.split_first().ok_or_else(|| Error::Internal("empty restore command".into()))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, std::ffi::OsStr::from_bytes(&v.0));
    }
    let mut child = cmd.spawn().map_err(|e| Error::CommandFailed(format!("cannot run `{shown}`: {e}")))?;
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let written = match child.stdin.take() {
        Some(mut stdin) => crate::ops::dump::dump(repo, id, snap, &record.path, &mut stdin),
        None => Err(Error::Internal("no stdin for the restore tool".into())),
    };
    let status = child.wait().map_err(|e| Error::CommandFailed(format!("`{shown}`: {e}")))?;
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(Error::CommandFailed(format!("restoring {} with `{shown}` failed ({status}): {}", record.path, cause(&err))));
    }
    written
}

/// The line of a tool's error output that says what went wrong: the first that mentions an
/// error (psql's `ERROR:`, sqlite3's `Parse error ...`; what follows is context such as the
/// statement and a caret), else the last line.
fn cause(stderr: &str) -> String {
    let lines = || stderr.lines().map(str::trim).filter(|l| !l.is_empty());
    lines().find(|l| l.to_ascii_lowercase().contains("error")).or_else(|| lines().last()).unwrap_or("").to_string()
}

fn pg_env(target: &DbTarget) -> Result<Vec<(OsString, EnvSecret)>> {
    let mut env = Vec::new();
    let host = target.socket.as_ref().map(|s| s.display().to_string()).or_else(|| target.host.clone());
    for (k, v) in [("PGHOST", host), ("PGPORT", target.port.map(|p| p.to_string())), ("PGUSER", target.user.clone())] {
        if let Some(v) = v {
            env.push((k.into(), EnvSecret(zeroize::Zeroizing::new(v.into_bytes()))));
        }
    }
    if let Some(p) = &target.password {
        env.push(("PGPASSWORD".into(), EnvSecret(p.read()?)));
    }
    Ok(env)
}

fn postgres(repo: &Repository, id: &SnapshotId, snap: &Snapshot, record: &DatabaseRecord, target: &DbTarget, clean: bool) -> Result<RestoreDbReport> {
    let env = pg_env(target)?;
    // Roles and tablespaces go into the server as a whole.
    if record.name == "_globals" {
        load(repo, id, snap, record, &os(&["psql", "--no-password", "-X", "-q", "-d", "postgres"]), &env)?;
        return Ok(RestoreDbReport { kind: record.kind.clone(), into: "the server's globals".into(), cleaned: false });
    }
    let db = target.database.clone().unwrap_or_else(|| record.name.clone());
    let what = format!("database {db}");
    let exists = probe(&what, &os(&["psql", "--no-password", "-X", "-At", "-d", "postgres", "-c", "SELECT datname FROM pg_database"]), &env, &[])?.lines().any(|l| l == db);
    let mut cleaned = false;
    if exists {
        let tables = probe(
            &what,
            &os(&[
                "psql",
                "--no-password",
                "-X",
                "-At",
                "-d",
                &db,
                "-c",
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'",
            ]), &env, &[])?;
        if tables.trim() != "0" {
            if !clean {
                return Err(Error::Refused(format!("refusing to restore into {what}: it is not empty ({} tables, indexes or other relations); give --clean to drop and recreate it", tables.trim())));
            }
            probe(&what, &os(&["dropdb", "--no-password", &db]), &env, &[])?;
            cleaned = true;
        }
    }
    if !exists || cleaned {
        probe(&what, &os(&["createdb", "--no-password", &db]), &env, &[])?;
    }
    let argv = if record.format == "custom" {
        os(&["pg_restore", "--no-password", "--no-owner", "--exit-on-error", "-d", &db])
    } else {
        os(&["psql", "--no-password", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db])
    };
    load(repo, id, snap, record, &argv, &env)?;
    Ok(RestoreDbReport { kind: record.kind.clone(), into: db, cleaned })
}

fn mariadb(repo: &Repository, id: &SnapshotId, snap: &Snapshot, record: &DatabaseRecord, target: &DbTarget, clean: bool) -> Result<RestoreDbReport> {
    let client = if record.kind == "mysql" && super::dump::on_path("mysql") { "mysql" } else if super::dump::on_path("mariadb") { "mariadb" } else { "mysql" };
    let mut env = Vec::new();
    if let Some(p) = &target.password {
        env.push(("MYSQL_PWD".into(), EnvSecret(p.read()?)));
    }
    let mut conn: Vec<OsString> = vec![client.into()];
    if target.isolated {
        conn.push("--no-defaults".into());
    }
    if let Some(s) = &target.socket {
        conn.push(format!("--socket={}", s.display()).into());
    } else {
        if let Some(h) = &target.host {
            conn.push(format!("--host={h}").into());
        }
        if let Some(p) = target.port {
            conn.push(format!("--port={p}").into());
            conn.push("--protocol=TCP".into());
        }
    }
    if let Some(u) = &target.user {
        conn.push(format!("--user={u}").into());
    }
    let db = target.database.clone().unwrap_or_else(|| record.name.clone());
    if db.contains('`') {
        return Err(Error::Usage(format!("database name {db:?} holds a backquote")));
    }
    let what = format!("database {db}");
    let sql = |q: &str| -> Result<String> {
        let mut argv = conn.clone();
        argv.extend(os(&["--batch", "--skip-column-names", "-e", q]));
        probe(&what, &argv, &env, &[])
    };
    let tables = sql(&format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}'", db.replace('\'', "''")))?;
    let mut cleaned = false;
    if tables.trim() != "0" {
        if !clean {
            return Err(Error::Refused(format!("refusing to restore into {what}: it is not empty ({} tables); give --clean to drop and recreate it", tables.trim())));
        }
        sql(&format!("DROP DATABASE `{db}`"))?;
        cleaned = true;
    }
    sql(&format!("CREATE DATABASE IF NOT EXISTS `{db}`"))?;
    let mut argv = conn;
    argv.push(db.clone().into());
    load(repo, id, snap, record, &argv, &env)?;
    Ok(RestoreDbReport { kind: record.kind.clone(), into: db, cleaned })
}

fn sqlite(repo: &Repository, id: &SnapshotId, snap: &Snapshot, record: &DatabaseRecord, target: &DbTarget, clean: bool) -> Result<RestoreDbReport> {
    let file = target.file.clone().ok_or_else(|| Error::Usage(format!("{} is an SQLite dump: give the database file to create with --to-file", record.path)))?;
    let mut cleaned = false;
    if std::fs::metadata(&file).is_ok_and(|m| m.len() > 0) {
        if !clean {
            return Err(Error::Refused(format!("refusing to restore into {}: the file exists and is not empty; give --clean to replace it", file.display())));
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let p = PathBuf::from(format!("{}{suffix}", file.display()));
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        cleaned = true;
    }
    let mut argv = os(&["sqlite3", "-bail"]);
    argv.push(file.clone().into_os_string());
    load(repo, id, snap, record, &argv, &[])?;
    Ok(RestoreDbReport { kind: record.kind.clone(), into: file.display().to_string(), cleaned })
}

#[cfg(test)]
mod tests {
    use super::cause;

    #[test]
    fn the_line_naming_the_error_is_quoted_not_the_context_after_it() {
        let sqlite = "Parse error near line 3: near \"INTOO\": syntax error\n  INSERT INTOO t VALUES(1,'x');\n         ^--- error here\n";
        assert_eq!(cause(sqlite), "Parse error near line 3: near \"INTOO\": syntax error");
        let psql = "psql:<stdin>:12: ERROR:  relation \"x\" does not exist\nLINE 1: SELECT * FROM x;\n";
        assert_eq!(cause(psql), "psql:<stdin>:12: ERROR:  relation \"x\" does not exist");
        assert_eq!(cause("first\nlast\n\n"), "last");
        assert_eq!(cause(""), "");
    }
}

//! A job's databases, turned into backup streams: which tool dumps each kind, with which
//! arguments and environment (passwords never on a command line), where each dump sits in the
//! snapshot, and what the snapshot records about it. Servers are asked for their version (and,
//! for `name = "all"`, their databases) before anything is written, so a server that refuses the
//! connection stops the job with a clear error and no snapshot.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use super::config::{DatabaseSpec, DbKind, DumpFormat};
use crate::error::{Error, Result};
use crate::format::snapshot::DatabaseRecord;
use crate::ops::backup::{Secret, StreamSource, StreamSpec};

/// Where dumps sit in a snapshot: `/databases/<kind>/<name>.<ext>`.
pub const DUMP_DIR: &str = "databases";

/// One dump of a job: the stream to back up and what the snapshot says about it.
#[derive(Debug, Clone)]
pub struct PlannedDump {
    pub stream: StreamSpec,
    pub record: DatabaseRecord,
}

/// Plans every dump of `databases`: one per database, `all` expanded (plus PostgreSQL's
/// globals), each server asked for its version first.
///
/// # Errors
/// A server that cannot be reached or a tool that cannot be run, naming the database and quoting
/// the tool's last error line; a password source that cannot be read.
/// `hide` names environment variables no dump tool may see (the config's `password_env`
/// sources: each tool gets only its own password, under its own variable).
pub fn plan_dumps(databases: &[DatabaseSpec], hide: &[String]) -> Result<Vec<PlannedDump>> {
    let unset: Vec<OsString> = hide.iter().map(OsString::from).collect();
    let mut out = Vec::new();
    for db in databases {
        match db.kind {
            DbKind::Postgresql => postgres(db, &unset, &mut out)?,
            DbKind::Mysql | DbKind::Mariadb => mariadb(db, &unset, &mut out)?,
            DbKind::Sqlite => out.push(sqlite(db, &unset)?),
            DbKind::Command => out.push(command(db, &unset)),
        }
    }
    Ok(out)
}

/// The password of `db`, for a tool's environment.
fn password(db: &DatabaseSpec) -> Result<Option<Secret>> {
    db.password.as_ref().map(|s| s.read().map(Secret)).transpose()
}

fn label(kind: DbKind, name: &str) -> String {
    format!("database {}/{name}", kind.as_str())
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Runs a probe (a version or a list of databases) and returns its standard output.
pub(super) fn probe(what: &str, argv: &[OsString], env: &[(OsString, Secret)], unset: &[OsString]) -> Result<String> {
    let shown = argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    let (prog, args) = argv.split_first().ok_or_else(|| Error::Internal("empty probe command".into()))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null());
    for k in unset {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, std::ffi::OsStr::from_bytes(&v.0));
    }
    let out = cmd.output().map_err(|e| Error::CommandFailed(format!("{what}: cannot run `{shown}`: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        return Err(Error::CommandFailed(format!("{what}: `{shown}` failed ({}): {last}", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The first line a tool prints for `--version`, or empty when it cannot say.
fn tool_version(tool: &str) -> String {
    Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// Whether `tool` can be found on `PATH`.
pub(super) fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

fn postgres(db: &DatabaseSpec, unset: &[OsString], out: &mut Vec<PlannedDump>) -> Result<()> {
    let mut env: Vec<(OsString, Secret)> = Vec::new();
    if let Some(pw) = password(db)? {
        env.push(("PGPASSWORD".into(), pw));
    }
    // libpq's own variables: the same for pg_dump, pg_dumpall and psql.
    let mut conn: Vec<(OsString, Secret)> = Vec::new();
    let host = db.socket.as_ref().map(|s| s.display().to_string()).or_else(|| db.host.clone());
    for (k, v) in [("PGHOST", host), ("PGPORT", db.port.map(|p| p.to_string())), ("PGUSER", db.user.clone())] {
        if let Some(v) = v {
            conn.push((k.into(), Secret(Zeroizing::new(v.into_bytes()))));
        }
    }
    env.extend(conn);
    let at = db.source();
    let names: Vec<String> = if db.is_all() {
        let list = probe(
            &format!("postgresql server {at}"),
            &os(&["psql", "--no-password", "-X", "-At", "-d", "postgres", "-c", "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"]), &env, unset)?;
        list.lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    } else {
        vec![db.name.clone()]
    };
    let tool = tool_version("pg_dump");
    let format = db.format.unwrap_or_default();
    for name in &names {
        let server = probe(&label(DbKind::Postgresql, name), &os(&["psql", "--no-password", "-X", "-At", "-d", name, "-c", "SHOW server_version"]), &env, unset)?;
        let ext = if format == DumpFormat::Custom { "dump" } else { "sql" };
        let path = format!("{DUMP_DIR}/postgresql/{name}.{ext}");
        let mut argv = os(&["pg_dump", "--no-password", &format!("--format={}", format.as_str())]);
        argv.extend(db.options.iter().map(OsString::from));
        argv.push(OsString::from(format!("--dbname={name}")));
        out.push(PlannedDump {
            stream: StreamSpec {
                path: path.clone(),
                source: StreamSource::Command { argv, env: env.clone(), unset: unset.to_vec() },
                label: label(DbKind::Postgresql, name),
                require_output: true,
                complete_marker: (format == DumpFormat::Plain).then(|| "PostgreSQL database dump complete".to_string()),
            },
            record: DatabaseRecord { path: format!("/{path}"), kind: "postgresql".into(), name: name.clone(), server_version: server, tool_version: tool.clone(), format: format.as_str().into() },
        });
    }
    if db.is_all() {
        // Roles and tablespaces belong to no database: without them a restored server lacks its users.
        let path = format!("{DUMP_DIR}/postgresql/_globals.sql");
        out.push(PlannedDump {
            stream: StreamSpec {
                path: path.clone(),
                source: StreamSource::Command { argv: os(&["pg_dumpall", "--no-password", "--globals-only"]), env, unset: unset.to_vec() },
                label: label(DbKind::Postgresql, "_globals"),
                require_output: true,
                complete_marker: Some("PostgreSQL database cluster dump complete".to_string()),
            },
            record: DatabaseRecord { path: format!("/{path}"), kind: "postgresql".into(), name: "_globals".into(), server_version: String::new(), tool_version: tool_version("pg_dumpall"), format: "plain".into() },
        });
    }
    Ok(())
}

/// Schemas every MySQL/MariaDB server has that are no user's data.
const MARIADB_SYSTEM: [&str; 3] = ["information_schema", "performance_schema", "sys"];

fn mariadb(db: &DatabaseSpec, unset: &[OsString], out: &mut Vec<PlannedDump>) -> Result<()> {
    let (dump_tool, client) = match db.kind {
        DbKind::Mariadb if on_path("mariadb-dump") => ("mariadb-dump", "mariadb"),
        DbKind::Mysql if on_path("mysqldump") => ("mysqldump", "mysql"),
        _ if on_path("mariadb-dump") => ("mariadb-dump", "mariadb"),
        _ => ("mysqldump", "mysql"),
    };
    let mut env: Vec<(OsString, Secret)> = Vec::new();
    if let Some(pw) = password(db)? {
        env.push(("MYSQL_PWD".into(), pw));
    }
    let mut conn: Vec<OsString> = Vec::new();
    if let Some(s) = &db.socket {
        conn.push(format!("--socket={}", s.display()).into());
    } else {
        if let Some(h) = &db.host {
            conn.push(format!("--host={h}").into());
        }
        if let Some(p) = db.port {
            conn.push(format!("--port={p}").into());
            conn.push("--protocol=TCP".into());
        }
    }
    if let Some(u) = &db.user {
        conn.push(format!("--user={u}").into());
    }
    let at = db.source();
    let query = |what: &str, sql: &str| -> Result<String> {
        let mut argv: Vec<OsString> = vec![client.into()];
        argv.extend(conn.iter().cloned());
        argv.extend(os(&["--batch", "--skip-column-names", "-e", sql]));
        probe(what, &argv, &env, unset)
    };
    let names: Vec<String> = if db.is_all() {
        query(&format!("{} server {at}", db.kind.as_str()), "SHOW DATABASES")?.lines().map(str::to_string).filter(|n| !n.is_empty() && !MARIADB_SYSTEM.contains(&n.as_str())).collect()
    } else {
        vec![db.name.clone()]
    };
    let server = query(&label(db.kind, names.first().map_or("", String::as_str)), "SELECT VERSION()")?;
    let tool = tool_version(dump_tool);
    for name in &names {
        let path = format!("{DUMP_DIR}/{}/{name}.sql", db.kind.as_str());
        let mut argv: Vec<OsString> = vec![dump_tool.into()];
        argv.extend(conn.iter().cloned());
        // One consistent view of InnoDB tables without locking the server; routines, events and
        // triggers come along so the restored database behaves the same.
        argv.extend(os(&["--single-transaction", "--routines", "--events", "--triggers", "--hex-blob"]));
        argv.extend(db.options.iter().map(OsString::from));
        argv.push(name.into());
        out.push(PlannedDump {
            stream: StreamSpec {
                path: path.clone(),
                source: StreamSource::Command { argv, env: env.clone(), unset: unset.to_vec() },
                label: label(db.kind, name),
                require_output: true,
                // Without comments the tool writes no trailer to look for.
                complete_marker: (!db.options.iter().any(|o| o == "--skip-comments" || o == "--compact")).then(|| "-- Dump completed".to_string()),
            },
            record: DatabaseRecord { path: format!("/{path}"), kind: db.kind.as_str().into(), name: name.clone(), server_version: server.clone(), tool_version: tool.clone(), format: "plain".into() },
        });
    }
    Ok(())
}

fn sqlite(db: &DatabaseSpec, unset: &[OsString]) -> Result<PlannedDump> {
    let file = db.path.clone().ok_or_else(|| Error::Usage(format!("{}: no path", label(DbKind::Sqlite, &db.name))))?;
    // sqlite3 would create a missing file: check first, and say so plainly.
    if !file.is_file() {
        return Err(Error::CommandFailed(format!("{}: {} is not a file", label(DbKind::Sqlite, &db.name), file.display())));
    }
    let tool = tool_version("sqlite3");
    if tool.is_empty() {
        return Err(Error::CommandFailed(format!("{}: sqlite3 cannot be run (install the sqlite3 package)", label(DbKind::Sqlite, &db.name))));
    }
    let path = format!("{DUMP_DIR}/sqlite/{}.sql", db.name);
    // `.dump` reads inside one transaction: a consistent image even while others write, never a
    // copy of a live file. Its SQL text deduplicates from day to day.
    // A busy timeout: a live application holding a write lock makes the dump wait, not fail.
    let mut argv: Vec<OsString> = vec!["sqlite3".into(), "-bail".into(), "-cmd".into(), ".timeout 30000".into()];
    argv.extend(db.options.iter().map(OsString::from));
    argv.push(file.into_os_string());
    argv.push(".dump".into());
    Ok(PlannedDump {
        stream: StreamSpec {
            path: path.clone(),
            source: StreamSource::Command { argv, env: Vec::new(), unset: unset.to_vec() },
            label: label(DbKind::Sqlite, &db.name),
            require_output: true,
            // `.dump` ends in `ROLLBACK; -- due to errors` when it could not read everything.
            complete_marker: Some("COMMIT;".to_string()),
        },
        record: DatabaseRecord { path: format!("/{path}"), kind: "sqlite".into(), name: db.name.clone(), server_version: String::new(), tool_version: tool, format: "sqlite-dump".into() },
    })
}

fn command(db: &DatabaseSpec, unset: &[OsString]) -> PlannedDump {
    let path = format!("{DUMP_DIR}/command/{}", db.name);
    PlannedDump {
        stream: StreamSpec {
            path: path.clone(),
            source: StreamSource::Command { argv: db.command.iter().map(OsString::from).collect(), env: Vec::new(), unset: unset.to_vec() },
            label: label(DbKind::Command, &db.name),
            require_output: true,
            complete_marker: None,
        },
        record: DatabaseRecord { path: format!("/{path}"), kind: "command".into(), name: db.name.clone(), server_version: String::new(), tool_version: String::new(), format: "raw".into() },
    }
}

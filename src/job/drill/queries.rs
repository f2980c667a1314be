//! Verification queries against a drill's scratch databases: the job's own (`verify = [...]`)
//! and one sanity query per kind, each run through the kind's command-line client, its first
//! column of its first row compared with the query's bounds.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::format::drill::DrillQuery;
use crate::job::config::VerifyQuery;

/// Where a query runs.
#[derive(Debug, Clone)]
pub enum QueryTarget<'a> {
    /// A scratch PostgreSQL: its libpq environment and the database.
    Postgres { env: Vec<(OsString, OsString)>, database: &'a str },
    /// A scratch MariaDB: its socket and the database.
    Mariadb { socket: &'a Path, database: &'a str },
    /// A restored SQLite file.
    Sqlite { file: &'a Path },
}

/// The kind's sanity query: for a server, how many tables the database holds (it must
/// answer); for SQLite, `PRAGMA integrity_check`, which must say `ok` (checked by the caller).
#[must_use]
pub fn sanity(target: &QueryTarget<'_>) -> String {
    match target {
        QueryTarget::Postgres { .. } => "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')".into(),
        QueryTarget::Mariadb { database, .. } => format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}'", database.replace('\'', "''")),
        QueryTarget::Sqlite { .. } => "PRAGMA integrity_check".into(),
    }
}

/// Runs `sql` and returns the first column of the first row as the client printed it.
///
/// # Errors
/// The client's error (its last line), naming the query.
pub fn first_value(target: &QueryTarget<'_>, sql: &str) -> Result<String> {
    let mut cmd = match target {
        QueryTarget::Postgres { env, database } => {
            let mut c = Command::new("psql");
            c.args(["--no-password", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql]);
            c.env_remove("PGPASSWORD").env_remove("PGSERVICE").env_remove("PGDATABASE");
            c.envs(env.iter().map(|(k, v)| (k, v)));
            c
        }
        QueryTarget::Mariadb { socket, database } => {
            let client = if super::super::dump::on_path("mariadb") { "mariadb" } else { "mysql" };
            let mut c = Command::new(client);
            c.arg("--no-defaults").arg(format!("--socket={}", socket.display())).args(["--user=root", "--batch", "--skip-column-names", "-e", sql, database]);
            c.env_remove("MYSQL_PWD");
            c
        }
        QueryTarget::Sqlite { file } => {
            let mut c = Command::new("sqlite3");
            c.args(["-bail", "-readonly", "-list", "-separator", "\t"]).arg(file).arg(sql);
            c
        }
    };
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| Error::CommandFailed(format!("query {sql:?}: cannot run {:?}: {e}", cmd.get_program())))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    if !out.status.success() {
        return Err(Error::CommandFailed(format!("query {sql:?} failed ({}): {last}", out.status)));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or("");
    Ok(first.split(['\t', '|']).next().unwrap_or("").trim().to_string())
}

/// Runs one of the job's verification queries and judges it.
#[must_use]
pub fn verify(target: &QueryTarget<'_>, q: &VerifyQuery) -> (DrillQuery, Option<String>) {
    let mut result = DrillQuery { sql: q.sql.clone(), value: None, min: q.min, max: q.max, ok: false };
    match first_value(target, &q.sql) {
        Err(e) => (result, Some(e.to_string())),
        Ok(v) => {
            let judged = judge(&v, q.min, q.max);
            result.value = Some(v);
            result.ok = judged.is_ok();
            (result, judged.err().map(|why| format!("query {:?}: {why}", q.sql)))
        }
    }
}

/// Whether `value` is an integer within `min..=max` (no bounds: any answer passes).
fn judge(value: &str, min: Option<i64>, max: Option<i64>) -> std::result::Result<(), String> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let n: i64 = value.trim().parse().map_err(|_| format!("returned {value:?}, not a whole number"))?;
    if let Some(lo) = min
        && n < lo
    {
        return Err(format!("returned {n}, less than the minimum {lo}"));
    }
    if let Some(hi) = max
        && n > hi
    {
        return Err(format!("returned {n}, more than the maximum {hi}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_judged_against_their_bounds() {
        assert_eq!(judge("5", Some(1), None), Ok(()));
        assert_eq!(judge("0", Some(1), None), Err("returned 0, less than the minimum 1".into()));
        assert_eq!(judge("12", None, Some(10)), Err("returned 12, more than the maximum 10".into()));
        assert_eq!(judge("many", Some(1), None), Err("returned \"many\", not a whole number".into()));
        assert_eq!(judge("anything", None, None), Ok(()));
    }
}

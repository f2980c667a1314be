//! The `drill` table of a job and the `verify` queries of its databases: what a recovery drill
//! restores from, which objectives it is held to, and how it proves the restored databases hold
//! data — read and checked with the rest of the config file, so a typo is found at `config
//! check` and not by the drill that was meant to prove the backups.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::{DbKind, Problems, RepositorySpec};
use crate::job::schedule::Schedule;
use std::collections::BTreeMap;

/// How long a drill command may run when `timeout` is not given.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

/// A job's `drill` table.
#[derive(Debug, Clone, Serialize)]
pub struct DrillSpec {
    /// When `snap daemon` runs the drill; `None`: only by hand.
    pub schedule: Option<Schedule>,
    /// The repository to restore from; `None`: the job's own.
    pub from: Option<String>,
    /// Recovery time objective: the drill fails when restoring and verifying takes longer.
    #[serde(serialize_with = "secs_opt")]
    pub rto: Option<Duration>,
    /// Recovery point objective: the drill fails, before restoring, when the latest snapshot is
    /// older.
    #[serde(serialize_with = "secs_opt")]
    pub rpo: Option<Duration>,
    /// A shell command run after the databases are loaded (`sh -c`), with the scratch locations
    /// in its environment.
    pub command: Option<String>,
    #[serde(serialize_with = "secs")]
    pub timeout: Duration,
    /// Where scratch directories go (default: `<state_dir>/drill`).
    pub scratch: Option<PathBuf>,
    /// PostgreSQL roles created in the scratch server before any dump is loaded (a dump of one
    /// database names its owners but does not create them).
    pub roles: Vec<String>,
    /// Where `initdb`, `pg_ctl` and `postgres` are (default: the newest `/usr/lib/postgresql/*/bin`).
    pub postgresql_bindir: Option<PathBuf>,
}

/// One verification query of a database: its first column of its first row must be a number
/// within bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyQuery {
    pub sql: String,
    /// The database it runs in, for `name = "all"`; otherwise the dumped database.
    pub database: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Default for DrillSpec {
    /// A job without a `drill` table: by hand only, from the job's repository, no objectives.
    fn default() -> Self {
        Self { schedule: None, from: None, rto: None, rpo: None, command: None, timeout: DEFAULT_COMMAND_TIMEOUT, scratch: None, roles: Vec::new(), postgresql_bindir: None }
    }
}

fn secs_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Parses a duration as people write one: `30m`, `26h`, `1h 30m`, `7d`, `2w`, `90s` (days are
/// 24 hours; months and years are refused, being of no fixed length).
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration; write e.g. 90s, 30m, 26h, 1h 30m, 7d or 2w");
    let span: jiff::Span = s.trim().parse().map_err(|_| bad())?;
    let secs = span.total(jiff::SpanTotal::from(jiff::Unit::Second).days_are_24_hours()).map_err(|_| bad())?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{s:?}: a duration must be longer than zero"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrill {
    schedule: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    rto: Option<Spanned<String>>,
    rpo: Option<Spanned<String>>,
    command: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    scratch: Option<Spanned<PathBuf>>,
    #[serde(default)]
    roles: Vec<Spanned<String>>,
    postgresql_bindir: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerify {
    sql: Spanned<String>,
    database: Option<Spanned<String>>,
    min: Option<i64>,
    max: Option<i64>,
}

fn duration(p: &mut Problems<'_>, what: &str, key: &str, v: Option<&Spanned<String>>) -> Option<Duration> {
    let v = v?;
    parse_duration(v.get_ref()).map_err(|e| p.add(v, format!("{what}: drill.{key}: {e}"))).ok()
}

/// Checks a job's `drill` table. `own` is the job's repository; `copy_to` its off-site ones.
pub(super) fn build_drill(what: &str, raw: RawDrill, own: &str, copy_to: &[String], repositories: &BTreeMap<String, RepositorySpec>, p: &mut Problems<'_>) -> DrillSpec {
    let schedule = raw.schedule.as_ref().and_then(|s| Schedule::parse(s.get_ref()).map_err(|e| p.add(s, format!("{what}: drill.schedule: {e}"))).ok());
    if let Some(f) = &raw.from {
        let r = f.get_ref();
        if !repositories.contains_key(r) {
            p.add(f, format!("{what}: drill.from {r:?} is not a defined repository"));
        } else if r != own && !copy_to.iter().any(|c| c == r) {
            p.add(f, format!("{what}: drill.from {r:?} is neither the job's repository nor in copy_to"));
        }
    }
    if let Some(c) = &raw.command
        && c.get_ref().trim().is_empty()
    {
        p.add(c, format!("{what}: drill.command is empty"));
    }
    if let Some(s) = &raw.scratch {
        p.absolute(s, what, "drill.scratch");
    }
    if let Some(b) = &raw.postgresql_bindir {
        p.absolute(b, what, "drill.postgresql_bindir");
    }
    for r in &raw.roles {
        let role = r.get_ref();
        if role.is_empty() || role.contains(['"', '\0']) || role.chars().any(char::is_control) {
            p.add(r, format!("{what}: drill.roles: {role:?} is not a role name snap can create"));
        }
    }
    DrillSpec {
        schedule,
        from: raw.from.map(Spanned::into_inner),
        rto: duration(p, what, "rto", raw.rto.as_ref()),
        rpo: duration(p, what, "rpo", raw.rpo.as_ref()),
        command: raw.command.map(Spanned::into_inner),
        timeout: duration(p, what, "timeout", raw.timeout.as_ref()).unwrap_or(DEFAULT_COMMAND_TIMEOUT),
        scratch: raw.scratch.map(Spanned::into_inner),
        roles: raw.roles.into_iter().map(Spanned::into_inner).collect(),
        postgresql_bindir: raw.postgresql_bindir.map(Spanned::into_inner),
    }
}

/// Checks the `verify` queries of one database table.
pub(super) fn build_verify(what: &str, kind: DbKind, all: bool, table: Range<usize>, raw: Vec<RawVerify>, p: &mut Problems<'_>) -> Vec<VerifyQuery> {
    if !raw.is_empty() && kind == DbKind::Command {
        p.at(table.clone(), format!("{what}: verify does not apply to kind command (snap has no tool to load it)"));
    }
    let mut out = Vec::new();
    for v in raw {
        if v.sql.get_ref().trim().is_empty() {
            p.add(&v.sql, format!("{what}: verify: sql is empty"));
        }
        match (&v.database, all) {
            (None, true) => p.add(&v.sql, format!("{what}: verify: name = \"all\" needs database, the database the query runs in")),
            (Some(d), false) => p.add(d, format!("{what}: verify: database only applies to name = \"all\"; the query runs in the dumped database")),
            (Some(d), true) if kind == DbKind::Sqlite => p.add(d, format!("{what}: verify: database does not apply to sqlite")),
            _ => {}
        }
        if let (Some(lo), Some(hi)) = (v.min, v.max)
            && lo > hi
        {
            p.add(&v.sql, format!("{what}: verify: min {lo} is greater than max {hi}"));
        }
        out.push(VerifyQuery { sql: v.sql.into_inner(), database: v.database.map(Spanned::into_inner), min: v.min, max: v.max });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("26h"), Ok(Duration::from_secs(26 * 3600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "soon", "1mo", "1y", "0s", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}

//! The server-jobs config file (`snap.toml`): what it may say, reading it, and every check that
//! can be made without opening a repository, so that a mistake is reported when the file is
//! checked and not at 02:30 when a job starts. `tools/examples/snap.toml` is a complete example
//! (a test parses it).
//!
//! # Where it is
//! `--config FILE` or `SNAP_CONFIG`; otherwise the first that exists of `/etc/snap/snap.toml`
//! and `$XDG_CONFIG_HOME/snap/snap.toml` (`~/.config/snap/snap.toml`). See [`Config::locate`].
//!
//! # Keys
//! Unknown keys are refused, naming the key and its line. Paths are absolute (a daemon's working
//! directory is nobody's business). Names of repositories, jobs and databases are used as file
//! names: not empty, no `/`, no control characters, not `.`/`..`, not starting with `-`.
//!
//! Top level:
//! - `state_dir` (default `/var/lib/snap`): where the runner keeps job state.
//!
//! `[repository.NAME]`:
//! - `url` (required): the repository location: a directory, `s3:...` or `sftp:...`
//!   (format-spec §2), checked when the file is read.
//! - `options`: storage options as `-o` takes them (`{ "s3.region" = "garage", connections = 4 }`).
//! - exactly one of `password_file` (first line of the file), `password_command` (first line
//!   the `sh -c` command prints) or `password_env` (an environment variable). An inline
//!   `password` is refused: secrets do not belong in config files.
//! - `cache_dir`: root of the local cache for this repository.
//!
//! `[job.NAME]`:
//! - `repository` (required): the repository the job backs up to.
//! - `copy_to`: repositories each new snapshot is copied to afterwards.
//! - `paths`, `exclude` (globs as `snap backup --exclude`), `one_file_system`, `tags`, `host`
//!   (snapshot hostname): as for `snap backup`. A job needs at least one path or database.
//! - `schedule`: a cron expression, 5, 6 or 7 fields (see [`Schedule`]); without one the job
//!   only runs when started by hand. `timezone`: an IANA zone name (default: the system's).
//!   `catch_up`: run once at start when a scheduled run was missed (needs `schedule`).
//! - `before`, `after`, `on_error`, `on_success`: lists of shell commands (hooks).
//! - `retention.REPO = { keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly,
//!   keep_yearly, keep_within = "30d", keep_tags = ["a"], prune = true }`: per repository of the
//!   job (its `repository` or one in `copy_to`); at least one keep rule; `prune` defaults to true.
//! - `check = { read_data = true }`, `{ read_data_subset = "1/7" }` (also `"10%"` or a size
//!   `"500M"`, as `snap check --read-data-subset`) or `{ structure_only = true }`.
//!
//! `[[job.NAME.database]]`, one table per dump:
//! - `kind`: `postgresql`, `mysql`, `mariadb`, `sqlite` or `command`.
//! - `name`: for the server kinds the database, or `"all"` for every database (required); for
//!   `sqlite` the dump's name (default: the file name without extension); for `command` the
//!   dump's name (required). Unique within a job.
//! - server kinds: `host`, `port`, `user`, `socket`, an optional password as `password_file`,
//!   `password_command` or `password_env`, and `options` (extra arguments for the dump tool);
//!   `format = "plain"` (default) or `"custom"` for `postgresql` only.
//! - `sqlite`: `path` (required), `options`.
//! - `command`: `command`, an argument list whose standard output is the dump (required).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::de::IgnoredAny;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

mod drill;

pub use drill::{parse_duration, DrillSpec, VerifyQuery, DEFAULT_COMMAND_TIMEOUT};

use super::schedule::Schedule;
use super::secret::Secret;
use crate::error::{Error, Result};
use crate::ops::check::{CheckOptions, DataSubset};
use crate::ops::forget::{KeepPolicy, KeepWithin};

/// The system-wide config file, tried first when none is named.
pub const SYSTEM_CONFIG: &str = "/etc/snap/snap.toml";
/// `state_dir` when the file sets none.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/snap";

/// A checked config file: every reference resolves, every value parses.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub state_dir: PathBuf,
    pub repositories: BTreeMap<String, RepositorySpec>,
    pub jobs: BTreeMap<String, JobSpec>,
}

/// A `[repository.NAME]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositorySpec {
    pub name: String,
    /// The location as written: a directory, `s3:...` or `sftp:...` (format-spec §1).
    pub url: String,
    pub password: Secret,
    pub cache_dir: Option<PathBuf>,
    /// Backend options (`options = { "s3.region" = "garage" }`), as `-o KEY=VALUE` gives them.
    #[serde(skip)]
    pub options: crate::backend::Options,
}

/// A `[job.NAME]` table.
#[derive(Debug, Clone, Serialize)]
pub struct JobSpec {
    pub name: String,
    /// `None`: the job runs only when started by hand.
    pub schedule: Option<Schedule>,
    /// The zone name as written; `None` means the system's zone.
    pub timezone: Option<String>,
    /// The zone the schedule is read in: `timezone` resolved, or the system's.
    #[serde(skip)]
    pub zone: TimeZone,
    pub catch_up: bool,
    pub paths: Vec<PathBuf>,
    pub exclude: Vec<String>,
    pub one_file_system: bool,
    pub tags: Vec<String>,
    pub host: Option<String>,
    pub repository: String,
    pub copy_to: Vec<String>,
    pub before: Vec<String>,
    pub after: Vec<String>,
    pub on_error: Vec<String>,
    pub on_success: Vec<String>,
    /// Per repository name (the job's `repository` or one in `copy_to`).
    pub retention: BTreeMap<String, RetentionSpec>,
    pub check: CheckSpec,
    pub databases: Vec<DatabaseSpec>,
    /// Recovery drills of the job (`snap drill`); `None`: the defaults, run by hand only.
    pub drill: Option<DrillSpec>,
}

/// A `retention.REPO` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionSpec {
    pub keep_last: u32,
    pub keep_hourly: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub keep_yearly: u32,
    #[serde(serialize_with = "display_opt")]
    pub keep_within: Option<KeepWithin>,
    pub keep_tags: Vec<String>,
    /// Free the data of forgotten snapshots (default true).
    pub prune: bool,
}

/// The `check` of a job, after its backup.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum CheckSpec {
    /// No `check` key: no check.
    #[default]
    Skip,
    /// `structure_only = true`.
    StructureOnly,
    /// `read_data = true` ([`DataSubset::All`]) or `read_data_subset = "..."`.
    ReadData(DataSubset),
}

/// One `[[job.NAME.database]]` table: a dump stored in the job's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseSpec {
    pub kind: DbKind,
    /// The database (or `all`) for the server kinds; the dump's name for `sqlite` and `command`.
    pub name: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub socket: Option<PathBuf>,
    /// The database file (`sqlite`).
    pub path: Option<PathBuf>,
    /// The dump command's arguments (`command`); empty for other kinds.
    pub command: Vec<String>,
    /// `postgresql` only: `Some` (plain by default); `None` for other kinds.
    pub format: Option<DumpFormat>,
    /// Extra arguments for the dump tool.
    pub options: Vec<String>,
    /// Queries a drill runs against the restored database.
    pub verify: Vec<VerifyQuery>,
}

/// What a database table dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Postgresql,
    Mysql,
    Mariadb,
    Sqlite,
    Command,
}

/// The format of a PostgreSQL dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// SQL text (`pg_dump --format=plain`).
    #[default]
    Plain,
    /// `pg_dump --format=custom`, for `pg_restore`.
    Custom,
}

impl Config {
    /// Reads and checks the config file at `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::Config`] as [`Config::parse`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parses and checks config text; `path` is only used in messages.
    ///
    /// # Errors
    /// [`Error::Config`] with the line for the first problem in the file (in line order): a
    /// syntax error, an unknown key, a wrong type, or a failed check.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: one_line(e.message()),
        })?;
        let mut problems = Problems { text, found: Vec::new() };
        let config = build(raw, &mut problems);
        match problems.found.into_iter().min_by_key(|(line, _)| *line) {
            Some((line, message)) => Err(Error::Config { path: path.to_path_buf(), line: Some(line), message }),
            None => Ok(config),
        }
    }

    /// Which config file to read: `explicit` (`--config` or `SNAP_CONFIG`, which the caller
    /// resolves) when given, else the first that exists of [`SYSTEM_CONFIG`] and
    /// `$XDG_CONFIG_HOME/snap/snap.toml` (`$HOME/.config` when `XDG_CONFIG_HOME` is unset).
    ///
    /// # Errors
    /// [`Error::Usage`] when `explicit` does not exist, or no file is given and none exists.
    pub fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
        let user = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|x| !x.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("snap").join("snap.toml"));
        locate_in(explicit, Path::new(SYSTEM_CONFIG), user)
    }

    /// The job called `name`.
    ///
    /// # Errors
    /// [`Error::Usage`] naming the jobs there are.
    pub fn job(&self, name: &str) -> Result<&JobSpec> {
        self.jobs.get(name).ok_or_else(|| Error::Usage(format!("no job named {name:?} ({})", listing("jobs", self.jobs.keys()))))
    }

    /// The environment variables the file names as password sources (`password_env`), which
    /// no hook or dump tool may inherit.
    #[must_use]
    pub fn env_secret_names(&self) -> Vec<String> {
        let repos = self.repositories.values().map(|r| Some(&r.password));
        let dbs = self.jobs.values().flat_map(|j| j.databases.iter().map(|d| d.password.as_ref()));
        let mut names: Vec<String> = repos.chain(dbs).flatten().filter_map(|s| if let Secret::Env(n) = s { Some(n.clone()) } else { None }).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The repository called `name` (every name a job uses is defined).
    #[must_use]
    pub fn repository(&self, name: &str) -> Option<&RepositorySpec> {
        self.repositories.get(name)
    }
}

fn locate_in(explicit: Option<&Path>, system: &Path, user: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return match p.try_exists() {
            Ok(true) => Ok(p.to_path_buf()),
            Ok(false) => Err(Error::Usage(format!("config file {} does not exist", p.display()))),
            Err(e) => Err(Error::Usage(format!("config file {}: {e}", p.display()))),
        };
    }
    let mut tried = vec![system.to_path_buf()];
    tried.extend(user);
    if let Some(found) = tried.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
    Err(Error::Usage(format!("no config file (looked for {}): use --config FILE or SNAP_CONFIG", tried.join(" and "))))
}

impl JobSpec {
    /// The job's repository, then those in `copy_to`.
    #[must_use]
    pub fn repositories(&self) -> Vec<&str> {
        std::iter::once(self.repository.as_str()).chain(self.copy_to.iter().map(String::as_str)).collect()
    }

    /// The first scheduled run after `after` (in the job's zone); `None` without a schedule or
    /// when it matches nothing more.
    #[must_use]
    pub fn next_run(&self, after: Timestamp) -> Option<Timestamp> {
        self.schedule.as_ref()?.next_after(after, &self.zone)
    }

    /// The next `n` scheduled runs after `after`; empty without a schedule.
    #[must_use]
    pub fn next_runs(&self, after: Timestamp, n: usize) -> Vec<Timestamp> {
        self.schedule.as_ref().map(|s| s.upcoming(after, &self.zone, n)).unwrap_or_default()
    }
}

impl RetentionSpec {
    /// The policy for [`crate::ops::forget`].
    #[must_use]
    pub fn policy(&self) -> KeepPolicy {
        KeepPolicy {
            last: self.keep_last,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
            within: self.keep_within,
            tags: self.keep_tags.clone(),
        }
    }
}

impl fmt::Display for RetentionSpec {
    /// `keep daily 3, monthly 12, within 30d; prune`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rules = Vec::new();
        for (n, what) in [
            (self.keep_last, "last"),
            (self.keep_hourly, "hourly"),
            (self.keep_daily, "daily"),
            (self.keep_weekly, "weekly"),
            (self.keep_monthly, "monthly"),
            (self.keep_yearly, "yearly"),
        ] {
            if n > 0 {
                rules.push(format!("{what} {n}"));
            }
        }
        if let Some(w) = self.keep_within {
            rules.push(format!("within {w}"));
        }
        if !self.keep_tags.is_empty() {
            rules.push(format!("tags {}", self.keep_tags.join(" ")));
        }
        write!(f, "keep {}; {}", rules.join(", "), if self.prune { "prune" } else { "no prune" })
    }
}

impl CheckSpec {
    /// The options for [`crate::ops::check::check`]; `None` when the job runs no check.
    #[must_use]
    pub fn options(&self) -> Option<CheckOptions> {
        match *self {
            Self::Skip => None,
            Self::StructureOnly => Some(CheckOptions { read_data: None }),
            Self::ReadData(subset) => Some(CheckOptions { read_data: Some(subset) }),
        }
    }
}

impl fmt::Display for CheckSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Skip => f.write_str("none"),
            Self::StructureOnly => f.write_str("structure only"),
            Self::ReadData(DataSubset::All) => f.write_str("read all data"),
            Self::ReadData(s) => write!(f, "read data subset {}", subset_text(*s)),
        }
    }
}

/// As written in the file: `null`, `{"structure_only": true}`, `{"read_data": true}` or
/// `{"read_data_subset": "1/7"}`.
impl Serialize for CheckSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Skip => s.serialize_none(),
            Self::StructureOnly => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("structure_only", &true)?;
                m.end()
            }
            Self::ReadData(DataSubset::All) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("read_data", &true)?;
                m.end()
            }
            Self::ReadData(sub) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("read_data_subset", &subset_text(*sub))?;
                m.end()
            }
        }
    }
}

fn subset_text(s: DataSubset) -> String {
    match s {
        DataSubset::All => "all".to_string(),
        DataSubset::Slice { n, m } => format!("{n}/{m}"),
        DataSubset::Percent(p) => format!("{p}%"),
        DataSubset::Bytes(b) => b.to_string(),
    }
}

impl DatabaseSpec {
    /// `name = "all"` of a server kind: every database on the server.
    #[must_use]
    pub fn is_all(&self) -> bool {
        self.kind.is_server() && self.name == "all"
    }

    /// Where the dump comes from, for people: `127.0.0.1:5432 as mmuser`,
    /// `/var/lib/rauthy/rauthy.db`, `redis-cli --rdb -`.
    #[must_use]
    pub fn source(&self) -> String {
        match self.kind {
            DbKind::Sqlite => self.path.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            DbKind::Command => self.command.join(" "),
            _ => {
                let mut at = match (&self.socket, &self.host, self.port) {
                    (Some(s), _, _) => s.display().to_string(),
                    (None, Some(h), Some(p)) => format!("{h}:{p}"),
                    (None, Some(h), None) => h.clone(),
                    (None, None, Some(p)) => format!("localhost:{p}"),
                    (None, None, None) => "the local server".to_string(),
                };
                if let Some(u) = &self.user {
                    at.push_str(&format!(" as {u}"));
                }
                at
            }
        }
    }
}

impl DbKind {
    /// The name used in the file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Mysql => "mysql",
            Self::Mariadb => "mariadb",
            Self::Sqlite => "sqlite",
            Self::Command => "command",
        }
    }

    /// A database server (postgresql, mysql, mariadb), reached by host, port, user, socket.
    #[must_use]
    pub fn is_server(self) -> bool {
        matches!(self, Self::Postgresql | Self::Mysql | Self::Mariadb)
    }
}

impl DumpFormat {
    /// The name used in the file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Custom => "custom",
        }
    }
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn display_opt<T: fmt::Display, S: Serializer>(v: &Option<T>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

// ---- The file as written: serde types with spans, turned into the types above by `build`. ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<Spanned<PathBuf>>,
    #[serde(default)]
    repository: BTreeMap<Spanned<String>, RawRepository>,
    #[serde(default)]
    job: BTreeMap<Spanned<String>, RawJob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepository {
    url: Spanned<String>,
    cache_dir: Option<Spanned<PathBuf>>,
    password: Option<Spanned<IgnoredAny>>,
    password_file: Option<Spanned<PathBuf>>,
    password_command: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    options: Option<Spanned<BTreeMap<String, toml::Value>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    catch_up: Option<Spanned<bool>>,
    #[serde(default)]
    paths: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    one_file_system: bool,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    host: Option<Spanned<String>>,
    repository: Spanned<String>,
    #[serde(default)]
    copy_to: Vec<Spanned<String>>,
    #[serde(default)]
    before: Vec<Spanned<String>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    #[serde(default)]
    on_error: Vec<Spanned<String>>,
    #[serde(default)]
    on_success: Vec<Spanned<String>>,
    #[serde(default)]
    retention: BTreeMap<Spanned<String>, Spanned<RawRetention>>,
    check: Option<Spanned<RawCheck>>,
    #[serde(default)]
    database: Vec<RawDatabase>,
    drill: Option<drill::RawDrill>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    #[serde(default)]
    keep_last: u32,
    #[serde(default)]
    keep_hourly: u32,
    #[serde(default)]
    keep_daily: u32,
    #[serde(default)]
    keep_weekly: u32,
    #[serde(default)]
    keep_monthly: u32,
    #[serde(default)]
    keep_yearly: u32,
    keep_within: Option<Spanned<String>>,
    #[serde(default)]
    keep_tags: Vec<String>,
    prune: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    read_data: Option<Spanned<bool>>,
    read_data_subset: Option<Spanned<String>>,
    structure_only: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    kind: Spanned<DbKind>,
    name: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    user: Option<Spanned<String>>,
    password: Option<Spanned<IgnoredAny>>,
    password_file: Option<Spanned<PathBuf>>,
    password_command: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    socket: Option<Spanned<PathBuf>>,
    path: Option<Spanned<PathBuf>>,
    command: Option<Spanned<Vec<String>>>,
    format: Option<Spanned<DumpFormat>>,
    options: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    verify: Vec<drill::RawVerify>,
}

/// The password keys of a table.
struct RawSecret {
    password: Option<Spanned<IgnoredAny>>,
    file: Option<Spanned<PathBuf>>,
    command: Option<Spanned<String>>,
    env: Option<Spanned<String>>,
}

/// Problems found while building, each with its line; the first by line is reported.
struct Problems<'a> {
    text: &'a str,
    found: Vec<(usize, String)>,
}

impl Problems<'_> {
    fn at(&mut self, span: Range<usize>, message: String) {
        let line = line_of(self.text, span.start);
        self.found.push((line, message));
    }

    fn add<T>(&mut self, at: &Spanned<T>, message: String) {
        self.at(at.span(), message);
    }

    /// A name that must be usable as a file name.
    fn name(&mut self, name: &Spanned<String>, what: &str) {
        if let Some(why) = bad_name(name.get_ref()) {
            self.add(name, format!("{what} name {:?} {why}: names are used as file names", name.get_ref()));
        }
    }

    fn absolute(&mut self, p: &Spanned<PathBuf>, what: &str, key: &str) {
        if !p.get_ref().is_absolute() {
            self.add(p, format!("{what}: {key} {:?} is not an absolute path", p.get_ref()));
        }
    }

    /// The password source of a table: exactly one of the three keys, or none when optional.
    fn secret(&mut self, what: &str, table: Range<usize>, raw: RawSecret, required: bool) -> Option<Secret> {
        if let Some(p) = &raw.password {
            self.add(p, format!("{what}: an inline password is not allowed; use password_file, password_command or password_env"));
            return None;
        }
        let mut given: Vec<(Range<usize>, Secret)> = Vec::new();
        if let Some(f) = raw.file {
            if f.get_ref().as_os_str().is_empty() || !f.get_ref().is_absolute() {
                self.add(&f, format!("{what}: password_file {:?} is not an absolute path", f.get_ref()));
            }
            given.push((f.span(), Secret::File(f.into_inner())));
        }
        if let Some(c) = raw.command {
            if c.get_ref().trim().is_empty() {
                self.add(&c, format!("{what}: password_command is empty"));
            }
            given.push((c.span(), Secret::Command(c.into_inner())));
        }
        if let Some(v) = raw.env {
            let name = v.get_ref();
            if name.is_empty() || name.contains(['=', '\0']) {
                self.add(&v, format!("{what}: password_env {name:?} is not an environment variable name"));
            } else if name == "SNAP_PASSWORD" {
                self.add(&v, format!("{what}: password_env cannot be SNAP_PASSWORD, which snap takes out of its environment at startup; use another variable"));
            }
            given.push((v.span(), Secret::Env(v.into_inner())));
        }
        given.sort_by_key(|(span, _)| span.start);
        match given.len() {
            0 if required => {
                self.at(table, format!("{what}: needs password_file, password_command or password_env"));
                None
            }
            0 => None,
            1 => given.pop().map(|(_, s)| s),
            _ => {
                let span = given.get(1).map(|(s, _)| s.clone()).unwrap_or(table);
                self.at(span, format!("{what}: give only one of password_file, password_command and password_env"));
                None
            }
        }
    }
}

fn build(raw: RawConfig, p: &mut Problems<'_>) -> Config {
    let state_dir = match raw.state_dir {
        Some(d) => {
            p.absolute(&d, "top level", "state_dir");
            d.into_inner()
        }
        None => PathBuf::from(DEFAULT_STATE_DIR),
    };
    let mut repositories = BTreeMap::new();
    for (name, r) in raw.repository {
        p.name(&name, "repository");
        let what = format!("repository {:?}", name.get_ref());
        if r.url.get_ref().trim().is_empty() {
            p.add(&r.url, format!("{what}: url is empty"));
        } else if let Err(e) = crate::backend::Location::parse(r.url.get_ref()) {
            p.add(&r.url, format!("{what}: {e}"));
        }
        let options = match r.options {
            Some(o) => {
                let span = o.span();
                let pairs = o.into_inner().into_iter().map(|(k, v)| {
                    let v = match v {
                        toml::Value::String(s) => s,
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        toml::Value::Float(f) => f.to_string(),
                        other => format!("{other:?}"),
                    };
                    (k, v)
                });
                crate::backend::Options::from_pairs(pairs).unwrap_or_else(|e| {
                    p.at(span, format!("{what}: {e}"));
                    crate::backend::Options::default()
                })
            }
            None => crate::backend::Options::default(),
        };
        if let Some(c) = &r.cache_dir {
            p.absolute(c, &what, "cache_dir");
        }
        let secret = RawSecret { password: r.password, file: r.password_file, command: r.password_command, env: r.password_env };
        // A missing source is reported; the empty stand-in never leaves `Config::parse`.
        let password = p.secret(&what, name.span(), secret, true).unwrap_or_else(|| Secret::Env(String::new()));
        let spec = RepositorySpec { name: name.get_ref().clone(), url: r.url.into_inner(), password, cache_dir: r.cache_dir.map(Spanned::into_inner), options };
        repositories.insert(name.into_inner(), spec);
    }
    let mut jobs = BTreeMap::new();
    for (name, j) in raw.job {
        let job = build_job(&name, j, &repositories, p);
        jobs.insert(name.into_inner(), job);
    }
    Config { state_dir, repositories, jobs }
}

fn build_job(name: &Spanned<String>, j: RawJob, repositories: &BTreeMap<String, RepositorySpec>, p: &mut Problems<'_>) -> JobSpec {
    p.name(name, "job");
    let what = format!("job {:?}", name.get_ref());
    let defined = || listing("defined", repositories.keys());

    let schedule = j.schedule.as_ref().and_then(|s| Schedule::parse(s.get_ref()).map_err(|e| p.add(s, format!("{what}: {e}"))).ok());
    let zone = match &j.timezone {
        Some(tz) => TimeZone::get(tz.get_ref()).unwrap_or_else(|e| {
            p.add(tz, format!("{what}: timezone {:?} is not in the system's zone database: {}", tz.get_ref(), one_line(&e.to_string())));
            TimeZone::UTC
        }),
        None => TimeZone::system(),
    };
    let catch_up = match &j.catch_up {
        Some(c) if *c.get_ref() && j.schedule.is_none() => {
            p.add(c, format!("{what}: catch_up needs a schedule"));
            true
        }
        Some(c) => *c.get_ref(),
        None => false,
    };

    for path in &j.paths {
        p.absolute(path, &what, "path");
    }
    for pat in &j.exclude {
        if let Err(why) = check_exclude(pat.get_ref()) {
            p.add(pat, format!("{what}: exclude {:?}: {why}", pat.get_ref()));
        }
    }
    let non_empty = |p: &mut Problems<'_>, list: &[Spanned<String>], key: &str| {
        for s in list {
            if s.get_ref().trim().is_empty() {
                p.add(s, format!("{what}: {key} holds an empty string"));
            }
        }
    };
    non_empty(p, &j.tags, "tags");
    non_empty(p, &j.before, "before");
    non_empty(p, &j.after, "after");
    non_empty(p, &j.on_error, "on_error");
    non_empty(p, &j.on_success, "on_success");
    if let Some(h) = &j.host
        && h.get_ref().trim().is_empty()
    {
        p.add(h, format!("{what}: host is empty"));
    }

    if !repositories.contains_key(j.repository.get_ref()) {
        p.add(&j.repository, format!("{what}: repository {:?} is not defined ({})", j.repository.get_ref(), defined()));
    }
    let mut seen = BTreeSet::new();
    for c in &j.copy_to {
        let r = c.get_ref();
        if !repositories.contains_key(r) {
            p.add(c, format!("{what}: copy_to {r:?} is not a defined repository ({})", defined()));
        } else if r == j.repository.get_ref() {
            p.add(c, format!("{what}: copy_to {r:?} is the job's own repository"));
        } else if !seen.insert(r.as_str()) {
            p.add(c, format!("{what}: copy_to names {r:?} twice"));
        }
    }

    let mut retention = BTreeMap::new();
    for (repo, policy) in j.retention {
        let r = repo.get_ref();
        if !repositories.contains_key(r) {
            p.add(&repo, format!("{what}: retention.{r}: {r:?} is not a defined repository ({})", defined()));
        } else if r != j.repository.get_ref() && !j.copy_to.iter().any(|c| c.get_ref() == r) {
            p.add(&repo, format!("{what}: retention.{r}: repository {r:?} is neither the job's repository nor in copy_to"));
        }
        let span = policy.span();
        let spec = build_retention(&format!("{what}: retention.{r}"), policy.into_inner(), span, p);
        retention.insert(repo.into_inner(), spec);
    }

    let check = match j.check {
        Some(c) => build_check(&what, c, p),
        None => CheckSpec::Skip,
    };

    let mut databases = Vec::new();
    let mut names = BTreeSet::new();
    for (i, d) in j.database.into_iter().enumerate() {
        let kind_span = d.kind.span();
        let db = build_database(&what, i + 1, d, p);
        if !db.name.is_empty() && !names.insert(db.name.clone()) {
            p.at(kind_span, format!("{what}: database name {:?} is used twice", db.name));
        }
        databases.push(db);
    }

    if j.paths.is_empty() && databases.is_empty() {
        p.add(name, format!("{what}: nothing to back up; give paths or a [[job.{}.database]] table", name.get_ref()));
    }

    let strings = |v: Vec<Spanned<String>>| v.into_iter().map(Spanned::into_inner).collect::<Vec<_>>();
    let copy_to = strings(j.copy_to);
    let drill = j.drill.map(|d| drill::build_drill(&what, d, j.repository.get_ref(), &copy_to, repositories, p));
    JobSpec {
        name: name.get_ref().clone(),
        schedule,
        timezone: j.timezone.map(Spanned::into_inner),
        zone,
        catch_up,
        paths: j.paths.into_iter().map(Spanned::into_inner).collect(),
        exclude: strings(j.exclude),
        one_file_system: j.one_file_system,
        tags: strings(j.tags),
        host: j.host.map(Spanned::into_inner),
        repository: j.repository.into_inner(),
        copy_to,
        before: strings(j.before),
        after: strings(j.after),
        on_error: strings(j.on_error),
        on_success: strings(j.on_success),
        retention,
        check,
        databases,
        drill,
    }
}

fn build_retention(what: &str, r: RawRetention, span: Range<usize>, p: &mut Problems<'_>) -> RetentionSpec {
    let keep_within = r.keep_within.as_ref().and_then(|w| {
        KeepWithin::parse(w.get_ref())
            .map_err(|e| {
                let e = e.to_string();
                let prefix = format!("--keep-within {:?}: ", w.get_ref());
                p.add(w, format!("{what}: keep_within {:?}: {}", w.get_ref(), e.strip_prefix(&prefix).unwrap_or(&e)));
            })
            .ok()
    });
    let spec = RetentionSpec {
        keep_last: r.keep_last,
        keep_hourly: r.keep_hourly,
        keep_daily: r.keep_daily,
        keep_weekly: r.keep_weekly,
        keep_monthly: r.keep_monthly,
        keep_yearly: r.keep_yearly,
        keep_within,
        keep_tags: r.keep_tags,
        prune: r.prune.unwrap_or(true),
    };
    if spec.policy().is_empty() && r.keep_within.is_none() {
        p.at(span, format!("{what}: no keep rule; set one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within or keep_tags"));
    }
    spec
}

fn build_check(what: &str, c: Spanned<RawCheck>, p: &mut Problems<'_>) -> CheckSpec {
    let span = c.span();
    let c = c.into_inner();
    let mut chosen = Vec::new();
    for (flag, key, spec) in [(&c.read_data, "read_data", CheckSpec::ReadData(DataSubset::All)), (&c.structure_only, "structure_only", CheckSpec::StructureOnly)] {
        if let Some(f) = flag {
            if *f.get_ref() {
                chosen.push(spec);
            } else {
                p.add(f, format!("{what}: check.{key} = false means nothing; leave the key out (and leave check out to run no check)"));
            }
        }
    }
    if let Some(s) = &c.read_data_subset {
        match DataSubset::parse(s.get_ref()) {
            Ok(sub) => chosen.push(CheckSpec::ReadData(sub)),
            Err(_) => p.add(s, format!("{what}: check.read_data_subset {:?}: expected n/m with 1 <= n <= m, a percentage like 10% or a size like 500M", s.get_ref())),
        }
    }
    match chosen.as_slice() {
        [one] => *one,
        [] => {
            if c.read_data.is_none() && c.structure_only.is_none() && c.read_data_subset.is_none() {
                p.at(span, format!("{what}: check needs one of read_data = true, read_data_subset = \"n/m\" or structure_only = true"));
            }
            CheckSpec::Skip
        }
        _ => {
            p.at(span, format!("{what}: check takes only one of read_data, read_data_subset and structure_only"));
            CheckSpec::Skip
        }
    }
}

fn build_database(job: &str, nr: usize, d: RawDatabase, p: &mut Problems<'_>) -> DatabaseSpec {
    let kind = *d.kind.get_ref();
    let kind_span = d.kind.span();
    let name = match (&d.name, kind) {
        (Some(n), _) => n.get_ref().clone(),
        (None, DbKind::Sqlite) => d.path.as_ref().and_then(|f| f.get_ref().file_stem()).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        (None, _) => String::new(),
    };
    let what = if name.is_empty() { format!("{job}: database #{nr} ({kind})") } else { format!("{job}: database {name:?} ({kind})") };

    match &d.name {
        None if kind.is_server() => p.at(kind_span.clone(), format!("{what}: needs name, a database or \"all\"")),
        None if kind == DbKind::Command => p.at(kind_span.clone(), format!("{what}: needs name, the dump's name in the snapshot")),
        Some(n) if n.get_ref() == "all" && !kind.is_server() => {
            p.add(n, format!("{what}: name \"all\" is only for postgresql, mysql and mariadb"));
        }
        Some(n) => p.name(n, &format!("{job}: database")),
        None => {
            if name.is_empty() && d.path.is_some() {
                p.at(kind_span.clone(), format!("{what}: needs name (the path has no file name to take it from)"));
            }
        }
    }

    // Keys that belong to other kinds are refused rather than ignored.
    let mut refuse = |span: Option<Range<usize>>, key: &str, ok: bool| {
        if let Some(s) = span
            && !ok
        {
            p.at(s, format!("{what}: {key} does not apply to kind {kind}"));
        }
    };
    let server = kind.is_server();
    refuse(d.host.as_ref().map(Spanned::span), "host", server);
    refuse(d.port.as_ref().map(Spanned::span), "port", server);
    refuse(d.user.as_ref().map(Spanned::span), "user", server);
    refuse(d.socket.as_ref().map(Spanned::span), "socket", server);
    refuse(d.password.as_ref().map(Spanned::span), "password", server);
    refuse(d.password_file.as_ref().map(Spanned::span), "password_file", server);
    refuse(d.password_command.as_ref().map(Spanned::span), "password_command", server);
    refuse(d.password_env.as_ref().map(Spanned::span), "password_env", server);
    refuse(d.path.as_ref().map(Spanned::span), "path", kind == DbKind::Sqlite);
    refuse(d.command.as_ref().map(Spanned::span), "command", kind == DbKind::Command);
    refuse(d.format.as_ref().map(Spanned::span), "format", kind == DbKind::Postgresql);
    refuse(d.options.as_ref().map(Spanned::span), "options", kind != DbKind::Command);

    if let Some(h) = &d.host
        && h.get_ref().trim().is_empty()
    {
        p.add(h, format!("{what}: host is empty"));
    }
    if let Some(s) = &d.socket {
        p.absolute(s, &what, "socket");
    }
    match (&d.path, kind) {
        (Some(f), DbKind::Sqlite) => p.absolute(f, &what, "path"),
        (None, DbKind::Sqlite) => p.at(kind_span.clone(), format!("{what}: needs path, the database file")),
        _ => {}
    }
    if kind == DbKind::Command {
        match &d.command {
            Some(c) if c.get_ref().first().is_some_and(|a| !a.trim().is_empty()) => {}
            Some(c) => p.add(c, format!("{what}: command must be a non-empty list like [\"redis-cli\", \"--rdb\", \"-\"]")),
            None => p.at(kind_span.clone(), format!("{what}: needs command, a list like [\"redis-cli\", \"--rdb\", \"-\"]")),
        }
    }

    let all = server && name == "all";
    let verify = drill::build_verify(&what, kind, all, kind_span.clone(), d.verify, p);
    let password = if server {
        let secret = RawSecret { password: d.password, file: d.password_file, command: d.password_command, env: d.password_env };
        p.secret(&what, kind_span, secret, false)
    } else {
        None
    };
    DatabaseSpec {
        kind,
        name,
        host: d.host.map(Spanned::into_inner),
        port: d.port.map(Spanned::into_inner),
        user: d.user.map(Spanned::into_inner),
        password,
        socket: d.socket.map(Spanned::into_inner),
        path: d.path.map(Spanned::into_inner),
        command: d.command.map(Spanned::into_inner).unwrap_or_default(),
        format: if kind == DbKind::Postgresql { Some(d.format.map(Spanned::into_inner).unwrap_or_default()) } else { None },
        options: d.options.map(Spanned::into_inner).unwrap_or_default(),
        verify,
    }
}

/// Why `name` cannot be a file name, if it cannot.
fn bad_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name == "." || name == ".." {
        Some("is not a file name")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else if name.starts_with('-') {
        Some("starts with '-'")
    } else {
        None
    }
}

/// The rule of `snap backup --exclude` (`ops::backup::sources::Excludes`): a pattern with a `/`
/// matches whole paths, one without matches file names.
fn check_exclude(pattern: &str) -> std::result::Result<(), globset::Error> {
    if pattern.contains('/') {
        globset::GlobBuilder::new(pattern.trim_end_matches('/')).literal_separator(true).build()?;
    } else {
        globset::Glob::new(pattern)?;
    }
    Ok(())
}

/// `what: a, b`, or `what: none`.
fn listing<'a>(what: &str, names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    format!("{what}: {}", if names.is_empty() { "none".to_string() } else { names.join(", ") })
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

fn one_line(s: &str) -> String {
    s.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two repositories, on lines 1 to 7; a test's job text starts on line 9.
    const REPOS: &str = r#"[repository.local]
url = "/srv/snap"
password_file = "/etc/snap/local.pass"

[repository.offsite]
url = "/mnt/snap"
password_env = "OFFSITE_PASS"

"#;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("snap.toml"))
    }

    /// The error for `REPOS` followed by `job`.
    fn err(job: &str) -> String {
        parse(&format!("{REPOS}{job}")).map(|_| ()).unwrap_err().to_string()
    }

    /// The brief's example, verbatim.
    const EXAMPLE: &str = r#"
state_dir = "/var/lib/snap"          # optional; default /var/lib/snap

[repository.local]
url = "/srv/backup/snap"
password_file = "/etc/snap/local.pass"
# cache_dir = "..." optional

[repository.offsite]
url = "/mnt/offsite/snap"            # later s3:... / sftp:... — keep url an opaque string
password_command = "pass show snap/offsite"

[job.mattermost]
schedule = "0 30 2 * * * *"          # 7-field; 5- and 6-field forms too
timezone = "Europe/Berlin"           # optional; default: local
catch_up = true                      # optional, default false
paths = ["/opt/mattermost/config", "/opt/mattermost/data"]
exclude = ["/opt/mattermost/data/**/*.tmp"]
one_file_system = false              # optional
tags = ["nightly"]                   # optional
host = "chat1"                       # optional (snapshot hostname override)
repository = "local"
copy_to = ["offsite"]
before = ["systemctl stop mattermost"]
after = ["systemctl start mattermost"]
on_error = ["/usr/local/bin/page-oncall {job} {error}"]
on_success = []
retention.local = { keep_daily = 3 }
retention.offsite = { keep_daily = 30, keep_monthly = 12 }
check = { read_data_subset = "1/7" }  # or { read_data = true } or { structure_only = true }

[[job.mattermost.database]]
kind = "postgresql"                  # postgresql | mysql | mariadb | sqlite | command
name = "mattermost"                  # or "all" (postgresql/mysql/mariadb): every database
host = "127.0.0.1"
port = 5432
user = "mmuser"
password_file = "/etc/snap/pg.pass"  # optional for databases
# format = "custom"                  # postgresql only: plain (default) | custom
# socket = "/run/mysqld/mysqld.sock" # optional
# options = ["--no-owner"]           # extra args for the dump tool

[[job.mattermost.database]]
kind = "sqlite"
name = "rauthy"                      # the stream's name
path = "/var/lib/rauthy/rauthy.db"

[[job.mattermost.database]]
kind = "command"
name = "redis"
command = ["redis-cli", "--rdb", "-"]  # argv; stdout is the dump
"#;

    #[test]
    fn the_example_parses_into_every_field() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.state_dir, Path::new("/var/lib/snap"));
        assert_eq!(
            c.repositories["local"],
            RepositorySpec {
                name: "local".into(),
                url: "/srv/backup/snap".into(),
                password: Secret::File("/etc/snap/local.pass".into()),
                cache_dir: None,
                options: crate::backend::Options::default()
            }
        );
        assert_eq!(c.repositories["offsite"].password, Secret::Command("pass show snap/offsite".into()));
        assert_eq!(c.repositories["offsite"].url, "/mnt/offsite/snap");
        let j = c.job("mattermost").unwrap();
        assert_eq!(j.name, "mattermost");
        assert_eq!(j.schedule.as_ref().map(Schedule::as_str), Some("0 30 2 * * * *"));
        assert_eq!(j.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(j.zone.iana_name(), Some("Europe/Berlin"));
        assert!(j.catch_up);
        assert_eq!(j.paths, [PathBuf::from("/opt/mattermost/config"), PathBuf::from("/opt/mattermost/data")]);
        assert_eq!(j.exclude, ["/opt/mattermost/data/**/*.tmp"]);
        assert!(!j.one_file_system);
        assert_eq!(j.tags, ["nightly"]);
        assert_eq!(j.host.as_deref(), Some("chat1"));
        assert_eq!(j.repository, "local");
        assert_eq!(j.copy_to, ["offsite"]);
        assert_eq!(j.repositories(), ["local", "offsite"]);
        assert_eq!(j.before, ["systemctl stop mattermost"]);
        assert_eq!(j.after, ["systemctl start mattermost"]);
        assert_eq!(j.on_error, ["/usr/local/bin/page-oncall {job} {error}"]);
        assert!(j.on_success.is_empty());
        assert_eq!(j.retention["local"], RetentionSpec { keep_daily: 3, prune: true, ..RetentionSpec::default() });
        assert_eq!(j.retention["offsite"].policy(), KeepPolicy { daily: 30, monthly: 12, ..KeepPolicy::default() });
        assert_eq!(j.check, CheckSpec::ReadData(DataSubset::Slice { n: 1, m: 7 }));
        assert_eq!(j.check.options().map(|o| o.read_data), Some(Some(DataSubset::Slice { n: 1, m: 7 })));
        let [pg, lite, redis] = j.databases.as_slice() else { panic!("{:?}", j.databases) };
        assert_eq!(
            *pg,
            DatabaseSpec {
                kind: DbKind::Postgresql,
                name: "mattermost".into(),
                host: Some("127.0.0.1".into()),
                port: Some(5432),
                user: Some("mmuser".into()),
                password: Some(Secret::File("/etc/snap/pg.pass".into())),
                socket: None,
                path: None,
                command: vec![],
                format: Some(DumpFormat::Plain),
                options: vec![],
                verify: vec![],
            }
        );
        assert_eq!(pg.source(), "127.0.0.1:5432 as mmuser");
        assert!(!pg.is_all());
        assert_eq!((lite.kind, lite.name.as_str(), lite.path.as_deref()), (DbKind::Sqlite, "rauthy", Some(Path::new("/var/lib/rauthy/rauthy.db"))));
        assert_eq!((lite.format, lite.password.as_ref()), (None, None));
        assert_eq!((redis.kind, redis.name.as_str()), (DbKind::Command, "redis"));
        assert_eq!(redis.command, ["redis-cli", "--rdb", "-"]);
        assert_eq!(redis.source(), "redis-cli --rdb -");
        // 2026-12-01T12:00Z is 13:00 in Berlin: the next 02:30 is the next night's.
        let next = j.next_runs("2026-12-01T12:00:00Z".parse().unwrap(), 2);
        assert_eq!(next.iter().map(ToString::to_string).collect::<Vec<_>>(), ["2026-12-02T01:30:00Z", "2026-12-03T01:30:00Z"]);
    }

    #[test]
    fn the_shipped_example_parses() {
        let c = parse(include_str!("../../../tools/examples/snap.toml")).unwrap();
        assert_eq!(c.repositories.keys().collect::<Vec<_>>(), ["local", "offsite"]);
        assert_eq!(c.jobs.keys().collect::<Vec<_>>(), ["mariadb", "mattermost"]);
        let m = &c.jobs["mattermost"];
        assert_eq!(m.databases.len(), 3);
        assert_eq!(m.databases[0].format, Some(DumpFormat::Custom));
        assert_eq!(m.databases[0].options, ["--no-owner"]);
        assert_eq!(m.retention["offsite"].keep_within.map(|w| w.to_string()).as_deref(), Some("7d"));
        let all = &c.jobs["mariadb"].databases[0];
        assert!(all.is_all());
        assert_eq!(all.password, Some(Secret::Env("MARIADB_BACKUP_PASSWORD".into())));
        assert_eq!(all.source(), "/run/mysqld/mysqld.sock as backup");
        assert!(c.jobs["mariadb"].paths.is_empty());
    }

    #[test]
    fn defaults() {
        let c = parse(&format!("{REPOS}[job.a]\nrepository = \"local\"\npaths = [\"/x\"]\n")).unwrap();
        assert_eq!(c.state_dir, Path::new(DEFAULT_STATE_DIR));
        let j = &c.jobs["a"];
        assert_eq!((j.schedule.is_none(), j.timezone.as_deref(), j.catch_up, j.one_file_system), (true, None, false, false));
        assert_eq!(j.zone.iana_name(), TimeZone::system().iana_name());
        assert!(j.copy_to.is_empty() && j.retention.is_empty() && j.databases.is_empty() && j.before.is_empty());
        assert_eq!((j.check, j.check.options().is_none()), (CheckSpec::Skip, true));
        assert!(j.next_runs(Timestamp::UNIX_EPOCH, 3).is_empty());
        assert_eq!(j.next_run(Timestamp::UNIX_EPOCH), None);
        // An empty file is a valid config with nothing in it.
        let empty = parse("").unwrap();
        assert!(empty.jobs.is_empty() && empty.repositories.is_empty());
        assert_eq!(empty.job("x").unwrap_err().to_string(), r#"no job named "x" (jobs: none)"#);
    }

    #[test]
    fn checks_and_retention_variants() {
        let with = |extra: &str| parse(&format!("{REPOS}[job.a]\nrepository = \"local\"\npaths = [\"/x\"]\n{extra}\n")).map(|c| c.jobs["a"].clone());
        assert_eq!(with("check = { read_data = true }").unwrap().check, CheckSpec::ReadData(DataSubset::All));
        assert_eq!(with("check = { structure_only = true }").unwrap().check.options().map(|o| o.read_data), Some(None));
        assert_eq!(with("check = { read_data_subset = \"10%\" }").unwrap().check, CheckSpec::ReadData(DataSubset::Percent(10.0)));
        let r = with("retention.local = { keep_last = 1, keep_hourly = 2, keep_daily = 3, keep_weekly = 4, keep_monthly = 5, keep_yearly = 6, keep_within = \"1y6m\", keep_tags = [\"a,b\", \"c\"], prune = false }").unwrap();
        let spec = &r.retention["local"];
        assert!(!spec.prune);
        assert_eq!(
            spec.policy(),
            KeepPolicy { last: 1, hourly: 2, daily: 3, weekly: 4, monthly: 5, yearly: 6, within: Some(KeepWithin::parse("1y6m").unwrap()), tags: vec!["a,b".into(), "c".into()] }
        );
        assert_eq!(spec.to_string(), "keep last 1, hourly 2, daily 3, weekly 4, monthly 5, yearly 6, within 1y6m, tags a,b c; no prune");
        // keep_tags alone and keep_within alone are rules.
        assert!(with("retention.local = { keep_tags = [\"keep\"] }").is_ok());
        assert!(with("retention.local = { keep_within = \"30d\" }").is_ok());
    }

    #[test]
    fn repository_locations_and_options_are_checked_when_read() {
        let repo = |body: &str| parse(&format!("[repository.r]\npassword_file = \"/p\"\n{body}\n"));
        let c = repo("url = \"s3:http://127.0.0.1:3900/b/x\"\noptions = { \"s3.region\" = \"garage\", connections = 4, \"s3.path-style\" = true }").unwrap();
        let o = &c.repositories["r"].options;
        assert_eq!((o.get("s3.region"), o.connections().unwrap(), o.flag("s3.path-style", false).unwrap()), (Some("garage"), 4, true));
        assert_eq!(
            repo("url = \"gs:bucket\"").unwrap_err().to_string(),
            "snap.toml:3: repository \"r\": repository location \"gs:bucket\": unknown scheme \"gs\": use a path, local:PATH, s3:..., or sftp:..."
        );
        let e = repo("url = \"/r\"\noptions = { regoin = \"x\" }").unwrap_err().to_string();
        assert!(e.starts_with("snap.toml:4: repository \"r\": unknown option \"regoin\"; known: connections"), "{e}");
    }

    #[test]
    fn syntax_and_type_errors_name_the_line() {
        assert_eq!(
            parse("state_dir = \"/x\"\nstat_dir = \"/y\"\n").unwrap_err().to_string(),
            "snap.toml:2: unknown field `stat_dir`, expected one of `state_dir`, `repository`, `job`"
        );
        assert!(err("[job.a]\nrepository = \"local\"\npaths = [\"/x\"]\nretension = 3\n").starts_with("snap.toml:12: unknown field `retension`, expected one of `schedule`, "));
        assert!(err("[job.a]\nrepository = \"local\"\npaths = [\"/x\"]\nretention.local = { keep_dayly = 3 }\n").starts_with("snap.toml:12: unknown field `keep_dayly`, expected one of `keep_last`, "));
        assert!(err("[job.a]\nrepository = \"local\"\n\n[[job.a.database]]\nkind = \"sqlite\"\npath = \"/x.db\"\npaht = \"/y\"\n").starts_with("snap.toml:15: unknown field `paht`, expected one of `kind`, "));
        assert_eq!(
            err("[job.a]\nrepository = \"local\"\n\n[[job.a.database]]\nkind = \"mongo\"\n"),
            "snap.toml:13: unknown variant `mongo`, expected one of `postgresql`, `mysql`, `mariadb`, `sqlite`, `command`"
        );
        assert_eq!(err("[job.a]\nrepository = \"local\"\n\n[[job.a.database]]\nkind = \"postgresql\"\nname = \"x\"\nport = \"5432\"\n"), "snap.toml:15: invalid type: string \"5432\", expected u16");
        assert_eq!(err("[job.a]\nrepository = \"local\"\n\n[[job.a.database]]\nkind = \"postgresql\"\nname = \"x\"\nport = 70000\n"), "snap.toml:15: invalid value: integer `70000`, expected u16");
        assert_eq!(err("[job.a]\npaths = [\"/x\"]\n"), "snap.toml:9: missing field `repository`");
        assert_eq!(err("[job.a\n"), "snap.toml:9: unclosed table, expected `]`");
        assert_eq!(err("[repository.local]\nurl = \"/y\"\npassword_file = \"/p\"\n"), "snap.toml:9: duplicate key");
    }

    #[test]
    fn password_sources_are_one_of_three_and_never_inline() {
        let repo = |body: &str| parse(&format!("[repository.r]\nurl = \"/srv/snap\"\n{body}\n")).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            repo("password = \"hunter2\""),
            "snap.toml:3: repository \"r\": an inline password is not allowed; use password_file, password_command or password_env"
        );
        assert_eq!(repo(""), "snap.toml:1: repository \"r\": needs password_file, password_command or password_env");
        assert_eq!(
            repo("password_file = \"/p\"\npassword_env = \"X\""),
            "snap.toml:4: repository \"r\": give only one of password_file, password_command and password_env"
        );
        assert_eq!(repo("password_file = \"p\""), "snap.toml:3: repository \"r\": password_file \"p\" is not an absolute path");
        assert_eq!(repo("password_command = \" \""), "snap.toml:3: repository \"r\": password_command is empty");
        assert_eq!(repo("password_env = \"A=B\""), "snap.toml:3: repository \"r\": password_env \"A=B\" is not an environment variable name");
        assert_eq!(
            repo("password_env = \"SNAP_PASSWORD\""),
            "snap.toml:3: repository \"r\": password_env cannot be SNAP_PASSWORD, which snap takes out of its environment at startup; use another variable"
        );
        // The same rules for a database, where a password is optional.
        assert_eq!(
            err("[job.a]\nrepository = \"local\"\n\n[[job.a.database]]\nkind = \"mysql\"\nname = \"db\"\npassword = \"x\"\n"),
            "snap.toml:15: job \"a\": database \"db\" (mysql): an inline password is not allowed; use password_file, password_command or password_env"
        );
        assert_eq!(
            err("[job.a]\nrepository = \"local\"\n\n[[job.a.database]]\nkind = \"mysql\"\nname = \"db\"\npassword_command = \"x\"\npassword_file = \"/y\"\n"),
            "snap.toml:16: job \"a\": database \"db\" (mysql): give only one of password_file, password_command and password_env"
        );
    }

    #[test]
    fn every_reference_must_resolve() {
        let job = |body: &str| err(&format!("[job.a]\npaths = [\"/x\"]\n{body}\n"));
        assert_eq!(job("repository = \"nas\""), "snap.toml:11: job \"a\": repository \"nas\" is not defined (defined: local, offsite)");
        assert_eq!(
            job("repository = \"local\"\ncopy_to = [\"nas\"]"),
            "snap.toml:12: job \"a\": copy_to \"nas\" is not a defined repository (defined: local, offsite)"
        );
        assert_eq!(job("repository = \"local\"\ncopy_to = [\"local\"]"), "snap.toml:12: job \"a\": copy_to \"local\" is the job's own repository");
        assert_eq!(job("repository = \"local\"\ncopy_to = [\"offsite\", \"offsite\"]"), "snap.toml:12: job \"a\": copy_to names \"offsite\" twice");
        assert_eq!(
            job("repository = \"local\"\nretention.nas = { keep_daily = 1 }"),
            "snap.toml:12: job \"a\": retention.nas: \"nas\" is not a defined repository (defined: local, offsite)"
        );
        assert_eq!(
            job("repository = \"local\"\nretention.offsite = { keep_daily = 1 }"),
            "snap.toml:12: job \"a\": retention.offsite: repository \"offsite\" is neither the job's repository nor in copy_to"
        );
        // With no repositories at all.
        assert_eq!(
            parse("[job.a]\npaths = [\"/x\"]\nrepository = \"r\"\n").unwrap_err().to_string(),
            "snap.toml:3: job \"a\": repository \"r\" is not defined (defined: none)"
        );
    }

    #[test]
    fn job_values_are_checked() {
        let job = |body: &str| err(&format!("[job.a]\nrepository = \"local\"\n{body}\n"));
        assert_eq!(job(""), "snap.toml:9: job \"a\": nothing to back up; give paths or a [[job.a.database]] table");
        assert_eq!(job("paths = [\"/x\", \"rel\"]"), "snap.toml:11: job \"a\": path \"rel\" is not an absolute path");
        assert!(job("paths = [\"/x\"]\nexclude = [\"a[\"]").starts_with("snap.toml:12: job \"a\": exclude \"a[\": "));
        assert_eq!(
            job("paths = [\"/x\"]\nschedule = \"* * * *\""),
            "snap.toml:12: job \"a\": schedule \"* * * *\": 4 fields; expected 5 (min hour day month weekday), 6 (seconds first) or 7 (seconds first, year last)"
        );
        assert!(job("paths = [\"/x\"]\nschedule = \"0 61 * * * *\"").starts_with("snap.toml:12: job \"a\": schedule \"0 61 * * * *\": "));
        assert!(job("paths = [\"/x\"]\ntimezone = \"Mars/Olympus\"").starts_with("snap.toml:12: job \"a\": timezone \"Mars/Olympus\" is not in the system's zone database: "));
        assert_eq!(job("paths = [\"/x\"]\ncatch_up = true"), "snap.toml:12: job \"a\": catch_up needs a schedule");
        assert_eq!(job("paths = [\"/x\"]\nbefore = [\"\"]"), "snap.toml:12: job \"a\": before holds an empty string");
        assert_eq!(job("paths = [\"/x\"]\nhost = \"\""), "snap.toml:12: job \"a\": host is empty");
        assert_eq!(
            job("paths = [\"/x\"]\nretention.local = { prune = false }"),
            "snap.toml:12: job \"a\": retention.local: no keep rule; set one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within or keep_tags"
        );
        assert_eq!(
            job("paths = [\"/x\"]\nretention.local = { keep_daily = 0 }"),
            "snap.toml:12: job \"a\": retention.local: no keep rule; set one of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within or keep_tags"
        );
        assert_eq!(
            job("paths = [\"/x\"]\nretention.local = { keep_within = \"3x\" }"),
            "snap.toml:12: job \"a\": retention.local: keep_within \"3x\": unknown unit 'x'; use e.g. 30d, 2w, 1y6m or 12h (units y, m, w, d, h)"
        );
        for bad in ["0/7", "8/7", "1/0", "x", "-1%"] {
            assert_eq!(
                job(&format!("paths = [\"/x\"]\ncheck = {{ read_data_subset = \"{bad}\" }}")),
                format!("snap.toml:12: job \"a\": check.read_data_subset \"{bad}\": expected n/m with 1 <= n <= m, a percentage like 10% or a size like 500M")
            );
        }
        assert_eq!(
            job("paths = [\"/x\"]\ncheck = {}"),
            "snap.toml:12: job \"a\": check needs one of read_data = true, read_data_subset = \"n/m\" or structure_only = true"
        );
        assert_eq!(
            job("paths = [\"/x\"]\ncheck = { read_data = true, structure_only = true }"),
            "snap.toml:12: job \"a\": check takes only one of read_data, read_data_subset and structure_only"
        );
        assert_eq!(
            job("paths = [\"/x\"]\ncheck = { read_data = false }"),
            "snap.toml:12: job \"a\": check.read_data = false means nothing; leave the key out (and leave check out to run no check)"
        );
        assert_eq!(
            parse("state_dir = \"var\"\n").unwrap_err().to_string(),
            "snap.toml:1: top level: state_dir \"var\" is not an absolute path"
        );
    }

    #[test]
    fn names_are_file_names() {
        assert_eq!(
            err("[job.\"a/b\"]\nrepository = \"local\"\npaths = [\"/x\"]\n"),
            "snap.toml:9: job name \"a/b\" contains '/': names are used as file names"
        );
        assert_eq!(
            parse("[repository.\"..\"]\nurl = \"/x\"\npassword_env = \"P\"\n").unwrap_err().to_string(),
            "snap.toml:1: repository name \"..\" is not a file name: names are used as file names"
        );
        assert_eq!(
            parse("[repository.\"-r\"]\nurl = \"/x\"\npassword_env = \"P\"\n").unwrap_err().to_string(),
            "snap.toml:1: repository name \"-r\" starts with '-': names are used as file names"
        );
    }

    #[test]
    fn database_tables_are_checked_per_kind() {
        let db = |body: &str| err(&format!("[job.a]\nrepository = \"local\"\n\n[[job.a.database]]\n{body}\n"));
        // Line 12 is the `[[job.a.database]]` header, line 13 the first key.
        assert_eq!(db("kind = \"postgresql\""), "snap.toml:13: job \"a\": database #1 (postgresql): needs name, a database or \"all\"");
        assert_eq!(db("kind = \"command\"\ncommand = [\"x\"]"), "snap.toml:13: job \"a\": database #1 (command): needs name, the dump's name in the snapshot");
        assert_eq!(db("kind = \"command\"\nname = \"r\""), "snap.toml:13: job \"a\": database \"r\" (command): needs command, a list like [\"redis-cli\", \"--rdb\", \"-\"]");
        assert_eq!(
            db("kind = \"command\"\nname = \"r\"\ncommand = []"),
            "snap.toml:15: job \"a\": database \"r\" (command): command must be a non-empty list like [\"redis-cli\", \"--rdb\", \"-\"]"
        );
        assert_eq!(db("kind = \"sqlite\"\nname = \"s\""), "snap.toml:13: job \"a\": database \"s\" (sqlite): needs path, the database file");
        assert_eq!(db("kind = \"sqlite\"\npath = \"rel.db\""), "snap.toml:14: job \"a\": database \"rel\" (sqlite): path \"rel.db\" is not an absolute path");
        assert_eq!(
            db("kind = \"sqlite\"\nname = \"all\"\npath = \"/x.db\""),
            "snap.toml:14: job \"a\": database \"all\" (sqlite): name \"all\" is only for postgresql, mysql and mariadb"
        );
        assert_eq!(
            db("kind = \"sqlite\"\nname = \"a/b\"\npath = \"/x.db\""),
            "snap.toml:14: job \"a\": database name \"a/b\" contains '/': names are used as file names"
        );
        assert_eq!(db("kind = \"sqlite\"\npath = \"/x.db\"\nhost = \"h\""), "snap.toml:15: job \"a\": database \"x\" (sqlite): host does not apply to kind sqlite");
        assert_eq!(db("kind = \"sqlite\"\npath = \"/x.db\"\npassword_env = \"P\""), "snap.toml:15: job \"a\": database \"x\" (sqlite): password_env does not apply to kind sqlite");
        assert_eq!(db("kind = \"mysql\"\nname = \"m\"\nformat = \"custom\""), "snap.toml:15: job \"a\": database \"m\" (mysql): format does not apply to kind mysql");
        assert_eq!(db("kind = \"mysql\"\nname = \"m\"\npath = \"/x\""), "snap.toml:15: job \"a\": database \"m\" (mysql): path does not apply to kind mysql");
        assert_eq!(db("kind = \"command\"\nname = \"m\"\ncommand = [\"x\"]\noptions = [\"-v\"]"), "snap.toml:16: job \"a\": database \"m\" (command): options does not apply to kind command");
        assert_eq!(db("kind = \"postgresql\"\nname = \"p\"\nsocket = \"run/pg\""), "snap.toml:15: job \"a\": database \"p\" (postgresql): socket \"run/pg\" is not an absolute path");
        assert_eq!(db("kind = \"postgresql\"\nname = \"p\"\nformat = \"tar\""), "snap.toml:15: unknown variant `tar`, expected `plain` or `custom`");
        assert_eq!(
            db("kind = \"postgresql\"\nname = \"same\"\n\n[[job.a.database]]\nkind = \"mysql\"\nname = \"same\""),
            "snap.toml:17: job \"a\": database name \"same\" is used twice"
        );
    }

    #[test]
    fn the_first_problem_in_the_file_is_reported() {
        // Job "b" (line 9) sorts before job "z" but comes later in the file.
        let text = format!("{REPOS}[job.z]\nrepository = \"nas\"\npaths = [\"/x\"]\n\n[job.b]\nrepository = \"local\"\npaths = [\"rel\"]\n");
        assert_eq!(parse(&text).unwrap_err().to_string(), "snap.toml:10: job \"z\": repository \"nas\" is not defined (defined: local, offsite)");
        let Error::Config { line, .. } = parse(&text).unwrap_err() else { panic!("not a config error") };
        assert_eq!(line, Some(10));
    }

    #[test]
    fn secrets_never_appear_in_debug_or_json() {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "hunter2-very-secret\n").unwrap();
        let text = format!(
            "[repository.r]\nurl = \"/srv\"\npassword_file = {:?}\n[job.j]\nrepository = \"r\"\n[[job.j.database]]\nkind = \"postgresql\"\nname = \"d\"\npassword_command = \"echo db-secret-42\"\n",
            pass.display().to_string()
        );
        let c = parse(&text).unwrap();
        assert_eq!(&*c.repositories["r"].password.read().unwrap(), b"hunter2-very-secret");
        let db = c.jobs["j"].databases[0].password.clone().unwrap();
        assert_eq!(&*db.read().unwrap(), b"db-secret-42");
        let debug = format!("{c:?}");
        let json = serde_json::to_string(&c).unwrap();
        for shown in [&debug, &json] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains(&pass.display().to_string()), "{shown}");
        }
        // A command is where a password comes from, so it is shown (the test's own echo too).
        assert!(debug.contains("echo db-secret-42"));
    }

    #[test]
    fn json_is_the_model() {
        let c = parse(&format!(
            "{REPOS}[job.a]\nrepository = \"local\"\ncopy_to = [\"offsite\"]\nschedule = \"30 2 * * *\"\ntimezone = \"UTC\"\npaths = [\"/x\"]\nretention.offsite = {{ keep_within = \"30d\" }}\ncheck = {{ read_data = true }}\n[[job.a.database]]\nkind = \"postgresql\"\nname = \"all\"\nformat = \"custom\"\n"
        ))
        .unwrap();
        let v = serde_json::to_value(&c.jobs["a"]).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "name": "a", "schedule": "30 2 * * *", "timezone": "UTC", "catch_up": false, "paths": ["/x"], "exclude": [],
                "one_file_system": false, "tags": [], "host": null, "repository": "local", "copy_to": ["offsite"],
                "before": [], "after": [], "on_error": [], "on_success": [],
                "retention": { "offsite": { "keep_last": 0, "keep_hourly": 0, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0,
                    "keep_yearly": 0, "keep_within": "30d", "keep_tags": [], "prune": true } },
                "check": { "read_data": true },
                "databases": [{ "kind": "postgresql", "name": "all", "host": null, "port": null, "user": null, "password": null,
                    "socket": null, "path": null, "command": [], "format": "custom", "options": [], "verify": [] }],
                "drill": null,
            })
        );
        assert_eq!(serde_json::to_value(&c.repositories["offsite"]).unwrap(), serde_json::json!({"name": "offsite", "url": "/mnt/snap", "password": {"env": "OFFSITE_PASS"}, "cache_dir": null}));
        assert_eq!(serde_json::to_value(CheckSpec::Skip).unwrap(), serde_json::Value::Null);
        assert_eq!(serde_json::to_value(CheckSpec::StructureOnly).unwrap(), serde_json::json!({"structure_only": true}));
        assert_eq!(serde_json::to_value(CheckSpec::ReadData(DataSubset::Slice { n: 2, m: 7 })).unwrap(), serde_json::json!({"read_data_subset": "2/7"}));
    }

    #[test]
    fn locate_takes_the_given_file_else_the_first_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("etc.toml");
        let user = dir.path().join("user.toml");
        let given = dir.path().join("given.toml");
        assert_eq!(
            locate_in(Some(&given), &system, Some(user.clone())).unwrap_err().to_string(),
            format!("config file {} does not exist", given.display())
        );
        std::fs::write(&given, "").unwrap();
        assert_eq!(locate_in(Some(&given), &system, Some(user.clone())).unwrap(), given);
        assert_eq!(
            locate_in(None, &system, Some(user.clone())).unwrap_err().to_string(),
            format!("no config file (looked for {} and {}): use --config FILE or SNAP_CONFIG", system.display(), user.display())
        );
        std::fs::write(&user, "").unwrap();
        assert_eq!(locate_in(None, &system, Some(user.clone())).unwrap(), user);
        std::fs::write(&system, "").unwrap();
        assert_eq!(locate_in(None, &system, Some(user)).unwrap(), system);
    }

    #[test]
    fn load_reads_the_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("snap.toml");
        std::fs::write(&f, "state_dir = 3\n").unwrap();
        assert_eq!(Config::load(&f).unwrap_err().to_string(), format!("{}:1: invalid type: integer `3`, expected path string", f.display()));
        let missing = dir.path().join("missing.toml");
        assert!(Config::load(&missing).unwrap_err().to_string().starts_with(&format!("{}: ", missing.display())));
    }
}

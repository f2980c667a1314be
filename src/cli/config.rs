//! `snap config check`: read the server-jobs config file, check it, try every password source
//! (without showing any), and print what each job would do. Repositories are not opened.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use jiff::Timestamp;

use snap::job::{Config, JobSpec, Secret};

use super::schedule::{human_time, json_time, zone_name};
use super::GlobalArgs;

/// How many next runs `config check` shows per job.
const NEXT_RUNS: usize = 3;

/// Where the config file is; every command that reads it takes this.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArg {
    /// The server-jobs config file [default: /etc/snap/snap.toml, then
    /// $XDG_CONFIG_HOME/snap/snap.toml]
    #[arg(long = "config", value_name = "FILE", env = "SNAP_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// Finds, reads and checks the config file; returns its path too.
    pub fn load(&self) -> Result<(PathBuf, Config)> {
        let path = Config::locate(self.config.as_deref().filter(|p| !p.as_os_str().is_empty()))?;
        let config = Config::load(&path)?;
        Ok((path, config))
    }
}

/// The config file and where job state lives: what `run`, `daemon` and `status` take.
#[derive(clap::Args, Debug, Clone)]
pub struct StateArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// The state directory (status records, metrics, job locks) [default: the config's state_dir]
    #[arg(long, value_name = "DIR", env = "SNAP_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

impl StateArgs {
    /// [`ConfigArg::load`], with `--state-dir` applied.
    pub fn load(&self) -> Result<(PathBuf, Config)> {
        let (path, mut config) = self.config.load()?;
        self.apply(&mut config);
        Ok((path, config))
    }

    /// Applies `--state-dir` to a loaded config (a daemon's reload too).
    pub fn apply(&self, config: &mut Config) {
        if let Some(d) = &self.state_dir {
            config.state_dir.clone_from(d);
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Check the config file, try every password source, and show what each job would do
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Also open every repository with its password and ask every database server for its
    /// version (read-only: nothing is written to any repository or server)
    #[arg(long)]
    probe: bool,
}

pub fn run(g: &GlobalArgs, a: &Args) -> Result<ExitCode> {
    match &a.command {
        Sub::Check(c) => check(g, c),
    }
}

fn check(g: &GlobalArgs, a: &CheckArgs) -> Result<ExitCode> {
    let (path, config) = a.config.load()?;
    try_passwords(&config)?;
    if a.probe {
        probe(g, &config)?;
    }
    let now = Timestamp::now();
    if g.json {
        let mut out = serde_json::json!({ "config": path });
        let mut model = serde_json::to_value(&config)?;
        if let Some(jobs) = model.get_mut("jobs").and_then(serde_json::Value::as_object_mut) {
            for (name, job) in jobs.iter_mut() {
                let Some(spec) = config.jobs.get(name) else { continue };
                job["zone"] = serde_json::json!(spec.zone.iana_name());
                job["next_runs"] = serde_json::json!(spec.next_runs(now, NEXT_RUNS).into_iter().map(|t| json_time(t, &spec.zone)).collect::<Vec<_>>());
            }
        }
        if let (Some(o), Some(m)) = (out.as_object_mut(), model.as_object()) {
            o.extend(m.clone());
        }
        println!("{out}");
    } else if !g.quiet {
        print_human(&path, &config, now);
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens every repository and asks every database server its version; the first failure,
/// named, is the error.
fn probe(g: &GlobalArgs, config: &Config) -> Result<()> {
    let cache_root = g.cache_root()?;
    for r in config.repositories.values() {
        let backend = snap::backend::Backend::open_with(&r.url, &r.options, false).with_context(|| format!("repository {:?}", r.name))?;
        snap::repo::Repository::probe(&backend).with_context(|| format!("repository {:?}", r.name))?;
        let password = r.password.read()?;
        let root = r.cache_dir.clone().unwrap_or_else(|| cache_root.clone());
        let repo = snap::repo::Repository::open(backend, &password, &root).with_context(|| format!("repository {:?}", r.name))?;
        if !g.quiet && !g.json {
            println!("repository {}: opens ({} snapshots)", r.name, repo.snapshots().map(|s| s.len()).unwrap_or(0));
        }
    }
    let hide = config.env_secret_names();
    for j in config.jobs.values() {
        let dumps = snap::job::dump::plan_dumps(&j.databases, &hide).with_context(|| format!("job {:?}", j.name))?;
        for d in dumps {
            if !g.quiet && !g.json {
                let version = if d.record.server_version.is_empty() { d.record.tool_version.clone() } else { d.record.server_version.clone() };
                println!("job {}: {} reachable ({version})", j.name, d.stream.label);
            }
        }
    }
    Ok(())
}

/// Reads every password the config names, repositories' and databases', and forgets it at
/// once: a missing file, failing command or unset variable shows now, not at 02:30.
fn try_passwords(config: &Config) -> Result<()> {
    let mut sources: Vec<(String, &Secret)> = config.repositories.values().map(|r| (format!("repository {:?}", r.name), &r.password)).collect();
    for j in config.jobs.values() {
        for d in &j.databases {
            if let Some(p) = &d.password {
                sources.push((format!("job {:?}: database {:?}", j.name, d.name), p));
            }
        }
    }
    let failed: Vec<String> = sources.iter().filter_map(|(what, s)| s.read().err().map(|e| format!("{what}: {e}"))).collect();
    match failed.as_slice() {
        [] => Ok(()),
        [one] => bail!("{one}"),
        many => bail!("{} password sources failed: {}", many.len(), many.join("; ")),
    }
}

fn print_human(path: &std::path::Path, config: &Config, now: Timestamp) {
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    println!(
        "{}: {}, {}; state in {}; every password source gives a password",
        path.display(),
        plural(config.repositories.len(), "repository", "repositories"),
        plural(config.jobs.len(), "job", "jobs"),
        config.state_dir.display()
    );
    for r in config.repositories.values() {
        let cache = r.cache_dir.as_ref().map(|c| format!(", cache {}", c.display())).unwrap_or_default();
        println!("repository {}: {}, password from {}{cache}", r.name, r.url, r.password.describe());
    }
    for j in config.jobs.values() {
        println!();
        print_job(j, now);
    }
}

fn print_job(j: &JobSpec, now: Timestamp) {
    let line = |key: &str, value: String| println!("  {key:<11} {value}");
    println!("job {}", j.name);
    match &j.schedule {
        Some(s) => {
            line("schedule", format!("{s} ({}){}", zone_name(j), if j.catch_up { ", catch up missed runs" } else { "" }));
            let runs: Vec<String> = j.next_runs(now, NEXT_RUNS).into_iter().map(|t| human_time(t, &j.zone)).collect();
            line("next runs", if runs.is_empty() { "none: the expression matches no later time".to_string() } else { runs.join(", ") });
        }
        None => line("schedule", "none: runs only when started by hand".to_string()),
    }
    let copies = if j.copy_to.is_empty() { String::new() } else { format!(", then copied to {}", j.copy_to.join(", ")) };
    line("repository", format!("{}{copies}", j.repository));
    if !j.paths.is_empty() {
        line("paths", j.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "));
    }
    if !j.exclude.is_empty() {
        line("exclude", j.exclude.join(" "));
    }
    let mut options = Vec::new();
    if j.one_file_system {
        options.push("one file system".to_string());
    }
    if let Some(h) = &j.host {
        options.push(format!("host {h}"));
    }
    if !j.tags.is_empty() {
        options.push(format!("tags {}", j.tags.join(",")));
    }
    if !options.is_empty() {
        line("snapshot", options.join(", "));
    }
    for d in &j.databases {
        let format = d.format.map(|f| format!(", {} format", f.as_str())).unwrap_or_default();
        let password = d.password.as_ref().map(|p| format!(", password from {}", p.describe())).unwrap_or_default();
        line("database", format!("{} {} from {}{format}{password}", d.kind, d.name, d.source()));
    }
    for (key, hooks) in [("before", &j.before), ("after", &j.after), ("on_error", &j.on_error), ("on_success", &j.on_success)] {
        for h in hooks {
            line(key, h.clone());
        }
    }
    for (repo, r) in &j.retention {
        line("retention", format!("{repo}: {r}"));
    }
    line("check", j.check.to_string());
    if let Some(d) = &j.drill {
        let when = d.schedule.as_ref().map_or("by hand only".to_string(), |s| format!("{s} ({})", zone_name(j)));
        let objective = |v: Option<std::time::Duration>| v.map_or("none".to_string(), |d| snap::units::duration(d.as_secs_f64()));
        let from = d.from.as_deref().unwrap_or(&j.repository);
        line("drill", format!("{when}, from {from}; rpo {}, rto {}", objective(d.rpo), objective(d.rto)));
        if let Some(c) = &d.command {
            line("drill cmd", format!("{c} (timeout {})", snap::units::duration(d.timeout.as_secs_f64())));
        }
    }
    for d in &j.databases {
        for q in &d.verify {
            let bounds = match (q.min, q.max) {
                (Some(lo), Some(hi)) => format!(" between {lo} and {hi}"),
                (Some(lo), None) => format!(" at least {lo}"),
                (None, Some(hi)) => format!(" at most {hi}"),
                (None, None) => String::new(),
            };
            line("verify", format!("{} {}: {}{bounds}", d.kind, q.database.as_deref().unwrap_or(&d.name), q.sql));
        }
    }
}

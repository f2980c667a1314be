//! Argument parsing and the pieces every command shares: global options, password sources,
//! opening the repository, progress bars and human-readable sizes.

mod backup;
mod check;
mod completions;
mod config;
mod copy;
mod daemon;
mod diff;
mod drill;
mod dump;
mod find;
mod forget;
mod init;
mod key;
mod ls;
mod man;
mod mount;
mod prune;
mod repair;
mod restore;
mod restore_db;
mod run;
mod schedule;
mod snapshots;
mod stats;
mod status;
mod tag;
mod unlock;
mod version;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

use snap::backend::{Backend, Options};
use snap::job::Secret;
use snap::repo::lock::{LockGuard, LockKind};
use snap::repo::Repository;

#[derive(Parser, Debug)]
#[command(name = "snap", version, about = "Encrypted, deduplicating snapshots of servers: databases, config and data", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Repository location: a directory, s3:https://HOST/BUCKET[/PREFIX], s3:BUCKET[/PREFIX], or
    /// sftp:[USER@]HOST[:PORT]:/PATH
    #[arg(short = 'r', long = "repo", env = "SNAP_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// Storage option KEY=VALUE (repeatable; also SNAP_OPTIONS, space-separated): connections,
    /// timeout, retries, s3.region, s3.path-style, s3.storage-class, s3.profile,
    /// s3.instance-metadata, sftp.key, sftp.host-keys
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE", global = true)]
    pub options: Vec<String>,
    /// Read the password from this file (first line)
    #[arg(long, env = "SNAP_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Run this shell command and use its first output line as the password
    #[arg(long, env = "SNAP_PASSWORD_COMMAND", global = true)]
    pub password_command: Option<String>,
    /// Root of the local cache (the index lives in <cache-dir>/<repository id>)
    #[arg(long, env = "SNAP_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Print machine-readable JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The value `SNAP_PASSWORD` had when snap started (`main` removes it from the environment).
    #[arg(skip)]
    pub env_password: EnvPassword,
}

/// A password taken from the environment at startup; wiped when dropped, never printed.
#[derive(Clone, Default)]
pub struct EnvPassword(pub Option<Zeroizing<Vec<u8>>>);

impl std::fmt::Debug for EnvPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "EnvPassword(..)" } else { "EnvPassword(None)" })
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository
    Init(init::Args),
    /// Back up paths and/or a stream (stdin or a command's output) into one snapshot
    Backup(backup::Args),
    /// List snapshots
    Snapshots(snapshots::Args),
    /// List the files of a snapshot
    Ls(ls::Args),
    /// Restore a snapshot into a directory
    Restore(restore::Args),
    /// Write a file (or a directory as tar) from a snapshot to stdout
    Dump(dump::Args),
    /// Show what differs between two snapshots: added, removed, changed paths
    Diff(diff::Args),
    /// Find which snapshots hold a path or glob, newest first
    Find(find::Args),
    /// Mount the repository as a read-only filesystem (FUSE) until Ctrl-C or umount
    Mount(mount::Args),
    /// Show files, restore size, unique and stored data of snapshots, and what each alone holds
    Stats(stats::Args),
    /// Remove snapshots by a retention policy
    Forget(forget::Args),
    /// Verify the repository's structure, and with --read-data every byte
    Check(check::Args),
    /// Delete data no snapshot references
    Prune(prune::Args),
    /// Remove stale locks
    Unlock(unlock::Args),
    /// Copy snapshots to another repository (made with `snap init --from` this one)
    Copy(copy::Args),
    /// Rebuild damaged or lost repository metadata
    Repair(repair::Args),
    /// Work with the server-jobs config file (`config check`)
    Config(config::Args),
    /// Prove a job's backups restore: scratch restore, database loads, checks, RTO and RPO
    Drill(drill::Args),
    /// Stream a database dump of a snapshot into its database (psql, pg_restore, mariadb, sqlite3)
    RestoreDb(restore_db::Args),
    /// Run jobs of the config file: dumps, hooks, one snapshot, retention, check
    Run(run::Args),
    /// Show what each job did last
    Status(status::Args),
    /// Show when each job of the config file runs next
    Schedule(schedule::Args),
    /// Run the jobs of the config file at their scheduled times, until stopped
    Daemon(daemon::Args),
    /// Manage the repository's passwords (key files): list, add, remove, passwd
    Key(key::Args),
    /// Add, remove or set tags of snapshots (rewrites their snapshot files, never data)
    Tag(tag::Args),
    /// Show snap's version, the repository format it reads, and its build features
    Version(version::Args),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell
    Completions(completions::Args),
    /// Print snap's man page, or write every page (one per subcommand) into a directory
    Man(man::Args),
}

/// Runs the command `main` parsed (and gave `global.env_password`, what `SNAP_PASSWORD` held).
pub fn run(cli: &Cli) -> Result<ExitCode> {
    let g = &cli.global;
    match &cli.command {
        Command::Init(a) => init::run(g, a),
        Command::Backup(a) => backup::run(g, a),
        Command::Snapshots(a) => snapshots::run(g, a),
        Command::Ls(a) => ls::run(g, a),
        Command::Restore(a) => restore::run(g, a),
        Command::Dump(a) => dump::run(g, a),
        Command::Diff(a) => diff::run(g, a),
        Command::Find(a) => find::run(g, a),
        Command::Mount(a) => mount::run(g, a),
        Command::Stats(a) => stats::run(g, a),
        Command::Forget(a) => forget::run(g, a),
        Command::Check(a) => check::run(g, a),
        Command::Prune(a) => prune::run(g, a),
        Command::Unlock(a) => unlock::run(g, a),
        Command::Copy(a) => copy::run(g, a),
        Command::Repair(a) => repair::run(g, a),
        Command::Config(a) => config::run(g, a),
        Command::Schedule(a) => schedule::run(g, a),
        Command::Run(a) => run::run(g, a),
        Command::Drill(a) => drill::run(g, a),
        Command::RestoreDb(a) => restore_db::run(g, a),
        Command::Status(a) => status::run(g, a),
        Command::Daemon(a) => daemon::run(g, a),
        Command::Key(a) => key::run(g, a),
        Command::Tag(a) => tag::run(g, a),
        Command::Version(a) => version::run(g, a),
        Command::Completions(a) => completions::run(g, a),
        Command::Man(a) => man::run(g, a),
    }
}

impl GlobalArgs {
    pub fn location(&self) -> Result<&str> {
        match self.repo.as_deref() {
            Some(r) if !r.is_empty() => Ok(r),
            _ => bail!("no repository given: use -r/--repo or SNAP_REPOSITORY"),
        }
    }

    /// The storage options: SNAP_OPTIONS, then every `-o` (a later one wins).
    pub fn backend_options(&self) -> Result<Options> {
        let env = std::env::var("SNAP_OPTIONS").unwrap_or_default();
        let env = Options::parse(env.split_whitespace()).context("SNAP_OPTIONS")?;
        Ok(env.merged(&Options::parse(self.options.iter().map(String::as_str))?))
    }

    /// Opens the storage at `loc` with the storage options.
    pub fn backend(&self, loc: &str, create: bool) -> Result<Backend> {
        Ok(Backend::open_with(loc, &self.backend_options()?, create)?)
    }

    pub fn cache_root(&self) -> Result<PathBuf> {
        if let Some(d) = &self.cache_dir {
            return Ok(d.clone());
        }
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
            return Ok(PathBuf::from(x).join("snap"));
        }
        match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            Some(h) => Ok(PathBuf::from(h).join(".cache").join("snap")),
            None => bail!("no cache directory: set --cache-dir, SNAP_CACHE_DIR, XDG_CACHE_HOME or HOME"),
        }
    }

    /// The password from, in order: --password-file, --password-command, SNAP_PASSWORD, a prompt
    /// on the terminal. An empty password is refused from every source. Every copy is wiped when
    /// dropped.
    pub fn password(&self, confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
        let source = PasswordSource {
            file: self.password_file.as_deref(),
            command: self.password_command.as_deref(),
            env: self.env_password.0.as_ref(),
            prompt: "repository password: ",
            missing: "no password given: use --password-file, --password-command or SNAP_PASSWORD (no terminal to ask on)",
        };
        source.read(confirm)
    }

    /// Opens the repository named by the global options, without a lock and without syncing
    /// the local index (enough for listing snapshots).
    pub fn open_unlocked(&self) -> Result<Repository> {
        let loc = self.location()?;
        let backend = self.backend(loc, false)?;
        Repository::probe(&backend)?;
        let password = self.password(false)?;
        let mut repo = Repository::open(backend, &password, &self.cache_root()?)?;
        if !self.quiet {
            repo.on_warning(|w| eprintln!("snap: warning: {w}"));
        }
        Ok(repo)
    }

    /// Opens the repository, takes a lock of `kind`, then brings the local index up to date.
    pub fn open_locked(&self, kind: LockKind) -> Result<(Repository, LockGuard)> {
        let repo = self.open_unlocked()?;
        let guard = repo.lock(kind)?;
        repo.sync_index()?;
        Ok((repo, guard))
    }

    /// [`GlobalArgs::open_locked`] with a shared lock.
    pub fn open(&self) -> Result<(Repository, LockGuard)> {
        self.open_locked(LockKind::Shared)
    }

    /// Whether to draw progress bars.
    pub fn show_progress(&self) -> bool {
        !self.quiet && !self.json && std::io::stderr().is_terminal()
    }
}

/// Where a password comes from: a file, a command, `SNAP_PASSWORD` (only for the repository of
/// the global options), or else the terminal with `prompt`.
struct PasswordSource<'a> {
    file: Option<&'a Path>,
    command: Option<&'a str>,
    env: Option<&'a Zeroizing<Vec<u8>>>,
    prompt: &'a str,
    /// The error when none is given and there is no terminal to ask on.
    missing: &'a str,
}

impl PasswordSource<'_> {
    fn read(&self, confirm: bool) -> Result<Zeroizing<Vec<u8>>> {
        // File and command follow the library's rules, shared with the config file's sources.
        if let Some(f) = self.file {
            return Ok(Secret::File(f.to_path_buf()).read()?);
        }
        if let Some(cmd) = self.command {
            return Ok(Secret::Command(cmd.to_string()).read()?);
        }
        if let Some(p) = self.env {
            return non_empty(p.clone(), || "SNAP_PASSWORD is set but empty".to_string());
        }
        if !std::io::stdin().is_terminal() && std::fs::File::open("/dev/tty").is_err() {
            bail!("{}", self.missing);
        }
        let p = Zeroizing::new(rpassword::prompt_password(self.prompt).context("reading password from the terminal")?);
        if confirm {
            let again = Zeroizing::new(rpassword::prompt_password("repeat password: ").context("reading password from the terminal")?);
            if *again != *p {
                bail!("passwords do not match");
            }
        }
        non_empty(Zeroizing::new(p.as_bytes().to_vec()), || "nothing was typed".to_string())
    }
}

/// A repository besides the one the global options name (`copy --to`, `init --from`): where it
/// is, where its password comes from (never `SNAP_PASSWORD`, which is the other one's), and its
/// cache root (the global one unless given).
pub struct OtherRepo<'a> {
    /// `source` or `destination`, for prompts and messages.
    pub role: &'a str,
    /// The prefix of its options, `to` or `from` (`--to-password-file`).
    pub flag: &'a str,
    pub location: &'a str,
    pub password_file: Option<&'a Path>,
    pub password_command: Option<&'a str>,
    pub cache_dir: Option<&'a Path>,
}

impl OtherRepo<'_> {
    /// Opens it without a lock and without syncing its index.
    pub fn open_unlocked(&self, g: &GlobalArgs) -> Result<Repository> {
        if self.location.is_empty() {
            bail!("no {} repository given", self.role);
        }
        let backend = g.backend(self.location, false)?;
        Repository::probe(&backend)?;
        let prompt = format!("password of the {} repository {}: ", self.role, self.location);
        let missing = format!(
            "no password given for the {} repository {}: use --{}-password-file or --{}-password-command (no terminal to ask on)",
            self.role, self.location, self.flag, self.flag
        );
        let password = PasswordSource { file: self.password_file, command: self.password_command, env: None, prompt: &prompt, missing: &missing }.read(false)?;
        let cache_root = match self.cache_dir {
            Some(d) => d.to_path_buf(),
            None => g.cache_root()?,
        };
        let mut repo = Repository::open(backend, &password, &cache_root)?;
        if !g.quiet {
            let role = self.role.to_string();
            repo.on_warning(move |w| eprintln!("snap: warning: {role}: {w}"));
        }
        Ok(repo)
    }

    /// Opens it, takes a lock of `kind`, then brings its local index up to date.
    pub fn open_locked(&self, g: &GlobalArgs, kind: LockKind) -> Result<(Repository, LockGuard)> {
        let repo = self.open_unlocked(g)?;
        let guard = repo.lock(kind)?;
        repo.sync_index()?;
        Ok((repo, guard))
    }
}

/// `password`, unless it is empty: then an error saying where the empty password came from.
fn non_empty(password: Zeroizing<Vec<u8>>, source: impl FnOnce() -> String) -> Result<Zeroizing<Vec<u8>>> {
    if password.is_empty() {
        bail!("empty password: {}", source());
    }
    Ok(password)
}

/// A progress bar on stderr, redrawn five times a second from a command's counters on a thread of
/// its own; nothing at all when not shown ([`GlobalArgs::show_progress`]). Its last state stays on
/// screen when the command ends, and it has no colour when `NO_COLOR` is set.
pub struct Ticker {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// One reading of a command's counters for [`Ticker::meter`].
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// What is happening, when the command goes through stages (`repacking`).
    pub stage: Option<&'static str>,
    /// Bytes done, and how many there are in all when known.
    pub bytes: u64,
    pub bytes_total: Option<u64>,
    /// Items (`unit`: files, packs, blobs) done, and how many there are in all when known.
    pub items: u64,
    pub items_total: Option<u64>,
    pub unit: &'static str,
}

impl Reading {
    /// What the bar drives on: (done, total) of bytes when their total is known, else of items.
    fn driver(&self) -> Option<(u64, u64)> {
        match (self.bytes_total, self.items_total) {
            (Some(t), _) => Some((self.bytes, t.max(self.bytes))),
            (None, Some(t)) => Some((self.items, t.max(self.items))),
            (None, None) => None,
        }
    }

    /// `repacking: 3.0 MiB/10.0 MiB, 12/40 packs, 1.5 MiB/s`: short, so that the line and a bar
    /// fit 80 columns. The rate is the mean over `elapsed`.
    fn message(&self, elapsed: Duration) -> String {
        let of = |total: Option<String>| total.map(|t| format!("/{t}")).unwrap_or_default();
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 { human((self.bytes as f64 / secs) as u64) } else { human(0) };
        format!(
            "{}{}{}, {}{} {}, {rate}/s",
            self.stage.map(|s| format!("{s}: ")).unwrap_or_default(),
            human(self.bytes),
            of(self.bytes_total.map(human)),
            self.items,
            of(self.items_total.map(|t| t.to_string())),
            self.unit
        )
    }
}

impl Ticker {
    /// Bytes, items and the rate; once a total is known also a bar and an ETA. The rate and ETA
    /// start again with each stage.
    pub fn meter(show: bool, read: impl Fn() -> Reading + Send + 'static) -> Self {
        let mut with_bar = false;
        let mut stage = (None, std::time::Instant::now());
        Self::spawn(show, move |bar| {
            let r = read();
            if r.stage != stage.0 {
                stage = (r.stage, std::time::Instant::now());
                bar.reset_eta();
            }
            // Each setter may draw: the message first, so that no drawing pairs a new bar with an
            // old message.
            bar.set_message(r.message(stage.1.elapsed()));
            let driver = r.driver();
            if with_bar != driver.is_some() {
                with_bar = driver.is_some();
                bar.set_style(style(with_bar));
            }
            if let Some((done, total)) = driver {
                bar.update(|state| {
                    state.set_len(total);
                    state.set_pos(done);
                });
            }
        })
    }

    fn spawn(show: bool, mut draw: impl FnMut(&indicatif::ProgressBar) + Send + 'static) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        if !show {
            return Self { stop, handle: None };
        }
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let bar = indicatif::ProgressBar::new_spinner().with_style(style(false));
            loop {
                let last = s.load(std::sync::atomic::Ordering::Relaxed);
                draw(&bar);
                if last {
                    break;
                }
                bar.tick();
                std::thread::sleep(Duration::from_millis(200));
            }
            // Drawn whatever the rate limit: the final counts stay on screen, on a line of their own
            // (indicatif leaves the cursor after them).
            bar.finish();
            eprintln!();
        });
        Self { stop, handle: Some(handle) }
    }
}

impl Drop for Ticker {
    /// Stops the thread after a last drawing of the counters as they are now.
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The bar's look: with a bar and ETA or without, coloured unless `NO_COLOR` is set
/// (no-color.org: present and not empty).
fn style(with_bar: bool) -> indicatif::ProgressStyle {
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let template = match (with_bar, color) {
        (true, true) => "{spinner:.green} {elapsed_precise} [{wide_bar:.cyan/blue}] {msg}, ETA {eta}",
        (true, false) => "{spinner} {elapsed_precise} [{wide_bar}] {msg}, ETA {eta}",
        (false, true) => "{spinner:.green} {elapsed_precise} {msg}",
        (false, false) => "{spinner} {elapsed_precise} {msg}",
    };
    indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()).progress_chars("=> ")
}

/// `1.5 GiB`-style sizes.
pub use snap::units::bytes as human;

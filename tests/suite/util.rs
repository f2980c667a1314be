//! Shared helpers for the integration tests: a scratch repository driven through the real `snap`
//! binary, and generators for file trees.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The password every test repository uses.
pub const PASSWORD: &str = "correct horse battery staple";

/// Where a test's repository lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// `<tempdir>/repo`.
    Local,
    /// A bucket on a Garage node started for the test.
    S3,
    /// A directory served by an `sshd` started for the test.
    Sftp,
}

/// A temporary directory with a repository location, a cache and a password file; for remote
/// stores also the server, its credentials, and how to reach it.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: Store,
    /// The location snap is given; `None` for the local `<tempdir>/repo`.
    location: Option<String>,
    /// Extra environment for snap (credentials, region).
    vars: Vec<(String, String)>,
    /// Put first on PATH (the ssh wrapper).
    path_prefix: Option<PathBuf>,
    pub garage: Option<crate::servers::Garage>,
    pub sshd: Option<crate::servers::Sshd>,
}

/// The bucket every S3 test repository is in.
pub const BUCKET: &str = "snap-tests";

/// What one `snap` run did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw_stdout: Vec<u8>,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "snap failed\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("bad json {e}: {}", self.stdout))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            raw_stdout: o.stdout,
        }
    }
}

impl Env {
    /// A fresh environment (no repository yet).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("password"), PASSWORD).expect("password file");
        Self { dir, store: Store::Local, location: None, vars: Vec::new(), path_prefix: None, garage: None, sshd: None }
    }

    /// A fresh environment (no repository yet) whose repository is on `store`, with its server
    /// started.
    pub fn on(store: Store) -> Self {
        let mut env = Self::new();
        env.store = store;
        match store {
            Store::Local => {}
            Store::S3 => {
                let g = crate::servers::Garage::start();
                g.bucket(BUCKET);
                env.location = Some(format!("s3:{}/{BUCKET}/repo", g.endpoint()));
                env.vars = g.env();
                env.garage = Some(g);
            }
            Store::Sftp => {
                let d = crate::servers::Sshd::start();
                env.location = Some(d.location(&env.path().join("sftp-root/repo")));
                env.path_prefix = Some(d.bin_dir());
                env.sshd = Some(d);
            }
        }
        env
    }

    /// [`Env::on`] with an initialised repository.
    pub fn with_repo_on(store: Store) -> Self {
        let env = Self::on(store);
        env.snap(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]).ok();
        env
    }

    /// Adds `key=value` to the environment of every snap this environment runs.
    pub fn set_var(&mut self, key: &str, value: &str) {
        self.vars.push((key.to_string(), value.to_string()));
    }

    /// The location snap is given for this environment's repository.
    pub fn location(&self) -> String {
        self.location.clone().unwrap_or_else(|| self.repo().to_string_lossy().into_owned())
    }

    /// A second location on the same store (`name` instead of `repo`), for copies.
    pub fn other_location(&self, name: &str) -> String {
        match self.store {
            Store::Local => self.path().join(name).to_string_lossy().into_owned(),
            Store::S3 => format!("s3:{}/{BUCKET}/{name}", self.garage.as_ref().expect("garage").endpoint()),
            Store::Sftp => self.sshd.as_ref().expect("sshd").location(&self.path().join("sftp-root").join(name)),
        }
    }

    /// The repository's files, however they are stored.
    pub fn raw(&self) -> crate::util::Raw {
        match self.store {
            Store::Local => Raw::Dir(self.repo()),
            Store::Sftp => Raw::Dir(self.path().join("sftp-root/repo")),
            Store::S3 => Raw::s3(self.garage.as_ref().expect("garage"), "repo"),
        }
    }

    /// A fresh environment with an initialised repository (cheap KDF to keep tests fast).
    pub fn with_repo() -> Self {
        let env = Self::new();
        env.snap(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]).ok();
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }
    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// A `snap` command with this environment's repository, cache and password file.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_snap"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("TZ", "UTC")
            .env("SNAP_REPOSITORY", self.location())
            .env("SNAP_CACHE_DIR", self.cache())
            .env("SNAP_PASSWORD_FILE", self.path().join("password"))
            .stdin(Stdio::null());
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        if let Some(pre) = &self.path_prefix {
            let mut paths = vec![pre.clone()];
            paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
            c.env("PATH", std::env::join_paths(paths).expect("PATH"));
        }
        c
    }

    /// Runs `snap ARGS` and captures everything.
    pub fn snap<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd().args(args).output().expect("run snap").into()
    }

    /// Runs `snap ARGS` with `input` on stdin.
    pub fn snap_stdin<I, S>(&self, args: I, input: &[u8]) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = self.cmd().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn snap");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait snap");
        let _ = writer.join();
        out.into()
    }

    /// Backs up `paths` with `--json` and returns the full snapshot id.
    pub fn backup(&self, paths: &[&Path]) -> String {
        let mut args: Vec<&OsStr> = vec![OsStr::new("backup"), OsStr::new("--json")];
        args.extend(paths.iter().map(|p| p.as_os_str()));
        let run = self.snap(args).ok();
        run.json()["snapshot_id"].as_str().expect("snapshot id").to_string()
    }

    /// Restores `snapshot` into a new directory under the environment and returns it.
    pub fn restore(&self, snapshot: &str, name: &str) -> PathBuf {
        let target = self.path().join(name);
        self.snap(["restore", snapshot, "--target", &target.to_string_lossy()]).ok();
        target
    }

    /// Total bytes stored under the repository's data/ directory.
    pub fn data_bytes(&self) -> u64 {
        self.raw().list("data/").iter().map(|(_, n)| n).sum()
    }
}

/// Direct access to a repository's stored files, below snap: how tests damage, count and inspect
/// storage on any store. Paths are relative to the repository (`data/ab/ab01…`).
pub enum Raw {
    Dir(PathBuf),
    S3(opendal::blocking::Operator, tokio::runtime::Runtime),
}

impl Raw {
    fn s3(g: &crate::servers::Garage, prefix: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        opendal_http_transport_reqwest::install_default();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let b = opendal::services::S3::default()
            .endpoint(&g.endpoint())
            .bucket(BUCKET)
            .root(&format!("/{prefix}"))
            .region(crate::servers::GARAGE_REGION)
            .access_key_id(&g.key_id)
            .secret_access_key(&g.secret)
            .disable_config_load()
            .disable_ec2_metadata();
        let op = opendal::Operator::new(b).expect("s3 operator");
        let op = {
            let _guard = rt.enter();
            opendal::blocking::Operator::new(op).expect("blocking operator")
        };
        Self::S3(op, rt)
    }

    /// Every file under `dir` (recursively), with its size, sorted by path.
    pub fn list(&self, dir: &str) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        match self {
            Raw::Dir(root) => {
                fn walk(root: &Path, d: &Path, out: &mut Vec<(String, u64)>) {
                    let Ok(rd) = std::fs::read_dir(d) else { return };
                    for e in rd.flatten() {
                        let m = e.metadata().expect("meta");
                        if m.is_dir() {
                            walk(root, &e.path(), out);
                        } else {
                            out.push((e.path().strip_prefix(root).expect("under root").to_string_lossy().into_owned(), m.len()));
                        }
                    }
                }
                walk(root, &root.join(dir), &mut out);
            }
            Raw::S3(op, _) => {
                let entries = op.list_options(dir, opendal::options::ListOptions { recursive: true, ..Default::default() }).unwrap_or_default();
                for e in entries.into_iter().filter(|e| e.metadata().is_file()) {
                    out.push((e.path().to_string(), e.metadata().content_length()));
                }
            }
        }
        out.sort();
        out
    }

    pub fn read(&self, path: &str) -> Vec<u8> {
        match self {
            Raw::Dir(root) => std::fs::read(root.join(path)).expect("read"),
            Raw::S3(op, _) => op.read(path).expect("read").to_vec(),
        }
    }

    pub fn write(&self, path: &str, data: &[u8]) {
        match self {
            Raw::Dir(root) => std::fs::write(root.join(path), data).expect("write"),
            Raw::S3(op, _) => {
                op.write(path, data.to_vec()).expect("write");
            }
        }
    }

    pub fn delete(&self, path: &str) {
        match self {
            Raw::Dir(root) => std::fs::remove_file(root.join(path)).expect("delete"),
            Raw::S3(op, _) => op.delete(path).expect("delete"),
        }
    }
}

pub fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let md = e.metadata().expect("metadata");
            total += if md.is_dir() { dir_size(&e.path()) } else { md.len() };
        }
    }
    total
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Asserts two trees are identical: names, kinds, contents, symlink targets, modes, mtimes of
/// files, and hardlink structure.
#[track_caller]
pub fn assert_same_tree(a: &Path, b: &Path) {
    use std::os::unix::fs::MetadataExt;
    let ma = std::fs::symlink_metadata(a).unwrap_or_else(|e| panic!("{}: {e}", a.display()));
    let mb = std::fs::symlink_metadata(b).unwrap_or_else(|e| panic!("{}: {e}", b.display()));
    assert_eq!(ma.file_type(), mb.file_type(), "type of {}", b.display());
    assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "mode of {}", b.display());
    if ma.file_type().is_symlink() {
        assert_eq!(std::fs::read_link(a).ok(), std::fs::read_link(b).ok(), "target of {}", b.display());
        return;
    }
    if ma.is_file() {
        assert_eq!(ma.len(), mb.len(), "size of {}", b.display());
        assert!(std::fs::read(a).ok() == std::fs::read(b).ok(), "content of {} differs", b.display());
        assert_eq!(ma.mtime(), mb.mtime(), "mtime of {}", b.display());
        assert_eq!(ma.nlink(), mb.nlink(), "link count of {}", b.display());
        return;
    }
    if ma.is_dir() {
        let names = |p: &Path| {
            let mut v: Vec<_> = std::fs::read_dir(p).expect("read_dir").map(|e| e.expect("entry").file_name()).collect();
            v.sort();
            v
        };
        let (na, nb) = (names(a), names(b));
        assert_eq!(na, nb, "entries of {}", b.display());
        for n in na {
            assert_same_tree(&a.join(&n), &b.join(&n));
        }
        assert_eq!(ma.mtime(), mb.mtime(), "mtime of dir {}", b.display());
    }
}

/// Where a backed-up absolute path lands under a restore target.
pub fn restored(target: &Path, original: &Path) -> PathBuf {
    target.join(original.strip_prefix("/").expect("absolute path"))
}

/// `snap backup --json ARGS`, which must succeed; the JSON summary.
pub fn backup_json<I, S>(env: &Env, args: I) -> serde_json::Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut all: Vec<std::ffi::OsString> = vec!["backup".into(), "--json".into()];
    all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
    env.snap(all).ok().json()
}

/// A path as a `String` for command arguments.
pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Writes a file, making its parent directories.
pub fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("write");
}

/// Asserts a run's exit code, showing its output when it differs.
#[track_caller]
pub fn expect_code(run: &Run, code: i32, what: &str) {
    assert_eq!(run.code, code, "{what}: wanted exit {code}\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
}

/// Asserts that `haystack` contains `needle`.
#[track_caller]
pub fn assert_contains(haystack: &str, needle: &str, what: &str) {
    assert!(haystack.contains(needle), "{what}: {needle:?} not in:\n{haystack}");
}

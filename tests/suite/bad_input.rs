//! Bad input and hostile conditions: wrong or missing passwords, missing, foreign and newer
//! repositories, unreadable and changing source files, failing stream commands, signals during a
//! backup, a full disk during restore, hostile snapshot trees and a closed output pipe.
//!
//! Every failing command must exit with its documented code and say what went wrong on one line
//! (`snap: …`) naming the object or path; and nothing already stored may be lost: the repository
//! still restores the earlier snapshots byte-exact afterwards.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use snap::format::pack::BlobKind;
use snap::format::snapshot::{Snapshot, Summary, SNAPSHOT_VERSION};
use snap::format::tree::{Content, Node, NodeKind, Timestamp, Tree};
use snap::format::BlobId;
use snap::repo::saver::BlobSaver;
use snap::repo::Repository;

use crate::stores::{file_name, overwrite, LibRepo};
use crate::util::{assert_same_tree, pseudo_random, restored, Env, Raw, Run, Store, PASSWORD};

// Wrong passwords, a newer repository version, init over an existing repository, and damaged or
// foreign key, config and snapshot files planted on the store itself: each runs on a local
// directory, on S3 and on SFTP.
crate::on_every_store!(
    wrong_password_exits_12_and_changes_nothing,
    init_on_existing_repository_fails_and_keeps_it,
    unknown_repository_version_is_refused_without_a_password,
    damaged_key_file_is_named_not_a_wrong_password,
    snapshot_of_another_version_is_refused,
    config_whose_settings_version_differs_is_refused,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Asserts the exit code, and that stderr is exactly one line `snap: …` holding every word.
#[track_caller]
fn assert_fails(run: &Run, code: i32, words: &[&str]) {
    assert_eq!(run.code, code, "exit code\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr must be exactly one line, got {:?}", run.stderr);
    assert!(lines[0].starts_with("snap: "), "stderr line must start with `snap: `: {:?}", lines[0]);
    for w in words {
        assert!(lines[0].contains(w), "stderr {:?} does not mention {w:?}", lines[0]);
    }
}

/// Asserts the exit code and that the last stderr line is `snap: …` holding every word; the lines
/// before it are per-entry reports (`error: <path>: …`). Returns those lines.
#[track_caller]
fn assert_last_line(run: &Run, code: i32, words: &[&str]) -> Vec<String> {
    assert_eq!(run.code, code, "exit code\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
    let lines: Vec<String> = run.stderr.lines().map(str::to_string).collect();
    let last = lines.last().unwrap_or_else(|| panic!("no stderr at all"));
    assert!(last.starts_with("snap: "), "last stderr line must start with `snap: `: {:?}", run.stderr);
    for w in words {
        assert!(last.contains(w), "last stderr line {last:?} does not mention {w:?}");
    }
    for l in &lines[..lines.len() - 1] {
        assert!(l.starts_with("error: "), "unexpected stderr line {l:?} in {:?}", run.stderr);
    }
    lines[..lines.len() - 1].to_vec()
}

/// Every entry below `dir` (relative path → file bytes, or `None` for a directory or other kind).
fn listing(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).expect("under base").to_path_buf();
            let md = std::fs::symlink_metadata(&p).expect("metadata");
            if md.is_dir() {
                out.insert(rel, None);
                walk(base, &p, out);
            } else if md.is_file() {
                out.insert(rel, Some(std::fs::read(&p).unwrap_or_default()));
            } else {
                out.insert(rel, None);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts a directory still holds exactly what `before` recorded, naming what changed.
#[track_caller]
fn assert_unchanged(dir: &Path, before: &BTreeMap<PathBuf, Option<Vec<u8>>>, what: &str) {
    assert_same_listing(&listing(dir), before, what, &dir.display().to_string());
}

/// Asserts `after` holds exactly what `before` recorded, naming what changed in `place`.
#[track_caller]
fn assert_same_listing(after: &BTreeMap<PathBuf, Option<Vec<u8>>>, before: &BTreeMap<PathBuf, Option<Vec<u8>>>, what: &str, place: &str) {
    let added: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<_> = before.iter().filter(|(k, v)| after.get(*k).is_some_and(|a| a != *v)).map(|(k, _)| k).collect();
    assert!(
        added.is_empty() && removed.is_empty() && changed.is_empty(),
        "{what} changed {place}: added {added:?}, removed {removed:?}, modified {changed:?}"
    );
}

/// Names and sizes of every file below `dir` (for large directories such as a repository).
fn names_and_sizes(dir: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).expect("metadata");
            out.insert(p.strip_prefix(base).expect("under base").to_path_buf(), if md.is_dir() { u64::MAX } else { md.len() });
            if md.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// [`listing`] of the repository; on an object store, which has no directories, every object.
fn repo_listing(env: &Env) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    match env.raw() {
        Raw::Dir(root) => listing(&root),
        raw => raw.list("").into_iter().map(|(p, _)| (PathBuf::from(&p), Some(raw.read(&p)))).collect(),
    }
}

/// [`assert_unchanged`] for the repository.
#[track_caller]
fn assert_repo_unchanged(env: &Env, before: &BTreeMap<PathBuf, Option<Vec<u8>>>, what: &str) {
    match env.raw() {
        Raw::Dir(root) => assert_unchanged(&root, before, what),
        _ => assert_same_listing(&repo_listing(env), before, what, &env.location()),
    }
}

/// [`names_and_sizes`] of the repository; on an object store, which has no directories, every
/// object.
fn repo_names_and_sizes(env: &Env) -> BTreeMap<PathBuf, u64> {
    match env.raw() {
        Raw::Dir(root) => names_and_sizes(&root),
        raw => raw.list("").into_iter().map(|(p, n)| (PathBuf::from(p), n)).collect(),
    }
}

/// Files (not directories) below `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    names_and_sizes(dir).into_iter().filter(|(_, s)| *s != u64::MAX).map(|(p, _)| dir.join(p)).collect()
}

/// A small tree of every common kind.
fn make_tree(root: &Path, seed: u64) {
    std::fs::create_dir_all(root.join("sub/deeper")).expect("mkdir");
    std::fs::write(root.join("a.txt"), b"hello, world\n").expect("write");
    std::fs::write(root.join("empty"), b"").expect("write");
    std::fs::write(root.join("sub/random.bin"), pseudo_random(300_000, seed)).expect("write");
    std::fs::write(root.join("sub/deeper/c.txt"), pseudo_random(5_000, seed + 1)).expect("write");
    std::os::unix::fs::symlink("../a.txt", root.join("sub/link")).expect("symlink");
    std::fs::set_permissions(root.join("a.txt"), std::fs::Permissions::from_mode(0o640)).expect("chmod");
}

/// A repository holding one snapshot of a small tree, to check nothing stored gets lost.
struct Stored {
    env: Env,
    src: PathBuf,
    id: String,
    checks: std::cell::Cell<u32>,
}

impl Stored {
    fn new() -> Self {
        Self::on(Store::Local)
    }

    /// [`Stored::new`] with the repository on `store`.
    fn on(store: Store) -> Self {
        let env = Env::with_repo_on(store);
        let src = env.path().join("src");
        make_tree(&src, 7);
        let id = env.backup(&[&src]);
        Self { env, src, id, checks: std::cell::Cell::new(0) }
    }

    /// The earlier snapshot is still listed and still restores byte-exact.
    #[track_caller]
    fn assert_intact(&self) {
        let listed = self.env.snap(["snapshots", "--json"]).ok().json();
        let ids: Vec<&str> = listed.as_array().expect("array").iter().map(|s| s["id"].as_str().expect("id")).collect();
        assert!(ids.contains(&self.id.as_str()), "snapshot {} no longer listed: {ids:?}", self.id);
        let n = self.checks.get() + 1;
        self.checks.set(n);
        let target = self.env.restore(&self.id, &format!("intact-{n}"));
        assert_same_tree(&self.src, &restored(&target, &self.src));
    }

    fn snapshot_count(&self) -> usize {
        snapshot_count(&self.env)
    }
}

fn snapshot_count(env: &Env) -> usize {
    env.snap(["snapshots", "--json"]).ok().json().as_array().expect("array").len()
}

/// Makes the child the leader of a new session, so it has no controlling terminal: `/dev/tty`
/// cannot be opened and snap can never fall back to prompting.
fn without_terminal(c: &mut Command) -> &mut Command {
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// `snap ARGS` with no password source at all, no terminal and stdin at /dev/null.
fn snap_without_password<I, S>(env: &Env, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = env.cmd();
    c.env_remove("SNAP_PASSWORD_FILE").stdin(Stdio::null()).args(args);
    without_terminal(&mut c).output().expect("run snap").into()
}

/// A command running `program` with exactly the environment `env.cmd()` gives snap.
fn with_snap_env(env: &Env, program: &str) -> Command {
    let base = env.cmd();
    let mut c = Command::new(program);
    c.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.stdin(Stdio::null());
    c
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// 1. Wrong password → 12
// ---------------------------------------------------------------------------------------------

fn wrong_password_exits_12_and_changes_nothing(store: Store) {
    let st = Stored::on(store);
    let env = &st.env;
    let wrong = env.path().join("wrong-password");
    std::fs::write(&wrong, "not the password\n").expect("write");
    let repo_before = repo_names_and_sizes(env);
    let target = env.path().join("wrong-target");
    let loc = env.location();
    let runs: Vec<(&str, Vec<String>)> = vec![
        ("snapshots", vec!["snapshots".into()]),
        ("ls", vec!["ls".into(), st.id.clone()]),
        ("dump", vec!["dump".into(), st.id.clone(), format!("{}/a.txt", s(&st.src))]),
        ("restore", vec!["restore".into(), st.id.clone(), "--target".into(), s(&target)]),
        ("backup", vec!["backup".into(), s(&st.src)]),
    ];
    for (what, args) in &runs {
        let run: Run = env.cmd().env("SNAP_PASSWORD_FILE", &wrong).args(args).output().expect("run").into();
        assert_fails(&run, 12, &["wrong password", &loc]);
        assert!(run.stdout.is_empty(), "{what} printed {:?}", run.stdout);
    }
    // The same through SNAP_PASSWORD and --password-command.
    let run: Run = env.cmd().env_remove("SNAP_PASSWORD_FILE").env("SNAP_PASSWORD", "nope").arg("snapshots").output().expect("run").into();
    assert_fails(&run, 12, &["wrong password", &loc]);
    let run: Run = env.cmd().env_remove("SNAP_PASSWORD_FILE").args(["--password-command", "echo nope", "snapshots"]).output().expect("run").into();
    assert_fails(&run, 12, &["wrong password", &loc]);

    assert!(!target.exists(), "a refused restore created its target");
    assert_eq!(repo_names_and_sizes(env), repo_before, "a refused command changed the repository");
    st.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// 2. No repository → 10, and the missing location is not created
// ---------------------------------------------------------------------------------------------

fn every_command(loc: &Path, scratch: &Path) -> Vec<Vec<String>> {
    let src = scratch.join("some-source");
    let _ = std::fs::create_dir_all(&src);
    let _ = std::fs::write(src.join("f"), b"x");
    let r = |v: &[&str]| -> Vec<String> {
        let mut out = vec!["-r".to_string(), s(loc)];
        out.extend(v.iter().map(|x| (*x).to_string()));
        out
    };
    let target = s(&scratch.join("never-created"));
    vec![
        r(&["snapshots"]),
        r(&["ls", "latest"]),
        r(&["dump", "latest", "/f"]),
        r(&["restore", "latest", "--target", &target]),
        r(&["backup", &s(&src)]),
    ]
}

#[test]
fn missing_repository_exits_10_and_is_not_created() {
    let env = Env::new();
    let loc = env.path().join("no-such-repo");
    for args in every_command(&loc, env.path()) {
        let run = env.snap(&args);
        assert_fails(&run, 10, &["no snap repository", &s(&loc)]);
        assert!(!loc.exists(), "`snap {}` created the missing repository location", args.join(" "));
        assert!(!env.path().join("never-created").exists(), "`snap {}` created the restore target", args.join(" "));
    }
    // Without a password either: the location is checked first.
    let run = snap_without_password(&env, ["-r", &s(&loc), "snapshots"]);
    assert_fails(&run, 10, &["no snap repository", &s(&loc)]);
    assert!(!loc.exists());
    // A missing parent directory too.
    let deep = env.path().join("a/b/c");
    let run = env.snap(["-r", &s(&deep), "snapshots"]);
    assert_fails(&run, 10, &["no snap repository", &s(&deep)]);
    assert!(!env.path().join("a").exists());
}

#[test]
fn empty_directory_is_no_repository_and_stays_empty() {
    let env = Env::new();
    let loc = env.path().join("empty");
    std::fs::create_dir(&loc).expect("mkdir");
    for args in every_command(&loc, env.path()) {
        let run = env.snap(&args);
        assert_fails(&run, 10, &["no snap repository", &s(&loc)]);
        assert!(listing(&loc).is_empty(), "`snap {}` wrote into the empty location: {:?}", args.join(" "), listing(&loc).keys().collect::<Vec<_>>());
    }
    let run = snap_without_password(&env, ["-r", &s(&loc), "snapshots"]);
    assert_fails(&run, 10, &["no snap repository", &s(&loc)]);
    assert!(listing(&loc).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. A foreign directory → 10, untouched
// ---------------------------------------------------------------------------------------------

fn assert_foreign_untouched(env: &Env, loc: &Path) {
    let before = listing(loc);
    for args in every_command(loc, env.path()) {
        let run = env.snap(&args);
        assert_fails(&run, 10, &["not a snap repository", &s(loc)]);
        assert_unchanged(loc, &before, &format!("`snap {}`", args.join(" ")));
    }
    let run = snap_without_password(env, ["-r", &s(loc), "snapshots"]);
    assert_fails(&run, 10, &["not a snap repository", &s(loc)]);
    assert_unchanged(loc, &before, "`snap snapshots` without a password");
}

#[test]
fn foreign_directory_exits_10_and_is_untouched() {
    let env = Env::new();
    let loc = env.path().join("photos");
    std::fs::create_dir_all(loc.join("2024")).expect("mkdir");
    std::fs::write(loc.join("hello.txt"), b"hello\n").expect("write");
    std::fs::write(loc.join("2024/img.jpg"), pseudo_random(2000, 3)).expect("write");
    assert_foreign_untouched(&env, &loc);
}

#[test]
fn foreign_directory_with_a_config_file_is_untouched() {
    let env = Env::new();
    // Looks like some other tool's repository: random bytes in `config`, a few directories.
    let loc = env.path().join("restic-like");
    std::fs::create_dir_all(loc.join("data/00")).expect("mkdir");
    std::fs::create_dir_all(loc.join("keys")).expect("mkdir");
    std::fs::write(loc.join("config"), pseudo_random(155, 11)).expect("write");
    std::fs::write(loc.join("keys/0123"), b"{\"kdf\":\"scrypt\"}").expect("write");
    assert_foreign_untouched(&env, &loc);
}

#[test]
fn config_with_wrong_magic_is_foreign() {
    // A `config` that starts like snap's but with another magic, and one too short to hold one.
    let env = Env::new();
    for (name, bytes) in [("other-magic", b"SNAPREPX\x01\x00\x00\x00rest".to_vec()), ("short", b"SNAP".to_vec())] {
        let loc = env.path().join(name);
        std::fs::create_dir(&loc).expect("mkdir");
        std::fs::write(loc.join("config"), &bytes).expect("write");
        let run = env.snap(["-r", &s(&loc), "snapshots"]);
        assert_fails(&run, 10, &["not a snap repository", &s(&loc)]);
        assert_eq!(std::fs::read(loc.join("config")).expect("read"), bytes);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. init on a non-empty location → 1
// ---------------------------------------------------------------------------------------------

fn init_on_existing_repository_fails_and_keeps_it(store: Store) {
    let st = Stored::on(store);
    let env = &st.env;
    let before = repo_listing(env);
    let loc = env.location();
    let run = env.snap(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]);
    assert_fails(&run, 1, &["cannot init", &loc, "already holds files"]);
    // Without a password (the refusal comes first) and with another password.
    let run = snap_without_password(env, ["init"]);
    assert_fails(&run, 1, &["cannot init", &loc]);
    let other = env.path().join("other-password");
    std::fs::write(&other, "another one").expect("write");
    let run: Run = env.cmd().env("SNAP_PASSWORD_FILE", &other).args(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]).output().expect("run").into();
    assert_fails(&run, 1, &["cannot init", &loc]);
    assert_repo_unchanged(env, &before, "a refused init");
    assert_eq!(st.snapshot_count(), 1);
    st.assert_intact();
}

#[test]
fn init_on_non_empty_directory_fails_naming_it() {
    let env = Env::new();
    let loc = env.path().join("stuff");
    std::fs::create_dir(&loc).expect("mkdir");
    std::fs::write(loc.join("hello.txt"), b"hello\n").expect("write");
    let run = env.snap(["-r", &s(&loc), "init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]);
    assert_fails(&run, 1, &["cannot init", &s(&loc), "already holds files"]);
    assert_eq!(std::fs::read(loc.join("hello.txt")).expect("read"), b"hello\n");
    assert!(!loc.join("config").exists() && !loc.join("keys").exists());
    // A file where the directory should be.
    let file = env.path().join("a-file");
    std::fs::write(&file, b"data").expect("write");
    let run = env.snap(["-r", &s(&file), "init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(run.stderr.starts_with("snap: ") && run.stderr.contains(&s(&file)), "{run:?}");
    assert_eq!(std::fs::read(&file).expect("read"), b"data");
}

#[test]
fn init_on_non_empty_directory_leaves_it_untouched() {
    let env = Env::new();
    let loc = env.path().join("stuff");
    std::fs::create_dir(&loc).expect("mkdir");
    std::fs::write(loc.join("hello.txt"), b"hello\n").expect("write");
    let before = listing(&loc);
    let run = env.snap(["-r", &s(&loc), "init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]);
    assert_fails(&run, 1, &["cannot init", &s(&loc)]);
    assert_unchanged(&loc, &before, "a refused init");
}

// ---------------------------------------------------------------------------------------------
// 5. A newer repository version → 1, before any password is asked for
// ---------------------------------------------------------------------------------------------

fn set_config_version(env: &Env, v: u32) {
    let mut b = env.raw().read("config");
    assert_eq!(&b[..8], b"SNAPREPO");
    b[8..12].copy_from_slice(&v.to_le_bytes());
    overwrite(env, "config", &b);
}

fn unknown_repository_version_is_refused_without_a_password(store: Store) {
    let st = Stored::on(store);
    let env = &st.env;
    set_config_version(env, 99);
    let before = repo_listing(env);
    let loc = env.location();
    let target = env.path().join("version-target");
    let words = ["version 99", "this snap reads version 2", loc.as_str()];
    let runs: Vec<Vec<String>> = vec![
        vec!["snapshots".into()],
        vec!["ls".into(), st.id.clone()],
        vec!["dump".into(), st.id.clone(), format!("{}/a.txt", s(&st.src))],
        vec!["restore".into(), st.id.clone(), "--target".into(), s(&target)],
        vec!["backup".into(), s(&st.src)],
    ];
    for args in &runs {
        // No password source, no terminal: still the version error, not a password error.
        let run = snap_without_password(env, args);
        assert_fails(&run, 1, &words);
        // With the right password: the same.
        let run = env.snap(args);
        assert_fails(&run, 1, &words);
    }
    let run = snap_without_password(env, ["init"]);
    assert_fails(&run, 1, &["cannot init", &loc]);
    assert!(!target.exists());
    assert_repo_unchanged(env, &before, "a refused command");
    // Nothing was lost: once the version is back, everything reads.
    set_config_version(env, 2);
    st.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// 6. No password and no terminal → 1
// ---------------------------------------------------------------------------------------------

#[test]
fn no_password_and_no_terminal_fails_clearly() {
    let st = Stored::new();
    let env = &st.env;
    let target = env.path().join("nopw-target");
    let repo_before = names_and_sizes(&env.repo());
    let runs: Vec<Vec<String>> = vec![
        vec!["snapshots".into()],
        vec!["ls".into(), st.id.clone()],
        vec!["dump".into(), st.id.clone(), format!("{}/a.txt", s(&st.src))],
        vec!["restore".into(), st.id.clone(), "--target".into(), s(&target)],
        vec!["backup".into(), s(&st.src)],
    ];
    for args in &runs {
        let run = snap_without_password(env, args);
        assert_fails(&run, 1, &["no password given", "SNAP_PASSWORD"]);
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    assert!(!target.exists());
    assert_eq!(names_and_sizes(&env.repo()), repo_before);

    // init on a fresh location, same message; afterwards init with a password works there.
    let fresh = env.path().join("fresh-repo");
    let run = snap_without_password(env, ["-r", &s(&fresh), "init"]);
    assert_fails(&run, 1, &["no password given", "SNAP_PASSWORD"]);
    assert!(!fresh.join("config").exists());
    env.snap(["-r", &s(&fresh), "init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]).ok();
    assert_eq!(env.snap(["-r", &s(&fresh), "snapshots", "--json"]).ok().json(), serde_json::json!([]));
    st.assert_intact();
}

#[test]
fn init_without_password_leaves_no_trace() {
    let env = Env::new();
    let fresh = env.path().join("fresh-repo");
    let run = snap_without_password(&env, ["-r", &s(&fresh), "init"]);
    assert_fails(&run, 1, &["no password given", "SNAP_PASSWORD"]);
    assert!(!fresh.exists(), "failed init left {:?}", listing(&fresh).keys().collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// 7. An unreadable file → exit 3, snapshot saved without it
// ---------------------------------------------------------------------------------------------

const NOBODY: u32 = 65534;

fn chown_tree(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).expect("chown");
    if std::fs::symlink_metadata(p).expect("metadata").is_dir() {
        for e in std::fs::read_dir(p).expect("read_dir").flatten() {
            chown_tree(&e.path(), uid);
        }
    }
}

#[test]
fn unreadable_file_exits_3_and_saves_the_rest() {
    let st = Stored::new();
    let env = &st.env;
    let src = env.path().join("src2");
    make_tree(&src, 21);
    std::fs::write(src.join("sub/after.txt"), b"after the unreadable one\n").expect("write");
    let secret = src.join("sub/deeper/secret.key");
    std::fs::write(&secret, b"top secret\n").expect("write");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).expect("chmod");

    let mut cmd = env.cmd();
    cmd.args(["backup", "--json", &s(&src)]).current_dir(env.path());
    if is_root() {
        // chmod 000 does not stop root: run this backup as an unprivileged user, who owns the
        // environment (repository, cache, password file, sources) but cannot read the secret.
        chown_tree(env.path(), NOBODY);
        std::os::unix::fs::lchown(&secret, Some(0), Some(0)).expect("chown secret");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let run: Run = cmd.output().expect("run backup").into();
    let reports = assert_last_line(&run, 3, &["snapshot saved", "1 file(s) could not be read"]);
    assert_eq!(reports.len(), 1, "one report expected: {:?}", run.stderr);
    assert!(reports[0].contains(&s(&secret)), "the report does not name {}: {:?}", secret.display(), reports[0]);
    let out = run.json();
    let id = out["snapshot_id"].as_str().expect("snapshot id").to_string();
    assert_eq!(out["errors"].as_array().expect("errors").len(), 1);

    // The snapshot is there, without the secret, and everything else restores byte-exact.
    assert_eq!(st.snapshot_count(), 2);
    let ls = env.snap(["ls", &id]).ok();
    assert!(!ls.stdout.contains("secret.key"), "{}", ls.stdout);
    assert!(ls.stdout.contains("after.txt"), "{}", ls.stdout);
    let target = env.restore(&id, "unreadable-restore");
    let back = restored(&target, &src);
    assert!(!back.join("sub/deeper/secret.key").exists());
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::remove_file(&secret).expect("rm");
    for f in files_under(&src) {
        let rel = f.strip_prefix(&src).expect("under src");
        let md = std::fs::symlink_metadata(&f).expect("metadata");
        let rmd = std::fs::symlink_metadata(back.join(rel)).unwrap_or_else(|e| panic!("{} not restored: {e}", rel.display()));
        assert_eq!(md.file_type(), rmd.file_type(), "{}", rel.display());
        if md.is_file() {
            assert!(std::fs::read(&f).expect("read") == std::fs::read(back.join(rel)).expect("read"), "{} differs", rel.display());
            assert_eq!(md.mode() & 0o7777, rmd.mode() & 0o7777, "{}", rel.display());
            assert_eq!(md.mtime(), rmd.mtime(), "{}", rel.display());
        } else {
            assert_eq!(std::fs::read_link(&f).ok(), std::fs::read_link(back.join(rel)).ok());
        }
    }
    st.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// 8. A missing source path → 1, nothing written
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_source_path_fails_before_writing() {
    let st = Stored::new();
    let env = &st.env;
    let repo_before = names_and_sizes(&env.repo());
    let missing = env.path().join("does/not/exist");
    let run = env.snap(["backup", &s(&missing)]);
    assert_fails(&run, 1, &[&format!("source path {} does not exist", missing.display())]);
    // Among existing paths, and as a relative path.
    let run = env.snap(["backup", &s(&st.src), &s(&missing)]);
    assert_fails(&run, 1, &[&format!("source path {} does not exist", missing.display())]);
    let run: Run = env.cmd().current_dir(env.path()).args(["backup", "src", "nope"]).output().expect("run").into();
    assert_fails(&run, 1, &["source path nope does not exist"]);
    // With --stdin as well: still refused before the stream is read.
    let run = env.snap_stdin(["backup", "--stdin", &s(&missing)], b"stream data\n");
    assert_fails(&run, 1, &[&format!("source path {} does not exist", missing.display())]);
    assert_eq!(names_and_sizes(&env.repo()), repo_before, "a refused backup wrote to the repository");
    assert_eq!(st.snapshot_count(), 1);
    st.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// 9. A failing stream command → 1, no snapshot
// ---------------------------------------------------------------------------------------------

#[test]
fn failing_stream_command_writes_no_snapshot() {
    let st = Stored::new();
    let env = &st.env;
    let run = env.snap(["backup", "--stdin-from-command", "--stdin-filename", "db.sql", "--", "sh", "-c", "echo partial; exit 3"]);
    assert_fails(&run, 1, &["sh -c echo partial; exit 3", "exited with status 3", "no snapshot was written"]);
    assert_eq!(st.snapshot_count(), 1);

    let run = env.snap(["backup", "--stdin-from-command", "--stdin-filename", "db.sql", "--", "sh", "-c", "echo x; kill -9 $$"]);
    assert_fails(&run, 1, &["killed by signal 9", "no snapshot was written"]);
    assert_eq!(st.snapshot_count(), 1);

    // A big output cut by a failure at the end.
    let run = env.snap(["backup", "--stdin-from-command", "--stdin-filename", "db.sql", "--", "sh", "-c", "head -c 3000000 /dev/zero; exit 2"]);
    assert_fails(&run, 1, &["exited with status 2", "no snapshot was written"]);

    // A command that cannot be run at all.
    let missing = env.path().join("no-such-program");
    let run = env.snap(["backup", "--stdin-from-command", "--", &s(&missing)]);
    assert_fails(&run, 1, &["cannot run", &s(&missing)]);

    // Paths given too: the whole backup is refused, not just the stream.
    let run = env.snap(["backup", "--stdin-from-command", &s(&st.src), "--", "false"]);
    assert_fails(&run, 1, &["`false` exited with status 1", "no snapshot was written"]);
    assert_eq!(st.snapshot_count(), 1);

    // The same data again, with a command that succeeds, works.
    let out = env.snap(["backup", "--json", "--stdin-from-command", "--stdin-filename", "db.sql", "--", "sh", "-c", "echo partial"]).ok().json();
    let id = out["snapshot_id"].as_str().expect("id").to_string();
    let dumped = env.snap(["dump", &id, "/db.sql"]).ok();
    assert_eq!(dumped.raw_stdout, b"partial\n");
    assert_eq!(st.snapshot_count(), 2);
    st.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// 10. SIGINT / SIGTERM during a backup → 130, the next backup reuses what was stored
// ---------------------------------------------------------------------------------------------

fn interrupted_backup(signal: libc::c_int) {
    let st = Stored::new();
    let env = &st.env;
    let big = env.path().join("big");
    std::fs::create_dir(&big).expect("mkdir");
    const FILES: u64 = 6;
    const EACH: usize = 25 * 1024 * 1024;
    for i in 0..FILES {
        std::fs::write(big.join(format!("part-{i}.bin")), pseudo_random(EACH, 100 + i)).expect("write");
    }
    let total = FILES * EACH as u64;
    let packs_before = files_under(&env.repo().join("data")).len();

    let mut child = env.cmd().args(["backup", &s(&big)]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn backup");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if files_under(&env.repo().join("data")).len() > packs_before {
            break;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("backup ended ({status}) before a pack was written; nothing to interrupt");
        }
        assert!(Instant::now() < deadline, "no pack written within the deadline");
        std::thread::sleep(Duration::from_millis(2));
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: kill has no memory preconditions; the pid is our own unreaped child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill");
    let run: Run = child.wait_with_output().expect("wait").into();
    assert_fails(&run, 130, &["interrupted"]);
    assert_eq!(st.snapshot_count(), 1, "an interrupted backup wrote a snapshot");

    // The next backup completes, reuses what the interrupted one stored, and restores exactly.
    let out = env.snap(["backup", "--json", &s(&big)]).ok().json();
    let id = out["snapshot_id"].as_str().expect("id").to_string();
    let added = out["bytes_added"].as_u64().expect("bytes_added");
    assert!(added < total, "the second backup added {added} of {total} bytes: nothing was reused");
    assert_eq!(out["bytes_total"].as_u64(), Some(total));
    let target = env.restore(&id, "after-interrupt");
    assert_same_tree(&big, &restored(&target, &big));
    assert_eq!(st.snapshot_count(), 2);
    st.assert_intact();
}

#[test]
fn sigint_during_backup_exits_130_and_loses_nothing() {
    interrupted_backup(libc::SIGINT);
}

#[test]
fn sigterm_during_backup_exits_130_and_loses_nothing() {
    interrupted_backup(libc::SIGTERM);
}

// ---------------------------------------------------------------------------------------------
// 11. A full disk during restore → 1, no partial or temporary files
// ---------------------------------------------------------------------------------------------

/// A size-limited tmpfs mounted for the life of the guard.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Backs up a 5 MB file and a few small ones; returns (source, snapshot id).
fn big_and_small(st: &Stored) -> (PathBuf, String) {
    let src = st.env.path().join("full-src");
    std::fs::create_dir_all(src.join("small")).expect("mkdir");
    std::fs::write(src.join("huge.bin"), pseudo_random(5 * 1024 * 1024, 55)).expect("write");
    for i in 0..5 {
        std::fs::write(src.join(format!("small/s{i}.txt")), format!("small file {i}\n")).expect("write");
    }
    let id = st.env.backup(&[&src]);
    (src, id)
}

/// What a restore that ran out of space must leave: an error naming the big file, no file under
/// its final name, no temporary files, and complete files only.
fn assert_failed_restore(run: &Run, target: &Path, src: &Path) {
    let reports = assert_last_line(run, 1, &["could not be restored"]);
    assert!(!reports.is_empty());
    let n = reports.len();
    let last = run.stderr.lines().last().unwrap_or_default();
    let expected = if n == 1 { "snap: 1 entry could not be restored".to_string() } else { format!("snap: {n} entries could not be restored") };
    assert!(last.starts_with(&expected), "{last:?} should start with {expected:?}");
    assert!(reports.iter().any(|r| r.contains("huge.bin")), "no report names huge.bin: {:?}", run.stderr);
    let back = restored(target, src);
    assert!(!back.join("huge.bin").exists(), "a partial huge.bin was left under its final name");
    let tmp: Vec<_> = files_under(target).into_iter().filter(|p| p.to_string_lossy().contains(".snap-tmp-")).collect();
    assert!(tmp.is_empty(), "temporary files left behind: {tmp:?}");
    for f in files_under(target) {
        let rel = f.strip_prefix(&back).unwrap_or_else(|_| panic!("unexpected file {}", f.display()));
        assert!(std::fs::read(&f).expect("read") == std::fs::read(src.join(rel)).expect("read"), "{} restored incomplete", rel.display());
    }
    // Every failing entry is named, none more than once.
    let mut named: Vec<&String> = reports.iter().collect();
    named.sort();
    named.dedup();
    assert_eq!(named.len(), n, "an entry was reported twice: {:?}", run.stderr);
}

#[test]
fn restore_onto_full_filesystem_fails_cleanly() {
    let st = Stored::new();
    let (src, id) = big_and_small(&st);
    let mnt = st.env.path().join("small-fs");
    let Some(_fs) = Tmpfs::mount(&mnt, "2m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs CAP_SYS_ADMIN); see restore_beyond_file_size_limit_fails_cleanly");
        return;
    };
    let target = mnt.join("target");
    let run = st.env.snap(["restore", &id, "--target", &s(&target)]);
    assert_failed_restore(&run, &target, &src);
    // After freeing the space, the same restore elsewhere is complete.
    let good = st.env.restore(&id, "full-after");
    assert_same_tree(&src, &restored(&good, &src));
    st.assert_intact();
}

#[test]
fn restore_beyond_file_size_limit_fails_cleanly() {
    let st = Stored::new();
    let (src, id) = big_and_small(&st);
    let target = st.env.path().join("limited-target");
    let mut cmd = st.env.cmd();
    cmd.args(["restore", &id, "--target", &s(&target)]);
    // RLIMIT_FSIZE of 1 MiB with SIGXFSZ ignored (ignored signals stay ignored across exec), so
    // growing a file past it fails with EFBIG instead of killing the process.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 1024 * 1024, rlim_max: 1024 * 1024 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let run: Run = cmd.output().expect("run restore").into();
    assert_failed_restore(&run, &target, &src);
    let good = st.env.restore(&id, "limit-after");
    assert_same_tree(&src, &restored(&good, &src));
    st.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// 12. Hostile snapshot trees → refused before anything is written
// ---------------------------------------------------------------------------------------------

const PAYLOAD: &[u8] = b"escaped!\n";

fn file_node(name: &[u8], data: BlobId) -> Node {
    Node {
        name: name.to_vec(),
        kind: Some(NodeKind::File),
        mode: 0o644,
        size: PAYLOAD.len() as u64,
        nlink: 1,
        mtime: Timestamp { secs: 1_700_000_000, nanos: 0 },
        ctime: Timestamp { secs: 1_700_000_000, nanos: 0 },
        content: Content::Chunks(vec![data]),
        ..Node::default()
    }
}

fn dir_node(name: &[u8], sub: BlobId) -> Node {
    Node {
        name: name.to_vec(),
        kind: Some(NodeKind::Dir),
        mode: 0o755,
        nlink: 2,
        mtime: Timestamp { secs: 1_700_000_000, nanos: 0 },
        ctime: Timestamp { secs: 1_700_000_000, nanos: 0 },
        subtree: Some(sub),
        ..Node::default()
    }
}

/// Stores snapshots whose trees hold unsafe names, directly at the root and one level down under
/// `x/`. Returns (description, snapshot id, the hostile name as shown).
fn plant_hostile_snapshots(env: &Env) -> Vec<(String, String, String)> {
    let lib = LibRepo::new(env);
    let repo = Repository::open(lib.backend(), PASSWORD.as_bytes(), &env.cache()).expect("open repository");
    let saver = BlobSaver::new(&repo);
    let data = saver.save(BlobKind::Data, PAYLOAD).expect("save data");
    let inner = saver.save(BlobKind::Tree, &Tree { nodes: vec![file_node(b"escaped", data)] }.encode()).expect("save tree");
    let hostile: Vec<(&str, Node)> = vec![
        ("..", dir_node(b"..", inner)),
        (".", dir_node(b".", inner)),
        ("a/b", file_node(b"a/b", data)),
        ("../escaped", file_node(b"../escaped", data)),
        ("nul", file_node(b"a\0b", data)),
        ("empty", file_node(b"", data)),
    ];
    let mut roots = Vec::new();
    for (label, node) in hostile {
        let shown = String::from_utf8_lossy(&node.name).into_owned();
        let bad = saver.save(BlobKind::Tree, &Tree { nodes: vec![node] }.encode()).expect("save hostile tree");
        roots.push((format!("{label} at the root"), bad, shown.clone()));
        let nested = saver.save(BlobKind::Tree, &Tree { nodes: vec![dir_node(b"x", bad)] }.encode()).expect("save tree");
        roots.push((format!("{label} under /x"), nested, shown));
    }
    saver.finish().expect("finish");
    let mut out = Vec::new();
    for (i, (label, tree, shown)) in roots.into_iter().enumerate() {
        let snap = Snapshot {
            version: SNAPSHOT_VERSION,
            time: format!("2020-01-01T00:00:{i:02}Z"),
            hostname: "evil".into(),
            username: "mallory".into(),
            paths: vec!["/x".into()],
            tags: vec!["hostile".into()],
            tree,
            parent: None,
            program_version: "not snap".into(),
            summary: Summary::default(),
            job: None,
            databases: Vec::new(),
        };
        let id = repo.save_snapshot(&snap).expect("save snapshot");
        out.push((label, id.to_hex(), shown));
    }
    drop(repo);
    lib.push(env);
    out
}

#[test]
fn hostile_tree_names_are_refused_before_writing() {
    let st = Stored::new();
    let env = &st.env;
    let hostile = plant_hostile_snapshots(env);
    for (i, (label, id, shown)) in hostile.iter().enumerate() {
        let area = env.path().join(format!("area-{i}"));
        std::fs::create_dir(&area).expect("mkdir");
        let target = area.join("target");
        let env_before: Vec<_> = std::fs::read_dir(env.path()).expect("read_dir").map(|e| e.expect("entry").file_name()).collect();

        let run = env.snap(["restore", id, "--target", &s(&target)]);
        assert_fails(&run, 1, &["unsafe entry name"]);
        // Nothing outside the target, and nothing inside it either.
        let left = listing(&area);
        assert!(left.is_empty() || (left.len() == 1 && left.contains_key(Path::new("target"))), "{label}: restore created {:?}", left.keys().collect::<Vec<_>>());
        assert!(!env.path().join("escaped").exists() && !env.path().join("a").exists(), "{label}: restore wrote outside its target");
        let mut env_after: Vec<_> = std::fs::read_dir(env.path()).expect("read_dir").map(|e| e.expect("entry").file_name()).collect();
        env_after.retain(|n| !env_before.contains(n));
        assert!(env_after.is_empty(), "{label}: restore created {env_after:?} next to its target");

        // ls and dump fail too, and never print the hostile name as an entry.
        let run = env.snap(["ls", id]);
        assert_fails(&run, 1, &["unsafe entry name"]);
        for line in run.stdout.lines() {
            assert_eq!(line, "/x", "{label}: ls printed {line:?} (hostile name {shown:?})");
        }
        let run = env.snap(["dump", id, "/"]);
        assert_fails(&run, 1, &["unsafe entry name"]);
    }
    // The good snapshot is unaffected, and backups still work next to the hostile snapshots.
    st.assert_intact();
    let again = env.backup(&[&st.src]);
    let target = env.restore(&again, "after-hostile");
    assert_same_tree(&st.src, &restored(&target, &st.src));
}

// ---------------------------------------------------------------------------------------------
// 13. A closed output pipe → quiet exit
// ---------------------------------------------------------------------------------------------

/// Runs `snap ARGS | head -c 10` under bash; returns (snap's exit status, snap's stderr, what head
/// printed).
fn piped_into_head(env: &Env, args: &[String]) -> (i32, String, Vec<u8>) {
    let errf = env.path().join("pipe-stderr");
    let script = r#""$SNAP_BIN" "$@" 2>"$SNAP_ERR" | head -c 10 > "$SNAP_HEAD"; echo "${PIPESTATUS[0]}""#;
    let headf = env.path().join("pipe-head");
    let out = with_snap_env(env, "bash")
        .env("SNAP_BIN", env!("CARGO_BIN_EXE_snap"))
        .env("SNAP_ERR", &errf)
        .env("SNAP_HEAD", &headf)
        .arg("-c")
        .arg(script)
        .arg("bash")
        .args(args)
        .output()
        .expect("run bash");
    let code: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let err = std::fs::read_to_string(&errf).expect("read stderr");
    (code, err, std::fs::read(&headf).expect("read head"))
}

#[test]
fn closed_output_pipe_ends_quietly() {
    let st = Stored::new();
    let env = &st.env;
    let src = env.path().join("pipe-src");
    std::fs::create_dir_all(src.join("many")).expect("mkdir");
    let big = pseudo_random(8 * 1024 * 1024, 77);
    std::fs::write(src.join("big.bin"), &big).expect("write");
    for i in 0..3000 {
        std::fs::write(src.join(format!("many/entry-{i:05}-with-a-rather-long-name-to-fill-the-pipe")), b"").expect("write");
    }
    let id = env.backup(&[&src]);
    let cases: Vec<(&str, Vec<String>, Option<&[u8]>)> = vec![
        ("dump of a file", vec!["dump".into(), id.clone(), format!("{}/big.bin", s(&src))], Some(&big[..10])),
        ("dump of a directory as tar", vec!["dump".into(), id.clone(), s(&src)], None),
        ("ls", vec!["ls".into(), id.clone()], None),
        ("ls --long", vec!["ls".into(), "--long".into(), id.clone()], None),
    ];
    for (what, args, head) in cases {
        let (code, err, got) = piped_into_head(env, &args);
        assert!(err.is_empty(), "{what}: snap wrote to stderr on a closed pipe: {err:?}");
        assert!(code == 0 || code == 141, "{what}: snap exited {code} on a closed pipe");
        assert_eq!(got.len(), 10, "{what}");
        if let Some(h) = head {
            assert_eq!(got, h, "{what}");
        }
    }
    st.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// 14. A file growing while it is read → exit 0 with a warning, a consistent prefix stored
// ---------------------------------------------------------------------------------------------

#[test]
fn file_growing_during_backup_is_stored_consistently() {
    use std::io::Write;
    let st = Stored::new();
    let env = &st.env;
    let src = env.path().join("grow-src");
    std::fs::create_dir(&src).expect("mkdir");
    let grow = src.join("grow.log");
    std::fs::write(&grow, pseudo_random(50 * 1024 * 1024, 91)).expect("write");
    std::fs::write(src.join("still.txt"), b"does not change\n").expect("write");

    // Appends 64 KiB every 2 ms (~32 MB/s) until told to stop: every read of the file sees it grow.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let grow = grow.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().append(true).open(&grow).expect("open");
            let mut seed = 1000;
            while !stop.load(Ordering::Relaxed) {
                f.write_all(&pseudo_random(64 * 1024, seed)).expect("append");
                seed += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    let run = env.snap(["backup", "--json", &s(&src)]);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    // A changing file is not an unreadable one: exit 0, one warning line naming it.
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", run.stderr);
    assert!(lines[0].starts_with("warning: ") && lines[0].contains(&s(&grow)) && lines[0].contains("changed while being read"), "{:?}", lines[0]);
    let out = run.json();
    assert_eq!(out["warnings"].as_array().map(Vec::len), Some(1));
    let id = out["snapshot_id"].as_str().expect("id").to_string();

    // The stored version is a prefix of the final file, of exactly the recorded size.
    let listed = env.snap(["ls", "--json", &id]).ok().json();
    let entry = listed.as_array().expect("array").iter().find(|e| e["path"].as_str() == Some(&s(&grow))).expect("grow.log listed").clone();
    let size = entry["size"].as_u64().expect("size");
    let target = env.restore(&id, "grow-restore");
    let back = std::fs::read(restored(&target, &grow)).expect("read restored");
    assert_eq!(back.len() as u64, size, "restored size differs from the recorded one");
    let now = std::fs::read(&grow).expect("read");
    assert!(size >= 50 * 1024 * 1024 && size <= now.len() as u64, "size {size} outside [50 MiB, {}]", now.len());
    assert!(back == now[..back.len()], "the stored bytes are not a prefix of the file");
    assert_eq!(std::fs::read(restored(&target, &src.join("still.txt"))).expect("read"), b"does not change\n");
    st.assert_intact();
}

// ---------------------------------------------------------------------------------------------
// 15. Untrusted input stays bounded (issue 7 §2): oversized files of every kind, hostile key
//     files, empty passwords, SNAP_PASSWORD kept from children, versions a reader must refuse
// ---------------------------------------------------------------------------------------------

/// Peak resident memory a `snap` run may reach while facing hostile files; a normal run stays
/// far below it, and the hostile inputs below would take it to gigabytes.
const RSS_LIMIT_KIB: u64 = 400 * 1024;

/// Size of the sparse files planted below: 10 GiB that cost no disk.
const HUGE: u64 = 10 << 30;

/// Runs `c` and returns what it did with its peak resident memory in KiB (from `wait4`, which
/// reports on this one child, not on the other tests' children). A run still going after
/// `deadline` is killed and the test fails: a generous guard against a run that would take
/// hours, not a timing assertion.
#[allow(clippy::zombie_processes, reason = "the child is reaped by wait4 below, which also reports its peak memory")]
fn run_measured(mut c: Command, deadline: Duration) -> (Run, u64) {
    use std::io::Read;
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn snap");
    let pipe = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = pipe(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = pipe(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let pid = i32::try_from(child.id()).expect("pid");
    let start = Instant::now();
    let mut status = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    loop {
        // SAFETY: waits for our own child with valid pointers; WNOHANG never blocks.
        let r = unsafe { libc::wait4(pid, &mut status, if killed { 0 } else { libc::WNOHANG }, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if start.elapsed() > deadline {
            // SAFETY: the child has not been reaped yet, so the pid is still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let run = Run {
        code: if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 },
        stdout: String::from_utf8_lossy(&out.join().expect("stdout")).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().expect("stderr")).into_owned(),
        raw_stdout: Vec::new(),
    };
    assert!(!killed, "snap was still running after {deadline:?} and was killed: {run:?}");
    let rss_kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    assert!(rss_kib > 1024, "implausible peak memory {rss_kib} KiB: the measurement is broken");
    (run, rss_kib)
}

/// `snap ARGS` in `env`, measured (see [`run_measured`]), asserting bounded memory.
#[track_caller]
fn snap_bounded(env: &Env, args: &[String], what: &str) -> Run {
    let mut c = env.cmd();
    c.args(args);
    let (run, rss) = run_measured(c, Duration::from_secs(120));
    assert!(rss < RSS_LIMIT_KIB, "`snap {}` with {what} peaked at {} MiB: {run:?}", args.join(" "), rss / 1024);
    run
}

/// A 64-hex name sorting before every real one.
const FIRST_NAME: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn sparse(path: &Path, len: u64) {
    std::fs::File::create(path).expect("create sparse file").set_len(len).expect("set_len");
}

/// The commands issue 7 measured: list, back up, check.
fn list_backup_check(st: &Stored) -> Vec<Vec<String>> {
    vec![vec!["snapshots".into()], vec!["backup".into(), s(&st.src)], vec!["check".into()]]
}

#[test]
fn oversized_config_is_refused_in_bounded_memory() {
    let st = Stored::new();
    let env = &st.env;
    let config = env.repo().join("config");
    let saved = std::fs::read(&config).expect("read config");
    sparse(&config, HUGE);
    for args in list_backup_check(&st) {
        let run = snap_bounded(env, &args, "a 10 GiB config");
        assert_fails(&run, 1, &["config", "10737418240 bytes", "more than the 64 KiB the config file may have"]);
    }
    std::fs::write(&config, saved).expect("restore config");
    st.assert_intact();
}

#[test]
fn oversized_key_file_is_skipped_in_bounded_memory() {
    let st = Stored::new();
    let env = &st.env;
    sparse(&env.repo().join("keys").join(FIRST_NAME), HUGE);
    // A file that is not named like a key file is not even looked at.
    sparse(&env.repo().join("keys").join("junk"), HUGE);
    for args in list_backup_check(&st) {
        let run = snap_bounded(env, &args, "a 10 GiB key file");
        if args[0] == "check" {
            // The genuine key opens the repository; check lists the damaged one as an error.
            assert_eq!(run.code, 1, "{run:?}");
            assert!(run.stderr.contains("error: key file 00000000") && run.stderr.contains("more than the 64 KiB a key file may have"), "{run:?}");
        } else {
            run.ok();
        }
    }
    // Alone, it is named as damaged: no key file could be tried, so the password is not "wrong".
    let genuine = env.repo().join(genuine_key(env));
    let aside = env.path().join("genuine-key");
    std::fs::rename(&genuine, &aside).expect("move key aside");
    let run = snap_bounded(env, &["snapshots".to_string()], "only a 10 GiB key file");
    assert_fails(&run, 1, &["key file", FIRST_NAME, "is damaged", "more than the 64 KiB a key file may have"]);
    std::fs::rename(&aside, &genuine).expect("restore key");
    st.assert_intact();
}

#[test]
fn oversized_lock_file_is_handled_in_bounded_memory() {
    let st = Stored::new();
    let env = &st.env;
    sparse(&env.repo().join("locks").join(FIRST_NAME), HUGE);
    for args in list_backup_check(&st) {
        let run = snap_bounded(env, &args, "a 10 GiB lock file");
        // Proceeding (a lock that cannot be read blocks no shared lock) or refusing are both
        // fine, as long as a refusal names the file.
        if run.code != 0 {
            assert!(run.stderr.contains(FIRST_NAME) && run.stderr.contains("more than the 64 KiB a lock file may have"), "{run:?}");
        }
    }
    std::fs::remove_file(env.repo().join("locks").join(FIRST_NAME)).expect("remove lock");
    st.assert_intact();
}

/// An oversized file in `dir` (index/ or snapshots/): every command that reads it says which
/// file and why, in bounded memory. (Whether it then skips the file or stops is not decided
/// here.)
fn oversized_in(dir: &str, limit: &str, readers: &[&str]) {
    let st = Stored::new();
    let env = &st.env;
    let path = env.repo().join(dir).join(FIRST_NAME);
    sparse(&path, HUGE);
    for args in list_backup_check(&st) {
        let run = snap_bounded(env, &args, &format!("a 10 GiB file in {dir}/"));
        let said = format!("{}{}", run.stdout, run.stderr);
        let named = said.contains(&format!("{dir}/{FIRST_NAME}: 10737418240 bytes, more than the {limit}"));
        if readers.contains(&args[0].as_str()) {
            assert!(named, "`snap {}` did not name the oversized file: {run:?}", args.join(" "));
        } else if run.code != 0 {
            assert!(named, "`snap {}` failed without naming the oversized file: {run:?}", args.join(" "));
        }
    }
    std::fs::remove_file(&path).expect("remove");
    st.assert_intact();
}

#[test]
fn oversized_index_file_is_refused_in_bounded_memory() {
    oversized_in("index", "64 MiB an index file may have", &["backup", "check"]);
}

#[test]
fn oversized_snapshot_file_is_refused_in_bounded_memory() {
    oversized_in("snapshots", "8 MiB a snapshot file may have", &["snapshots", "backup", "check"]);
}

/// The stored path (`keys/…`) of the repository's one genuine key file.
fn genuine_key(env: &Env) -> String {
    let mut keys: Vec<String> = env.raw().list("keys/").into_iter().map(|(p, _)| p).collect();
    keys.retain(|p| p.matches('/').count() == 1 && file_name(p).len() == 64 && file_name(p) != FIRST_NAME);
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys.remove(0)
}

/// Plants a well-formed key file with the given Argon2id parameters, named by its BLAKE3 as the
/// spec says and ground to sort before the genuine key, so a reader tries it first.
fn plant_key(env: &Env, memory_kib: u64, iterations: u64, parallelism: u64) -> PathBuf {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let genuine = file_name(&genuine_key(env)).to_string();
    for n in 0u32.. {
        let json = serde_json::json!({
            "version": 1, "kdf": "argon2id", "memory_kib": memory_kib, "iterations": iterations, "parallelism": parallelism,
            "salt": b64.encode([7u8; 32]), "data": b64.encode(pseudo_random(72, 5)), "planted": n,
        });
        let bytes = serde_json::to_vec_pretty(&json).expect("json");
        let name = blake3::hash(&bytes).to_hex().to_string();
        if name < genuine {
            let path = env.repo().join("keys").join(name);
            std::fs::write(&path, bytes).expect("plant key");
            return path;
        }
    }
    unreachable!()
}

#[test]
fn hostile_key_files_are_refused_before_the_kdf() {
    let st = Stored::new();
    let env = &st.env;
    // Each would make the KDF allocate 4 GiB, try to allocate 4 TiB and abort, or run for hours.
    for (m, t, p) in [(4_194_304, 3, 1), (4_294_967_295, 3, 1), (8, 4_294_967_295, 1)] {
        let planted = plant_key(env, m, t, p);
        let what = format!("a planted key file asking for {m} KiB and {t} passes");
        let run = snap_bounded(env, &["snapshots".into(), "--json".into()], &what).ok();
        assert!(run.stdout.contains(&st.id), "{run:?}");
        snap_bounded(env, &["backup".into(), s(&st.src)], &what).ok();
        // With a wrong password the genuine key is still tried, so the password is wrong.
        let wrong = env.path().join("wrong-password");
        std::fs::write(&wrong, "not the password\n").expect("write");
        let mut c = env.cmd();
        c.env("SNAP_PASSWORD_FILE", &wrong).arg("snapshots");
        let (run, rss) = run_measured(c, Duration::from_secs(120));
        assert!(rss < RSS_LIMIT_KIB, "{what}: {} MiB", rss / 1024);
        assert_fails(&run, 12, &["wrong password"]);
        std::fs::remove_file(planted).expect("remove planted key");
    }
    // `init` refuses such parameters itself, before it creates anything.
    let fresh = Env::new();
    for (flag, value) in [("--kdf-memory-kib", "4194304"), ("--kdf-iterations", "4294967295"), ("--kdf-memory-kib", "4")] {
        let run = fresh.snap(["init", flag, value]);
        assert_fails(&run, 1, &["Argon2id", value, "outside the accepted"]);
        assert!(!fresh.repo().exists(), "init {flag} {value} created the repository");
    }
    st.assert_intact();
}

fn damaged_key_file_is_named_not_a_wrong_password(store: Store) {
    let st = Stored::on(store);
    let env = &st.env;
    let genuine = genuine_key(env);
    let bytes = env.raw().read(&genuine);
    let name = file_name(&genuine).to_string();
    let damages: Vec<(&str, Vec<u8>, &str)> = vec![
        ("a flipped byte", { let mut b = bytes.clone(); b[20] ^= 1; b }, "content does not match its name"),
        ("a truncation", bytes[..bytes.len() / 2].to_vec(), "content does not match its name"),
    ];
    for (what, damaged, reason) in damages {
        overwrite(env, &genuine, &damaged);
        let run = env.snap(["snapshots"]);
        assert_fails(&run, 1, &["key file", &name, "is damaged", reason]);
        assert!(!run.stderr.contains("wrong password"), "{what}: {run:?}");
    }
    // Well-formed JSON named by its hash, but not a key file: damaged too.
    env.raw().delete(&genuine);
    let junk = br#"{"hello": "world"}"#;
    let junk_name = blake3::hash(junk).to_hex().to_string();
    overwrite(env, &format!("keys/{junk_name}"), junk);
    let run = env.snap(["snapshots"]);
    assert_fails(&run, 1, &["key file", &junk_name, "is damaged", "not a key file"]);
    // Next to the genuine key a damaged one changes nothing, and a wrong password is still wrong.
    overwrite(env, &genuine, &bytes);
    env.snap(["snapshots"]).ok();
    let wrong = env.path().join("wrong-password");
    std::fs::write(&wrong, "not the password\n").expect("write");
    let run: Run = env.cmd().env("SNAP_PASSWORD_FILE", &wrong).arg("snapshots").output().expect("run").into();
    assert_fails(&run, 12, &["wrong password"]);
    st.assert_intact();
}

/// A password source in a test: what it is, how it is set on a command, what the error names.
type PasswordSource<'a> = (&'a str, Box<dyn Fn(&mut Command) + 'a>, &'a str);

#[test]
fn empty_passwords_are_refused_from_every_source() {
    let env = Env::new();
    let empty = env.path().join("empty-password");
    std::fs::write(&empty, "").expect("write");
    let newline = env.path().join("newline-password");
    std::fs::write(&newline, "\n").expect("write");
    let crlf = env.path().join("crlf-password");
    std::fs::write(&crlf, "\r\nsecond line\n").expect("write");
    let sources: Vec<PasswordSource> = vec![
        ("an empty file", Box::new(|c: &mut Command| { c.env("SNAP_PASSWORD_FILE", &empty); }), "password file"),
        ("a file holding a newline", Box::new(|c: &mut Command| { c.env("SNAP_PASSWORD_FILE", &newline); }), "password file"),
        ("a file whose first line is empty", Box::new(|c: &mut Command| { c.env("SNAP_PASSWORD_FILE", &crlf); }), "password file"),
        ("SNAP_PASSWORD=''", Box::new(|c: &mut Command| { c.env_remove("SNAP_PASSWORD_FILE").env("SNAP_PASSWORD", ""); }), "SNAP_PASSWORD"),
        ("--password-command true", Box::new(|c: &mut Command| { c.env_remove("SNAP_PASSWORD_FILE").args(["--password-command", "true"]); }), "password command"),
    ];
    for (what, set, says) in &sources {
        let mut c = env.cmd();
        set(&mut c);
        let run: Run = without_terminal(c.args(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"])).output().expect("run").into();
        assert_fails(&run, 1, &["empty password", says]);
        assert!(!env.repo().exists(), "init with {what} created a repository");
    }
    // An existing repository is not tried with one either.
    env.snap(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]).ok();
    for (_, set, says) in &sources {
        let mut c = env.cmd();
        set(&mut c);
        let run: Run = without_terminal(c.arg("snapshots")).output().expect("run").into();
        assert_fails(&run, 1, &["empty password", says]);
    }
}

#[test]
fn snap_password_is_not_inherited_by_children() {
    let env = Env::with_repo();
    let with_env_password = || {
        let mut c = env.cmd();
        c.env_remove("SNAP_PASSWORD_FILE").env("SNAP_PASSWORD", PASSWORD);
        c
    };
    // A dump command sees no SNAP_PASSWORD.
    let run: Run = with_env_password()
        .args(["backup", "--json", "--stdin-from-command", "--stdin-filename", "env.txt", "--", "sh", "-c", r#"printf %s "${SNAP_PASSWORD-unset}""#])
        .output()
        .expect("run")
        .into();
    let id = run.ok().json()["snapshot_id"].as_str().expect("snapshot id").to_string();
    let dumped = with_env_password().args(["dump", &id, "/env.txt"]).output().expect("run");
    assert_eq!(String::from_utf8_lossy(&dumped.stdout), "unset", "{dumped:?}");
    // Nor does the password command: were it to see this wrong SNAP_PASSWORD, it would print it.
    let cmd = format!(r#"printf '%s\n' "${{SNAP_PASSWORD:-{PASSWORD}}}""#);
    let run: Run = env.cmd().env_remove("SNAP_PASSWORD_FILE").env("SNAP_PASSWORD", "wrong").args(["--password-command", &cmd, "snapshots", "--json"]).output().expect("run").into();
    assert_eq!(run.ok().json().as_array().map(Vec::len), Some(1));
}

fn snapshot_of_another_version_is_refused(store: Store) {
    let st = Stored::on(store);
    let env = &st.env;
    let lib = LibRepo::new(env);
    let repo = Repository::open(lib.backend(), PASSWORD.as_bytes(), &env.cache()).expect("open repository");
    let mut future = repo.load_snapshot(&st.id.parse().expect("id")).expect("load");
    future.version = 2;
    future.time = "2030-01-01T00:00:00Z".into();
    let id = repo.save_snapshot(&future).expect("save snapshot");
    let err = repo.load_snapshot(&id).expect_err("a version 2 snapshot must be refused");
    assert_eq!(err.to_string(), format!("snapshot {id}: unsupported snapshot version 2 (this snap reads version 1)"));
    drop(repo);
    lib.push(env);
    // Never listed as a snapshot, and named with the reason wherever it is met.
    let run = env.snap(["snapshots", "--json"]);
    assert!(!run.stdout.contains(&id.to_hex()), "{run:?}");
    assert!(run.stderr.contains(&id.to_hex()) && run.stderr.contains("unsupported snapshot version 2"), "{run:?}");
    let run = env.snap(["check"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains(&id.to_hex()) && run.stderr.contains("unsupported snapshot version 2"), "{run:?}");
}

fn config_whose_settings_version_differs_is_refused(store: Store) {
    let st = Stored::on(store);
    let env = &st.env;
    let saved = env.raw().read("config");
    let lib = LibRepo::new(env);
    let repo = Repository::open(lib.backend(), PASSWORD.as_bytes(), &env.cache()).expect("open repository");
    let mut settings = repo.config().clone();
    settings.version = 3;
    let json = serde_json::to_vec(&settings).expect("json");
    let sealed = repo.keys().seal(snap::crypto::aad::CONFIG, &json).expect("seal");
    drop(repo);
    lib.push(env);
    overwrite(env, "config", &snap::format::config::join_config(&sealed));
    let loc = env.location();
    for args in [vec!["snapshots"], vec!["backup", &s(&st.src)], vec!["check"]] {
        let run = env.snap(&args);
        assert_fails(&run, 1, &["config", &loc, "is damaged", "sealed settings say version 3", "cleartext header says version 2"]);
    }
    overwrite(env, "config", &saved);
    st.assert_intact();
}

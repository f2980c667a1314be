//! Restoring onto a live target (issue 12): what an existing entry gets under each `--overwrite`
//! mode, `--delete`, `--verify`, `--dry-run`, resuming an interrupted restore, links already in
//! the target, and owners, special bits, devices and capabilities as root and as another user.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use filetime::FileTime;
use serde_json::Value;

use crate::util::{assert_contains, assert_same_tree, expect_code, pseudo_random, restored, s, write, Env, Run};

/// Every file and link of [`server_tree`] gets this mtime (plus its index); directories a fixed
/// older one.
const BASE_TIME: i64 = 1_600_000_000;

fn set_mtime(p: &Path, secs: i64) {
    filetime::set_symlink_file_times(p, FileTime::from_unix_time(secs, 0), FileTime::from_unix_time(secs, 0)).expect("utimes");
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A small server directory: two config files, a binary of several chunks, a note, an empty
/// file and a link; fixed times everywhere. 3 directories (srv, etc, data), 5 files, 1 link.
fn server_tree(env: &Env) -> PathBuf {
    let src = env.path().join("srv");
    write(&src.join("etc/app.conf"), b"port = 8080\n");
    write(&src.join("etc/users.list"), b"alice\nbob\n");
    write(&src.join("data/blob.bin"), &pseudo_random(3 << 20, 5));
    write(&src.join("data/notes.txt"), b"remember the milk\n");
    write(&src.join("empty"), b"");
    std::os::unix::fs::symlink("etc/app.conf", src.join("current.conf")).expect("symlink");
    for (i, f) in ["etc/app.conf", "etc/users.list", "data/blob.bin", "data/notes.txt", "empty", "current.conf"].iter().enumerate() {
        set_mtime(&src.join(f), BASE_TIME + i as i64);
    }
    for d in ["etc", "data", ""] {
        set_mtime(&src.join(d), BASE_TIME - 1000);
    }
    src
}

/// Bytes of [`server_tree`]'s files.
const TREE_BYTES: u64 = (3 << 20) + 12 + 10 + 18;

/// `snap restore ID --target T --json EXTRA...`, which must succeed.
fn restore_json(env: &Env, id: &str, target: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["restore".to_string(), id.to_string(), "--target".into(), s(target), "--json".into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    env.snap(&args).ok().json()
}

/// The number of entries the snapshot of `src` has: its ancestors, then [`server_tree`]'s 9.
fn entries_of(src: &Path) -> u64 {
    src.ancestors().count() as u64 - 2 + 9
}

/// The snapshot path of `rel` below `src` (as restore reports it).
fn sp(src: &Path, rel: &str) -> String {
    if rel.is_empty() { s(src) } else { format!("{}/{rel}", s(src)) }
}

/// The actions of a dry run that are not "keep", as (path, kind, action, reason).
fn changes(v: &Value) -> BTreeSet<(String, String, String, String)> {
    let str_of = |a: &Value, k: &str| a[k].as_str().unwrap_or_else(|| panic!("{k} in {a}")).to_string();
    v["actions"].as_array().expect("actions").iter().filter(|a| a["action"] != "keep").map(|a| (str_of(a, "path"), str_of(a, "kind"), str_of(a, "action"), str_of(a, "reason"))).collect()
}

fn change(path: String, kind: &str, action: &str, reason: &str) -> (String, String, String, String) {
    (path, kind.to_string(), action.to_string(), reason.to_string())
}

/// The counters of a restore's JSON: (written, updated, unchanged, deleted, bytes_written).
fn counts(v: &Value) -> (u64, u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    (n("written"), n("updated"), n("unchanged"), n("deleted"), n("bytes_written"))
}

/// Everything about one entry that a restore could change.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: String,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    ino: u64,
    content: Vec<u8>,
    link: Option<PathBuf>,
}

/// Every entry under `root` (itself included), not following links.
fn listing(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, p: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let Ok(m) = fs::symlink_metadata(p) else { return };
        let ft = m.file_type();
        let kind = if ft.is_dir() { "dir" } else if ft.is_symlink() { "link" } else if ft.is_file() { "file" } else { "other" };
        out.insert(
            p.strip_prefix(root).expect("under root").to_path_buf(),
            Entry {
                kind: kind.into(),
                mode: m.mode(),
                uid: m.uid(),
                gid: m.gid(),
                size: if ft.is_dir() { 0 } else { m.len() },
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
                ino: m.ino(),
                content: if ft.is_file() { fs::read(p).expect("read") } else { Vec::new() },
                link: fs::read_link(p).ok(),
            },
        );
        if ft.is_dir() {
            for e in fs::read_dir(p).expect("read_dir").flatten() {
                walk(root, &e.path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_repeated_restore_writes_nothing_and_touches_no_inode() {
    let env = Env::with_repo();
    let src = server_tree(&env);
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    let entries = entries_of(&src);
    let first = restore_json(&env, &id, &target, &[]);
    assert_eq!(counts(&first), (entries, 0, 0, 0, TREE_BYTES), "{first}");
    assert_eq!(first["dirs"].as_u64().unwrap() + first["files"].as_u64().unwrap() + first["links"].as_u64().unwrap(), entries, "{first}");
    assert_eq!(first["dry_run"], false);
    assert_eq!(first["verified"], 0);
    assert_same_tree(&src, &restored(&target, &src));
    let before = listing(&target);
    let again = restore_json(&env, &id, &target, &[]);
    assert_eq!(counts(&again), (0, 0, entries, 0, 0), "a repeated restore wrote something: {again}");
    assert_eq!(again["errors"], serde_json::json!([]));
    // Not a byte, not a chmod, not a rename: every inode and ctime is as it was.
    let after = listing(&target);
    assert!(before == after, "a repeated restore changed the target:\nbefore {before:?}\nafter {after:?}");
}

#[test]
fn a_changed_file_is_rewritten_byte_exact_and_only_it() {
    let env = Env::with_repo();
    let src = server_tree(&env);
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    restore_json(&env, &id, &target, &[]);
    let out = restored(&target, &src);
    // Same size and mtime, other content: only the chunk ids can tell.
    let mut blob = fs::read(out.join("data/blob.bin")).unwrap();
    blob[(2 << 20) + 17] ^= 0xff;
    fs::write(out.join("data/blob.bin"), &blob).unwrap();
    set_mtime(&out.join("data/blob.bin"), BASE_TIME + 2);
    // Another size, same mtime.
    fs::write(out.join("etc/app.conf"), b"port = 9090 # changed\n").unwrap();
    set_mtime(&out.join("etc/app.conf"), BASE_TIME);
    // Only the mode.
    chmod(&out.join("data/notes.txt"), 0o600);
    let before = listing(&out);

    let dry = restore_json(&env, &id, &target, &["--dry-run"]);
    let expected = BTreeSet::from([
        change(sp(&src, "data/blob.bin"), "file", "write", "changed"),
        change(sp(&src, "etc/app.conf"), "file", "write", "changed"),
        change(sp(&src, "data/notes.txt"), "file", "update", "metadata"),
    ]);
    assert_eq!(changes(&dry), expected, "{dry}");

    let run = restore_json(&env, &id, &target, &[]);
    assert_eq!(counts(&run), (2, 1, entries_of(&src) - 3, 0, (3 << 20) + 12), "{run}");
    assert_same_tree(&src, &out);
    let after = listing(&out);
    let ino = |l: &BTreeMap<PathBuf, Entry>, p: &str| l[Path::new(p)].ino;
    assert_ne!(ino(&before, "data/blob.bin"), ino(&after, "data/blob.bin"), "blob.bin was rewritten through a new file");
    assert_ne!(ino(&before, "etc/app.conf"), ino(&after, "etc/app.conf"));
    assert_eq!(ino(&before, "data/notes.txt"), ino(&after, "data/notes.txt"), "a mode change is made in place");
    assert_eq!(after[Path::new("data/notes.txt")].mode & 0o7777, 0o644);
    for untouched in ["etc/users.list", "empty", "current.conf"] {
        assert!(before[Path::new(untouched)] == after[Path::new(untouched)], "{untouched} was touched");
    }
}

#[test]
fn overwrite_never_if_newer_if_changed_and_always_decide_exactly() {
    let env = Env::with_repo();
    let src = server_tree(&env);
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    restore_json(&env, &id, &target, &[]);
    let out = restored(&target, &src);
    // x: changed locally, older than the snapshot's; y: changed locally, newer; z: gone.
    fs::write(out.join("etc/app.conf"), b"x-local\n").unwrap();
    set_mtime(&out.join("etc/app.conf"), 1_000_000_000);
    fs::write(out.join("etc/users.list"), b"y-local\n").unwrap();
    set_mtime(&out.join("etc/users.list"), 2_000_000_000);
    fs::remove_file(out.join("data/notes.txt")).unwrap();
    let (x, y, z) = (sp(&src, "etc/app.conf"), sp(&src, "etc/users.list"), sp(&src, "data/notes.txt"));
    let decisions = |mode: &str| -> BTreeMap<String, (String, String)> {
        let v = restore_json(&env, &id, &target, &["--dry-run", mode]);
        v["actions"].as_array().unwrap().iter().filter(|a| [&x, &y, &z].iter().any(|p| a["path"] == p.as_str())).map(|a| (a["path"].as_str().unwrap().to_string(), (a["action"].as_str().unwrap().to_string(), a["reason"].as_str().unwrap().to_string()))).collect()
    };
    let d = |pairs: [(&str, &str); 3]| -> BTreeMap<String, (String, String)> { [&x, &y, &z].into_iter().zip(pairs).map(|(p, (a, r))| (p.clone(), (a.to_string(), r.to_string()))).collect() };
    assert_eq!(decisions("--overwrite=never"), d([("keep", "exists"), ("keep", "exists"), ("write", "new")]));
    assert_eq!(decisions("--overwrite=if-newer"), d([("write", "newer"), ("keep", "not-newer"), ("write", "new")]));
    assert_eq!(decisions("--overwrite=if-changed"), d([("write", "changed"), ("write", "changed"), ("write", "new")]));
    assert_eq!(decisions("--overwrite=always"), d([("write", "always"), ("write", "always"), ("write", "new")]));

    let run = restore_json(&env, &id, &target, &["--overwrite=never"]);
    assert_eq!(run["written"], 1, "never writes only what is missing: {run}");
    assert_eq!(fs::read(out.join("etc/app.conf")).unwrap(), b"x-local\n");
    assert_eq!(fs::read(out.join("etc/users.list")).unwrap(), b"y-local\n");
    assert_eq!(fs::read(out.join("data/notes.txt")).unwrap(), b"remember the milk\n");

    let run = restore_json(&env, &id, &target, &["--overwrite=if-newer"]);
    assert_eq!(run["written"], 1, "if-newer replaces only the older file: {run}");
    assert_eq!(fs::read(out.join("etc/app.conf")).unwrap(), b"port = 8080\n");
    assert_eq!(fs::read(out.join("etc/users.list")).unwrap(), b"y-local\n");

    // `--overwrite` alone means always (and leaves the snapshot argument where it is).
    let run: Run = env.snap(["restore", "--overwrite", &id, "--target", &s(&target), "--json"]).ok();
    let v = run.json();
    assert_eq!(v["written"], 6, "always rewrites every file and link: {v}");
    assert_eq!(v["bytes_written"], TREE_BYTES);
    assert_same_tree(&src, &out);
    // A mode given without `=` is not taken for the snapshot.
    let run = env.snap(["restore", &id, "--target", &s(&target), "--overwrite", "never"]);
    expect_code(&run, 2, "--overwrite never without =");
}

#[test]
fn delete_removes_exactly_what_the_snapshot_lacks_and_nothing_outside() {
    let env = Env::with_repo();
    let src = server_tree(&env);
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    restore_json(&env, &id, &target, &[]);
    let out = restored(&target, &src);
    let outside = env.path().join("outside");
    write(&outside.join("precious.txt"), b"not yours\n");
    write(&out.join("extra.txt"), b"extra\n");
    write(&out.join("newdir/f1"), b"1\n");
    write(&out.join("newdir/deeper/f2"), b"2\n");
    write(&out.join("etc/app.conf.bak"), b"old\n");
    write(&out.join("keep.log"), b"excluded, so never deleted\n");
    std::os::unix::fs::symlink(&outside, out.join("link-out")).unwrap();
    std::os::unix::fs::symlink("../etc", out.join("data/link-in")).unwrap();
    // Beside the snapshot's path, not below it: not the snapshot's to judge.
    let sibling = out.parent().unwrap().join("sibling.txt");
    write(&sibling, b"beside srv\n");
    let outside_before = listing(&outside);

    // With --include only the included directory is cleaned.
    let etc_only = restore_json(&env, &id, &target, &["--delete", "--include", &sp(&src, "etc")]);
    assert_eq!(etc_only["deleted"], 1, "{etc_only}");
    assert!(!out.join("etc/app.conf.bak").exists());
    assert!(out.join("extra.txt").exists());

    let dry = restore_json(&env, &id, &target, &["--delete", "--exclude", "*.log", "--dry-run"]);
    let del = |rel: &str, kind: &str| change(sp(&src, rel), kind, "delete", "not-in-snapshot");
    let expected = BTreeSet::from([
        del("extra.txt", "file"),
        del("newdir", "dir"),
        del("newdir/f1", "file"),
        del("newdir/deeper", "dir"),
        del("newdir/deeper/f2", "file"),
        del("link-out", "symlink"),
        del("data/link-in", "symlink"),
        // Adding link-in changed data/'s mtime (srv/'s was put back by the run above, which
        // restored its ancestors too).
        change(sp(&src, "data"), "dir", "update", "metadata"),
    ]);
    assert_eq!(changes(&dry), expected, "{dry}");
    assert_eq!(dry["deleted"], 7);

    let run = restore_json(&env, &id, &target, &["--delete", "--exclude", "*.log"]);
    assert_eq!(counts(&run), (0, 1, entries_of(&src) - 1, 7, 0), "{run}");
    assert_eq!(fs::read(out.join("keep.log")).unwrap(), b"excluded, so never deleted\n");
    fs::remove_file(out.join("keep.log")).unwrap();
    set_mtime(&out, BASE_TIME - 1000);
    assert_same_tree(&src, &out);
    assert_eq!(fs::read(&sibling).unwrap(), b"beside srv\n");
    assert!(outside_before == listing(&outside), "something outside the target changed");
}

#[test]
fn a_dry_run_changes_nothing_and_lists_every_action() {
    let env = Env::with_repo();
    let src = server_tree(&env);
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    restore_json(&env, &id, &target, &[]);
    let out = restored(&target, &src);
    let mut blob = fs::read(out.join("data/blob.bin")).unwrap();
    blob[0] ^= 1;
    fs::write(out.join("data/blob.bin"), &blob).unwrap();
    set_mtime(&out.join("data/blob.bin"), BASE_TIME + 2);
    fs::remove_file(out.join("data/notes.txt")).unwrap();
    chmod(&out.join("etc/app.conf"), 0o600);
    write(&out.join("extra.txt"), b"extra\n");
    fs::remove_file(out.join("current.conf")).unwrap();
    std::os::unix::fs::symlink("elsewhere", out.join("current.conf")).unwrap();
    let before = listing(&env.path().join("t"));

    let dry = restore_json(&env, &id, &target, &["--dry-run", "--delete"]);
    let expected = BTreeSet::from([
        change(sp(&src, ""), "dir", "update", "metadata"),
        change(sp(&src, "current.conf"), "symlink", "write", "changed"),
        change(sp(&src, "data"), "dir", "update", "metadata"),
        change(sp(&src, "data/blob.bin"), "file", "write", "changed"),
        change(sp(&src, "data/notes.txt"), "file", "write", "new"),
        change(sp(&src, "etc/app.conf"), "file", "update", "metadata"),
        change(sp(&src, "extra.txt"), "file", "delete", "not-in-snapshot"),
    ]);
    assert_eq!(changes(&dry), expected, "{dry}");
    let entries = entries_of(&src);
    assert_eq!(counts(&dry), (3, 3, entries - 6, 1, (3 << 20) + 18), "{dry}");
    assert_eq!(dry["actions"].as_array().unwrap().len() as u64, entries + 1, "one action per entry and per deletion");
    assert_eq!(dry["dry_run"], true);
    assert!(before == listing(&env.path().join("t")), "a dry run changed the target");

    // The text form lists the same, one line each.
    let text = env.snap(["restore", &id, "--target", &s(&target), "--dry-run", "--delete"]).ok();
    assert_contains(&text.stdout, &format!("write   {} (file, changed)\n", sp(&src, "data/blob.bin")), "text dry run");
    assert_contains(&text.stdout, &format!("delete  {} (file, not-in-snapshot)\n", sp(&src, "extra.txt")), "text dry run");
    assert_contains(&text.stdout, "would write 3 entries (3.0 MiB), update 3, delete 1, leave ", "text summary");
    assert!(before == listing(&env.path().join("t")), "a text dry run changed the target");

    // Into a directory that does not exist: everything would be written, nothing is created.
    let fresh = env.path().join("fresh");
    let dry = restore_json(&env, &id, &fresh, &["--dry-run"]);
    assert_eq!(counts(&dry), (entries, 0, 0, 0, TREE_BYTES), "{dry}");
    assert!(dry["actions"].as_array().unwrap().iter().all(|a| a["action"] == "write" && a["reason"] == "new"), "{dry}");
    assert!(!fresh.exists(), "a dry run created its target");
}

#[test]
fn verify_reads_back_every_file_written_and_names_one_that_differs() {
    let env = Env::with_repo();
    let src = server_tree(&env);
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    let run = restore_json(&env, &id, &target, &["--verify"]);
    assert_eq!(run["verified"], 5, "{run}");
    let run = restore_json(&env, &id, &target, &["--verify"]);
    assert_eq!(run["verified"], 0, "nothing written, nothing to read back: {run}");

    // Damage a file between its write and the read-back (the restore waits at that point).
    let target = env.path().join("t2");
    let mut child = env
        .cmd()
        .args(["restore", &id, "--target", &s(&target), "--verify", "--json"])
        .env("SNAP_PAUSE_AT", "restore-verify")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn snap");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("paused at restore-verify") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "snap ended before it paused");
    }
    let blob = restored(&target, &src).join("data/blob.bin");
    let mut bytes = fs::read(&blob).unwrap();
    bytes[0] ^= 0x80;
    fs::write(&blob, &bytes).unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr: {rest}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], 5);
    let message = format!("{}: verify: read back, it differs from the snapshot in the chunk at byte 0", sp(&src, "data/blob.bin"));
    assert_eq!(v["errors"], serde_json::json!([message]));
    // Each failed entry on a line of its own; with --json the closing error is a JSON line.
    assert_eq!(rest, format!("error: {message}\n{{\"error\":\"1 entry could not be restored (listed above)\",\"exit_code\":1}}\n"));
    // The next restore puts it right.
    let run = restore_json(&env, &id, &target, &[]);
    assert_eq!(run["written"], 1, "{run}");
    assert_same_tree(&src, &restored(&target, &src));
}

#[test]
fn a_link_in_the_target_never_leads_a_restore_outside_it() {
    let env = Env::with_repo();
    let src = server_tree(&env);
    let id = env.backup(&[&src]);
    let outside = env.path().join("outside");
    write(&outside.join("marker.txt"), b"outside\n");
    let outside_before = listing(&outside);
    let target = env.path().join("t");
    let out = restored(&target, &src);
    fs::create_dir_all(&out).unwrap();
    // target/.../srv/etc -> outside, where the snapshot has a directory; a link to a file
    // outside where it has a file.
    std::os::unix::fs::symlink(&outside, out.join("etc")).unwrap();
    std::os::unix::fs::symlink(outside.join("marker.txt"), out.join("empty")).unwrap();

    let dry = restore_json(&env, &id, &target, &["--dry-run"]);
    let c = changes(&dry);
    assert!(c.contains(&change(sp(&src, "etc"), "dir", "write", "replaced")), "{dry}");
    assert!(c.contains(&change(sp(&src, "empty"), "file", "write", "replaced")), "{dry}");

    // Under --overwrite=never both links stay, with one warning for the directory's place.
    let run = env.snap(["restore", &id, "--target", &s(&target), "--overwrite=never"]).ok();
    assert_eq!(
        run.stderr,
        format!("snap: warning: {}: kept the symlink that stands where the snapshot has a directory (--overwrite never); nothing below it was restored\n", sp(&src, "etc"))
    );
    assert!(fs::symlink_metadata(out.join("etc")).unwrap().file_type().is_symlink());
    assert!(fs::symlink_metadata(out.join("empty")).unwrap().file_type().is_symlink());
    assert!(outside_before == listing(&outside), "a restore wrote through a link");

    // By default the links are replaced by what the snapshot has; nothing outside changes.
    let run = restore_json(&env, &id, &target, &[]);
    assert_eq!(run["errors"], serde_json::json!([]));
    assert!(fs::symlink_metadata(out.join("etc")).unwrap().is_dir());
    assert!(fs::symlink_metadata(out.join("empty")).unwrap().is_file());
    assert_same_tree(&src, &out);
    assert!(outside_before == listing(&outside), "a restore wrote through a link");

    // The same with the first component of the snapshot's path a link out of the target.
    let t2 = env.path().join("t2");
    fs::create_dir(&t2).unwrap();
    let first = src.components().nth(1).unwrap().as_os_str().to_os_string();
    std::os::unix::fs::symlink(&outside, t2.join(&first)).unwrap();
    restore_json(&env, &id, &t2, &[]);
    assert!(fs::symlink_metadata(t2.join(&first)).unwrap().is_dir());
    assert_same_tree(&src, &restored(&t2, &src));
    assert!(outside_before == listing(&outside), "a restore wrote through a link");
}

#[test]
fn an_interrupted_restore_resumes_writing_only_what_is_missing() {
    let env = Env::with_repo();
    let src = server_tree(&env);
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    restore_json(&env, &id, &target, &[]);
    let out = restored(&target, &src);
    // What an interruption leaves: one file short, one never written.
    fs::OpenOptions::new().write(true).open(out.join("data/blob.bin")).unwrap().set_len(1000).unwrap();
    fs::remove_file(out.join("data/notes.txt")).unwrap();
    let dry = restore_json(&env, &id, &target, &["--dry-run"]);
    let expected = BTreeSet::from([
        change(sp(&src, "data"), "dir", "update", "metadata"),
        change(sp(&src, "data/blob.bin"), "file", "write", "changed"),
        change(sp(&src, "data/notes.txt"), "file", "write", "new"),
    ]);
    assert_eq!(changes(&dry), expected, "{dry}");
    let run = restore_json(&env, &id, &target, &[]);
    assert_eq!(counts(&run), (2, 1, entries_of(&src) - 3, 0, (3 << 20) + 18), "{run}");
    assert_same_tree(&src, &out);
}

#[test]
fn a_restore_killed_mid_write_resumes_and_cleans_up_its_temporary_files() {
    let env = Env::with_repo();
    let src = env.path().join("many");
    for i in 0..200 {
        write(&src.join(format!("d{}/f{i:03}", i % 4)), format!("file {i}\n").repeat(50).as_bytes());
    }
    write(&src.join("big.bin"), &pseudo_random(6 << 20, 8));
    let id = env.backup(&[&src]);
    let target = env.path().join("t");
    let mut cmd = env.cmd();
    cmd.args(["restore", &id, "--target", &s(&target)]).env("SNAP_FAIL_AT", "restore-file");
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        });
    }
    let killed = cmd.output().unwrap();
    assert_eq!(killed.status.signal(), Some(libc::SIGABRT), "{killed:?}");
    // Under their final names only whole files; the rest are temporary files.
    let out = restored(&target, &src);
    let (mut complete, mut temps) = (0u64, 0u64);
    for (rel, e) in listing(&out) {
        if e.kind != "file" {
            continue;
        }
        if rel.file_name().unwrap().to_string_lossy().starts_with(".snap-tmp-") {
            temps += 1;
        } else {
            assert!(e.content == fs::read(src.join(&rel)).unwrap(), "{} is under its final name but not whole", rel.display());
            complete += 1;
        }
    }
    assert!(complete >= 1 && complete < 201, "{complete} complete files");
    let run = restore_json(&env, &id, &target, &[]);
    assert_eq!(run["written"], 201 - complete, "only the missing files are written: {run}");
    assert_eq!(run["deleted"], temps, "the temporary files of the killed restore are removed: {run}");
    assert!(listing(&target).keys().all(|p| !p.to_string_lossy().contains(".snap-tmp-")), "temporary files left");
    assert_same_tree(&src, &out);
}

/// Sets an extended attribute, not following links.
fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    xattr::set(p, name, value).unwrap_or_else(|e| panic!("setxattr {name} on {}: {e}", p.display()));
}

/// `security.capability` granting CAP_NET_BIND_SERVICE (revision 2, effective).
const CAP_NET_BIND_SERVICE: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// A tree with what only root can restore: other owners, setuid/setgid/sticky bits, a
/// capability, a FIFO and a device node.
fn privileged_tree(env: &Env) -> PathBuf {
    let src = env.path().join("sys");
    write(&src.join("bin/tool"), b"#!/bin/sh\necho tool\n");
    set_xattr(&src.join("bin/tool"), "security.capability", &CAP_NET_BIND_SERVICE);
    set_xattr(&src.join("bin/tool"), "user.origin", b"test");
    chmod(&src.join("bin/tool"), 0o4755);
    write(&src.join("home/alice/notes"), b"alice's\n");
    std::os::unix::fs::chown(src.join("home/alice/notes"), Some(1234), Some(2345)).unwrap();
    std::os::unix::fs::chown(src.join("home/alice"), Some(1234), Some(2345)).unwrap();
    chmod(&src.join("home/alice"), 0o750);
    fs::create_dir_all(src.join("shared")).unwrap();
    chmod(&src.join("shared"), 0o1777);
    fs::create_dir_all(src.join("group")).unwrap();
    std::os::unix::fs::chown(src.join("group"), None, Some(2345)).unwrap();
    chmod(&src.join("group"), 0o2775);
    fs::create_dir_all(src.join("dev")).unwrap();
    rustix::fs::mknodat(rustix::fs::CWD, src.join("dev/null-clone"), rustix::fs::FileType::CharacterDevice, rustix::fs::Mode::from_raw_mode(0o666), rustix::fs::makedev(1, 3)).expect("mknod");
    chmod(&src.join("dev/null-clone"), 0o666);
    fs::create_dir_all(src.join("run")).unwrap();
    rustix::fs::mknodat(rustix::fs::CWD, src.join("run/pipe"), rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o620), 0).expect("mkfifo");
    std::os::unix::fs::lchown(src.join("run/pipe"), Some(1234), Some(2345)).unwrap();
    chmod(&src.join("run/pipe"), 0o620);
    src
}

fn owner_mode(p: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[test]
fn owners_special_bits_devices_and_capabilities_are_restored_as_root_unless_switched_off() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = Env::with_repo();
    let src = privileged_tree(&env);
    let id = env.backup(&[&src]);

    let all = env.path().join("all");
    let run = env.snap(["restore", &id, "--target", &s(&all)]).ok();
    assert_eq!(run.stderr, "", "no warning as root");
    let out = restored(&all, &src);
    assert_eq!(owner_mode(&out.join("bin/tool")), (0, 0, 0o4755));
    assert_eq!(xattr::get(out.join("bin/tool"), "security.capability").unwrap(), Some(CAP_NET_BIND_SERVICE.to_vec()));
    assert_eq!(xattr::get(out.join("bin/tool"), "user.origin").unwrap(), Some(b"test".to_vec()));
    assert_eq!(owner_mode(&out.join("home/alice")), (1234, 2345, 0o750));
    assert_eq!(owner_mode(&out.join("home/alice/notes")), (1234, 2345, 0o644));
    assert_eq!(owner_mode(&out.join("shared")), (0, 0, 0o1777));
    assert_eq!(owner_mode(&out.join("group")), (0, 2345, 0o2775));
    let dev = fs::symlink_metadata(out.join("dev/null-clone")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&dev.file_type()));
    assert_eq!((dev.rdev(), dev.mode() & 0o7777), (rustix::fs::makedev(1, 3), 0o666));
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fs::symlink_metadata(out.join("run/pipe")).unwrap().file_type()));
    assert_eq!(owner_mode(&out.join("run/pipe")), (1234, 2345, 0o620));
    // Restored again, all of it is already right.
    let again = restore_json(&env, &id, &all, &[]);
    assert_eq!((again["written"].as_u64(), again["updated"].as_u64()), (Some(0), Some(0)), "{again}");

    let no_owner = env.path().join("no-owner");
    env.snap(["restore", &id, "--target", &s(&no_owner), "--no-owner"]).ok();
    let out = restored(&no_owner, &src);
    assert_eq!(owner_mode(&out.join("home/alice/notes")), (0, 0, 0o644));
    assert_eq!(owner_mode(&out.join("group")), (0, 0, 0o2775));
    assert_eq!(owner_mode(&out.join("bin/tool")), (0, 0, 0o4755));
    assert_eq!(owner_mode(&out.join("run/pipe")), (0, 0, 0o620));

    let no_special = env.path().join("no-special");
    let run = env.snap(["restore", &id, "--target", &s(&no_special), "--no-special"]).ok();
    assert_eq!(run.stderr, "");
    let out = restored(&no_special, &src);
    assert_eq!(owner_mode(&out.join("bin/tool")), (0, 0, 0o755));
    assert_eq!(xattr::get(out.join("bin/tool"), "security.capability").unwrap(), None);
    assert_eq!(xattr::get(out.join("bin/tool"), "user.origin").unwrap(), Some(b"test".to_vec()));
    assert_eq!(owner_mode(&out.join("shared")), (0, 0, 0o777));
    assert_eq!(owner_mode(&out.join("group")), (0, 2345, 0o775));
    assert_eq!(owner_mode(&out.join("home/alice/notes")), (1234, 2345, 0o644));
    assert!(fs::symlink_metadata(out.join("dev/null-clone")).is_err(), "no device node with --no-special");
    assert!(fs::symlink_metadata(out.join("run/pipe")).is_err(), "no FIFO with --no-special");
}

/// Makes `p` and everything below it readable and writable by anyone.
fn open_up(p: &Path) {
    let m = fs::symlink_metadata(p).unwrap();
    if m.is_dir() {
        chmod(p, 0o777);
        for e in fs::read_dir(p).unwrap().flatten() {
            open_up(&e.path());
        }
    } else if m.is_file() {
        chmod(p, 0o666);
    }
}

#[test]
fn as_another_user_one_warning_names_what_could_not_be_restored() {
    const NOBODY: u32 = 65534;
    if !is_root() {
        eprintln!("skipped: needs root to become another user");
        return;
    }
    let env = Env::with_repo();
    let src = privileged_tree(&env);
    let id = env.backup(&[&src]);
    chmod(env.path(), 0o755);
    open_up(&env.repo());
    chmod(&env.path().join("password"), 0o644);
    let cache = env.path().join("nobody-cache");
    fs::create_dir(&cache).unwrap();
    std::os::unix::fs::chown(&cache, Some(NOBODY), Some(NOBODY)).unwrap();
    let as_nobody = |target: &Path, extra: &[&str]| -> Option<Run> {
        fs::create_dir(target).unwrap();
        std::os::unix::fs::chown(target, Some(NOBODY), Some(NOBODY)).unwrap();
        let mut cmd: Command = env.cmd();
        cmd.args(["restore", &id, "--target", &s(target), "--json"]).args(extra).env("SNAP_CACHE_DIR", &cache).uid(NOBODY).gid(NOBODY);
        match cmd.output() {
            Ok(o) => Some(o.into()),
            // The build directory is not reachable for that user here.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
            Err(e) => panic!("spawn as nobody: {e}"),
        }
    };
    let Some(run) = as_nobody(&env.path().join("t"), &[]) else {
        eprintln!("skipped: the snap binary cannot be run as nobody here");
        return;
    };
    expect_code(&run, 0, "a restore as nobody");
    let v = run.json();
    let written = v["written"].as_u64().unwrap();
    assert_eq!(v["not_restored"], serde_json::json!({"owners": written - 1, "special_bits": 0, "devices": 1, "xattrs": 1, "xattr_names": ["security.capability"]}));
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(
        warnings,
        [format!(
            "snap: warning: could not restore the owners of {} entries, 1 device node, 1 extended attribute (security.capability) (not running as root; --no-owner and --no-special leave them out without this warning)",
            written - 1
        )],
        "{}",
        run.stderr
    );
    let out = restored(&env.path().join("t"), &src);
    assert_eq!(owner_mode(&out.join("bin/tool")), (NOBODY, NOBODY, 0o4755));
    assert_eq!(xattr::get(out.join("bin/tool"), "user.origin").unwrap(), Some(b"test".to_vec()));
    assert!(fs::symlink_metadata(out.join("dev/null-clone")).is_err());

    // Asked not to, it does not try and does not warn.
    let run = as_nobody(&env.path().join("t2"), &["--no-owner", "--no-special"]).expect("ran before");
    expect_code(&run, 0, "a restore as nobody with --no-owner --no-special");
    assert_eq!(run.stderr, "");
}

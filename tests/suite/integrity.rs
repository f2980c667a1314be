//! Integrity and safety of the repository under damage, crashes and concurrency: flipped bytes
//! and lost packs found by `check` (and refused by `restore`/`dump`), retention followed by
//! `prune`, a crash at every prune step, locks, concurrent backups, `repair index` and a lost
//! cache. Every test drives the real `snap` binary; the library is used only to look inside the
//! repository (which blob a pack starts with, which file needs it).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use snap::format::pack::BlobKind;
use snap::format::{BlobId, PackId, SnapshotId};
use snap::ops::walk::{walk, Visitor};
use snap::repo::Repository;

use crate::stores::{file_name, overwrite, LibRepo};
use crate::util::{assert_contains, assert_same_tree, expect_code, pseudo_random, restored, s, write, Env, Raw, Run, Store, PASSWORD};

// Damage, retention, crashes, locks and repairs, with the stored files read, damaged and deleted
// on the store itself: each runs on a local directory, on S3 and on SFTP.
crate::on_every_store!(
    flipped_byte_in_a_data_pack_is_found_and_never_restored,
    deleted_pack_is_reported_with_the_snapshots_and_paths_it_costs,
    retention_by_forget_keep_daily_then_prune,
    crash_during_pack_delete,
    locks_block_exclusive_commands_share_backups_and_unlock_removes_stale_ones,
    two_concurrent_backups_into_one_repository,
    repair_index_rebuilds_lost_index_files,
);

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers


fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// Every pack file: (id, stored path, size), sorted by id.
fn packs(env: &Env) -> Vec<(String, String, u64)> {
    let mut out: Vec<(String, String, u64)> = env
        .raw()
        .list("data/")
        .into_iter()
        .filter(|(p, _)| p.matches('/').count() == 2)
        .map(|(p, n)| (file_name(&p).to_string(), p, n))
        .collect();
    out.sort();
    out
}

fn largest<'a>(packs: impl IntoIterator<Item = &'a (String, String, u64)>) -> (String, String, u64) {
    packs.into_iter().max_by_key(|p| p.2).cloned().expect("at least one pack")
}

/// Every file and directory below `root` with its size (0 for directories).
fn listing(root: &Path) -> BTreeMap<PathBuf, u64> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        for e in fs::read_dir(dir).expect("read_dir").flatten() {
            let md = fs::symlink_metadata(e.path()).expect("metadata");
            let rel = e.path().strip_prefix(root).expect("below root").to_path_buf();
            if md.is_dir() {
                out.insert(rel, 0);
                go(root, &e.path(), out);
            } else {
                out.insert(rel, md.len());
            }
        }
    }
    let mut out = BTreeMap::new();
    go(root, root, &mut out);
    out
}

/// Every file and directory of the repository with its size (0 for directories); on an object
/// store, which has no directories, every object.
fn repo_listing(env: &Env) -> BTreeMap<PathBuf, u64> {
    match env.raw() {
        Raw::Dir(root) => listing(&root),
        raw => raw.list("").into_iter().map(|(p, n)| (PathBuf::from(p), n)).collect(),
    }
}

/// The stored lock files (`locks/…`), sorted.
fn lock_files(env: &Env) -> Vec<String> {
    lock_files_in(&env.raw())
}

fn lock_files_in(raw: &Raw) -> Vec<String> {
    raw.list("locks/").into_iter().map(|(p, _)| p).collect()
}

#[track_caller]
fn assert_no_locks(env: &Env) {
    let l = lock_files(env);
    assert!(l.is_empty(), "lock files left behind: {l:?}");
}

/// Waits until `locks/` holds at least `n` files.
fn wait_for_locks(env: &Env, n: usize) {
    let start = Instant::now();
    let raw = env.raw();
    while lock_files_in(&raw).len() < n {
        assert!(start.elapsed() < Duration::from_secs(30), "no lock appeared (wanted {n})");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Copies a tree keeping modes and mtimes (directories after their content), so it can later be
/// compared with a restore by [`assert_same_tree`].
fn copy_tree(from: &Path, to: &Path) {
    let md = fs::symlink_metadata(from).expect("metadata");
    if md.is_dir() {
        fs::create_dir_all(to).expect("mkdir");
        for e in fs::read_dir(from).expect("read_dir").flatten() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        fs::copy(from, to).expect("copy");
    }
    fs::set_permissions(to, md.permissions()).expect("chmod");
    let mt = filetime::FileTime::from_last_modification_time(&md);
    filetime::set_file_times(to, mt, mt).expect("utimes");
}

/// Restores `snapshot` into a fresh directory and compares the backed-up `src` with `expected`.
#[track_caller]
fn assert_restores(env: &Env, snapshot: &str, src: &Path, expected: &Path, name: &str) {
    let target = env.path().join(name);
    let run = env.snap(["restore", snapshot, "--target", &s(&target)]);
    expect_code(&run, 0, &format!("restore {snapshot}"));
    assert_same_tree(expected, &restored(&target, src));
    fs::remove_dir_all(&target).expect("clean up restore");
}

fn snapshot_ids(env: &Env) -> Vec<String> {
    let run = env.snap(["snapshots", "--json"]).ok();
    run.json().as_array().expect("array").iter().map(|v| v["id"].as_str().expect("id").to_string()).collect()
}

fn backup_at(env: &Env, src: &Path, time: &str) -> String {
    let run = env.snap(["backup", "--json", "--time", time, &s(src)]).ok();
    run.json()["snapshot_id"].as_str().expect("snapshot id").to_string()
}

/// Deletes a snapshot file, as `forget` would.
fn drop_snapshot(env: &Env, id: &str) {
    env.raw().delete(&format!("snapshots/{id}"));
}

/// Opens the repository through the library with its own cache (never the CLI's), to read it.
fn open_lib(env: &Env) -> Repository {
    let backend = LibRepo::new(env).backend();
    let repo = Repository::open(backend, PASSWORD.as_bytes(), &env.path().join("lib-cache")).expect("open repository");
    repo.sync_index().expect("sync index");
    repo
}

/// Data blob → the paths (as `check` prints them) of the snapshot's files that need it.
fn blob_users(repo: &Repository, snapshot: &str) -> HashMap<BlobId, Vec<String>> {
    struct Users(HashMap<BlobId, Vec<String>>);
    impl Visitor for Users {
        fn blob(&mut self, kind: BlobKind, id: &BlobId, path: &str) {
            if kind == BlobKind::Data {
                let v = self.0.entry(*id).or_default();
                if !v.iter().any(|p| p == path) {
                    v.push(path.to_string());
                }
            }
        }
        fn damaged(&mut self, _: BlobKind, id: &BlobId, path: &str, err: snap::Error) {
            panic!("{path}: tree/list {id} unreadable: {err}");
        }
    }
    let id: SnapshotId = snapshot.parse().expect("snapshot id");
    let snap = repo.load_snapshot(&id).expect("load snapshot");
    let mut users = Users(HashMap::new());
    walk(repo, &snap.tree, "/", true, &mut HashSet::new(), &mut users).expect("walk");
    users.0
}

/// A command whose process cannot leave a core file behind when it aborts.
fn without_core(mut c: Command) -> Command {
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            Ok(())
        });
    }
    c
}

/// Runs `snap prune ARGS` with `SNAP_FAIL_AT=point` and asserts it died of SIGABRT.
#[track_caller]
fn prune_aborting_at(env: &Env, point: &str, args: &[&str]) {
    let mut c = without_core(env.cmd());
    c.arg("prune").args(args).env("SNAP_FAIL_AT", point);
    let out = c.output().expect("run snap prune");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "prune with SNAP_FAIL_AT={point} did not abort: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The directories under the cache directory of the (single) repository.
fn cache_repo_entries(env: &Env) -> Vec<String> {
    let dirs: Vec<PathBuf> = fs::read_dir(env.cache()).expect("cache dir").flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    assert_eq!(dirs.len(), 1, "one repository cache dir expected: {dirs:?}");
    let mut names: Vec<String> = fs::read_dir(&dirs[0]).expect("repo cache dir").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[track_caller]
fn assert_no_private_index_left(env: &Env) {
    let names = cache_repo_entries(env);
    assert!(!names.iter().any(|n| n.starts_with("index-")), "private index left in the cache: {names:?}");
}

#[track_caller]
fn check_read_data_ok(env: &Env, when: &str) {
    let run = env.snap(["check", "--read-data"]);
    expect_code(&run, 0, &format!("check --read-data {when}"));
    assert_contains(&run.stdout, "no errors were found", when);
}

/// A backup of the output of a shell command that writes `data_file` and then waits until
/// `go_file` exists (at most 30 s), so the test decides when the backup ends.
fn spawn_waiting_backup(env: &Env, name: &str, data_file: &Path, go_file: &Path) -> Child {
    let script = format!(
        "cat '{}' && i=0 && while [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done",
        s(data_file),
        s(go_file)
    );
    env.cmd()
        .args(["backup", "--json", "--stdin-from-command", "--stdin-filename", name, "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn backup")
}

fn finish(child: Child) -> Run {
    child.wait_with_output().expect("wait").into()
}

// ---------------------------------------------------------------------------------------------
// 1. A flipped byte in a data pack

fn flipped_byte_in_a_data_pack_is_found_and_never_restored(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("src");
    let files = ["big.bin", "a.bin", "b.txt", "sub/c.bin", "sub/d.bin"];
    let sizes = [3 * MIB, 300_000, 150_000, 700_000, 40_000];
    for (i, (f, n)) in files.iter().zip(sizes).enumerate() {
        write(&src.join(f), &pseudo_random(n, 100 + i as u64));
    }
    let id = env.backup(&[&src]);
    let short = &id[..8];

    // The largest pack holds the file data; find the blob at its offset 0 and the file it is in.
    let (pack_hex, pack_path, _) = largest(&packs(&env));
    let (blob, users) = {
        let repo = open_lib(&env);
        let pid: PackId = pack_hex.parse().expect("pack id");
        let entries = repo.read_pack_header(&pid).expect("pack header");
        let first = *entries.iter().find(|e| e.offset == 0).expect("a blob at offset 0");
        assert_eq!(first.kind, BlobKind::Data);
        assert!(first.length > 100, "first blob too small to damage at byte 50");
        let users = blob_users(&repo, &id);
        (first.id, users.get(&first.id).cloned().expect("the first blob belongs to a file"))
    };
    assert_eq!(users.len(), 1, "the damaged blob is in exactly one file: {users:?}");
    let affected_str = users[0].clone();
    let affected = PathBuf::from(&affected_str);
    assert!(affected.starts_with(&src) && affected.is_file(), "{affected_str}");
    let truth = fs::read(&affected).expect("read original");
    let others: Vec<PathBuf> = files.iter().map(|f| src.join(f)).filter(|p| *p != affected).collect();

    let mut bytes = env.raw().read(&pack_path);
    bytes[50] ^= 0x5a;
    overwrite(&env, &pack_path, &bytes);

    // check --read-data: exit 1, naming the pack, the blob, the snapshot and the file.
    let run = env.snap(["check", "--read-data"]);
    expect_code(&run, 1, "check --read-data of a damaged pack");
    assert_contains(&run.stderr, &pack_hex, "full pack id");
    assert_contains(&run.stderr, &format!("blob {}", blob.to_hex()), "damaged blob id");
    assert_contains(&run.stderr, &format!("damages snapshot {short} {affected_str}"), "snapshot and path");
    for o in &others {
        assert!(!run.stderr.contains(&s(o)), "undamaged {} reported:\n{}", o.display(), run.stderr);
    }
    // The damaged pack's name no longer matches its content either.
    assert_contains(&run.stderr, &format!("pack {pack_hex} is damaged"), "pack hash mismatch");

    // Plain check reads no data: it passes.
    let run = env.snap(["check"]);
    expect_code(&run, 0, "check without --read-data");
    assert_contains(&run.stdout, "no errors were found", "check");

    // restore: exit 1, the damaged file is reported and absent, the others are exact.
    let target = env.path().join("restore");
    let run = env.snap(["restore", &id, "--target", &s(&target)]);
    expect_code(&run, 1, "restore of a damaged snapshot");
    assert_contains(&run.stderr, &format!("error: {affected_str}: "), "restore names the file");
    assert_contains(&run.stderr, &blob.to_hex(), "restore names the blob");
    assert_contains(&run.stderr, "1 entry could not be restored", "restore summary");
    let out = restored(&target, &affected);
    assert!(fs::symlink_metadata(&out).is_err(), "{} was written despite the damage", out.display());
    let leftovers: Vec<_> = listing(&target).into_keys().filter(|p| s(p).contains(".snap-tmp-")).collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    for o in &others {
        assert_same_tree(o, &restored(&target, o));
    }

    // dump: exit 1 with the error; whatever it wrote is a verified prefix.
    let run = env.snap(["dump", &id, &affected_str]);
    expect_code(&run, 1, "dump of a damaged file");
    assert!(run.stderr.starts_with("snap: "), "{}", run.stderr);
    assert_contains(&run.stderr, &format!("blob {}", blob.to_hex()), "dump names the blob");
    assert!(run.raw_stdout.len() < truth.len(), "dump wrote the whole file");
    assert!(truth.starts_with(&run.raw_stdout), "dump wrote {} bytes that are not a prefix of the file", run.raw_stdout.len());
    // An undamaged file still dumps exactly.
    let run = env.snap(["dump", &id, &s(&others[0])]);
    expect_code(&run, 0, "dump of an undamaged file");
    assert!(run.raw_stdout == fs::read(&others[0]).expect("read"), "dump of undamaged file differs");
}

// ---------------------------------------------------------------------------------------------
// 2. A lost pack

fn deleted_pack_is_reported_with_the_snapshots_and_paths_it_costs(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("src");
    let files = ["f1.bin", "f2.bin", "sub/f3.bin"];
    for (i, f) in files.iter().enumerate() {
        write(&src.join(f), &pseudo_random(100_000 * (i + 1), 200 + i as u64));
    }
    let a = env.backup(&[&src]);
    let packs_a = packs(&env);
    let b = env.backup(&[&src]); // unchanged: needs the same data pack
    let other = env.path().join("other");
    write(&other.join("o.bin"), &pseudo_random(300_000, 299));
    let c = env.backup(&[&other]);

    let (victim, victim_path, _) = largest(&packs_a);
    env.raw().delete(&victim_path);

    let run = env.snap(["check"]);
    expect_code(&run, 1, "check with a missing pack");
    assert_contains(&run.stderr, &format!("pack {victim} is missing"), "missing pack named");
    for f in &files {
        for snap in [&a, &b] {
            assert_contains(&run.stderr, &format!("snapshot {} {}", &snap[..8], s(&src.join(f))), "affected snapshot and path");
        }
    }
    assert!(!run.stderr.contains(&c[..8]), "unaffected snapshot {c} named:\n{}", run.stderr);
    assert!(!run.stderr.contains(&s(&other)), "unaffected path named:\n{}", run.stderr);

    let run = env.snap(["check", "--json"]);
    expect_code(&run, 1, "check --json with a missing pack");
    let v = run.json();
    assert_eq!(v["ok"], Value::Bool(false), "{v}");
    let errors = v["errors"].as_array().expect("errors array");
    assert!(!errors.is_empty(), "{v}");
    assert!(errors.iter().any(|e| e.as_str().is_some_and(|e| e.contains(&victim) && e.contains("missing"))), "{v}");

    // The unaffected snapshot still restores.
    assert_restores(&env, &c, &other, &other, "r-c");
}

// ---------------------------------------------------------------------------------------------
// 3. Retention, then prune

const FILES_PER_DAY: usize = 12;

/// Day 0 creates the tree; each later day rewrites three files (a rotating choice).
fn evolve(src: &Path, day: usize) {
    if day == 0 {
        for i in 0..FILES_PER_DAY {
            write(&src.join(format!("f{i:02}.bin")), &pseudo_random(60_000 + i * 5_000, 3000 + i as u64));
        }
        write(&src.join("static/s0.bin"), &pseudo_random(200_000, 3100));
        write(&src.join("static/s1.bin"), &pseudo_random(150_000, 3101));
        return;
    }
    for k in 0..3 {
        let i = (day * 5 + k) % FILES_PER_DAY;
        write(&src.join(format!("f{i:02}.bin")), &pseudo_random(50_000 + day * 3_000 + k * 7_000, 4000 + (day * 100 + k) as u64));
    }
}

/// Ten daily snapshots of a changing tree; returns (src, snapshot ids, copies of each state).
fn ten_days(env: &Env) -> (PathBuf, Vec<String>, Vec<PathBuf>) {
    let src = env.path().join("src");
    let mut ids = Vec::new();
    let mut states = Vec::new();
    for day in 0..10 {
        evolve(&src, day);
        ids.push(backup_at(env, &src, &format!("2024-03-{:02} 12:00:00", day + 1)));
        let state = env.path().join(format!("state-{day}"));
        copy_tree(&src, &state);
        states.push(state);
    }
    (src, ids, states)
}

/// After 7 of the 10 snapshots are gone: dry run, prune, check, restore, repack-all.
fn prune_after_retention(env: &Env, src: &Path, ids: &[String], states: &[PathBuf]) {
    let kept: Vec<usize> = (7..10).collect();
    let mut remaining = snapshot_ids(env);
    remaining.sort();
    let mut want: Vec<String> = kept.iter().map(|&d| ids[d].clone()).collect();
    want.sort();
    assert_eq!(remaining, want, "the three newest snapshots remain");

    // Dry run: nothing changes, bytes it would free are reported.
    let before = repo_listing(env);
    let data_before = env.data_bytes();
    let dry = env.snap(["prune", "--dry-run", "--json"]).ok().json();
    assert_eq!(dry["dry_run"], Value::Bool(true), "{dry}");
    assert!(num(&dry, "bytes_freed") > 0, "{dry}");
    assert!(num(&dry, "packs_deleted") > 0, "{dry}");
    assert_eq!(repo_listing(env), before, "prune --dry-run changed the repository");
    let text = env.snap(["prune", "--dry-run"]).ok();
    assert_contains(&text.stdout, "would delete", "dry run text");
    assert_eq!(repo_listing(env), before, "prune --dry-run changed the repository");

    // The real prune does what the dry run said.
    let done = env.snap(["prune", "--json"]).ok().json();
    assert_eq!(done["dry_run"], Value::Bool(false), "{done}");
    for key in ["bytes_freed", "packs_deleted", "packs_repacked", "blobs_used", "blobs_unused"] {
        assert_eq!(done[key], dry[key], "{key}: dry run {dry} vs prune {done}");
    }
    let data_after = env.data_bytes();
    assert!(data_after < data_before, "data/ did not shrink: {data_before} -> {data_after}");
    assert_no_locks(env);
    check_read_data_ok(env, "after prune");
    for &d in &kept {
        assert_restores(env, &ids[d], src, &states[d], &format!("r{d}"));
    }

    // Repack everything partly used; afterwards nothing is left to free.
    let all = env.snap(["prune", "--repack-all", "--json"]).ok().json();
    assert_eq!(all["dry_run"], Value::Bool(false), "{all}");
    let after = env.snap(["prune", "--dry-run", "--json"]).ok().json();
    for key in ["blobs_unused", "bytes_unused", "bytes_freed", "packs_deleted", "packs_orphaned", "packs_repacked"] {
        assert_eq!(num(&after, key), 0, "{key} after --repack-all: {after}");
    }
    assert!(env.data_bytes() <= data_after, "--repack-all grew data/");
    check_read_data_ok(env, "after prune --repack-all");
    for &d in &kept {
        assert_restores(env, &ids[d], src, &states[d], &format!("r{d}-all"));
    }
    assert_no_locks(env);
}

#[test]
fn retention_by_deleting_snapshot_files_then_prune() {
    let env = Env::with_repo();
    let (src, ids, states) = ten_days(&env);
    for id in &ids[..7] {
        drop_snapshot(&env, id);
    }
    prune_after_retention(&env, &src, &ids, &states);
}

fn retention_by_forget_keep_daily_then_prune(store: Store) {
    let env = Env::with_repo_on(store);
    let (src, ids, states) = ten_days(&env);
    let run = env.snap(["forget", "--keep-daily", "3"]);
    expect_code(&run, 0, "forget --keep-daily 3");
    prune_after_retention(&env, &src, &ids, &states);
}

#[test]
fn forget_with_prune_flag_frees_space_and_keeps_the_rest_whole() {
    let env = Env::with_repo();
    let (src, ids, states) = ten_days(&env);
    let before = env.data_bytes();
    let run = env.snap(["forget", "--keep-daily", "3", "--prune"]);
    expect_code(&run, 0, "forget --keep-daily 3 --prune");
    let mut remaining = snapshot_ids(&env);
    remaining.sort();
    let mut want = ids[7..].to_vec();
    want.sort();
    assert_eq!(remaining, want);
    assert!(env.data_bytes() < before, "forget --prune freed nothing");
    assert_no_locks(&env);
    check_read_data_ok(&env, "after forget --prune");
    for d in 7..10 {
        assert_restores(&env, &ids[d], &src, &states[d], &format!("r{d}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 4. A crash at every step of prune

/// Two snapshots where the second rewrote half the files; the first is gone, so prune must both
/// delete (the first's tree pack) and repack (the first's data pack, half of it still used).
/// Returns (src, kept snapshot id, copy of its tree).
fn repo_needing_delete_and_repack(env: &Env) -> (PathBuf, String, PathBuf) {
    let src = env.path().join("src");
    for i in 0..40 {
        write(&src.join(format!("d{}/f{i:02}.bin", i % 3)), &pseudo_random(16_000 + i * 800, 5000 + i as u64));
    }
    let first = env.backup(&[&src]);
    for i in (0..40).step_by(2) {
        write(&src.join(format!("d{}/f{i:02}.bin", i % 3)), &pseudo_random(20_000 + i * 700, 6000 + i as u64));
    }
    let kept = env.backup(&[&src]);
    let state = env.path().join("state");
    copy_tree(&src, &state);
    drop_snapshot(env, &first);
    let plan = env.snap(["prune", "--max-unused", "0%", "--dry-run", "--json"]).ok().json();
    assert!(num(&plan, "packs_deleted") >= 1 && num(&plan, "packs_repacked") >= 1, "prune must delete and repack: {plan}");
    (src, kept, state)
}

fn crash_during_prune(store: Store, point: &str) {
    let env = Env::with_repo_on(store);
    let (src, kept, state) = repo_needing_delete_and_repack(&env);
    prune_aborting_at(&env, point, &["--max-unused", "0%"]);

    // The aborted process left its lock; its pid is gone, so unlock removes it.
    assert_eq!(lock_files(&env).len(), 1, "the aborted prune's lock");
    let run = env.snap(["unlock"]);
    expect_code(&run, 0, "unlock");
    assert_contains(&run.stdout, "removed 1 lock(s)", "unlock");
    assert_no_locks(&env);

    check_read_data_ok(&env, &format!("after a crash at {point}"));
    assert_restores(&env, &kept, &src, &state, "r-crashed");

    // A normal prune finishes the job (told that nothing else is writing, so the packs the
    // crash left unindexed need no grace period).
    let run = env.snap(["prune", "--max-unused", "0%", "--orphan-grace", "0"]);
    expect_code(&run, 0, &format!("prune after a crash at {point}"));
    check_read_data_ok(&env, &format!("after re-running the prune crashed at {point}"));
    assert_restores(&env, &kept, &src, &state, "r-finished");
    let after = env.snap(["prune", "--max-unused", "0%", "--dry-run", "--json"]).ok().json();
    for key in ["blobs_unused", "bytes_freed", "packs_orphaned"] {
        assert_eq!(num(&after, key), 0, "{key} after finishing the prune crashed at {point}: {after}");
    }
    assert_no_locks(&env);
}

#[test]
fn crash_after_repack() {
    crash_during_prune(Store::Local, "prune-after-repack");
}

#[test]
fn crash_after_index() {
    crash_during_prune(Store::Local, "prune-after-index");
}

#[test]
fn crash_after_index_delete() {
    crash_during_prune(Store::Local, "prune-after-index-delete");
}

fn crash_during_pack_delete(store: Store) {
    crash_during_prune(store, "prune-during-pack-delete");
}

// ---------------------------------------------------------------------------------------------
// 5. Locks

fn locks_block_exclusive_commands_share_backups_and_unlock_removes_stale_ones(store: Store) {
    let env = Env::with_repo_on(store);
    let stream = pseudo_random(200_000, 7001);
    let stream_file = env.path().join("stream.bin");
    fs::write(&stream_file, &stream).expect("write stream");
    let go = env.path().join("go");

    // A backup that runs until we say so.
    let long = spawn_waiting_backup(&env, "long.bin", &stream_file, &go);
    let pid = long.id();
    wait_for_locks(&env, 1);

    let run = env.snap(["prune"]);
    expect_code(&run, 11, "prune while a backup runs");
    assert_contains(&run.stderr, "locked", "locked message");
    assert_contains(&run.stderr, &format!("pid {pid}"), "holder's pid");
    assert_contains(&run.stderr, "snap unlock", "hint");
    let run = env.snap(["unlock"]);
    expect_code(&run, 0, "unlock with a live lock");
    assert_contains(&run.stdout, "removed 0 lock(s)", "a live lock is not stale");
    assert_eq!(lock_files(&env).len(), 1);

    // A second backup shares the repository (and, with the cache index busy, uses a private one).
    let dir2 = env.path().join("dir2");
    for i in 0..5 {
        write(&dir2.join(format!("g{i}.bin")), &pseudo_random(50_000 + i * 10_000, 7100 + i as u64));
    }
    let second = env.backup(&[&dir2]);

    let mut long = long;
    assert!(long.try_wait().expect("try_wait").is_none(), "the long backup ended before the test released it");
    fs::write(&go, b"").expect("release");
    let run = finish(long);
    expect_code(&run, 0, "long backup");
    let first = run.json()["snapshot_id"].as_str().expect("id").to_string();
    assert_no_locks(&env);
    assert_no_private_index_left(&env);

    let target = env.path().join("r-long");
    env.snap(["restore", &first, "--target", &s(&target)]).ok();
    assert!(fs::read(target.join("long.bin")).expect("restored stream") == stream, "stream restored wrong");
    assert_restores(&env, &second, &dir2, &dir2, "r-second");
    check_read_data_ok(&env, "after concurrent backups");

    // A stale lock: prune aborts and leaves its lock behind (its pid is gone).
    drop_snapshot(&env, &second);
    prune_aborting_at(&env, "prune-after-repack", &[]);
    let stale = lock_files(&env);
    assert_eq!(stale.len(), 1, "the aborted prune's lock");
    let stale_bytes = env.raw().read(&stale[0]);
    // It blocks nobody...
    let run = env.snap(["check"]);
    expect_code(&run, 0, "check with a stale exclusive lock present");
    // ...and unlock removes it; then prune works.
    let run = env.snap(["unlock"]);
    expect_code(&run, 0, "unlock");
    assert_contains(&run.stdout, "removed 1 lock(s)", "unlock of the stale lock");
    assert_no_locks(&env);
    let done = env.snap(["prune", "--json"]).ok().json();
    assert!(num(&done, "packs_deleted") >= 1, "{done}");
    assert_no_locks(&env);

    // --remove-all removes live locks too; plain unlock only the stale one.
    let go2 = env.path().join("go2");
    let live = spawn_waiting_backup(&env, "live.bin", &stream_file, &go2);
    wait_for_locks(&env, 1);
    overwrite(&env, &stale[0], &stale_bytes);
    assert_eq!(lock_files(&env).len(), 2);
    let run = env.snap(["unlock"]);
    expect_code(&run, 0, "unlock");
    assert_contains(&run.stdout, "removed 1 lock(s)", "only the stale lock");
    assert_eq!(lock_files(&env).len(), 1, "the live lock stays");
    expect_code(&env.snap(["prune"]), 11, "prune while the live lock is held");
    let run = env.snap(["unlock", "--remove-all"]);
    expect_code(&run, 0, "unlock --remove-all");
    assert_contains(&run.stdout, "removed 1 lock(s)", "the live lock");
    assert_no_locks(&env);
    fs::write(&go2, b"").expect("release");
    // The backup learns at its commit that its lock is gone: a prune may have run meanwhile, so
    // it writes no snapshot (exit 1) but indexes what it stored.
    let before = snapshot_ids(&env);
    let run = finish(live);
    expect_code(&run, 1, "backup whose lock was removed");
    assert_contains(&run.stderr, "repository lock lost", "backup whose lock was removed");
    assert_eq!(snapshot_ids(&env), before, "a backup that lost its lock wrote a snapshot");
    assert_no_locks(&env);
    assert_no_private_index_left(&env);
    check_read_data_ok(&env, "at the end");
}

// ---------------------------------------------------------------------------------------------
// 6. Two backups at once

fn two_concurrent_backups_into_one_repository(store: Store) {
    let env = Env::with_repo_on(store);
    let (a, b) = (env.path().join("a"), env.path().join("b"));
    let shared = pseudo_random(900_000, 8000);
    write(&a.join("shared.bin"), &shared);
    write(&b.join("copy/shared.bin"), &shared);
    write(&a.join("a1.bin"), &pseudo_random(1_200_000, 8001));
    write(&b.join("b1.bin"), &pseudo_random(1_500_000, 8002));
    for i in 0..30 {
        write(&a.join(format!("small/{i}.txt")), &pseudo_random(2_000 + i * 100, 8100 + i as u64));
        write(&b.join(format!("small/{i}.txt")), &pseudo_random(2_000 + i * 100, if i % 2 == 0 { 8100 + i as u64 } else { 8200 + i as u64 }));
    }
    let spawn = |dir: &Path| env.cmd().args(["backup", "--json", &s(dir)]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn backup");
    let (ca, cb) = (spawn(&a), spawn(&b));
    let (ra, rb) = (finish(ca), finish(cb));
    expect_code(&ra, 0, "backup a");
    expect_code(&rb, 0, "backup b");
    let ida = ra.json()["snapshot_id"].as_str().expect("id").to_string();
    let idb = rb.json()["snapshot_id"].as_str().expect("id").to_string();
    assert_ne!(ida, idb);
    assert_no_locks(&env);
    assert_no_private_index_left(&env);
    assert_restores(&env, &ida, &a, &a, "ra");
    assert_restores(&env, &idb, &b, &b, "rb");
    check_read_data_ok(&env, "after concurrent backups");
}

// ---------------------------------------------------------------------------------------------
// 7. repair index

fn repair_index_rebuilds_lost_index_files(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("src");
    for i in 0..8 {
        write(&src.join(format!("f{i}.bin")), &pseudo_random(80_000 + i * 30_000, 9000 + i as u64));
    }
    write(&src.join("big.bin"), &pseudo_random(2 * MIB, 9100));
    let first = env.backup(&[&src]);
    let state1 = env.path().join("state1");
    copy_tree(&src, &state1);
    write(&src.join("f3.bin"), &pseudo_random(120_000, 9200));
    write(&src.join("new/n.bin"), &pseudo_random(60_000, 9201));
    let second = env.backup(&[&src]);

    let raw = env.raw();
    let index_files = raw.list("index/");
    assert!(!index_files.is_empty());
    for (p, _) in &index_files {
        raw.delete(p);
    }
    fs::remove_dir_all(env.cache()).expect("delete cache");

    let run = env.snap(["check"]);
    expect_code(&run, 1, "check without index files");
    assert_contains(&run.stderr, "in no index", "check names unindexed blobs");

    let run = env.snap(["repair", "index"]);
    expect_code(&run, 0, "repair index");
    let n_packs = packs(&env).len();
    assert_contains(&run.stdout, &format!("in {n_packs} packs"), "repair report");
    assert!(!raw.list("index/").is_empty(), "no index file written");
    assert_no_locks(&env);

    check_read_data_ok(&env, "after repair index");
    assert_restores(&env, &first, &src, &state1, "r1");
    assert_restores(&env, &second, &src, &src, "r2");
}

// ---------------------------------------------------------------------------------------------
// 8. Cache deleted between commands

#[test]
fn deleted_cache_between_commands_changes_nothing() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    for i in 0..6 {
        write(&src.join(format!("d/f{i}.bin")), &pseudo_random(100_000 + i * 20_000, 9500 + i as u64));
    }
    let first = env.backup(&[&src]);
    let state1 = env.path().join("state1");
    copy_tree(&src, &state1);
    fs::remove_dir_all(env.cache()).expect("delete cache");
    check_read_data_ok(&env, "with the cache deleted");

    write(&src.join("d/f2.bin"), &pseudo_random(90_000, 9600));
    fs::remove_dir_all(env.cache()).expect("delete cache");
    let second = env.backup(&[&src]);
    fs::remove_dir_all(env.cache()).expect("delete cache");
    check_read_data_ok(&env, "with the cache deleted again");
    fs::remove_dir_all(env.cache()).expect("delete cache");
    assert_restores(&env, &first, &src, &state1, "r1");
    fs::remove_dir_all(env.cache()).expect("delete cache");
    assert_restores(&env, &second, &src, &src, "r2");
}

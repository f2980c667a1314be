//! `snap init --from` and `snap copy` (issue 9 §3, the off-site leg): what a copy sends, that it
//! restores byte-exact with the destination's password alone, that it refuses a destination
//! with other blob ids, that a killed copy leaves the destination valid and the next run sends
//! the rest, and that dictionary and delta blobs arrive as such.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::dedup::chat_rows;
use crate::util::{assert_same_tree, backup_json, pseudo_random, restored, s, write, Env, Run};

const MIB: u64 = 1024 * 1024;

/// A source repository (the environment's) and a destination beside it with a password of its
/// own.
struct Two {
    env: Env,
    dst: PathBuf,
    dst_password: PathBuf,
}

impl Two {
    fn new() -> Self {
        let env = Env::with_repo();
        let dst = env.path().join("offsite");
        let dst_password = env.path().join("offsite-password");
        std::fs::write(&dst_password, "a different password for the off-site copy").unwrap();
        Self { env, dst, dst_password }
    }

    /// A `snap` command on the destination, with only the destination's password.
    fn dst_cmd(&self) -> Command {
        let mut c = self.env.cmd();
        c.env("SNAP_REPOSITORY", &self.dst).env("SNAP_PASSWORD_FILE", &self.dst_password);
        c
    }

    fn dst_snap(&self, args: &[&str]) -> Run {
        self.dst_cmd().args(args).output().unwrap().into()
    }

    /// `snap init --from` the source, at the destination.
    fn init_from(&self) {
        let src_password = s(&self.env.path().join("password"));
        let run = self.dst_snap(&["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1", "--from", &s(&self.env.repo()), "--from-password-file", &src_password]);
        assert!(run.ok().stdout.contains("sharing blob ids with"));
    }

    /// `snap copy --json --to DEST ARGS` from the source.
    fn copy_run(&self, args: &[&str]) -> Run {
        let mut all = vec!["copy", "--json"];
        let (dst, pw) = (s(&self.dst), s(&self.dst_password));
        all.extend(["--to", &dst, "--to-password-file", &pw]);
        all.extend(args);
        self.env.snap(all)
    }

    fn copy(&self, args: &[&str]) -> Value {
        self.copy_run(args).ok().json()
    }

    fn dst_snapshots(&self) -> Vec<Value> {
        self.dst_snap(&["snapshots", "--json"]).ok().json().as_array().unwrap().clone()
    }

    /// Restores `snapshot` of the destination into a new directory.
    fn dst_restore(&self, snapshot: &str, name: &str) -> PathBuf {
        let target = self.env.path().join(name);
        self.dst_snap(&["restore", snapshot, "--target", &s(&target)]).ok();
        target
    }

    fn dst_check_read_data(&self) {
        let run = self.dst_snap(&["check", "--read-data", "--json"]).ok();
        assert_eq!(run.json()["ok"], true, "{}", run.stdout);
    }
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn id(v: &Value) -> String {
    v["snapshot_id"].as_str().unwrap_or_else(|| panic!("no snapshot id in {v}")).to_string()
}

/// The source ids a copy copied, and the new ids, in order.
fn copied(v: &Value) -> (Vec<String>, Vec<String>) {
    let list = v["copied"].as_array().unwrap_or_else(|| panic!("no copied list in {v}"));
    (list.iter().map(|c| c["source"].as_str().unwrap().to_string()).collect(), list.iter().map(|c| c["id"].as_str().unwrap().to_string()).collect())
}

/// A tree of a few random files and a text file, all of it changed a little by `day`.
fn day_tree(root: &Path, day: u64) {
    for i in 0..6u64 {
        // Day two changes one file and adds one; the others stay.
        let seed = if i == 2 { 100 + day } else { i + 1 };
        write(&root.join(format!("d{}/f{i}.bin", i % 2)), &pseudo_random(700_000 + (i as usize) * 50_000, seed));
    }
    if day >= 2 {
        write(&root.join("d1/new.bin"), &pseudo_random(300_000, 77));
    }
    write(&root.join("etc/app.conf"), format!("day = {day}\n").as_bytes());
}

/// Backs up the tree and the dump as /chat.sql into the source.
fn backup_day(env: &Env, tree: &Path, dump: &[u8], time: &str) -> Value {
    env.snap_stdin(["backup", "--json", "--time", time, &s(tree), "--stdin", "--stdin-filename", "chat.sql"], dump).ok().json()
}

#[test]
fn copies_restore_byte_exact_with_the_destinations_password_alone() {
    let two = Two::new();
    let env = &two.env;
    let tree = env.path().join("src");
    day_tree(&tree, 1);
    let day1 = backup_day(env, &tree, &chat_rows(0..20_000, 0), "2026-03-01 01:00:00");
    day_tree(&tree, 2);
    let mut dump2 = chat_rows(0..20_000, 89);
    dump2.extend(chat_rows(20_000..21_000, 0));
    let day2 = backup_day(env, &tree, &dump2, "2026-03-02 01:00:00");
    two.init_from();

    let out = two.copy(&[]);
    let (sources, new_ids) = copied(&out);
    assert_eq!(sources, vec![id(&day1), id(&day2)], "{out}");
    assert_eq!(num(&out, "snapshots_present"), 0);
    // Everything the source's two backups stored, and nothing more than a few blobs' worth.
    let stored = num(&day1, "blobs_added") + num(&day2, "blobs_added");
    assert!(num(&out, "blobs_added") <= stored, "{out}\n{day1}\n{day2}");

    // The destination opens with its own password only, and restores both days byte-exact.
    for ((src_id, dst_id), day) in sources.iter().zip(&new_ids).zip(["one", "two"]) {
        let from_src = env.restore(src_id, &format!("src-{day}"));
        let from_dst = two.dst_restore(dst_id, &format!("dst-{day}"));
        // What the snapshot holds (the tree and the stream); the target directories themselves
        // are no snapshot entries, and a restore leaves their own times alone.
        assert_same_tree(&restored(&from_src, &tree), &restored(&from_dst, &tree));
        assert_same_tree(&from_src.join("chat.sql"), &from_dst.join("chat.sql"));
    }
    let dumped = two.dst_snap(&["dump", &new_ids[1], "/chat.sql"]).ok();
    assert!(dumped.raw_stdout == dump2, "day two's dump differs");
    assert!(env.snap(["restore", &new_ids[0], "--target", &s(&env.path().join("x"))]).code != 0, "the source has no such snapshot");
    two.dst_check_read_data();

    // Every field is kept; the parent is the destination's copy of the source's parent.
    let src_snaps = env.snap(["snapshots", "--json"]).ok().json();
    let dst_snaps = two.dst_snapshots();
    assert_eq!(dst_snaps.len(), 2);
    for (a, b) in src_snaps.as_array().unwrap().iter().zip(&dst_snaps) {
        for field in ["time", "hostname", "username", "paths", "tags", "tree", "program_version", "summary"] {
            assert_eq!(a[field], b[field], "{field}");
        }
    }
    assert_eq!(src_snaps[1]["parent"].as_str(), Some(id(&day1).as_str()));
    assert_eq!(dst_snaps[1]["parent"].as_str(), Some(new_ids[0].as_str()));
    assert_eq!(dst_snaps[0]["parent"], Value::Null);
}

#[test]
fn a_second_copy_copies_nothing() {
    let two = Two::new();
    let tree = two.env.path().join("src");
    day_tree(&tree, 1);
    let first = backup_day(&two.env, &tree, &chat_rows(0..2_000, 0), "2026-03-01 01:00:00");
    day_tree(&tree, 2);
    let second = backup_day(&two.env, &tree, &chat_rows(0..2_000, 7), "2026-03-02 01:00:00");
    two.init_from();
    let out = two.copy(&[]);
    assert_eq!(copied(&out).0.len(), 2, "{out}");
    let data_before = crate::util::dir_size(&two.dst.join("data"));
    let again = two.copy(&[]);
    assert_eq!(
        again,
        json!({
            "dry_run": false, "copied": [], "present": [id(&first), id(&second)], "snapshots_copied": 0, "snapshots_present": 2,
            "blobs_added": 0, "bytes_added": 0, "bytes_stored": 0, "dictionaries_added": 0, "deltas_added": 0, "packs_adopted": 0,
        })
    );
    assert_eq!(crate::util::dir_size(&two.dst.join("data")), data_before);
    assert_eq!(std::fs::read_dir(two.dst.join("snapshots")).unwrap().count(), 2);
    // A dry run says the same, and writes nothing either.
    let dry = two.copy(&["--dry-run"]);
    assert_eq!(num(&dry, "snapshots_copied") + num(&dry, "blobs_added") + num(&dry, "bytes_added"), 0, "{dry}");
}

#[test]
fn the_next_days_copy_sends_what_the_next_days_backup_added() {
    let two = Two::new();
    let env = &two.env;
    let tree = env.path().join("src");
    day_tree(&tree, 1);
    backup_day(env, &tree, &chat_rows(0..30_000, 0), "2026-03-01 01:00:00");
    two.init_from();
    two.copy(&[]);

    day_tree(&tree, 2);
    // A row in a thousand edited, a few hundred appended.
    let mut dump2 = chat_rows(0..30_000, 997);
    dump2.extend(chat_rows(30_000..30_500, 0));
    let day2 = backup_day(env, &tree, &dump2, "2026-03-02 01:00:00");
    // A dry run first: it says what the copy then does.
    let dry = two.copy(&["--dry-run", "latest"]);
    let out = two.copy(&["latest"]);
    assert_eq!(copied(&out).0, vec![id(&day2)]);
    let (src_added, copy_added) = (num(&day2, "bytes_added"), num(&out, "bytes_added"));
    let (src_stored, copy_stored) = (num(&day2, "bytes_stored"), num(&out, "bytes_stored"));
    eprintln!("day two: backup added {src_added} ({src_stored} stored), copy added {copy_added} ({copy_stored} stored)");
    assert!(copy_added <= src_added + 64 * 1024, "copy added {copy_added}, the backup {src_added}");
    assert!(copy_stored <= src_stored + 64 * 1024, "copy stored {copy_stored}, the backup {src_stored}");
    assert!(copy_added * 4 < num(&day2, "bytes_total"), "{out}\n{day2}");
    assert!(copy_stored * 4 < num(&day2, "bytes_total"), "{out}\n{day2}");
    for key in ["blobs_added", "bytes_added", "bytes_stored", "deltas_added", "snapshots_copied"] {
        assert_eq!(dry[key], out[key], "{key}: dry run {dry}, copy {out}");
    }
    assert_eq!(dry["dry_run"], true);
    assert!(num(&out, "deltas_added") > 0, "day two's dump went across as deltas: {out}");
    two.dst_check_read_data();
    let new_id = &copied(&out).1[0];
    assert!(two.dst_snap(&["dump", new_id, "/chat.sql"]).ok().raw_stdout == dump2);
}

#[test]
fn copy_refuses_a_destination_not_made_from_the_source() {
    let two = Two::new();
    let tree = two.env.path().join("src");
    day_tree(&tree, 1);
    backup_json(&two.env, [s(&tree)]);
    two.dst_snap(&["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]).ok();
    let run = two.copy_run(&[]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let (src, dst) = (s(&two.env.repo()), s(&two.dst));
    // copy_run passes --json: the error is the JSON line (issue 12).
    let error = format!(
        "cannot copy {src} to {dst}: {dst} does not share the blob ids and chunker settings of {src} (snap does not re-chunk on copy); create the destination with `snap init --from {src}`"
    );
    assert_eq!(run.stderr, format!("{}\n", serde_json::json!({ "error": error, "exit_code": 1 })));
    assert_eq!(run.stdout, "");
    assert!(two.dst_snapshots().is_empty());
    assert_eq!(crate::util::dir_size(&two.dst.join("data")), 0);
    // A repository made from another one is refused the same way.
    let other = Env::with_repo();
    let third = two.env.path().join("third");
    let run = two
        .env
        .cmd()
        .env("SNAP_REPOSITORY", &third)
        .args(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1", "--from", &s(&other.repo()), "--from-password-file", &s(&other.path().join("password"))])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let run = two.env.snap(["copy", "--to", &s(&third), "--to-password-file", &s(&two.env.path().join("password"))]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("create the destination with `snap init --from {src}`")), "{}", run.stderr);
}

#[test]
fn init_from_keeps_the_sources_chunk_sizes_and_refuses_others() {
    let env = Env::new();
    env.snap(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1", "--stream-chunk-size", "4096"]).ok();
    let dump = chat_rows(0..3_000, 0);
    env.snap_stdin(["backup", "--json", "--stdin", "--stdin-filename", "chat.sql"], &dump).ok();
    let two = Two { dst: env.path().join("offsite"), dst_password: env.path().join("password"), env };
    // Chunk sizes cannot be chosen for a repository made from another.
    let run = two.dst_snap(&["init", "--from", &s(&two.env.repo()), "--stream-chunk-size", "8192"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!two.dst.exists());
    two.init_from();
    let out = two.copy(&[]);
    assert_eq!(num(&out, "snapshots_copied"), 1, "{out}");
    assert!(two.dst_snap(&["dump", "latest", "/chat.sql"]).ok().raw_stdout == dump);
}

/// Every pack file under `data/`.
fn packs(repo: &Path) -> Vec<PathBuf> {
    let Ok(fan) = std::fs::read_dir(repo.join("data")) else { return Vec::new() };
    fan.flatten().filter_map(|d| std::fs::read_dir(d.path()).ok()).flat_map(|rd| rd.flatten().map(|e| e.path())).collect()
}

#[test]
fn a_killed_copy_leaves_the_destination_valid_and_the_next_run_sends_the_rest() {
    let two = Two::new();
    let env = &two.env;
    let tree = env.path().join("big");
    write(&tree.join("random.bin"), &pseudo_random(40 * MIB as usize, 9));
    write(&tree.join("small.txt"), b"small");
    let backup = backup_json(env, [s(&tree)]);
    two.init_from();

    let mut child = env
        .cmd()
        .args(["copy", "--json", "--to", &s(&two.dst), "--to-password-file", &s(&two.dst_password)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while packs(&two.dst).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(120), "no pack reached the destination");
        assert!(child.try_wait().unwrap().is_none(), "the copy ended before it could be killed");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(two.dst_snapshots().is_empty(), "the copy finished before it was killed: nothing was interrupted");
    let left = packs(&two.dst).len();
    assert!(left >= 1);

    // What the killed copy left is harmless: the destination checks clean (orphan packs are
    // only warnings).
    two.dst_snap(&["check"]).ok();
    let out = two.copy(&[]);
    assert_eq!(copied(&out).0.len(), 1, "{out}");
    assert!(num(&out, "packs_adopted") >= 1, "the killed copy's packs were reused: {out}");
    assert!(num(&out, "bytes_added") + 8 * MIB < num(&backup, "bytes_added"), "the second run sent only what was missing: {out}\n{backup}");
    two.dst_check_read_data();
    let restored = two.dst_restore(&copied(&out).1[0], "r");
    assert_same_tree(&tree, &restored.join(tree.strip_prefix("/").unwrap()));
}

#[test]
fn copy_latest_or_by_id_or_by_filter_copies_exactly_those() {
    let two = Two::new();
    let env = &two.env;
    let tree = env.path().join("src");
    write(&tree.join("a.txt"), b"one");
    let bk = |host: &str, time: &str| id(&backup_json(env, ["--host", host, "--time", time, &s(&tree)]));
    let s1 = bk("alpha", "2026-01-01 10:00:00");
    write(&tree.join("a.txt"), b"two");
    let s2 = bk("alpha", "2026-01-02 10:00:00");
    write(&tree.join("a.txt"), b"three");
    let s3 = bk("beta", "2026-01-03 10:00:00");
    two.init_from();

    assert_eq!(copied(&two.copy(&["latest"])).0, vec![s3.clone()]);
    // The newest of host alpha; its parent is not in the destination, so it has none there.
    let out = two.copy(&["--host", "alpha", "latest"]);
    assert_eq!(copied(&out).0, vec![s2.clone()]);
    let s2_copy = copied(&out).1[0].clone();
    let out = two.copy(&[&s1[..8]]);
    assert_eq!(copied(&out).0, vec![s1.clone()]);
    assert_eq!(num(&out, "snapshots_present"), 0);
    let out = two.copy(&[]);
    assert_eq!(copied(&out).0, Vec::<String>::new());
    assert_eq!(out["present"], json!([s1, s2, s3]));
    let snaps = two.dst_snapshots();
    assert_eq!(snaps.len(), 3);
    let s2_there = snaps.iter().find(|v| v["id"] == s2_copy.as_str()).unwrap();
    assert_eq!(s2_there["parent"], Value::Null, "copied before its parent");
    // A selection that matches nothing is an error.
    let run = two.copy_run(&["--host", "gamma", "latest"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn dictionary_and_delta_blobs_arrive_as_such_even_without_their_bases_snapshot() {
    let two = Two::new();
    let env = &two.env;
    let stream = |dump: &[u8]| env.snap_stdin(["backup", "--json", "--stdin", "--stdin-filename", "chat.sql"], dump).ok().json();
    let day1 = chat_rows(0..40_000, 0);
    let first = stream(&day1);
    // Day one trained a dictionary: its own index file, next to the backup's.
    assert_eq!(std::fs::read_dir(env.repo().join("index")).unwrap().count(), 2);
    let day2 = chat_rows(0..40_000, 97);
    let second = stream(&day2);
    assert!(num(&second, "bytes_stored") * 25 < day2.len() as u64, "day two is deltas: {second}");
    two.init_from();

    // Day two alone: its deltas' bases are day one's chunks, which no copied snapshot uses.
    let out = two.copy(&["latest"]);
    assert_eq!(copied(&out).0, vec![id(&second)]);
    assert_eq!(num(&out, "dictionaries_added"), 1, "{out}");
    assert!(num(&out, "deltas_added") > 100, "{out}");
    // The bases went across whole, the deltas as deltas: about what the source stores.
    let src_data = env.data_bytes();
    assert!(num(&out, "bytes_stored") <= src_data, "{out}: the source stores {src_data}");
    let day2_copy = copied(&out).1[0].clone();
    assert!(two.dst_snap(&["dump", &day2_copy, "/chat.sql"]).ok().raw_stdout == day2);
    two.dst_check_read_data();

    // Then day one: its chunks are there already (they were the bases).
    let out = two.copy(&[]);
    assert_eq!(copied(&out).0, vec![id(&first)]);
    assert_eq!(num(&out, "dictionaries_added"), 0, "{out}");
    assert!(num(&out, "bytes_added") < day1.len() as u64 / 20, "{out}");
    let day1_copy = copied(&out).1[0].clone();
    // From a cold cache, both dumps byte-exact, and every byte verifies.
    std::fs::remove_dir_all(env.cache()).unwrap();
    assert!(two.dst_snap(&["dump", &day1_copy, "/chat.sql"]).ok().raw_stdout == day1);
    assert!(two.dst_snap(&["dump", &day2_copy, "/chat.sql"]).ok().raw_stdout == day2);
    two.dst_check_read_data();
    // The destination's data takes about what the source's does.
    assert!(crate::util::dir_size(&two.dst.join("data")) <= src_data + 64 * 1024);
}

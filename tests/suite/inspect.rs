//! Looking into a repository without restoring (issue 12): `snap stats` (files, restore size,
//! unique and stored data, what a snapshot alone holds), `snap diff` (added, removed, content
//! and metadata changes) and `snap find` (which snapshots hold a path), checked against files
//! of known sizes through the real binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use serde_json::Value;

use crate::dedup::chat_rows;
use crate::util::{backup_json, expect_code, pseudo_random, s, write, Env};

/// Sealing adds a 24-byte nonce and a 16-byte tag to every blob.
const SEAL: u64 = 40;

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn snapshot_id(v: &Value) -> String {
    v["snapshot_id"].as_str().unwrap_or_else(|| panic!("no snapshot id in {v}")).to_string()
}

/// The directories a snapshot of `p` holds: one per component of its path.
fn depth(p: &Path) -> u64 {
    p.components().filter(|c| matches!(c, Component::Normal(_))).count() as u64
}

/// `snap stats --json ARGS`.
fn stats(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["stats", "--json"];
    all.extend_from_slice(args);
    env.snap(all).ok().json()
}

/// The entry of `id` in a stats report.
fn of<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["snapshots"].as_array().expect("snapshots").iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("{id} not in {report}"))
}

#[test]
fn stats_count_files_restore_size_unique_and_stored_bytes() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    let a = pseudo_random(10_000, 1);
    write(&src.join("a.bin"), &a);
    write(&src.join("copy-of-a.bin"), &a);
    write(&src.join("c.bin"), &pseudo_random(5_000, 2));
    write(&src.join("sub/empty"), b"");
    std::os::unix::fs::symlink("a.bin", src.join("link")).unwrap();
    let id = snapshot_id(&backup_json(&env, [&src]));

    let r = stats(&env, &[&id]);
    let snap = of(&r, &id);
    assert_eq!(num(snap, "files"), 4);
    assert_eq!(num(snap, "dirs"), depth(&src) + 1, "every directory down to src, and src/sub");
    assert_eq!(num(snap, "symlinks"), 1);
    assert_eq!(num(snap, "others"), 0);
    assert_eq!(num(snap, "restore_size"), 25_000, "the sum of the file sizes");
    // The two copies are one blob; random data is stored as it is, plus sealing.
    assert_eq!(num(snap, "data_blobs"), 2);
    assert_eq!(num(snap, "unique_bytes"), 15_000);
    assert_eq!(num(snap, "stored_bytes"), 15_000 + 2 * SEAL);
    assert_eq!(snap["dedup_ratio"].as_f64(), Some(25_000.0 / 15_000.0));
    assert_eq!(snap["compression_ratio"].as_f64(), Some(15_000.0 / 15_080.0));
    assert_eq!(num(snap, "metadata_blobs"), depth(&src) + 2, "the root's tree, one per directory down to src, and src/sub's");
    // The only snapshot holds everything alone.
    assert_eq!(num(snap, "alone_blobs"), num(snap, "data_blobs") + num(snap, "metadata_blobs"));
    assert_eq!(num(snap, "alone_bytes"), num(snap, "stored_bytes") + num(snap, "metadata_stored_bytes"));
    assert_eq!(r["total"]["snapshots"], 1);
    assert_eq!(num(&r["total"], "unique_bytes"), 15_000);
    let repo = &r["repository"];
    assert_eq!(num(repo, "snapshots"), 1);
    assert_eq!(num(&repo["data"], "blobs"), 2);
    assert_eq!(num(&repo["data"], "stored_bytes"), 15_000 + 2 * SEAL);
    assert_eq!(num(&repo["unreferenced"], "blobs"), 0);
    assert_eq!(repo["missing_blobs"], 0);

    // --mode restore-size reads trees only: no blob figures, no repository.
    let quick = stats(&env, &["--mode", "restore-size", &id]);
    let q = of(&quick, &id);
    assert_eq!(num(q, "restore_size"), 25_000);
    assert!(q.get("unique_bytes").is_none() && quick["repository"].is_null(), "{quick}");
    let text = env.snap(["stats", "--mode", "restore-size", &id]).ok().stdout;
    assert!(text.contains("files 4, dirs") && text.contains("restore size       24.4 KiB"), "{text}");
    assert!(!text.contains("unique data"), "{text}");
}

#[test]
fn stats_say_what_each_snapshot_alone_holds() {
    let env = Env::with_repo();
    // Two backups of an unchanged directory must have the same root tree, so the source lies
    // where no other test writes between them (every directory above it is in the snapshot).
    let place = tempfile::Builder::new().prefix("snap-inspect-").tempdir_in("/var/tmp").expect("tempdir in /var/tmp");
    let src = place.path().join("src");
    write(&src.join("one.bin"), &pseudo_random(20_000, 3));
    write(&src.join("d/two.bin"), &pseudo_random(30_000, 4));
    let first = snapshot_id(&backup_json(&env, [&src]));
    let second = snapshot_id(&backup_json(&env, [&src]));
    let trees: Vec<Value> = env.snap(["snapshots", "--json"]).ok().json().as_array().unwrap().iter().map(|s| s["tree"].clone()).collect();
    assert_eq!(trees[0], trees[1], "an unchanged source gives the same root tree");

    let r = stats(&env, &[]);
    for id in [&first, &second] {
        let s = of(&r, id);
        assert_eq!((num(s, "alone_blobs"), num(s, "alone_bytes")), (0, 0), "a snapshot identical to another holds nothing alone: {s}");
        assert_eq!(num(s, "unique_bytes"), 50_000);
    }
    // Forgetting both would free everything.
    assert_eq!(num(&r["total"], "alone_bytes"), num(&r["total"], "stored_bytes") + num(&r["total"], "metadata_stored_bytes"));
    assert_eq!(num(&r["total"], "restore_size"), 100_000, "restore sizes add up over the selection");
    assert_eq!(num(&r["total"], "unique_bytes"), 50_000, "blobs count once over the selection");

    // A third snapshot with one more file holds that file's blob alone, and the trees from the
    // root down to src that changed with it.
    write(&src.join("three.bin"), &pseudo_random(7_000, 5));
    let third = snapshot_id(&backup_json(&env, [&src]));
    let r = stats(&env, &[]);
    let t = of(&r, &third);
    assert_eq!(num(t, "alone_blobs"), 1 + depth(&src) + 1, "three.bin's blob and the trees of /, ..., src: {t}");
    assert!(num(t, "alone_bytes") > 7_000 + SEAL, "{t}");
    for id in [&first, &second] {
        assert_eq!(num(of(&r, id), "alone_bytes"), 0, "the first two still share everything");
    }
    // Forgetting the third frees what it alone held, and stats then say the same.
    let before = num(&r["repository"]["total"], "stored_bytes");
    env.snap(["forget", &third]).ok();
    let after = stats(&env, &[]);
    assert_eq!(num(&after["repository"]["unreferenced"], "stored_bytes"), num(t, "alone_bytes"), "what the third held alone is now needed by no snapshot");
    assert_eq!(num(&after["repository"]["total"], "stored_bytes"), before);
    env.snap(["prune", "--max-unused", "0%"]).ok();
    let pruned = stats(&env, &[]);
    assert_eq!(num(&pruned["repository"]["total"], "stored_bytes"), before - num(t, "alone_bytes"));
    assert_eq!(num(&pruned["repository"]["unreferenced"], "blobs"), 0);
}

#[test]
fn stats_count_a_delta_base_as_needed_by_the_snapshot_whose_delta_uses_it() {
    let env = Env::with_repo();
    let backup = |rows: &[u8]| env.snap_stdin(["backup", "--json", "--stdin", "--stdin-filename", "chat.sql"], rows).ok().json();
    let day1 = chat_rows(0..40_000, 0);
    let first = backup(&day1);
    // Every 97th row edited: nearly every chunk of day two is a delta of one of day one's.
    let second = backup(&chat_rows(0..40_000, 97));
    let r = stats(&env, &[]);
    let (d1, d2) = (of(&r, &snapshot_id(&first)), of(&r, &snapshot_id(&second)));
    // Day two stored little, but it needs day one's chunks as bases: they count in what it
    // costs, and forgetting day one would not free them.
    assert!(num(d2, "stored_bytes") * 10 > num(d1, "stored_bytes") * 9, "day two's stored bytes include its bases: {d2} {d1}");
    assert!(num(d1, "alone_bytes") * 10 < num(d1, "stored_bytes"), "day one's chunks are day two's bases, not held alone: {d1}");
    assert!(num(d2, "alone_bytes") * 3 < num(d2, "stored_bytes"), "forgetting day two frees its deltas, not their bases: {d2}");
    assert!(num(d2, "alone_bytes") > num(&second, "bytes_stored") / 2, "day two's deltas are its alone: {d2} {second}");
    assert_eq!(num(d1, "restore_size"), day1.len() as u64);
    // Dictionaries count in the repository figures only.
    assert!(num(&r["repository"]["dictionaries"], "blobs") >= 1, "{r}");
}

/// `snap diff --json A B`.
fn diff_json(env: &Env, a: &str, b: &str) -> Value {
    env.snap(["diff", "--json", a, b]).ok().json()
}

#[test]
fn diff_tells_added_removed_content_and_metadata_changes_apart() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("keep.txt"), &pseudo_random(4_000, 10));
    write(&src.join("removed.txt"), &pseudo_random(3_000, 11));
    write(&src.join("changed.txt"), &pseudo_random(2_000, 12));
    write(&src.join("chmod.txt"), &pseudo_random(1_500, 13));
    write(&src.join("deep/unchanged/x"), b"same");
    let a = snapshot_id(&backup_json(&env, [&src]));
    fs::remove_file(src.join("removed.txt")).unwrap();
    write(&src.join("added.txt"), &pseudo_random(1_000, 14));
    write(&src.join("changed.txt"), &pseudo_random(2_100, 15));
    fs::set_permissions(src.join("chmod.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    let b = snapshot_id(&backup_json(&env, [&src]));

    let p = |name: &str| format!("{}/{name}", s(&src));
    let text = env.snap(["diff", &a, &b]).ok().stdout;
    let want = format!(
        "+    {}\nM    {}\nU    {}\n-    {}\n1 added, 1 removed, 1 changed content, 1 changed metadata only, 0 changed type; 3.0 KiB added, 4.9 KiB removed\n",
        p("added.txt"),
        p("changed.txt"),
        p("chmod.txt"),
        p("removed.txt")
    );
    assert_eq!(text, want);

    let j = diff_json(&env, &a, &b);
    assert_eq!(j["added"], serde_json::json!([{"path": p("added.txt"), "type": "file", "size": 1000}]));
    assert_eq!(j["removed"], serde_json::json!([{"path": p("removed.txt"), "type": "file", "size": 3000}]));
    assert_eq!(
        j["changed"],
        serde_json::json!([
            {"path": p("changed.txt"), "type": "file", "old_type": "file", "content": true, "metadata": true, "size": 2100, "old_size": 2000},
            {"path": p("chmod.txt"), "type": "file", "old_type": "file", "content": false, "metadata": true, "size": 1500, "old_size": 1500},
        ])
    );
    let sum = &j["summary"];
    assert_eq!((num(sum, "added"), num(sum, "files_added"), num(sum, "removed"), num(sum, "files_removed")), (1, 1, 1, 1));
    assert_eq!((num(sum, "content_changed"), num(sum, "metadata_changed"), num(sum, "type_changed")), (1, 1, 0));
    // New data: added.txt and changed.txt's new content; gone: removed.txt and the old content.
    assert_eq!((num(sum, "blobs_added"), num(sum, "bytes_added")), (2, 1_000 + 2_100));
    assert_eq!((num(sum, "blobs_removed"), num(sum, "bytes_removed")), (2, 3_000 + 2_000));

    // The other way round, everything is mirrored; a snapshot against itself has no change.
    let back = diff_json(&env, &b, &a);
    assert_eq!(back["added"][0]["path"], p("removed.txt"));
    assert_eq!(back["removed"][0]["path"], p("added.txt"));
    assert_eq!(num(&back["summary"], "bytes_added"), 5_000);
    let same = env.snap(["diff", &a, &a]).ok().stdout;
    assert_eq!(same, "0 added, 0 removed, 0 changed content, 0 changed metadata only, 0 changed type; 0 B added, 0 B removed\n");
}

#[test]
fn diff_lists_type_changes_and_whole_directories_and_compares_subdirectories() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("t"), b"a file first");
    write(&src.join("gone/inner/f"), b"12345");
    let a = snapshot_id(&backup_json(&env, [&src]));
    fs::remove_file(src.join("t")).unwrap();
    std::os::unix::fs::symlink("elsewhere", src.join("t")).unwrap();
    fs::remove_dir_all(src.join("gone")).unwrap();
    write(&src.join("new/x"), b"xyz");
    let b = snapshot_id(&backup_json(&env, [&src]));

    let p = |name: &str| format!("{}/{name}", s(&src));
    let lines: Vec<String> = env.snap(["-q", "diff", &a, &b]).ok().stdout.lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            format!("-    {}/", p("gone")),
            format!("-    {}/", p("gone/inner")),
            format!("-    {}", p("gone/inner/f")),
            format!("+    {}/", p("new")),
            format!("+    {}", p("new/x")),
            format!("T    {}", p("t")),
        ]
    );
    let j = diff_json(&env, &a, &b);
    assert_eq!(j["changed"][0]["type"], "symlink");
    assert_eq!(j["changed"][0]["old_type"], "file");
    assert_eq!((num(&j["summary"], "dirs_added"), num(&j["summary"], "dirs_removed"), num(&j["summary"], "type_changed")), (1, 2, 1));

    // `A:/path B:/path` compares two directories; paths stay absolute.
    let sub = env.snap(["-q", "diff", &format!("{a}:{}", p("new")), &format!("{b}:{}", p("new"))]);
    expect_code(&sub, 1, "a directory missing from the first snapshot");
    assert!(sub.stderr.contains("not found in snapshot"), "{}", sub.stderr);
    let j = env.snap(["diff", "--json", &format!("{a}:{}", s(&src)), &format!("{b}:{}", s(&src))]).ok().json();
    assert_eq!(j["added"][0]["path"], p("new"));
}

#[test]
fn diff_of_two_dumps_is_a_content_change_of_one_file() {
    let env = Env::with_repo();
    let dump = |rows: &[u8]| snapshot_id(&env.snap_stdin(["backup", "--json", "--stdin", "--stdin-filename", "databases/app.sql"], rows).ok().json());
    let a = dump(&chat_rows(0..2_000, 0));
    let b = dump(&chat_rows(0..2_000, 50));
    let j = diff_json(&env, &a, &b);
    assert_eq!(j["added"], serde_json::json!([]));
    assert_eq!(j["removed"], serde_json::json!([]));
    let changed = j["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{j}");
    assert_eq!(changed[0]["path"], "/databases/app.sql");
    assert_eq!(changed[0]["content"], true);
    assert!(num(&j["summary"], "bytes_added") > 0);
}

/// `snap find --json ARGS`: (short id, paths) per snapshot, in the order printed.
fn find(env: &Env, args: &[&str]) -> Vec<(String, Vec<String>)> {
    let mut all = vec!["find", "--json"];
    all.extend_from_slice(args);
    let j = env.snap(all).ok().json();
    j.as_array()
        .expect("array")
        .iter()
        .map(|s| (s["short_id"].as_str().unwrap().to_string(), s["matches"].as_array().unwrap().iter().map(|m| m["path"].as_str().unwrap().to_string()).collect()))
        .collect()
}

#[test]
fn find_names_the_snapshots_holding_a_glob_newest_first() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a/notes.txt"), b"first notes");
    write(&src.join("a/other.log"), b"log");
    let backup = |time: &str| snapshot_id(&backup_json(&env, ["--time", time, s(&src).as_str()]))[..8].to_string();
    let s1 = backup("2026-01-01 10:00:00");
    write(&src.join("b/notes.txt"), b"second notes, longer");
    let s2 = backup("2026-01-02 10:00:00");
    fs::remove_dir_all(src.join("a")).unwrap();
    fs::remove_dir_all(src.join("b")).unwrap();
    write(&src.join("c.log"), b"nothing to find");
    let s3 = backup("2026-01-03 10:00:00");
    let p = |name: &str| format!("{}/{name}", s(&src));

    // A name pattern matches at any depth; newest snapshot first, tree order within one.
    let both = vec![p("a/notes.txt"), p("b/notes.txt")];
    assert_eq!(find(&env, &["notes.txt"]), vec![(s2.clone(), both.clone()), (s1.clone(), vec![p("a/notes.txt")])]);
    assert_eq!(find(&env, &["*.txt", "--newest", "1"]), vec![(s2.clone(), both)]);
    // A pattern with a `/` matches the whole path.
    assert_eq!(find(&env, &[&format!("{}/b/*.txt", s(&src))]), vec![(s2.clone(), vec![p("b/notes.txt")])]);
    assert_eq!(find(&env, &["b/*.txt"]), vec![], "a relative path pattern matches no absolute path");
    assert_eq!(find(&env, &["*.log"]), vec![(s3.clone(), vec![p("c.log")]), (s2.clone(), vec![p("a/other.log")]), (s1.clone(), vec![p("a/other.log")])]);
    // Directories match too, and --snapshot narrows the search.
    assert_eq!(find(&env, &["b", "--snapshot", &s2, "--snapshot", &s1]), vec![(s2.clone(), vec![p("b")])]);
    assert_eq!(find(&env, &["notes.txt", "--snapshot", &s3]), vec![]);

    // Each match says its type, size and mtime.
    let j = env.snap(["find", "--json", "notes.txt", "--newest", "1"]).ok().json();
    let m = &j[0]["matches"][1];
    assert_eq!(m["type"], "file");
    assert_eq!(m["size"], 20);
    assert!(m["mtime"].as_i64().unwrap() > 1_600_000_000, "{m}");
    let text = env.snap(["find", "notes.txt"]).ok().stdout;
    assert!(text.contains(&format!("snapshot {s2} of 2026-01-02 10:00:00")) && text.ends_with("3 match(es) in 2 snapshot(s)\n"), "{text}");

    let bad = env.snap(["find", "[oops"]);
    expect_code(&bad, 1, "a pattern that is no glob");
    assert!(bad.stderr.contains("bad pattern \"[oops\""), "{}", bad.stderr);
}

//! `snap tag` end to end: `--add`, `--remove` and `--set` give exact tag lists, by id, prefix,
//! `latest` or filters; only snapshots whose tags change get a new id, and every other field
//! stays as stored (fields this snap does not know included); data and index files are not
//! touched (`check --read-data`, a byte-exact restore); a fresh cache sees the same; nonsense is
//! refused with one line and nothing changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::util::{assert_same_tree, expect_code, restored, s, write, Env, Run, PASSWORD};

/// Backs up `src` at `time` ("YYYY-MM-DD HH:MM:SS") with `extra` arguments; returns the id.
fn backup_at(env: &Env, src: &PathBuf, time: &str, extra: &[&str]) -> String {
    let mut args = vec!["backup", "--json", "--time", time];
    args.extend_from_slice(extra);
    let src = s(src);
    args.push(&src);
    env.snap(&args).ok().json()["snapshot_id"].as_str().expect("snapshot id").to_string()
}

/// `snapshots --json`, by id.
fn snapshots(env: &Env) -> BTreeMap<String, Value> {
    snapshots_of(&env.snap(["snapshots", "--json"]).ok())
}

fn snapshots_of(run: &Run) -> BTreeMap<String, Value> {
    run.json().as_array().expect("array").iter().map(|s| (s["id"].as_str().expect("id").to_string(), s.clone())).collect()
}

/// `tag ARGS --json`: `(old_id, new_id, tags)` of each rewritten snapshot, in output order.
fn tag(env: &Env, args: &[&str]) -> Vec<(String, String, Vec<String>)> {
    let mut full = vec!["tag", "--json"];
    full.extend_from_slice(args);
    let out = env.snap(&full).ok().json();
    out.as_array()
        .expect("array")
        .iter()
        .map(|r| {
            let obj = r.as_object().expect("object");
            assert_eq!(obj.len(), 3, "{r}");
            let tags = r["tags"].as_array().expect("tags").iter().map(|t| t.as_str().expect("tag").to_string()).collect();
            (r["old_id"].as_str().expect("old_id").to_string(), r["new_id"].as_str().expect("new_id").to_string(), tags)
        })
        .collect()
}

fn v(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| (*t).to_string()).collect()
}

/// `before` as it must look once retagged: the same in every field but its id and tags.
fn retagged(before: &Value, id: &str, tags: &[&str]) -> Value {
    let mut want = before.clone();
    want["id"] = json!(id);
    want["short_id"] = json!(&id[..8]);
    want["tags"] = json!(tags);
    want
}

/// Names and sizes of the repository's data and index files.
fn data_and_index(env: &Env) -> Vec<(String, u64)> {
    let raw = env.raw();
    let mut all = raw.list("data/");
    all.extend(raw.list("index/"));
    all.sort();
    all
}

/// The files of the snapshot cache (`<cache>/<repository id>/snapshots/`).
fn cached_snapshots(env: &Env) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for repo in std::fs::read_dir(env.cache()).expect("cache").flatten() {
        if let Ok(rd) = std::fs::read_dir(repo.path().join("snapshots")) {
            out.extend(rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()));
        }
    }
    out
}

#[test]
fn add_remove_and_set_rewrite_exactly_the_snapshots_whose_tags_change() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.txt"), b"alpha\n");
    write(&src.join("dir/b.bin"), &crate::util::pseudo_random(200_000, 3));
    let a = backup_at(&env, &src, "2026-01-01 10:00:00", &["--host", "h1", "--tag", "daily"]);
    let b = backup_at(&env, &src, "2026-01-02 10:00:00", &["--host", "h1", "--tag", "daily", "--tag", "db"]);
    let c = backup_at(&env, &src, "2026-01-03 10:00:00", &["--host", "h2"]);
    let orig = snapshots(&env);
    assert_eq!(orig.len(), 3);
    assert_eq!(orig[&b]["parent"].as_str(), Some(a.as_str()), "B's parent is A: kept as stored when A is retagged");
    let stored_before = data_and_index(&env);

    // --add by prefix: one snapshot, a new id, the others untouched.
    let r = tag(&env, &["--add", "weekly", &a[..8]]);
    assert_eq!(r.len(), 1);
    let (old, a2, tags) = r[0].clone();
    assert_eq!((old.as_str(), tags), (a.as_str(), v(&["daily", "weekly"])));
    assert_ne!(a2, a);
    let now = snapshots(&env);
    assert_eq!(now.keys().cloned().collect::<BTreeSet<_>>(), BTreeSet::from([a2.clone(), b.clone(), c.clone()]));
    assert_eq!(now[&a2], retagged(&orig[&a], &a2, &["daily", "weekly"]));
    assert_eq!((&now[&b], &now[&c]), (&orig[&b], &orig[&c]));

    // Tags already as asked: nothing rewritten, no id changes.
    assert!(tag(&env, &["--add", "daily", "--host", "h1"]).is_empty());
    assert_eq!(snapshots(&env), now);
    let text = env.snap(["tag", "--add", "daily", "--host", "h1"]).ok();
    assert_eq!(text.stdout, "0 snapshot(s) retagged, 2 already as asked\n");

    // --remove with a tag filter: only B has db.
    let r = tag(&env, &["--remove", "daily", "--tag", "db"]);
    let [(old, b2, tags)] = <[_; 1]>::try_from(r).expect("one snapshot");
    assert_eq!((old.as_str(), tags), (b.as_str(), v(&["db"])));

    // --set, repeated (a repeat kept once), on `latest`: C.
    let r = tag(&env, &["--set", "x", "--set", "y", "--set", "x", "latest"]);
    let [(old, c2, tags)] = <[_; 1]>::try_from(r).expect("one snapshot");
    assert_eq!((old.as_str(), tags), (c.as_str(), v(&["x", "y"])));
    // --set "" clears, selected by host.
    let r = tag(&env, &["--set", "", "--host", "h2"]);
    let [(old, c3, tags)] = <[_; 1]>::try_from(r).expect("one snapshot");
    assert_eq!((old, tags), (c2.clone(), Vec::<String>::new()));

    // Several ids at once, reported oldest first whatever the order given.
    let r = tag(&env, &["--add", "z", &b2[..6], &a2]);
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].0.as_str(), r[0].2.clone()), (a2.as_str(), v(&["daily", "weekly", "z"])));
    assert_eq!((r[1].0.as_str(), r[1].2.clone()), (b2.as_str(), v(&["db", "z"])));
    let (a3, b3) = (r[0].1.clone(), r[1].1.clone());

    let end = snapshots(&env);
    assert_eq!(end.keys().cloned().collect::<BTreeSet<_>>(), BTreeSet::from([a3.clone(), b3.clone(), c3.clone()]));
    assert_eq!(end[&a3], retagged(&orig[&a], &a3, &["daily", "weekly", "z"]));
    assert_eq!(end[&b3], retagged(&orig[&b], &b3, &["db", "z"]));
    assert_eq!(end[&c3], retagged(&orig[&c], &c3, &[]));
    assert_eq!(env.raw().list("snapshots/").len(), 3, "every old snapshot file was removed");

    // Data and index untouched, every byte readable, a restore byte-exact.
    assert_eq!(data_and_index(&env), stored_before);
    env.snap(["check", "--read-data"]).ok();
    let target = env.restore(&a3, "r");
    assert_same_tree(&src, &restored(&target, &src));

    // The warm cache holds exactly today's snapshot files, and a fresh cache sees the same.
    assert_eq!(cached_snapshots(&env), BTreeSet::from([a3.clone(), b3.clone(), c3.clone()]));
    let fresh: Run = env.cmd().env("SNAP_CACHE_DIR", env.path().join("fresh-cache")).args(["snapshots", "--json"]).output().expect("run").into();
    assert_eq!(snapshots_of(&fresh.ok()), end);
    // `snapshots --tag` finds them by their new tags only.
    let by_tag: BTreeSet<String> = snapshots_of(&env.snap(["snapshots", "--json", "--tag", "z"]).ok()).into_keys().collect();
    assert_eq!(by_tag, BTreeSet::from([a3, b3]));
    assert_eq!(snapshots_of(&env.snap(["snapshots", "--json", "--tag", "daily,db"]).ok()).len(), 0);
}

#[test]
fn fields_this_snap_does_not_know_survive_a_retag() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("f"), b"data\n");
    let id = backup_at(&env, &src, "2026-02-01 00:00:00", &["--tag", "old"]);

    // A snapshot as a later snap might write it: an extra field, still version 1.
    let lib_cache = env.path().join("lib-cache");
    let open = || {
        let backend = snap::backend::Backend::open(&env.location(), false).expect("backend");
        snap::repo::Repository::open(backend, PASSWORD.as_bytes(), &lib_cache).expect("open")
    };
    let sid: snap::format::SnapshotId = id.parse().expect("id");
    let (future, stored) = {
        let repo = open();
        let plain = repo.load_sealed(snap::backend::FileType::Snapshot, snap::crypto::aad::SNAPSHOT, &sid.0).expect("load");
        let mut json: serde_json::Map<String, Value> = serde_json::from_slice(&plain).expect("json");
        json.insert("from_the_future".into(), json!({ "n": 1, "s": "x" }));
        let bytes = serde_json::to_vec(&json).expect("encode");
        let new = repo.save_sealed(snap::backend::FileType::Snapshot, snap::crypto::aad::SNAPSHOT, &bytes).expect("save");
        repo.delete_snapshot(&sid).expect("delete");
        (hex::encode(new), json)
    };

    let r = tag(&env, &["--add", "new", &future]);
    let [(old, new, tags)] = <[_; 1]>::try_from(r).expect("one snapshot");
    assert_eq!((old, tags), (future.clone(), v(&["old", "new"])));
    let repo = open();
    let nid: snap::format::SnapshotId = new.parse().expect("id");
    let plain = repo.load_sealed(snap::backend::FileType::Snapshot, snap::crypto::aad::SNAPSHOT, &nid.0).expect("load");
    let got: serde_json::Map<String, Value> = serde_json::from_slice(&plain).expect("json");
    // Exactly what was stored, the unknown field included, with the new tags.
    let mut want = stored;
    want.insert("tags".into(), json!(["old", "new"]));
    assert_eq!(got, want);
    assert_eq!(env.raw().list("snapshots/").len(), 1, "the old snapshot file is gone");
}

#[test]
fn nonsense_is_refused_and_changes_nothing() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("f"), b"data\n");
    let id = backup_at(&env, &src, "2026-03-01 00:00:00", &["--tag", "t"]);
    let before = env.raw().list("snapshots/");
    let one_line = |run: &Run, code: i32, line: &str| {
        expect_code(run, code, line);
        assert_eq!(run.stderr.lines().collect::<Vec<_>>(), [line], "{}", run.stderr);
    };
    one_line(&env.snap(["tag", &id]), 1, "snap: nothing to do: give --add, --remove or --set");
    one_line(&env.snap(["tag", "--add", "a,b", &id]), 1, "snap: tag \"a,b\" contains a comma; filters read `a,b` as both a and b, so give each tag on its own");
    one_line(&env.snap(["tag", "--add", "x", "--remove", "x", &id]), 1, "snap: tag \"x\" is both added and removed");
    one_line(&env.snap(["tag", "--add", "", &id]), 1, "snap: --add and --remove need a tag (use --set \"\" to remove every tag)");
    let other = if id.starts_with("ffffffff") { "eeeeeeee" } else { "ffffffff" };
    one_line(&env.snap(["tag", "--add", "x", other]), 1, &format!("snap: no snapshot matches \"{other}\""));
    // --set with --add is a usage error of the command line itself.
    expect_code(&env.snap(["tag", "--set", "x", "--add", "y", &id]), 2, "--set with --add");
    // Filters matching nothing retag nothing.
    assert!(tag(&env, &["--add", "x", "--tag", "nosuch"]).is_empty());
    assert_eq!(env.raw().list("snapshots/"), before);
    assert_eq!(snapshots(&env)[&id]["tags"], json!(["t"]));
}

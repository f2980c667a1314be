//! `snap forget` end to end: a policy over many dated snapshots removes exactly the right ones,
//! a dry run removes nothing, ids are removed outright, groups are decided separately, and no
//! policy is refused; `--prune --json` prints one document holding prune's report.

use std::collections::BTreeSet;

use crate::util::Env;

/// Backs up a tiny stream as `/<name>` with the given time ("YYYY-MM-DD HH:MM:SS", UTC in the
/// harness) and extra arguments; returns the snapshot id.
fn backup_at(env: &Env, name: &str, time: &str, extra: &[&str]) -> String {
    let mut args = vec!["backup", "--json", "--stdin", "--stdin-filename", name, "--time", time];
    args.extend_from_slice(extra);
    let run = env.snap_stdin(args, time.as_bytes()).ok();
    run.json()["snapshot_id"].as_str().expect("snapshot id").to_string()
}

fn snapshot_ids(env: &Env) -> BTreeSet<String> {
    let run = env.snap(["snapshots", "--json"]).ok();
    run.json().as_array().expect("array").iter().map(|s| s["id"].as_str().expect("id").to_string()).collect()
}

/// `(kept ids, removed ids)` of one group of forget's JSON.
fn group_ids(group: &serde_json::Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let ids = |k: &str| group[k].as_array().expect(k).iter().map(|s| s["id"].as_str().expect("id").to_string()).collect();
    (ids("keep"), ids("remove"))
}

#[test]
fn keep_daily_over_45_days_keeps_the_later_of_each_of_the_last_30() {
    let env = Env::with_repo();
    // 45 days, 2 snapshots a day; (id, day index, is the later one).
    let mut made = Vec::new();
    let start = jiff::civil::date(2024, 1, 1);
    for day in 0..45 {
        let d = start.checked_add(jiff::Span::new().days(day)).expect("date");
        for (hour, later) in [(8, false), (20, true)] {
            let time = format!("{d} {hour:02}:00:00");
            made.push((backup_at(&env, "x", &time, &[]), day, later));
        }
    }
    let all: BTreeSet<String> = made.iter().map(|m| m.0.clone()).collect();
    assert_eq!(all.len(), 90);
    assert_eq!(snapshot_ids(&env), all);
    let want: BTreeSet<String> = made.iter().filter(|(_, day, later)| *day >= 15 && *later).map(|m| m.0.clone()).collect();
    assert_eq!(want.len(), 30);

    // Dry run: the same decisions, nothing removed.
    let dry = env.snap(["forget", "--keep-daily", "30", "--dry-run", "--json"]).ok().json();
    assert_eq!(snapshot_ids(&env), all, "a dry run removed something");
    let groups = dry["groups"].as_array().expect("array of groups");
    assert_eq!(groups.len(), 1);
    assert_eq!((&dry["removed"], &dry["kept"], &dry["dry_run"], &dry["prune"]), (&serde_json::json!(60), &serde_json::json!(30), &serde_json::json!(true), &serde_json::Value::Null));
    let (keep, remove) = group_ids(&groups[0]);
    assert_eq!(keep, want);
    assert_eq!(remove, &all - &want);

    // Human-readable dry run names the rule.
    let text = env.snap(["forget", "--keep-daily", "30", "--dry-run"]).ok();
    assert!(text.stdout.contains("daily snapshot"), "{}", text.stdout);
    assert!(text.stdout.contains("would remove 60 snapshot(s)"), "{}", text.stdout);
    assert_eq!(snapshot_ids(&env), all);

    // The real run.
    let out = env.snap(["forget", "--keep-daily", "30", "--json"]).ok().json();
    assert_eq!(out["groups"], dry["groups"], "forget decided differently from its dry run");
    assert_eq!(out["dry_run"], serde_json::json!(false));
    let g = &out["groups"][0];
    assert!(g["group"]["hostname"].is_string());
    assert_eq!(g["group"]["paths"], serde_json::json!(["/x"]));
    assert!(g["group"]["tags"].is_null());
    for k in g["keep"].as_array().expect("keep") {
        assert_eq!(k["reasons"], serde_json::json!(["daily snapshot"]));
        assert!(k["time"].as_str().expect("time").ends_with("20:00:00+00:00") || k["time"].as_str().expect("time").contains("T20:00:00"), "{k}");
    }
    assert_eq!(snapshot_ids(&env), want);
    // Only snapshot files went: the data is all still there and the repository checks clean.
    assert_eq!(std::fs::read_dir(env.repo().join("snapshots")).expect("snapshots dir").count(), 30);
    env.snap(["check"]).ok();

    // Applying the same policy again removes nothing.
    let again = env.snap(["forget", "--keep-daily", "30", "--json"]).ok().json();
    assert_eq!(group_ids(&again["groups"][0]).1.len(), 0);
    assert_eq!(snapshot_ids(&env), want);
}

#[test]
fn no_policy_is_refused() {
    let env = Env::with_repo();
    let id = backup_at(&env, "x", "2024-01-01 00:00:00", &[]);
    for args in [&["forget"][..], &["forget", "--dry-run"], &["forget", "--host", "h"], &["forget", "--keep-daily", "0"]] {
        let run = env.snap(args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stderr.contains("no policy given"), "{args:?}: {}", run.stderr);
    }
    let run = env.snap(["forget", "--keep-within", "30x"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--keep-within"), "{}", run.stderr);
    let run = env.snap(["forget", "--keep-last", "1", "--group-by", "hosts"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--group-by"), "{}", run.stderr);
    let run = env.snap(["forget", "--keep-last", "1", &id[..8]]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("not both"), "{}", run.stderr);
    assert_eq!(snapshot_ids(&env), BTreeSet::from([id]));
}

#[test]
fn explicit_ids_are_removed_outright() {
    let env = Env::with_repo();
    let a = backup_at(&env, "x", "2024-01-01 00:00:00", &[]);
    let b = backup_at(&env, "x", "2024-01-02 00:00:00", &[]);
    let c = backup_at(&env, "x", "2024-01-03 00:00:00", &[]);

    // An unknown id fails before anything is removed.
    let run = env.snap(["forget", &a[..8], "ffffffffffff"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(snapshot_ids(&env).len(), 3);

    let dry = env.snap(["forget", "--dry-run", &a[..8]]).ok();
    assert!(dry.stdout.contains(&a[..8]), "{}", dry.stdout);
    assert_eq!(snapshot_ids(&env).len(), 3);

    // A prefix and a full id, removed even though they are the newest and oldest.
    let out = env.snap(["forget", "--json", &a[..8], &c]).ok().json();
    let (keep, remove) = group_ids(&out["groups"][0]);
    assert!(keep.is_empty());
    assert_eq!(remove, BTreeSet::from([a.clone(), c.clone()]));
    assert_eq!(snapshot_ids(&env), BTreeSet::from([b.clone()]));
    let run = env.snap(["forget", &a]);
    assert_eq!(run.code, 1, "removing a removed snapshot: {run:?}");
    env.snap(["restore", &b, "--target", &env.path().join("r").to_string_lossy()]).ok();
}

#[test]
fn group_by_decides_per_group() {
    let env = Env::with_repo();
    // Two hosts, three snapshots each, each with a different stream name (so different paths).
    let mut by_host: Vec<(String, Vec<String>)> = Vec::new();
    for host in ["alpha", "beta"] {
        let ids = (1..=3).map(|d| backup_at(&env, &format!("s{d}"), &format!("2024-01-0{d} 12:00:00"), &["--host", host])).collect();
        by_host.push((host.to_string(), ids));
    }
    let all: BTreeSet<String> = by_host.iter().flat_map(|(_, ids)| ids.clone()).collect();

    // Default grouping (host, paths): every snapshot is alone in its group, so all are kept.
    let out = env.snap(["forget", "--keep-last", "1", "--dry-run", "--json"]).ok().json();
    assert_eq!(out["groups"].as_array().expect("groups").len(), 6);
    assert!(out["groups"].as_array().expect("groups").iter().all(|g| g["remove"].as_array().expect("remove").is_empty()));

    // One group for everything: only the newest of all survives.
    let out = env.snap(["forget", "--keep-last", "1", "--dry-run", "--json", "--group-by", ""]).ok().json();
    assert_eq!(out["groups"].as_array().expect("groups").len(), 1);
    assert_eq!(out["groups"][0]["group"], serde_json::json!({"hostname": null, "paths": null, "tags": null}));
    assert_eq!(group_ids(&out["groups"][0]).0.len(), 1);

    // Per host: the newest of each host survives.
    let out = env.snap(["forget", "--keep-last", "1", "--group-by", "host", "--json"]).ok().json();
    let groups = out["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2);
    for (g, (host, ids)) in groups.iter().zip(&by_host) {
        assert_eq!(g["group"]["hostname"], serde_json::json!(host));
        let (keep, remove) = group_ids(g);
        assert_eq!(keep, BTreeSet::from([ids[2].clone()]));
        assert_eq!(remove, BTreeSet::from([ids[0].clone(), ids[1].clone()]));
        assert_eq!(g["keep"][0]["reasons"], serde_json::json!(["last snapshot"]));
    }
    let want: BTreeSet<String> = by_host.iter().map(|(_, ids)| ids[2].clone()).collect();
    assert_eq!(snapshot_ids(&env), want);
    assert!(want.is_subset(&all));

    // Filters narrow what the policy sees: only beta's remaining snapshot is considered.
    let out = env.snap(["forget", "--keep-tag", "none", "--host", "beta", "--dry-run", "--json"]).ok().json();
    assert_eq!(out["groups"].as_array().expect("groups").len(), 1);
    assert_eq!(group_ids(&out["groups"][0]).1, BTreeSet::from([by_host[1].1[2].clone()]));
}

#[test]
fn keep_tag_and_within_in_text_output() {
    let env = Env::with_repo();
    let old = backup_at(&env, "x", "2024-01-01 00:00:00", &["--tag", "nightly"]);
    let mid = backup_at(&env, "x", "2024-03-01 00:00:00", &[]);
    let new = backup_at(&env, "x", "2024-03-20 00:00:00", &[]);
    let run = env.snap(["forget", "--keep-within", "30d", "--keep-tag", "nightly", "--dry-run"]).ok();
    assert!(run.stdout.contains("tag nightly"), "{}", run.stdout);
    assert!(run.stdout.contains("within 30d"), "{}", run.stdout);
    assert!(run.stdout.contains("would remove 0 snapshot(s), kept 3"), "{}", run.stdout);
    env.snap(["forget", "--keep-within", "2w", "--keep-tag", "nightly"]).ok();
    assert_eq!(snapshot_ids(&env), BTreeSet::from([old, new]));
    let _ = mid;
}

#[test]
fn forget_with_prune_frees_data() {
    let env = Env::with_repo();
    let big = crate::util::pseudo_random(300_000, 7);
    let first = env.snap_stdin(["backup", "--json", "--stdin", "--stdin-filename", "x", "--time", "2024-01-01 00:00:00"], &big).ok();
    let first = first.json()["snapshot_id"].as_str().expect("id").to_string();
    let second = backup_at(&env, "x", "2024-01-02 00:00:00", &[]);
    let before = env.data_bytes();
    // With --json, forget's report and prune's are one document: prune's inside forget's.
    let run = env.snap(["forget", "--keep-last", "1", "--prune", "--json"]).ok();
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let mut docs = serde_json::Deserializer::from_str(&run.stdout).into_iter::<serde_json::Value>();
    let out = docs.next().expect("a document").expect("valid JSON");
    assert!(docs.next().is_none(), "more than one JSON document: {}", run.stdout);
    let keys: BTreeSet<&str> = out.as_object().expect("an object").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["groups", "unreadable_removed", "removed", "kept", "dry_run", "prune"]));
    assert_eq!((&out["removed"], &out["kept"], &out["dry_run"]), (&serde_json::json!(1), &serde_json::json!(1), &serde_json::json!(false)));
    assert_eq!(group_ids(&out["groups"][0]), (BTreeSet::from([second.clone()]), BTreeSet::from([first.clone()])));
    let prune = &out["prune"];
    assert_eq!(prune["dry_run"], serde_json::json!(false));
    assert!(prune["packs_deleted"].as_u64().expect("packs_deleted") + prune["packs_repacked"].as_u64().expect("packs_repacked") >= 1, "{prune}");
    assert!(prune["bytes_freed"].as_u64().expect("bytes_freed") > 0, "{prune}");
    assert_eq!(prune["bytes_after"].as_u64(), Some(prune["bytes_before"].as_u64().expect("bytes_before") - prune["bytes_freed"].as_u64().expect("bytes_freed")));
    assert_eq!(snapshot_ids(&env), BTreeSet::from([second.clone()]));
    assert!(env.data_bytes() < before, "prune after forget freed nothing");
    // Nothing left to remove: prune does not run, and says so with null.
    let out = env.snap(["forget", "--keep-last", "1", "--prune", "--json"]).ok().json();
    assert_eq!((&out["removed"], &out["prune"]), (&serde_json::json!(0), &serde_json::Value::Null));
    assert_ne!(first, second);
    env.snap(["check"]).ok();
}

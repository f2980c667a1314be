//! `snap key` end to end: a second password opens the same snapshots, `key list` marks exactly
//! the key in use, `key remove` refuses the key in use and the last key with one line and exit 1,
//! `key passwd` leaves only the new password working (the old one then exits 12, the wrong-password
//! code) with every byte still readable; and `snap version` reports the format this snap reads.

use std::path::{Path, PathBuf};

use crate::util::{assert_same_tree, expect_code, restored, s, write, Env, Run};

/// Cheap Argon2id for keys made by tests, as `Env::with_repo` uses for init.
const FAST: [&str; 4] = ["--kdf-memory-kib", "256", "--kdf-iterations", "1"];

/// A small tree to back up.
fn source(env: &Env) -> PathBuf {
    let src = env.path().join("src");
    write(&src.join("a.txt"), b"alpha\n");
    write(&src.join("sub/b.bin"), &crate::util::pseudo_random(300_000, 7));
    src
}

/// Writes `password` (plus a newline and a second line that must be ignored) to a file.
fn password_file(env: &Env, name: &str, password: &str) -> PathBuf {
    let p = env.path().join(name);
    std::fs::write(&p, format!("{password}\nnot this line\n")).expect("password file");
    p
}

/// `snap ARGS` with the password read from `file` instead of the environment's.
fn snap_with(env: &Env, file: &Path, args: &[&str]) -> Run {
    env.cmd().env("SNAP_PASSWORD_FILE", file).args(args).output().expect("run snap").into()
}

/// The key ids in storage.
fn stored_keys(env: &Env) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(env.repo().join("keys")).expect("keys/").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    ids.sort();
    ids
}

/// `(id, current)` of each key in `key list --json`, checking every entry's fields.
fn listed(run: &Run) -> Vec<(String, bool)> {
    let v = run.json();
    let mut out: Vec<(String, bool)> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|k| {
            let obj = k.as_object().expect("object");
            let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
            fields.sort_unstable();
            assert_eq!(fields, ["created", "current", "host", "id", "username"], "{k}");
            assert!(k["host"].is_null() && k["username"].is_null(), "host and user are not stored: {k}");
            let created = k["created"].as_str().expect("created");
            created.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("created {created:?}: {e}"));
            (k["id"].as_str().expect("id").to_string(), k["current"].as_bool().expect("current"))
        })
        .collect();
    out.sort();
    out
}

/// The one line on stderr, which must start with `snap: `.
fn one_line(run: &Run) -> &str {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr must be one line: {:?}", run.stderr);
    lines[0]
}

#[test]
fn a_second_password_opens_the_same_snapshots_and_remove_keeps_one_that_works() {
    let env = Env::with_repo();
    let src = source(&env);
    let id = env.backup(&[&src]);
    let first = env.path().join("password");
    let [init_key] = <[String; 1]>::try_from(stored_keys(&env)).expect("init writes one key");

    let second = password_file(&env, "second", "a second password");
    let mut add = vec!["key", "add", "--json", "--new-password-file"];
    let second_s = s(&second);
    add.push(&second_s);
    add.extend(FAST);
    let added = env.snap(&add).ok().json()["id"].as_str().expect("id").to_string();
    assert_ne!(added, init_key);
    let mut both = vec![init_key.clone(), added.clone()];
    both.sort();
    assert_eq!(stored_keys(&env), both);

    // Both passwords open the repository and see the same snapshot.
    for pw in [&first, &second] {
        let snaps = snap_with(&env, pw, &["snapshots", "--json"]).ok().json();
        let ids: Vec<&str> = snaps.as_array().expect("array").iter().map(|s| s["id"].as_str().expect("id")).collect();
        assert_eq!(ids, [id.as_str()]);
    }

    // Each password's list shows both keys and marks its own key, and only it, as current.
    let current = |pw: &Path| -> Vec<(String, bool)> { listed(&snap_with(&env, pw, &["key", "list", "--json"]).ok()) };
    let mut want = vec![(init_key.clone(), true), (added.clone(), false)];
    want.sort();
    assert_eq!(current(&first), want);
    let mut want = vec![(init_key.clone(), false), (added.clone(), true)];
    want.sort();
    assert_eq!(current(&second), want);
    let text = env.snap(["key", "list"]).ok();
    assert!(text.stdout.lines().any(|l| l.starts_with(&format!("*  {}  ", &init_key[..8]))), "{}", text.stdout);
    assert!(text.stdout.lines().any(|l| l.starts_with(&format!("   {}  ", &added[..8]))), "{}", text.stdout);
    assert!(text.stdout.contains("2 key(s); * marks the key in use"), "{}", text.stdout);

    // The key in use is refused, one line, exit 1, nothing removed.
    let run = env.snap(["key", "remove", &init_key[..10]]);
    expect_code(&run, 1, "removing the key in use");
    assert_eq!(
        one_line(&run),
        format!("snap: key {} is the key in use (its password opened the repository); remove it with another key's password, or change it with `snap key passwd`", &init_key[..8])
    );
    assert_eq!(stored_keys(&env), both);
    // A prefix that names no key, and one too short to be a key id.
    let run = env.snap(["key", "remove", "0000000"]);
    expect_code(&run, 1, "an unknown key");
    assert_eq!(one_line(&run), "snap: no key matches \"0000000\" (see `snap key list`)");
    let run = env.snap(["key", "remove", "ab"]);
    expect_code(&run, 1, "a short prefix");
    assert_eq!(one_line(&run), "snap: \"ab\" is not a key id (at least 4 hex digits; see `snap key list`)");
    assert_eq!(stored_keys(&env), both);

    // The other key goes, by unique prefix: its password no longer opens the repository.
    let removed = env.snap(["key", "remove", "--json", &added[..6]]).ok().json();
    assert_eq!(removed, serde_json::json!({ "removed": added }));
    assert_eq!(stored_keys(&env), [init_key.clone()]);
    let run = snap_with(&env, &second, &["snapshots"]);
    expect_code(&run, 12, "the removed key's password");
    assert!(one_line(&run).starts_with("snap: wrong password: no key in "), "{}", run.stderr);
    assert_eq!(listed(&env.snap(["key", "list", "--json"]).ok()), [(init_key.clone(), true)]);

    // The last key is refused even before it is found to be the one in use.
    let run = env.snap(["key", "remove", &init_key]);
    expect_code(&run, 1, "removing the last key");
    assert_eq!(one_line(&run), format!("snap: key {} is the repository's only key; removing it would leave no password that opens the repository", &init_key[..8]));
    assert_eq!(stored_keys(&env), [init_key.clone()]);
    env.snap(["check", "--read-data"]).ok();
}

#[test]
fn passwd_leaves_only_the_new_password_and_every_byte_readable() {
    let env = Env::with_repo();
    let src = source(&env);
    let id = env.backup(&[&src]);
    let old = env.path().join("password");
    let [old_key] = <[String; 1]>::try_from(stored_keys(&env)).expect("one key");

    // The new password from a command: its first line only.
    let mut args = vec!["key", "passwd", "--json", "--new-password-command", "echo 'the new one'; echo 'second line'"];
    args.extend(FAST);
    let done = env.snap(&args).ok().json();
    assert_eq!(done["removed"].as_str(), Some(old_key.as_str()));
    let new_key = done["added"].as_str().expect("added").to_string();
    assert_ne!(new_key, old_key);
    assert_eq!(stored_keys(&env), [new_key.clone()]);

    // The old password is now wrong (exit 12), with the wrong-password line.
    let run = snap_with(&env, &old, &["snapshots"]);
    expect_code(&run, 12, "the old password");
    assert_eq!(one_line(&run), format!("snap: wrong password: no key in {} opens with it", env.location()));

    // The new one opens everything: the snapshot, every byte, a byte-exact restore.
    let new = env.path().join("new-password");
    std::fs::write(&new, "the new one\n").expect("write");
    let snaps = snap_with(&env, &new, &["snapshots", "--json"]).ok().json();
    assert_eq!(snaps[0]["id"].as_str(), Some(id.as_str()));
    snap_with(&env, &new, &["check", "--read-data"]).ok();
    let target = env.path().join("r");
    snap_with(&env, &new, &["restore", &id, "--target", &s(&target)]).ok();
    assert_same_tree(&src, &restored(&target, &src));
    assert_eq!(listed(&snap_with(&env, &new, &["key", "list", "--json"]).ok()), [(new_key.clone(), true)]);
    // And a backup with it deduplicates against what the old password stored: a copy of the
    // data, read afresh, adds only its trees.
    let copy = env.path().join("copy");
    write(&copy.join("b.bin"), &std::fs::read(src.join("sub/b.bin")).expect("read"));
    let again = snap_with(&env, &new, &["backup", "--json", &s(&copy)]).ok().json();
    assert_eq!((again["files_new"].as_u64(), again["bytes_read"].as_u64()), (Some(1), Some(300_000)), "{again}");
    assert!(again["bytes_added"].as_u64().is_some_and(|n| n < 10_000), "the data was stored again: {again}");
}

#[test]
fn an_empty_new_password_adds_no_key() {
    let env = Env::with_repo();
    let before = stored_keys(&env);
    let empty = env.path().join("empty");
    std::fs::write(&empty, "\nsecond line\n").expect("write");
    for verb in ["add", "passwd"] {
        let mut args = vec!["key", verb, "--new-password-file"];
        let e = s(&empty);
        args.push(&e);
        args.extend(FAST);
        let run = env.snap(&args);
        expect_code(&run, 1, verb);
        assert_eq!(one_line(&run), format!("snap: empty password: the first line of password file {} is empty", empty.display()));
        assert_eq!(stored_keys(&env), before, "{verb} changed the keys");
    }
}

#[test]
fn version_names_the_format_it_reads() {
    let env = Env::new();
    let v = env.snap(["version", "--json"]).ok().json();
    assert_eq!(
        v,
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "format_version": snap::format::config::REPO_VERSION,
            "features": ["engine"],
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        })
    );
    let text = env.snap(["version"]).ok();
    assert_eq!(
        text.stdout,
        format!(
            "snap {} (repository format {}, features: engine, {}-{})\n",
            env!("CARGO_PKG_VERSION"),
            snap::format::config::REPO_VERSION,
            std::env::consts::ARCH,
            std::env::consts::OS
        )
    );
    assert!(text.stderr.is_empty(), "{}", text.stderr);
}

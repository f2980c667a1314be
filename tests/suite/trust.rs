//! Issue 7: nothing destructive acts on a guess. One damaged snapshot or index file blocks only
//! what would have to guess (prune), `forget ID` removes a damaged snapshot, `repair index` never
//! un-indexes a pack it could not read, and a backup killed with kill -9 leaves packs the next
//! backup verifies and reuses instead of uploading them again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{assert_contains, assert_same_tree, backup_json, expect_code, pseudo_random, restored, s, write, Env};

const MIB: usize = 1024 * 1024;


fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("read_dir").flatten() {
        if e.path().is_dir() {
            out.extend(files_in(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

fn snapshot_ids(env: &Env) -> Vec<String> {
    env.snap(["snapshots", "--json"]).ok().json().as_array().expect("array").iter().map(|v| v["id"].as_str().expect("id").to_string()).collect()
}

fn restores(env: &Env, id: &str, src: &Path, name: &str) {
    let target = env.path().join(name);
    let run = env.snap(["restore", id, "--target", &s(&target)]);
    expect_code(&run, 0, &format!("restore {id}"));
    assert_same_tree(src, &restored(&target, src));
    fs::remove_dir_all(&target).expect("clean up");
}

/// Three snapshots of a small tree, the middle one's file truncated.
fn repo_with_a_truncated_snapshot() -> (Env, PathBuf, [String; 3]) {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.txt"), b"first");
    let a = backup_json(&env, ["--time", "2026-01-01 10:00:00", &s(&src)])["snapshot_id"].as_str().unwrap().to_string();
    write(&src.join("b.bin"), &pseudo_random(300_000, 1));
    let b = backup_json(&env, ["--time", "2026-01-02 10:00:00", &s(&src)])["snapshot_id"].as_str().unwrap().to_string();
    write(&src.join("c.txt"), b"third");
    let c = backup_json(&env, ["--time", "2026-01-03 10:00:00", &s(&src)])["snapshot_id"].as_str().unwrap().to_string();
    let file = env.repo().join("snapshots").join(&b);
    let len = fs::metadata(&file).unwrap().len();
    fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(len / 2).unwrap();
    (env, src, [a, b, c])
}

#[test]
fn a_truncated_snapshot_file_blocks_only_prune_and_forget_removes_it() {
    let (env, src, [a, b, c]) = repo_with_a_truncated_snapshot();
    // Listing goes on, naming the damaged file on stderr.
    let run = env.snap(["snapshots", "--json"]);
    expect_code(&run, 0, "snapshots");
    let listed: Vec<String> = run.json().as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(listed, vec![a.clone(), c.clone()]);
    assert_contains(&run.stderr, &format!("snapshot {} skipped", &b[..8]), "warning");
    // Restores of intact snapshots, latest included.
    restores(&env, "latest", &src, "r-latest");
    // The damaged one: a clear error naming it, not "no snapshot matches".
    let run = env.snap(["restore", &b[..12], "--target", &s(&env.path().join("r-b"))]);
    expect_code(&run, 1, "restore of the damaged snapshot");
    assert_contains(&run.stderr, &b, "the error names the damaged file");
    // A backup (whose parent lookup reads every snapshot) still works.
    write(&src.join("d.txt"), b"fourth");
    let d = env.backup(&[&src]);
    restores(&env, &d, &src, "r-d");
    // check names it; prune refuses to guess what it references.
    let run = env.snap(["check"]);
    expect_code(&run, 1, "check");
    assert_contains(&format!("{}{}", run.stdout, run.stderr), &format!("snapshot {} cannot be read", &b[..8]), "check");
    let before = files_in(&env.repo().join("data"));
    let run = env.snap(["forget", &a, "--prune"]);
    expect_code(&run, 1, "forget --prune with a damaged snapshot");
    assert_contains(&run.stderr, "prune refused, nothing was deleted", "prune");
    assert_eq!(files_in(&env.repo().join("data")), before, "prune deleted packs");
    // forget by id removes the damaged file; then everything is whole again.
    env.snap(["forget", &b]).ok();
    assert!(!env.repo().join("snapshots").join(&b).exists());
    env.snap(["prune"]).ok();
    env.snap(["check", "--read-data"]).ok();
    assert_eq!(snapshot_ids(&env), vec![c.clone(), d.clone()]);
    restores(&env, &d, &src, "r-d2");
}

#[test]
fn a_policy_never_removes_a_snapshot_it_cannot_read() {
    let (env, _src, [a, b, c]) = repo_with_a_truncated_snapshot();
    env.snap(["forget", "--keep-last", "1"]).ok();
    assert!(!env.repo().join("snapshots").join(&a).exists(), "the policy removes the readable old one");
    assert!(env.repo().join("snapshots").join(&b).exists(), "the unreadable one stays");
    assert!(env.repo().join("snapshots").join(&c).exists());
}

#[test]
fn a_junk_index_file_is_skipped_and_prune_refuses() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.bin"), &pseudo_random(200_000, 2));
    let first = env.backup(&[&src]);
    let junk = env.repo().join("index").join("ab".repeat(32));
    fs::write(&junk, b"not an index file").unwrap();
    fs::remove_dir_all(env.cache()).unwrap();
    let run = env.snap(["snapshots"]);
    expect_code(&run, 0, "snapshots");
    let run = env.snap(["restore", &first, "--target", &s(&env.path().join("r"))]);
    expect_code(&run, 0, "restore");
    assert_contains(&run.stderr, &format!("index file {} skipped", &"ab".repeat(4)), "warning");
    assert_same_tree(&src, &restored(&env.path().join("r"), &src));
    write(&src.join("b.bin"), &pseudo_random(100_000, 3));
    env.backup(&[&src]);
    let run = env.snap(["prune"]);
    expect_code(&run, 1, "prune");
    assert_contains(&run.stderr, "prune refused, nothing was deleted: index file abababab cannot be read", "prune");
    expect_code(&env.snap(["check"]), 1, "check");
    // repair index drops the damaged file (every pack was re-read) and all is well.
    env.snap(["repair", "index"]).ok();
    assert!(!junk.exists());
    env.snap(["prune"]).ok();
    env.snap(["check", "--read-data"]).ok();
}

#[test]
fn repair_index_keeps_the_entries_of_a_pack_it_cannot_read() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.bin"), &pseudo_random(3 * MIB, 4));
    let first = env.backup(&[&src]);
    // The largest pack is the data pack; break its header (the last bytes before the length).
    let data = files_in(&env.repo().join("data"));
    let pack = data.iter().max_by_key(|p| fs::metadata(p).unwrap().len()).unwrap().clone();
    let mut bytes = fs::read(&pack).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0x55;
    // Keep the old bytes aside: the damage stands for a read that failed this time.
    let good = fs::read(&pack).unwrap();
    fs::write(&pack, &bytes).unwrap();
    let run = env.snap(["repair", "index"]);
    expect_code(&run, 1, "repair with an unreadable pack");
    assert_contains(&run.stderr, "kept: it names pack", "the old index file is kept");
    // Prune must not take the pack for an orphan.
    env.snap(["prune", "--max-unused", "0%"]).ok();
    assert!(pack.exists(), "prune deleted a pack that repair could not read");
    // The read works again: nothing was lost.
    fs::write(&pack, &good).unwrap();
    env.snap(["check", "--read-data"]).ok();
    restores(&env, &first, &src, "r");
}

/// Waits until `cond` holds, for at most `limit`; says whether it did.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

#[test]
fn a_killed_backup_leaves_packs_the_next_backup_verifies_and_reuses() {
    let env = Env::with_repo();
    let data = env.path().join("dump.bin");
    fs::write(&data, pseudo_random(40 * MIB, 5)).unwrap();
    // The stream stops after its data and waits: packs fill and are stored, none is indexed.
    let script = format!("cat '{}'; sleep 120", s(&data));
    let mut child = env
        .cmd()
        .args(["backup", "--stdin-from-command", "--stdin-filename", "dump.bin", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let packs = || files_in(&env.repo().join("data")).into_iter().filter(|p| fs::metadata(p).map(|m| m.len() > 8 * MIB as u64).unwrap_or(false)).count();
    let stored = wait_until(Duration::from_secs(60), || packs() >= 2);
    // SAFETY: kill(2) on our own child's pid; -9 as the campaign does.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let _ = std::process::Command::new("pkill").args(["-f", &script]).status();
    assert!(stored, "two full packs were never stored");
    assert_eq!(fs::read_dir(env.repo().join("index")).unwrap().count(), 0, "the killed backup wrote no index file");
    assert!(snapshot_ids(&env).is_empty());

    let run = env.snap(["backup", "--json", "--stdin-from-command", "--stdin-filename", "dump.bin", "--", "cat", &s(&data)]).ok();
    let added = run.json()["bytes_added"].as_u64().unwrap();
    assert!(added <= 40 * MIB as u64 - 2 * 16 * MIB as u64 + MIB as u64, "the stored packs were not reused: {added} bytes added");
    let id = run.json()["snapshot_id"].as_str().unwrap().to_string();
    assert!(env.snap(["dump", &id, "/dump.bin"]).ok().raw_stdout == fs::read(&data).unwrap());
    env.snap(["check", "--read-data"]).ok();
}

#[test]
fn a_damaged_orphan_pack_is_not_adopted() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.bin"), &pseudo_random(2 * MIB, 6));
    env.backup(&[&src]);
    // Drop every index file and flip a byte in the data pack: it is now a damaged orphan.
    for f in files_in(&env.repo().join("index")) {
        fs::remove_file(f).unwrap();
    }
    fs::remove_dir_all(env.cache()).unwrap();
    let data = files_in(&env.repo().join("data"));
    let pack = data.iter().max_by_key(|p| fs::metadata(p).unwrap().len()).unwrap().clone();
    let mut bytes = fs::read(&pack).unwrap();
    bytes[100] ^= 1;
    fs::write(&pack, &bytes).unwrap();
    let run = backup_json(&env, [s(&src)]);
    assert!(run["bytes_added"].as_u64().unwrap() >= 2 * MIB as u64, "a damaged pack was reused: {run}");
    let id = run["snapshot_id"].as_str().unwrap().to_string();
    restores(&env, &id, &src, "r");
}

#[test]
fn check_names_a_damaged_key_file_while_another_opens_the_repository() {
    let env = Env::with_repo();
    let keys = files_in(&env.repo().join("keys"));
    assert_eq!(keys.len(), 1);
    // A second key file whose content does not match its name.
    let bad = env.repo().join("keys").join("0".repeat(64));
    let mut bytes = fs::read(&keys[0]).unwrap();
    bytes[20] ^= 0x20;
    fs::write(&bad, &bytes).unwrap();
    env.snap(["snapshots"]).ok();
    let run = env.snap(["check"]);
    expect_code(&run, 1, "check with a damaged key file");
    assert_contains(&format!("{}{}", run.stdout, run.stderr), "key file 00000000", "check names it");
}

/// A repository whose latest snapshot is a chain of 5000 nested directories, written through
/// the library as only a holder of the keys could.
#[test]
fn a_hostile_tree_nested_too_deep_is_damage_not_a_crash() {
    use snap::format::pack::BlobKind;
    use snap::format::tree::{Node, NodeKind, Tree};
    use snap::repo::saver::BlobSaver;
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.txt"), b"a");
    let good = env.backup(&[&src]);
    let backend = snap::backend::Backend::open(&s(&env.repo()), false).unwrap();
    let repo = snap::repo::Repository::open(backend, crate::util::PASSWORD.as_bytes(), &env.path().join("lib-cache")).unwrap();
    repo.sync_index().unwrap();
    let saver = BlobSaver::new(&repo);
    let mut tree = Tree { nodes: Vec::new() };
    for _ in 0..5000 {
        let id = saver.save(BlobKind::Tree, &tree.encode()).unwrap();
        tree = Tree { nodes: vec![Node { name: b"d".to_vec(), kind: Some(NodeKind::Dir), mode: 0o755, subtree: Some(id), ..Node::default() }] };
    }
    let root = saver.save(BlobKind::Tree, &tree.encode()).unwrap();
    saver.finish().unwrap();
    let (_, template) = repo.snapshots().unwrap().pop().unwrap();
    let deep = repo.save_snapshot(&snap::format::snapshot::Snapshot { tree: root, time: "2030-01-01T00:00:00Z".into(), ..template }).unwrap().to_hex();
    drop(repo);
    let run = env.snap(["check"]);
    expect_code(&run, 1, "check");
    assert_contains(&format!("{}{}", run.stdout, run.stderr), "nested deeper than 4096 levels", "check");
    let run = env.snap(["ls", &deep]);
    expect_code(&run, 1, "ls");
    assert_contains(&run.stderr, "nested deeper than 4096 levels", "ls");
    let run = env.snap(["prune"]);
    expect_code(&run, 1, "prune");
    assert_contains(&run.stderr, "prune refused", "prune");
    restores(&env, &good, &src, "r");
}

#[test]
fn prune_deletes_an_orphan_pack_only_after_its_grace_period() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.bin"), &pseudo_random(MIB, 7));
    let id = env.backup(&[&src]);
    // Two orphans: copies of the data pack under other (valid-looking) names, one written now,
    // one two days ago by the storage's clock.
    let data = files_in(&env.repo().join("data"));
    let pack = data.iter().max_by_key(|p| fs::metadata(p).unwrap().len()).unwrap().clone();
    let young = env.repo().join("data/aa").join("aa".repeat(32));
    let old = env.repo().join("data/bb").join("bb".repeat(32));
    for p in [&young, &old] {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::copy(&pack, p).unwrap();
    }
    let two_days_ago = filetime::FileTime::from_unix_time(filetime::FileTime::now().unix_seconds() - 2 * 86_400, 0);
    filetime::set_file_mtime(&old, two_days_ago).unwrap();
    let run = env.snap(["prune", "--json"]).ok().json();
    assert_eq!(run["packs_orphaned"].as_u64(), Some(1), "{run}");
    assert_eq!(run["packs_orphaned_kept"].as_u64(), Some(1), "{run}");
    assert!(young.exists(), "a pack written moments ago was deleted");
    assert!(!old.exists(), "an orphan older than the grace period was kept");
    // A shorter grace lets the young one go too.
    let run = env.snap(["prune", "--orphan-grace", "0", "--json"]).ok().json();
    assert_eq!(run["packs_orphaned"].as_u64(), Some(1), "{run}");
    assert!(!young.exists());
    env.snap(["check", "--read-data"]).ok();
    restores(&env, &id, &src, "r");
}

/// A file node whose recorded size is not what its chunks hold (as only a holder of the keys, or
/// a bug, could write): check reports it and dump refuses before writing a byte.
#[test]
fn a_file_whose_chunks_do_not_add_up_to_its_size_is_refused() {
    use snap::format::pack::BlobKind;
    use snap::format::tree::{Content, Node, NodeKind, Tree};
    use snap::repo::saver::BlobSaver;
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.txt"), b"some content");
    env.backup(&[&src]);
    let backend = snap::backend::Backend::open(&s(&env.repo()), false).unwrap();
    let repo = snap::repo::Repository::open(backend, crate::util::PASSWORD.as_bytes(), &env.path().join("lib-cache")).unwrap();
    repo.sync_index().unwrap();
    let saver = BlobSaver::new(&repo);
    let chunk = saver.save(BlobKind::Data, b"twelve bytes").unwrap();
    let file = Node { name: b"liar.txt".to_vec(), kind: Some(NodeKind::File), mode: 0o644, size: 13, content: Content::Chunks(vec![chunk]), ..Node::default() };
    let root = saver.save(BlobKind::Tree, &Tree { nodes: vec![file] }.encode()).unwrap();
    saver.finish().unwrap();
    let (_, template) = repo.snapshots().unwrap().pop().unwrap();
    let liar = repo.save_snapshot(&snap::format::snapshot::Snapshot { tree: root, time: "2030-01-01T00:00:00Z".into(), ..template }).unwrap().to_hex();
    drop(repo);
    let run = env.snap(["check"]);
    expect_code(&run, 1, "check");
    assert_contains(&format!("{}{}", run.stdout, run.stderr), "file /liar.txt: its node says 13 bytes but its chunks hold 12", "check");
    let run = env.snap(["dump", &liar, "/liar.txt"]);
    expect_code(&run, 1, "dump");
    assert!(run.raw_stdout.is_empty(), "dump wrote bytes of a file it should refuse");
    assert_contains(&run.stderr, "its node says 13 bytes but its chunks hold 12", "dump");
}

#[test]
fn an_unreadable_lock_blocks_prune_but_not_backup() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.txt"), b"a");
    env.backup(&[&src]);
    let junk = env.repo().join("locks").join("cd".repeat(32));
    fs::write(&junk, b"junk").unwrap();
    let run = env.snap(["prune"]);
    expect_code(&run, 11, "prune with an unreadable lock");
    let run = env.snap(["forget", "--keep-last", "1"]);
    expect_code(&run, 11, "forget with an unreadable lock");
    env.backup(&[&src]);
    // Fresh junk is not stale: only --remove-all takes it away.
    env.snap(["unlock"]).ok();
    assert!(junk.exists());
    env.snap(["unlock", "--remove-all"]).ok();
    env.snap(["prune"]).ok();
}

/// A source tree 2000 directories deep (as deep as PATH_MAX lets a walk by path go) backs up,
/// checks and restores; the walker's stack is sized for the deepest tree a snapshot may hold.
#[test]
fn a_source_tree_2000_levels_deep_backs_up_and_restores() {
    use std::ffi::CString;
    let env = Env::with_repo();
    let src = env.path().join("deep");
    fs::create_dir(&src).unwrap();
    let c = CString::new(s(&src)).unwrap();
    // SAFETY: plain POSIX calls on descriptors this test owns; each is closed once.
    unsafe {
        let mut fd = libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        assert!(fd >= 0);
        let name = CString::new("d").unwrap();
        for _ in 0..2000 {
            assert_eq!(libc::mkdirat(fd, name.as_ptr(), 0o755), 0);
            let next = libc::openat(fd, name.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
            assert!(next >= 0);
            libc::close(fd);
            fd = next;
        }
        let leaf = CString::new("leaf.txt").unwrap();
        let f = libc::openat(fd, leaf.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o644);
        assert!(f >= 0);
        assert_eq!(libc::write(f, b"bottom".as_ptr().cast(), 6), 6);
        libc::close(f);
        libc::close(fd);
    }
    let id = env.backup(&[&src]);
    env.snap(["check", "--read-data"]).ok();
    let listed = env.snap(["ls", &id]).ok();
    assert!(listed.stdout.lines().any(|l| l.ends_with("/leaf.txt")), "the leaf is in the snapshot");
    let target = env.path().join("r");
    env.snap(["restore", &id, "--target", &s(&target)]).ok();
    // Too long for one path: walk there relative to an open directory instead.
    let depth_ok = std::process::Command::new("sh").arg("-c").arg(format!("cd '{}' && for i in $(seq 2000); do cd d || exit 1; done && cat leaf.txt", s(&restored(&target, &src)))).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&depth_ok.stdout), "bottom", "{}", String::from_utf8_lossy(&depth_ok.stderr));
}

#[test]
fn a_backup_stores_again_what_the_index_places_in_a_missing_or_cut_pack() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.bin"), &pseudo_random(3 << 20, 41));
    write(&src.join("b.bin"), &pseudo_random(3 << 20, 42));
    env.backup(&[&src]);
    let mut packs: Vec<(u64, PathBuf)> = files_in(&env.repo().join("data")).into_iter().map(|p| (fs::metadata(&p).unwrap().len(), p)).collect();
    packs.sort();
    assert!(packs.len() >= 2, "{packs:?}");
    // The largest pack cut in half, the next one gone: the index still names both.
    let (len, cut) = packs.pop().unwrap();
    let file = fs::OpenOptions::new().write(true).open(&cut).unwrap();
    file.set_len(len / 2).unwrap();
    let (_, gone) = packs.pop().unwrap();
    fs::remove_file(&gone).unwrap();
    // The next backup of the same files must not deduplicate against what cannot be read.
    let second = env.backup(&[&src]);
    restores(&env, &second, &src, "second");
    // And with the local index rebuilt from the repository alone.
    fs::remove_dir_all(env.cache()).unwrap();
    restores(&env, &second, &src, "second-fresh-cache");
}

#[test]
fn a_backup_does_not_trust_a_pack_file_swapped_for_another() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.bin"), &pseudo_random(2 << 20, 43));
    write(&src.join("small.txt"), b"tree and data packs differ in size\n");
    env.backup(&[&src]);
    let mut packs: Vec<(u64, PathBuf)> = files_in(&env.repo().join("data")).into_iter().map(|p| (fs::metadata(&p).unwrap().len(), p)).collect();
    packs.sort();
    assert!(packs.len() >= 2 && packs[0].0 != packs[packs.len() - 1].0, "{packs:?}");
    // The smallest (metadata) and the largest (data) pack trade contents under their names:
    // every index entry still points inside a file, but no file is what its name says.
    let (small, big) = (packs[0].1.clone(), packs[packs.len() - 1].1.clone());
    let tmp = env.path().join("swap");
    fs::rename(&small, &tmp).unwrap();
    fs::rename(&big, &small).unwrap();
    fs::rename(&tmp, &big).unwrap();
    let second = env.backup(&[&src]);
    restores(&env, &second, &src, "after-swap");
}

#[test]
fn check_reads_snapshot_files_from_storage_never_from_the_cache() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.txt"), b"first");
    let id = env.backup(&[&src]);
    // Listing fills the local snapshot cache.
    env.snap(["snapshots"]).ok();
    // One bit flipped in the stored file, its size unchanged: the cached copy still matches the
    // listing, so listing goes on, but check reads what is stored and finds the damage.
    let path = format!("snapshots/{id}");
    let mut bytes = env.raw().read(&path);
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    crate::stores::overwrite(&env, &path, &bytes);
    assert_eq!(snapshot_ids(&env), vec![id.clone()]);
    let run = env.snap(["check"]);
    expect_code(&run, 1, "check");
    assert_contains(&format!("{}{}", run.stdout, run.stderr), &format!("snapshot {} cannot be read", &id[..8]), "check");
}

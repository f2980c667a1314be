//! Repositories on S3 (a Garage node) and SFTP (an OpenSSH server), each started by its test
//! on loopback (issue 9 §2 and §4): round trips, errors that name what is wrong, copies along
//! local → S3 → SFTP, a server killed mid-backup, connections dropped by a proxy, a full bucket,
//! and what a warm cache saves in requests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::servers::{Garage, Sshd};
use crate::util::{assert_same_tree, backup_json, pseudo_random, s, write, Env, Run, Store};

const MIB: usize = 1024 * 1024;

/// A tree with what a server holds: small text files, a larger binary, an empty file, a
/// symlink and a nested directory.
fn server_tree(root: &Path, seed: u64) {
    for i in 0..40 {
        write(&root.join(format!("config/conf-{i}.toml")), format!("key = {i}\nseed = {seed}\n").as_bytes());
    }
    write(&root.join("data/blob.bin"), &pseudo_random(3 * MIB, seed));
    write(&root.join("data/empty"), b"");
    write(&root.join("data/deep/er/still/file.txt"), b"deep");
    std::os::unix::fs::symlink("../config/conf-1.toml", root.join("data/link")).unwrap();
}

fn under(restored: &Path, original: &Path) -> std::path::PathBuf {
    restored.join(original.strip_prefix("/").unwrap())
}

/// What every store must do: back up, back up again incrementally, restore both byte-exact,
/// verify every byte, forget and prune, and still restore and verify.
fn round_trip_check_and_prune(store: Store) {
    let env = Env::with_repo_on(store);
    let tree = env.path().join("server");
    server_tree(&tree, 1);
    let first = env.backup(&[&tree]);
    let day1 = env.path().join("day1");
    std::fs::rename(&tree, &day1).unwrap();
    server_tree(&tree, 2);
    let second = backup_json(&env, [s(&tree)]);
    assert!(second["bytes_added"].as_u64().unwrap() < 4 * MIB as u64, "the second backup added only what changed: {second}");
    let second = second["snapshot_id"].as_str().unwrap().to_string();

    let r2 = env.restore(&second, "r2");
    assert_same_tree(&tree, &under(&r2, &tree));
    let r1 = env.restore(&first, "r1");
    std::fs::rename(&tree, env.path().join("day2")).unwrap();
    std::fs::rename(&day1, &tree).unwrap();
    assert_same_tree(&tree, &under(&r1, &tree));

    let check = env.snap(["check", "--read-data", "--json"]).ok();
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);
    env.snap(["forget", "--keep-last", "1", "--prune"]).ok();
    let left: Vec<Value> = env.snap(["snapshots", "--json"]).ok().json().as_array().unwrap().clone();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], second.as_str());
    let r3 = env.restore(&second, "r3");
    assert_same_tree(&under(&r2, &env.path().join("server")), &under(&r3, &env.path().join("server")));
    let check = env.snap(["check", "--read-data", "--json"]).ok();
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);
    if store == Store::Sftp {
        // Every ssh control master snap started (its socket under this test's HOME) exits with
        // the snap that started it: snap asks it to (`ssh -O exit`) as it ends, and the master
        // goes a moment later.
        let pattern = format!("{}/.local/state", env.path().display());
        let started = Instant::now();
        loop {
            let left = Command::new("pgrep").args(["-af", &pattern]).output().unwrap();
            if left.stdout.is_empty() {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "ssh control masters left running: {}", String::from_utf8_lossy(&left.stdout));
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn s3_round_trip_check_and_prune() {
    round_trip_check_and_prune(Store::S3);
}

#[test]
fn sftp_round_trip_check_and_prune() {
    round_trip_check_and_prune(Store::Sftp);
}

#[track_caller]
fn one_line_error(run: &Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "one line: {}", run.stderr);
    assert!(run.stderr.contains(needle), "{needle:?} not in: {}", run.stderr);
}

#[test]
fn s3_errors_name_the_location_and_what_is_wrong() {
    let env = Env::on(Store::S3);
    let g = env.garage.as_ref().unwrap();
    let missing = format!("s3:{}/no-such-bucket/repo", g.endpoint());
    // Nothing there: exit 10, as for a missing directory.
    let run = env.snap(["-r", &missing, "snapshots"]);
    one_line_error(&run, 10, &format!("no snap repository at {missing} (the bucket does not exist)"));
    // A bucket that does not exist cannot be initialised into.
    let run = env.snap(["-r", &missing, "init"]);
    one_line_error(&run, 1, &format!("cannot init {missing}: the bucket does not exist; create it first"));
    // Wrong credentials.
    env.snap(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]).ok();
    let run: Run = env.cmd().env("AWS_SECRET_ACCESS_KEY", "0".repeat(64)).args(["snapshots"]).output().unwrap().into();
    one_line_error(&run, 1, "storage read config: access denied");
    // Unknown schemes and options are refused before anything is contacted.
    one_line_error(&env.snap(["-r", "gs:bucket", "snapshots"]), 1, "unknown scheme \"gs\"");
    one_line_error(&env.snap(["-o", "s3.regoin=x", "snapshots"]), 1, "unknown option \"s3.regoin\"");
}

#[test]
fn sftp_refuses_a_server_whose_host_key_is_not_the_known_one() {
    let env = Env::with_repo_on(Store::Sftp);
    let d = env.sshd.as_ref().unwrap().dir.path().to_path_buf();
    env.snap(["snapshots"]).ok();
    // Another server's key in known_hosts: strict checking refuses to connect.
    let other = env.path().join("other_key");
    assert!(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&other).status().unwrap().success());
    let fake = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let fake: Vec<&str> = fake.split_whitespace().collect();
    let port = env.sshd.as_ref().unwrap().port;
    std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {} {}\n", fake[0], fake[1])).unwrap();
    let run = env.snap(["snapshots"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "one line: {}", run.stderr);
    assert!(run.stderr.contains("storage read config: failed: host key mismatch"), "{}", run.stderr);
}

/// A `snap` command for `env` that reaches `sshd` (its ssh wrapper first on PATH).
fn cmd_ssh(env: &Env, sshd: &Sshd) -> Command {
    let mut c = env.cmd();
    let mut paths = vec![sshd.bin_dir()];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    c.env("PATH", std::env::join_paths(paths).unwrap());
    c
}

/// A `snap` command for `env` that also reaches `garage` and `sshd` (for chains of stores).
fn cmd_with(env: &Env, garage: &Garage, sshd: &Sshd) -> Command {
    let mut c = cmd_ssh(env, sshd);
    c.envs(garage.env());
    c
}

fn run(mut c: Command, args: &[&str]) -> Run {
    c.args(args).output().unwrap().into()
}

#[test]
fn copies_chain_local_to_s3_to_sftp_and_restore_with_the_last_password_alone() {
    let env = Env::with_repo_on(Store::Local);
    let garage = Garage::start();
    garage.bucket("offsite");
    let sshd = Sshd::start();
    let s3 = format!("s3:{}/offsite/chat", garage.endpoint());
    let sftp = sshd.location(&env.path().join("vault/chat"));
    let (pw_local, pw_s3, pw_sftp) = (env.path().join("password"), env.path().join("pw-s3"), env.path().join("pw-sftp"));
    std::fs::write(&pw_s3, "the s3 copy's own password").unwrap();
    std::fs::write(&pw_sftp, "the sftp copy's own password").unwrap();

    let tree = env.path().join("server");
    server_tree(&tree, 7);
    env.backup(&[&tree]);
    write(&tree.join("data/new.bin"), &pseudo_random(MIB, 8));
    env.backup(&[&tree]);

    let kdf = ["--kdf-memory-kib", "256", "--kdf-iterations", "1"];
    let mut init_s3 = vec!["-r", &s3, "--password-file"];
    let pw_s3s = s(&pw_s3);
    init_s3.push(&pw_s3s);
    init_s3.extend(["init"]);
    init_s3.extend(kdf);
    let local = s(&env.repo());
    let pw_locals = s(&pw_local);
    init_s3.extend(["--from", &local, "--from-password-file", &pw_locals]);
    run(cmd_with(&env, &garage, &sshd), &init_s3).ok();
    let copy1 = run(cmd_with(&env, &garage, &sshd), &["copy", "--json", "--to", &s3, "--to-password-file", &pw_s3s]).ok().json();
    assert_eq!(copy1["copied"].as_array().unwrap().len(), 2, "{copy1}");

    let pw_sftps = s(&pw_sftp);
    let mut init_sftp = vec!["-r", &sftp, "--password-file", &pw_sftps, "init"];
    init_sftp.extend(kdf);
    init_sftp.extend(["--from", &s3, "--from-password-file", &pw_s3s]);
    run(cmd_with(&env, &garage, &sshd), &init_sftp).ok();
    let copy2 = run(cmd_with(&env, &garage, &sshd), &["-r", &s3, "--password-file", &pw_s3s, "copy", "--json", "--to", &sftp, "--to-password-file", &pw_sftps]).ok().json();
    assert_eq!(copy2["copied"].as_array().unwrap().len(), 2, "{copy2}");

    // Twice in a row sends nothing, on both legs.
    let again1 = run(cmd_with(&env, &garage, &sshd), &["copy", "--json", "--to", &s3, "--to-password-file", &pw_s3s]).ok().json();
    assert_eq!(again1["copied"].as_array().unwrap().len(), 0, "{again1}");
    assert_eq!(again1["bytes_added"], 0, "{again1}");
    let again2 = run(cmd_with(&env, &garage, &sshd), &["-r", &s3, "--password-file", &pw_s3s, "copy", "--json", "--to", &sftp, "--to-password-file", &pw_sftps]).ok().json();
    assert_eq!(again2["copied"].as_array().unwrap().len(), 0, "{again2}");

    // The last copy restores byte-exact with its own password alone (no local repository, no
    // S3 credentials).
    std::fs::remove_dir_all(env.repo()).unwrap();
    let mut c = cmd_ssh(&env, &sshd);
    c.env("SNAP_REPOSITORY", &sftp).env("SNAP_PASSWORD_FILE", &pw_sftp);
    let snaps = run(c, &["snapshots", "--json"]).ok().json();
    let ids: Vec<&str> = snaps.as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    let target = env.path().join("from-sftp");
    let mut c = cmd_ssh(&env, &sshd);
    c.env("SNAP_REPOSITORY", &sftp).env("SNAP_PASSWORD_FILE", &pw_sftp);
    run(c, &["restore", "latest", "--target", &s(&target)]).ok();
    assert_same_tree(&tree, &under(&target, &tree));
}

/// Waits until Garage has stored at least `n` objects in data/ (by its PutObject counter).
fn wait_for_puts(g: &Garage, n: u64, child: &mut std::process::Child) {
    let started = Instant::now();
    loop {
        let puts = g.requests().get("PutObject").copied().unwrap_or(0);
        if puts >= n {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "the backup ended before the server could be killed");
        assert!(started.elapsed() < Duration::from_secs(120), "no upload reached the server");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_backup_rides_out_a_server_restart() {
    let mut env = Env::with_repo_on(Store::S3);
    let tree = env.path().join("big");
    write(&tree.join("a.bin"), &pseudo_random(48 * MIB, 3));
    let mut child = env.cmd().args(["-o", "retries=30", "backup", "--json"]).arg(&tree).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let base = env.garage.as_ref().unwrap().requests().get("PutObject").copied().unwrap_or(0);
    wait_for_puts(env.garage.as_ref().unwrap(), base + 2, &mut child);
    let g = env.garage.as_mut().unwrap();
    g.kill();
    std::thread::sleep(Duration::from_secs(2));
    g.restart();
    let out: Run = child.wait_with_output().unwrap().into();
    let out = out.ok();
    let id = out.json()["snapshot_id"].as_str().unwrap().to_string();
    let check = env.snap(["check", "--read-data", "--json"]).ok();
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);
    let r = env.restore(&id, "r");
    assert_same_tree(&tree, &under(&r, &tree));
}

#[test]
fn a_backup_that_outlasts_its_retries_fails_clearly_and_the_next_reuses_what_was_stored() {
    let mut env = Env::with_repo_on(Store::S3);
    let tree = env.path().join("big");
    write(&tree.join("a.bin"), &pseudo_random(64 * MIB, 4));
    let mut child = env.cmd().args(["-o", "retries=2", "-o", "timeout=5", "backup", "--json"]).arg(&tree).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let base = env.garage.as_ref().unwrap().requests().get("PutObject").copied().unwrap_or(0);
    wait_for_puts(env.garage.as_ref().unwrap(), base + 2, &mut child);
    env.garage.as_mut().unwrap().kill();
    let out: Run = child.wait_with_output().unwrap().into();
    assert_eq!(out.code, 1, "{out:?}");
    let line = out.stderr.trim();
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    assert!(line.contains("storage write data/") || line.contains("storage write index/") || line.contains("storage "), "names the object: {line}");

    env.garage.as_mut().unwrap().restart();
    // Nothing already stored is lost, and the repository checks clean.
    env.snap(["check"]).ok();
    let stored_before: u64 = env.data_bytes();
    assert!(stored_before > 0, "packs reached storage before the kill");
    let again = backup_json(&env, [s(&tree)]);
    let added = again["bytes_added"].as_u64().unwrap();
    assert!(added + stored_before / 2 <= 64 * MIB as u64 + MIB as u64, "the second backup reused the packs the first stored: added {added}, stored before {stored_before}");
    let check = env.snap(["check", "--read-data", "--json"]).ok();
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);
    let r = env.restore(again["snapshot_id"].as_str().unwrap(), "r");
    assert_same_tree(&tree, &under(&r, &tree));
}

/// A loopback proxy that forwards to `target` but cuts one connection in three after a random
/// number of bytes from the client (up to 20 MiB, more than a pack), so uploads and requests
/// break mid-way while most connections still get through.
struct CuttingProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    pub cuts: Arc<AtomicU64>,
}

impl CuttingProxy {
    fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let cuts = Arc::new(AtomicU64::new(0));
        let (st, cu) = (stop.clone(), cuts.clone());
        std::thread::spawn(move || {
            let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
            while !st.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let budget = if seed % 3 == 0 { 1024 + seed % (20 * MIB as u64) } else { u64::MAX };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let cu = cu.clone();
                std::thread::spawn(move || pipe(client, server, Some((budget, cu))));
                std::thread::spawn(move || pipe(s2, c2, None));
            }
        });
        Self { port, stop, cuts }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, budget: Option<(u64, Arc<AtomicU64>)>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((b, cuts)) = &budget
            && sent + n as u64 > *b
        {
            cuts.fetch_add(1, Ordering::Relaxed);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[test]
fn backups_through_connections_cut_mid_request_retry_and_verify() {
    let env = Env::with_repo_on(Store::S3);
    let g = env.garage.as_ref().unwrap();
    let proxy = CuttingProxy::start(g.s3_port);
    let through = format!("s3:http://127.0.0.1:{}/{}/repo", proxy.port, crate::util::BUCKET);
    let tree = env.path().join("big");
    write(&tree.join("a.bin"), &pseudo_random(40 * MIB, 5));
    server_tree(&tree.join("small"), 5);
    let out = env.snap(["-r", &through, "-o", "retries=30", "backup", "--json", &s(&tree)]).ok();
    assert!(proxy.cuts.load(Ordering::Relaxed) > 0, "the proxy cut no connection: nothing was tested");
    let id = out.json()["snapshot_id"].as_str().unwrap().to_string();
    let r = env.restore(&id, "r");
    assert_same_tree(&tree, &under(&r, &tree));
    let check = env.snap(["-r", &through, "-o", "retries=30", "check", "--read-data", "--json"]).ok();
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);
}

#[test]
fn a_full_bucket_fails_the_backup_and_loses_nothing() {
    let env = Env::with_repo_on(Store::S3);
    let tree = env.path().join("t");
    server_tree(&tree, 9);
    let first = env.backup(&[&tree]);
    let g = env.garage.as_ref().unwrap();
    g.quota(crate::util::BUCKET, 8 * MIB as u64);
    let big = env.path().join("big");
    write(&big.join("a.bin"), &pseudo_random(24 * MIB, 10));
    let run = env.snap(["-o", "retries=1", "backup", &s(&big)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "one line: {}", run.stderr);
    // The earlier snapshot is whole.
    let check = env.snap(["check", "--read-data", "--json"]).ok();
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);
    let r = env.restore(&first, "r");
    assert_same_tree(&tree, &under(&r, &tree));
    g.quota(crate::util::BUCKET, 1 << 40);
    let id = env.backup(&[&big]);
    let r = env.restore(&id, "r2");
    assert_same_tree(&big, &under(&r, &big));
}

#[test]
fn a_warm_snapshots_listing_costs_the_same_requests_for_two_or_ten_snapshots() {
    let env = Env::with_repo_on(Store::S3);
    let tree = env.path().join("t");
    write(&tree.join("f"), b"x");
    let gets = |env: &Env| -> u64 {
        let g = env.garage.as_ref().unwrap();
        let before = g.requests();
        env.snap(["snapshots", "--json"]).ok();
        let after = g.requests();
        after.get("GetObject").copied().unwrap_or(0) - before.get("GetObject").copied().unwrap_or(0)
    };
    for i in 0..2 {
        write(&tree.join("f"), format!("{i}").as_bytes());
        env.backup(&[&tree]);
    }
    gets(&env);
    let warm2 = gets(&env);
    for i in 2..10 {
        write(&tree.join("f"), format!("{i}").as_bytes());
        env.backup(&[&tree]);
    }
    gets(&env);
    let warm10 = gets(&env);
    assert_eq!(warm2, warm10, "GETs of a warm `snapshots` grew with the number of snapshots");
    assert!(warm10 <= 3, "a warm listing reads only the config and a key: {warm10} GETs");
}

#[test]
fn a_copy_to_s3_killed_half_way_leaves_it_valid_and_the_next_sends_the_rest() {
    let env = Env::with_repo_on(Store::Local);
    let garage = Garage::start();
    garage.bucket("offsite");
    let dst = format!("s3:{}/offsite/copy", garage.endpoint());
    let pw = env.path().join("pw-dst");
    std::fs::write(&pw, "the copy's own password").unwrap();
    let tree = env.path().join("big");
    write(&tree.join("a.bin"), &pseudo_random(64 * MIB, 21));
    let backup = backup_json(&env, [s(&tree)]);
    let dst_run = |args: &[&str]| -> Run {
        let mut c = env.cmd();
        c.envs(garage.env()).env("SNAP_REPOSITORY", &dst).env("SNAP_PASSWORD_FILE", &pw);
        run(c, args)
    };
    let src_password = s(&env.path().join("password"));
    dst_run(&["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1", "--from", &s(&env.repo()), "--from-password-file", &src_password]).ok();

    let base = garage.requests().get("PutObject").copied().unwrap_or(0);
    let pws = s(&pw);
    let mut child = env.cmd().envs(garage.env()).args(["copy", "--json", "--to", &dst, "--to-password-file", &pws]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Our lock file, then at least one pack.
    wait_for_puts(&garage, base + 2, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let snaps = dst_run(&["snapshots", "--json"]).ok().json();
    assert!(snaps.as_array().unwrap().is_empty(), "the copy finished before it was killed: nothing was interrupted");
    // What the killed copy left is harmless, and the next run sends only the rest.
    dst_run(&["check"]).ok();
    let mut again = env.cmd();
    again.envs(garage.env());
    let out = run(again, &["copy", "--json", "--to", &dst, "--to-password-file", &pws]).ok().json();
    assert_eq!(out["copied"].as_array().unwrap().len(), 1, "{out}");
    assert!(out["packs_adopted"].as_u64().unwrap() >= 1, "the killed copy's packs were reused: {out}");
    assert!(out["bytes_added"].as_u64().unwrap() + 8 * MIB as u64 <= backup["bytes_added"].as_u64().unwrap(), "the second run sent only what was missing: {out}\n{backup}");
    let check = dst_run(&["check", "--read-data", "--json"]).ok();
    assert_eq!(check.json()["ok"], true, "{}", check.stdout);
    let target = env.path().join("from-s3");
    dst_run(&["restore", "latest", "--target", &s(&target)]).ok();
    assert_same_tree(&tree, &under(&target, &tree));
}

/// The GETs the Garage node of `env` served while `run` ran.
fn gets_during(env: &Env, run: impl FnOnce()) -> u64 {
    let g = env.garage.as_ref().unwrap();
    let before = g.requests().get("GetObject").copied().unwrap_or(0);
    run();
    g.requests().get("GetObject").copied().unwrap_or(0) - before
}

#[test]
fn a_check_reads_trees_a_pack_at_a_time_not_one_request_per_directory() {
    let env = Env::with_repo_on(Store::S3);
    let small = env.path().join("small");
    for d in 0..4 {
        write(&small.join(format!("d{d}/f")), format!("{d}").as_bytes());
    }
    env.backup(&[&small]);
    let few = gets_during(&env, || {
        env.snap(["check"]).ok();
    });
    let many = env.path().join("many");
    for d in 0..300 {
        write(&many.join(format!("a{}/d{d}/f", d % 7)), format!("{d}").as_bytes());
    }
    env.backup(&[&many]);
    let lots = gets_during(&env, || {
        let c = env.snap(["check", "--json"]).ok();
        assert_eq!(c.json()["ok"], true, "{}", c.stdout);
    });
    // 300 more directories in a second snapshot: a few more files to read (its snapshot, index
    // and tree pack), not a request per directory.
    assert!(lots <= few + 8, "check: {few} GETs for 4 directories, {lots} with 300 more");
}

#[test]
fn a_dump_of_a_stream_reads_stretches_of_packs_not_one_request_per_chunk() {
    let env = Env::with_repo_on(Store::S3);
    let day1 = crate::dedup::chat_rows(0..250_000, 0);
    let day2 = crate::dedup::chat_rows(0..250_000, 97);
    for day in [&day1, &day2] {
        env.snap_stdin(["backup", "--stdin", "--stdin-filename", "chat.sql"], day).ok();
    }
    let mut out = Vec::new();
    let gets = gets_during(&env, || {
        out = env.snap(["dump", "latest", "/chat.sql"]).ok().raw_stdout;
    });
    assert!(out == day2, "the dump from S3 is not byte-exact");
    // Day two (24 MB, about 2900 chunks) is mostly deltas whose bases lie in day one's packs:
    // the blobs and their bases are read in ranged reads of whole stretches, a few per 8 MiB
    // of output (22 GETs when this was written, the repository's config, key, index, snapshot,
    // tree and chunk lists included). Reading each blob and base through 256 KiB read-ahead
    // regions took 51.
    let approx_chunks = day2.len() / 8192;
    assert!(approx_chunks > 2500, "{} bytes make too few chunks for this test", day2.len());
    assert!(gets <= 36, "dump: {gets} GETs for about {approx_chunks} chunks and their bases");
}

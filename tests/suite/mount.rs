//! `snap mount` (issue 12): a snapshot read through the FUSE mount is byte for byte the backed-up
//! tree (modes, owners, times, links, an empty file and a file of many chunks, also read at odd
//! offsets), the layout has its `snapshots/`, `hosts/` and `tags/` views, a damaged chunk fails
//! only reads of its file with EIO, filters choose the snapshots, new ones appear while mounted,
//! and SIGTERM or an outside umount ends the mount with exit 0 and nothing left mounted or
//! locked. These tests need /dev/fuse and root (CI has both); without them they fail, saying so.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use snap::format::{PackId, SnapshotId};
use snap::ops::select::node_at;
use snap::repo::Repository;

use crate::stores::{file_name, overwrite, LibRepo};
use crate::util::{assert_contains, assert_same_tree, expect_code, pseudo_random, s, write, Env, Run, PASSWORD};

const MIB: usize = 1024 * 1024;

/// A `snap mount` running in the background. Dropped before [`Mounted::stop`] (a test that
/// failed midway), it kills snap and detaches the mount, so no dead mount outlives the test.
struct Mounted {
    child: Option<Child>,
    dir: PathBuf,
}

/// Starts `snap mount DIR EXTRA...` and waits (bounded) until DIR shows the layout.
fn mount(env: &Env, dir: &Path, extra: &[&str]) -> Mounted {
    assert!(
        Path::new("/dev/fuse").exists(),
        "snap mount needs /dev/fuse: load the fuse module (modprobe fuse); a container needs --device /dev/fuse and CAP_SYS_ADMIN"
    );
    fs::create_dir_all(dir).expect("mount point");
    let child = env.cmd().arg("mount").arg(dir).args(extra).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn snap mount");
    let mut m = Mounted { child: Some(child), dir: dir.to_path_buf() };
    // Opening the repository and mounting take well under a second; a minute means it hangs.
    for _ in 0..600 {
        if is_mounted(dir) && dir.join("ids").is_dir() {
            return m;
        }
        let child = m.child.as_mut().expect("child");
        if let Some(status) = child.try_wait().expect("try_wait") {
            let out = m.child.take().expect("child").wait_with_output().expect("output");
            panic!("snap mount exited ({status}) before mounting:\nstdout: {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} was not mounted after 60 s", dir.display());
}

impl Mounted {
    /// Sends SIGTERM and waits (bounded) for snap to exit.
    fn stop(mut self) -> Run {
        let child = self.child.take().expect("child");
        // SAFETY: kill only sends a signal to the child we started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        wait_exit(child)
    }

    /// Waits (bounded) for snap to exit by itself.
    fn wait(mut self) -> Run {
        wait_exit(self.child.take().expect("child"))
    }
}

fn wait_exit(mut child: Child) -> Run {
    for _ in 0..600 {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output").into();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out: Run = child.wait_with_output().expect("output").into();
    panic!("snap mount did not exit within 60 s\nstdout: {}\nstderr: {}", out.stdout, out.stderr);
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if is_mounted(&self.dir) {
            let p = std::ffi::CString::new(s(&self.dir)).expect("path");
            // SAFETY: umount2 only reads the path.
            unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Whether `dir` is a mount point now, by /proc/self/mountinfo (its fifth field; spaces and
/// the like are octal escapes there, and test paths have none).
fn is_mounted(dir: &Path) -> bool {
    // The parent, not `dir`: resolving a dead FUSE mount itself fails.
    let parent = dir.parent().expect("parent").canonicalize().expect("canonical parent");
    let want = s(&parent.join(dir.file_name().expect("name")));
    fs::read_to_string("/proc/self/mountinfo").expect("mountinfo").lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn lock_files(env: &Env) -> usize {
    env.raw().list("locks/").len()
}

/// `2026-12-02T02:30:00Z`: how the mount names a snapshot's time.
fn time_name(env: &Env, id: &str) -> String {
    let snaps = env.snap(["snapshots", "--json"]).ok().json();
    let snap = snaps.as_array().expect("array").iter().find(|v| v["id"] == id).expect("snapshot listed").clone();
    let t: jiff::Timestamp = snap["time"].as_str().expect("time").parse().expect("a time");
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Where backed-up `path` is inside a mounted snapshot's directory.
fn inside(snapshot_dir: &Path, path: &Path) -> PathBuf {
    snapshot_dir.join(path.strip_prefix("/").expect("absolute"))
}

#[test]
fn a_mounted_snapshot_reads_byte_exact_and_sigterm_unmounts() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("small.txt"), b"hello, mount\n");
    write(&src.join("empty"), b"");
    write(&src.join("medium.bin"), &pseudo_random(300_000, 1));
    let big = pseudo_random(12 * MIB + 12_345, 2);
    write(&src.join("big.bin"), &big);
    write(&src.join("nested/deeper/leaf.txt"), b"leaf\n");
    write(&src.join("secret"), b"for root only\n");
    fs::set_permissions(src.join("secret"), fs::Permissions::from_mode(0o600)).expect("chmod");
    std::os::unix::fs::symlink("small.txt", src.join("link")).expect("symlink");
    std::os::unix::fs::symlink("/nowhere/at/all", src.join("dangling")).expect("symlink");
    let run = env.snap(["backup", "--json", "--host", "mount-host", "--tag", "t1", &s(&src)]).ok();
    let id = run.json()["snapshot_id"].as_str().expect("id").to_string();
    let short = &id[..8];
    let time = time_name(&env, &id);

    let dir = env.path().join("mnt");
    let m = mount(&env, &dir, &[]);
    assert_eq!(names(&dir), ["hosts", "ids", "snapshots", "tags"]);
    assert_eq!(names(&dir.join("ids")), [short]);
    let snap_dir = dir.join("ids").join(short);
    let root = inside(&snap_dir, &src);

    // The big file first, before anything is in the page cache: it spans many chunks.
    let started = Instant::now();
    let got = fs::read(root.join("big.bin")).expect("read big.bin through the mount");
    let secs = started.elapsed().as_secs_f64();
    assert!(got == big, "big.bin differs through the mount ({} bytes read of {})", got.len(), big.len());
    eprintln!("mount: read {:.1} MiB through the mount in {secs:.2} s", big.len() as f64 / MIB as f64);

    // Odd offsets and lengths, past the page cache (O_DIRECT sends the exact range to snap).
    let mut f = fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(root.join("big.bin")).expect("open O_DIRECT");
    for (at, len) in [(5_000_001u64, 3_333_333usize), (1, 7), (big.len() as u64 - 4_097, 4_097)] {
        f.seek(SeekFrom::Start(at)).expect("seek");
        let mut buf = vec![0u8; len];
        f.read_exact(&mut buf).expect("read at an odd offset");
        assert!(buf[..] == big[at as usize..at as usize + len], "{len} bytes at {at} differ");
    }
    f.seek(SeekFrom::Start(big.len() as u64 - 10)).expect("seek");
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).expect("read to the end");
    assert_eq!(tail, big[big.len() - 10..], "the last 10 bytes, and nothing past them");

    // Every file, link, mode, mtime and directory as backed up.
    assert_same_tree(&src, &root);
    for name in ["small.txt", "secret", "big.bin", "empty"] {
        let (a, b) = (fs::symlink_metadata(src.join(name)).expect("meta"), fs::symlink_metadata(root.join(name)).expect("meta"));
        assert_eq!((b.uid(), b.gid(), b.len(), b.mode()), (a.uid(), a.gid(), a.len(), a.mode()), "owner, size and mode of {name}");
    }
    assert_eq!(fs::symlink_metadata(root.join("secret")).expect("meta").mode() & 0o7777, 0o600);
    assert_eq!(fs::read_link(root.join("dangling")).expect("readlink"), PathBuf::from("/nowhere/at/all"));
    assert_eq!(fs::read(root.join("link")).expect("through the link"), b"hello, mount\n");
    assert_eq!(fs::metadata(root.join("empty")).expect("meta").len(), 0);

    // The views: links into ids/, each with `latest`.
    assert_eq!(names(&dir.join("snapshots")), [time.clone(), "latest".to_string()]);
    assert_eq!(fs::read_link(dir.join("snapshots/latest")).expect("latest"), PathBuf::from(&time));
    assert_eq!(fs::read_link(dir.join("snapshots").join(&time)).expect("time link"), PathBuf::from(format!("../ids/{short}")));
    assert_eq!(fs::read(inside(&dir.join("snapshots/latest"), &src).join("nested/deeper/leaf.txt")).expect("through latest"), b"leaf\n");
    assert_eq!(names(&dir.join("hosts")), ["mount-host"]);
    assert_eq!(names(&dir.join("hosts/mount-host")), [time.clone(), "latest".to_string()]);
    assert_eq!(fs::read_link(dir.join("hosts/mount-host").join(&time)).expect("host link"), PathBuf::from(format!("../../ids/{short}")));
    assert_eq!(fs::read(inside(&dir.join("hosts/mount-host/latest"), &src).join("small.txt")).expect("through hosts"), b"hello, mount\n");
    assert_eq!(names(&dir.join("tags")), ["t1"]);
    assert_eq!(names(&dir.join("tags/t1")), [time.clone(), "latest".to_string()]);

    // Read-only.
    let err = fs::write(root.join("new"), b"x").expect_err("created a file in the mount");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
    let err = fs::OpenOptions::new().write(true).open(root.join("small.txt")).expect_err("opened a file for writing");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");

    // Mounted means locked (shared): prune, which needs the exclusive lock, is refused.
    assert_eq!(lock_files(&env), 1, "one shared lock while mounted");
    let run = env.snap(["prune"]);
    expect_code(&run, 11, "prune while mounted");

    let run = m.stop();
    expect_code(&run, 0, "snap mount after SIGTERM");
    assert_eq!(run.stdout, format!("1 snapshot(s) mounted at {}; Ctrl-C or `umount {}` unmounts\n", dir.display(), dir.display()));
    assert!(!is_mounted(&dir), "{} is still mounted", dir.display());
    assert!(names(&dir).is_empty(), "the mount point is an empty directory again");
    assert_eq!(lock_files(&env), 0, "the lock is released");
}

#[test]
fn a_damaged_chunk_fails_only_reads_of_its_file_with_eio() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    let files = ["a.bin", "b.bin", "c.txt", "sub/d.bin"];
    let sizes = [3 * MIB, 700_000, 150_000, 40_000];
    for (i, (f, n)) in files.iter().zip(sizes).enumerate() {
        write(&src.join(f), &pseudo_random(n, 40 + i as u64));
    }
    let id = env.backup(&[&src]);

    // Damage the first blob of the largest pack (file data), and learn which file needs it.
    let (pack_hex, pack_path, _) = env.raw().list("data/").into_iter().map(|(p, n)| (file_name(&p).to_string(), p, n)).max_by_key(|p| p.2).expect("a pack");
    let (blob, affected) = {
        let repo = Repository::open(LibRepo::new(&env).backend(), PASSWORD.as_bytes(), &env.path().join("lib-cache")).expect("open");
        repo.sync_index().expect("sync");
        let entries = repo.read_pack_header(&pack_hex.parse::<PackId>().expect("pack id")).expect("pack header");
        let first = entries.iter().find(|e| e.offset == 0).expect("a blob at offset 0");
        assert!(first.length > 100, "first blob too small to damage at byte 50");
        let sid: SnapshotId = id.parse().expect("id");
        let snap = repo.load_snapshot(&sid).expect("snapshot");
        let users: Vec<&str> = files
            .iter()
            .copied()
            .filter(|f| {
                let node = node_at(&repo, &sid, &snap, &s(&src.join(f))).expect("node");
                repo.file_chunks(&node).expect("chunks").contains(&first.id)
            })
            .collect();
        assert_eq!(users.len(), 1, "the damaged blob is in exactly one file: {users:?}");
        (first.id, users[0])
    };
    let mut bytes = env.raw().read(&pack_path);
    bytes[50] ^= 0x5a;
    overwrite(&env, &pack_path, &bytes);

    let dir = env.path().join("mnt");
    let m = mount(&env, &dir, &[]);
    let root = inside(&dir.join("ids").join(&id[..8]), &src);
    let err = fs::read(root.join(affected)).expect_err("read a file with a damaged chunk");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    for f in files.iter().filter(|f| **f != affected) {
        assert!(fs::read(root.join(f)).expect("an undamaged file reads") == fs::read(src.join(f)).expect("source"), "{f} differs");
    }
    // Still mounted and answering after the error.
    assert_eq!(names(&root.join("sub")), ["d.bin"]);

    let run = m.stop();
    expect_code(&run, 0, "snap mount after SIGTERM");
    assert_contains(&run.stderr, &format!("snap: error: /ids/{}{}: ", &id[..8], s(&src.join(affected))), "the failed read names the file");
    assert_contains(&run.stderr, &blob.to_hex(), "and the blob");
    assert!(!is_mounted(&dir));
}

#[test]
fn filters_choose_snapshots_new_ones_appear_and_an_outside_umount_ends_the_mount() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("f"), b"one");
    let backup = |host: &str| env.snap(["backup", "--json", "--host", host, &s(&src)]).ok().json()["snapshot_id"].as_str().expect("id")[..8].to_string();
    let a1 = backup("a");
    let _b = backup("b");

    let dir = env.path().join("mnt");
    let m = mount(&env, &dir, &["--host", "a"]);
    assert_eq!(names(&dir.join("ids")), [a1.clone()]);
    assert_eq!(names(&dir.join("hosts")), ["a"]);

    // A snapshot made while mounted appears (the list is read again within seconds); one of
    // another host does not.
    write(&src.join("f"), b"two");
    let a2 = backup("a");
    let _b2 = backup("b");
    let mut want = vec![a1.clone(), a2.clone()];
    want.sort();
    let mut seen = Vec::new();
    for _ in 0..600 {
        seen = names(&dir.join("ids"));
        if seen == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen, want, "the new snapshot of host a appears, b's never");
    assert_eq!(fs::read(inside(&dir.join("ids").join(&a2), &src).join("f")).expect("new snapshot's file"), b"two");
    assert_eq!(fs::read(inside(&dir.join("ids").join(&a1), &src).join("f")).expect("old snapshot's file"), b"one");

    // Unmounted from outside: snap notices and exits 0.
    let p = std::ffi::CString::new(s(&dir)).expect("path");
    // SAFETY: umount2 only reads the path.
    let rc = unsafe { libc::umount2(p.as_ptr(), 0) };
    assert_eq!(rc, 0, "umount: {}", std::io::Error::last_os_error());
    let run = m.wait();
    expect_code(&run, 0, "snap mount after an outside umount");
    assert!(!is_mounted(&dir));
    assert_eq!(lock_files(&env), 0, "the lock is released");
}

#[test]
fn mount_refuses_a_missing_or_non_empty_directory() {
    let env = Env::with_repo();
    let missing = env.path().join("nope");
    let run = env.snap(["mount", &s(&missing)]);
    expect_code(&run, 1, "mount on a missing directory");
    assert_eq!(run.stderr, format!("snap: mount point {} does not exist\n", missing.display()));

    let full = env.path().join("full");
    write(&full.join("x"), b"x");
    let run = env.snap(["mount", &s(&full)]);
    expect_code(&run, 1, "mount on a non-empty directory");
    assert_eq!(run.stderr, format!("snap: mount point {} is not empty\n", full.display()));

    let run = env.snap(["mount", &s(&full.join("x"))]);
    expect_code(&run, 1, "mount on a file");
    assert_eq!(run.stderr, format!("snap: mount point {} is not a directory\n", full.join("x").display()));
    assert_eq!(lock_files(&env), 0, "no lock taken");
}

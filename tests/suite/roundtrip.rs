//! Byte-exact round trips through `snap backup` and `snap restore` / `snap dump`: odd file kinds
//! and names, sparse, deep and wide trees, streams (stdin and a command's output) alone and next to
//! paths, snapshot metadata and filters, restore selections, `ls` of a subtree, and a lost cache.

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use filetime::FileTime;
use serde_json::Value;

use crate::util::{assert_same_tree, backup_json, pseudo_random, restored, Env, Store};

// The round trips whose bytes, streams, tar dumps and snapshot listings go through the store:
// each runs on a local directory, on S3 and on SFTP.
crate::on_every_store!(
    odd_kinds_modes_and_times_round_trip,
    odd_names_round_trip,
    empty_stdin_stream,
    paths_and_stream_in_one_snapshot,
    stream_from_command_round_trip,
    dump_directory_as_tar,
    snapshots_json_metadata_and_filters,
    deleted_cache_restore_and_rebackup,
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn snapshot_id(v: &Value) -> String {
    let id = v["snapshot_id"].as_str().unwrap_or_else(|| panic!("no snapshot id in {v}")).to_string();
    assert_eq!(id.len(), 64, "{id}");
    id
}

/// `snap ls SPEC` (plus filter args), one path per line.
fn ls_lines(env: &Env, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ls"];
    all.extend_from_slice(args);
    env.snap(all).ok().stdout.lines().map(str::to_string).collect()
}

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 test path").to_string()
}

/// Every ancestor of an absolute path as snap lists it ("/a", "/a/b", ...), excluding "/".
fn ancestors_of(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = p.ancestors().skip(1).filter(|a| *a != Path::new("/")).map(s).collect();
    v.reverse();
    v
}

/// All entries below `root` (not following symlinks), as paths relative to `root`.
fn entries(root: &Path) -> BTreeSet<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("entry").path();
            out.insert(p.strip_prefix(root).expect("below root").to_path_buf());
            if fs::symlink_metadata(&p).expect("lstat").is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn rel_set(items: &[&str]) -> BTreeSet<PathBuf> {
    items.iter().map(PathBuf::from).collect()
}

fn write(p: &Path, data: &[u8]) {
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).expect("mkdir");
    }
    fs::write(p, data).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn set_mtime(p: &Path, secs: i64, nanos: u32) {
    filetime::set_symlink_file_times(p, FileTime::from_unix_time(secs, nanos), FileTime::from_unix_time(secs, nanos)).expect("utimes");
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("cstring");
    // SAFETY: `c` is a valid NUL-terminated path.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o640) };
    assert_eq!(rc, 0, "mkfifo {}: {}", p.display(), std::io::Error::last_os_error());
}

/// Sets every directory's mtime below and including `root`, deepest first, to fixed values, so a
/// restore must really restore them (not just happen to create them in the same second).
fn fix_dir_mtimes(root: &Path, base: i64) {
    let mut dirs: Vec<PathBuf> = entries(root).into_iter().map(|r| root.join(r)).filter(|p| fs::symlink_metadata(p).expect("lstat").is_dir()).collect();
    dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, d) in dirs.iter().enumerate() {
        set_mtime(d, base + i as i64, 0);
    }
    set_mtime(root, base - 1, 0);
}

/// Compares two (possibly huge) files without reading them whole.
#[track_caller]
fn assert_same_content_streaming(a: &Path, b: &Path) {
    let (mut fa, mut fb) = (fs::File::open(a).expect("open a"), fs::File::open(b).expect("open b"));
    assert_eq!(fa.metadata().expect("md").len(), fb.metadata().expect("md").len(), "size of {}", b.display());
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut off = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        assert_eq!(na, nb, "short read at {off}");
        if na == 0 {
            return;
        }
        if ba[..na] != bb[..nb] {
            let i = ba[..na].iter().zip(&bb[..nb]).position(|(x, y)| x != y).unwrap_or(0);
            panic!("{} differs from {} at byte {}", b.display(), a.display(), off + i as u64);
        }
        off += na as u64;
    }
}

fn read_full(f: &mut fs::File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]).expect("read") {
            0 => break,
            k => n += k,
        }
    }
    n
}

// ---------------------------------------------------------------------------------------------
// File kinds, names, metadata
// ---------------------------------------------------------------------------------------------

fn odd_kinds_modes_and_times_round_trip(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("src");
    fs::create_dir_all(&src).unwrap();
    // Empty files.
    write(&src.join("empty"), b"");
    write(&src.join("dir/also-empty"), b"");
    // Modes.
    write(&src.join("private"), b"secret\n");
    chmod(&src.join("private"), 0o600);
    write(&src.join("script.sh"), b"#!/bin/sh\necho hi\n");
    chmod(&src.join("script.sh"), 0o755);
    write(&src.join("readonly"), b"do not touch\n");
    chmod(&src.join("readonly"), 0o444);
    write(&src.join("setgid-dir/file"), b"x");
    chmod(&src.join("setgid-dir"), 0o2750);
    // Symlinks: relative, dangling, absolute target, to a directory.
    std::os::unix::fs::symlink("private", src.join("link-rel")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", src.join("link-dangling")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/absolute/target", src.join("link-abs")).unwrap();
    std::os::unix::fs::symlink("dir", src.join("link-dir")).unwrap();
    // Hardlinks: two names, one inode, in different directories.
    write(&src.join("hl-a"), b"shared by two names\n");
    fs::hard_link(src.join("hl-a"), src.join("dir/hl-b")).unwrap();
    // Empty directories, one nested.
    fs::create_dir_all(src.join("emptydir")).unwrap();
    fs::create_dir_all(src.join("nested/empty/inner")).unwrap();
    // Fixed times with nanoseconds on everything that is not a directory.
    let fixed = ["empty", "dir/also-empty", "private", "script.sh", "readonly", "setgid-dir/file", "hl-a", "link-rel", "link-dangling", "link-abs"];
    for (i, f) in fixed.iter().enumerate() {
        set_mtime(&src.join(f), 1_500_000_000 + i as i64 * 1000, 123_456_789 + i as u32);
    }
    fix_dir_mtimes(&src, 1_400_000_000);

    let id = env.backup(&[&src]);
    let target = env.restore(&id, "r");
    let out = restored(&target, &src);
    assert_same_tree(&src, &out);

    // What assert_same_tree does not look at.
    for f in fixed {
        let (a, b) = (fs::symlink_metadata(src.join(f)).unwrap(), fs::symlink_metadata(out.join(f)).unwrap());
        assert_eq!((a.mtime(), a.mtime_nsec()), (b.mtime(), b.mtime_nsec()), "mtime with nanoseconds of {f}");
    }
    let (a, b) = (fs::metadata(out.join("hl-a")).unwrap(), fs::metadata(out.join("dir/hl-b")).unwrap());
    assert_eq!(a.nlink(), 2);
    assert_eq!(b.nlink(), 2);
    assert_eq!(a.ino(), b.ino(), "hardlinks restored as one inode");
    assert_eq!(fs::read(out.join("dir/hl-b")).unwrap(), b"shared by two names\n");
    assert_eq!(fs::read_link(out.join("link-abs")).unwrap(), Path::new("/nonexistent/absolute/target"));
    assert_eq!(fs::read_link(out.join("link-dangling")).unwrap(), Path::new("does/not/exist"));
    assert!(fs::metadata(out.join("link-dangling")).is_err(), "dangling link stays dangling");
    assert_eq!(fs::metadata(out.join("readonly")).unwrap().mode() & 0o7777, 0o444);
    assert_eq!(fs::metadata(out.join("setgid-dir")).unwrap().mode() & 0o7777, 0o2750);
    assert_eq!(fs::metadata(out.join("empty")).unwrap().len(), 0);
    assert!(entries(&out.join("nested")) == rel_set(&["empty", "empty/inner"]));
    assert!(fs::read_dir(out.join("emptydir")).unwrap().next().is_none());
    // No restore temporaries are left behind.
    assert!(entries(&target).iter().all(|p| !p.to_string_lossy().contains(".snap-tmp-")), "temporary files left: {:?}", entries(&target));
}

/// `snap restore` with a time limit: a hang is a failure, not a stuck test run.
fn restore_with_deadline(env: &Env, id: &str, target: &Path, secs: u64) -> crate::util::Run {
    let mut child = env.cmd().args(["restore", id, "--target"]).arg(target).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn snap");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("snap restore did not finish within {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("output").into()
}

/// Restoring a fifo must not open it: an open for reading waits for a writer forever.
#[test]
fn fifo_round_trip() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    fs::create_dir_all(&src).unwrap();
    write(&src.join("before"), b"a\n");
    mkfifo(&src.join("pipe"));
    set_mtime(&src.join("pipe"), 1_500_000_000, 42);
    fix_dir_mtimes(&src, 1_400_000_000);
    let id = env.backup(&[&src]);
    let target = env.path().join("r");
    restore_with_deadline(&env, &id, &target, 30).ok();
    let out = restored(&target, &src);
    assert_same_tree(&src, &out);
    let pipe = fs::symlink_metadata(out.join("pipe")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&pipe.file_type()), "pipe is a fifo");
    assert_eq!(pipe.mode() & 0o7777, 0o640);
    assert_eq!((pipe.mtime(), pipe.mtime_nsec()), (1_500_000_000, 42));
}

fn odd_names_round_trip(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("src");
    let names: Vec<OsString> = vec![
        "with space.txt".into(),
        " leading and trailing space ".into(),
        "new\nline".into(),
        "tab\there".into(),
        "-rf".into(),
        "--help".into(),
        "héllo wörld ✓ 日本語 🦀.txt".into(),
        "*?[glob]{chars}".into(),
        "back\\slash".into(),
        "colon:name".into(),
        ".hidden".into(),
        "a".repeat(255).into(),
        OsStr::from_bytes(b"bad-\xff\xfe-utf8").to_os_string(),
    ];
    for (i, n) in names.iter().enumerate() {
        write(&src.join(n), format!("content {i}\n").as_bytes());
    }
    fs::create_dir_all(src.join("dir with\nnewline")).unwrap();
    write(&src.join("dir with\nnewline").join("日本"), b"nested\n");
    fix_dir_mtimes(&src, 1_600_000_000);

    let id = env.backup(&[&src]);
    let out = restored(&env.restore(&id, "r"), &src);
    assert_same_tree(&src, &out);
    for (i, n) in names.iter().enumerate() {
        assert_eq!(fs::read(out.join(n)).unwrap(), format!("content {i}\n").as_bytes(), "{n:?}");
    }
}

/// Temporary names in restore are built from the first 100 characters of the (lossy UTF-8) name:
/// for multi-byte names that overflows the 255-byte limit.
#[test]
fn long_multibyte_name_round_trip() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    let name = "語".repeat(85); // 255 bytes
    assert_eq!(name.len(), 255);
    write(&src.join(&name), b"long name\n");
    let id = env.backup(&[&src]);
    let out = restored(&env.restore(&id, "r"), &src);
    assert_same_tree(&src, &out);
}

/// Two names that only differ after their first 100 characters, and two non-UTF-8 names that are
/// the same after lossy decoding, must not share a restore temporary.
#[test]
fn names_equal_after_truncation_or_lossy_decoding_round_trip() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    let prefix = "p".repeat(150);
    write(&src.join(format!("{prefix}-one")), b"one\n");
    write(&src.join(format!("{prefix}-two")), b"two\n");
    write(&src.join(OsStr::from_bytes(b"x\xff")), b"ff\n");
    write(&src.join(OsStr::from_bytes(b"x\xfe")), b"fe\n");
    let id = env.backup(&[&src]);
    let out = restored(&env.restore(&id, "r"), &src);
    assert_same_tree(&src, &out);
}

#[test]
fn sparse_file_round_trip_stays_sparse() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let path = src.join("disk.img");
    const LEN: u64 = 200 * 1024 * 1024;
    {
        let f = fs::File::create(&path).unwrap();
        f.set_len(LEN).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(b"BEGIN", 4096).unwrap();
        f.write_all_at(b"middle bytes", 100 * 1024 * 1024 + 7).unwrap();
        f.write_all_at(b"END", LEN - 3).unwrap();
    }
    set_mtime(&path, 1_700_000_000, 5);
    let src_alloc = fs::metadata(&path).unwrap().blocks() * 512;
    assert!(src_alloc < 1024 * 1024, "the test filesystem must support sparse files ({src_alloc} allocated)");

    let id = env.backup(&[&src]);
    let out = restored(&env.restore(&id, "r"), &src).join("disk.img");
    let md = fs::metadata(&out).unwrap();
    assert_eq!(md.len(), LEN);
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_700_000_000, 5));
    assert_same_content_streaming(&path, &out);
    let alloc = md.blocks() * 512;
    assert!(alloc < 16 * 1024 * 1024, "restored file is not sparse: {alloc} bytes allocated of {LEN}");
}

#[test]
fn deep_and_wide_trees_round_trip() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    // 60 levels, a file at every level.
    let mut d = src.join("deep");
    for level in 0..60 {
        d = d.join(format!("level-{level:02}"));
        write(&d.join("f"), format!("level {level}\n").as_bytes());
    }
    // 3000 files in one directory.
    let wide = src.join("wide");
    fs::create_dir_all(&wide).unwrap();
    for i in 0..3000 {
        fs::write(wide.join(format!("file-{i:04}")), format!("{i}\n")).unwrap();
    }
    fix_dir_mtimes(&src, 1_650_000_000);

    let id = env.backup(&[&src]);
    let out = restored(&env.restore(&id, "r"), &src);
    assert_same_tree(&src, &out);
    assert_eq!(fs::read(out.join(d.strip_prefix(&src).unwrap()).join("f")).unwrap(), b"level 59\n");
    let listed = ls_lines(&env, &[&format!("{id}:{}", s(&wide))]);
    assert_eq!(listed.len(), 3000);
    assert_eq!(listed[0], format!("{}/file-0000", s(&wide)));
    assert_eq!(listed[2999], format!("{}/file-2999", s(&wide)));
    let deep_listed = ls_lines(&env, &[&format!("{id}:{}", s(&src.join("deep")))]);
    assert_eq!(deep_listed.len(), 120, "60 dirs and 60 files");
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

fn empty_stdin_stream(store: Store) {
    let env = Env::with_repo_on(store);
    let run = env.snap_stdin(["backup", "--json", "--stdin", "--stdin-filename", "empty.sql"], b"").ok();
    let v = run.json();
    let id = snapshot_id(&v);
    assert_eq!(v["bytes_total"], 0);
    assert_eq!(v["bytes_read"], 0);
    let ls = env.snap(["ls", "--json", &id]).ok().json();
    let arr = ls.as_array().expect("array");
    assert_eq!(arr.len(), 1, "{ls}");
    assert_eq!(arr[0]["path"], "/empty.sql");
    assert_eq!(arr[0]["type"], "file");
    assert_eq!(arr[0]["size"], 0);
    let dump = env.snap(["dump", &id, "/empty.sql"]).ok();
    assert!(dump.raw_stdout.is_empty(), "dump gave {} bytes", dump.raw_stdout.len());
    let target = env.restore(&id, "r");
    assert_eq!(fs::read(target.join("empty.sql")).unwrap(), b"");
    let snaps = env.snap(["snapshots", "--json"]).ok().json();
    assert_eq!(snaps[0]["paths"], serde_json::json!(["/empty.sql"]));
}

fn paths_and_stream_in_one_snapshot(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("etc");
    write(&src.join("app.conf"), b"listen 80\n");
    write(&src.join("sub/other.conf"), &pseudo_random(70_000, 1));
    let mut stream = b"-- dump\nCREATE TABLE t (x int);\n".to_vec();
    stream.extend(pseudo_random(3 * 1024 * 1024 + 17, 2));
    stream.extend_from_slice(b"\n-- end\n");

    let run = env.snap_stdin([OsStr::new("backup"), OsStr::new("--json"), src.as_os_str(), OsStr::new("--stdin"), OsStr::new("--stdin-filename"), OsStr::new("db.sql")], &stream).ok();
    let id = snapshot_id(&run.json());

    let listed: BTreeSet<String> = ls_lines(&env, &[&id]).into_iter().collect();
    let mut want: BTreeSet<String> = ancestors_of(&src).into_iter().collect();
    for p in ["", "/app.conf", "/sub", "/sub/other.conf"] {
        want.insert(format!("{}{p}", s(&src)));
    }
    want.insert("/db.sql".into());
    assert_eq!(listed, want);

    let dump = env.snap(["dump", &id, "/db.sql"]).ok();
    assert!(dump.raw_stdout == stream, "dump of /db.sql differs ({} vs {} bytes)", dump.raw_stdout.len(), stream.len());

    let snaps = env.snap(["snapshots", "--json"]).ok().json();
    let mut paths: Vec<String> = snaps[0]["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    paths.sort();
    let mut want_paths = vec![s(&src), "/db.sql".to_string()];
    want_paths.sort();
    assert_eq!(paths, want_paths);

    let target = env.restore(&id, "r");
    assert!(fs::read(target.join("db.sql")).unwrap() == stream, "restored db.sql differs");
    assert_eq!(fs::metadata(target.join("db.sql")).unwrap().len(), stream.len() as u64);
    assert_same_tree(&src, &restored(&target, &src));
}

fn stream_from_command_round_trip(store: Store) {
    let env = Env::with_repo_on(store);
    let script = "i=0; while [ $i -lt 3000 ]; do printf 'INSERT INTO t VALUES (%d);\\n' $i; i=$((i+1)); done; printf 'tail\\001\\377'";
    let v = backup_json(&env, ["--stdin-from-command", "--stdin-filename", "x.sql", "--", "sh", "-c", script]);
    let id = snapshot_id(&v);
    let mut want = Vec::new();
    for i in 0..3000 {
        want.extend_from_slice(format!("INSERT INTO t VALUES ({i});\n").as_bytes());
    }
    want.extend_from_slice(b"tail\x01\xff");
    assert_eq!(v["bytes_total"], want.len());
    let dump = env.snap(["dump", &id, "/x.sql"]).ok();
    assert!(dump.raw_stdout == want, "dump differs: {} vs {} bytes", dump.raw_stdout.len(), want.len());
    let target = env.restore(&id, "r");
    assert!(fs::read(target.join("x.sql")).unwrap() == want);

    // A failing command writes no snapshot.
    let failed = env.snap(["backup", "--stdin-from-command", "--stdin-filename", "y.sql", "--", "sh", "-c", "printf partial; exit 3"]);
    assert_eq!(failed.code, 1, "{failed:?}");
    assert!(failed.stderr.contains("exited with status 3"), "{}", failed.stderr);
    let snaps = env.snap(["snapshots", "--json"]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 1, "no snapshot from a failed command: {snaps}");
}

// ---------------------------------------------------------------------------------------------
// dump of a directory
// ---------------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TarEntry {
    path: String,
    kind: &'static str,
    mode: u32,
    mtime: u64,
    content: Vec<u8>,
    link: Option<String>,
}

fn parse_tar(raw: &[u8]) -> Vec<TarEntry> {
    let mut ar = tar::Archive::new(raw);
    let mut out = Vec::new();
    for e in ar.entries().expect("tar entries") {
        let mut e = e.expect("tar entry");
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Regular => "file",
            tar::EntryType::Directory => "dir",
            tar::EntryType::Symlink => "symlink",
            other => panic!("unexpected entry type {other:?}"),
        };
        let path = e.path().expect("path").to_string_lossy().trim_end_matches('/').to_string();
        let link = e.link_name().expect("link name").map(|l| l.to_string_lossy().into_owned());
        let mut content = Vec::new();
        e.read_to_end(&mut content).expect("read entry");
        assert_eq!(content.len() as u64, h.size().unwrap(), "size of {path}");
        out.push(TarEntry { path, kind, mode: h.mode().unwrap() & 0o7777, mtime: h.mtime().unwrap(), content, link });
    }
    out
}

fn dump_directory_as_tar(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("site");
    let big = pseudo_random(2 * 1024 * 1024 + 333, 7);
    write(&src.join("index.html"), b"<h1>hi</h1>\n");
    chmod(&src.join("index.html"), 0o640);
    write(&src.join("assets/big.bin"), &big);
    write(&src.join("assets/empty"), b"");
    fs::create_dir_all(src.join("emptydir")).unwrap();
    std::os::unix::fs::symlink("index.html", src.join("home.html")).unwrap();
    for (i, f) in ["index.html", "assets/big.bin", "assets/empty"].iter().enumerate() {
        set_mtime(&src.join(f), 1_234_567_890 + i as i64, 0);
    }
    fix_dir_mtimes(&src, 1_300_000_000);
    let id = env.backup(&[&src]);

    let dump = env.snap(["dump", &id, &s(&src)]).ok();
    let mut got = parse_tar(&dump.raw_stdout);
    got.sort();
    let md = |p: &str| fs::symlink_metadata(src.join(p)).unwrap();
    let entry = |path: &str, rel: &str, kind: &'static str, content: &[u8], link: Option<&str>| {
        let m = md(rel);
        TarEntry { path: path.into(), kind, mode: m.mode() & 0o7777, mtime: m.mtime() as u64, content: content.to_vec(), link: link.map(str::to_string) }
    };
    let mut want = vec![
        entry("site", "", "dir", b"", None),
        entry("site/index.html", "index.html", "file", b"<h1>hi</h1>\n", None),
        entry("site/assets", "assets", "dir", b"", None),
        entry("site/assets/big.bin", "assets/big.bin", "file", &big, None),
        entry("site/assets/empty", "assets/empty", "file", b"", None),
        entry("site/emptydir", "emptydir", "dir", b"", None),
        entry("site/home.html", "home.html", "symlink", b"", Some("index.html")),
    ];
    want.sort();
    // The symlink's mode and mtime are not meaningful in tar; compare them loosely.
    for (g, w) in got.iter_mut().zip(&want) {
        if g.kind == "symlink" {
            g.mode = w.mode;
            g.mtime = w.mtime;
        }
    }
    assert_eq!(got.len(), want.len(), "entries: {:?}", got.iter().map(|e| &e.path).collect::<Vec<_>>());
    for (g, w) in got.iter().zip(&want) {
        assert!(g == w, "tar entry {} differs: got {:?} want {:?}", w.path, (g.kind, g.mode, g.mtime, g.content.len(), &g.link), (w.kind, w.mode, w.mtime, w.content.len(), &w.link));
    }

    // A subdirectory is rooted at its own name.
    let sub = env.snap(["dump", &id, &s(&src.join("assets"))]).ok();
    let mut names: Vec<String> = parse_tar(&sub.raw_stdout).into_iter().map(|e| e.path).collect();
    names.sort();
    assert_eq!(names, ["assets", "assets/big.bin", "assets/empty"]);

    // GNU tar reads it back into the same tree.
    let x = env.path().join("untarred");
    fs::create_dir_all(&x).unwrap();
    let mut child = Command::new("tar").arg("-xf").arg("-").arg("-C").arg(&x).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("tar");
    child.stdin.take().unwrap().write_all(&dump.raw_stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "tar -x failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_same_tree(&src, &x.join("site"));
}

// ---------------------------------------------------------------------------------------------
// Snapshot metadata, filters and selection
// ---------------------------------------------------------------------------------------------

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|s| s["id"].as_str().unwrap().to_string()).collect()
}

fn snapshots_json_metadata_and_filters(store: Store) {
    let env = Env::with_repo_on(store);
    let a = env.path().join("a");
    let b = env.path().join("b");
    write(&a.join("f"), b"version 1\n");
    write(&b.join("g"), b"other dir\n");

    let bk = |dir: &Path, extra: &[&str]| {
        let mut args: Vec<OsString> = vec![dir.as_os_str().to_os_string()];
        args.extend(extra.iter().map(OsString::from));
        snapshot_id(&backup_json(&env, args))
    };
    let s1 = bk(&a, &["--host", "alpha", "--tag", "daily", "--tag", "db", "--time", "2024-02-29 12:00:00"]);
    let s2 = bk(&b, &["--host", "beta", "--tag", "weekly", "--time", "2024-03-01 08:30:00"]);
    write(&a.join("f"), b"version 2, longer\n");
    let s3 = bk(&a, &["--host", "alpha", "--tag", "daily", "--time", "2024-03-02 00:00:00"]);
    // Made last, but the oldest by its time.
    let s4 = bk(&a, &["--host", "beta", "--time", "2024-01-01 00:00:00"]);

    let all = env.snap(["snapshots", "--json"]).ok().json();
    assert_eq!(ids_of(&all), [s4.clone(), s1.clone(), s2.clone(), s3.clone()], "oldest first by time");
    let first = &all[1];
    assert_eq!(first["id"], s1.as_str());
    assert!(s1.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{s1}");
    assert_eq!(first["time"], "2024-02-29T12:00:00+00:00");
    assert_eq!(first["hostname"], "alpha");
    assert_eq!(first["paths"], serde_json::json!([s(&a)]));
    assert_eq!(first["tags"], serde_json::json!(["daily", "db"]));
    assert_eq!(all[2]["time"], "2024-03-01T08:30:00+00:00");
    assert_eq!(all[2]["tags"], serde_json::json!(["weekly"]));
    assert_eq!(all[0]["tags"], serde_json::json!([]));

    let filtered = |args: &[&str]| {
        let mut v = vec!["snapshots", "--json"];
        v.extend_from_slice(args);
        ids_of(&env.snap(v).ok().json())
    };
    assert_eq!(filtered(&["--host", "alpha"]), [s1.clone(), s3.clone()]);
    assert_eq!(filtered(&["--host", "beta"]), [s4.clone(), s2.clone()]);
    assert_eq!(filtered(&["--host", "gamma"]), Vec::<String>::new());
    assert_eq!(filtered(&["--tag", "db"]), [s1.clone()]);
    assert_eq!(filtered(&["--tag", "daily"]), [s1.clone(), s3.clone()]);
    assert_eq!(filtered(&["--tag", "daily,db"]), [s1.clone()]);
    assert_eq!(filtered(&["--tag", "db", "--tag", "weekly"]), [s1.clone(), s2.clone()]);
    assert_eq!(filtered(&["--path", &s(&b)]), [s2.clone()]);
    assert_eq!(filtered(&["--path", &s(&a), "--host", "beta"]), [s4.clone()]);

    // `latest`: the newest by time, among those passing the filters.
    let ls_latest = |args: &[&str]| {
        let mut v = vec!["latest"];
        v.extend_from_slice(args);
        ls_lines(&env, &v)
    };
    assert!(ls_latest(&["--host", "beta"]).contains(&format!("{}/g", s(&b))), "latest of beta is s2 (dir b)");
    let f = s(&a.join("f"));
    let dump_f = |spec: &str, args: &[&str]| {
        let mut v = vec!["dump", spec, &f];
        v.extend_from_slice(args);
        env.snap(v).ok().raw_stdout
    };
    assert_eq!(dump_f("latest", &["--host", "alpha"]), b"version 2, longer\n");
    assert_eq!(dump_f("latest", &[]), b"version 2, longer\n", "latest overall is s3 by time");
    assert_eq!(dump_f("latest", &["--tag", "db"]), b"version 1\n");
    assert_eq!(dump_f("latest", &["--host", "beta", "--path", &s(&a)]), b"version 2, longer\n");

    // A 4-hex-digit prefix (one that is unique here) selects that snapshot.
    let all_ids = [&s1, &s2, &s3, &s4];
    let unique = all_ids.iter().find(|id| all_ids.iter().filter(|o| o[..4] == id[..4]).count() == 1).expect("a unique 4-digit prefix");
    let lines = ls_lines(&env, &["--json", &unique[..4]]);
    assert!(!lines.is_empty());
    let full = env.snap(["ls", "--json", unique]).ok().stdout;
    assert_eq!(lines.join("\n") + "\n", full, "prefix and full id list the same snapshot");
    let upper = env.snap(["dump", &unique[..4].to_ascii_uppercase(), &s(&a)]);
    let lower = env.snap(["dump", &unique[..4], &s(&a)]).ok();
    assert_eq!(upper.code, 0, "upper-case prefix: {}", upper.stderr);
    assert_eq!(upper.raw_stdout, lower.raw_stdout);

    // An unknown prefix: exit 1 and one line on stderr.
    let unknown = (0u32..=0xffff).map(|n| format!("{n:04x}")).find(|p| all_ids.iter().all(|id| !id.starts_with(p.as_str()))).unwrap();
    for cmd in [vec!["ls", unknown.as_str()], vec!["dump", unknown.as_str(), "/x"], vec!["restore", unknown.as_str(), "--target", "/nonexistent-snap-target"]] {
        let r = env.snap(&cmd);
        assert_eq!(r.code, 1, "{cmd:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{cmd:?} printed {:?}", r.stdout);
        let err = r.stderr.trim_end_matches('\n');
        assert!(!err.is_empty() && !err.contains('\n'), "{cmd:?}: not one line: {:?}", r.stderr);
        assert!(err.starts_with("snap: ") && err.contains(&unknown), "{cmd:?}: {err}");
    }
    assert!(!Path::new("/nonexistent-snap-target").exists());
}

// ---------------------------------------------------------------------------------------------
// Restore selections, ls of a subtree
// ---------------------------------------------------------------------------------------------

fn selection_tree(env: &Env) -> PathBuf {
    let src = env.path().join("src");
    write(&src.join("etc/nginx/nginx.conf"), b"worker_processes 4;\n");
    write(&src.join("etc/nginx/sites/a.conf"), b"server {}\n");
    write(&src.join("etc/hosts"), b"127.0.0.1 localhost\n");
    write(&src.join("var/log/x.log"), b"log line\n");
    write(&src.join("var/log/y.gz"), &pseudo_random(1000, 3));
    write(&src.join("var/lib/db.conf"), b"db\n");
    src
}

#[test]
fn restore_include_and_exclude_select_exactly() {
    let env = Env::with_repo();
    let src = selection_tree(&env);
    let id = env.backup(&[&src]);
    let restore = |name: &str, args: &[String]| {
        let target = env.path().join(name);
        let mut v: Vec<String> = vec!["restore".into(), id.clone(), "--target".into(), s(&target)];
        v.extend_from_slice(args);
        env.snap(&v).ok();
        let root = restored(&target, &src);
        let got = entries(&root);
        // Whatever was restored is byte-exact.
        for p in &got {
            if fs::symlink_metadata(root.join(p)).unwrap().is_file() {
                assert_eq!(fs::read(root.join(p)).unwrap(), fs::read(src.join(p)).unwrap(), "{}", p.display());
            }
        }
        got
    };
    let abs = |p: &str| format!("{}/{p}", s(&src));

    let got = restore("inc-dir", &["--include".into(), abs("etc/nginx")]);
    assert_eq!(got, rel_set(&["etc", "etc/nginx", "etc/nginx/nginx.conf", "etc/nginx/sites", "etc/nginx/sites/a.conf"]));

    let got = restore("inc-name", &["--include".into(), "*.conf".into()]);
    assert_eq!(got, rel_set(&["etc", "etc/nginx", "etc/nginx/nginx.conf", "etc/nginx/sites", "etc/nginx/sites/a.conf", "var", "var/lib", "var/lib/db.conf"]));

    let got = restore("inc-two", &["--include".into(), abs("etc/hosts"), "--include".into(), abs("var/log/*.log")]);
    assert_eq!(got, rel_set(&["etc", "etc/hosts", "var", "var/log", "var/log/x.log"]));

    let got = restore("exc-name", &["--exclude".into(), "*.gz".into()]);
    assert_eq!(
        got,
        rel_set(&["etc", "etc/hosts", "etc/nginx", "etc/nginx/nginx.conf", "etc/nginx/sites", "etc/nginx/sites/a.conf", "var", "var/lib", "var/lib/db.conf", "var/log", "var/log/x.log"])
    );

    let got = restore("exc-dir", &["--exclude".into(), abs("var")]);
    assert_eq!(got, rel_set(&["etc", "etc/hosts", "etc/nginx", "etc/nginx/nginx.conf", "etc/nginx/sites", "etc/nginx/sites/a.conf"]));

    let got = restore("inc-exc", &["--include".into(), abs("etc"), "--exclude".into(), "sites".into()]);
    assert_eq!(got, rel_set(&["etc", "etc/hosts", "etc/nginx", "etc/nginx/nginx.conf"]));
}

/// "--include: restore only paths matching this glob (and what lies below them)": an empty
/// directory below an included directory lies below it.
#[test]
fn restore_include_keeps_empty_dirs_below_included_dir() {
    let env = Env::with_repo();
    let src = selection_tree(&env);
    fs::create_dir_all(src.join("etc/nginx/conf.d")).unwrap();
    let id = env.backup(&[&src]);
    let target = env.path().join("r");
    env.snap(["restore", &id, "--target", &s(&target), "--include", &format!("{}/etc/nginx", s(&src))]).ok();
    assert_eq!(
        entries(&restored(&target, &src)),
        rel_set(&["etc", "etc/nginx", "etc/nginx/conf.d", "etc/nginx/nginx.conf", "etc/nginx/sites", "etc/nginx/sites/a.conf"])
    );
}

#[test]
fn ls_of_a_subtree() {
    let env = Env::with_repo();
    let src = selection_tree(&env);
    std::os::unix::fs::symlink("../hosts", src.join("etc/nginx/hosts-link")).unwrap();
    let id = env.backup(&[&src]);
    let nginx = s(&src.join("etc/nginx"));
    assert_eq!(
        ls_lines(&env, &[&format!("{id}:{nginx}")]),
        [format!("{nginx}/hosts-link"), format!("{nginx}/nginx.conf"), format!("{nginx}/sites"), format!("{nginx}/sites/a.conf")]
    );
    // Trailing slash and a short prefix work the same.
    assert_eq!(ls_lines(&env, &[&format!("{}:{nginx}/", &id[..8])]), ls_lines(&env, &[&format!("{id}:{nginx}")]));
    // A file lists itself.
    assert_eq!(ls_lines(&env, &[&format!("{id}:{nginx}/nginx.conf")]), [format!("{nginx}/nginx.conf")]);
    // --json carries kinds, sizes and link targets.
    let v = env.snap(["ls", "--json", &format!("{id}:{nginx}")]).ok().json();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 4);
    assert_eq!(arr[0]["type"], "symlink");
    assert_eq!(arr[0]["link_target"], "../hosts");
    assert_eq!(arr[1]["type"], "file");
    assert_eq!(arr[1]["size"], 20);
    assert_eq!(arr[2]["type"], "dir");
    // A path that is not there fails.
    let r = env.snap(["ls", &format!("{id}:{nginx}/missing")]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Losing the cache
// ---------------------------------------------------------------------------------------------

fn deleted_cache_restore_and_rebackup(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("src");
    let mut n = 0;
    for i in 0..40 {
        write(&src.join(format!("d{}/f{i}", i % 5)), &pseudo_random(i * 10_000, i as u64));
        n += 1;
    }
    write(&src.join("big"), &pseudo_random(3 * 1024 * 1024, 99));
    n += 1;
    let first = backup_json(&env, [&src]);
    let id = snapshot_id(&first);
    assert_eq!(first["files_new"], n);
    assert!(env.cache().exists(), "the cache is where SNAP_CACHE_DIR points");

    fs::remove_dir_all(env.cache()).unwrap();
    let out = restored(&env.restore(&id, "r"), &src);
    assert_same_tree(&src, &out);

    fs::remove_dir_all(env.cache()).unwrap();
    let before = env.data_bytes();
    let second = backup_json(&env, [&src]);
    assert_eq!(second["parent"], id.as_str(), "{second}");
    assert_eq!(second["files_unchanged"], n, "{second}");
    assert_eq!(second["files_new"], 0);
    assert_eq!(second["files_changed"], 0);
    assert_eq!(second["bytes_read"], 0);
    assert!(env.data_bytes() - before < 64 * 1024, "second backup stored {} bytes", env.data_bytes() - before);
    let out2 = restored(&env.restore(&snapshot_id(&second), "r2"), &src);
    assert_same_tree(&src, &out2);
}

//! The filesystem is hostile too (issue 7 §3): a local user who swaps files and directories for
//! symbolic links while snap runs must not redirect a backup's reads or a restore's writes, and
//! pseudo-files, FIFOs and empty streams must be handled without false alarms or blocking.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::util::{assert_contains, assert_same_tree, expect_code, restored, s, write, Env, Run};

/// Swaps `victim` (a directory) for a symbolic link to `elsewhere` and back, over and over, until
/// stopped; returns how many times the link was in place.
fn swapper(victim: PathBuf, elsewhere: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let aside = victim.with_extension("aside");
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            if fs::rename(&victim, &aside).is_err() {
                std::thread::yield_now();
                continue;
            }
            if std::os::unix::fs::symlink(&elsewhere, &victim).is_ok() {
                swaps += 1;
                std::thread::sleep(Duration::from_micros(200));
                let _ = fs::remove_file(&victim);
            }
            let _ = fs::rename(&aside, &victim);
            std::thread::sleep(Duration::from_micros(100));
        }
        swaps
    })
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => out.extend(files_under(&p)),
            Ok(_) => out.push(p),
            Err(_) => {}
        }
    }
    out
}

#[test]
fn a_restore_racing_a_symlink_swapper_never_writes_outside_its_target() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    for i in 0..400 {
        write(&src.join(format!("d/f{i:03}.txt")), format!("file {i}\n").repeat(20).as_bytes());
    }
    write(&src.join("d/big.bin"), &crate::util::pseudo_random(3 << 20, 71));
    let id = env.backup(&[&src]);
    let outside = env.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let mut swapped = 0;
    for round in 0..4 {
        let target = env.path().join(format!("r{round}"));
        let victim = restored(&target, &src).join("d");
        let stop = Arc::new(AtomicBool::new(false));
        let swap = swapper(victim.clone(), outside.clone(), Arc::clone(&stop));
        let run: Run = env.cmd().args(["restore", &id, "--target", &s(&target)]).output().unwrap().into();
        stop.store(true, Ordering::Relaxed);
        swapped += swap.join().unwrap();
        // Entries the race spoiled are named (exit 1), or a directory that was a link when it
        // was to be entered is refused; either way nothing lands outside.
        let named = run.stderr.contains("could not be restored") || run.stderr.contains("refusing to restore into");
        assert!(run.code == 0 || (run.code == 1 && named), "round {round}: {run:?}");
        let escaped = files_under(&outside);
        assert!(escaped.is_empty(), "round {round}: restore wrote outside its target: {escaped:?}");
        // What was restored is right; what the race spoiled is reported, not half-written.
        for f in files_under(&victim) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with(".snap-tmp-") {
                // Its directory was swapped away when snap came to remove it: named, not chased.
                assert_contains(&run.stderr, &format!("temporary file {name} left in place"), "a temporary file left behind");
                continue;
            }
            assert!(fs::read(&f).unwrap() == fs::read(src.join("d").join(&name)).unwrap(), "round {round}: {name} restored wrong");
        }
    }
    assert!(swapped > 0, "the swapper never got its link in place");
    // Without the race, the same snapshot restores whole.
    let target = env.path().join("calm");
    env.snap(["restore", &id, "--target", &s(&target)]).ok();
    assert_same_tree(&src, &restored(&target, &src));
}

#[test]
fn a_backup_racing_a_symlink_swapper_never_stores_what_the_link_points_at() {
    let env = Env::with_repo();
    let src = env.path().join("home");
    let secret = env.path().join("secret");
    for i in 0..300 {
        write(&src.join(format!("user/f{i:03}")), b"the user's own bytes\n");
        write(&secret.join(format!("f{i:03}")), b"SECRET root-only bytes\n");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let swap = swapper(src.join("user"), secret.clone(), Arc::clone(&stop));
    let mut ids = Vec::new();
    for _ in 0..4 {
        let run: Run = env.cmd().args(["backup", "--json", &s(&src)]).output().unwrap().into();
        assert!(run.code == 0 || run.code == 3, "{run:?}");
        ids.push(run.json()["snapshot_id"].as_str().expect("id").to_string());
    }
    stop.store(true, Ordering::Relaxed);
    assert!(swap.join().unwrap() > 0, "the swapper never got its link in place");
    for (n, id) in ids.iter().enumerate() {
        let target = env.path().join(format!("r{n}"));
        env.snap(["restore", id, "--target", &s(&target)]).ok();
        for f in files_under(&target) {
            if fs::symlink_metadata(&f).unwrap().file_type().is_symlink() {
                continue;
            }
            let data = fs::read(&f).unwrap();
            assert!(!data.starts_with(b"SECRET"), "snapshot {n} stored the link target's bytes as {}", f.display());
        }
    }
}

#[test]
fn a_fifo_in_the_source_is_recorded_and_never_blocks_the_backup() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    write(&src.join("a.txt"), b"a\n");
    let fifo = src.join("pipe");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // No writer ever opens the FIFO: a backup that opened it would wait forever.
    let mut child = env.cmd().args(["backup", "--json", &s(&src)]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut waited = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(waited < 600, "backup blocked on a FIFO");
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    let run: Run = child.wait_with_output().unwrap().into();
    expect_code(&run, 0, "backup with a FIFO");
    let id = run.json()["snapshot_id"].as_str().unwrap().to_string();
    let target = env.path().join("r");
    env.snap(["restore", &id, "--target", &s(&target)]).ok();
    let md = fs::symlink_metadata(restored(&target, &src).join("pipe")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&md.file_type()), "the FIFO was not restored as one");
}

#[test]
fn proc_files_back_up_without_a_changed_warning() {
    let env = Env::with_repo();
    let proc_file = Path::new("/proc/version");
    let expected = fs::read(proc_file).expect("/proc is mounted");
    assert!(!expected.is_empty() && fs::metadata(proc_file).unwrap().len() == 0, "/proc/version reports size 0 and holds text");
    let run = env.snap(["backup", "--json", "/proc/version"]).ok();
    let v = run.json();
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    let id = v["snapshot_id"].as_str().unwrap();
    let dumped = env.snap(["dump", id, "/proc/version"]).ok();
    assert!(dumped.raw_stdout == expected, "stored {:?}", dumped.stdout);
}

#[test]
fn an_empty_stream_is_saved_with_a_warning() {
    let env = Env::with_repo();
    let run = env.snap_stdin(["backup", "--json", "--stdin", "--stdin-filename", "db.sql"], b"");
    expect_code(&run, 0, "empty stream");
    let v = run.json();
    assert_eq!(v["warnings"], serde_json::json!(["/db.sql: the stream was empty (0 bytes)"]), "{v}");
    let run = env.snap(["backup", "--stdin", "--stdin-filename", "db.sql"]);
    assert_contains(&run.stderr, "warning: /db.sql: the stream was empty (0 bytes)", "the warning on stderr");
}

#[test]
fn a_deep_tree_backs_up_under_a_low_open_file_limit() {
    let env = Env::with_repo();
    let src = env.path().join("deep");
    let mut dir = src.clone();
    for i in 0..300 {
        dir.push(format!("d{}", i % 10));
        if i % 50 == 0 {
            write(&dir.join("file.txt"), format!("level {i}\n").as_bytes());
        }
    }
    write(&dir.join("leaf.txt"), b"bottom\n");
    // 64 descriptors in all: the walker holds some directories open and reopens the rest by
    // path, checking each is the one it listed.
    let limited = |args: &[&str]| -> Run {
        let mut c = env.cmd();
        c.args(args);
        // SAFETY: setrlimit is async-signal-safe and touches only the child.
        unsafe {
            c.pre_exec(|| {
                let lim = libc::rlimit { rlim_cur: 64, rlim_max: 64 };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const lim) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
            });
        }
        c.output().unwrap().into()
    };
    let run = limited(&["backup", "--json", &s(&src)]);
    expect_code(&run, 0, "backup under a 64-descriptor limit");
    let id = run.json()["snapshot_id"].as_str().unwrap().to_string();
    let target = env.path().join("r");
    expect_code(&limited(&["restore", &id, "--target", &s(&target)]), 0, "restore under a 64-descriptor limit");
    assert_same_tree(&src, &restored(&target, &src));
}

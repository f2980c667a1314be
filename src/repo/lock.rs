//! Repository locks: sealed files under `locks/` naming who holds them. Backups, restores and
//! checks share; forget, prune and repair are exclusive. Ages are read from the storage's own
//! clock (never ours against another machine's), an unreadable lock blocks whoever would delete,
//! and a holder whose lock can no longer be trusted learns it from [`LockGuard::ensure_held`]
//! before it deletes or commits anything. format-spec §18 is the contract this file implements.

use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::backend::{is_not_found, Backend, FileType};
use crate::crypto::{aad, MasterKeys};
use crate::error::{Error, Result};
use crate::format::id::storage_hash;

/// The lock file's content lives in `format`, decodable without the engine; its behaviour is here.
pub use crate::format::lock::LockInfo;

/// A lock whose file the storage last modified longer ago than this is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// How often a held lock is rewritten.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
/// A holder whose last successful refresh began longer ago than this no longer trusts its lock:
/// ten minutes below [`STALE_AFTER`], so it stops before anyone may take its lock for stale.
pub const TRUST_FOR: Duration = Duration::from_secs(20 * 60);
/// Only for storage that keeps no modification times: a lock's own `time` is then compared with
/// our clock, and the lock is stale only when older than [`STALE_AFTER`] plus this much, which
/// allows for clocks that disagree (a whole-hour time-zone mistake included).
pub const CLOCK_SKEW_TOLERANCE: Duration = Duration::from_secs(2 * 60 * 60);

/// How many times a listing may find lock files vanishing under it before giving up.
const SCAN_ATTEMPTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// When a lock is refreshed, judged stale and distrusted by its holder. The default is what
/// format-spec §18 prescribes; tests shorten it rather than sleep for minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTiming {
    /// How often a held lock is rewritten ([`REFRESH_EVERY`]).
    pub refresh_every: Duration,
    /// Another lock older than this by the storage's clock is stale ([`STALE_AFTER`]).
    pub stale_after: Duration,
    /// With no successful refresh for this long, [`LockGuard::ensure_held`] fails ([`TRUST_FOR`]).
    /// Meant to lie between `refresh_every` and `stale_after`.
    pub trust_for: Duration,
}

impl Default for LockTiming {
    fn default() -> Self {
        Self { refresh_every: REFRESH_EVERY, stale_after: STALE_AFTER, trust_for: TRUST_FOR }
    }
}

impl LockInfo {
    fn mine(kind: LockKind) -> Self {
        let m = this_machine();
        Self {
            time: jiff::Timestamp::now().to_string(),
            exclusive: kind == LockKind::Exclusive,
            hostname: m.hostname.clone(),
            username: uzers::get_current_username().map(|u| u.to_string_lossy().into_owned()).unwrap_or_default(),
            pid: std::process::id(),
            boot_id: m.boot_id.clone(),
            pid_namespace: m.pid_namespace.clone(),
        }
    }

    /// Whether the holder's process is known to be gone: it ran on this host, since its last boot,
    /// in our pid namespace, and no process has its pid now. A lock from another host, container
    /// or boot, or one without these fields, says nothing about our process table.
    #[must_use]
    pub fn process_gone(&self) -> bool {
        let m = this_machine();
        let same = [(&self.hostname, &m.hostname), (&self.boot_id, &m.boot_id), (&self.pid_namespace, &m.pid_namespace)]
            .iter()
            .all(|(theirs, ours)| !theirs.is_empty() && theirs == ours);
        same && !process_alive(self.pid)
    }

    /// `exclusively by root@web1 (pid 42) since …`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "{} by {}@{} (pid {}) since {}",
            if self.exclusive { "exclusively" } else { "shared" },
            self.username,
            self.hostname,
            self.pid,
            self.time
        )
    }
}

/// What tells whether a lock's pid is one we can look up: the same host, boot and pid namespace.
#[derive(Debug)]
struct Machine {
    hostname: String,
    boot_id: String,
    pid_namespace: String,
}

fn this_machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(|| Machine {
        hostname: hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default(),
        // The link reads `pid:[4026531836]`; the number is the namespace's inode.
        pid_namespace: std::fs::read_link("/proc/self/ns/pid")
            .ok()
            .and_then(|p| p.to_str().and_then(|s| s.strip_prefix("pid:[")).and_then(|s| s.strip_suffix(']')).map(str::to_string))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_default(),
    })
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The clocks a lock is judged by.
#[derive(Debug, Clone, Copy)]
struct Now {
    /// The storage's clock: the modification time of a lock file we have just written; `None`
    /// when the storage keeps no such times.
    storage: Option<jiff::Timestamp>,
    /// Our own clock, used only when the storage keeps no times.
    local: jiff::Timestamp,
}

/// `now - then > limit`, signed: a `then` in the future is never older than anything.
fn older_than(now: jiff::Timestamp, then: jiff::Timestamp, limit: Duration) -> bool {
    let age = now.duration_since(then);
    age.is_positive() && age.unsigned_abs() > limit
}

/// format-spec §18.5: stale by age (storage clock, or failing that the lock's `time` against ours
/// with [`CLOCK_SKEW_TOLERANCE`]), or because its process is known to be gone.
fn is_stale(lock: &Result<LockInfo>, modified: Option<jiff::Timestamp>, now: Now, stale_after: Duration) -> bool {
    let old = match (now.storage, modified) {
        (Some(storage_now), Some(modified)) => older_than(storage_now, modified, stale_after),
        // An unreadable lock has no time of its own: without storage times it never ages out.
        _ => lock.as_ref().is_ok_and(|info| {
            info.time.parse::<jiff::Timestamp>().is_ok_and(|t| older_than(now.local, t, stale_after.saturating_add(CLOCK_SKEW_TOLERANCE)))
        }),
    };
    old || lock.as_ref().is_ok_and(LockInfo::process_gone)
}

/// Every lock in the repository with its id; unreadable ones are reported as `Err`.
///
/// # Errors
/// Listing fails.
pub fn list_locks(backend: &Backend, keys: &MasterKeys) -> Result<Vec<(String, Result<LockInfo>)>> {
    let mut out = Vec::new();
    for name in backend.list(FileType::Lock)? {
        match read_lock(backend, keys, &name) {
            Err(e) if is_not_found(&e) => {}
            r => out.push((name, r)),
        }
    }
    Ok(out)
}

fn read_lock(backend: &Backend, keys: &MasterKeys, name: &str) -> Result<LockInfo> {
    let path = FileType::Lock.path(name);
    let sealed = backend.read(&path)?;
    if hex::encode(storage_hash(&sealed)) != name {
        return Err(Error::corrupt("lock", &path, "content does not match its name"));
    }
    let plain = keys.open(aad::LOCK, &sealed).map_err(|e| Error::crypto("lock", &path, e))?;
    serde_json::from_slice(&plain).map_err(|e| Error::corrupt("lock", &path, e))
}

fn write_lock(backend: &Backend, keys: &MasterKeys, info: &LockInfo) -> Result<String> {
    let json = serde_json::to_vec(info).map_err(|e| Error::Internal(e.to_string()))?;
    let sealed = keys.seal(aad::LOCK, &json).map_err(|e| Error::crypto("lock", "new", e))?;
    let name = hex::encode(storage_hash(&sealed));
    backend.write(&FileType::Lock.path(&name), sealed)?;
    Ok(name)
}

/// One lock file found by [`scan`], judged.
struct Found {
    name: String,
    info: Result<LockInfo>,
    stale: bool,
}

/// Reads and judges every lock file but `skip`. A file that vanishes between the listing and its
/// reading (released, or replaced by its holder's refresh, which writes the new file before it
/// deletes the old) makes the scan start over, so a refreshed lock is never missed.
fn scan(backend: &Backend, keys: &MasterKeys, skip: &str, now: Now, stale_after: Duration) -> Result<Vec<Found>> {
    for _ in 0..SCAN_ATTEMPTS {
        let mut found = Vec::new();
        let mut vanished = false;
        for name in backend.list(FileType::Lock)? {
            if name == skip {
                continue;
            }
            let modified = match backend.modified(&FileType::Lock.path(&name)) {
                Err(e) if is_not_found(&e) => {
                    vanished = true;
                    continue;
                }
                r => r?,
            };
            let info = match read_lock(backend, keys, &name) {
                Err(e) if is_not_found(&e) => {
                    vanished = true;
                    continue;
                }
                // Storage failing to deliver a file says nothing about the lock in it.
                Err(e @ Error::Backend { .. }) => return Err(e),
                r => r,
            };
            let stale = is_stale(&info, modified, now, stale_after);
            found.push(Found { name, info, stale });
        }
        if !vanished {
            return Ok(found);
        }
    }
    Err(Error::Locked("lock files kept changing while they were read; try again".into()))
}

fn locked_error(name: &str, info: &LockInfo) -> Error {
    Error::Locked(format!("{} (lock {}); if that process is gone, run `snap unlock`", info.describe(), name.get(..8).unwrap_or(name)))
}

fn unreadable_error(read: &Error, stale_after: Duration) -> Error {
    Error::Locked(format!(
        "{read}; it may be the lock of a running snap, so nothing may delete. If no snap is running, \
         remove it with `snap unlock --remove-all` (plain `snap unlock` removes it once it is {} minutes old)",
        stale_after.as_secs() / 60
    ))
}

/// Looks for a live lock that conflicts with our lock `mine` of `kind`, which must already be
/// written: its modification time is the storage's "now".
fn check_conflicts(backend: &Backend, keys: &MasterKeys, kind: LockKind, mine: &str, timing: LockTiming) -> Result<()> {
    let now = Now { storage: backend.modified(&FileType::Lock.path(mine))?, local: jiff::Timestamp::now() };
    for found in scan(backend, keys, mine, now, timing.stale_after)? {
        if found.stale {
            continue;
        }
        match &found.info {
            Ok(info) if kind == LockKind::Exclusive || info.exclusive => return Err(locked_error(&found.name, info)),
            // A shared locker only adds files; an unreadable file is far more often damage than a
            // live prune, and would otherwise stop every backup until someone intervenes.
            Err(e) if kind == LockKind::Exclusive => return Err(unreadable_error(e, timing.stale_after)),
            _ => {}
        }
    }
    Ok(())
}

/// Takes a lock of `kind` with the timing of format-spec §18.
///
/// # Errors
/// See [`acquire_with`].
pub fn acquire(backend: &Backend, keys: &MasterKeys, kind: LockKind) -> Result<LockGuard> {
    acquire_with(backend, keys, kind, LockTiming::default())
}

/// Takes a lock of `kind`: writes our lock file, then judges every other one (format-spec §18.3).
/// Each locker writes before it looks, so of two racing exclusive lockers at least the later one
/// sees the other: both may back off, never both proceed. The lock is refreshed in the background
/// every `timing.refresh_every` until the guard is dropped.
///
/// # Errors
/// [`Error::Locked`] naming the holder of a conflicting lock (or an unreadable lock file, for an
/// exclusive lock); storage errors.
pub fn acquire_with(backend: &Backend, keys: &MasterKeys, kind: LockKind, timing: LockTiming) -> Result<LockGuard> {
    let started = Instant::now();
    let name = write_lock(backend, keys, &LockInfo::mine(kind))?;
    let path = FileType::Lock.path(&name);
    if let Err(e) = check_conflicts(backend, keys, kind, &name, timing) {
        // Best effort: the conflict is what to report; a lock left behind ages out.
        let _ = backend.delete(&path);
        return Err(e);
    }
    let held = Arc::new(Held {
        backend: backend.clone(),
        keys: keys.clone(),
        kind,
        timing,
        state: Mutex::new(HeldState { name, written: started, lost: None, removed: false, leftovers: Vec::new() }),
        stop: Mutex::new(false),
        wake: Condvar::new(),
    });
    let refresher = {
        let held = Arc::clone(&held);
        std::thread::Builder::new().name("snap-lock".into()).spawn(move || held.run())
    };
    match refresher {
        Ok(h) => Ok(LockGuard { held, refresher: Some(h) }),
        Err(e) => {
            let _ = backend.delete(&path);
            Err(Error::io("lock refresher thread", e))
        }
    }
}

/// A held lock: refreshed in the background, released (its file deleted) on drop.
pub struct LockGuard {
    held: Arc<Held>,
    refresher: Option<JoinHandle<()>>,
}

/// What the guard and its refresher thread share.
struct Held {
    backend: Backend,
    keys: MasterKeys,
    kind: LockKind,
    timing: LockTiming,
    state: Mutex<HeldState>,
    /// Set on release; `wake` tells the refresher.
    stop: Mutex<bool>,
    wake: Condvar,
}

struct HeldState {
    /// Our current lock file.
    name: String,
    /// When the write of `name` began (monotonic clock): the storage dated it no earlier.
    written: Instant,
    /// Why the lock can no longer be trusted, once it cannot. It stays lost.
    lost: Option<String>,
    /// Our lock file was removed by someone: refreshing would undo what they did on purpose.
    removed: bool,
    /// Earlier files of ours whose deletion failed; retried on release.
    leftovers: Vec<String>,
}

impl Held {
    fn run(&self) {
        let every = self.timing.refresh_every;
        let mut stopped = self.stop.lock();
        let mut next = Instant::now().checked_add(every);
        while !*stopped {
            let Some(deadline) = next else {
                self.wake.wait(&mut stopped);
                continue;
            };
            if Instant::now() >= deadline {
                MutexGuard::unlocked(&mut stopped, || self.refresh());
                next = Instant::now().checked_add(every);
            } else {
                self.wake.wait_until(&mut stopped, deadline);
            }
        }
    }

    /// One refresh: make sure our file is still there, write a new one, then delete the old one
    /// (in that order, so one of our files exists at every moment). Failures are recorded for
    /// [`LockGuard::ensure_held`]; after a failed write the next refresh tries again.
    fn refresh(&self) {
        let current = {
            let s = self.state.lock();
            if s.removed {
                return;
            }
            s.name.clone()
        };
        let path = FileType::Lock.path(&current);
        match self.backend.exists(&path) {
            Ok(true) => {}
            Ok(false) => {
                self.mark_removed(&current);
                return;
            }
            Err(e) => return self.lose(format!("checking it failed: {e}")),
        }
        let started = Instant::now();
        match write_lock(&self.backend, &self.keys, &LockInfo::mine(self.kind)) {
            Ok(new) => {
                {
                    let mut s = self.state.lock();
                    s.name = new;
                    s.written = started;
                }
                if self.backend.delete(&path).is_err() {
                    self.state.lock().leftovers.push(current);
                }
            }
            Err(e) => self.lose(format!("refreshing it failed: {e}")),
        }
    }

    fn lose(&self, why: String) {
        self.state.lock().lost.get_or_insert(why);
    }

    fn mark_removed(&self, name: &str) {
        let mut s = self.state.lock();
        s.removed = true;
        s.lost.get_or_insert_with(|| format!("its file {} was removed (by `snap unlock --remove-all`?)", FileType::Lock.path(name)));
    }
}

impl LockGuard {
    /// Checks that this lock can still be trusted, and fails with [`Error::LockLost`] when it
    /// cannot: a refresh failed, no refresh has succeeded for [`LockTiming::trust_for`] (others
    /// may soon take the lock for stale), or our lock file is no longer in storage (this looks).
    /// Once lost, a lock stays lost.
    ///
    /// Contract (format-spec §18.4): a command calls this right before each step that deletes
    /// (prune and forget: before deleting snapshot files, index files and packs, each phase) or
    /// commits (backup: before writing its snapshot file), and stops without that step if it
    /// fails. A deletion phase that may take longer than `stale_after - trust_for` (10 minutes)
    /// calls it again as it goes, e.g. per batch.
    ///
    /// # Errors
    /// [`Error::LockLost`] as above; storage errors while looking for our lock file.
    pub fn ensure_held(&self) -> Result<()> {
        let held = &self.held;
        for _ in 0..SCAN_ATTEMPTS {
            let (name, written) = {
                let s = held.state.lock();
                if let Some(why) = &s.lost {
                    return Err(Error::LockLost(why.clone()));
                }
                (s.name.clone(), s.written)
            };
            let idle = written.elapsed();
            if idle > held.timing.trust_for {
                held.lose(format!(
                    "it was last refreshed {} s ago and others may take it for stale after {} s",
                    idle.as_secs(),
                    held.timing.stale_after.as_secs()
                ));
                continue;
            }
            if held.backend.exists(&FileType::Lock.path(&name))? {
                return Ok(());
            }
            // Unless the refresher replaced the file meanwhile, someone removed it.
            if held.state.lock().name == name {
                held.mark_removed(&name);
            }
        }
        Err(Error::LockLost("its file kept changing while it was checked".into()))
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LockGuard({})", self.held.state.lock().name)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        *self.held.stop.lock() = true;
        self.held.wake.notify_all();
        if let Some(h) = self.refresher.take() {
            let _ = h.join();
        }
        let s = self.held.state.lock();
        for name in s.leftovers.iter().chain(std::iter::once(&s.name)) {
            let _ = self.held.backend.delete(&FileType::Lock.path(name));
        }
    }
}

/// Removes stale locks (or all with `all`); returns how many were removed. Judging staleness
/// needs the storage's clock, so this briefly writes a shared lock of its own and removes it.
///
/// # Errors
/// Storage errors.
pub fn unlock(backend: &Backend, keys: &MasterKeys, all: bool) -> Result<usize> {
    if all {
        let names = backend.list(FileType::Lock)?;
        for name in &names {
            backend.delete(&FileType::Lock.path(name))?;
        }
        return Ok(names.len());
    }
    let probe = write_lock(backend, keys, &LockInfo::mine(LockKind::Shared))?;
    let probe_path = FileType::Lock.path(&probe);
    let removed = backend
        .modified(&probe_path)
        .and_then(|storage| scan(backend, keys, &probe, Now { storage, local: jiff::Timestamp::now() }, STALE_AFTER))
        .and_then(|found| {
            let stale: Vec<&Found> = found.iter().filter(|f| f.stale).collect();
            for f in &stale {
                backend.delete(&FileType::Lock.path(&f.name))?;
            }
            Ok(stale.len())
        });
    let released = backend.delete(&probe_path);
    let n = removed?;
    released?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Barrier;

    use jiff::{SignedDuration, Timestamp};

    use super::*;

    fn keys() -> MasterKeys {
        MasterKeys::from_parts([1; 32], [2; 32], 3)
    }

    fn setup() -> (Backend, MasterKeys) {
        (Backend::open("memory:", true).unwrap(), keys())
    }

    /// A repository in a local directory, whose storage keeps modification times.
    fn local() -> (tempfile::TempDir, PathBuf, Backend, MasterKeys) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let b = Backend::open(&root.to_string_lossy(), true).unwrap();
        (dir, root, b, keys())
    }

    /// A lock of a process on another host, written by that host at `time`.
    fn elsewhere(time: Timestamp, exclusive: bool) -> LockInfo {
        LockInfo {
            time: time.to_string(),
            exclusive,
            hostname: "elsewhere".into(),
            username: "u".into(),
            pid: 1,
            boot_id: "b00t".into(),
            pid_namespace: "4026531836".into(),
        }
    }

    fn hours(h: i64) -> SignedDuration {
        SignedDuration::from_hours(h)
    }

    /// Sets the storage modification time of lock `name` to `ago` before now.
    fn age(root: &Path, name: &str, ago: Duration) {
        let t = std::time::SystemTime::now() - ago;
        filetime::set_file_mtime(root.join(FileType::Lock.path(name)), filetime::FileTime::from_system_time(t)).unwrap();
    }

    fn names(b: &Backend) -> Vec<String> {
        b.list(FileType::Lock).unwrap()
    }

    fn is_locked(r: Result<LockGuard>) -> bool {
        match r {
            Err(Error::Locked(_)) => true,
            Ok(_) => false,
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    /// A pid that existed and has exited.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn shared_locks_coexist_exclusive_does_not() {
        let (b, k) = setup();
        let s1 = acquire(&b, &k, LockKind::Shared).unwrap();
        let s2 = acquire(&b, &k, LockKind::Shared).unwrap();
        let err = acquire(&b, &k, LockKind::Exclusive).unwrap_err();
        assert!(matches!(&err, Error::Locked(m) if m.contains("shared by") && m.contains(&format!("pid {}", std::process::id()))), "{err}");
        assert_eq!(names(&b).len(), 2, "the refused locker removed its own file");
        drop((s1, s2));
        assert!(names(&b).is_empty());
        let x = acquire(&b, &k, LockKind::Exclusive).unwrap();
        assert!(matches!(acquire(&b, &k, LockKind::Shared), Err(Error::Locked(m)) if m.contains("exclusively")));
        drop(x);
        acquire(&b, &k, LockKind::Shared).unwrap();
    }

    #[test]
    fn stale_locks_block_nobody_and_unlock_removes_them() {
        let (b, k) = setup();
        let old = elsewhere("2020-01-01T00:00:00Z".parse().unwrap(), true);
        write_lock(&b, &k, &old).unwrap();
        // A process on this very machine (host, boot, pid namespace) that no longer exists.
        let gone = LockInfo { pid: dead_pid(), ..LockInfo::mine(LockKind::Exclusive) };
        write_lock(&b, &k, &gone).unwrap();
        assert!(gone.process_gone());
        let g = acquire(&b, &k, LockKind::Exclusive).unwrap();
        assert_eq!(unlock(&b, &k, false).unwrap(), 2);
        assert_eq!(names(&b).len(), 1, "our live lock stays");
        assert_eq!(unlock(&b, &k, true).unwrap(), 1);
        drop(g);
    }

    /// Writes `bytes` as a lock file named by their hash (or by `name`).
    fn plant(b: &Backend, bytes: &[u8], name: Option<&str>) -> String {
        let name = name.map_or_else(|| hex::encode(storage_hash(bytes)), str::to_string);
        b.write(&FileType::Lock.path(&name), bytes.to_vec()).unwrap();
        name
    }

    #[test]
    fn an_unreadable_lock_blocks_exclusive_lockers_but_not_shared_ones() {
        let (b, k) = setup();
        let json = serde_json::to_vec(&elsewhere(Timestamp::now(), false)).unwrap();
        let other_keys = MasterKeys::from_parts([9; 32], [2; 32], 3);
        let wrong_name = "ab".repeat(32);
        let cases: [(&str, Vec<u8>, Option<&str>); 4] = [
            ("damaged (name mismatch)", b"junk".to_vec(), Some(wrong_name.as_str())),
            ("truncated", k.seal(aad::LOCK, &json).unwrap()[..30].to_vec(), None),
            ("undecryptable", other_keys.seal(aad::LOCK, &json).unwrap(), None),
            ("unparsable", k.seal(aad::LOCK, b"{\"time\": 1}").unwrap(), None),
        ];
        for (what, bytes, name) in cases {
            let name = plant(&b, &bytes, name);
            assert!(list_locks(&b, &k).unwrap().iter().any(|(n, r)| *n == name && r.is_err()), "{what}: listed as Err");
            let err = acquire(&b, &k, LockKind::Exclusive).unwrap_err();
            assert!(
                matches!(&err, Error::Locked(m) if m.contains(&FileType::Lock.path(&name)) && m.contains("snap unlock --remove-all")),
                "{what}: {err}"
            );
            assert_eq!(names(&b), vec![name.clone()], "{what}: the refused locker removed its own file");
            let shared = acquire(&b, &k, LockKind::Shared).unwrap_or_else(|e| panic!("{what}: shared refused: {e}"));
            drop(shared);
            // The memory store keeps no modification times: such junk never ages out by itself.
            assert_eq!(unlock(&b, &k, false).unwrap(), 0, "{what}: a live unreadable lock is not stale");
            assert_eq!(unlock(&b, &k, true).unwrap(), 1, "{what}");
        }
    }

    #[test]
    fn old_unreadable_lock_is_stale_and_unlock_removes_it() {
        let (_d, root, b, k) = local();
        let junk = plant(&b, b"junk", Some("cd".repeat(32).as_str()));
        assert!(is_locked(acquire(&b, &k, LockKind::Exclusive)), "fresh junk blocks");
        assert_eq!(unlock(&b, &k, false).unwrap(), 0, "fresh junk is not stale");
        age(&root, &junk, Duration::from_secs(31 * 60));
        drop(acquire(&b, &k, LockKind::Exclusive).expect("junk older than the stale period blocks nobody"));
        assert_eq!(unlock(&b, &k, false).unwrap(), 1);
        assert!(names(&b).is_empty(), "unlock removed the junk and its own probe");
    }

    #[test]
    fn a_fresh_storage_time_keeps_a_lock_live_whatever_its_clock_said() {
        let (_d, root, b, k) = local();
        // The holder's clock is two hours behind, ...
        let behind = write_lock(&b, &k, &elsewhere(Timestamp::now() - hours(2), false)).unwrap();
        // ... or two hours ahead.
        let ahead = write_lock(&b, &k, &elsewhere(Timestamp::now() + hours(2), false)).unwrap();
        assert!(is_locked(acquire(&b, &k, LockKind::Exclusive)), "the storage wrote them just now: live");
        assert_eq!(unlock(&b, &k, false).unwrap(), 0);
        age(&root, &ahead, Duration::from_secs(29 * 60));
        assert!(is_locked(acquire(&b, &k, LockKind::Exclusive)), "29 minutes by the storage's clock: live");
        age(&root, &behind, Duration::from_secs(31 * 60));
        age(&root, &ahead, Duration::from_secs(31 * 60));
        drop(acquire(&b, &k, LockKind::Exclusive).expect("31 minutes by the storage's clock: stale"));
        assert_eq!(unlock(&b, &k, false).unwrap(), 2);
        assert!(names(&b).is_empty());
    }

    #[test]
    fn an_old_storage_time_makes_a_lock_stale_even_if_it_claims_to_be_fresh() {
        let (_d, root, b, k) = local();
        let name = write_lock(&b, &k, &elsewhere(Timestamp::now(), true)).unwrap();
        age(&root, &name, Duration::from_secs(2 * 60 * 60));
        drop(acquire(&b, &k, LockKind::Shared).expect("an exclusive lock not rewritten for 2 h blocks nobody"));
        assert_eq!(unlock(&b, &k, false).unwrap(), 1);
    }

    #[test]
    fn without_storage_times_the_lock_time_decides_with_a_skew_tolerance() {
        let (b, k) = setup();
        assert_eq!(b.modified("locks/x").ok().flatten(), None);
        let name = write_lock(&b, &k, &elsewhere(Timestamp::now(), false)).unwrap();
        assert_eq!(b.modified(&FileType::Lock.path(&name)).unwrap(), None, "this test is about storage without modification times");
        b.delete(&FileType::Lock.path(&name)).unwrap();

        for (what, offset) in [("dated in the future", hours(3)), ("1 h behind our clock", -hours(1)), ("2 h 25 min behind", -SignedDuration::from_mins(145))] {
            let name = write_lock(&b, &k, &elsewhere(Timestamp::now() + offset, false)).unwrap();
            assert!(is_locked(acquire(&b, &k, LockKind::Exclusive)), "{what}: live");
            assert_eq!(unlock(&b, &k, false).unwrap(), 0, "{what}");
            b.delete(&FileType::Lock.path(&name)).unwrap();
        }
        // Older than STALE_AFTER + CLOCK_SKEW_TOLERANCE (2 h 30 min).
        write_lock(&b, &k, &elsewhere(Timestamp::now() - SignedDuration::from_mins(155), true)).unwrap();
        drop(acquire(&b, &k, LockKind::Exclusive).expect("2 h 35 min old: stale"));
        assert_eq!(unlock(&b, &k, false).unwrap(), 1);
    }

    #[test]
    fn a_dead_pid_counts_only_on_the_same_host_boot_and_pid_namespace() {
        let (b, k) = setup();
        let m = this_machine();
        assert!(!m.hostname.is_empty() && !m.boot_id.is_empty() && !m.pid_namespace.is_empty(), "{m:?}");
        let gone = LockInfo { pid: dead_pid(), ..LockInfo::mine(LockKind::Exclusive) };
        let other_boot = LockInfo { boot_id: "another-boot".into(), ..gone.clone() };
        let other_ns = LockInfo { pid_namespace: "1".into(), ..gone.clone() };
        for (what, info) in [("another boot", &other_boot), ("another pid namespace", &other_ns)] {
            let name = write_lock(&b, &k, info).unwrap();
            assert!(is_locked(acquire(&b, &k, LockKind::Shared)), "{what}: its pid says nothing here");
            assert_eq!(unlock(&b, &k, false).unwrap(), 0, "{what}");
            b.delete(&FileType::Lock.path(&name)).unwrap();
        }
        // A lock file written before boot_id and pid_namespace existed still parses, and its pid
        // says nothing either.
        let old_format = serde_json::json!({ "time": gone.time, "exclusive": true, "hostname": gone.hostname, "username": "u", "pid": gone.pid });
        let name = plant(&b, &k.seal(aad::LOCK, &serde_json::to_vec(&old_format).unwrap()).unwrap(), None);
        let parsed = read_lock(&b, &k, &name).unwrap();
        assert_eq!((parsed.boot_id.as_str(), parsed.pid_namespace.as_str(), parsed.pid), ("", "", gone.pid));
        assert!(is_locked(acquire(&b, &k, LockKind::Shared)), "old format: live");
        b.delete(&FileType::Lock.path(&name)).unwrap();
        // All three match: the process is known to be gone.
        write_lock(&b, &k, &gone).unwrap();
        drop(acquire(&b, &k, LockKind::Exclusive).expect("a dead process of this machine holds nothing"));
        assert_eq!(unlock(&b, &k, false).unwrap(), 1);
    }

    /// A refresher that never runs by itself: tests call `refresh` directly.
    const MANUAL: LockTiming = LockTiming { refresh_every: Duration::from_secs(24 * 60 * 60), stale_after: STALE_AFTER, trust_for: TRUST_FOR };

    #[test]
    fn ensure_held_fails_once_our_lock_file_is_removed() {
        let (b, k) = setup();
        let g = acquire_with(&b, &k, LockKind::Exclusive, MANUAL).unwrap();
        g.ensure_held().unwrap();
        assert_eq!(unlock(&b, &k, true).unwrap(), 1, "someone runs `snap unlock --remove-all`");
        let err = g.ensure_held().unwrap_err();
        assert!(matches!(&err, Error::LockLost(m) if m.contains("removed")), "{err}");
        g.held.refresh();
        assert!(names(&b).is_empty(), "a refresh must not bring back a removed lock");
        assert!(matches!(g.ensure_held(), Err(Error::LockLost(_))), "a lost lock stays lost");
    }

    #[test]
    fn the_refresher_notices_a_removed_lock_file() {
        let (b, k) = setup();
        let g = acquire_with(&b, &k, LockKind::Shared, MANUAL).unwrap();
        unlock(&b, &k, true).unwrap();
        g.held.refresh();
        assert!(g.held.state.lock().removed);
        assert!(names(&b).is_empty());
        assert!(matches!(g.ensure_held(), Err(Error::LockLost(m)) if m.contains("removed")));
    }

    #[test]
    fn ensure_held_fails_after_a_failed_refresh() {
        let (_d, root, b, k) = local();
        let g = acquire_with(&b, &k, LockKind::Exclusive, MANUAL).unwrap();
        let first = names(&b);
        g.held.refresh();
        let second = names(&b);
        assert!(second.len() == 1 && second != first, "a refresh replaces the file: {first:?} -> {second:?}");
        g.ensure_held().unwrap();
        // Break the storage: writes are staged in tmp/, which is now a plain file.
        std::fs::remove_dir_all(root.join("tmp")).unwrap();
        std::fs::write(root.join("tmp"), b"in the way").unwrap();
        g.held.refresh();
        assert_eq!(names(&b), second, "our last good file is still there");
        let err = g.ensure_held().unwrap_err();
        assert!(matches!(&err, Error::LockLost(m) if m.contains("refreshing it failed")), "{err}");
        std::fs::remove_file(root.join("tmp")).unwrap();
        drop(g);
        assert!(names(&b).is_empty());
    }

    #[test]
    fn ensure_held_fails_when_no_refresh_succeeded_for_too_long() {
        let (b, k) = setup();
        let timing = LockTiming { trust_for: Duration::from_millis(20), ..MANUAL };
        let g = acquire_with(&b, &k, LockKind::Exclusive, timing).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        let err = g.ensure_held().unwrap_err();
        assert!(matches!(&err, Error::LockLost(m) if m.contains("last refreshed")), "{err}");
    }

    #[test]
    fn the_refresher_rewrites_the_lock_and_keeps_it_trusted() {
        let (b, k) = setup();
        let timing = LockTiming { refresh_every: Duration::from_millis(10), stale_after: STALE_AFTER, trust_for: TRUST_FOR };
        let g = acquire_with(&b, &k, LockKind::Exclusive, timing).unwrap();
        let first = names(&b);
        let start = Instant::now();
        while names(&b) == first {
            assert!(start.elapsed() < Duration::from_secs(30), "never refreshed");
            std::thread::sleep(Duration::from_millis(5));
        }
        g.ensure_held().unwrap();
        drop(g);
        assert!(names(&b).is_empty(), "release removes the current file");
    }

    fn race(b: &Backend, k: &MasterKeys, threads: usize) -> usize {
        let start = Barrier::new(threads);
        let attempted = Barrier::new(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let got = acquire_with(b, k, LockKind::Exclusive, MANUAL);
                        // Hold whatever we got until everyone has tried.
                        attempted.wait();
                        match got {
                            Ok(_) => 1,
                            Err(Error::Locked(_)) => 0,
                            Err(e) => panic!("{e}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        })
    }

    #[test]
    fn racing_exclusive_lockers_never_both_hold() {
        let (b, k) = setup();
        for round in 0..20 {
            let holders = race(&b, &k, 8);
            assert!(holders <= 1, "round {round}: {holders} exclusive holders at once");
            assert!(names(&b).is_empty(), "round {round}: every locker cleaned up");
        }
        let (_d, _root, b, k) = local();
        for round in 0..5 {
            let holders = race(&b, &k, 6);
            assert!(holders <= 1, "local round {round}: {holders} exclusive holders at once");
        }
    }
}

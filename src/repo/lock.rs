//! Repository locks: sealed files under `locks/` naming who holds them. Backups, restores and
//! checks share; forget, prune and repair are exclusive. A lock is refreshed while its command
//! runs; one that is old or whose process is gone blocks nobody.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::backend::{is_not_found, Backend, FileType};
use crate::crypto::{aad, MasterKeys};
use crate::error::{Error, Result};
use crate::format::id::storage_hash;

/// A lock not refreshed for this long is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// How often a held lock is rewritten with a fresh time.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// A lock file's content (sealed JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// RFC 3339; the last time the holder refreshed the lock.
    pub time: String,
    pub exclusive: bool,
    pub hostname: String,
    pub username: String,
    pub pid: u32,
}

impl LockInfo {
    fn mine(kind: LockKind) -> Self {
        Self {
            time: jiff::Timestamp::now().to_string(),
            exclusive: kind == LockKind::Exclusive,
            hostname: this_host(),
            username: uzers::get_current_username().map(|u| u.to_string_lossy().into_owned()).unwrap_or_default(),
            pid: std::process::id(),
        }
    }

    /// Stale: not refreshed for [`STALE_AFTER`], or held by a process on this host that is gone.
    #[must_use]
    pub fn is_stale(&self) -> bool {
        let old = match self.time.parse::<jiff::Timestamp>() {
            Ok(t) => jiff::Timestamp::now().duration_since(t).unsigned_abs() > STALE_AFTER,
            Err(_) => true,
        };
        old || (self.hostname == this_host() && !process_alive(self.pid))
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

fn this_host() -> String {
    hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
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
    let json = serde_json::to_vec(info).map_err(|e| Error::Invalid(e.to_string()))?;
    let sealed = keys.seal(aad::LOCK, &json).map_err(|e| Error::crypto("lock", "new", e))?;
    let name = hex::encode(storage_hash(&sealed));
    backend.write(&FileType::Lock.path(&name), sealed)?;
    Ok(name)
}

/// A held lock; released (its file deleted) on drop.
pub struct LockGuard {
    backend: Backend,
    name: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    refresher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LockGuard({})", self.name.lock())
    }
}

/// Finds a live lock that conflicts with taking `kind`, ignoring our own lock `mine`.
fn conflict(backend: &Backend, keys: &MasterKeys, kind: LockKind, mine: Option<&str>) -> Result<Option<(String, LockInfo)>> {
    for (name, info) in list_locks(backend, keys)? {
        if Some(name.as_str()) == mine {
            continue;
        }
        let Ok(info) = info else { continue };
        if info.is_stale() {
            continue;
        }
        if kind == LockKind::Exclusive || info.exclusive {
            return Ok(Some((name, info)));
        }
    }
    Ok(None)
}

fn locked_error(name: &str, info: &LockInfo) -> Error {
    Error::Locked(format!("{} (lock {}); if that process is gone, run `snap unlock`", info.describe(), name.get(..8).unwrap_or(name)))
}

/// Takes a lock of `kind`: checks for conflicts, writes our lock, then checks again so two
/// processes racing for an exclusive lock both back off rather than both proceed.
///
/// # Errors
/// [`Error::Locked`] naming the holder, or storage errors.
pub fn acquire(backend: &Backend, keys: &MasterKeys, kind: LockKind) -> Result<LockGuard> {
    if let Some((name, info)) = conflict(backend, keys, kind, None)? {
        return Err(locked_error(&name, &info));
    }
    let name = write_lock(backend, keys, &LockInfo::mine(kind))?;
    if let Some((other, info)) = conflict(backend, keys, kind, Some(&name))? {
        let _ = backend.delete(&FileType::Lock.path(&name));
        return Err(locked_error(&other, &info));
    }
    let name = Arc::new(Mutex::new(name));
    let stop = Arc::new(AtomicBool::new(false));
    let refresher = {
        let (backend, keys, name, stop) = (backend.clone(), keys.clone(), Arc::clone(&name), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut waited = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(Duration::from_millis(500));
                waited += Duration::from_millis(500);
                if waited < REFRESH_EVERY || stop.load(Ordering::Relaxed) {
                    continue;
                }
                waited = Duration::ZERO;
                if let Ok(new) = write_lock(&backend, &keys, &LockInfo::mine(kind)) {
                    let old = std::mem::replace(&mut *name.lock(), new);
                    let _ = backend.delete(&FileType::Lock.path(&old));
                }
            }
        })
    };
    Ok(LockGuard { backend: backend.clone(), name, stop, refresher: Some(refresher) })
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.refresher.take() {
            h.thread().unpark();
            let _ = h.join();
        }
        let _ = self.backend.delete(&FileType::Lock.path(&self.name.lock()));
    }
}

/// Removes stale locks (or all with `all`); returns how many were removed.
///
/// # Errors
/// Storage errors.
pub fn unlock(backend: &Backend, keys: &MasterKeys, all: bool) -> Result<usize> {
    let mut n = 0;
    for (name, info) in list_locks(backend, keys)? {
        let stale = info.as_ref().map_or(true, LockInfo::is_stale);
        if all || stale {
            backend.delete(&FileType::Lock.path(&name))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Backend, MasterKeys) {
        (Backend::open("memory:", true).unwrap(), MasterKeys::from_parts([1; 32], [2; 32], 3))
    }

    #[test]
    fn shared_locks_coexist_exclusive_does_not() {
        let (b, k) = setup();
        let s1 = acquire(&b, &k, LockKind::Shared).unwrap();
        let s2 = acquire(&b, &k, LockKind::Shared).unwrap();
        let err = acquire(&b, &k, LockKind::Exclusive).unwrap_err();
        assert!(matches!(&err, Error::Locked(m) if m.contains("shared by") && m.contains(&format!("pid {}", std::process::id()))), "{err}");
        drop((s1, s2));
        assert!(b.list(FileType::Lock).unwrap().is_empty());
        let x = acquire(&b, &k, LockKind::Exclusive).unwrap();
        assert!(matches!(acquire(&b, &k, LockKind::Shared), Err(Error::Locked(m)) if m.contains("exclusively")));
        drop(x);
        acquire(&b, &k, LockKind::Shared).unwrap();
    }

    #[test]
    fn stale_locks_block_nobody_and_unlock_removes_them() {
        let (b, k) = setup();
        let old = LockInfo { time: "2020-01-01T00:00:00Z".into(), exclusive: true, hostname: "elsewhere".into(), username: "u".into(), pid: 1 };
        write_lock(&b, &k, &old).unwrap();
        // A process on this host that no longer exists.
        let gone = LockInfo { pid: u32::MAX - 7, ..LockInfo::mine(LockKind::Exclusive) };
        write_lock(&b, &k, &gone).unwrap();
        assert!(old.is_stale() && gone.is_stale());
        let g = acquire(&b, &k, LockKind::Exclusive).unwrap();
        assert_eq!(unlock(&b, &k, false).unwrap(), 2);
        assert_eq!(b.list(FileType::Lock).unwrap().len(), 1);
        assert_eq!(unlock(&b, &k, true).unwrap(), 1);
        drop(g);
    }
}

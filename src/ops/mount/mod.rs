//! `mount`: the repository as a read-only FUSE filesystem, laid out as restic does
//! (`ids/<short id>/`, `snapshots/<time>`, `hosts/<host>/<time>`, `tags/<tag>/<time>`, each with a
//! `latest` link), so any tool can read a snapshot's files without restoring them. Directories
//! are read when first looked into and files when read, a range at a time: only the chunks the
//! range covers are fetched, each verified against its id, and a damaged one fails that read
//! with `EIO` (and an [`Event::Failed`]) instead of giving wrong bytes.
//!
//! [`serve`] mounts with the `fuser` crate, which needs no libfuse: as root it calls mount(2)
//! itself, otherwise it goes through `fusermount3`/`fusermount`. It returns when the stop flag is
//! set (it then unmounts) or when someone else unmounted.

mod content;
mod fs;
mod inodes;
mod layout;
mod lru;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::error::{Error, Result};
use crate::ops::select::{filtered, SnapshotFilter};
use crate::repo::lock::LockGuard;
use crate::repo::Repository;

/// Threads answering the kernel: reads of different files (or ahead in one) run in parallel.
const THREADS: usize = 4;
/// How often the stop flag and the session are looked at.
const POLL: Duration = Duration::from_millis(100);
/// How often the repository lock is checked (its guard refreshes it by itself).
const LOCK_CHECK_EVERY: Duration = Duration::from_secs(60);

/// What to mount.
#[derive(Debug, Clone, Default)]
pub struct MountOptions {
    /// Let users other than the one mounting in (FUSE's `allow_other`; a user other than root
    /// needs `user_allow_other` in /etc/fuse.conf). The kernel checks the snapshot's own modes
    /// and owners either way (`default_permissions`).
    pub allow_other: bool,
    /// Which snapshots appear.
    pub filter: SnapshotFilter,
}

/// What happens while mounted, for the caller to report.
#[derive(Debug)]
pub enum Event {
    /// The filesystem is mounted and answering, showing this many snapshots.
    Mounted { snapshots: usize },
    /// Something below `path` (relative to the mount point, `/ids/1a2b3c4d/etc/passwd`; `/` for
    /// the snapshot list) could not be read; the reader got `EIO`.
    Failed { path: String, error: Error },
    /// The repository lock can no longer be trusted (reported once): a prune elsewhere could
    /// now remove data under the readers.
    LockLost(Error),
}

/// Receives [`Event`]s, from any thread.
pub type Sink = Arc<dyn Fn(Event) + Send + Sync>;

/// How a mount ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The stop flag was set, and the filesystem was unmounted.
    Stopped,
    /// The stop flag was set while something still used the mount: it was detached (lazily
    /// unmounted), and what still has files open there loses them when this process exits.
    Detached,
    /// Someone else unmounted it (`umount DIR`, `fusermount -u DIR`).
    Unmounted,
}

/// Checks that `dir` can be mounted on: an existing, empty directory.
///
/// # Errors
/// [`Error::Usage`] naming what is wrong, or the error of reading it.
pub fn check_mountpoint(dir: &Path) -> Result<()> {
    let md = match std::fs::metadata(dir) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::Usage(format!("mount point {} does not exist", dir.display()))),
        Err(e) => return Err(Error::io(dir, e)),
    };
    if !md.is_dir() {
        return Err(Error::Usage(format!("mount point {} is not a directory", dir.display())));
    }
    if std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.next().is_some() {
        return Err(Error::Usage(format!("mount point {} is not empty", dir.display())));
    }
    Ok(())
}

/// Mounts the snapshots of `repo` that pass the filter at `dir`, and serves them until `stop` is
/// set (then unmounts) or someone unmounts `dir`. The caller holds `lock` (shared) throughout,
/// so no prune removes data while mounted; it is checked now and then, and an [`Event::LockLost`]
/// reported if it cannot be trusted any more.
///
/// # Errors
/// The mount point is unusable, /dev/fuse is missing, mounting fails, the snapshot list cannot
/// be read, or unmounting fails for another reason than the mount being busy.
pub fn serve(repo: Repository, dir: &Path, opts: &MountOptions, stop: &AtomicBool, lock: &LockGuard, events: Sink) -> Result<Ended> {
    check_mountpoint(dir)?;
    let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    if let Err(e) = std::fs::metadata("/dev/fuse") {
        return Err(Error::io("/dev/fuse", std::io::Error::new(e.kind(), format!("{e}: load the fuse module (modprobe fuse), or give the container the device"))));
    }
    let snaps = filtered(&repo, &opts.filter)?;
    let count = snaps.len();
    let fs = fs::SnapFs::new(repo, opts.filter.clone(), &snaps, Arc::clone(&events));
    drop(snaps);

    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::RO,
        fuser::MountOption::NoAtime,
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::FSName("snap".into()),
        fuser::MountOption::Subtype("snap".into()),
    ];
    config.acl = if opts.allow_other { fuser::SessionACL::All } else { fuser::SessionACL::Owner };
    config.n_threads = Some(THREADS);
    let mut session = fuser::Session::new(fs, &dir, &config).map_err(|e| mount_error(&dir, e))?;
    let mut unmounter = session.unmount_callable();
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
    let worker = std::thread::Builder::new()
        .name("snap-mount".into())
        .spawn(move || {
            let r = session.run();
            let _ = done_tx.send(());
            r
        })
        .map_err(|e| Error::io("mount thread", e))?;
    events(Event::Mounted { snapshots: count });

    let mut lock_checked = Instant::now();
    let mut lock_reported = false;
    loop {
        match done_rx.recv_timeout(POLL) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return finish(worker, &dir, Ended::Unmounted),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if stop.load(Ordering::Relaxed) {
            return match unmounter.unmount() {
                Ok(()) => finish(worker, &dir, Ended::Stopped),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    detach(&dir).map_err(|e| Error::io(&dir, std::io::Error::new(e.kind(), format!("busy, and detaching it failed: {e}"))))?;
                    Ok(Ended::Detached)
                }
                Err(e) => Err(Error::io(&dir, std::io::Error::new(e.kind(), format!("unmounting failed: {e}")))),
            };
        }
        if !lock_reported && lock_checked.elapsed() >= LOCK_CHECK_EVERY {
            lock_checked = Instant::now();
            if let Err(e) = lock.ensure_held() {
                lock_reported = true;
                events(Event::LockLost(e));
            }
        }
    }
}

/// Joins the session's thread once it has ended.
fn finish(worker: std::thread::JoinHandle<std::io::Result<()>>, dir: &Path, ended: Ended) -> Result<Ended> {
    match worker.join() {
        Ok(Ok(())) => Ok(ended),
        Ok(Err(e)) => Err(Error::io(dir, std::io::Error::new(e.kind(), format!("the filesystem stopped: {e}")))),
        Err(_) => Err(Error::Internal("the mount's thread panicked".into())),
    }
}

/// The error of a failed mount, with what to do when the cause is a missing helper.
fn mount_error(dir: &Path, e: std::io::Error) -> Error {
    let hint = if e.kind() == std::io::ErrorKind::NotFound && uzers::get_effective_uid() != 0 {
        " (a user other than root mounts through fusermount3 or fusermount: install fuse3, or mount as root)"
    } else {
        ""
    };
    Error::io(dir, std::io::Error::new(e.kind(), format!("cannot mount: {e}{hint}")))
}

/// Detaches the mount at `dir` (`umount -l`): gone from the tree now, released by the kernel
/// when the last file open in it is closed.
fn detach(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: umount2 only reads the NUL-terminated path, which lives until the call returns.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

//! Directory-relative, no-follow filesystem access for backup and restore: every entry is reached
//! through a descriptor of its directory and never through a symbolic link, and anything opened
//! is checked (device and inode) against what was listed, so a local user who swaps a file or a
//! directory for a link mid-run cannot redirect snap's reads or writes.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags, Stat, CWD};

/// What identifies a filesystem object while it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ident {
    pub dev: u64,
    pub ino: u64,
}

/// Metadata of one entry, as `fstat`/`fstatat` report it without following a final link.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub ident: Ident,
    pub nlink: u64,
    pub rdev: u64,
}

impl From<&Stat> for Meta {
    fn from(st: &Stat) -> Self {
        Self {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime: (i64::from(st.st_mtime), u32::try_from(st.st_mtime_nsec).unwrap_or(0)),
            ctime: (i64::from(st.st_ctime), u32::try_from(st.st_ctime_nsec).unwrap_or(0)),
            ident: Ident { dev: u64::from(st.st_dev), ino: u64::from(st.st_ino) },
            nlink: u64::from(st.st_nlink),
            rdev: u64::from(st.st_rdev),
        }
    }
}

impl Meta {
    #[must_use]
    pub fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
    #[must_use]
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }
    #[must_use]
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }
}

/// `lstat` of `name` inside `dir`.
///
/// # Errors
/// The system call's error.
pub fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Meta> {
    Ok(Meta::from(&rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?))
}

/// `lstat` of a path (links in its parent part are followed, a final one is not).
///
/// # Errors
/// The system call's error.
pub fn stat_path(path: &Path) -> io::Result<Meta> {
    Ok(Meta::from(&rustix::fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW)?))
}

/// `fstat`.
///
/// # Errors
/// The system call's error.
pub fn stat_fd(fd: impl AsFd) -> io::Result<Meta> {
    Ok(Meta::from(&rustix::fs::fstat(fd)?))
}

/// Opens with `O_NOATIME` where the caller may (it owns the file or is privileged), so a backup
/// leaves access times alone; without it otherwise.
fn open_noatime(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlags) -> io::Result<OwnedFd> {
    match rustix::fs::openat(dir, name, flags | OFlags::NOATIME, Mode::empty()) {
        Err(rustix::io::Errno::PERM) => Ok(rustix::fs::openat(dir, name, flags, Mode::empty())?),
        r => Ok(r?),
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// Opens the directory `name` inside `dir` for reading, refusing a link.
///
/// # Errors
/// The system call's error (`ELOOP` or `ENOTDIR` for a link or a non-directory).
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    open_noatime(dir, name, DIR_FLAGS)
}

/// Opens a directory by path; a final link is refused, links in the parent part are followed.
///
/// # Errors
/// The system call's error.
pub fn open_dir_path(path: &Path) -> io::Result<OwnedFd> {
    open_noatime(CWD, path.as_os_str(), DIR_FLAGS)
}

/// Opens the regular file `name` inside `dir` for reading: never through a link, never blocking
/// (a FIFO swapped in opens at once and is then refused by the caller's type check).
///
/// # Errors
/// The system call's error.
pub fn open_file_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    Ok(File::from(open_noatime(dir, name, flags)?))
}

/// The names in a directory (without `.` and `..`), in byte order.
///
/// # Errors
/// Reading the directory failed.
pub fn list(dir: BorrowedFd<'_>) -> io::Result<Vec<OsString>> {
    let mut d = rustix::fs::Dir::read_from(dir)?;
    let mut names = Vec::new();
    while let Some(ent) = d.read() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsString::from_vec(n.to_vec()));
        }
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// The target of the link `name` inside `dir`.
///
/// # Errors
/// The system call's error.
pub fn read_link_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(dir, name, Vec::new())?.into_bytes())
}

/// A path naming `name` inside the directory open as `dir`, resolved through `/proc/self/fd`
/// so that path-only calls (extended attributes) reach the same entry; the plain `fallback`
/// where `/proc` is not mounted.
fn proc_path(dir: BorrowedFd<'_>, name: &OsStr, fallback: &Path) -> PathBuf {
    use std::os::fd::AsRawFd;
    static PROC_FD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *PROC_FD.get_or_init(|| Path::new("/proc/self/fd").is_dir()) {
        PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
    } else {
        fallback.to_path_buf()
    }
}

/// Extended attributes of `name` inside `dir`, not following a final link; unreadable ones are
/// skipped. `path` is used only where `/proc` is not mounted.
#[must_use]
pub fn xattrs_at(dir: BorrowedFd<'_>, name: &OsStr, path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let p = proc_path(dir, name, path);
    let Ok(names) = xattr::list(&p) else { return Vec::new() };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = names
        .filter_map(|n| {
            let v = xattr::get(&p, &n).ok().flatten()?;
            Some((n.as_bytes().to_vec(), v))
        })
        .collect();
    out.sort();
    out
}

/// A directory being walked: held open, or (beyond the descriptor budget of a very deep tree)
/// known by path and identity and reopened, then checked, on each use.
#[derive(Debug, Clone)]
pub enum DirRef {
    Open(Arc<OwnedFd>),
    Path { path: Arc<PathBuf>, ident: Ident },
}

impl DirRef {
    /// Runs `f` with a descriptor of this very directory.
    ///
    /// # Errors
    /// `f`'s error, or the directory was replaced since it was listed.
    pub fn with<R>(&self, f: impl FnOnce(BorrowedFd<'_>) -> io::Result<R>) -> io::Result<R> {
        match self {
            Self::Open(fd) => f(fd.as_fd()),
            Self::Path { path, ident } => {
                let fd = open_dir_path(path)?;
                if stat_fd(&fd)?.ident != *ident {
                    return Err(replaced());
                }
                f(fd.as_fd())
            }
        }
    }
}

/// The error for an entry that is no longer the one that was listed.
#[must_use]
pub fn replaced() -> io::Error {
    io::Error::other("replaced while snap was working on it; skipped")
}

/// Raises the soft limit on open descriptors to the hard limit and returns it, so a deep tree can
/// keep one descriptor per level open.
#[must_use]
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
        // SAFETY: `want` is a valid rlimit; raising the soft limit up to the hard one is allowed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const want) } == 0 {
            return want.rlim_cur;
        }
    }
    lim.rlim_cur
}

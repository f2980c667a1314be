//! The restore target, reached only through checked directory descriptors: every directory snap
//! creates or enters is recorded by identity, every entry is created, changed and renamed
//! relative to such a directory, and no call follows a link, so a local user who can write inside
//! the target cannot race a (root) restore into writing anywhere else.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, CWD};

use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind};
use crate::ops::fsat::{open_dir_path, replaced, stat_fd, Ident};

/// Directories new to the target stay private until their metadata is applied at the end.
const NEW_DIR_MODE: u32 = 0o700;

pub(super) struct Target {
    root: PathBuf,
    /// Every directory of the restore (relative to `root`) with the identity it had when snap
    /// created or entered it.
    dirs: HashMap<PathBuf, Ident>,
}

impl Target {
    /// Opens (creating it if needed) the target directory; it must not be a link.
    pub(super) fn new(root: &Path) -> Result<Self> {
        match std::fs::symlink_metadata(root) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Err(Error::Usage(format!("target {} is not a directory", root.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?,
            Err(e) => return Err(Error::io(root, e)),
        }
        let ident = open_dir_path(root).and_then(|fd| stat_fd(&fd)).map_err(|e| Error::io(root, e))?.ident;
        Ok(Self { root: root.to_path_buf(), dirs: HashMap::from([(PathBuf::new(), ident)]) })
    }

    /// Creates the directory `rel` (and any missing parent), or enters it if it exists. An entry
    /// of that name that is not a directory (a link included) is refused.
    pub(super) fn make_dir(&mut self, rel: &Path) -> Result<()> {
        if self.dirs.contains_key(rel) {
            return Ok(());
        }
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else { return Ok(()) };
        self.make_dir(parent)?;
        let full = self.root.join(rel);
        let at = self.open_dir(parent).map_err(|e| Error::io(self.root.join(parent), e))?;
        match rustix::fs::mkdirat(&at, name, Mode::from_raw_mode(NEW_DIR_MODE)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(Error::io(&full, e.into())),
        }
        let fd = match rustix::fs::openat(&at, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                return Err(Error::Refused(format!("refusing to restore into {}: it exists and is not a directory", full.display())));
            }
            Err(rustix::io::Errno::NOENT) => {
                return Err(Error::Refused(format!("refusing to restore into {}: it was moved away while snap created it", full.display())));
            }
            Err(e) => return Err(Error::io(&full, e.into())),
        };
        let ident = stat_fd(&fd).map_err(|e| Error::io(&full, e))?.ident;
        self.dirs.insert(rel.to_path_buf(), ident);
        Ok(())
    }

    /// A descriptor of the directory `rel`, checked to be the one recorded.
    pub(super) fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let want = self.dirs.get(rel).ok_or_else(|| io::Error::other("directory not prepared"))?;
        let fd = open_dir_path(&self.root.join(rel))?;
        if stat_fd(&fd)?.ident == *want { Ok(fd) } else { Err(replaced()) }
    }

    /// Creates the private temporary file `tmp` in the directory `at` at its final size (holes
    /// stay sparse).
    pub(super) fn create_temp(at: BorrowedFd<'_>, tmp: &OsStr, size: u64) -> io::Result<Ident> {
        let fd = rustix::fs::openat(at, tmp, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::from_raw_mode(0o600))?;
        let file = File::from(fd);
        let sized = file.set_len(size).and_then(|()| stat_fd(&file));
        if sized.is_err() {
            // Created but unusable (a file size limit, a full disk): leave nothing behind.
            let _ = rustix::fs::unlinkat(at, tmp, AtFlags::empty());
        }
        Ok(sized?.ident)
    }

    /// Writes `data` at `off` into the temporary file `tmp` of `dir`, created as `ident`.
    pub(super) fn write_temp(&self, dir: &Path, tmp: &OsStr, ident: Ident, data: &[u8], off: u64) -> io::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(self.root.join(dir).join(tmp))?;
        if stat_fd(&file)?.ident != ident {
            return Err(replaced());
        }
        file.write_all_at(data, off)
    }

    /// Applies `node`'s metadata to the finished temporary file and renames it into place.
    pub(super) fn finish_file(&self, dir: &Path, tmp: &OsStr, ident: Ident, name: &OsStr, node: &Node) -> io::Result<()> {
        let at = self.open_dir(dir)?;
        let fd = rustix::fs::openat(&at, tmp, OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        if stat_fd(&fd)?.ident != ident {
            return Err(replaced());
        }
        apply_meta(fd.as_fd(), node, false)?;
        Ok(rustix::fs::renameat(&at, tmp, &at, name)?)
    }

    /// Removes a temporary file left by a failed entry.
    ///
    /// # Errors
    /// Its directory was replaced (it is then left where it is, never looked for elsewhere).
    pub(super) fn remove_temp(&self, dir: &Path, tmp: &OsStr) -> io::Result<()> {
        let at = self.open_dir(dir)?;
        match rustix::fs::unlinkat(&at, tmp, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes `link` (in `link_dir`) a hard link of the restored `first` (in `first_dir`).
    pub(super) fn hard_link(&self, first_dir: &Path, first: &OsStr, link_dir: &Path, link: &OsStr) -> io::Result<()> {
        let from = self.open_dir(first_dir)?;
        let to = self.open_dir(link_dir)?;
        remove_non_dir(to.as_fd(), link)?;
        Ok(rustix::fs::linkat(&from, first, &to, link, AtFlags::empty())?)
    }

    /// Creates a symbolic link, FIFO or device node; a socket is skipped.
    pub(super) fn special(&self, dir: &Path, name: &OsStr, node: &Node) -> io::Result<()> {
        let at = self.open_dir(dir)?;
        remove_non_dir(at.as_fd(), name)?;
        let kind = match node.kind() {
            NodeKind::Symlink => {
                rustix::fs::symlinkat(OsStr::from_bytes(&node.link_target), &at, name)?;
                None
            }
            NodeKind::Fifo => Some(FileType::Fifo),
            NodeKind::CharDevice => Some(FileType::CharacterDevice),
            NodeKind::BlockDevice => Some(FileType::BlockDevice),
            _ => return Ok(()),
        };
        if let Some(kind) = kind {
            rustix::fs::mknodat(&at, name, kind, Mode::from_raw_mode(node.mode & 0o7777), node.rdev)?;
        }
        if is_root() {
            rustix::fs::chownat(&at, name, Some(Uid::from_raw_unchecked(node.uid)), Some(Gid::from_raw_unchecked(node.gid)), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        if kind.is_some() {
            // The exact mode (mknod's is cut by the umask), set on the very node created: through
            // an O_PATH descriptor, never by a name that could have become a link.
            let fd = rustix::fs::openat(&at, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
            if stat_fd(&fd)?.file_type() == libc::S_IFLNK {
                return Err(replaced());
            }
            let via = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            rustix::fs::chmodat(CWD, &via, Mode::from_raw_mode(node.mode & 0o7777), AtFlags::empty())?;
        }
        let t = times(node);
        Ok(rustix::fs::utimensat(&at, name, &t, AtFlags::SYMLINK_NOFOLLOW)?)
    }

    /// Applies a directory's own metadata (done last, deepest first).
    pub(super) fn dir_meta(&self, rel: &Path, node: &Node) -> io::Result<()> {
        let fd = self.open_dir(rel)?;
        apply_meta(fd.as_fd(), node, true)
    }
}

/// `(directory, name)` of a path relative to the target.
pub(super) fn split(rel: &Path) -> (PathBuf, OsString) {
    (rel.parent().map(Path::to_path_buf).unwrap_or_default(), rel.file_name().map(OsStr::to_os_string).unwrap_or_default())
}

fn remove_non_dir(at: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR => Ok(rustix::fs::unlinkat(at, name, AtFlags::empty())?),
        _ => Ok(()),
    }
}

fn is_root() -> bool {
    uzers::get_effective_uid() == 0
}

fn times(node: &Node) -> Timestamps {
    let t = Timespec { tv_sec: node.mtime.secs, tv_nsec: node.mtime.nanos.into() };
    Timestamps { last_access: t, last_modification: t }
}

/// Ownership (as root), xattrs, mode and times, on an open descriptor. A directory recorded with
/// mode 0 keeps the mode it has.
fn apply_meta(fd: BorrowedFd<'_>, node: &Node, is_dir: bool) -> io::Result<()> {
    if is_root() {
        rustix::fs::fchown(fd, Some(Uid::from_raw_unchecked(node.uid)), Some(Gid::from_raw_unchecked(node.gid)))?;
    }
    if !node.xattrs.is_empty() {
        let file = File::from(fd.try_clone_to_owned()?);
        for (k, v) in &node.xattrs {
            let _ = xattr::FileExt::set_xattr(&file, OsStr::from_bytes(k), v);
        }
    }
    if !(is_dir && node.mode == 0) {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(node.mode & 0o7777))?;
    }
    Ok(rustix::fs::futimens(fd, &times(node))?)
}

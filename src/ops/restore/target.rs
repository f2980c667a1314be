//! The restore target, reached only through checked directory descriptors: every directory snap
//! creates or enters is recorded by identity, every entry is looked at, created, changed, renamed
//! and removed relative to such a directory, and no call follows a link, so neither a link that
//! already stands in the target nor a local user who can write inside it while a (root) restore
//! runs can make snap read, write or delete anywhere else.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, CWD};

use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind};
use crate::ops::fsat::{self, open_dir_path, replaced, stat_at, stat_fd, Ident, Meta};

/// Directories new to the target stay private until their metadata is applied at the end.
const NEW_DIR_MODE: u32 = 0o700;

/// Removing a tree that is not in the snapshot descends at most this deep (one descriptor per
/// level is held open); anything deeper is reported, not removed.
const MAX_REMOVE_DEPTH: usize = 512;

/// Which metadata a restore applies.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// Set owners (root, without `--no-owner`).
    pub chown: bool,
    /// Count entries whose owner could not be set (not root, without `--no-owner`).
    pub note_owners: bool,
    /// Setuid/setgid/sticky bits, FIFOs and device nodes, `security.*` and `trusted.*` attributes.
    pub special: bool,
    pub euid: u32,
    pub egid: u32,
}

impl Policy {
    pub(super) fn new(no_owner: bool, no_special: bool) -> Self {
        let (euid, egid) = (uzers::get_effective_uid(), uzers::get_effective_gid());
        Self { chown: euid == 0 && !no_owner, note_owners: euid != 0 && !no_owner, special: !no_special, euid, egid }
    }

    /// The permission bits to give `node`.
    pub(super) fn mode(&self, node: &Node) -> u32 {
        if self.special { node.mode & 0o7777 } else { node.mode & 0o777 }
    }

    /// The extended attributes of `node` this policy restores.
    pub(super) fn xattrs<'n>(&self, node: &'n Node) -> impl Iterator<Item = &'n (Vec<u8>, Vec<u8>)> {
        let special = self.special;
        node.xattrs.iter().filter(move |(k, _)| special || !(k.starts_with(b"security.") || k.starts_with(b"trusted.")))
    }

    /// Whether the entry `m` already carries `node`'s metadata as this policy would set it
    /// (`xattrs` are the entry's attributes, read only when the node has some to compare).
    pub(super) fn same_meta(&self, node: &Node, m: &Meta, xattrs: Option<&[(Vec<u8>, Vec<u8>)]>) -> bool {
        let is_dir = m.is_dir();
        let is_link = m.file_type() == libc::S_IFLNK;
        let mode_ok = is_link || (is_dir && node.mode == 0) || m.mode & 0o7777 == self.mode(node);
        let owner_ok = !self.chown || (m.uid == node.uid && m.gid == node.gid);
        let time_ok = m.mtime == (node.mtime.secs, node.mtime.nanos);
        let xattrs_ok = is_link || self.xattrs(node).all(|kv| xattrs.is_some_and(|have| have.contains(kv)));
        mode_ok && owner_ok && time_ok && xattrs_ok
    }
}

/// What could not be restored for lack of privilege or support; reported as one warning.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub owners: AtomicU64,
    pub special_bits: AtomicU64,
    pub devices: AtomicU64,
    pub xattrs: AtomicU64,
    pub xattr_names: Mutex<BTreeSet<String>>,
}

pub(super) struct Target {
    root: PathBuf,
    /// Every directory of the restore (relative to `root`) with the identity it had when snap
    /// created or entered it; `None` for one a dry run would create.
    dirs: HashMap<PathBuf, Option<Ident>>,
    dry_run: bool,
    pub(super) policy: Policy,
    pub(super) tally: Tally,
}

impl Target {
    /// Opens (creating it if needed, unless `dry_run`) the target directory; it must not be a link.
    pub(super) fn new(root: &Path, dry_run: bool, policy: Policy) -> Result<Self> {
        let mut t = Self { root: root.to_path_buf(), dirs: HashMap::new(), dry_run, policy, tally: Tally::default() };
        match std::fs::symlink_metadata(root) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Err(Error::Usage(format!("target {} is not a directory", root.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound && dry_run => {
                t.dirs.insert(PathBuf::new(), None);
                return Ok(t);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?,
            Err(e) => return Err(Error::io(root, e)),
        }
        let ident = open_dir_path(root).and_then(|fd| stat_fd(&fd)).map_err(|e| Error::io(root, e))?.ident;
        t.dirs.insert(PathBuf::new(), Some(ident));
        Ok(t)
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `rel` is a directory of the restore that exists (not one a dry run would create).
    pub(super) fn exists(&self, rel: &Path) -> bool {
        matches!(self.dirs.get(rel), Some(Some(_)))
    }

    /// The entry `name` of the prepared directory `dir`, as `lstat` sees it; `None` when there is
    /// none (always so inside a directory a dry run would create).
    pub(super) fn lookup(&self, dir: &Path, name: &OsStr) -> io::Result<Option<Meta>> {
        if matches!(self.dirs.get(dir), Some(None)) {
            return Ok(None);
        }
        let at = self.open_dir(dir)?;
        Self::lookup_at(at.as_fd(), name)
    }

    /// [`Target::lookup`] in an open directory.
    pub(super) fn lookup_at(at: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<Meta>> {
        match stat_at(at, name) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the directory `rel` (and any missing parent), or enters it if it exists. An entry
    /// of that name that is not a directory (a link included) is refused: the caller removes it
    /// first when it is to be replaced. A dry run creates nothing and records what it would.
    pub(super) fn make_dir(&mut self, rel: &Path) -> Result<()> {
        if self.dirs.contains_key(rel) {
            return Ok(());
        }
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else { return Ok(()) };
        self.make_dir(parent)?;
        let full = self.root.join(rel);
        if self.dry_run {
            let existing = self.lookup(parent, name).map_err(|e| Error::io(&full, e))?;
            let ident = match existing {
                Some(m) if m.is_dir() => {
                    let at = self.open_dir(parent).map_err(|e| Error::io(&full, e))?;
                    Some(fsat::open_dir_at(at.as_fd(), name).and_then(|fd| stat_fd(&fd)).map_err(|e| Error::io(&full, e))?.ident)
                }
                _ => None,
            };
            self.dirs.insert(rel.to_path_buf(), ident);
            return Ok(());
        }
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
        self.dirs.insert(rel.to_path_buf(), Some(ident));
        Ok(())
    }

    /// Removes the entry (not a directory) `name` of `dir` (a link is removed, never followed).
    pub(super) fn remove_entry(&self, dir: &Path, name: &OsStr) -> io::Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let at = self.open_dir(dir)?;
        Ok(rustix::fs::unlinkat(&at, name, AtFlags::empty())?)
    }

    /// A descriptor of the directory `rel`, checked to be the one recorded.
    pub(super) fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let want = match self.dirs.get(rel) {
            Some(Some(ident)) => ident,
            Some(None) => return Err(io::Error::new(io::ErrorKind::NotFound, "directory not created (dry run)")),
            None => return Err(io::Error::other("directory not prepared")),
        };
        let fd = open_dir_path(&self.root.join(rel))?;
        if stat_fd(&fd)?.ident == *want { Ok(fd) } else { Err(replaced()) }
    }

    /// Opens the regular file `name` of `dir` for reading (never through a link), checked to be
    /// `ident`.
    pub(super) fn open_file(&self, dir: &Path, name: &OsStr, ident: Ident) -> io::Result<File> {
        let at = self.open_dir(dir)?;
        let file = fsat::open_file_at(at.as_fd(), name)?;
        let m = stat_fd(&file)?;
        if m.ident != ident || !m.is_file() {
            return Err(replaced());
        }
        Ok(file)
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

    /// Applies `node`'s metadata to the finished temporary file and renames it into place (over
    /// whatever non-directory had that name: the name is replaced, never followed).
    pub(super) fn finish_file(&self, dir: &Path, tmp: &OsStr, ident: Ident, name: &OsStr, node: &Node) -> io::Result<()> {
        let at = self.open_dir(dir)?;
        let fd = rustix::fs::openat(&at, tmp, OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        if stat_fd(&fd)?.ident != ident {
            return Err(replaced());
        }
        self.apply_meta(fd.as_fd(), node, false)?;
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

    /// Makes `link` (in `link_dir`) a hard link of the restored `first` (in `first_dir`),
    /// replacing a non-directory of that name.
    pub(super) fn hard_link(&self, first_dir: &Path, first: &OsStr, link_dir: &Path, link: &OsStr) -> io::Result<()> {
        let from = self.open_dir(first_dir)?;
        let to = self.open_dir(link_dir)?;
        remove_non_dir(to.as_fd(), link)?;
        Ok(rustix::fs::linkat(&from, first, &to, link, AtFlags::empty())?)
    }

    /// Creates a symbolic link, FIFO or device node in place of any non-directory of that name;
    /// a socket is skipped. A device node snap may not create (not root, or no `CAP_MKNOD`) is
    /// counted for the warning, not an error.
    pub(super) fn special(&self, dir: &Path, name: &OsStr, node: &Node) -> io::Result<()> {
        let at = self.open_dir(dir)?;
        let kind = match node.kind() {
            NodeKind::Symlink => None,
            NodeKind::Fifo => Some(FileType::Fifo),
            NodeKind::CharDevice => Some(FileType::CharacterDevice),
            NodeKind::BlockDevice => Some(FileType::BlockDevice),
            _ => return Ok(()),
        };
        remove_non_dir(at.as_fd(), name)?;
        match kind {
            None => rustix::fs::symlinkat(OsStr::from_bytes(&node.link_target), &at, name)?,
            Some(kind) => match rustix::fs::mknodat(&at, name, kind, Mode::from_raw_mode(self.policy.mode(node)), node.rdev) {
                Ok(()) => {}
                Err(rustix::io::Errno::PERM) if kind != FileType::Fifo => {
                    self.tally.devices.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            },
        }
        self.meta_at(at.as_fd(), name, node, None)
    }

    /// Applies `node`'s metadata to the existing entry `name` of `dir` in place, which must still
    /// be `ident` (a regular file through a descriptor; any other kind through an `O_PATH` one or
    /// without following a link).
    pub(super) fn update_meta(&self, dir: &Path, name: &OsStr, node: &Node, ident: Ident) -> io::Result<()> {
        let at = self.open_dir(dir)?;
        if node.kind() == NodeKind::File {
            let file = fsat::open_file_at(at.as_fd(), name)?;
            let m = stat_fd(&file)?;
            if m.ident != ident || !m.is_file() {
                return Err(replaced());
            }
            return self.apply_meta(file.as_fd(), node, false);
        }
        self.meta_at(at.as_fd(), name, node, Some(ident))
    }

    /// Owner, mode, attributes and times of a link, FIFO or device node just made (or checked to
    /// be `ident`), never through a name that could have become a link.
    fn meta_at(&self, at: BorrowedFd<'_>, name: &OsStr, node: &Node, ident: Option<Ident>) -> io::Result<()> {
        let fd = rustix::fs::openat(at, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        let m = stat_fd(&fd)?;
        let is_link = m.file_type() == libc::S_IFLNK;
        if ident.is_some_and(|i| i != m.ident) || is_link != (node.kind() == NodeKind::Symlink) {
            return Err(replaced());
        }
        if self.policy.chown {
            rustix::fs::chownat(at, name, Some(Uid::from_raw_unchecked(node.uid)), Some(Gid::from_raw_unchecked(node.gid)), AtFlags::SYMLINK_NOFOLLOW)?;
        } else {
            self.note_owner(node);
        }
        if !is_link {
            // The exact mode (mknod's is cut by the umask), set on the very node: through the
            // O_PATH descriptor's /proc entry.
            let via = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            for (k, v) in self.policy.xattrs(node) {
                if xattr::set_deref(&via, OsStr::from_bytes(k), v).is_err() {
                    self.note_xattr(k);
                }
            }
            let mode = self.policy.mode(node);
            rustix::fs::chmodat(CWD, &via, Mode::from_raw_mode(mode), AtFlags::empty())?;
            self.check_special_bits(fd.as_fd(), mode)?;
        }
        Ok(rustix::fs::utimensat(at, name, &times(node), AtFlags::SYMLINK_NOFOLLOW)?)
    }

    /// Applies a directory's own metadata (done last, deepest first) when it differs from what
    /// the directory has now.
    pub(super) fn dir_meta(&self, rel: &Path, node: &Node) -> io::Result<()> {
        let fd = self.open_dir(rel)?;
        let m = stat_fd(&fd)?;
        let have = if self.policy.xattrs(node).next().is_some() { Some(xattrs_fd(fd.as_fd())) } else { None };
        if self.policy.same_meta(node, &m, have.as_deref()) {
            return Ok(());
        }
        self.apply_meta(fd.as_fd(), node, true)
    }

    /// The extended attributes of the entry `name` of `dir` (not following a link).
    pub(super) fn xattrs_of(&self, dir: &Path, name: &OsStr) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let at = self.open_dir(dir)?;
        Ok(fsat::xattrs_at(at.as_fd(), name, &self.root.join(dir).join(name)))
    }

    /// Ownership (as root), xattrs, mode and times, on an open descriptor, in that order (a chown
    /// clears setuid bits and capabilities). A directory recorded with mode 0 keeps its mode.
    fn apply_meta(&self, fd: BorrowedFd<'_>, node: &Node, is_dir: bool) -> io::Result<()> {
        if self.policy.chown {
            rustix::fs::fchown(fd, Some(Uid::from_raw_unchecked(node.uid)), Some(Gid::from_raw_unchecked(node.gid)))?;
        } else {
            self.note_owner(node);
        }
        let mut xattrs = self.policy.xattrs(node).peekable();
        if xattrs.peek().is_some() {
            let file = File::from(fd.try_clone_to_owned()?);
            for (k, v) in xattrs {
                if xattr::FileExt::set_xattr(&file, OsStr::from_bytes(k), v).is_err() {
                    self.note_xattr(k);
                }
            }
        }
        if !(is_dir && node.mode == 0) {
            let mode = self.policy.mode(node);
            rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))?;
            self.check_special_bits(fd, mode)?;
        }
        Ok(rustix::fs::futimens(fd, &times(node))?)
    }

    fn note_owner(&self, node: &Node) {
        if self.policy.note_owners && (node.uid != self.policy.euid || node.gid != self.policy.egid) {
            self.tally.owners.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn note_xattr(&self, name: &[u8]) {
        self.tally.xattrs.fetch_add(1, Ordering::Relaxed);
        self.tally.xattr_names.lock().insert(String::from_utf8_lossy(name).into_owned());
    }

    /// Counts setuid/setgid/sticky bits the kernel dropped (a setgid bit for a group the caller
    /// is not in).
    fn check_special_bits(&self, fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
        if mode & 0o7000 != 0 && stat_fd(fd)?.mode & 0o7777 != mode {
            self.tally.special_bits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Lists the directory `rel` (which must exist).
    pub(super) fn list(&self, rel: &Path) -> io::Result<(OwnedFd, Vec<OsString>)> {
        let fd = self.open_dir(rel)?;
        let names = fsat::list(fd.as_fd())?;
        Ok((fd, names))
    }

    /// Removes the entry `name` of the directory open as `at` and, for a directory, everything
    /// below it: never following a link, never leaving the filesystem `dev` (a directory mounted
    /// from another one is left, with its path in `kept`), leaving every path `keep` says to
    /// keep. `removed` is told every entry removed (or, in a dry run, that would be), deepest
    /// first. Returns whether all of it went.
    ///
    /// # Errors
    /// The first entry that could not be removed (what was removed before it stays removed).
    pub(super) fn remove_tree(&self, at: BorrowedFd<'_>, name: &OsStr, rel: &Path, dev: u64, keep: &dyn Fn(&Path) -> bool, removed: &mut dyn FnMut(&Path, &Meta), kept: &mut Vec<PathBuf>) -> io::Result<bool> {
        self.remove_tree_depth(at, name, rel, &Sweep { dev, keep }, removed, kept, 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn remove_tree_depth(&self, at: BorrowedFd<'_>, name: &OsStr, rel: &Path, how: &Sweep<'_>, removed: &mut dyn FnMut(&Path, &Meta), kept: &mut Vec<PathBuf>, depth: usize) -> io::Result<bool> {
        if (how.keep)(rel) {
            return Ok(false);
        }
        let m = stat_at(at, name)?;
        if !m.is_dir() {
            if !self.dry_run {
                rustix::fs::unlinkat(at, name, AtFlags::empty())?;
            }
            removed(rel, &m);
            return Ok(true);
        }
        if m.ident.dev != how.dev {
            kept.push(rel.to_path_buf());
            return Ok(false);
        }
        if depth >= MAX_REMOVE_DEPTH {
            return Err(io::Error::other(format!("more than {MAX_REMOVE_DEPTH} directories deep; not removed")));
        }
        let fd = fsat::open_dir_at(at, name)?;
        if stat_fd(&fd)?.ident != m.ident {
            return Err(replaced());
        }
        let mut all = true;
        for child in fsat::list(fd.as_fd())? {
            all &= self.remove_tree_depth(fd.as_fd(), &child, &rel.join(&child), how, removed, kept, depth + 1)?;
        }
        if all {
            if !self.dry_run {
                rustix::fs::unlinkat(at, name, AtFlags::REMOVEDIR)?;
            }
            removed(rel, &m);
        }
        Ok(all)
    }
}

/// What a removal may not touch.
struct Sweep<'a> {
    dev: u64,
    keep: &'a dyn Fn(&Path) -> bool,
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

/// The extended attributes of an open directory or file.
fn xattrs_fd(fd: BorrowedFd<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Ok(file) = fd.try_clone_to_owned().map(File::from) else { return Vec::new() };
    let Ok(names) = xattr::FileExt::list_xattr(&file) else { return Vec::new() };
    names.filter_map(|n| Some((n.as_bytes().to_vec(), xattr::FileExt::get_xattr(&file, &n).ok().flatten()?))).collect()
}

fn times(node: &Node) -> Timestamps {
    let t = Timespec { tv_sec: node.mtime.secs, tv_nsec: node.mtime.nanos.into() };
    Timestamps { last_access: t, last_modification: t }
}

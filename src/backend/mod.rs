//! Storage as names and bytes, through OpenDAL. Knows nothing of keys or formats: every read,
//! write, list and delete of a repository goes through [`Backend`], so S3 or SFTP are a matter of
//! building a different operator.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use opendal::options::ListOptions;
use opendal::{blocking, ErrorKind, Operator};

use crate::error::{Error, Result};

mod location;
mod remote;

pub use location::{Location, Options};

/// The kinds of file in a repository and where each lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    Config,
    Key,
    Pack,
    Index,
    Snapshot,
    Lock,
    /// Reports of recovery drills (`snap drill`).
    Drill,
}

impl FileType {
    /// The directory (with trailing slash) holding this kind.
    #[must_use]
    pub fn dir(self) -> &'static str {
        match self {
            FileType::Config => "",
            FileType::Key => "keys/",
            FileType::Pack => "data/",
            FileType::Index => "index/",
            FileType::Snapshot => "snapshots/",
            FileType::Lock => "locks/",
            FileType::Drill => "drills/",
        }
    }

    /// The storage path of the file called `name` (a hex id). Packs fan out by their first two
    /// hex digits: `data/ab/ab01…`.
    #[must_use]
    pub fn path(self, name: &str) -> String {
        match self {
            FileType::Config => "config".to_string(),
            FileType::Pack => format!("data/{}/{name}", name.get(..2).unwrap_or("00")),
            other => format!("{}{name}", other.dir()),
        }
    }

    /// The kind of file stored at `path`, from its directory; `None` for anything that is no
    /// repository file (such as `tmp/…`).
    #[must_use]
    pub fn of_path(path: &str) -> Option<Self> {
        if path == "config" {
            return Some(FileType::Config);
        }
        [FileType::Key, FileType::Pack, FileType::Index, FileType::Snapshot, FileType::Lock, FileType::Drill].into_iter().find(|ft| path.starts_with(ft.dir()))
    }

    /// The most bytes a file of this kind may have (format-spec §2, "Size limits"). Everything
    /// in storage is untrusted until authenticated, so readers check the size storage reports
    /// against this before allocating anything, and writers never store more.
    #[must_use]
    pub fn max_size(self) -> u64 {
        match self {
            FileType::Config | FileType::Key | FileType::Lock => MAX_SMALL_FILE,
            FileType::Snapshot => MAX_SNAPSHOT_FILE,
            FileType::Drill => MAX_DRILL_FILE,
            FileType::Index => MAX_INDEX_FILE,
            FileType::Pack => MAX_PACK_FILE,
        }
    }

    /// `a snapshot file`, for messages.
    #[must_use]
    pub fn described(self) -> &'static str {
        match self {
            FileType::Config => "the config file",
            FileType::Key => "a key file",
            FileType::Pack => "a pack",
            FileType::Index => "an index file",
            FileType::Snapshot => "a snapshot file",
            FileType::Lock => "a lock file",
            FileType::Drill => "a drill report",
        }
    }
}

/// Size limit of `config`, key files, lock files, and of any other file read whole: a few
/// hundred bytes each in practice.
pub const MAX_SMALL_FILE: u64 = 64 << 10;
/// Size limit of a snapshot file (its JSON names every backed-up path and tag).
pub const MAX_SNAPSHOT_FILE: u64 = 8 << 20;
/// Size limit of a drill report (a few kilobytes: phases, checks, one line per error).
pub const MAX_DRILL_FILE: u64 = 1 << 20;
/// Size limit of an index file. snap starts a new index file after 64 packs or 100,000 blobs,
/// which keeps each below 40 MiB (format-spec §9).
pub const MAX_INDEX_FILE: u64 = 64 << 20;
/// Size limit of a pack (32 times the default pack size): whole packs are read into memory
/// when prune copies blobs out of them.
pub const MAX_PACK_FILE: u64 = 512 << 20;

/// The limit for a file at `path` and how to name its kind.
fn limit_of(path: &str) -> (u64, &'static str) {
    FileType::of_path(path).map_or((MAX_SMALL_FILE, "a repository file"), |ft| (ft.max_size(), ft.described()))
}

/// Where local-disk writes are staged before their rename into place.
pub const TMP_DIR: &str = "tmp";

/// Directories `init` creates.
pub const LAYOUT_DIRS: [&str; 5] = ["keys/", "data/", "index/", "snapshots/", "locks/"];

/// One repository location.
#[derive(Clone)]
pub struct Backend {
    op: blocking::Operator,
    /// For local directories: an operator whose writes are staged in `<root>/tmp` and renamed
    /// into place. Built on the first write, so reading or probing a directory never adds to it.
    writer: Arc<OnceLock<blocking::Operator>>,
    root: Option<PathBuf>,
    /// SFTP has no atomic upload: writes go to `tmp/` and are renamed into place.
    stage_writes: bool,
    /// Object stores have no directories to create.
    has_dirs: bool,
    /// S3 or SFTP: every request is a round trip.
    remote: bool,
    /// Not SFTP (see [`Backend::parallel_reads`]).
    parallel_reads: bool,
    location: String,
    rt: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backend({})", self.location)
    }
}

fn be(op: &'static str, path: &str, source: opendal::Error) -> Error {
    let path = if path.is_empty() { "/".to_string() } else { path.to_string() };
    Error::Backend { op, path, cause: Box::new(source) }
}


impl Backend {
    /// Opens the location `loc` (see [`Location::parse`]) with default options.
    ///
    /// # Errors
    /// As [`Backend::open_with`].
    pub fn open(loc: &str, create: bool) -> Result<Self> {
        Self::open_with(loc, &Options::default(), create)
    }

    /// Opens the location `loc` with backend options `opts`. With `create` false a missing local
    /// directory is [`Error::NoRepository`]; with `create` true it is made. Remote storage is not
    /// contacted here: the first read or write tells whether it is there.
    ///
    /// # Errors
    /// [`Error::Usage`] for a location or option that cannot be used; a local location that does
    /// not exist (and `create` is false); storage that cannot be set up.
    pub fn open_with(loc: &str, opts: &Options, create: bool) -> Result<Self> {
        let parsed = Location::parse(loc)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("snap-io")
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let open_err = |e| be("open", loc, e);
        let (op, root) = match &parsed {
            Location::Memory => (Operator::new(opendal::services::Memory::default()).map_err(open_err)?, None),
            Location::Local(path) => {
                let root = local_root(path)?;
                if !root.is_dir() {
                    if !create {
                        return Err(Error::NoRepository(loc.to_string()));
                    }
                    if root.exists() {
                        return Err(Error::NotEmpty(loc.to_string()));
                    }
                }
                let builder = opendal::services::Fs::default().root(&root.to_string_lossy());
                (Operator::new(builder).map_err(open_err)?, Some(root))
            }
            Location::S3 { .. } | Location::Sftp { .. } => (remote::operator(&parsed, opts, loc)?, None),
        };
        let _guard = rt.enter();
        let op = blocking::Operator::new(op).map_err(|e| be("open", loc, e))?;
        Ok(Self {
            op,
            writer: Arc::new(OnceLock::new()),
            root,
            stage_writes: matches!(parsed, Location::Sftp { .. }),
            has_dirs: !matches!(parsed, Location::S3 { .. }),
            remote: matches!(parsed, Location::S3 { .. } | Location::Sftp { .. }),
            parallel_reads: !matches!(parsed, Location::Sftp { .. }),
            location: loc.to_string(),
            rt: Arc::new(rt),
        })
    }

    fn writer(&self) -> Result<&blocking::Operator> {
        let Some(root) = &self.root else { return Ok(&self.op) };
        if let Some(w) = self.writer.get() {
            return Ok(w);
        }
        let builder = opendal::services::Fs::default().root(&root.to_string_lossy()).atomic_write_dir(&root.join(TMP_DIR).to_string_lossy());
        let op = Operator::new(builder).map_err(|e| be("open", &self.location, e))?;
        let _guard = self.rt.enter();
        let op = blocking::Operator::new(op).map_err(|e| be("open", &self.location, e))?;
        Ok(self.writer.get_or_init(|| op))
    }

    /// Whether every request is a round trip over the network (S3, SFTP): readers then fetch
    /// larger stretches per request.
    #[must_use]
    pub fn is_remote(&self) -> bool {
        self.remote
    }

    /// Whether reads should run in parallel and be long (`dump`'s windows, `check`'s trees and
    /// 8 MiB windows). Not over SFTP: OpenDAL's SFTP service opens another connection, an ssh
    /// control master of its own, for a read that finds the others busy, and in full suite runs
    /// such a master outlived the snap that started it (remote::sftp_round_trip_check_and_prune
    /// failed in 3 of 4 runs with parallel or longer reads over SFTP).
    #[must_use]
    pub fn parallel_reads(&self) -> bool {
        self.parallel_reads
    }

    /// The location as the user gave it.
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Reads a whole file, if it is no larger than its kind allows ([`FileType::max_size`], from
    /// the directory in `path`): storage is untrusted, and a reported size is never allocated
    /// before it is checked.
    ///
    /// # Errors
    /// [`Error::TooLarge`] before anything is read; storage errors; a missing file is reported
    /// with [`Backend::is_not_found`] true.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let size = self.op.stat(path).map_err(|e| be("read", path, e))?.content_length();
        let (max, kind) = limit_of(path);
        if size > max {
            return Err(Error::TooLarge { path: path.to_string(), size, max, kind });
        }
        self.read_range(path, 0, size)
    }

    /// Reads `len` bytes at `offset`.
    ///
    /// # Errors
    /// Storage errors, or a file shorter than asked.
    pub fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        // Straight into one buffer of the final size: no second copy of a 16 MiB pack in memory.
        let mut buf = Vec::with_capacity(usize::try_from(len).map_err(|_| Error::corrupt("file", path, "too large to read"))?);
        let reader = self.op.reader(path).map_err(|e| be("read", path, e))?;
        reader.read_into(&mut buf, offset..offset + len).map_err(|e| be("read", path, e))?;
        if buf.len() as u64 != len {
            return Err(Error::corrupt("file", path, format!("wanted {len} bytes at {offset}, got {}", buf.len())));
        }
        Ok(buf)
    }

    /// Writes a whole file atomically (temporary name, fsync, rename and directory sync on local
    /// disks). A file
    /// larger than its kind allows is refused, as every reader would refuse it.
    ///
    /// # Errors
    /// [`Error::TooLarge`]; storage errors such as a full disk.
    pub fn write(&self, path: &str, data: Vec<u8>) -> Result<()> {
        let (max, kind) = limit_of(path);
        if data.len() as u64 > max {
            return Err(Error::TooLarge { path: path.to_string(), size: data.len() as u64, max, kind });
        }
        if self.stage_writes {
            return self.write_staged(path, data);
        }
        self.writer()?.write(path, data).map(|_| ()).map_err(|e| be("write", path, e))?;
        self.sync_dirs_of(path)
    }

    /// Writes `data` under a random name in `tmp/`, then renames it to `path`: a reader never
    /// sees a half-written file under its final name. Every name snap writes is new (a content
    /// id or a fresh random one), so a `path` that already exists holds these very bytes (a
    /// retried request that had in fact succeeded): the staged copy is then dropped.
    fn write_staged(&self, path: &str, data: Vec<u8>) -> Result<()> {
        let mut r = [0u8; 16];
        getrandom::getrandom(&mut r).map_err(|e| Error::Internal(format!("no randomness for a temporary name: {e}")))?;
        let tmp = format!("{TMP_DIR}/{}", hex::encode(r));
        let len = data.len() as u64;
        self.op.write(&tmp, data).map_err(|e| be("write", &tmp, e))?;
        if let Err(e) = self.op.rename(&tmp, path) {
            let there = self.op.stat(path).map(|m| m.content_length() == len).unwrap_or(false);
            let _ = self.op.delete(&tmp);
            if !there {
                return Err(be("rename", path, e));
            }
        }
        Ok(())
    }

    /// Makes the rename or deletion of `path` durable on a local disk: the directories from its
    /// own up to (not including) the root are synced, so a power loss cannot persist a later step
    /// (an index, a snapshot, a deletion) without an earlier one. Object stores order their own
    /// writes.
    fn sync_dirs_of(&self, path: &str) -> Result<()> {
        let Some(root) = &self.root else { return Ok(()) };
        let mut rel = std::path::Path::new(path).parent();
        while let Some(r) = rel.filter(|r| !r.as_os_str().is_empty()) {
            let dir = root.join(r);
            let synced = std::fs::File::open(&dir).and_then(|d| d.sync_all());
            match synced {
                // Some filesystems cannot sync a directory; they give no ordering to keep.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP)) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&dir, e)),
                Ok(()) => {}
            }
            rel = r.parent();
        }
        Ok(())
    }

    /// Whether `path` exists.
    ///
    /// # Errors
    /// Storage errors other than not-found.
    pub fn exists(&self, path: &str) -> Result<bool> {
        self.op.exists(path).map_err(|e| be("stat", path, e))
    }

    /// Size in bytes of `path`.
    ///
    /// # Errors
    /// Storage errors, including not-found.
    pub fn size(&self, path: &str) -> Result<u64> {
        self.op.stat(path).map(|m| m.content_length()).map_err(|e| be("stat", path, e))
    }

    /// Names (last path component) of the files of one kind.
    ///
    /// # Errors
    /// Storage errors.
    pub fn list(&self, ft: FileType) -> Result<Vec<String>> {
        Ok(self.list_sized(ft)?.into_iter().map(|(n, _)| n).collect())
    }

    /// Names and sizes (as the storage reports them) of the files of one kind, by name.
    ///
    /// # Errors
    /// Storage errors.
    pub fn list_sized(&self, ft: FileType) -> Result<Vec<(String, u64)>> {
        let dir = ft.dir();
        let opts = ListOptions { recursive: ft == FileType::Pack, ..Default::default() };
        let entries = match self.op.list_options(dir, opts) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(be("list", dir, e)),
        };
        let mut names: Vec<(String, u64)> = entries
            .into_iter()
            .filter(|e| e.metadata().is_file())
            .map(|e| (e.name().to_string(), e.metadata().content_length()))
            .filter(|(n, _)| !n.is_empty())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether the location holds anything at all.
    ///
    /// # Errors
    /// Storage errors.
    pub fn is_empty(&self) -> Result<bool> {
        match self.op.list("") {
            Ok(entries) => Ok(entries.iter().all(|e| {
                let p = e.path().trim_end_matches('/');
                p.is_empty() || p == TMP_DIR
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
            // Nothing can be stored where there is no bucket: no repository there.
            Err(e) if crate::error::names_missing_bucket(&e) => Err(Error::NoRepository(format!("{} (the bucket does not exist)", self.location))),
            Err(e) => Err(be("list", "", e)),
        }
    }

    /// Creates a directory (no-op on object stores).
    ///
    /// # Errors
    /// Storage errors.
    pub fn create_dir(&self, dir: &str) -> Result<()> {
        if !self.has_dirs {
            return Ok(());
        }
        self.op.create_dir(dir).map_err(|e| be("mkdir", dir, e))
    }

    /// Deletes a file (durably, on local disks); deleting a missing file is not an error.
    ///
    /// # Errors
    /// Storage errors.
    pub fn delete(&self, path: &str) -> Result<()> {
        self.op.delete(path).map_err(|e| be("delete", path, e))?;
        self.sync_dirs_of(path)
    }

    /// When the storage last modified `path`, by the storage's own clock; `None` when the storage
    /// keeps no such time (the `memory:` store). Locks compare two such readings (format-spec §18).
    ///
    /// # Errors
    /// Storage errors, including not-found.
    pub fn modified(&self, path: &str) -> Result<Option<jiff::Timestamp>> {
        self.op.stat(path).map(|m| m.last_modified().map(jiff::Timestamp::from)).map_err(|e| be("stat", path, e))
    }
}

/// True when `e` is a storage not-found error.
#[must_use]
pub fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Backend { cause, .. } if cause.kind() == ErrorKind::NotFound)
}

/// The absolute directory a local location names.
fn local_root(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
        Ok(cwd.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trip_and_listing() {
        let b = Backend::open("memory:", true).unwrap();
        assert!(b.is_empty().unwrap());
        b.write("snapshots/abcd", b"hello".to_vec()).unwrap();
        b.write(&FileType::Pack.path("ef0123"), b"pack".to_vec()).unwrap();
        assert_eq!(b.read("snapshots/abcd").unwrap(), b"hello");
        assert_eq!(b.read_range("snapshots/abcd", 1, 3).unwrap(), b"ell");
        assert!(b.read_range("snapshots/abcd", 3, 5).is_err());
        assert_eq!(b.list(FileType::Snapshot).unwrap(), vec!["abcd".to_string()]);
        assert_eq!(b.list(FileType::Pack).unwrap(), vec!["ef0123".to_string()]);
        assert!(!b.is_empty().unwrap());
        b.delete("snapshots/abcd").unwrap();
        assert!(b.list(FileType::Snapshot).unwrap().is_empty());
        let err = b.read("snapshots/abcd").unwrap_err();
        assert!(is_not_found(&err));
    }

    #[test]
    fn every_kind_is_capped_by_its_path() {
        assert_eq!(FileType::of_path("config"), Some(FileType::Config));
        assert_eq!(FileType::of_path(&FileType::Pack.path("ab01")), Some(FileType::Pack));
        for ft in [FileType::Key, FileType::Index, FileType::Snapshot, FileType::Lock] {
            assert_eq!(FileType::of_path(&ft.path("ab01")), Some(ft));
        }
        assert_eq!(FileType::of_path("tmp/x"), None);
        assert_eq!(FileType::Snapshot.max_size(), 8 << 20);
        let b = Backend::open("memory:", true).unwrap();
        // Planted straight through the operator: `write` itself refuses oversized files.
        let big = vec![0u8; (MAX_SMALL_FILE + 1) as usize];
        b.op.write("keys/ab01", big.clone()).unwrap();
        let err = b.read("keys/ab01").unwrap_err();
        assert_eq!(err.to_string(), "keys/ab01: 65537 bytes, more than the 64 KiB a key file may have");
        assert!(matches!(b.write("locks/ab01", big.clone()), Err(Error::TooLarge { size: 65537, max: 65536, .. })));
        assert!(!b.exists("locks/ab01").unwrap());
        // The same bytes are fine as a snapshot, and one byte less is fine as a key file.
        b.write("snapshots/ab01", big.clone()).unwrap();
        assert_eq!(b.read("snapshots/ab01").unwrap().len(), big.len());
        b.op.write("keys/ab02", big[1..].to_vec()).unwrap();
        assert_eq!(b.read("keys/ab02").unwrap().len(), big.len() - 1);
    }

    #[test]
    fn local_missing_is_no_repository() {
        let d = tempfile::tempdir().unwrap();
        let loc = d.path().join("nope");
        let err = Backend::open(&loc.to_string_lossy(), false).unwrap_err();
        assert!(matches!(err, Error::NoRepository(_)));
        assert!(!loc.exists());
    }
}

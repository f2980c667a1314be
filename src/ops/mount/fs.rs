//! The FUSE filesystem: answers the kernel's requests from the layout, the snapshots' trees
//! (loaded when a directory is first looked into, a bounded number kept decoded) and their
//! chunks (read when a range of a file is read, every one verified). It never writes: the mount
//! is read-only, and anything that would change it fails with `EROFS`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyXattr, Request,
};
use parking_lot::Mutex;

use super::content::{ChunkCache, Layout};
use super::inodes::{Kind, Table};
use super::layout::layout;
use super::lru::Lru;
use super::{Event, Sink};
use crate::error::Result;
use crate::format::tree::{Node, NodeKind, Timestamp, Tree};
use crate::format::{BlobId, SnapshotId};
use crate::ops::select::SnapshotFilter;
use crate::repo::Repository;

/// How long the kernel may trust what it learnt of the layout: it changes when snapshots come
/// and go.
const LAYOUT_TTL: Duration = Duration::from_secs(1);
/// How long the kernel may trust what it learnt of a snapshot's entries: they never change.
const CONTENT_TTL: Duration = Duration::from_secs(3600);
/// The snapshot list is read again when the layout is looked into this long after it was last
/// read, so new snapshots appear (and forgotten ones go) while mounted.
const RELIST_AFTER: Duration = Duration::from_secs(5);
/// Decoded trees kept, counted in entries (a few hundred bytes each): some tens of MiB at most.
const TREE_ENTRIES_KEPT: u64 = 200_000;
/// Decoded chunks kept, in bytes.
const CHUNK_BYTES_KEPT: u64 = 64 << 20;
/// What `stat` reports as the preferred read size (tools read this much at a time).
const BLOCK_SIZE: u32 = 128 << 10;
/// Chunks read ahead, in the background, of a reader going through a file in order.
const READ_AHEAD: usize = 4;
/// A read starting this close to where the last one of the same open file ended counts as
/// going on in order (the kernel's parallel reads ahead arrive slightly out of order).
const IN_ORDER: u64 = 1 << 20;

/// A file opened by the kernel: its chunks and where each ends, computed once.
#[derive(Clone)]
struct OpenFile {
    ino: u64,
    layout: Arc<Layout>,
    /// Where the last read of this open file ended.
    last_end: Arc<AtomicU64>,
}

/// What a directory's entries come from.
enum Source {
    /// The layout's own entries (in the table).
    Layout,
    /// A snapshot tree.
    Tree(BlobId),
    /// A directory the snapshot holds without entries.
    Empty,
}

pub(super) struct SnapFs {
    repo: Arc<Repository>,
    filter: SnapshotFilter,
    table: Mutex<Table>,
    /// The snapshots the layout shows, to tell whether a new listing changes anything.
    shown: Mutex<Vec<SnapshotId>>,
    /// When the snapshot list was last read; held while it is read again.
    listed: Mutex<Instant>,
    trees: Mutex<Lru<BlobId, Arc<Tree>>>,
    chunks: Arc<ChunkCache>,
    files: Mutex<HashMap<u64, OpenFile>>,
    next_fh: AtomicU64,
    /// Who owns the layout's directories and links: whoever mounted.
    owner: (u32, u32),
    events: Sink,
}

impl SnapFs {
    pub(super) fn new(repo: Repository, filter: SnapshotFilter, snaps: &[(SnapshotId, crate::format::snapshot::Snapshot)], events: Sink) -> Self {
        Self {
            repo: Arc::new(repo),
            filter,
            table: Mutex::new(Table::new(&layout(snaps))),
            shown: Mutex::new(snaps.iter().map(|(id, _)| *id).collect()),
            listed: Mutex::new(Instant::now()),
            trees: Mutex::new(Lru::new(TREE_ENTRIES_KEPT)),
            chunks: Arc::new(ChunkCache::new(CHUNK_BYTES_KEPT)),
            files: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            owner: (uzers::get_current_uid(), uzers::get_current_gid()),
            events,
        }
    }

    /// Reads the snapshot list again if it was last read [`RELIST_AFTER`] ago, and shows the
    /// new layout if the snapshots changed. One reader does it; the others go on meanwhile.
    fn relist_if_due(&self) {
        let Some(mut listed) = self.listed.try_lock() else { return };
        if listed.elapsed() < RELIST_AFTER {
            return;
        }
        if let Err(error) = self.relist() {
            (self.events)(Event::Failed { path: "/".into(), error });
        }
        *listed = Instant::now();
    }

    fn relist(&self) -> Result<()> {
        let mut ids = self.repo.ids::<SnapshotId>()?;
        ids.sort();
        let mut shown = self.shown.lock().clone();
        shown.sort();
        if ids == shown {
            return Ok(());
        }
        // New snapshots need what was stored with them: their index files first.
        self.repo.sync_index()?;
        // Unreadable snapshot files were reported when the mount began; here they stay out.
        let snaps: Vec<_> = self.repo.scan_snapshots()?.readable.into_iter().filter(|(_, s)| self.filter.matches(s)).collect();
        self.table.lock().set_layout(&layout(&snaps));
        // Every listed id counts as seen (shown or filtered out), so an unchanged list is not
        // read again.
        *self.shown.lock() = ids;
        Ok(())
    }

    fn failed(&self, path: String, error: crate::Error) {
        (self.events)(Event::Failed { path, error });
    }

    fn path_of(&self, ino: u64, name: Option<&[u8]>) -> String {
        let mut p = self.table.lock().path(ino);
        if let Some(n) = name {
            if !p.ends_with('/') {
                p.push('/');
            }
            p.push_str(&String::from_utf8_lossy(n));
        }
        p
    }

    /// A snapshot tree, decoded, from the cache when kept.
    fn tree(&self, id: &BlobId) -> Result<Arc<Tree>> {
        if let Some(t) = self.trees.lock().get(id) {
            return Ok(t);
        }
        let t = Arc::new(self.repo.load_tree(id)?);
        self.trees.lock().insert(*id, Arc::clone(&t), t.nodes.len() as u64 + 1);
        Ok(t)
    }

    /// Where directory `ino`'s entries come from, and its parent.
    fn source(&self, ino: u64) -> Result<(u64, Source), Errno> {
        let table = self.table.lock();
        let e = table.get(ino).ok_or(Errno::ENOENT)?;
        let source = match &e.kind {
            Kind::Dir { .. } => Source::Layout,
            Kind::Root { tree, .. } => Source::Tree(*tree),
            Kind::Node(n) if n.kind() == NodeKind::Dir => n.subtree.map_or(Source::Empty, Source::Tree),
            Kind::Node(_) | Kind::Link { .. } => return Err(Errno::ENOTDIR),
        };
        Ok((e.parent, source))
    }

    fn attr(&self, ino: u64, kind: &Kind) -> (FileAttr, Duration) {
        let (uid, gid) = self.owner;
        let plain = |kind: FileType, perm: u16, size: u64, mtime: SystemTime| FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: 0,
            atime: mtime,
            mtime,
            ctime: mtime,
            crtime: mtime,
            kind,
            perm,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid,
            gid,
            rdev: 0,
            blksize: BLOCK_SIZE,
            flags: 0,
        };
        match kind {
            Kind::Dir { mtime, .. } | Kind::Root { mtime, .. } => (plain(FileType::Directory, 0o555, 0, *mtime), LAYOUT_TTL),
            Kind::Link { target, mtime } => (plain(FileType::Symlink, 0o777, target.len() as u64, *mtime), LAYOUT_TTL),
            Kind::Node(n) => (node_attr(ino, n), CONTENT_TTL),
        }
    }

    fn reply_attr(&self, ino: u64, reply: ReplyAttr) {
        let kind = self.table.lock().get(ino).map(|e| e.kind.clone());
        match kind {
            Some(k) => {
                let (a, ttl) = self.attr(ino, &k);
                reply.attr(&ttl, &a);
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    /// Starts reading, in the background, the chunks after the one holding byte `end - 1`
    /// that are neither kept nor already being read. A failure is not reported here: the read
    /// that needs the chunk tries again and reports it.
    fn read_ahead(&self, layout: &Layout, end: u64) {
        for id in layout.following(end, READ_AHEAD).iter().filter(|id| self.chunks.lacks(id)) {
            let (id, repo, chunks) = (*id, Arc::clone(&self.repo), Arc::clone(&self.chunks));
            rayon::spawn(move || {
                let _ = chunks.get(&id, |id| repo.read_blob(id));
            });
        }
    }

    fn node(&self, ino: u64) -> Option<Arc<Node>> {
        match self.table.lock().get(ino).map(|e| &e.kind) {
            Some(Kind::Node(n)) => Some(Arc::clone(n)),
            _ => None,
        }
    }
}

fn file_type(k: NodeKind) -> FileType {
    match k {
        NodeKind::File => FileType::RegularFile,
        NodeKind::Dir => FileType::Directory,
        NodeKind::Symlink => FileType::Symlink,
        NodeKind::CharDevice => FileType::CharDevice,
        NodeKind::BlockDevice => FileType::BlockDevice,
        NodeKind::Fifo => FileType::NamedPipe,
        NodeKind::Socket => FileType::Socket,
    }
}

fn kind_type(k: &Kind) -> FileType {
    match k {
        Kind::Dir { .. } | Kind::Root { .. } => FileType::Directory,
        Kind::Link { .. } => FileType::Symlink,
        Kind::Node(n) => file_type(n.kind()),
    }
}

fn system_time(t: Timestamp) -> SystemTime {
    let whole = Duration::from_secs(t.secs.unsigned_abs());
    let at = if t.secs >= 0 { UNIX_EPOCH.checked_add(whole) } else { UNIX_EPOCH.checked_sub(whole) };
    at.and_then(|at| at.checked_add(Duration::from_nanos(u64::from(t.nanos)))).unwrap_or(UNIX_EPOCH)
}

/// A snapshot entry's attributes as the snapshot recorded them.
fn node_attr(ino: u64, n: &Node) -> FileAttr {
    let kind = file_type(n.kind());
    let size = match n.kind() {
        NodeKind::File => n.size,
        NodeKind::Symlink => n.link_target.len() as u64,
        _ => 0,
    };
    let mtime = system_time(n.mtime);
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks: size.div_ceil(512),
        atime: mtime,
        mtime,
        ctime: system_time(n.ctime),
        crtime: mtime,
        kind,
        perm: u16::try_from(n.mode & 0o7777).unwrap_or(0),
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid: n.uid,
        gid: n.gid,
        // The kernel's 32-bit device encoding is the low half of glibc's for majors below 4096.
        rdev: u32::try_from(n.rdev).unwrap_or(0),
        blksize: BLOCK_SIZE,
        flags: 0,
    }
}

/// Replies to an extended-attribute request with `data` (or its size when `size` is 0).
fn reply_xattr(reply: ReplyXattr, size: u32, data: &[u8]) {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    if size == 0 {
        reply.size(len);
    } else if len > size {
        reply.error(Errno::ERANGE);
    } else {
        reply.data(data);
    }
}

impl Filesystem for SnapFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let (parent, name) = (parent.0, name.as_bytes());
        match self.source(parent) {
            Err(e) => reply.error(e),
            Ok((_, Source::Layout)) => {
                self.relist_if_due();
                let table = self.table.lock();
                let child = match table.get(parent).map(|e| &e.kind) {
                    Some(Kind::Dir { entries, .. }) => entries.binary_search_by(|(n, _)| n.as_slice().cmp(name)).ok().and_then(|i| entries.get(i)).map(|(_, c)| *c),
                    _ => None,
                };
                match child.and_then(|c| table.get(c).map(|e| self.attr(c, &e.kind))) {
                    Some((a, ttl)) => reply.entry(&ttl, &a, Generation(0)),
                    None => reply.error(Errno::ENOENT),
                }
            }
            Ok((_, Source::Tree(id))) => {
                let tree = match self.tree(&id) {
                    Ok(t) => t,
                    Err(e) => {
                        self.failed(self.path_of(parent, None), e);
                        return reply.error(Errno::EIO);
                    }
                };
                let Some(node) = tree.nodes.binary_search_by(|n| n.name.as_slice().cmp(name)).ok().and_then(|i| tree.nodes.get(i)) else {
                    return reply.error(Errno::ENOENT);
                };
                let node = Arc::new(node.clone());
                let ino = self.table.lock().remember(parent, Arc::clone(&node));
                reply.entry(&CONTENT_TTL, &node_attr(ino, &node), Generation(0));
            }
            Ok((_, Source::Empty)) => reply.error(Errno::ENOENT),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.table.lock().forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.reply_attr(ino.0, reply);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let target = match self.table.lock().get(ino.0).map(|e| &e.kind) {
            Some(Kind::Link { target, .. }) => Some(target.clone()),
            Some(Kind::Node(n)) if n.kind() == NodeKind::Symlink => Some(n.link_target.clone()),
            _ => None,
        };
        match target {
            Some(t) => reply.data(&t),
            None => reply.error(Errno::EINVAL),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let ino = ino.0;
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        let Some(node) = self.node(ino).filter(|n| n.kind() == NodeKind::File) else {
            return reply.error(if self.source(ino).is_ok() { Errno::EISDIR } else { Errno::EINVAL });
        };
        match Layout::of(&self.repo, &node) {
            Ok(layout) => {
                let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
                self.files.lock().insert(fh, OpenFile { ino, layout: Arc::new(layout), last_end: Arc::new(AtomicU64::new(0)) });
                // What a snapshot holds never changes: the kernel may keep its pages across opens.
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
            }
            Err(e) => {
                self.failed(self.path_of(ino, None), e);
                reply.error(Errno::EIO);
            }
        }
    }

    fn read(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, offset: u64, size: u32, _flags: OpenFlags, _lock: Option<LockOwner>, reply: ReplyData) {
        let Some(file) = self.files.lock().get(&fh.0).cloned() else { return reply.error(Errno::EBADF) };
        match file.layout.read_at(offset, u64::from(size), |id| self.chunks.get(id, |id| self.repo.read_blob(id))) {
            Ok(bytes) => {
                let end = offset + bytes.len() as u64;
                if offset.abs_diff(file.last_end.swap(end, Ordering::Relaxed)) <= IN_ORDER {
                    self.read_ahead(&file.layout, end);
                }
                reply.data(&bytes);
            }
            Err(e) => {
                self.failed(self.path_of(file.ino, None), e);
                reply.error(Errno::EIO);
            }
        }
    }

    fn release(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _flags: OpenFlags, _lock: Option<LockOwner>, _flush: bool, reply: ReplyEmpty) {
        self.files.lock().remove(&fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.source(ino.0) {
            Err(e) => reply.error(e),
            Ok((_, Source::Layout)) => {
                self.relist_if_due();
                reply.opened(FileHandle(0), FopenFlags::empty());
            }
            // A snapshot's directory never changes: the kernel may keep its listing.
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let ino = ino.0;
        let (parent, source) = match self.source(ino) {
            Ok(s) => s,
            Err(e) => return reply.error(e),
        };
        // Offsets: 0 asks from the start, `k + 1` from the entry after the `k`th (`.` is the 0th,
        // `..` the 1st, the directory's own entries follow).
        if offset == 0 && reply.add(INodeNo(ino), 1, FileType::Directory, ".") {
            return reply.ok();
        }
        if offset <= 1 && reply.add(INodeNo(parent), 2, FileType::Directory, "..") {
            return reply.ok();
        }
        let skip = usize::try_from(offset.saturating_sub(2)).unwrap_or(usize::MAX);
        match source {
            Source::Layout => {
                let table = self.table.lock();
                if let Some(Kind::Dir { entries, .. }) = table.get(ino).map(|e| &e.kind) {
                    for (k, (name, child)) in entries.iter().enumerate().skip(skip) {
                        let kind = table.get(*child).map_or(FileType::RegularFile, |e| kind_type(&e.kind));
                        if reply.add(INodeNo(*child), k as u64 + 3, kind, OsStr::from_bytes(name)) {
                            break;
                        }
                    }
                }
            }
            Source::Tree(id) => {
                let tree = match self.tree(&id) {
                    Ok(t) => t,
                    Err(e) => {
                        self.failed(self.path_of(ino, None), e);
                        return reply.error(Errno::EIO);
                    }
                };
                let table = self.table.lock();
                for (k, n) in tree.nodes.iter().enumerate().skip(skip) {
                    if reply.add(INodeNo(table.ino_for(ino, &n.name)), k as u64 + 3, file_type(n.kind()), OsStr::from_bytes(&n.name)) {
                        break;
                    }
                }
            }
            Source::Empty => {}
        }
        reply.ok();
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let value = self.node(ino.0).and_then(|n| n.xattrs.iter().find(|(k, _)| k.as_slice() == name.as_bytes()).map(|(_, v)| v.clone()));
        match value {
            Some(v) => reply_xattr(reply, size, &v),
            None => reply.error(Errno::NO_XATTR),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        let mut names = Vec::new();
        if let Some(n) = self.node(ino.0) {
            for (k, _) in &n.xattrs {
                names.extend_from_slice(k);
                names.push(0);
            }
        }
        reply_xattr(reply, size, &names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_and_after_the_epoch() {
        assert_eq!(system_time(Timestamp { secs: 10, nanos: 5 }), UNIX_EPOCH + Duration::new(10, 5));
        assert_eq!(system_time(Timestamp { secs: -10, nanos: 5 }), UNIX_EPOCH - Duration::from_secs(10) + Duration::from_nanos(5));
    }

    #[test]
    fn node_attributes_are_the_recorded_ones() {
        let n = Node {
            name: b"f".to_vec(),
            kind: Some(NodeKind::File),
            mode: 0o4755,
            uid: 1000,
            gid: 50,
            size: 1234,
            mtime: Timestamp { secs: 1_700_000_000, nanos: 1 },
            ..Node::default()
        };
        let a = node_attr(99, &n);
        assert_eq!((a.ino, a.kind, a.perm, a.uid, a.gid, a.size, a.blocks, a.nlink), (INodeNo(99), FileType::RegularFile, 0o4755, 1000, 50, 1234, 3, 1));
        assert_eq!(a.mtime, UNIX_EPOCH + Duration::new(1_700_000_000, 1));
        let l = Node { kind: Some(NodeKind::Symlink), link_target: b"../x".to_vec(), ..n };
        assert_eq!((node_attr(1, &l).kind, node_attr(1, &l).size), (FileType::Symlink, 4));
    }
}

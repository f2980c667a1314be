//! The filesystem walk: lstat every entry in name order through its directory's descriptor, reuse unchanged files from the parent
//! snapshot, and hand the rest to the file workers, telling the tree assembler what comes when.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::sources::{SourcePlan, VDir, VEntry};
use super::{Ctx, Event, FileJob, JobSource, Pending};
use crate::format::tree::{Content, Node, NodeKind, Tree, MAX_DEPTH};
use crate::ops::fsat::{list, open_dir_at, open_dir_path, read_link_at, replaced, stat_at, stat_fd, stat_path, xattrs_at, DirRef};
use crate::ops::node::{kind_of, node_from_metadata, unchanged, Names};

pub(super) struct Walker<'c, 'a> {
    pub(super) ctx: &'c Ctx<'a>,
    pub(super) events: Sender<Event>,
    pub(super) jobs: Sender<FileJob>,
    pub(super) names: Names,
    /// Directories held open now, and how many may be (see [`DirRef`]).
    pub(super) open_dirs: u64,
    pub(super) fd_budget: u64,
    /// Where each stream's result arrives, taken when the walk reaches the stream's place.
    pub(super) streams: Vec<Option<Receiver<Option<Node>>>>,
}

impl Walker<'_, '_> {
    fn emit(&self, ev: Event) -> bool {
        self.events.send(ev).is_ok()
    }

    pub(super) fn walk_root(&mut self, plan: &SourcePlan, parent: Option<&Tree>) {
        let root_fd = open_dir_path(Path::new("/"));
        let root_md = root_fd.as_ref().ok().and_then(|fd| stat_fd(fd).ok());
        let mut root_node = match &root_md {
            Some(md) => node_from_metadata(OsStr::new(""), md, &mut self.names),
            None => Node { kind: Some(NodeKind::Dir), mode: 0o755, ..Node::default() },
        };
        root_node.kind = Some(NodeKind::Dir);
        self.emit(Event::Enter);
        if let Some(VEntry::Source(_)) = plan.root.children.get(&Vec::new()) {
            match root_fd {
                Ok(fd) => {
                    let dev = root_md.as_ref().map_or(0, |m| m.ident.dev);
                    self.walk_dir_entries(&DirRef::Open(Arc::new(fd)), Path::new("/"), parent, dev);
                }
                Err(e) => self.ctx.error(Path::new("/"), e),
            }
        } else {
            self.walk_vdir_entries(&plan.root, parent);
        }
        self.emit(Event::Leave(root_node));
    }

    /// The entries of a directory made of sources and streams: those holding a stream last (the
    /// assembler sorts each tree, so the order of emission is free), so that the files are all
    /// walked while the dumps are still running.
    fn walk_vdir_entries(&mut self, dir: &VDir, parent: Option<&Tree>) {
        let mut entries: Vec<(&Vec<u8>, &VEntry)> = dir.children.iter().collect();
        entries.sort_by_key(|(_, e)| e.has_stream());
        for (name, entry) in entries {
            if self.ctx.stopped() {
                return;
            }
            let old = parent.and_then(|t| find(t, name));
            match entry {
                VEntry::Source(path) => self.walk_source(path, old),
                VEntry::Stream(i) => {
                    if let Some(rx) = self.streams.get_mut(*i).and_then(Option::take) {
                        self.emit(Event::Node(Pending::File(rx)));
                    }
                }
                VEntry::Dir(sub) => {
                    let mut node = match &sub.path {
                        Some(path) => match stat_path(path) {
                            Ok(md) => node_from_metadata(OsStr::from_bytes(name), &md, &mut self.names),
                            Err(e) => {
                                self.ctx.error(path, e);
                                continue;
                            }
                        },
                        None => made_up_dir(name),
                    };
                    node.kind = Some(NodeKind::Dir);
                    let old_tree = self.subtree_of(old);
                    self.emit(Event::Enter);
                    self.walk_vdir_entries(sub, old_tree.as_ref());
                    self.emit(Event::Leave(node));
                }
            }
        }
    }

    fn subtree_of(&self, old: Option<&Node>) -> Option<Tree> {
        let old = old?;
        if old.kind() != NodeKind::Dir {
            return None;
        }
        self.ctx.repo.load_tree(&old.subtree?).ok()
    }

    /// Backs up a source path the operator named: links in its parent part are followed (the
    /// operator chose that path), the source itself is never a followed link.
    fn walk_source(&mut self, path: &Path, old: Option<&Node>) {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else { return };
        match open_dir_path(parent) {
            Ok(fd) => {
                let dir = DirRef::Open(Arc::new(fd));
                self.walk_entry(&dir, name, path, old, None);
            }
            Err(e) => self.ctx.error(path, e),
        }
    }

    /// Backs up the entry `name` of the directory `dir` (whose path, for messages and excludes,
    /// makes `path`).
    fn walk_entry(&mut self, dir: &DirRef, name: &OsStr, path: &Path, old: Option<&Node>, root_dev: Option<u64>) {
        if self.ctx.excludes.excluded(path) {
            return;
        }
        let md = match dir.with(|d| stat_at(d, name)) {
            Ok(m) => m,
            Err(e) => {
                self.ctx.error(path, e);
                return;
            }
        };
        let mut node = node_from_metadata(name, &md, &mut self.names);
        match kind_of(&md) {
            NodeKind::Dir => {
                // Opened without following a link and checked to be the directory just listed.
                let opened = dir.with(|d| open_dir_at(d, name)).and_then(|fd| if stat_fd(&fd)?.ident == md.ident { Ok(fd) } else { Err(replaced()) });
                let fd = match opened {
                    Ok(fd) => fd,
                    Err(e) => {
                        self.ctx.error(path, e);
                        return;
                    }
                };
                node.xattrs = dir.with(|d| Ok(xattrs_at(d, name, path))).unwrap_or_default();
                let dev = root_dev.unwrap_or(md.ident.dev);
                self.emit(Event::Enter);
                // A snapshot keeps absolute paths: a directory's depth is its path's length.
                if path.components().filter(|c| matches!(c, std::path::Component::Normal(_))).count() >= MAX_DEPTH {
                    // Saved empty, named as an error (exit 3): a snapshot never nests deeper
                    // than readers accept (spec §10.1).
                    self.ctx.error(path, std::io::Error::other(format!("directory nested deeper than {MAX_DEPTH} levels; its content is not saved")));
                } else if !(self.ctx.one_file_system && md.ident.dev != dev) {
                    let old_tree = self.subtree_of(old);
                    // One descriptor per level while the budget lasts; deeper, the directory is
                    // reopened by path and checked on each use.
                    let child = if self.open_dirs < self.fd_budget {
                        DirRef::Open(Arc::new(fd))
                    } else {
                        drop(fd);
                        DirRef::Path { path: Arc::new(path.to_path_buf()), ident: md.ident }
                    };
                    self.open_dirs += 1;
                    self.walk_dir_entries(&child, path, old_tree.as_ref(), dev);
                    self.open_dirs -= 1;
                }
                self.emit(Event::Leave(node));
            }
            NodeKind::File => {
                node.xattrs = dir.with(|d| Ok(xattrs_at(d, name, path))).unwrap_or_default();
                if let Some(o) = old
                    && unchanged(o, &node)
                    && self.blobs_present(&o.content)
                {
                    node.content = o.content.clone();
                    self.ctx.counts.files_unchanged.fetch_add(1, Ordering::Relaxed);
                    self.ctx.counts.bytes_total.fetch_add(node.size, Ordering::Relaxed);
                    self.ctx.progress.files_skipped.fetch_add(1, Ordering::Relaxed);
                    self.ctx.progress.bytes_skipped.fetch_add(node.size, Ordering::Relaxed);
                    self.emit(Event::Node(Pending::Ready(node)));
                    return;
                }
                let counter = if old.is_some_and(|o| o.kind() == NodeKind::File) { &self.ctx.counts.files_changed } else { &self.ctx.counts.files_new };
                counter.fetch_add(1, Ordering::Relaxed);
                self.dispatch(JobSource::File { dir: dir.clone(), name: name.to_os_string(), path: path.to_path_buf(), ident: md.ident }, node);
            }
            NodeKind::Symlink => {
                match dir.with(|d| read_link_at(d, name)) {
                    Ok(t) => node.link_target = t,
                    Err(e) => {
                        self.ctx.error(path, e);
                        return;
                    }
                }
                node.xattrs = dir.with(|d| Ok(xattrs_at(d, name, path))).unwrap_or_default();
                self.emit(Event::Node(Pending::Ready(node)));
            }
            // FIFOs, sockets and devices: recorded, never opened.
            _ => {
                node.xattrs = dir.with(|d| Ok(xattrs_at(d, name, path))).unwrap_or_default();
                self.emit(Event::Node(Pending::Ready(node)));
            }
        }
    }

    fn walk_dir_entries(&mut self, dir: &DirRef, path: &Path, parent: Option<&Tree>, dev: u64) {
        let names = match dir.with(list) {
            Ok(n) => n,
            Err(e) => {
                self.ctx.error(path, e);
                return;
            }
        };
        for n in names {
            if self.ctx.stopped() {
                return;
            }
            let old = parent.and_then(|t| find(t, n.as_bytes()));
            self.walk_entry(dir, &n, &path.join(&n), old, Some(dev));
        }
    }

    fn dispatch(&self, source: JobSource, node: Node) {
        let (tx, rx) = bounded(1);
        if self.jobs.send(FileJob { source, node, reply: tx }).is_ok() {
            self.emit(Event::Node(Pending::File(rx)));
        }
    }

    /// Whether every blob a reused content list names is still indexed.
    fn blobs_present(&self, c: &Content) -> bool {
        let ids = match c {
            Content::Empty => return true,
            Content::Chunks(ids) | Content::Lists(ids) => ids,
        };
        ids.iter().all(|id| self.ctx.repo.readable_in_index(id).unwrap_or(false))
    }
}

fn find<'t>(t: &'t Tree, name: &[u8]) -> Option<&'t Node> {
    t.nodes.binary_search_by(|n| n.name.as_slice().cmp(name)).ok().and_then(|i| t.nodes.get(i))
}

/// A directory no source provides (one that only holds streams).
fn made_up_dir(name: &[u8]) -> Node {
    let ts = super::now_ts();
    Node {
        name: name.to_vec(),
        kind: Some(NodeKind::Dir),
        mode: 0o755,
        uid: uzers::get_current_uid(),
        gid: uzers::get_current_gid(),
        mtime: ts,
        ctime: ts,
        nlink: 1,
        ..Node::default()
    }
}

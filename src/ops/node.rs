//! Converting between the filesystem's metadata and tree nodes: lstat → [`Node`] for backups, and
//! the reverse (mode, owner, times, xattrs) for restores.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::format::tree::{Node, NodeKind, Timestamp};

/// Resolves uid/gid to names, remembering each answer.
#[derive(Default)]
pub struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    pub fn user(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned()).unwrap_or_default())
            .clone()
    }
    pub fn group(&mut self, gid: u32) -> String {
        self.groups
            .entry(gid)
            .or_insert_with(|| uzers::get_group_by_gid(gid).map(|g| g.name().to_string_lossy().into_owned()).unwrap_or_default())
            .clone()
    }
}

/// The node kind of an lstat result.
#[must_use]
pub fn kind_of(md: &Metadata) -> NodeKind {
    let ft = md.file_type();
    if ft.is_dir() {
        NodeKind::Dir
    } else if ft.is_symlink() {
        NodeKind::Symlink
    } else if ft.is_char_device() {
        NodeKind::CharDevice
    } else if ft.is_block_device() {
        NodeKind::BlockDevice
    } else if ft.is_fifo() {
        NodeKind::Fifo
    } else if ft.is_socket() {
        NodeKind::Socket
    } else {
        NodeKind::File
    }
}

/// A node carrying `md`'s metadata (no content, subtree or link target yet).
pub fn node_from_metadata(name: &OsStr, md: &Metadata, names: &mut Names) -> Node {
    let kind = kind_of(md);
    Node {
        name: name.as_bytes().to_vec(),
        kind: Some(kind),
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        user: names.user(md.uid()),
        group: names.group(md.gid()),
        mtime: Timestamp { secs: md.mtime(), nanos: u32::try_from(md.mtime_nsec()).unwrap_or(0) },
        ctime: Timestamp { secs: md.ctime(), nanos: u32::try_from(md.ctime_nsec()).unwrap_or(0) },
        size: if kind == NodeKind::File { md.size() } else { 0 },
        inode: md.ino(),
        device: md.dev(),
        nlink: md.nlink(),
        rdev: if matches!(kind, NodeKind::CharDevice | NodeKind::BlockDevice) { md.rdev() } else { 0 },
        ..Node::default()
    }
}

/// Extended attributes of `path` (not following symlinks); unreadable ones are skipped.
#[must_use]
pub fn read_xattrs(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Ok(names) = xattr::list(path) else { return Vec::new() };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = names
        .filter_map(|n| {
            let v = xattr::get(path, &n).ok().flatten()?;
            Some((n.as_bytes().to_vec(), v))
        })
        .collect();
    out.sort();
    out
}

/// Whether a file looks unchanged since `old` was recorded.
#[must_use]
pub fn unchanged(old: &Node, new: &Node) -> bool {
    old.kind() == NodeKind::File && old.size == new.size && old.mtime == new.mtime && old.ctime == new.ctime && old.inode == new.inode
}

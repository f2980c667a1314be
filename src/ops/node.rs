//! Converting the filesystem's metadata (an lstat) into tree nodes for backups.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use super::fsat::Meta;
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
pub fn kind_of(md: &Meta) -> NodeKind {
    match md.file_type() {
        libc::S_IFDIR => NodeKind::Dir,
        libc::S_IFLNK => NodeKind::Symlink,
        libc::S_IFCHR => NodeKind::CharDevice,
        libc::S_IFBLK => NodeKind::BlockDevice,
        libc::S_IFIFO => NodeKind::Fifo,
        libc::S_IFSOCK => NodeKind::Socket,
        _ => NodeKind::File,
    }
}

/// A node carrying `md`'s metadata (no content, subtree or link target yet).
pub fn node_from_metadata(name: &OsStr, md: &Meta, names: &mut Names) -> Node {
    let kind = kind_of(md);
    Node {
        name: name.as_bytes().to_vec(),
        kind: Some(kind),
        mode: md.mode & 0o7777,
        uid: md.uid,
        gid: md.gid,
        user: names.user(md.uid),
        group: names.group(md.gid),
        mtime: Timestamp { secs: md.mtime.0, nanos: md.mtime.1 },
        ctime: Timestamp { secs: md.ctime.0, nanos: md.ctime.1 },
        size: if kind == NodeKind::File { md.size } else { 0 },
        inode: md.ident.ino,
        device: md.ident.dev,
        nlink: md.nlink,
        rdev: if matches!(kind, NodeKind::CharDevice | NodeKind::BlockDevice) { md.rdev } else { 0 },
        ..Node::default()
    }
}

/// Whether a file looks unchanged since `old` was recorded.
#[must_use]
pub fn unchanged(old: &Node, new: &Node) -> bool {
    old.kind() == NodeKind::File && old.size == new.size && old.mtime == new.mtime && old.ctime == new.ctime && old.inode == new.inode
}

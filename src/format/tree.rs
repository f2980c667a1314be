//! Tree blobs (one per directory) and chunk-list blobs (the id lists of large files), encoded in
//! an explicit binary layout. Decoding refuses names that could escape a restore target.

use super::codec::{DecodeError, Reader, Writer};
use super::id::{BlobId, ID_LEN};

pub const TREE_VERSION: u8 = 1;
pub const LIST_VERSION: u8 = 1;
/// Directories nest at most this deep in a snapshot (spec §10.1): deeper is refused by writers
/// and reported as damage by readers, so no hostile tree can exhaust a stack.
pub const MAX_DEPTH: usize = 4096;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    File = 1,
    Dir = 2,
    Symlink = 3,
    CharDevice = 4,
    BlockDevice = 5,
    Fifo = 6,
    Socket = 7,
}

impl TryFrom<u8> for NodeKind {
    type Error = DecodeError;
    fn try_from(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            1 => Self::File,
            2 => Self::Dir,
            3 => Self::Symlink,
            4 => Self::CharDevice,
            5 => Self::BlockDevice,
            6 => Self::Fifo,
            7 => Self::Socket,
            tag => return Err(DecodeError::UnknownTag { what: "node kind", tag }),
        })
    }
}

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

/// A file's content: its data-blob ids in order, directly or through chunk-list blobs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Content {
    /// The data-blob ids themselves (small files).
    #[default]
    Empty,
    Chunks(Vec<BlobId>),
    /// Ids of [`BlobKind::List`](super::pack::BlobKind) blobs whose concatenation is the id list.
    Lists(Vec<BlobId>),
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The name as the OS gave it (any bytes but `/` and NUL; never `.` or `..`).
    pub name: Vec<u8>,
    pub kind: Option<NodeKind>,
    /// Permission and special bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub user: String,
    pub group: String,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub size: u64,
    pub inode: u64,
    pub device: u64,
    pub nlink: u64,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Files only.
    pub content: Content,
    /// Directories only.
    pub subtree: Option<BlobId>,
    /// Symlinks only.
    pub link_target: Vec<u8>,
    /// Devices only.
    pub rdev: u64,
}

impl Node {
    #[must_use]
    pub fn kind(&self) -> NodeKind {
        self.kind.unwrap_or(NodeKind::File)
    }
    /// The name, lossily as UTF-8, for display.
    #[must_use]
    pub fn name_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }
}

/// Whether `name` may be a single path component inside a snapshot.
#[must_use]
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// A directory: entries sorted by name bytes, names unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

fn put_ts(w: &mut Writer, t: Timestamp) {
    w.varint_signed(t.secs);
    w.varint(u64::from(t.nanos));
}

fn get_ts(r: &mut Reader<'_>) -> Result<Timestamp, DecodeError> {
    let secs = r.varint_signed()?;
    let nanos = r.varint_u32()?;
    if nanos >= 1_000_000_000 {
        return Err(DecodeError::Invalid(format!("nanoseconds {nanos} out of range")));
    }
    Ok(Timestamp { secs, nanos })
}

fn put_ids(w: &mut Writer, ids: &[BlobId]) {
    w.varint(ids.len() as u64);
    for id in ids {
        w.raw(&id.0);
    }
}

fn get_ids(r: &mut Reader<'_>) -> Result<Vec<BlobId>, DecodeError> {
    let n = r.count(ID_LEN)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(BlobId(r.id()?));
    }
    Ok(v)
}

fn utf8(b: &[u8], what: &str) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Invalid(format!("{what} is not UTF-8")))
}

impl Tree {
    /// Sorts entries by name; encoding requires it.
    pub fn sort(&mut self) {
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Encodes the tree. Entries must already be sorted and unique (see [`Tree::sort`]).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(16 + self.nodes.len() * 96);
        w.u8(TREE_VERSION);
        w.varint(self.nodes.len() as u64);
        for n in &self.nodes {
            let kind = n.kind();
            w.bytes(&n.name);
            w.u8(kind as u8);
            w.varint(u64::from(n.mode));
            w.varint(u64::from(n.uid));
            w.varint(u64::from(n.gid));
            w.bytes(n.user.as_bytes());
            w.bytes(n.group.as_bytes());
            put_ts(&mut w, n.mtime);
            put_ts(&mut w, n.ctime);
            w.varint(n.size);
            w.varint(n.inode);
            w.varint(n.device);
            w.varint(n.nlink);
            w.varint(n.xattrs.len() as u64);
            for (k, v) in &n.xattrs {
                w.bytes(k);
                w.bytes(v);
            }
            match kind {
                NodeKind::File => match &n.content {
                    Content::Empty => {
                        w.u8(0);
                        w.varint(0);
                    }
                    Content::Chunks(ids) => {
                        w.u8(0);
                        put_ids(&mut w, ids);
                    }
                    Content::Lists(ids) => {
                        w.u8(1);
                        put_ids(&mut w, ids);
                    }
                },
                NodeKind::Dir => w.raw(&n.subtree.unwrap_or_default().0),
                NodeKind::Symlink => w.bytes(&n.link_target),
                NodeKind::CharDevice | NodeKind::BlockDevice => w.varint(n.rdev),
                NodeKind::Fifo | NodeKind::Socket => {}
            }
        }
        w.finish()
    }

    /// Decodes a tree, refusing unknown versions, unsafe or unsorted names and trailing bytes.
    ///
    /// # Errors
    /// Any malformed input.
    pub fn decode(plain: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(plain);
        let v = r.u8()?;
        if v != TREE_VERSION {
            return Err(DecodeError::UnknownVersion { what: "tree", found: v.into(), supported: TREE_VERSION.into() });
        }
        // The smallest entry (a one-byte name, every number a single varint byte, no xattrs, a
        // fifo) takes 17 bytes.
        let count = r.count(17)?;
        let mut nodes: Vec<Node> = Vec::with_capacity(count);
        for _ in 0..count {
            let name = r.bytes()?.to_vec();
            if !valid_name(&name) {
                return Err(DecodeError::Invalid(format!("unsafe entry name {:?}", String::from_utf8_lossy(&name))));
            }
            if let Some(prev) = nodes.last()
                && prev.name >= name
            {
                return Err(DecodeError::Invalid(format!("entry {:?} out of order or duplicated", String::from_utf8_lossy(&name))));
            }
            let kind = NodeKind::try_from(r.u8()?)?;
            let mut n = Node {
                name,
                kind: Some(kind),
                mode: r.varint_u32()?,
                uid: r.varint_u32()?,
                gid: r.varint_u32()?,
                user: utf8(r.bytes()?, "user name")?,
                group: utf8(r.bytes()?, "group name")?,
                mtime: get_ts(&mut r)?,
                ctime: get_ts(&mut r)?,
                size: r.varint()?,
                inode: r.varint()?,
                device: r.varint()?,
                nlink: r.varint()?,
                ..Node::default()
            };
            let nx = r.count(2)?;
            for _ in 0..nx {
                let k = r.bytes()?.to_vec();
                let v = r.bytes()?.to_vec();
                n.xattrs.push((k, v));
            }
            match kind {
                NodeKind::File => {
                    let form = r.u8()?;
                    let ids = get_ids(&mut r)?;
                    n.content = match (form, ids.is_empty()) {
                        (0, true) => Content::Empty,
                        (0, false) => Content::Chunks(ids),
                        (1, _) => Content::Lists(ids),
                        (tag, _) => return Err(DecodeError::UnknownTag { what: "content form", tag }),
                    };
                }
                NodeKind::Dir => n.subtree = Some(BlobId(r.id()?)),
                NodeKind::Symlink => n.link_target = r.bytes()?.to_vec(),
                NodeKind::CharDevice | NodeKind::BlockDevice => n.rdev = r.varint()?,
                NodeKind::Fifo | NodeKind::Socket => {}
            }
            nodes.push(n);
        }
        r.finish()?;
        Ok(Self { nodes })
    }
}

/// Encodes a chunk-list blob: version, count, ids.
#[must_use]
pub fn encode_list(ids: &[BlobId]) -> Vec<u8> {
    let mut w = Writer::with_capacity(8 + ids.len() * ID_LEN);
    w.u8(LIST_VERSION);
    put_ids(&mut w, ids);
    w.finish()
}

/// # Errors
/// Unknown version, truncation or trailing bytes.
pub fn decode_list(plain: &[u8]) -> Result<Vec<BlobId>, DecodeError> {
    let mut r = Reader::new(plain);
    let v = r.u8()?;
    if v != LIST_VERSION {
        return Err(DecodeError::UnknownVersion { what: "chunk list", found: v.into(), supported: LIST_VERSION.into() });
    }
    let ids = get_ids(&mut r)?;
    r.finish()?;
    Ok(ids)
}

/// Files with more chunks than this keep their id list in chunk-list blobs.
pub const INLINE_CHUNKS_MAX: usize = 64;
/// A chunk-list blob ends after an id whose first four bytes (little-endian) are divisible by
/// this, so unchanged stretches of a large file produce identical list blobs from day to day.
pub const LIST_CUT_MODULUS: u32 = 256;
/// ... or after this many ids, whichever comes first.
pub const LIST_MAX_IDS: usize = 2048;

/// Splits a long id list into content-defined groups (see [`LIST_CUT_MODULUS`]).
#[must_use]
pub fn split_list(ids: &[BlobId]) -> Vec<&[BlobId]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, id) in ids.iter().enumerate() {
        let v = u32::from_le_bytes([id.0[0], id.0[1], id.0[2], id.0[3]]);
        if v % LIST_CUT_MODULUS == 0 || i + 1 - start >= LIST_MAX_IDS {
            out.push(&ids[start..=i]);
            start = i + 1;
        }
    }
    if start < ids.len() {
        out.push(&ids[start..]);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_name() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(any::<u8>(), 1..40).prop_filter("valid", |n| valid_name(n))
    }

    fn arb_node() -> impl Strategy<Value = Node> {
        (
            arb_name(),
            1u8..8,
            (any::<u32>(), any::<u32>(), any::<u32>(), ".{0,8}", ".{0,8}"),
            (any::<i64>(), 0u32..1_000_000_000, any::<i64>(), 0u32..1_000_000_000),
            (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
            proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..10), proptest::collection::vec(any::<u8>(), 0..10)), 0..3),
            (0u8..3, proptest::collection::vec(proptest::array::uniform32(any::<u8>()), 1..5)),
            (proptest::collection::vec(any::<u8>(), 0..30), any::<u64>()),
        )
            .prop_map(|(name, k, (mode, uid, gid, user, group), (ms, mn, cs, cn), (size, inode, device, nlink), xattrs, (form, ids), (target, rdev))| {
                let kind = NodeKind::try_from(k).unwrap_or(NodeKind::File);
                let ids: Vec<BlobId> = ids.into_iter().map(BlobId).collect();
                let mut n = Node {
                    name,
                    kind: Some(kind),
                    mode,
                    uid,
                    gid,
                    user,
                    group,
                    mtime: Timestamp { secs: ms, nanos: mn },
                    ctime: Timestamp { secs: cs, nanos: cn },
                    size,
                    inode,
                    device,
                    nlink,
                    xattrs,
                    ..Node::default()
                };
                match kind {
                    NodeKind::File => {
                        n.content = match form {
                            0 => Content::Empty,
                            1 => Content::Chunks(ids),
                            _ => Content::Lists(ids),
                        }
                    }
                    NodeKind::Dir => n.subtree = ids.first().copied(),
                    NodeKind::Symlink => n.link_target = target,
                    NodeKind::CharDevice | NodeKind::BlockDevice => n.rdev = rdev,
                    _ => {}
                }
                n
            })
    }

    pub(crate) fn arb_tree() -> impl Strategy<Value = Tree> {
        proptest::collection::vec(arb_node(), 0..12).prop_map(|mut nodes| {
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            nodes.dedup_by(|a, b| a.name == b.name);
            Tree { nodes }
        })
    }

    proptest! {
        #[test]
        fn tree_round_trip(t in arb_tree()) {
            let dec = Tree::decode(&t.encode()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(dec, t);
        }

        #[test]
        fn list_round_trip(ids in proptest::collection::vec(proptest::array::uniform32(any::<u8>()), 0..100)) {
            let ids: Vec<BlobId> = ids.into_iter().map(BlobId).collect();
            prop_assert_eq!(decode_list(&encode_list(&ids)).map_err(|e| TestCaseError::fail(e.to_string()))?, ids.clone());
            let joined: Vec<BlobId> = split_list(&ids).concat();
            prop_assert_eq!(joined, ids);
        }

        #[test]
        fn tree_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Tree::decode(&bytes);
        }
    }

    fn tree_named(name: &[u8]) -> Vec<u8> {
        let t = Tree { nodes: vec![Node { name: b"ok".to_vec(), kind: Some(NodeKind::Fifo), ..Node::default() }] };
        let mut enc = t.encode();
        // Replace the 2-byte name "ok" (length prefix at offset 2) with the hostile one.
        let mut out = enc[..2].to_vec();
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&enc.split_off(5));
        out
    }

    #[test]
    fn hostile_names_are_refused() {
        if let Err(e) = Tree::decode(&tree_named(b"ok")) {
            panic!("control case fails: {e}");
        }
        for bad in [&b".."[..], b".", b"a/b", b"/", b"a\0b"] {
            assert!(matches!(Tree::decode(&tree_named(bad)), Err(DecodeError::Invalid(_))), "{bad:?}");
        }
        assert!(Tree::decode(&tree_named(b"")).is_err());
    }

    #[test]
    fn split_list_is_content_defined() {
        let ids: Vec<BlobId> = (0u32..5000).map(|i| BlobId(*blake3::hash(&i.to_le_bytes()).as_bytes())).collect();
        let a = split_list(&ids);
        let mut changed = ids.clone();
        changed[2500] = BlobId([7; 32]);
        let b = split_list(&changed);
        let same = a.iter().filter(|g| b.contains(g)).count();
        assert!(a.len() > 5 && same + 2 >= a.len(), "{} of {} groups survive", same, a.len());
    }
}

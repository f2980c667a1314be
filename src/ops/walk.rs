//! Walking what snapshots reference: every tree, chunk-list and data blob reachable from a root
//! tree, with the path it was reached by. Shared by check and prune.

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::format::pack::BlobKind;
use crate::format::tree::{decode_list, Content, Node, NodeKind, MAX_DEPTH};
use crate::format::BlobId;
use crate::repo::Repository;

/// Receives what a walk finds.
pub trait Visitor {
    /// A blob referenced at `path`.
    fn blob(&mut self, kind: BlobKind, id: &BlobId, path: &str);
    /// A tree or list at `path` could not be loaded; what lies below it is unknown.
    fn damaged(&mut self, kind: BlobKind, id: &BlobId, path: &str, err: Error);
    /// A file at `path` whose node says `size` bytes, made of `chunks` in order (called only
    /// when all of its chunk lists could be read).
    fn file(&mut self, _path: &str, _size: u64, _chunks: &[BlobId]) {}
}

/// Walks the tree `root`. Trees and lists already in `seen` are not walked again, so walking
/// many snapshots costs each shared subtree once. The walk keeps its own stack, so a hostile
/// repository's deep (or cyclic) trees cost heap, not the thread's stack; a tree nested deeper
/// than [`MAX_DEPTH`] is reported as damaged.
///
/// # Errors
/// Only errors of the visitor's making; load failures go to [`Visitor::damaged`].
/// With `fresh`, trees are read from the repository even when the local cache has them.
pub fn walk(repo: &Repository, root: &BlobId, path: &str, fresh: bool, seen: &mut HashSet<BlobId>, v: &mut dyn Visitor) -> Result<()> {
    let mut stack: Vec<(BlobId, String, usize)> = vec![(*root, path.to_string(), 0)];
    while let Some((id, path, depth)) = stack.pop() {
        v.blob(BlobKind::Tree, &id, &path);
        if !seen.insert(id) {
            continue;
        }
        if depth > MAX_DEPTH {
            v.damaged(BlobKind::Tree, &id, &path, Error::corrupt("tree", id, format!("nested deeper than {MAX_DEPTH} levels")));
            continue;
        }
        let loaded = if fresh { repo.load_tree_fresh(&id) } else { repo.load_tree(&id) };
        let tree = match loaded {
            Ok(t) => t,
            Err(e) => {
                v.damaged(BlobKind::Tree, &id, &path, e);
                continue;
            }
        };
        // Subtrees go on the stack in reverse, so they are walked in name order.
        let mut subtrees = Vec::new();
        for n in &tree.nodes {
            let p = format!("{}/{}", path.trim_end_matches('/'), n.name_lossy());
            match n.kind() {
                NodeKind::Dir => {
                    if let Some(sub) = n.subtree {
                        subtrees.push((sub, p, depth + 1));
                    }
                }
                NodeKind::File => file(repo, n, &p, seen, v),
                _ => {}
            }
        }
        stack.extend(subtrees.into_iter().rev());
    }
    Ok(())
}

/// Reports a file node's blobs (and reads its chunk lists).
fn file(repo: &Repository, n: &Node, p: &str, seen: &mut HashSet<BlobId>, v: &mut dyn Visitor) {
    match &n.content {
        Content::Empty => v.file(p, n.size, &[]),
        Content::Chunks(ids) => {
            ids.iter().for_each(|id| v.blob(BlobKind::Data, id, p));
            v.file(p, n.size, ids);
        }
        Content::Lists(lists) => {
            // A list already walked is not read again, so the file's chunks are known only
            // when every list is read here.
            let mut all: Option<Vec<BlobId>> = Some(Vec::new());
            for l in lists {
                v.blob(BlobKind::List, l, p);
                if !seen.insert(*l) {
                    all = None;
                    continue;
                }
                match repo.read_blob(l).and_then(|b| decode_list(&b).map_err(|e| Error::decode("chunk list", l, e))) {
                    Ok(ids) => {
                        ids.iter().for_each(|id| v.blob(BlobKind::Data, id, p));
                        if let Some(a) = &mut all {
                            a.extend(ids);
                        }
                    }
                    Err(e) => {
                        v.damaged(BlobKind::List, l, p, e);
                        all = None;
                    }
                }
            }
            if let Some(a) = all {
                v.file(p, n.size, &a);
            }
        }
    }
}

/// Collects the ids of every blob reachable from the given roots; fails on the first damaged
/// tree or list, because then what it references is unknown.
///
/// # Errors
/// A tree or chunk list that cannot be loaded.
pub fn referenced(repo: &Repository, roots: &[BlobId]) -> Result<HashSet<BlobId>> {
    struct Collect {
        used: HashSet<BlobId>,
        err: Option<Error>,
    }
    impl Visitor for Collect {
        fn blob(&mut self, _: BlobKind, id: &BlobId, _: &str) {
            self.used.insert(*id);
        }
        fn damaged(&mut self, _: BlobKind, _: &BlobId, path: &str, err: Error) {
            self.err.get_or_insert(Error::At { path: path.to_string(), source: Box::new(err) });
        }
    }
    let mut c = Collect { used: HashSet::new(), err: None };
    let mut seen = HashSet::new();
    for r in roots {
        walk(repo, r, "/", false, &mut seen, &mut c)?;
    }
    match c.err {
        Some(e) => Err(e),
        None => Ok(c.used),
    }
}

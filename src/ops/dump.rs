//! `dump`: a file's content to a writer in order (reading ahead in parallel), or a directory as a
//! tar stream — how a database dump goes straight into `psql`.

use std::io::Write;

use super::select::node_at;
use crate::error::{Error, Result};
use crate::format::snapshot::Snapshot;
use crate::format::tree::{Node, NodeKind, MAX_DEPTH};
use crate::format::{BlobId, SnapshotId};
use crate::index::BlobLocation;
use crate::repo::{runs, Repository};

/// Plaintext bytes fetched and verified together, ahead of the writer: one batch of ranged
/// reads (see [`Repository::read_blobs`]), opened in parallel. Twice as much on remote
/// storage, where each stretch read is a round trip.
const WINDOW_BYTES: u64 = 4 << 20;
const REMOTE_WINDOW_BYTES: u64 = 8 << 20;
/// Windows read ahead while the writer writes (memory: this many windows of blobs).
const WINDOWS_AHEAD: usize = 2;

/// Writes the file or directory at `path` of the snapshot to `out`.
///
/// # Errors
/// Path not found, damaged or missing blobs (nothing unverified is written), or write errors
/// (a broken pipe arrives as an [`Error::Io`] with kind `BrokenPipe`).
pub fn dump(repo: &Repository, id: &SnapshotId, snap: &Snapshot, path: &str, out: &mut dyn Write) -> Result<()> {
    let node = node_at(repo, id, snap, path)?;
    match node.kind() {
        NodeKind::File => {
            write_content(repo, &node, out)?;
            out.flush().map_err(|e| Error::io("<stdout>", e))
        }
        NodeKind::Dir => {
            let mut tar = tar::Builder::new(out);
            tar.mode(tar::HeaderMode::Complete);
            let name = path.trim_matches('/').rsplit('/').next().unwrap_or("").to_string();
            let root = if name.is_empty() { ".".to_string() } else { name };
            append_dir(repo, &mut tar, &node, &root, 0)?;
            tar.into_inner().map_err(|e| Error::io("<stdout>", e))?.flush().map_err(|e| Error::io("<stdout>", e))
        }
        other => Err(Error::Usage(format!("{path} is a {other:?}, not a file or directory"))),
    }
}

/// A file node's chunks with where each is stored, once their sizes (from the index) are found
/// to add up to the size the node records.
///
/// # Errors
/// Missing chunk lists or chunks, or a size that does not add up.
fn located_chunks(repo: &Repository, node: &Node) -> Result<Vec<(BlobId, BlobLocation)>> {
    let ids = repo.file_chunks(node)?;
    let mut chunks = Vec::with_capacity(ids.len());
    let mut total = 0u64;
    for id in ids {
        let loc = repo.locate(&id)?;
        total += u64::from(loc.raw_length);
        chunks.push((id, loc));
    }
    if total != node.size {
        return Err(Error::corrupt("file", node.name_lossy(), format!("its node says {} bytes but its chunks hold {total}", node.size)));
    }
    Ok(chunks)
}

/// `chunks` cut into runs of about [`WINDOW_BYTES`] of plaintext.
fn windows<'c>(repo: &Repository, chunks: &'c [(BlobId, BlobLocation)]) -> impl Iterator<Item = &'c [(BlobId, BlobLocation)]> {
    let window = if repo.is_remote() { REMOTE_WINDOW_BYTES } else { WINDOW_BYTES };
    runs(chunks, window, |(_, l)| u64::from(l.raw_length))
}

/// Writes a file node's content in order, verifying each blob. Before anything is written, the
/// chunks' sizes must add up to the size the node records; then a reader thread fetches, opens
/// and verifies the next windows of blobs (with the delta bases they need) while this thread
/// writes the current one.
///
/// # Errors
/// Missing or damaged blobs, a size that does not add up, or write errors.
pub fn write_content(repo: &Repository, node: &Node, out: &mut dyn Write) -> Result<()> {
    let chunks = located_chunks(repo, node)?;
    std::thread::scope(|s| {
        let (tx, rx) = crossbeam_channel::bounded::<Result<Vec<Vec<u8>>>>(WINDOWS_AHEAD);
        let chunks = &chunks;
        s.spawn(move || {
            for window in windows(repo, chunks) {
                let blobs = repo.read_blobs(window);
                let failed = blobs.is_err();
                // The writer has stopped (an error, a closed pipe): stop reading too.
                if tx.send(blobs).is_err() || failed {
                    break;
                }
            }
        });
        for blobs in rx {
            for b in blobs? {
                out.write_all(&b).map_err(|e| Error::io("<stdout>", e))?;
            }
        }
        Ok(())
    })
}

fn header_for(n: &Node, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(n.mode);
    h.set_uid(u64::from(n.uid));
    h.set_gid(u64::from(n.gid));
    let _ = h.set_username(&n.user);
    let _ = h.set_groupname(&n.group);
    h.set_mtime(u64::try_from(n.mtime.secs).unwrap_or(0));
    h.set_size(size);
    h
}

fn append_dir<W: Write>(repo: &Repository, tar: &mut tar::Builder<W>, dir: &Node, path: &str, depth: usize) -> Result<()> {
    let io = |e: std::io::Error| Error::io("<stdout>", e);
    let mut h = header_for(dir, tar::EntryType::Directory, 0);
    tar.append_data(&mut h, format!("{path}/"), std::io::empty()).map_err(io)?;
    let Some(sub) = dir.subtree else { return Ok(()) };
    if depth >= MAX_DEPTH {
        return Err(Error::corrupt("tree", sub, format!("{path} is nested deeper than {MAX_DEPTH} levels")));
    }
    let tree = repo.load_tree(&sub)?;
    for n in &tree.nodes {
        let p = format!("{path}/{}", n.name_lossy());
        match n.kind() {
            NodeKind::Dir => append_dir(repo, tar, n, &p, depth + 1)?,
            NodeKind::File => {
                let chunks = located_chunks(repo, n)?;
                let mut h = header_for(n, tar::EntryType::Regular, n.size);
                tar.append_data(&mut h, &p, ContentReader { repo, chunks, next: 0, blobs: Vec::new(), pos: 0 }).map_err(io)?;
            }
            NodeKind::Symlink => {
                let mut h = header_for(n, tar::EntryType::Symlink, 0);
                let target = String::from_utf8_lossy(&n.link_target).into_owned();
                tar.append_link(&mut h, &p, target).map_err(io)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads a file's content a window of blobs at a time, verifying each, so a tar entry never
/// needs the whole file in memory.
struct ContentReader<'r> {
    repo: &'r Repository,
    chunks: Vec<(BlobId, BlobLocation)>,
    /// The first chunk not yet fetched.
    next: usize,
    /// The fetched window, reversed (the blob being read last), and the position in it.
    blobs: Vec<Vec<u8>>,
    pos: usize,
}

impl std::io::Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.blobs.last().is_none_or(|b| self.pos == b.len()) {
            if self.blobs.pop().is_some() {
                self.pos = 0;
                continue;
            }
            let rest = self.chunks.get(self.next..).unwrap_or_default();
            let Some(window) = windows(self.repo, rest).next() else { return Ok(0) };
            self.next += window.len();
            self.blobs = self.repo.read_blobs(window).map_err(std::io::Error::other)?;
            self.blobs.reverse();
            self.pos = 0;
        }
        let Some(b) = self.blobs.last() else { return Ok(0) };
        let n = out.len().min(b.len() - self.pos);
        out[..n].copy_from_slice(&b[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

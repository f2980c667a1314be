//! After a drill restores a snapshot's files, this compares what is on disk with what the
//! snapshot says: every entry present with its kind, every file with its size, every entry with
//! its permission bits, every symlink with its target, and nothing on disk that the snapshot
//! lacks. The content itself was verified blob by blob as it was restored.

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::tree::{NodeKind, MAX_DEPTH};
use crate::format::BlobId;
use crate::repo::Repository;

/// At most this many differences are listed; the count covers all of them.
const LISTED: usize = 20;

/// What the comparison found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub other: u64,
    /// The sum of the files' sizes.
    pub bytes: u64,
    /// Differences, one line each (the first [`LISTED`]).
    pub differences: Vec<String>,
    pub difference_count: u64,
}

impl Comparison {
    fn differ(&mut self, line: String) {
        self.difference_count += 1;
        if self.differences.len() < LISTED {
            self.differences.push(line);
        }
    }
}

/// Compares the tree `root` of a snapshot with its restore under `target`. Entries at the
/// paths in `skip` (database dumps, which a drill loads instead of writing out) and directories
/// that only lead to them are not expected on disk.
///
/// # Errors
/// A tree that cannot be loaded (damage: the drill fails naming it).
pub fn compare(repo: &Repository, root: &BlobId, target: &Path, skip: &[String], compare_special_bits: bool) -> Result<Comparison> {
    let skip: HashSet<&str> = skip.iter().map(String::as_str).collect();
    let leads_to_skipped = |dir: &str| skip.iter().any(|s| s.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')));
    let mut out = Comparison::default();
    let mut expected: HashSet<PathBuf> = HashSet::new();
    let mut stack: Vec<(BlobId, String, PathBuf, usize)> = vec![(*root, String::new(), target.to_path_buf(), 0)];
    while let Some((id, dir, disk_dir, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(Error::corrupt("tree", id, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let tree = repo.load_tree(&id).map_err(|e| Error::At { path: if dir.is_empty() { "/".into() } else { dir.clone() }, source: Box::new(e) })?;
        for n in &tree.nodes {
            let path = format!("{dir}/{}", n.name_lossy());
            if skip.contains(path.as_str()) {
                continue;
            }
            let on_disk = disk_dir.join(std::ffi::OsStr::from_bytes(&n.name));
            let kind = n.kind();
            if kind == NodeKind::Dir && leads_to_skipped(&path) && !on_disk.exists() {
                // Only dumps below it, or the restore left it out with them: either way, look below.
                if let Some(sub) = n.subtree {
                    stack.push((sub, path, on_disk, depth + 1));
                }
                continue;
            }
            expected.insert(on_disk.clone());
            let md = match std::fs::symlink_metadata(&on_disk) {
                Ok(md) => md,
                Err(_) => {
                    out.differ(format!("{path}: missing"));
                    continue;
                }
            };
            let ft = md.file_type();
            let same_kind = match kind {
                NodeKind::File => ft.is_file(),
                NodeKind::Dir => ft.is_dir(),
                NodeKind::Symlink => ft.is_symlink(),
                NodeKind::CharDevice => ft.is_char_device(),
                NodeKind::BlockDevice => ft.is_block_device(),
                NodeKind::Fifo => ft.is_fifo(),
                NodeKind::Socket => ft.is_socket(),
            };
            if !same_kind {
                out.differ(format!("{path}: restored as another kind of entry"));
                continue;
            }
            let mask = if compare_special_bits { 0o7777 } else { 0o777 };
            if kind != NodeKind::Symlink && md.mode() & mask != n.mode & mask {
                out.differ(format!("{path}: mode {:o}, the snapshot has {:o}", md.mode() & mask, n.mode & mask));
            }
            match kind {
                NodeKind::File => {
                    out.files += 1;
                    out.bytes += md.len();
                    if md.len() != n.size {
                        out.differ(format!("{path}: {} bytes, the snapshot has {}", md.len(), n.size));
                    }
                }
                NodeKind::Dir => {
                    out.dirs += 1;
                    if let Some(sub) = n.subtree {
                        stack.push((sub, path, on_disk, depth + 1));
                    }
                }
                NodeKind::Symlink => {
                    out.links += 1;
                    match std::fs::read_link(&on_disk) {
                        Ok(t) if t.as_os_str().as_bytes() == n.link_target.as_slice() => {}
                        Ok(t) => out.differ(format!("{path}: points to {}, the snapshot says {}", t.display(), String::from_utf8_lossy(&n.link_target))),
                        Err(e) => out.differ(format!("{path}: link unreadable: {e}")),
                    }
                }
                _ => out.other += 1,
            }
        }
    }
    // Anything on disk that the snapshot does not hold.
    let mut dirs = vec![target.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io(&d, e))?;
            let p = e.path();
            if !expected.contains(&p) && !(e.file_type().is_ok_and(|t| t.is_dir()) && leads_to_skipped(&format!("/{}", p.strip_prefix(target).unwrap_or(&p).display()))) {
                out.differ(format!("/{}: on disk but not in the snapshot", p.strip_prefix(target).unwrap_or(&p).display()));
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(p);
            }
        }
    }
    Ok(out)
}

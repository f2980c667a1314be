//! `restore`: plans every directory, file and link of a snapshot, then reads each needed pack
//! region once, in parallel, verifies every blob against its id and writes it with `pwrite` into
//! a temporary file that is renamed into place only when complete. Every write goes through
//! [`target::Target`], which never follows a link.

pub mod once;
mod target;

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use parking_lot::Mutex;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::format::snapshot::Snapshot;
use crate::format::tree::{Node, NodeKind};
use crate::format::{BlobId, PackId};
use crate::index::BlobLocation;
use crate::ops::fsat::Ident;
use crate::repo::Repository;
use self::target::{split, Target};

/// Reads of one pack closer than this are merged into one request.
const MERGE_GAP: u64 = 256 * 1024;

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub target: PathBuf,
    /// Globs over snapshot paths (`/etc/nginx/*`); when given, only matching entries (and what
    /// lies below them) are restored.
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOutcome {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub bytes: u64,
    /// Entries that could not be restored, with the reason. Nothing is left under their name.
    pub errors: Vec<String>,
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct RestoreProgress {
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
}

struct FilePlan {
    rel: PathBuf,
    /// `rel` as its directory and name.
    dir: PathBuf,
    name: OsString,
    node: Node,
    /// The temporary file beside it, and what it was created as.
    tmp: OsString,
    tmp_ident: Option<Ident>,
    remaining: AtomicUsize,
    failed: AtomicBool,
}

struct Plan {
    /// Directories with whether they are selected themselves (or lie below a selected one).
    dirs: Vec<(PathBuf, Node, bool)>,
    files: Vec<FilePlan>,
    /// (link path, path of the first file with the same inode)
    hardlinks: Vec<(PathBuf, PathBuf)>,
    others: Vec<(PathBuf, Node)>,
}

/// Restores a snapshot under `opts.target`.
///
/// # Errors
/// Bad patterns, unsafe trees (refused before anything is written), target errors. Per-file
/// failures (damaged blobs, full disk) are collected in [`RestoreOutcome::errors`].
pub fn restore(repo: &Repository, snap: &Snapshot, opts: &RestoreOptions, progress: &RestoreProgress) -> Result<RestoreOutcome> {
    let filter = Filter::new(&opts.includes, &opts.excludes)?;
    let mut plan = Plan { dirs: Vec::new(), files: Vec::new(), hardlinks: Vec::new(), others: Vec::new() };
    let mut inodes: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let root = Node { kind: Some(NodeKind::Dir), subtree: Some(snap.tree), mode: 0o755, ..Node::default() };
    walk_plan(repo, &root, Path::new(""), &filter, false, &mut plan, &mut inodes)?;
    // Drop directories that hold nothing selected (only relevant with --include).
    if !opts.includes.is_empty() {
        let used: Vec<PathBuf> = plan.files.iter().map(|f| f.rel.clone()).chain(plan.others.iter().map(|o| o.0.clone())).chain(plan.hardlinks.iter().map(|h| h.0.clone())).collect();
        plan.dirs.retain(|(d, _, included)| d.as_os_str().is_empty() || *included || used.iter().any(|u| u.starts_with(d)));
    }

    let mut target = Target::new(&opts.target)?;
    for (rel, _, _) in &plan.dirs {
        target.make_dir(rel)?;
    }
    let target = target;

    // Map every needed blob to the places it goes.
    let mut by_pack: HashMap<PackId, BTreeMap<u32, (BlobId, BlobLocation, Vec<(usize, u64)>)>> = HashMap::new();
    let errors = Mutex::new(Vec::new());
    for (fi, f) in plan.files.iter().enumerate() {
        let mut off = 0u64;
        let chunks = match repo.file_chunks(&f.node) {
            Ok(c) => c,
            Err(e) => {
                errors.lock().push(format!("{}: {e}", display(&f.rel)));
                f.failed.store(true, Ordering::SeqCst);
                continue;
            }
        };
        let mut count = 0usize;
        for id in chunks {
            let loc = match repo.locate(&id) {
                Ok(l) => l,
                Err(e) => {
                    errors.lock().push(format!("{}: {e}", display(&f.rel)));
                    f.failed.store(true, Ordering::SeqCst);
                    break;
                }
            };
            by_pack.entry(loc.pack).or_default().entry(loc.offset).or_insert_with(|| (id, loc, Vec::new())).2.push((fi, off));
            off += u64::from(loc.raw_length);
            count += 1;
        }
        f.remaining.store(count, Ordering::SeqCst);
        progress.bytes_total.fetch_add(off, Ordering::Relaxed);
    }

    // Create every temporary file at its final size (holes stay sparse). Files come in tree
    // order, so one directory descriptor serves a whole directory.
    let mut at: Option<(PathBuf, std::os::fd::OwnedFd)> = None;
    for f in &mut plan.files {
        if f.failed.load(Ordering::SeqCst) {
            continue;
        }
        if at.as_ref().is_none_or(|(d, _)| *d != f.dir) {
            at = target.open_dir(&f.dir).ok().map(|fd| (f.dir.clone(), fd));
        }
        let created = match &at {
            Some((_, fd)) => Target::create_temp(fd.as_fd(), &f.tmp, f.node.size),
            None => target.open_dir(&f.dir).and_then(|fd| Target::create_temp(fd.as_fd(), &f.tmp, f.node.size)),
        };
        match created {
            Ok(ident) => f.tmp_ident = Some(ident),
            Err(e) => {
                errors.lock().push(format!("{}: {e}", display(&f.rel)));
                f.failed.store(true, Ordering::SeqCst);
            }
        }
    }
    drop(at);

    let finish_file = |f: &FilePlan| {
        if f.failed.load(Ordering::SeqCst) {
            return;
        }
        let Some(ident) = f.tmp_ident else { return };
        let done = target.finish_file(&f.dir, &f.tmp, ident, &f.name, &f.node);
        if let Err(e) = done {
            errors.lock().push(format!("{}: {e}", display(&f.rel)));
            f.failed.store(true, Ordering::SeqCst);
        }
    };
    for f in &plan.files {
        if f.remaining.load(Ordering::SeqCst) == 0 {
            finish_file(f);
        }
    }

    let packs: Vec<_> = by_pack.into_iter().collect();
    packs.par_iter().for_each(|(pack, blobs)| {
        for region in regions(blobs.values()) {
            let (start, end) = (u64::from(region[0].1.offset), region.iter().map(|b| u64::from(b.1.offset) + u64::from(b.1.length)).max().unwrap_or(0));
            let data = repo.read_pack_range(pack, start, end - start);
            for (id, loc, targets) in region {
                let plain = data.as_ref().map_err(|e| e.to_string()).and_then(|d| {
                    let s = (u64::from(loc.offset) - start) as usize;
                    let sealed = d.get(s..s + loc.length as usize).ok_or_else(|| "short read".to_string())?;
                    repo.open_blob(loc.kind, id, loc.compression, loc.raw_length, loc.base.as_ref(), sealed).map_err(|e| e.to_string())
                });
                let zero = plain.as_ref().is_ok_and(|p| p.iter().all(|&b| b == 0));
                for &(fi, off) in targets {
                    let Some(f) = plan.files.get(fi) else { continue };
                    if f.failed.load(Ordering::SeqCst) {
                        continue;
                    }
                    let written = match &plain {
                        Ok(p) if zero => Ok(p.len()),
                        Ok(p) => match f.tmp_ident {
                            Some(ident) => target.write_temp(&f.dir, &f.tmp, ident, p, off).map(|()| p.len()).map_err(|e| e.to_string()),
                            None => Err("not created".to_string()),
                        },
                        Err(e) => Err(e.clone()),
                    };
                    match written {
                        Ok(n) => {
                            progress.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
                            if f.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
                                finish_file(f);
                            }
                        }
                        Err(e) => {
                            if !f.failed.swap(true, Ordering::SeqCst) {
                                errors.lock().push(format!("{}: {e}", display(&f.rel)));
                            }
                        }
                    }
                }
            }
        }
    });

    let mut out = RestoreOutcome::default();
    for f in &plan.files {
        if f.failed.load(Ordering::SeqCst) {
            if f.tmp_ident.is_some()
                && let Err(e) = target.remove_temp(&f.dir, &f.tmp)
            {
                errors.lock().push(format!("{}: temporary file {} left in place: {e}", display(&f.rel), f.tmp.to_string_lossy()));
            }
        } else {
            out.files += 1;
            out.bytes += f.node.size;
        }
    }
    let failed: std::collections::HashSet<&Path> = plan.files.iter().filter(|f| f.failed.load(Ordering::SeqCst)).map(|f| f.rel.as_path()).collect();
    for (link, first) in &plan.hardlinks {
        if failed.contains(first.as_path()) {
            continue;
        }
        let ((first_dir, first_name), (link_dir, link_name)) = (split(first), split(link));
        match target.hard_link(&first_dir, &first_name, &link_dir, &link_name) {
            Ok(()) => out.links += 1,
            Err(e) => errors.lock().push(format!("{}: {e}", display(link))),
        }
    }
    for (rel, node) in &plan.others {
        let (dir, name) = split(rel);
        if let Err(e) = target.special(&dir, &name, node) {
            errors.lock().push(format!("{}: {e}", display(rel)));
        } else {
            out.links += u64::from(node.kind() == NodeKind::Symlink);
        }
    }
    // Directory metadata last, deepest first, so writing inside does not disturb mtimes.
    for (rel, node, _) in plan.dirs.iter().rev() {
        if let Err(e) = target.dir_meta(rel, node) {
            errors.lock().push(format!("{}: {e}", display(rel)));
        }
        out.dirs += 1;
    }
    out.errors = errors.into_inner();
    Ok(out)
}

fn display(rel: &Path) -> String {
    format!("/{}", rel.display())
}

/// Groups the blobs of one pack (sorted by offset) into runs read with one request each.
fn regions<'a, I>(blobs: I) -> Vec<Vec<&'a (BlobId, BlobLocation, Vec<(usize, u64)>)>>
where
    I: Iterator<Item = &'a (BlobId, BlobLocation, Vec<(usize, u64)>)>,
{
    let mut out: Vec<Vec<&'a (BlobId, BlobLocation, Vec<(usize, u64)>)>> = Vec::new();
    let mut end = 0u64;
    for b in blobs {
        let off = u64::from(b.1.offset);
        match out.last_mut() {
            Some(r) if off <= end + MERGE_GAP => r.push(b),
            _ => out.push(vec![b]),
        }
        end = end.max(off + u64::from(b.1.length));
    }
    out
}

fn walk_plan(repo: &Repository, dir: &Node, rel: &Path, filter: &Filter, included_dir: bool, plan: &mut Plan, inodes: &mut HashMap<(u64, u64), PathBuf>) -> Result<()> {
    plan.dirs.push((rel.to_path_buf(), dir.clone(), included_dir));
    let parent_included = included_dir;
    let Some(sub) = dir.subtree else { return Ok(()) };
    let tree = repo.load_tree(&sub)?;
    for n in tree.nodes {
        let child = rel.join(OsStr::from_bytes(&n.name));
        if filter.excluded(&child) {
            continue;
        }
        let included = parent_included || filter.included_self(&child);
        match n.kind() {
            NodeKind::Dir => walk_plan(repo, &n, &child, filter, included, plan, inodes)?,
            _ if !included && filter.has_includes() => {}
            NodeKind::File => {
                if n.nlink > 1 {
                    if let Some(first) = inodes.get(&(n.device, n.inode)) {
                        plan.hardlinks.push((child, first.clone()));
                        continue;
                    }
                    inodes.insert((n.device, n.inode), child.clone());
                }
                // Short and unique whatever the name: `.snap-tmp-<pid>-<n>` beside the final file.
                let tmp = OsString::from(format!(".snap-tmp-{}-{}", std::process::id(), plan.files.len()));
                let (dir, name) = split(&child);
                plan.files.push(FilePlan { rel: child, dir, name, node: n, tmp, tmp_ident: None, remaining: AtomicUsize::new(0), failed: AtomicBool::new(false) });
            }
            _ => plan.others.push((child, n)),
        }
    }
    Ok(())
}

/// Include and exclude globs over snapshot paths (`/a/b`).
struct Filter {
    includes: Option<GlobSet>,
    excludes: GlobSet,
}

fn globset(patterns: &[String]) -> Result<GlobSet> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let pat = if p.starts_with('/') { p.trim_end_matches('/').to_string() } else { format!("**/{}", p.trim_end_matches('/')) };
        b.add(GlobBuilder::new(&pat).literal_separator(true).build().map_err(|e| Error::Usage(format!("bad pattern {p:?}: {e}")))?);
    }
    b.build().map_err(|e| Error::Usage(format!("bad patterns: {e}")))
}

impl Filter {
    fn new(includes: &[String], excludes: &[String]) -> Result<Self> {
        Ok(Self { includes: if includes.is_empty() { None } else { Some(globset(includes)?) }, excludes: globset(excludes)? })
    }
    fn abs(rel: &Path) -> PathBuf {
        Path::new("/").join(rel)
    }
    fn has_includes(&self) -> bool {
        self.includes.is_some()
    }
    fn included_self(&self, rel: &Path) -> bool {
        self.includes.as_ref().is_none_or(|g| g.is_match(Self::abs(rel)))
    }
    fn excluded(&self, rel: &Path) -> bool {
        self.excludes.is_match(Self::abs(rel))
    }
}

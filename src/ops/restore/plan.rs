//! What a restore covers: every directory, file, link and special file of the snapshot that the
//! include and exclude globs select, in tree order, with where `--delete` may remove what the
//! snapshot does not have.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::target::split;
use super::Decision;
use crate::error::{Error, Result};
use crate::format::tree::{Node, NodeKind};
use crate::format::BlobId;
use crate::index::BlobLocation;
use crate::ops::fsat::{Ident, Meta};
use crate::repo::Repository;

pub(super) struct DirPlan {
    pub rel: PathBuf,
    pub node: Node,
    /// Selected itself or below a selected directory (not only an ancestor of what is).
    pub included: bool,
    /// At or below one of the snapshot's backed-up paths: a directory the snapshot holds whole,
    /// where `--delete` may act.
    pub owned: bool,
    /// The names of its entries in the snapshot (all of them, selected or not).
    pub names: HashSet<OsString>,
    pub decision: Decision,
    /// What stood at its place before the restore.
    pub existing: Option<Meta>,
}

pub(super) struct FilePlan {
    pub rel: PathBuf,
    /// `rel` as its directory and name.
    pub dir: PathBuf,
    pub name: OsString,
    pub node: Node,
    /// The data blobs in order, with where each is stored.
    pub chunks: Vec<(BlobId, BlobLocation)>,
    pub decision: Decision,
    pub existing: Option<Meta>,
    /// The temporary file beside it, and what it was created as.
    pub tmp: OsString,
    pub tmp_ident: Option<Ident>,
    pub remaining: AtomicUsize,
    pub failed: AtomicBool,
}

/// A symbolic link, FIFO or device node.
pub(super) struct OtherPlan {
    pub rel: PathBuf,
    pub node: Node,
    pub decision: Decision,
}

pub(super) struct LinkPlan {
    pub rel: PathBuf,
    /// The index in [`Plan::files`] of the first name of the same inode.
    pub first: usize,
    pub decision: Decision,
}

pub(super) struct Plan {
    pub dirs: Vec<DirPlan>,
    pub files: Vec<FilePlan>,
    pub hardlinks: Vec<LinkPlan>,
    pub others: Vec<OtherPlan>,
}

/// Walks the snapshot's tree and lists what the restore covers. FIFOs and device nodes are left
/// out without `special`; sockets always are.
pub(super) fn plan(repo: &Repository, root: &Node, paths: &[String], filter: &Filter, special: bool) -> Result<Plan> {
    let mut plan = Plan { dirs: Vec::new(), files: Vec::new(), hardlinks: Vec::new(), others: Vec::new() };
    let owned: Vec<PathBuf> = paths.iter().map(|p| PathBuf::from(p.trim_start_matches('/'))).collect();
    let mut walk = Walk { repo, filter, special, owned: &owned, plan: &mut plan, inodes: HashMap::new() };
    walk.dir(root, Path::new(""), false)?;
    // Drop directories that hold nothing selected (only relevant with --include).
    if filter.has_includes() {
        let used: Vec<&Path> = plan.files.iter().map(|f| f.rel.as_path()).chain(plan.others.iter().map(|o| o.rel.as_path())).chain(plan.hardlinks.iter().map(|h| h.rel.as_path())).collect();
        plan.dirs.retain(|d| d.rel.as_os_str().is_empty() || d.included || used.iter().any(|u| u.starts_with(&d.rel)));
    }
    Ok(plan)
}

struct Walk<'a> {
    repo: &'a Repository,
    filter: &'a Filter,
    special: bool,
    owned: &'a [PathBuf],
    plan: &'a mut Plan,
    inodes: HashMap<(u64, u64), usize>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Node, rel: &Path, included_dir: bool) -> Result<()> {
        let tree = match dir.subtree {
            Some(sub) => self.repo.load_tree(&sub)?.nodes,
            None => Vec::new(),
        };
        let names = tree.iter().map(|n| OsStr::from_bytes(&n.name).to_os_string()).collect();
        let owned = self.owned.iter().any(|o| rel.starts_with(o));
        self.plan.dirs.push(DirPlan { rel: rel.to_path_buf(), node: dir.clone(), included: included_dir, owned, names, decision: Decision::Pending, existing: None });
        for n in tree {
            let child = rel.join(OsStr::from_bytes(&n.name));
            if self.filter.excluded(&child) {
                continue;
            }
            let included = included_dir || self.filter.included_self(&child);
            match n.kind() {
                NodeKind::Dir => self.dir(&n, &child, included)?,
                _ if !included && self.filter.has_includes() => {}
                NodeKind::File => {
                    if n.nlink > 1 {
                        if let Some(&first) = self.inodes.get(&(n.device, n.inode)) {
                            self.plan.hardlinks.push(LinkPlan { rel: child, first, decision: Decision::Pending });
                            continue;
                        }
                        self.inodes.insert((n.device, n.inode), self.plan.files.len());
                    }
                    // Short and unique whatever the name: `.snap-tmp-<pid>-<n>` beside the final file.
                    let tmp = OsString::from(format!("{TEMP_PREFIX}{}-{}", std::process::id(), self.plan.files.len()));
                    let (dir, name) = split(&child);
                    self.plan.files.push(FilePlan {
                        rel: child,
                        dir,
                        name,
                        node: n,
                        chunks: Vec::new(),
                        decision: Decision::Pending,
                        existing: None,
                        tmp,
                        tmp_ident: None,
                        remaining: AtomicUsize::new(0),
                        failed: AtomicBool::new(false),
                    });
                }
                NodeKind::Socket => {}
                NodeKind::Fifo | NodeKind::CharDevice | NodeKind::BlockDevice if !self.special => {}
                _ => self.plan.others.push(OtherPlan { rel: child, node: n, decision: Decision::Pending }),
            }
        }
        Ok(())
    }
}

/// Temporary files are named `<TEMP_PREFIX><pid>-<n>`.
pub(super) const TEMP_PREFIX: &str = ".snap-tmp-";

/// The process id in a temporary file's name.
pub(super) fn temp_pid(name: &OsStr) -> Option<u32> {
    let rest = name.as_bytes().strip_prefix(TEMP_PREFIX.as_bytes())?;
    let (pid, n) = std::str::from_utf8(rest).ok()?.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Include and exclude globs over snapshot paths (`/a/b`).
pub(super) struct Filter {
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
    pub(super) fn new(includes: &[String], excludes: &[String]) -> Result<Self> {
        Ok(Self { includes: if includes.is_empty() { None } else { Some(globset(includes)?) }, excludes: globset(excludes)? })
    }
    fn abs(rel: &Path) -> PathBuf {
        Path::new("/").join(rel)
    }
    pub(super) fn has_includes(&self) -> bool {
        self.includes.is_some()
    }
    fn included_self(&self, rel: &Path) -> bool {
        self.includes.as_ref().is_none_or(|g| g.is_match(Self::abs(rel)))
    }
    pub(super) fn excluded(&self, rel: &Path) -> bool {
        self.excludes.is_match(Self::abs(rel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_their_pid() {
        assert_eq!(temp_pid(OsStr::new(".snap-tmp-123-7")), Some(123));
        assert_eq!(temp_pid(OsStr::new(".snap-tmp-123")), None);
        assert_eq!(temp_pid(OsStr::new(".snap-tmp-x-1")), None);
        assert_eq!(temp_pid(OsStr::new("snap-tmp-1-1")), None);
        assert_eq!(temp_pid(OsStr::new(".snap-tmp-1-1x")), None);
    }
}

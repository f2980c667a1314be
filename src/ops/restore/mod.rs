//! `restore`: plans every directory, file and link of a snapshot, compares each with what the
//! target already holds ([`Overwrite`]), removes what the snapshot does not have when asked
//! ([`RestoreOptions::delete`]), then reads each needed pack region once, in parallel, verifies
//! every blob against its id and writes it with `pwrite` into a temporary file that is renamed
//! into place only when complete. A file under its final name is therefore always whole, so a
//! rerun after an interruption writes only what is missing or different. Every filesystem access
//! goes through [`target::Target`], which never follows a link.

mod compare;
pub mod once;
mod plan;
mod sweep;
mod target;
mod write;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rayon::prelude::*;
use serde::Serialize;

use self::compare::{compare, Differs};
use self::plan::{Filter, Plan};
use self::target::{split, Policy, Target};
use crate::error::{Error, Result};
use crate::format::snapshot::Snapshot;
use crate::format::tree::{Node, NodeKind};
use crate::ops::fsat::{self, Meta};
use crate::repo::Repository;

/// What to do with an entry the target already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Replace it, whatever it holds.
    Always,
    /// Leave it alone when it is what the snapshot has: for a file the same size and content
    /// (every chunk read back and compared with the snapshot's chunk ids), for a link the same
    /// target, for a FIFO or device the same kind and number. When only owner, mode, attributes
    /// or times differ, only they are set. Anything else is replaced.
    #[default]
    IfChanged,
    /// Replace it only when the snapshot's modification time is newer.
    IfNewer,
    /// Leave it alone.
    Never,
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub target: PathBuf,
    /// Globs over snapshot paths (`/etc/nginx/*`); when given, only matching entries (and what
    /// lies below them) are restored.
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
    pub overwrite: Overwrite,
    /// Remove what the target has and the snapshot does not, inside the directories restored
    /// whole (at or below one of the snapshot's paths, selected by the globs); never what an
    /// exclude glob matches, never through a link, never on another mounted filesystem.
    pub delete: bool,
    /// Read every file written back and compare it with its chunk ids.
    pub verify: bool,
    /// Decide everything, change nothing; [`RestoreOutcome::actions`] lists the decisions.
    pub dry_run: bool,
    /// Leave owners as the restoring user gets them.
    pub no_owner: bool,
    /// Leave out setuid/setgid/sticky bits, FIFOs and device nodes, and the `security.*` and
    /// `trusted.*` extended attributes (file capabilities, security labels).
    pub no_special: bool,
}

/// What a restore does with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    Write,
    /// Only owner, mode, attributes or times are set.
    Update,
    /// Left as it is.
    Keep,
    Delete,
}

/// Why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Nothing was there.
    New,
    /// The same kind of entry with other content (size, chunks, link target, device number).
    Changed,
    /// Another kind of entry was there (a link where the snapshot has a directory, ...).
    Replaced,
    /// `--overwrite always`.
    Always,
    /// `--overwrite if-newer`, and the snapshot's is newer.
    Newer,
    /// Same content; owner, mode, attributes or times differ.
    Metadata,
    /// Already what the snapshot has.
    Same,
    /// `--overwrite never`.
    Exists,
    /// `--overwrite if-newer`, and the target's is as new or newer.
    NotNewer,
    /// `--delete`: the snapshot does not have it.
    NotInSnapshot,
    /// `--delete`: part of a directory that stood where the snapshot has a file or link.
    InTheWay,
    /// A temporary file an interrupted restore left.
    StaleTemp,
}

impl Reason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Changed => "changed",
            Self::Replaced => "replaced",
            Self::Always => "always",
            Self::Newer => "newer",
            Self::Metadata => "metadata",
            Self::Same => "same",
            Self::Exists => "exists",
            Self::NotNewer => "not-newer",
            Self::NotInSnapshot => "not-in-snapshot",
            Self::InTheWay => "in-the-way",
            Self::StaleTemp => "stale-temp",
        }
    }
}

/// One decision of a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// The snapshot path (`/etc/app.conf`), below the target.
    pub path: String,
    /// `file`, `dir`, `symlink`, `hardlink`, `fifo`, `char-device`, `block-device`, `socket`.
    pub kind: &'static str,
    pub action: ActionKind,
    pub reason: Reason,
}

/// What could not be restored for lack of privilege or filesystem support.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotRestored {
    /// Entries whose owner is not the restoring user's (not root).
    pub owners: u64,
    /// Entries whose setuid/setgid/sticky bits the kernel dropped.
    pub special_bits: u64,
    pub devices: u64,
    pub xattrs: u64,
    /// The names of the extended attributes that could not be set (a few).
    pub xattr_names: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOutcome {
    /// Entries of the snapshot in the restore that were handled without error (written, updated
    /// or left alone), and the size of those files.
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub bytes: u64,
    /// Entries created or replaced (directories created included).
    pub written: u64,
    /// Entries whose content was right and only metadata was set.
    pub updated: u64,
    /// Entries left as they were.
    pub unchanged: u64,
    /// Entries removed: what `delete` found, what stood in the way, stale temporary files.
    pub deleted: u64,
    /// File content written.
    pub bytes_written: u64,
    /// Files read back and checked (`verify`).
    pub verified: u64,
    pub not_restored: NotRestored,
    /// Every decision, sorted by path (dry runs only).
    pub actions: Vec<Action>,
    /// One line each: what was kept in the snapshot's way, what could not be restored for lack of
    /// privilege, mounted filesystems not deleted into.
    pub warnings: Vec<String>,
    /// Entries that could not be restored, with the reason. Nothing is left under their name that
    /// was not there before.
    pub errors: Vec<String>,
}

/// Live counters for a progress display. The totals are set once, when writing starts: what is
/// to be written (files and their bytes), after every decision was made.
#[derive(Debug, Default)]
pub struct RestoreProgress {
    pub bytes_total: AtomicU64,
    pub bytes_done: AtomicU64,
    pub files_total: AtomicU64,
    /// Files written and renamed into place.
    pub files_done: AtomicU64,
}

/// What happens to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Pending,
    Write(Reason),
    Update,
    Keep(Reason),
    /// Below a directory that was kept as another kind of entry: not restored.
    Skip,
    Failed,
}

impl Decision {
    fn action(self) -> Option<(ActionKind, Reason)> {
        match self {
            Self::Write(r) => Some((ActionKind::Write, r)),
            Self::Update => Some((ActionKind::Update, Reason::Metadata)),
            Self::Keep(r) => Some((ActionKind::Keep, r)),
            Self::Pending | Self::Skip | Self::Failed => None,
        }
    }
    fn is_write(self) -> bool {
        matches!(self, Self::Write(_))
    }
}

/// Test hooks: `SNAP_FAIL_AT=<name>` aborts the process at the named point (an interruption at
/// an exact moment), `SNAP_PAUSE_AT=<name>` stops there until a line arrives on standard input
/// (so a test can change the target at an exact moment). Points: `restore-file` (a file was just
/// renamed into place), `restore-verify` (everything is written, nothing verified yet).
fn fail_point(name: &str) {
    if std::env::var("SNAP_FAIL_AT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

fn pause_point(name: &str) {
    if std::env::var("SNAP_PAUSE_AT").is_ok_and(|v| v == name) {
        eprintln!("snap: paused at {name}");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
}

/// State shared by the phases of one restore.
struct Run<'a> {
    repo: &'a Repository,
    opts: &'a RestoreOptions,
    filter: Filter,
    target: Target,
    errors: Mutex<Vec<String>>,
    warnings: Vec<String>,
    deleted: u64,
    /// Removals, listed for a dry run.
    removals: Vec<Action>,
    /// Directories kept as another kind of entry, and every directory below them.
    skipped: HashSet<PathBuf>,
}

/// Restores a snapshot under `opts.target`.
///
/// # Errors
/// Bad patterns, unsafe trees (refused before anything is written), target errors. Per-entry
/// failures (damaged blobs, full disk, a directory in a file's way without `delete`) are
/// collected in [`RestoreOutcome::errors`].
pub fn restore(repo: &Repository, snap: &Snapshot, opts: &RestoreOptions, progress: &RestoreProgress) -> Result<RestoreOutcome> {
    let filter = Filter::new(&opts.includes, &opts.excludes)?;
    let policy = Policy::new(opts.no_owner, opts.no_special);
    let root = Node { kind: Some(NodeKind::Dir), subtree: Some(snap.tree), mode: 0o755, ..Node::default() };
    let mut plan = plan::plan(repo, &root, &snap.paths, &filter, policy.special)?;
    let errors = Mutex::new(Vec::new());
    locate(repo, &mut plan, &errors);

    let target = Target::new(&opts.target, opts.dry_run, policy)?;
    let mut run = Run { repo, opts, filter, target, errors, warnings: Vec::new(), deleted: 0, removals: Vec::new(), skipped: HashSet::new() };
    if let Some(root) = plan.dirs.first_mut() {
        root.existing = fsat::stat_path(&opts.target).ok();
    }
    run.dirs(&mut plan)?;
    run.sweep(&plan);
    run.decide_files(&mut plan);
    if !opts.dry_run {
        run.write_files(&mut plan, progress);
        run.update_files(&plan);
    }
    run.others(&mut plan);
    run.hardlinks(&mut plan);
    if !opts.dry_run {
        run.dir_meta(&plan);
    }
    let mut verified = 0;
    if opts.verify && !opts.dry_run {
        pause_point("restore-verify");
        verified = run.verify(&plan);
    }
    Ok(run.outcome(&plan, verified))
}

/// The chunks of every file, with where each is stored; a file whose chunks cannot all be found
/// fails here, before the target is touched.
fn locate(repo: &Repository, plan: &mut Plan, errors: &Mutex<Vec<String>>) {
    for f in &mut plan.files {
        let located = repo.file_chunks(&f.node).and_then(|ids| ids.into_iter().map(|id| repo.locate(&id).map(|loc| (id, loc))).collect::<Result<Vec<_>>>());
        match located {
            Ok(chunks) => f.chunks = chunks,
            Err(e) => {
                errors.lock().push(format!("{}: {e}", display(&f.rel)));
                f.failed.store(true, Ordering::SeqCst);
                f.decision = Decision::Failed;
            }
        }
    }
}

fn display(rel: &Path) -> String {
    format!("/{}", rel.display())
}

/// The kind of an entry as `lstat` reports it, for messages and dry-run lists.
fn kind_name(m: &Meta) -> &'static str {
    match m.file_type() {
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "symlink",
        libc::S_IFIFO => "fifo",
        libc::S_IFCHR => "char-device",
        libc::S_IFBLK => "block-device",
        libc::S_IFSOCK => "socket",
        _ => "file",
    }
}

fn node_kind_name(node: &Node) -> &'static str {
    match node.kind() {
        NodeKind::File => "file",
        NodeKind::Dir => "dir",
        NodeKind::Symlink => "symlink",
        NodeKind::CharDevice => "char-device",
        NodeKind::BlockDevice => "block-device",
        NodeKind::Fifo => "fifo",
        NodeKind::Socket => "socket",
    }
}

/// Whether the snapshot's modification time is newer than the entry's.
fn newer(node: &Node, m: &Meta) -> bool {
    (node.mtime.secs, node.mtime.nanos) > m.mtime
}

/// Whether `m` is the kind of entry `node` is.
fn same_kind(node: &Node, m: &Meta) -> bool {
    kind_name(m) == node_kind_name(node)
}

/// The decision for a non-directory entry `node` where the target has `existing`, when it does
/// not need a closer look; `None` when it does (`--overwrite if-changed` and `alike`: the same
/// kind, and for a file the same size).
fn decide_entry(overwrite: Overwrite, node: &Node, existing: Option<&Meta>, alike: bool) -> Option<Decision> {
    let Some(m) = existing else { return Some(Decision::Write(Reason::New)) };
    Some(match overwrite {
        Overwrite::Never => Decision::Keep(Reason::Exists),
        Overwrite::IfNewer if newer(node, m) => Decision::Write(Reason::Newer),
        Overwrite::IfNewer => Decision::Keep(Reason::NotNewer),
        Overwrite::Always => Decision::Write(Reason::Always),
        Overwrite::IfChanged if !same_kind(node, m) => Decision::Write(Reason::Replaced),
        Overwrite::IfChanged if !alike => Decision::Write(Reason::Changed),
        Overwrite::IfChanged => return None,
    })
}

impl Run<'_> {
    fn error(&self, rel: &Path, e: impl std::fmt::Display) {
        self.errors.lock().push(format!("{}: {e}", display(rel)));
    }

    /// Decides every directory, parents first, and creates or enters it. A non-directory where
    /// the snapshot has a directory is replaced (it is removed, never followed), unless the
    /// overwrite mode keeps it: then nothing below it is restored, with a warning.
    fn dirs(&mut self, plan: &mut Plan) -> Result<()> {
        let overwrite = self.opts.overwrite;
        for d in plan.dirs.iter_mut().skip(1) {
            let (parent, name) = split(&d.rel);
            if self.skipped.contains(&parent) {
                d.decision = Decision::Skip;
                self.skipped.insert(d.rel.clone());
                continue;
            }
            let full = self.target.root().join(&d.rel);
            let existing = self.target.lookup(&parent, &name).map_err(|e| Error::io(&full, e))?;
            d.existing = existing;
            d.decision = match existing {
                None => Decision::Write(Reason::New),
                Some(m) if m.is_dir() => match overwrite {
                    Overwrite::Never => Decision::Keep(Reason::Exists),
                    Overwrite::IfNewer if newer(&d.node, &m) => Decision::Update,
                    Overwrite::IfNewer => Decision::Keep(Reason::NotNewer),
                    Overwrite::Always | Overwrite::IfChanged => {
                        let xattrs = if self.target.policy.xattrs(&d.node).next().is_some() { Some(self.target.xattrs_of(&parent, &name).map_err(|e| Error::io(&full, e))?) } else { None };
                        if self.target.policy.same_meta(&d.node, &m, xattrs.as_deref()) { Decision::Keep(Reason::Same) } else { Decision::Update }
                    }
                },
                Some(m) => {
                    let keep = match overwrite {
                        Overwrite::Never => Some((Reason::Exists, "--overwrite never")),
                        Overwrite::IfNewer if !newer(&d.node, &m) => Some((Reason::NotNewer, "--overwrite if-newer, and it is as new")),
                        _ => None,
                    };
                    if let Some((reason, why)) = keep {
                        self.warnings.push(format!("{}: kept the {} that stands where the snapshot has a directory ({why}); nothing below it was restored", display(&d.rel), kind_name(&m)));
                        self.skipped.insert(d.rel.clone());
                        d.decision = Decision::Keep(reason);
                        continue;
                    }
                    self.target.remove_entry(&parent, &name).map_err(|e| Error::io(&full, e))?;
                    Decision::Write(if overwrite == Overwrite::IfNewer { Reason::Newer } else { Reason::Replaced })
                }
            };
            self.target.make_dir(&d.rel)?;
        }
        Ok(())
    }

    /// Whether the parent directory of `rel` was left out.
    fn in_skipped(&self, rel: &Path) -> bool {
        rel.parent().is_some_and(|p| self.skipped.contains(p))
    }

    /// Makes way for a non-directory where a directory stands: removed (with everything below
    /// it) with `delete`, an error without. Returns whether the way is clear.
    fn clear_way(&mut self, rel: &Path, what: &str) -> bool {
        if !self.opts.delete {
            self.error(rel, format!("a directory stands where the snapshot has a {what}; give --delete to replace it"));
            return false;
        }
        let (dir, name) = split(rel);
        let cleared = self.target.open_dir(&dir).and_then(|at| {
            let dev = fsat::stat_fd(&at)?.ident.dev;
            let mut kept = Vec::new();
            let all = self.remove_tree(at.as_fd(), &name, rel, dev, Reason::InTheWay, &mut kept)?;
            for k in kept {
                self.warnings.push(format!("{}: another filesystem is mounted there; left in place", display(&k)));
            }
            Ok(all)
        });
        match cleared {
            Ok(true) => true,
            Ok(false) => {
                self.error(rel, "the directory in its way could not be removed whole");
                false
            }
            Err(e) => {
                self.error(rel, format!("the directory in its way could not be removed: {e}"));
                false
            }
        }
    }

    /// Decides every file: compares with what the target has (reading files of the same size
    /// back, in parallel, under `if-changed`).
    fn decide_files(&mut self, plan: &mut Plan) {
        let overwrite = self.opts.overwrite;
        let mut closer = Vec::new();
        for (i, f) in plan.files.iter_mut().enumerate() {
            if f.decision == Decision::Failed {
                continue;
            }
            if self.skipped.contains(&f.dir) {
                f.decision = Decision::Skip;
                continue;
            }
            match self.target.lookup(&f.dir, &f.name) {
                Ok(existing) => f.existing = existing,
                Err(e) => {
                    self.error(&f.rel, e);
                    f.decision = Decision::Failed;
                    f.failed.store(true, Ordering::SeqCst);
                    continue;
                }
            }
            let alike = f.existing.is_some_and(|m| m.is_file() && m.size == f.node.size);
            match decide_entry(overwrite, &f.node, f.existing.as_ref(), alike) {
                Some(d) => f.decision = d,
                None => closer.push(i),
            }
        }
        let (repo, target) = (self.repo, &self.target);
        let looked: Vec<(usize, std::result::Result<Decision, String>)> = closer
            .par_iter()
            .filter_map(|&i| plan.files.get(i).map(|f| (i, f)))
            .map(|(i, f)| {
                let Some(m) = f.existing else { return (i, Ok(Decision::Write(Reason::New))) };
                let same = target.open_file(&f.dir, &f.name, m.ident).and_then(|mut file| compare(repo, &mut file, &f.chunks));
                let d = match same {
                    Ok(Some(_)) => Ok(Decision::Write(Reason::Changed)),
                    Ok(None) => {
                        let xattrs = if target.policy.xattrs(&f.node).next().is_some() { target.xattrs_of(&f.dir, &f.name).ok() } else { None };
                        if target.policy.same_meta(&f.node, &m, xattrs.as_deref()) {
                            Ok(Decision::Keep(Reason::Same))
                        } else if m.nlink > 1 {
                            // Its other names may lie outside the target: write a new file rather
                            // than change this inode.
                            Ok(Decision::Write(Reason::Changed))
                        } else {
                            Ok(Decision::Update)
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                (i, d)
            })
            .collect();
        for (i, d) in looked {
            let Some(f) = plan.files.get_mut(i) else { continue };
            match d {
                Ok(d) => f.decision = d,
                Err(e) => {
                    self.error(&f.rel, format!("cannot read what the target has: {e}"));
                    f.decision = Decision::Failed;
                    f.failed.store(true, Ordering::SeqCst);
                }
            }
        }
        for f in &mut plan.files {
            if f.decision.is_write() && f.existing.is_some_and(|m| m.is_dir()) && !self.clear_way(&f.rel, "file") {
                f.decision = Decision::Failed;
                f.failed.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Sets the metadata of files whose content was already right.
    fn update_files(&self, plan: &Plan) {
        for f in plan.files.iter().filter(|f| f.decision == Decision::Update) {
            let Some(m) = f.existing else { continue };
            if let Err(e) = self.target.update_meta(&f.dir, &f.name, &f.node, m.ident) {
                self.error(&f.rel, e);
                f.failed.store(true, Ordering::SeqCst);
            }
        }
    }

    /// Decides and restores symbolic links, FIFOs and device nodes.
    fn others(&mut self, plan: &mut Plan) {
        let overwrite = self.opts.overwrite;
        for o in &mut plan.others {
            if self.in_skipped(&o.rel) {
                o.decision = Decision::Skip;
                continue;
            }
            let (dir, name) = split(&o.rel);
            let existing = match self.target.lookup(&dir, &name) {
                Ok(e) => e,
                Err(e) => {
                    self.error(&o.rel, e);
                    o.decision = Decision::Failed;
                    continue;
                }
            };
            let alike = existing.is_some_and(|m| match o.node.kind() {
                NodeKind::Symlink => self.target.open_dir(&dir).and_then(|at| fsat::read_link_at(at.as_fd(), &name)).is_ok_and(|t| t == o.node.link_target),
                NodeKind::CharDevice | NodeKind::BlockDevice => m.rdev == o.node.rdev,
                _ => true,
            });
            o.decision = decide_entry(overwrite, &o.node, existing.as_ref(), alike).unwrap_or_else(|| {
                let Some(m) = existing else { return Decision::Write(Reason::New) };
                let xattrs = if self.target.policy.xattrs(&o.node).next().is_some() { self.target.xattrs_of(&dir, &name).ok() } else { None };
                if self.target.policy.same_meta(&o.node, &m, xattrs.as_deref()) {
                    Decision::Keep(Reason::Same)
                } else if m.nlink > 1 {
                    Decision::Write(Reason::Changed)
                } else {
                    Decision::Update
                }
            });
            if o.decision.is_write() && existing.is_some_and(|m| m.is_dir()) && !self.clear_way(&o.rel, node_kind_name(&o.node)) {
                o.decision = Decision::Failed;
                continue;
            }
            if self.opts.dry_run {
                continue;
            }
            let done = match o.decision {
                Decision::Write(_) => self.target.special(&dir, &name, &o.node),
                Decision::Update => match existing {
                    Some(m) => self.target.update_meta(&dir, &name, &o.node, m.ident),
                    None => Ok(()),
                },
                _ => Ok(()),
            };
            if let Err(e) = done {
                self.error(&o.rel, e);
                o.decision = Decision::Failed;
            }
        }
    }

    /// Decides and makes the second and further names of hard-linked files.
    fn hardlinks(&mut self, plan: &mut Plan) {
        let overwrite = self.opts.overwrite;
        for l in &mut plan.hardlinks {
            let Some(first) = plan.files.get(l.first) else { continue };
            if first.decision == Decision::Skip || self.in_skipped(&l.rel) {
                l.decision = Decision::Skip;
                continue;
            }
            if first.decision == Decision::Failed || first.failed.load(Ordering::SeqCst) {
                // Named with the first name's error.
                l.decision = Decision::Failed;
                continue;
            }
            let (dir, name) = split(&l.rel);
            let existing = match self.target.lookup(&dir, &name) {
                Ok(e) => e,
                Err(e) => {
                    self.error(&l.rel, e);
                    l.decision = Decision::Failed;
                    continue;
                }
            };
            // What the first name is now (in a dry run: what it will be, unknown if written).
            let first_ident = if self.opts.dry_run {
                if first.decision.is_write() { None } else { first.existing.map(|m| m.ident) }
            } else {
                self.target.lookup(&first.dir, &first.name).ok().flatten().map(|m| m.ident)
            };
            l.decision = match existing {
                Some(m) if Some(m.ident) == first_ident => Decision::Keep(Reason::Same),
                _ => decide_entry(overwrite, &first.node, existing.as_ref(), false).unwrap_or(Decision::Write(Reason::Changed)),
            };
            if !l.decision.is_write() {
                continue;
            }
            if existing.is_some_and(|m| m.is_dir()) && !self.clear_way(&l.rel, "file") {
                l.decision = Decision::Failed;
                continue;
            }
            if self.opts.dry_run {
                continue;
            }
            if let Err(e) = self.target.hard_link(&first.dir, &first.name, &dir, &name) {
                self.error(&l.rel, e);
                l.decision = Decision::Failed;
            }
        }
    }

    /// Directory metadata last, deepest first, so writing inside does not disturb mtimes; set
    /// only where it differs. Directories kept by `never` or `if-newer` are left alone.
    fn dir_meta(&self, plan: &Plan) {
        for d in plan.dirs.iter().skip(1).rev() {
            if matches!(d.decision, Decision::Write(_) | Decision::Update | Decision::Keep(Reason::Same))
                && let Err(e) = self.target.dir_meta(&d.rel, &d.node)
            {
                self.error(&d.rel, e);
            }
        }
    }

    /// Reads every file written back and compares it with its chunk ids; returns how many were
    /// checked.
    fn verify(&self, plan: &Plan) -> u64 {
        let checked = AtomicU64::new(0);
        plan.files.par_iter().filter(|f| f.decision.is_write() && !f.failed.load(Ordering::SeqCst)).for_each(|f| {
            let Some(ident) = f.tmp_ident else { return };
            let result = self.target.open_file(&f.dir, &f.name, ident).and_then(|mut file| compare(self.repo, &mut file, &f.chunks));
            checked.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(None) => {}
                Ok(Some(Differs::At(off))) => self.error(&f.rel, format!("verify: read back, it differs from the snapshot in the chunk at byte {off}")),
                Ok(Some(Differs::Longer(len))) => self.error(&f.rel, format!("verify: read back, it is longer than the snapshot's {len} bytes")),
                Err(e) => self.error(&f.rel, format!("verify: cannot read it back: {e}")),
            }
        });
        checked.into_inner()
    }

    fn outcome(self, plan: &Plan, verified: u64) -> RestoreOutcome {
        let mut out = RestoreOutcome { verified, deleted: self.deleted, ..RestoreOutcome::default() };
        let dry = self.opts.dry_run;
        let mut actions = self.removals;
        let mut count = |rel: &Path, kind: &'static str, d: Decision, out: &mut RestoreOutcome| {
            let Some((action, reason)) = d.action() else { return false };
            match action {
                ActionKind::Write => out.written += 1,
                ActionKind::Update => out.updated += 1,
                ActionKind::Keep => out.unchanged += 1,
                ActionKind::Delete => {}
            }
            if dry {
                actions.push(Action { path: display(rel), kind, action, reason });
            }
            true
        };
        for d in plan.dirs.iter().skip(1) {
            let counted = count(&d.rel, "dir", d.decision, &mut out);
            out.dirs += u64::from(counted);
        }
        for f in &plan.files {
            if f.failed.load(Ordering::SeqCst) {
                continue;
            }
            if count(&f.rel, "file", f.decision, &mut out) {
                out.files += 1;
                out.bytes += f.node.size;
                if f.decision.is_write() && !dry {
                    out.bytes_written += f.node.size;
                }
            }
        }
        for o in &plan.others {
            if count(&o.rel, node_kind_name(&o.node), o.decision, &mut out) && o.node.kind() == NodeKind::Symlink {
                out.links += 1;
            }
        }
        for l in &plan.hardlinks {
            if count(&l.rel, "hardlink", l.decision, &mut out) {
                out.links += 1;
            }
        }
        if dry {
            out.bytes_written = plan.files.iter().filter(|f| f.decision.is_write()).map(|f| f.node.size).sum();
        }
        actions.sort_by(|a, b| a.path.cmp(&b.path));
        out.actions = actions;
        let t = &self.target.tally;
        out.not_restored = NotRestored {
            owners: t.owners.load(Ordering::Relaxed),
            special_bits: t.special_bits.load(Ordering::Relaxed),
            devices: t.devices.load(Ordering::Relaxed),
            xattrs: t.xattrs.load(Ordering::Relaxed),
            xattr_names: t.xattr_names.lock().iter().take(5).cloned().collect(),
        };
        out.warnings = self.warnings;
        if let Some(w) = not_restored_warning(&out.not_restored, self.target.policy.euid == 0) {
            out.warnings.push(w);
        }
        out.errors = self.errors.into_inner();
        out
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one line saying what could not be restored for lack of privilege or support.
fn not_restored_warning(n: &NotRestored, root: bool) -> Option<String> {
    let mut parts = Vec::new();
    if n.owners > 0 {
        parts.push(format!("the owners of {}", plural(n.owners, "entry", "entries")));
    }
    if n.special_bits > 0 {
        parts.push(format!("the setuid/setgid/sticky bits of {}", plural(n.special_bits, "entry", "entries")));
    }
    if n.devices > 0 {
        parts.push(plural(n.devices, "device node", "device nodes"));
    }
    if n.xattrs > 0 {
        parts.push(format!("{} ({})", plural(n.xattrs, "extended attribute", "extended attributes"), n.xattr_names.join(", ")));
    }
    if parts.is_empty() {
        return None;
    }
    let why = if root { "" } else { " (not running as root; --no-owner and --no-special leave them out without this warning)" };
    Some(format!("could not restore {}{why}", parts.join(", ")))
}

/// Whether `name` is one of the markers `restore --once` keeps in the target.
fn is_once_marker(name: &OsStr) -> bool {
    name == once::DONE_MARKER || name == once::STARTED_MARKER
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tree::Timestamp;
    use crate::ops::fsat::Ident;

    fn meta(kind: u32, size: u64, secs: i64) -> Meta {
        Meta { mode: kind | 0o644, uid: 0, gid: 0, size, mtime: (secs, 0), ctime: (secs, 0), ident: Ident { dev: 1, ino: 2 }, nlink: 1, rdev: 0 }
    }

    #[test]
    fn each_mode_decides_as_documented() {
        let node = Node { kind: Some(NodeKind::File), size: 10, mtime: Timestamp { secs: 100, nanos: 0 }, ..Node::default() };
        let file = meta(libc::S_IFREG, 10, 100);
        let older = meta(libc::S_IFREG, 10, 50);
        let link = meta(libc::S_IFLNK, 0, 500);
        assert_eq!(decide_entry(Overwrite::IfChanged, &node, None, false), Some(Decision::Write(Reason::New)));
        assert_eq!(decide_entry(Overwrite::Never, &node, None, false), Some(Decision::Write(Reason::New)));
        assert_eq!(decide_entry(Overwrite::IfChanged, &node, Some(&file), true), None);
        assert_eq!(decide_entry(Overwrite::IfChanged, &node, Some(&file), false), Some(Decision::Write(Reason::Changed)));
        assert_eq!(decide_entry(Overwrite::IfChanged, &node, Some(&link), false), Some(Decision::Write(Reason::Replaced)));
        assert_eq!(decide_entry(Overwrite::Always, &node, Some(&file), true), Some(Decision::Write(Reason::Always)));
        assert_eq!(decide_entry(Overwrite::Never, &node, Some(&link), false), Some(Decision::Keep(Reason::Exists)));
        assert_eq!(decide_entry(Overwrite::IfNewer, &node, Some(&older), true), Some(Decision::Write(Reason::Newer)));
        assert_eq!(decide_entry(Overwrite::IfNewer, &node, Some(&file), true), Some(Decision::Keep(Reason::NotNewer)));
        assert_eq!(decide_entry(Overwrite::IfNewer, &node, Some(&link), false), Some(Decision::Keep(Reason::NotNewer)));
    }

    #[test]
    fn the_warning_is_one_line_naming_each_kind() {
        let n = NotRestored { owners: 3, special_bits: 1, devices: 2, xattrs: 1, xattr_names: vec!["security.capability".into()] };
        assert_eq!(
            not_restored_warning(&n, false).unwrap(),
            "could not restore the owners of 3 entries, the setuid/setgid/sticky bits of 1 entry, 2 device nodes, 1 extended attribute (security.capability) (not running as root; --no-owner and --no-special leave them out without this warning)"
        );
        assert_eq!(not_restored_warning(&NotRestored::default(), false), None);
    }
}

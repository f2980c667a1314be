//! Removing from the target what should not be there once the restore is done: temporary files
//! an interrupted restore left (always), and with `delete` whatever the snapshot does not have
//! inside the directories restored whole. Removal goes through checked directory descriptors,
//! never follows a link, never enters another mounted filesystem and never touches what an
//! exclude glob matches.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use super::plan::{temp_pid, Plan};
use super::{display, is_once_marker, kind_name, Action, ActionKind, Decision, Reason, Run};
use crate::ops::fsat::{self, Meta};

/// Whether a process with this id exists (or might: an id that does not fit counts as alive).
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return true };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists and may be
    // signalled.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

impl Run<'_> {
    /// Removes `name` (and all below it) from the directory open as `at`, reporting each entry
    /// removed with `reason`; what the exclude globs match stays, and so does anything mounted
    /// from another filesystem than `dev` (listed in `kept`). Returns whether all of it went.
    pub(super) fn remove_tree(&mut self, at: BorrowedFd<'_>, name: &OsStr, rel: &Path, dev: u64, reason: Reason, kept: &mut Vec<PathBuf>) -> io::Result<bool> {
        let (dry, filter) = (self.opts.dry_run, &self.filter);
        let mut removed: Vec<Action> = Vec::new();
        let mut count = 0u64;
        let mut report = |p: &Path, m: &Meta| {
            count += 1;
            if dry {
                removed.push(Action { path: display(p), kind: kind_name(m), action: ActionKind::Delete, reason });
            }
        };
        let result = self.target.remove_tree(at, name, rel, dev, &|p| filter.excluded(p), &mut report, kept);
        self.deleted += count;
        self.removals.extend(removed);
        result
    }

    /// Removes stale temporary files from every directory of the restore that existed, and with
    /// `delete` what the snapshot does not have.
    pub(super) fn sweep(&mut self, plan: &Plan) {
        let own = std::process::id();
        let includes = self.filter.has_includes();
        // The device of the directory that brought each directory into --delete's scope.
        let mut scope: HashMap<&Path, u64> = HashMap::new();
        let mut foreign: HashSet<&Path> = HashSet::new();
        for d in &plan.dirs {
            if d.decision == Decision::Skip || !self.target.exists(&d.rel) || matches!(d.decision, Decision::Write(_)) {
                continue;
            }
            let listed = self.target.list(&d.rel).and_then(|(fd, names)| Ok((fsat::stat_fd(&fd)?.ident.dev, fd, names)));
            let (dev, fd, names) = match listed {
                Ok(l) => l,
                Err(e) => {
                    self.error(&d.rel, format!("cannot list it: {e}"));
                    continue;
                }
            };
            let parent = d.rel.parent();
            let scope_dev = parent.and_then(|p| scope.get(p)).copied().unwrap_or(dev);
            let deletable = self.opts.delete && d.owned && (d.included || !includes);
            if d.owned {
                scope.insert(d.rel.as_path(), scope_dev);
            }
            if deletable && dev != scope_dev {
                if !parent.is_some_and(|p| foreign.contains(p)) {
                    self.warnings.push(format!("{}: another filesystem is mounted there; nothing in it was deleted", display(&d.rel)));
                }
                foreign.insert(d.rel.as_path());
            }
            for name in names {
                let child = d.rel.join(&name);
                if d.names.contains(&name) {
                    continue;
                }
                if let Some(pid) = temp_pid(&name) {
                    // Another restore's, while it runs: never touched, even by --delete.
                    if pid != own && alive(pid) {
                        continue;
                    }
                    if fsat::stat_at(fd.as_fd(), &name).is_ok_and(|m| m.is_file()) {
                        let mut kept = Vec::new();
                        if let Err(e) = self.remove_tree(fd.as_fd(), &name, &child, dev, Reason::StaleTemp, &mut kept) {
                            self.error(&child, format!("cannot remove this temporary file of an interrupted restore: {e}"));
                        }
                    }
                    continue;
                }
                if !deletable || dev != scope_dev || self.filter.excluded(&child) || (d.rel.as_os_str().is_empty() && is_once_marker(&name)) {
                    continue;
                }
                let mut kept = Vec::new();
                if let Err(e) = self.remove_tree(fd.as_fd(), &name, &child, scope_dev, Reason::NotInSnapshot, &mut kept) {
                    self.error(&child, format!("not deleted: {e}"));
                }
                for k in kept {
                    self.warnings.push(format!("{}: another filesystem is mounted there; left in place", display(&k)));
                }
            }
        }
    }
}

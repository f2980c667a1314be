//! A stat-only walk over a backup's sources, run beside the backup by a progress display that
//! wants totals, and so an ETA: how many files and bytes the backup will go through. It is an
//! estimate (files change while it runs) and costs a second pass over the directories, which is
//! why only a display that is shown asks for it.

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use super::sources::{plan_sources, Excludes};
use super::{BackupOptions, Progress};
use crate::error::Result;

/// Counts every regular file a backup of `opts` would visit into `progress.files_estimate` and
/// `progress.bytes_estimate` as it finds them, with the backup's excludes and
/// `one_file_system`, then sets `progress.estimate_done`. Returns early, leaving that unset, once
/// `stop` is set. Streams are not counted: their size is unknown until read.
///
/// # Errors
/// Bad options (no sources, a missing source path, a bad exclude pattern), as
/// [`super::backup`] reports them. Entries that cannot be read are skipped: reporting them is
/// the backup's business.
pub fn estimate(opts: &BackupOptions, progress: &Progress, stop: &AtomicBool) -> Result<()> {
    let plan = plan_sources(opts)?;
    let excludes = Excludes::new(&opts.excludes, &opts.exclude_files)?;
    for source in &plan.sources {
        let Ok(md) = std::fs::symlink_metadata(source) else { continue };
        let dev = md.dev();
        let mut todo: Vec<(PathBuf, std::fs::Metadata)> = vec![(source.clone(), md)];
        while let Some((path, md)) = todo.pop() {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if excludes.excluded(&path) {
                continue;
            }
            if md.is_file() {
                progress.files_estimate.fetch_add(1, Ordering::Relaxed);
                progress.bytes_estimate.fetch_add(md.len(), Ordering::Relaxed);
            } else if md.is_dir() && !(opts.one_file_system && md.dev() != dev) {
                let Ok(entries) = std::fs::read_dir(&path) else { continue };
                todo.extend(entries.flatten().filter_map(|e| Some((e.path(), e.metadata().ok()?))));
            }
        }
    }
    progress.estimate_done.store(true, Ordering::Relaxed);
    Ok(())
}

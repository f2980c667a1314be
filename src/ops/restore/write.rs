//! Writing the files a restore decided to write: every needed pack region is read once, in
//! parallel; every blob is verified against its id and written with `pwrite` into the file's
//! temporary twin, which gets its metadata and is renamed into place only when complete.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use super::plan::{FilePlan, Plan};
use super::target::Target;
use super::{display, fail_point, RestoreProgress, Run};
use crate::format::{BlobId, PackId};
use crate::index::BlobLocation;

/// Reads of one pack closer than this are merged into one request.
const MERGE_GAP: u64 = 256 * 1024;

type Wanted = (BlobId, BlobLocation, Vec<(usize, u64)>);

impl Run<'_> {
    pub(super) fn write_files(&self, plan: &mut Plan, progress: &RestoreProgress) {
        let writing = |f: &FilePlan| f.decision.is_write() && !f.failed.load(Ordering::SeqCst);
        // Map every needed blob to the places it goes.
        let mut by_pack: HashMap<PackId, BTreeMap<u32, Wanted>> = HashMap::new();
        let (mut bytes_total, mut files_total) = (0u64, 0u64);
        for (fi, f) in plan.files.iter().enumerate().filter(|(_, f)| writing(f)) {
            let mut off = 0u64;
            for (id, loc) in &f.chunks {
                by_pack.entry(loc.pack).or_default().entry(loc.offset).or_insert_with(|| (*id, loc.clone(), Vec::new())).2.push((fi, off));
                off += u64::from(loc.raw_length);
            }
            f.remaining.store(f.chunks.len(), Ordering::SeqCst);
            bytes_total += off;
            files_total += 1;
        }
        // Once, so that a display never shows a total still being added up.
        progress.bytes_total.fetch_add(bytes_total, Ordering::Relaxed);
        progress.files_total.fetch_add(files_total, Ordering::Relaxed);

        // Create every temporary file at its final size (holes stay sparse). Files come in tree
        // order, so one directory descriptor serves a whole directory.
        let mut at: Option<(PathBuf, OwnedFd)> = None;
        for f in plan.files.iter_mut().filter(|f| writing(f)) {
            if at.as_ref().is_none_or(|(d, _)| *d != f.dir) {
                at = self.target.open_dir(&f.dir).ok().map(|fd| (f.dir.clone(), fd));
            }
            let made = match &at {
                Some((_, fd)) => Target::create_temp(fd.as_fd(), &f.tmp, f.node.size),
                None => self.target.open_dir(&f.dir).and_then(|fd| Target::create_temp(fd.as_fd(), &f.tmp, f.node.size)),
            };
            match made {
                Ok(ident) => f.tmp_ident = Some(ident),
                Err(e) => {
                    self.error(&f.rel, e);
                    f.failed.store(true, Ordering::SeqCst);
                }
            }
        }
        drop(at);
        let plan = &*plan;

        let target = &self.target;
        let finish_file = |f: &FilePlan| {
            if f.failed.load(Ordering::SeqCst) {
                return;
            }
            let Some(ident) = f.tmp_ident else { return };
            match target.finish_file(&f.dir, &f.tmp, ident, &f.name, &f.node) {
                Ok(()) => {
                    progress.files_done.fetch_add(1, Ordering::Relaxed);
                    fail_point("restore-file");
                }
                Err(e) => {
                    self.error(&f.rel, e);
                    f.failed.store(true, Ordering::SeqCst);
                }
            }
        };
        for f in plan.files.iter().filter(|f| writing(f)) {
            if f.remaining.load(Ordering::SeqCst) == 0 {
                finish_file(f);
            }
        }

        let repo = self.repo;
        let packs: Vec<_> = by_pack.into_iter().collect();
        packs.par_iter().for_each(|(pack, blobs)| {
            for region in regions(blobs.values()) {
                let Some(first) = region.first() else { continue };
                let (start, end) = (u64::from(first.1.offset), region.iter().map(|b| u64::from(b.1.offset) + u64::from(b.1.length)).max().unwrap_or(0));
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
                                    self.error(&f.rel, e);
                                }
                            }
                        }
                    }
                }
            }
        });

        for f in &plan.files {
            if f.failed.load(Ordering::SeqCst)
                && f.tmp_ident.is_some()
                && let Err(e) = self.target.remove_temp(&f.dir, &f.tmp)
            {
                self.errors.lock().push(format!("{}: temporary file {} left in place: {e}", display(&f.rel), f.tmp.to_string_lossy()));
            }
        }
    }
}

/// Groups the blobs of one pack (sorted by offset) into runs read with one request each.
fn regions<'a, I>(blobs: I) -> Vec<Vec<&'a Wanted>>
where
    I: Iterator<Item = &'a Wanted>,
{
    let mut out: Vec<Vec<&'a Wanted>> = Vec::new();
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

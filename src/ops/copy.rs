//! `copy`: sends snapshots from one repository to another that shares its blob ids (made with
//! `snap init --from`), the off-site leg of a backup. Only the blobs the destination lacks are
//! sent, each opened and verified in the source and sealed again under the destination's
//! encryption key as it was stored (a delta stays a delta, a blob compressed with a dictionary
//! keeps it), and every snapshot is written only once the index files naming its blobs are.
//! Blobs stream through a few at a time; what a run keeps is ids (trees walked, deltas waiting
//! for their base), never contents.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rayon::prelude::*;

use super::adopt::adopt_orphans;
use super::select::{find_snapshot, SnapshotFilter};
use super::walk::{walk, Visitor};
use crate::error::{Error, Result};
use crate::format::pack::{BlobKind, Compression};
use crate::format::snapshot::Snapshot;
use crate::format::{BlobId, SnapshotId};
use crate::repo::lock::LockGuard;
use crate::repo::saver::{BlobSaver, SaverStats};
use crate::repo::Repository;

/// Blobs claimed before they are read and sent, a few at a time in parallel: enough to keep
/// the cores busy, few enough that memory stays a handful of chunks per thread.
const BATCH: usize = 64;

/// Which snapshots to copy, and whether to write anything.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Snapshot ids, unique prefixes or `latest` (the newest passing `filter`); when empty,
    /// every snapshot passing `filter`.
    pub snapshots: Vec<String>,
    pub filter: SnapshotFilter,
    /// Read and verify what would be sent, write nothing.
    pub dry_run: bool,
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct CopyProgress {
    pub blobs_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
}

/// What a copy did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Snapshots copied, oldest first: the source's id and the new one in the destination
    /// (`None` in a dry run).
    pub copied: Vec<(SnapshotId, Option<SnapshotId>)>,
    /// Selected snapshots the destination already has (same tree, time, host and paths).
    pub present: Vec<SnapshotId>,
    /// Blobs sent, their plaintext bytes, and what they take in the destination's packs
    /// (dictionaries included).
    pub blobs_added: u64,
    pub bytes_added: u64,
    pub bytes_stored: u64,
    /// Of the blobs sent: dictionaries, and deltas kept as deltas.
    pub dicts_added: u64,
    pub deltas_added: u64,
    /// Packs an interrupted earlier copy (or backup) left in the destination, verified and
    /// indexed before sending anything.
    pub packs_adopted: u64,
}

/// What makes two snapshots the same one: a snapshot is already in the destination when the
/// destination has one with the same root tree, time, host and (sorted) paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SnapshotKey {
    tree: BlobId,
    time: String,
    hostname: String,
    paths: Vec<String>,
}

impl SnapshotKey {
    fn of(s: &Snapshot) -> Self {
        Self { tree: s.tree, time: s.time.clone(), hostname: s.hostname.clone(), paths: s.sorted_paths() }
    }
}

/// Copies the snapshots `opts` selects from `src` into `dst`, oldest first, skipping those `dst`
/// already has. The caller holds a shared lock on each and has synced both indexes; `dst_lock`
/// is checked before each snapshot file is written.
///
/// Each snapshot's blobs are sent before it is written: packs, then the index files naming
/// them, then the snapshot (format-spec §14 W3, W4). Killed at any point, `dst` stays valid, and
/// the next copy reuses what reached it (index files written so far; packs without one are
/// adopted first).
///
/// # Errors
/// [`Error::Usage`] for the same repository twice; [`Error::Refused`] when `dst` does not share
/// `src`'s blob ids and chunker settings; a selection that matches nothing; storage errors, and
/// any blob of `src` that cannot be read and verified (nothing unverified is ever written).
/// [`Error::LockLost`] when `dst_lock` can no longer be trusted before a snapshot is written.
pub fn copy(src: &Repository, dst: &Repository, opts: &CopyOptions, dst_lock: &LockGuard, progress: &CopyProgress) -> Result<CopyReport> {
    if src.config().id == dst.config().id {
        return Err(Error::Usage(format!("{} and {} are the same repository", src.location(), dst.location())));
    }
    if !dst.shares_ids_with(src) {
        return Err(Error::Refused(format!(
            "cannot copy {} to {}: {} does not share the blob ids and chunker settings of {} (snap does not re-chunk on copy); create the destination with `snap init --from {}`",
            src.location(),
            dst.location(),
            dst.location(),
            src.location(),
            src.location()
        )));
    }
    let all = src.snapshots()?;
    let selected = select(src, &all, opts)?;
    let src_keys: HashMap<SnapshotId, SnapshotKey> = all.iter().map(|(id, s)| (*id, SnapshotKey::of(s))).collect();
    let mut have: HashMap<SnapshotKey, SnapshotId> = dst.snapshots()?.into_iter().map(|(id, s)| (SnapshotKey::of(&s), id)).collect();

    let mut report = CopyReport::default();
    if !opts.dry_run {
        report.packs_adopted = adopt_orphans(dst)?.adopted;
    }
    let run = Run { src, dst, dry_run: opts.dry_run, progress, planned: Mutex::new(HashSet::new()), dicts: Mutex::new(HashSet::new()), counts: Counts::default() };
    let mut seen = HashSet::new();
    for (id, snap) in selected {
        let key = SnapshotKey::of(&snap);
        if have.contains_key(&key) {
            report.present.push(id);
            continue;
        }
        run.send_tree(&snap.tree, &mut seen)?;
        let mut copy = snap.clone();
        copy.parent = snap.parent.and_then(|p| src_keys.get(&p)).and_then(|k| have.get(k)).copied();
        let new_id = if opts.dry_run {
            None
        } else {
            dst_lock.ensure_held()?;
            Some(dst.save_snapshot(&copy)?)
        };
        // In a dry run the source's id stands in, so a later snapshot of the same content
        // counts as present, as it would be.
        have.insert(key, new_id.unwrap_or(id));
        report.copied.push((id, new_id));
    }
    let c = &run.counts;
    report.blobs_added = c.blobs.load(Ordering::Relaxed);
    report.bytes_added = c.bytes_added.load(Ordering::Relaxed);
    report.bytes_stored = c.bytes_stored.load(Ordering::Relaxed);
    report.dicts_added = c.dicts.load(Ordering::Relaxed);
    report.deltas_added = c.deltas.load(Ordering::Relaxed);
    Ok(report)
}

/// The selected snapshots, oldest first, each once.
fn select(src: &Repository, all: &[(SnapshotId, Snapshot)], opts: &CopyOptions) -> Result<Vec<(SnapshotId, Snapshot)>> {
    if opts.snapshots.is_empty() {
        return Ok(all.iter().filter(|(_, s)| opts.filter.matches(s)).cloned().collect());
    }
    let mut chosen = HashSet::new();
    for spec in &opts.snapshots {
        chosen.insert(find_snapshot(src, spec, &opts.filter)?.0);
    }
    Ok(all.iter().filter(|(id, _)| chosen.contains(id)).cloned().collect())
}

/// Totals of a run, in a dry run and a real one alike.
#[derive(Debug, Default)]
struct Counts {
    blobs: AtomicU64,
    bytes_added: AtomicU64,
    bytes_stored: AtomicU64,
    dicts: AtomicU64,
    deltas: AtomicU64,
}

impl Counts {
    fn add(&self, s: &SaverStats) {
        self.blobs.fetch_add(s.blobs_added, Ordering::Relaxed);
        self.bytes_added.fetch_add(s.bytes_added, Ordering::Relaxed);
        self.bytes_stored.fetch_add(s.bytes_stored, Ordering::Relaxed);
    }

    /// A blob a dry run would send.
    fn planned(&self, raw: u64, stored: u64) {
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.bytes_added.fetch_add(raw, Ordering::Relaxed);
        self.bytes_stored.fetch_add(stored, Ordering::Relaxed);
    }
}

/// How one blob is sent.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// Sealed again as stored in the source.
    Keep(BlobId),
    /// Decompressed and stored afresh: its delta base or dictionary exists in the destination
    /// only in a form it cannot use (a delta, or another kind of blob).
    Recompress(BlobId),
}

/// One copy run: the two repositories and what was sent so far.
struct Run<'a> {
    src: &'a Repository,
    dst: &'a Repository,
    dry_run: bool,
    progress: &'a CopyProgress,
    /// Dry run: the blobs that would be sent (nothing reaches the destination's index).
    planned: Mutex<HashSet<BlobId>>,
    /// Dictionaries the destination has in usable form, or was sent.
    dicts: Mutex<HashSet<BlobId>>,
    counts: Counts,
}

/// One saving session into the destination (none in a dry run).
struct Session<'a, 'r> {
    run: &'a Run<'r>,
    saver: Option<BlobSaver<'r>>,
}

impl<'r> Run<'r> {
    /// Sends every blob reachable from `root` that the destination lacks, with what those
    /// need (dictionaries, delta bases), and returns once index files name them all.
    ///
    /// Two sessions: the first sends everything but the deltas whose base the destination
    /// lacks, plus those bases; once its index files are written, the second sends those
    /// deltas. A delta is never indexed before its base (format-spec §7.2).
    fn send_tree(&self, root: &BlobId, seen: &mut HashSet<BlobId>) -> Result<()> {
        let first = self.session();
        let mut v = Collect { session: &first, batch: Vec::new(), deferred: Vec::new(), err: None };
        walk(self.src, root, "/", false, seen, &mut v)?;
        if v.err.is_none() {
            let batch = std::mem::take(&mut v.batch);
            if let Err(e) = first.send(&batch) {
                v.err = Some(e);
            }
        }
        let (err, deferred) = (v.err, v.deferred);
        // What was sent is indexed even when something failed, so the next run reuses it.
        let finished = first.finish();
        if let Some(e) = err {
            return Err(e);
        }
        finished?;
        if deferred.is_empty() {
            return Ok(());
        }
        let second = self.session();
        let mut jobs = Vec::with_capacity(deferred.len());
        for (id, base) in deferred {
            if second.claim(&id)? {
                jobs.push(if self.base_usable(&base)? { Job::Keep(id) } else { Job::Recompress(id) });
            }
        }
        let sent = jobs.chunks(BATCH).try_for_each(|b| second.send(b));
        let finished = second.finish();
        sent?;
        finished
    }

    fn session(&self) -> Session<'_, 'r> {
        Session { run: self, saver: if self.dry_run { None } else { Some(BlobSaver::new(self.dst)) } }
    }

    /// Whether the destination can read a delta of `base`: it indexes `base` as a data blob
    /// that is not itself a delta (in a dry run, or will be sent such).
    fn base_usable(&self, base: &BlobId) -> Result<bool> {
        if self.dry_run && self.planned.lock().contains(base) {
            return Ok(true);
        }
        Ok(self.dst.index().get(base)?.is_some_and(|l| l.kind == BlobKind::Data && l.compression != Compression::ZstdDelta))
    }
}

impl Session<'_, '_> {
    /// True the first time a blob the destination lacks is offered: it is then this session's
    /// to send.
    fn claim(&self, id: &BlobId) -> Result<bool> {
        match &self.saver {
            Some(s) => s.claim(id),
            None => Ok(!self.run.dst.readable_in_index(id)? && self.run.planned.lock().insert(*id)),
        }
    }

    /// How to send a claimed blob now, or `Err(base)` when it is a delta that must wait for
    /// its base to be indexed (the base is then claimed, if nobody has it yet, and sent in this
    /// batch).
    fn plan(&self, kind: BlobKind, id: &BlobId, batch: &mut Vec<Job>) -> Result<std::result::Result<Job, BlobId>> {
        if kind != BlobKind::Data {
            return Ok(Ok(Job::Keep(*id)));
        }
        let loc = self.run.src.locate(id)?;
        let (Compression::ZstdDelta, Some(base)) = (loc.compression, loc.base) else { return Ok(Ok(Job::Keep(*id))) };
        if self.run.base_usable(&base)? {
            return Ok(Ok(Job::Keep(*id)));
        }
        if self.run.dst.readable_in_index(&base)? {
            // Indexed, but as a delta itself (a backup into the destination made it one).
            return Ok(Ok(Job::Recompress(*id)));
        }
        if self.claim(&base)? {
            batch.push(Job::Keep(base));
        }
        Ok(Err(base))
    }

    /// Reads, verifies and stores a batch of claimed blobs, in parallel.
    fn send(&self, batch: &[Job]) -> Result<()> {
        batch.par_iter().with_max_len(1).try_for_each(|job| self.send_one(*job))
    }

    fn send_one(&self, job: Job) -> Result<()> {
        let run = self.run;
        let raw = match job {
            Job::Keep(id) => {
                let p = run.src.read_verified(&id)?;
                let dict_ok = match p.dict() {
                    Some(d) => self.ensure_dict(&d)?,
                    None => true,
                };
                if !dict_ok {
                    return self.send_one(Job::Recompress(id));
                }
                if p.compression() == Compression::ZstdDelta {
                    run.counts.deltas.fetch_add(1, Ordering::Relaxed);
                }
                match &self.saver {
                    Some(s) => s.store_verified(&p)?,
                    None => run.counts.planned(u64::from(p.raw_length()), (p.payload().len() + crate::crypto::OVERHEAD) as u64),
                }
                u64::from(p.raw_length())
            }
            Job::Recompress(id) => {
                let loc = run.src.locate(&id)?;
                let plain = run.src.read_blob(&id)?;
                match &self.saver {
                    Some(s) => s.store(loc.kind, &id, &plain, None)?,
                    None => run.counts.planned(plain.len() as u64, u64::from(loc.length)),
                }
                plain.len() as u64
            }
        };
        run.progress.blobs_sent.fetch_add(1, Ordering::Relaxed);
        run.progress.bytes_sent.fetch_add(raw, Ordering::Relaxed);
        Ok(())
    }

    /// Makes sure the destination has dictionary `d` indexed before a blob compressed with it
    /// is stored: sent in a pack and an index file of its own, at once (format-spec §7.1).
    /// False when the destination has a blob of that id that is not a dictionary (then the
    /// blob is stored without one). Held under a lock, so no other thread stores a blob that
    /// needs `d` before its index file is written.
    fn ensure_dict(&self, d: &BlobId) -> Result<bool> {
        let run = self.run;
        let mut ready = run.dicts.lock();
        if ready.contains(d) {
            return Ok(true);
        }
        match run.dst.index().get(d)? {
            Some(l) if l.kind == BlobKind::Dict && l.compression != Compression::ZstdDict => {}
            Some(_) => return Ok(false),
            None => {
                let dict = run.src.dict(d)?;
                match &self.saver {
                    Some(s) => {
                        s.save_durable(BlobKind::Dict, &dict.bytes)?;
                    }
                    None => run.counts.planned(dict.bytes.len() as u64, u64::from(run.src.locate(d)?.length)),
                }
                run.counts.dicts.fetch_add(1, Ordering::Relaxed);
            }
        }
        ready.insert(*d);
        Ok(true)
    }

    /// Writes out what is left and the last index file, and adds the session's totals.
    fn finish(self) -> Result<()> {
        if let Some(s) = self.saver {
            let stats = s.finish()?;
            self.run.counts.add(&stats);
        }
        Ok(())
    }
}

/// Claims what a walk finds and sends it in batches; deltas whose base the destination lacks
/// wait for the second session.
struct Collect<'s, 'a, 'r> {
    session: &'s Session<'a, 'r>,
    batch: Vec<Job>,
    /// Deltas and their bases.
    deferred: Vec<(BlobId, BlobId)>,
    err: Option<Error>,
}

impl Collect<'_, '_, '_> {
    fn offer(&mut self, kind: BlobKind, id: &BlobId) -> Result<()> {
        if !self.session.claim(id)? {
            return Ok(());
        }
        match self.session.plan(kind, id, &mut self.batch)? {
            Ok(job) => self.batch.push(job),
            Err(base) => self.deferred.push((*id, base)),
        }
        if self.batch.len() >= BATCH {
            let batch = std::mem::take(&mut self.batch);
            self.session.send(&batch)?;
        }
        Ok(())
    }
}

impl Visitor for Collect<'_, '_, '_> {
    fn blob(&mut self, kind: BlobKind, id: &BlobId, _path: &str) {
        if self.err.is_none()
            && let Err(e) = self.offer(kind, id)
        {
            self.err = Some(e);
        }
    }

    fn damaged(&mut self, _kind: BlobKind, _id: &BlobId, path: &str, err: Error) {
        self.err.get_or_insert(Error::At { path: path.to_string(), source: Box::new(err) });
    }
}

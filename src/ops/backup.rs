//! `backup`: walks the sources, reads and chunks changed files on worker threads, hands new chunks
//! to a compression pool that fills packs, assembles one tree per directory in order as results
//! arrive, and writes the snapshot only once every blob it needs is named by an index file.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use parking_lot::Mutex;

use super::dictionary;
use super::node::{kind_of, node_from_metadata, read_xattrs, unchanged, Names};
use crate::chunker::Chunker;
use crate::error::{Error, Result};
use crate::format::pack::BlobKind;
use crate::format::snapshot::{Snapshot, Summary, SNAPSHOT_VERSION};
use crate::format::tree::{encode_list, split_list, valid_name, Content, Node, NodeKind, Tree, INLINE_CHUNKS_MAX};
use crate::format::{BlobId, SnapshotId};
use crate::format::pack::Compression;
use crate::repo::blob::{delta, usable_base, Dict};
use crate::repo::saver::BlobSaver;
use crate::repo::Repository;

/// Where a stream's bytes come from.
#[derive(Debug, Clone)]
pub enum StreamSource {
    Stdin,
    /// A command whose standard output is backed up; a non-zero exit aborts the backup.
    Command(Vec<OsString>),
}

/// A stream stored as the file `/<name>` in the snapshot.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub name: String,
    pub source: StreamSource,
}

/// What to back up and how.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    pub paths: Vec<PathBuf>,
    pub stream: Option<StreamSpec>,
    pub tags: Vec<String>,
    pub host: Option<String>,
    pub time: Option<jiff::Zoned>,
    pub excludes: Vec<String>,
    pub exclude_files: Vec<PathBuf>,
    pub one_file_system: bool,
    pub dry_run: bool,
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes_read: AtomicU64,
    pub files_done: AtomicU64,
}

/// The result of a backup that ran to the end.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// `None` for a dry run.
    pub id: Option<SnapshotId>,
    pub snapshot: Snapshot,
    /// Paths that could not be read, with the reason; they are missing from the snapshot.
    pub errors: Vec<String>,
    /// Things worth knowing that did not lose data (such as a file changing while read).
    pub warnings: Vec<String>,
}

/// Runs a backup.
///
/// # Errors
/// Bad options (no sources, missing source path, bad exclude pattern), a failing or cut stream,
/// interruption through `cancel`, and storage errors. In every error case no snapshot is written,
/// but what was stored is indexed so the next backup reuses it.
pub fn backup(repo: &Repository, opts: &BackupOptions, progress: &Progress, cancel: &AtomicBool) -> Result<BackupOutcome> {
    let started = Instant::now();
    let root = plan_sources(opts)?;
    if !opts.dry_run {
        super::adopt::adopt_orphans(repo)?;
    }
    let excludes = Excludes::new(&opts.excludes, &opts.exclude_files)?;
    let hostname = match &opts.host {
        Some(h) => h.clone(),
        None => hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let mut paths: Vec<String> = root.sources.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(s) = &opts.stream {
        paths.push(format!("/{}", s.name));
    }
    paths.sort();
    let parent = find_parent(repo, &hostname, &paths)?;
    let parent_tree = match &parent {
        Some((_, snap)) => repo.load_tree(&snap.tree).ok(),
        None => None,
    };

    let saver = BlobSaver::new(repo);
    let ctx = Ctx {
        repo,
        saver: &saver,
        progress,
        cancel,
        dry_run: opts.dry_run,
        failed: AtomicBool::new(false),
        errors: Mutex::new(Vec::new()),
        warnings: Mutex::new(Vec::new()),
        counts: Counts::default(),
        file_chunker: Chunker::new(repo.config.chunker_files, repo.keys.chunker_seed()),
        stream_chunker: Chunker::new(repo.config.chunker_streams, repo.keys.chunker_seed()),
        fatal: Mutex::new(None),
        excludes,
        one_file_system: opts.one_file_system,
    };
    let threads = std::thread::available_parallelism().map(std::num::NonZero::get).unwrap_or(2).max(2);
    let tree_result = std::thread::scope(|s| {
        let (ev_tx, ev_rx) = bounded::<Event>(4096);
        let (job_tx, job_rx) = bounded::<FileJob>(threads * 4);
        let (store_tx, store_rx) = bounded::<StoreJob>(threads);
        for _ in 0..threads {
            let rx = store_rx.clone();
            let ctx = &ctx;
            s.spawn(move || store_worker(ctx, &rx));
        }
        drop(store_rx);
        for _ in 0..threads {
            let rx = job_rx.clone();
            let tx = store_tx.clone();
            let ctx = &ctx;
            s.spawn(move || file_worker(ctx, &rx, &tx));
        }
        drop(job_rx);
        drop(store_tx);
        let ctx_ref = &ctx;
        let root_ref = &root;
        let stream = opts.stream.clone();
        s.spawn(move || {
            let mut w = Walker { ctx: ctx_ref, events: ev_tx, jobs: job_tx, names: Names::default() };
            w.walk_root(root_ref, parent_tree, stream);
        });
        assemble(&ctx, &ev_rx)
    });
    // Every worker has stopped: store what was claimed and index it, whatever happened.
    let Ctx { fatal, errors, warnings, counts: c, .. } = ctx;
    let stats = saver.finish();
    if let Some(e) = fatal.into_inner() {
        return Err(e);
    }
    if cancel.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    let stats = stats?;
    let tree = tree_result?;
    let time = match &opts.time {
        Some(t) => t.clone(),
        None => jiff::Zoned::now(),
    };
    let errors = errors.into_inner();
    let warnings = warnings.into_inner();
    let summary = Summary {
        files_new: c.files_new.load(Ordering::Relaxed),
        files_changed: c.files_changed.load(Ordering::Relaxed),
        files_unchanged: c.files_unchanged.load(Ordering::Relaxed),
        dirs: c.dirs.load(Ordering::Relaxed),
        bytes_read: progress.bytes_read.load(Ordering::Relaxed),
        bytes_total: c.bytes_total.load(Ordering::Relaxed),
        blobs_added: if opts.dry_run { c.dry_blobs.load(Ordering::Relaxed) } else { stats.blobs_added },
        bytes_added: if opts.dry_run { c.dry_bytes.load(Ordering::Relaxed) } else { stats.bytes_added },
        bytes_stored: stats.bytes_stored,
        errors: errors.len() as u64,
        duration_secs: started.elapsed().as_secs_f64(),
    };
    let snapshot = Snapshot {
        version: SNAPSHOT_VERSION,
        time: time.timestamp().display_with_offset(time.offset()).to_string(),
        hostname,
        username: uzers::get_current_username().map(|u| u.to_string_lossy().into_owned()).unwrap_or_default(),
        paths,
        tags: opts.tags.clone(),
        tree,
        parent: parent.map(|(id, _)| id),
        program_version: format!("snap {}", env!("CARGO_PKG_VERSION")),
        summary,
    };
    let id = if opts.dry_run { None } else { Some(repo.save_snapshot(&snapshot)?) };
    Ok(BackupOutcome { id, snapshot, errors, warnings })
}

/// The latest snapshot of the same host and the same set of paths.
fn find_parent(repo: &Repository, host: &str, paths: &[String]) -> Result<Option<(SnapshotId, Snapshot)>> {
    let all = repo.snapshots()?;
    Ok(all.into_iter().rev().find(|(_, s)| s.hostname == host && s.sorted_paths() == paths))
}

#[derive(Default)]
struct Counts {
    files_new: AtomicU64,
    files_changed: AtomicU64,
    files_unchanged: AtomicU64,
    dirs: AtomicU64,
    bytes_total: AtomicU64,
    dry_blobs: AtomicU64,
    dry_bytes: AtomicU64,
}

/// State shared by all stages of one backup.
struct Ctx<'a> {
    repo: &'a Repository,
    saver: &'a BlobSaver<'a>,
    progress: &'a Progress,
    cancel: &'a AtomicBool,
    dry_run: bool,
    failed: AtomicBool,
    errors: Mutex<Vec<String>>,
    warnings: Mutex<Vec<String>>,
    counts: Counts,
    file_chunker: Chunker,
    stream_chunker: Chunker,
    /// An error that aborts the whole backup (failed stream, storage failure).
    fatal: Mutex<Option<Error>>,
    excludes: Excludes,
    one_file_system: bool,
}

impl Ctx<'_> {
    fn stopped(&self) -> bool {
        self.failed.load(Ordering::Relaxed) || self.cancel.load(Ordering::Relaxed)
    }
    fn fail(&self, e: Error) {
        self.fatal.lock().get_or_insert(e);
        self.failed.store(true, Ordering::SeqCst);
    }
    fn error(&self, path: &Path, msg: impl std::fmt::Display) {
        self.errors.lock().push(format!("{}: {msg}", path.display()));
    }

    /// Stores (or, in a dry run, only counts) a metadata blob.
    fn save_meta(&self, kind: BlobKind, plain: &[u8]) -> Result<BlobId> {
        if self.dry_run {
            let id = self.repo.keys.blob_id(plain);
            if self.saver.claim(&id)? {
                self.counts.dry_blobs.fetch_add(1, Ordering::Relaxed);
                self.counts.dry_bytes.fetch_add(plain.len() as u64, Ordering::Relaxed);
            }
            Ok(id)
        } else {
            self.saver.save(kind, plain)
        }
    }

    /// The content for an ordered id list: inline, or through chunk-list blobs.
    fn content_for(&self, ids: Vec<BlobId>) -> Result<Content> {
        if ids.is_empty() {
            return Ok(Content::Empty);
        }
        if ids.len() <= INLINE_CHUNKS_MAX {
            return Ok(Content::Chunks(ids));
        }
        let lists = split_list(&ids).into_iter().map(|g| self.save_meta(BlobKind::List, &encode_list(g))).collect::<Result<Vec<_>>>()?;
        Ok(Content::Lists(lists))
    }
}

/// What the walker tells the tree assembler, in depth-first order.
enum Event {
    Enter,
    Node(Pending),
    /// Closes the current directory; carries the directory's own node (no subtree yet).
    Leave(Node),
}

enum Pending {
    Ready(Node),
    File(Receiver<Option<Node>>),
}

struct FileJob {
    source: JobSource,
    node: Node,
    reply: Sender<Option<Node>>,
}

enum JobSource {
    Path(PathBuf),
    /// A stream, with the chunks of its previous version (the parent snapshot's file of the
    /// same name), which serve as delta bases.
    Stream(StreamSpec, Vec<BlobId>),
}

/// A claimed chunk on its way to the store pool: the dictionary to compress it with, and the
/// chunk its previous version probably was (a delta base candidate).
struct StoreJob {
    id: BlobId,
    data: Vec<u8>,
    dict: Option<Arc<Dict>>,
    previous: Option<BlobId>,
}

/// The chunks of a stream's previous version, with where each starts, for finding the old chunk
/// a new one replaced.
#[derive(Default)]
struct PreviousVersion {
    ids: Vec<BlobId>,
    /// Byte offset of each chunk in the previous version.
    starts: Vec<u64>,
    /// Index of each id in `ids`.
    position: HashMap<BlobId, usize>,
    /// Length of the previous version.
    len: u64,
}

impl PreviousVersion {
    fn new(repo: &Repository, ids: Vec<BlobId>) -> Self {
        let mut starts = Vec::with_capacity(ids.len());
        let mut at = 0u64;
        for id in &ids {
            starts.push(at);
            // A chunk whose length is unknown makes the rest unusable for alignment.
            match repo.locate(id) {
                Ok(loc) => at += u64::from(loc.raw_length),
                Err(_) => return Self::default(),
            }
        }
        let position = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        Self { ids, starts, position, len: at }
    }

    /// The old chunk covering byte `at` of the previous version.
    fn at(&self, at: u64) -> Option<BlobId> {
        if at >= self.len {
            return None;
        }
        let i = self.starts.partition_point(|s| *s <= at).checked_sub(1)?;
        self.ids.get(i).copied()
    }
}

/// Follows a new version of a stream against its previous one: chunks both share anchor the two
/// byte positions, and a new chunk is matched to the old chunk at the same distance from the
/// last anchor (edits are small, so that distance barely drifts; chunk splits and merges do not
/// throw it off).
struct Aligner<'p> {
    previous: &'p PreviousVersion,
    new_at: u64,
    anchor_new: u64,
    anchor_old: u64,
}

impl<'p> Aligner<'p> {
    fn new(previous: &'p PreviousVersion) -> Self {
        Self { previous, new_at: 0, anchor_new: 0, anchor_old: 0 }
    }

    /// The next chunk of the new version; returns the old chunk it probably replaced.
    fn next(&mut self, id: &BlobId, len: usize) -> Option<BlobId> {
        let start = self.new_at;
        self.new_at += len as u64;
        if let Some(&i) = self.previous.position.get(id) {
            self.anchor_new = self.new_at;
            self.anchor_old = self.previous.starts.get(i).copied().unwrap_or(0) + len as u64;
            return None;
        }
        let mid = start + len as u64 / 2;
        let old_mid = (self.anchor_old + mid).checked_sub(self.anchor_new)?;
        self.previous.at(old_mid)
    }
}

/// A delta is kept only when it is at most this fraction of the chunk; otherwise the chunk is
/// stored whole (and may serve as a base itself later).
const DELTA_MAX_SHARE: usize = 5;

/// Stores claimed chunks: compression and sealing happen here, on all cores.
fn store_worker(ctx: &Ctx<'_>, rx: &Receiver<StoreJob>) {
    for job in rx {
        if ctx.failed.load(Ordering::Relaxed) {
            continue;
        }
        let stored = match job.previous.and_then(|p| delta_base(ctx.repo, &p)) {
            Some((base_id, base)) => match delta(&job.data, ctx.repo.config.compression_level, &base, job.data.len() / DELTA_MAX_SHARE) {
                Some(frame) => ctx.saver.store_delta(&job.id, job.data.len(), &base_id, &frame),
                None => ctx.saver.store(BlobKind::Data, &job.id, &job.data, job.dict.as_deref()),
            },
            None => ctx.saver.store(BlobKind::Data, &job.id, &job.data, job.dict.as_deref()),
        };
        if let Err(e) = stored {
            ctx.fail(e);
        }
    }
}

/// The base for a delta against `previous`: the blob itself, or, if it is a delta, its base
/// (bases are never deltas). `None` when it cannot be read: the chunk is then stored whole.
fn delta_base(repo: &Repository, previous: &BlobId) -> Option<(BlobId, Vec<u8>)> {
    let loc = repo.locate(previous).ok()?;
    let id = match (loc.compression, loc.base) {
        (Compression::ZstdDelta, Some(b)) => b,
        (Compression::ZstdDelta, None) => return None,
        _ => *previous,
    };
    let base = if id == *previous { loc } else { repo.locate(&id).ok()? };
    if base.kind != BlobKind::Data || base.compression == Compression::ZstdDelta {
        return None;
    }
    let plain = repo.read_blob_ahead(&id).ok()?;
    usable_base(&plain).then_some((id, plain))
}

fn file_worker(ctx: &Ctx<'_>, rx: &Receiver<FileJob>, store: &Sender<StoreJob>) {
    for job in rx {
        let result = if ctx.stopped() {
            None
        } else {
            match job.source {
                JobSource::Path(p) => read_file(ctx, &p, job.node, store),
                JobSource::Stream(s, ids) => read_stream(ctx, &s, &PreviousVersion::new(ctx.repo, ids), job.node, store),
            }
        };
        ctx.progress.files_done.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(result);
    }
}

/// Chunks one reader: ids in order, new chunks claimed and sent to the store pool.
///
/// A stream (`previous` given: the chunks of its last version, possibly none) is compressed with
/// a dictionary: its first new chunks wait until one is chosen from them
/// ([`dictionary::choose`]; training a new one on 2 MiB takes about a tenth of a second). Each
/// new chunk of a stream is also offered a delta base: the chunk of the previous version that
/// stood where it stands ([`Aligner`]).
fn chunk_reader(ctx: &Ctx<'_>, chunker: &Chunker, reader: impl Read, store: &Sender<StoreJob>, previous: Option<&PreviousVersion>, size_hint: Option<u64>) -> std::io::Result<(Vec<BlobId>, u64)> {
    let mut ids = Vec::new();
    let mut stream = chunker.stream_sized(reader, size_hint);
    // New chunks held back while the dictionary is not chosen yet.
    let mut held: Option<(Vec<StoreJob>, usize)> = (previous.is_some() && !ctx.dry_run).then(|| (Vec::new(), 0));
    let mut dict: Option<Arc<Dict>> = None;
    let none = PreviousVersion::default();
    let mut aligner = Aligner::new(previous.unwrap_or(&none));
    let send = |job: StoreJob| store.send(job).map_err(|_| std::io::Error::other("store pool stopped"));
    while let Some(chunk) = stream.next_chunk()? {
        if ctx.stopped() {
            return Err(std::io::Error::other("stopped"));
        }
        let id = ctx.repo.keys.blob_id(chunk);
        ids.push(id);
        ctx.progress.bytes_read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        let was = aligner.next(&id, chunk.len());
        let claimed = ctx.saver.claim(&id).map_err(std::io::Error::other)?;
        if !claimed {
            continue;
        }
        if ctx.dry_run {
            ctx.counts.dry_blobs.fetch_add(1, Ordering::Relaxed);
            ctx.counts.dry_bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            continue;
        }
        let job = StoreJob { id, data: chunk.to_vec(), dict: dict.clone(), previous: was };
        match &mut held {
            Some((jobs, bytes)) => {
                *bytes += chunk.len();
                jobs.push(job);
                if *bytes >= dictionary::SAMPLE_BYTES {
                    let (jobs, _) = held.take().unwrap_or_default();
                    dict = flush_held(ctx, jobs, &send)?;
                }
            }
            None => send(job)?,
        }
    }
    if let Some((jobs, _)) = held.take() {
        flush_held(ctx, jobs, &send)?;
    }
    let n = stream.bytes_read();
    Ok((ids, n))
}

/// Chooses the dictionary from the held chunks, then sends them on with it.
fn flush_held(ctx: &Ctx<'_>, jobs: Vec<StoreJob>, send: &dyn Fn(StoreJob) -> std::io::Result<()>) -> std::io::Result<Option<Arc<Dict>>> {
    let samples: Vec<&[u8]> = jobs.iter().map(|j| j.data.as_slice()).collect();
    let dict = dictionary::choose(ctx.repo, ctx.saver, &samples).map_err(std::io::Error::other)?;
    for mut j in jobs {
        j.dict.clone_from(&dict);
        send(j)?;
    }
    Ok(dict)
}

/// Reads a regular file; re-reads once if it changed while being read.
fn read_file(ctx: &Ctx<'_>, path: &Path, mut node: Node, store: &Sender<StoreJob>) -> Option<Node> {
    for attempt in 0..2 {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                ctx.error(path, e);
                return None;
            }
        };
        let (ids, n) = match chunk_reader(ctx, &ctx.file_chunker, &file, store, None, Some(node.size)) {
            Ok(r) => r,
            Err(e) => {
                if !ctx.stopped() {
                    ctx.error(path, e);
                }
                return None;
            }
        };
        let after = file.metadata().ok();
        let changed = after.as_ref().is_some_and(|m| {
            m.size() != n || m.mtime() != node.mtime.secs || m.mtime_nsec() != i64::from(node.mtime.nanos) || m.ctime() != node.ctime.secs || m.ctime_nsec() != i64::from(node.ctime.nanos)
        });
        if let Some(m) = &after {
            node.size = n;
            node.mtime.secs = m.mtime();
            node.mtime.nanos = u32::try_from(m.mtime_nsec()).unwrap_or(0);
            node.ctime.secs = m.ctime();
            node.ctime.nanos = u32::try_from(m.ctime_nsec()).unwrap_or(0);
        }
        if changed && attempt == 0 {
            continue;
        }
        if changed {
            ctx.warnings.lock().push(format!("{}: changed while being read; stored as last read", path.display()));
        }
        ctx.counts.bytes_total.fetch_add(n, Ordering::Relaxed);
        return match ctx.content_for(ids) {
            Ok(c) => {
                node.content = c;
                Some(node)
            }
            Err(e) => {
                ctx.fail(e);
                None
            }
        };
    }
    None
}

/// Reads stdin or a command's output; any failure aborts the whole backup.
fn read_stream(ctx: &Ctx<'_>, spec: &StreamSpec, previous: &PreviousVersion, mut node: Node, store: &Sender<StoreJob>) -> Option<Node> {
    let result = match &spec.source {
        StreamSource::Stdin => chunk_reader(ctx, &ctx.stream_chunker, std::io::stdin().lock(), store, Some(previous), None)
            .map_err(|e| Error::CommandFailed(format!("reading standard input for /{}: {e}", spec.name))),
        StreamSource::Command(argv) => run_command(ctx, argv, previous, store),
    };
    match result {
        Ok((ids, n)) => {
            node.size = n;
            ctx.counts.bytes_total.fetch_add(n, Ordering::Relaxed);
            match ctx.content_for(ids) {
                Ok(c) => {
                    node.content = c;
                    Some(node)
                }
                Err(e) => {
                    ctx.fail(e);
                    None
                }
            }
        }
        Err(e) => {
            if !ctx.cancel.load(Ordering::Relaxed) {
                ctx.fail(e);
            }
            None
        }
    }
}

fn run_command(ctx: &Ctx<'_>, argv: &[OsString], previous: &PreviousVersion, store: &Sender<StoreJob>) -> Result<(Vec<BlobId>, u64)> {
    let shown = argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    let (prog, args) = argv.split_first().ok_or_else(|| Error::Invalid("--stdin-from-command needs a command after --".into()))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::CommandFailed(format!("cannot run `{shown}`: {e}")))?;
    let out = child.stdout.take().ok_or_else(|| Error::CommandFailed(format!("`{shown}`: no stdout")))?;
    let read = chunk_reader(ctx, &ctx.stream_chunker, out, store, Some(previous), None);
    if read.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| Error::CommandFailed(format!("`{shown}`: {e}")))?;
    let (ids, n) = read.map_err(|e| Error::CommandFailed(format!("reading output of `{shown}`: {e}")))?;
    if !status.success() {
        let how = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "failed".to_string(),
        };
        return Err(Error::CommandFailed(format!("`{shown}` {how}; no snapshot was written")));
    }
    Ok((ids, n))
}

/// Builds trees bottom-up as the walker's events and the workers' results arrive.
fn assemble(ctx: &Ctx<'_>, events: &Receiver<Event>) -> Result<BlobId> {
    let mut stack: Vec<Vec<Node>> = Vec::new();
    let mut root = None;
    for ev in events {
        match ev {
            Event::Enter => stack.push(Vec::new()),
            Event::Node(p) => {
                let node = match p {
                    Pending::Ready(n) => Some(n),
                    Pending::File(rx) => rx.recv().ok().flatten(),
                };
                if let (Some(n), Some(top)) = (node, stack.last_mut()) {
                    top.push(n);
                }
            }
            Event::Leave(mut dir) => {
                let nodes = stack.pop().unwrap_or_default();
                if ctx.stopped() {
                    continue;
                }
                let mut tree = Tree { nodes };
                tree.sort();
                tree.nodes.dedup_by(|a, b| a.name == b.name);
                let id = match ctx.save_meta(BlobKind::Tree, &tree.encode()) {
                    Ok(id) => id,
                    Err(e) => {
                        ctx.fail(e);
                        continue;
                    }
                };
                ctx.counts.dirs.fetch_add(1, Ordering::Relaxed);
                dir.subtree = Some(id);
                match stack.last_mut() {
                    Some(parent) => parent.push(dir),
                    None => root = Some(id),
                }
            }
        }
    }
    if ctx.cancel.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    root.ok_or_else(|| Error::Invalid("backup stopped before the root tree was written".into()))
}

/// The sources arranged as they will appear in the snapshot.
#[derive(Debug, Default)]
struct SourcePlan {
    /// Normalised absolute source paths, nested ones removed.
    sources: Vec<PathBuf>,
    root: VDir,
}

#[derive(Debug, Default)]
struct VDir {
    /// The real path this virtual directory stands for (for its metadata).
    path: PathBuf,
    children: BTreeMap<Vec<u8>, VEntry>,
}

#[derive(Debug)]
enum VEntry {
    Dir(VDir),
    Source(PathBuf),
}

/// Lexically absolute and clean: no `.`, `..` resolved, no trailing slash.
fn normalize(p: &Path) -> Result<PathBuf> {
    let abs = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().map_err(|e| Error::io(".", e))?.join(p) };
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Ok(out)
}

fn plan_sources(opts: &BackupOptions) -> Result<SourcePlan> {
    if opts.paths.is_empty() && opts.stream.is_none() {
        return Err(Error::Invalid("nothing to back up: give paths, --stdin or --stdin-from-command".into()));
    }
    if let Some(s) = &opts.stream
        && !valid_name(s.name.as_bytes())
    {
        return Err(Error::Invalid(format!("--stdin-filename {:?} must be a plain file name", s.name)));
    }
    let mut sources = Vec::new();
    for p in &opts.paths {
        let n = normalize(p)?;
        if let Err(e) = std::fs::symlink_metadata(&n) {
            return Err(if e.kind() == std::io::ErrorKind::NotFound {
                Error::Invalid(format!("source path {} does not exist", p.display()))
            } else {
                Error::io(p, e)
            });
        }
        sources.push(n);
    }
    sources.sort();
    sources.dedup();
    // Drop paths inside another source.
    let mut kept: Vec<PathBuf> = Vec::new();
    for s in sources {
        if !kept.iter().any(|k| s.starts_with(k)) {
            kept.push(s);
        }
    }
    let mut root = VDir { path: PathBuf::from("/"), children: BTreeMap::new() };
    for s in &kept {
        let comps: Vec<&OsStr> = s.components().filter_map(|c| if let Component::Normal(n) = c { Some(n) } else { None }).collect();
        if comps.is_empty() {
            // "/" itself: every entry of the root is a source.
            root.children.clear();
            root.children.insert(Vec::new(), VEntry::Source(s.clone()));
            break;
        }
        let mut dir = &mut root;
        let mut here = PathBuf::from("/");
        for (i, c) in comps.iter().enumerate() {
            here.push(c);
            let key = c.as_bytes().to_vec();
            if i + 1 == comps.len() {
                dir.children.insert(key, VEntry::Source(s.clone()));
                break;
            }
            let entry = dir.children.entry(key).or_insert_with(|| VEntry::Dir(VDir { path: here.clone(), children: BTreeMap::new() }));
            match entry {
                VEntry::Dir(d) => dir = d,
                VEntry::Source(_) => break,
            }
        }
    }
    if let Some(s) = &opts.stream
        && root.children.contains_key(s.name.as_bytes())
    {
        return Err(Error::Invalid(format!("--stdin-filename {:?} collides with a backed-up path", s.name)));
    }
    Ok(SourcePlan { sources: kept, root })
}

/// Exclude patterns: those with a `/` match the whole absolute path, others the file name.
struct Excludes {
    names: GlobSet,
    paths: GlobSet,
}

impl Excludes {
    fn new(patterns: &[String], files: &[PathBuf]) -> Result<Self> {
        let mut all: Vec<String> = patterns.to_vec();
        for f in files {
            let text = std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?;
            all.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string));
        }
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        for p in &all {
            let bad = |e: globset::Error| Error::Invalid(format!("bad exclude pattern {p:?}: {e}"));
            if p.contains('/') {
                paths.add(GlobBuilder::new(p.trim_end_matches('/')).literal_separator(true).build().map_err(bad)?);
            } else {
                names.add(Glob::new(p).map_err(bad)?);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| Error::Invalid(format!("bad exclude patterns: {e}")));
        Ok(Self { names: build(names)?, paths: build(paths)? })
    }

    fn excluded(&self, path: &Path) -> bool {
        path.file_name().is_some_and(|n| self.names.is_match(n)) || self.paths.is_match(path)
    }
}

struct Walker<'c, 'a> {
    ctx: &'c Ctx<'a>,
    events: Sender<Event>,
    jobs: Sender<FileJob>,
    names: Names,
}

impl Walker<'_, '_> {
    fn emit(&self, ev: Event) -> bool {
        self.events.send(ev).is_ok()
    }

    fn walk_root(&mut self, plan: &SourcePlan, parent: Option<Tree>, stream: Option<StreamSpec>) {
        let root_md = std::fs::symlink_metadata("/");
        let mut root_node = match &root_md {
            Ok(md) => node_from_metadata(OsStr::new(""), md, &mut self.names),
            Err(_) => Node { kind: Some(NodeKind::Dir), mode: 0o755, ..Node::default() },
        };
        root_node.kind = Some(NodeKind::Dir);
        self.emit(Event::Enter);
        if let Some(VEntry::Source(_)) = plan.root.children.get(&Vec::new()) {
            let dev = root_md.as_ref().map(MetadataExt::dev).unwrap_or(0);
            self.walk_dir_entries(Path::new("/"), parent.as_ref(), dev);
        } else {
            self.walk_vdir_entries(&plan.root, parent.as_ref());
        }
        if let Some(spec) = stream {
            let node = Node {
                name: spec.name.as_bytes().to_vec(),
                kind: Some(NodeKind::File),
                mode: 0o600,
                uid: root_node_uid(),
                gid: root_node_gid(),
                mtime: now_ts(),
                ctime: now_ts(),
                nlink: 1,
                ..Node::default()
            };
            let old = parent.as_ref().and_then(|t| find(t, spec.name.as_bytes())).filter(|n| n.kind() == NodeKind::File);
            let previous = old.and_then(|n| self.ctx.repo.file_chunks(n).ok()).unwrap_or_default();
            self.dispatch(JobSource::Stream(spec, previous), node);
        }
        self.emit(Event::Leave(root_node));
    }

    fn walk_vdir_entries(&mut self, dir: &VDir, parent: Option<&Tree>) {
        for (name, entry) in &dir.children {
            if self.ctx.stopped() {
                return;
            }
            let old = parent.and_then(|t| find(t, name));
            match entry {
                VEntry::Source(path) => self.walk_path(path, old, None),
                VEntry::Dir(sub) => {
                    let md = match std::fs::symlink_metadata(&sub.path) {
                        Ok(m) => m,
                        Err(e) => {
                            self.ctx.error(&sub.path, e);
                            continue;
                        }
                    };
                    let mut node = node_from_metadata(OsStr::from_bytes(name), &md, &mut self.names);
                    node.kind = Some(NodeKind::Dir);
                    let old_tree = self.subtree_of(old);
                    self.emit(Event::Enter);
                    self.walk_vdir_entries(sub, old_tree.as_ref());
                    self.emit(Event::Leave(node));
                }
            }
        }
    }

    fn subtree_of(&self, old: Option<&Node>) -> Option<Tree> {
        let old = old?;
        if old.kind() != NodeKind::Dir {
            return None;
        }
        self.ctx.repo.load_tree(&old.subtree?).ok()
    }

    /// Backs up one path (a source, or an entry found while walking).
    fn walk_path(&mut self, path: &Path, old: Option<&Node>, root_dev: Option<u64>) {
        if self.ctx.excludes.excluded(path) {
            return;
        }
        let md = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => {
                self.ctx.error(path, e);
                return;
            }
        };
        let name = path.file_name().unwrap_or_else(|| OsStr::new(""));
        let mut node = node_from_metadata(name, &md, &mut self.names);
        node.xattrs = read_xattrs(path);
        match kind_of(&md) {
            NodeKind::Dir => {
                let dev = root_dev.unwrap_or(md.dev());
                self.emit(Event::Enter);
                if !(self.ctx.one_file_system && md.dev() != dev) {
                    let old_tree = self.subtree_of(old);
                    self.walk_dir_entries(path, old_tree.as_ref(), dev);
                }
                self.emit(Event::Leave(node));
            }
            NodeKind::File => {
                if let Some(o) = old
                    && unchanged(o, &node)
                    && self.blobs_present(&o.content)
                {
                    node.content = o.content.clone();
                    self.ctx.counts.files_unchanged.fetch_add(1, Ordering::Relaxed);
                    self.ctx.counts.bytes_total.fetch_add(node.size, Ordering::Relaxed);
                    self.emit(Event::Node(Pending::Ready(node)));
                    return;
                }
                let counter = if old.is_some_and(|o| o.kind() == NodeKind::File) { &self.ctx.counts.files_changed } else { &self.ctx.counts.files_new };
                counter.fetch_add(1, Ordering::Relaxed);
                self.dispatch(JobSource::Path(path.to_path_buf()), node);
            }
            NodeKind::Symlink => {
                match std::fs::read_link(path) {
                    Ok(t) => node.link_target = t.as_os_str().as_bytes().to_vec(),
                    Err(e) => {
                        self.ctx.error(path, e);
                        return;
                    }
                }
                self.emit(Event::Node(Pending::Ready(node)));
            }
            _ => {
                self.emit(Event::Node(Pending::Ready(node)));
            }
        }
    }

    fn walk_dir_entries(&mut self, dir: &Path, parent: Option<&Tree>, dev: u64) {
        let rd = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => {
                self.ctx.error(dir, e);
                return;
            }
        };
        let mut names: Vec<OsString> = Vec::new();
        for ent in rd {
            match ent {
                Ok(e) => names.push(e.file_name()),
                Err(e) => self.ctx.error(dir, e),
            }
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            if self.ctx.stopped() {
                return;
            }
            let old = parent.and_then(|t| find(t, n.as_bytes()));
            self.walk_path(&dir.join(&n), old, Some(dev));
        }
    }

    fn dispatch(&self, source: JobSource, node: Node) {
        let (tx, rx) = bounded(1);
        if self.jobs.send(FileJob { source, node, reply: tx }).is_ok() {
            self.emit(Event::Node(Pending::File(rx)));
        }
    }

    /// Whether every blob a reused content list names is still indexed.
    fn blobs_present(&self, c: &Content) -> bool {
        let ids = match c {
            Content::Empty => return true,
            Content::Chunks(ids) | Content::Lists(ids) => ids,
        };
        ids.iter().all(|id| self.ctx.repo.index().contains(id).unwrap_or(false))
    }
}

fn find<'t>(t: &'t Tree, name: &[u8]) -> Option<&'t Node> {
    t.nodes.binary_search_by(|n| n.name.as_slice().cmp(name)).ok().and_then(|i| t.nodes.get(i))
}

fn now_ts() -> crate::format::tree::Timestamp {
    let now = jiff::Timestamp::now();
    crate::format::tree::Timestamp { secs: now.as_second(), nanos: u32::try_from(now.subsec_nanosecond()).unwrap_or(0) }
}

fn root_node_uid() -> u32 {
    uzers::get_current_uid()
}

fn root_node_gid() -> u32 {
    uzers::get_current_gid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> BlobId {
        BlobId([n; 32])
    }

    fn previous(chunks: &[(u8, u64)]) -> PreviousVersion {
        let ids: Vec<BlobId> = chunks.iter().map(|c| id(c.0)).collect();
        let mut at = 0;
        let starts = chunks
            .iter()
            .map(|c| {
                at += c.1;
                at - c.1
            })
            .collect();
        let position = ids.iter().enumerate().map(|(i, b)| (*b, i)).collect();
        PreviousVersion { ids, starts, position, len: at }
    }

    #[test]
    fn aligner_matches_replaced_chunks_through_edits_splits_and_merges() {
        // Old: a b c d e, 100 bytes each.
        let old = previous(&[(1, 100), (2, 100), (3, 100), (4, 100), (5, 100)]);
        let mut al = Aligner::new(&old);
        assert_eq!(al.next(&id(1), 100), None, "shared chunk: an anchor");
        assert_eq!(al.next(&id(20), 110), Some(id(2)), "b edited (grew by 10)");
        assert_eq!(al.next(&id(3), 100), None, "c shared: re-anchors");
        // d split in two by an edit: both halves map into d.
        assert_eq!(al.next(&id(40), 45), Some(id(4)));
        assert_eq!(al.next(&id(41), 60), Some(id(4)));
        // e edited, after the split shifted everything by 5 bytes.
        assert_eq!(al.next(&id(50), 100), Some(id(5)));
        // Past the end of the old version: nothing to compare with.
        assert_eq!(al.next(&id(60), 100), None);

        // A stream with no previous version never offers a base.
        let none = PreviousVersion::default();
        let mut al = Aligner::new(&none);
        assert_eq!(al.next(&id(1), 100), None);
    }
}

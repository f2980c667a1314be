//! `backup`: walks the sources, reads and chunks changed files on worker threads, hands new chunks
//! to a compression pool that fills packs, assembles one tree per directory in order as results
//! arrive, and writes the snapshot only once every blob it needs is named by an index file.
//!
//! This file holds the orchestration and the types the stages share; each stage has its own file:
//! [`sources`] (what to back up, excludes), [`walker`] (the filesystem walk), [`file`] (reading one
//! file), [`stream`] (stdin or a command's output), [`pipeline`] (chunking, the store pool and tree
//! assembly) and [`delta`] (matching a stream's new chunks to its previous version).

mod delta;
mod estimate;
mod file;
mod pipeline;
mod sources;
mod stream;
mod walker;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use self::delta::PreviousVersion;
pub use self::estimate::estimate;
use self::pipeline::{assemble, file_worker, store_worker};
use self::stream::read_stream;
use self::sources::plan_sources;
/// The rule of `--exclude`, also `find`'s.
pub(crate) use self::sources::Excludes;
use self::walker::Walker;
use super::fsat::{raise_fd_limit, DirRef, Ident};
use super::node::Names;
use crate::chunker::Chunker;
use crate::error::{Error, Result};
use crate::format::pack::BlobKind;
use crate::format::snapshot::{DatabaseRecord, Snapshot, Summary, SNAPSHOT_VERSION};
use crate::format::tree::{encode_list, split_list, Content, Node, NodeKind, Tree, INLINE_CHUNKS_MAX};
use crate::format::{BlobId, SnapshotId};
use crate::repo::blob::Dict;
use crate::repo::lock::LockGuard;
use crate::repo::saver::BlobSaver;
use crate::repo::Repository;

/// Where a stream's bytes come from.
#[derive(Debug, Clone)]
pub enum StreamSource {
    Stdin,
    /// A command whose standard output is backed up; a non-zero exit aborts the backup. `env` is
    /// added to its environment (how dump tools get their passwords: never on a command line),
    /// `unset` removed from it (variables that hold other secrets).
    Command { argv: Vec<OsString>, env: Vec<(OsString, Secret)>, unset: Vec<OsString> },
}

/// A value for a child's environment that is wiped when dropped and never printed.
#[derive(Clone)]
pub struct Secret(pub zeroize::Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A stream stored as one file of the snapshot.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Where it sits, relative to the snapshot's root: `db.sql`, `databases/postgresql/app.sql`.
    /// Directories on the way that no source provides are made up (mode 0755, owned by the
    /// user running the backup, the backup's time).
    pub path: String,
    pub source: StreamSource,
    /// What to call it in messages (`database postgresql/app`); `/<path>` when empty.
    pub label: String,
    /// Empty output is an error (a dump that printed nothing), not only a warning.
    pub require_output: bool,
    /// Text a complete dump ends with (within its last [`TAIL_LEN`] bytes): a tool that exits 0
    /// with its output cut short is caught, and no snapshot is written.
    pub complete_marker: Option<String>,
}

/// How many of a stream's last bytes [`StreamSpec::complete_marker`] is looked for in.
pub const TAIL_LEN: usize = 256;

impl StreamSpec {
    /// A stream at `path` with no label and empty output allowed.
    #[must_use]
    pub fn new(path: impl Into<String>, source: StreamSource) -> Self {
        Self { path: path.into(), source, label: String::new(), require_output: false, complete_marker: None }
    }

    fn shown(&self) -> String {
        if self.label.is_empty() { format!("/{}", self.path) } else { self.label.clone() }
    }
}

/// What to back up and how.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    pub paths: Vec<PathBuf>,
    /// Streams (stdin at most once), each read on its own thread while the files are walked.
    pub streams: Vec<StreamSpec>,
    pub tags: Vec<String>,
    pub host: Option<String>,
    pub time: Option<jiff::Zoned>,
    pub excludes: Vec<String>,
    pub exclude_files: Vec<PathBuf>,
    pub one_file_system: bool,
    pub dry_run: bool,
    /// Recorded in the snapshot: the job that made it, and what each database stream holds.
    pub job: Option<String>,
    pub databases: Vec<DatabaseRecord>,
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes read from files and streams.
    pub bytes_read: AtomicU64,
    /// Files and streams read.
    pub files_done: AtomicU64,
    /// Files found unchanged since the parent snapshot (not read), and their bytes.
    pub files_skipped: AtomicU64,
    pub bytes_skipped: AtomicU64,
    /// What [`estimate`] has found so far: regular files and their bytes; `estimate_done` once
    /// it has seen everything.
    pub files_estimate: AtomicU64,
    pub bytes_estimate: AtomicU64,
    pub estimate_done: AtomicBool,
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
/// but what was stored is indexed so the next backup reuses it. [`Error::LockLost`] when `lock`
/// can no longer be trusted at the commit: a prune may have run meanwhile, so no snapshot is
/// written that could name what it deleted.
pub fn backup(repo: &Repository, opts: &BackupOptions, progress: &Progress, cancel: &AtomicBool, lock: &LockGuard) -> Result<BackupOutcome> {
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
    paths.extend(opts.streams.iter().map(|s| format!("/{}", s.path)));
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
        file_chunker: Chunker::new(repo.config().chunker_files, repo.keys().chunker_seed()),
        stream_chunker: Chunker::new(repo.config().chunker_streams, repo.keys().chunker_seed()),
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
        // Every stream is read on its own thread from the start, concurrently with the walk; the
        // walker places each result in the tree where the stream belongs.
        let mut stream_results = Vec::with_capacity(opts.streams.len());
        for spec in &opts.streams {
            let (tx, rx) = bounded(1);
            stream_results.push(Some(rx));
            let previous = previous_stream(repo, parent_tree.as_ref(), &spec.path);
            let node = stream_node(spec);
            let store = store_tx.clone();
            let ctx = &ctx;
            let started = std::thread::Builder::new().name("snap-stream".into()).spawn_scoped(s, move || {
                let result = if ctx.stopped() { None } else { read_stream(ctx, spec, &PreviousVersion::new(ctx.repo, previous), node, &store) };
                ctx.progress.files_done.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(result);
            });
            if let Err(e) = started {
                ctx.fail(Error::Internal(format!("cannot start a stream thread: {e}")));
            }
        }
        drop(store_tx);
        let ctx_ref = &ctx;
        let root_ref = &root;
        // Half the descriptors may hold directories open; the rest is for packs, the index and
        // the files being read.
        let fd_budget = raise_fd_limit() / 2;
        // The walker recurses once per directory level, up to MAX_DEPTH (spec §10.1): its own
        // stack is sized for that (reserved, not committed, until used).
        let walker = std::thread::Builder::new().name("snap-walker".into()).stack_size(WALKER_STACK).spawn_scoped(s, move || {
            let mut w = Walker { ctx: ctx_ref, events: ev_tx, jobs: job_tx, names: Names::default(), open_dirs: 0, fd_budget, streams: stream_results };
            w.walk_root(root_ref, parent_tree.as_ref());
        });
        if let Err(e) = walker {
            ctx.fail(Error::Internal(format!("cannot start the walker thread: {e}")));
        }
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
        job: opts.job.clone(),
        databases: opts.databases.clone(),
    };
    let id = if opts.dry_run {
        None
    } else {
        lock.ensure_held()?;
        Some(repo.save_snapshot(&snapshot)?)
    };
    Ok(BackupOutcome { id, snapshot, errors, warnings })
}

/// The chunks of the file at `path` in the parent snapshot: a stream's previous version, whose
/// chunks serve as delta bases.
fn previous_stream(repo: &Repository, parent: Option<&Tree>, path: &str) -> Vec<BlobId> {
    let mut tree = match parent {
        Some(t) => t.clone(),
        None => return Vec::new(),
    };
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let Some(node) = tree.nodes.iter().find(|n| n.name == part.as_bytes()) else { return Vec::new() };
        if i + 1 == parts.len() {
            return if node.kind() == NodeKind::File { repo.file_chunks(node).unwrap_or_default() } else { Vec::new() };
        }
        match node.subtree.filter(|_| node.kind() == NodeKind::Dir).map(|id| repo.load_tree(&id)) {
            Some(Ok(t)) => tree = t,
            _ => return Vec::new(),
        }
    }
    Vec::new()
}

/// The node a stream is stored as (its content comes from reading it).
fn stream_node(spec: &StreamSpec) -> Node {
    let name = spec.path.rsplit('/').next().unwrap_or_default();
    let now = now_ts();
    Node {
        name: name.as_bytes().to_vec(),
        kind: Some(NodeKind::File),
        mode: 0o600,
        uid: uzers::get_current_uid(),
        gid: uzers::get_current_gid(),
        mtime: now,
        ctime: now,
        nlink: 1,
        ..Node::default()
    }
}

/// Now, as a tree timestamp.
fn now_ts() -> crate::format::tree::Timestamp {
    let now = jiff::Timestamp::now();
    crate::format::tree::Timestamp { secs: now.as_second(), nanos: u32::try_from(now.subsec_nanosecond()).unwrap_or(0) }
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
            let id = self.repo.blob_id(plain);
            if self.saver.claim(&id)? {
                self.counts.dry_blobs.fetch_add(1, Ordering::Relaxed);
                self.counts.dry_bytes.fetch_add(plain.len() as u64, Ordering::Relaxed);
            }
            Ok(id)
        } else {
            let id = self.saver.save(kind, plain)?;
            if kind == BlobKind::Tree {
                // The next backup reads this tree as its parent's: from the local cache, not one
                // request per directory on remote storage. Best effort: the cache is derived.
                let _ = self.repo.index().put_tree(&id, plain);
            }
            Ok(id)
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

/// Stack of the walker thread: 4096 levels of recursion with room to spare.
const WALKER_STACK: usize = 256 << 20;

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
    /// The regular file `name` of `dir`, listed with `ident`; `path` names it in messages.
    File { dir: DirRef, name: OsString, path: PathBuf, ident: Ident },
}

/// A claimed chunk on its way to the store pool: the dictionary to compress it with, and the
/// chunk its previous version probably was (a delta base candidate).
struct StoreJob {
    id: BlobId,
    data: Vec<u8>,
    dict: Option<Arc<Dict>>,
    previous: Option<BlobId>,
}

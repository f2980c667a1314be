//! The worker pipeline: file workers read and chunk, new chunks go to the store pool (compression
//! and sealing on all cores), and the assembler builds one tree per directory as results arrive.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::delta::{delta_base, Aligner, PreviousVersion, DELTA_MAX_SHARE};
use super::file::read_file;
use super::{Ctx, Event, FileJob, JobSource, Pending, StoreJob};
use crate::chunker::Chunker;
use crate::error::{Error, Result};
use crate::format::pack::BlobKind;
use crate::format::tree::{Node, Tree};
use crate::format::BlobId;
use crate::ops::dictionary;
use crate::repo::blob::{delta, Dict};

/// Stores claimed chunks: compression and sealing happen here, on all cores.
pub(super) fn store_worker(ctx: &Ctx<'_>, rx: &Receiver<StoreJob>) {
    for job in rx {
        if ctx.failed.load(Ordering::Relaxed) {
            continue;
        }
        let stored = match job.previous.and_then(|p| delta_base(ctx.repo, &p)) {
            Some((base_id, base)) => match delta(&job.data, ctx.repo.config().compression_level, &base, job.data.len() / DELTA_MAX_SHARE) {
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

pub(super) fn file_worker(ctx: &Ctx<'_>, rx: &Receiver<FileJob>, store: &Sender<StoreJob>) {
    for job in rx {
        let result = if ctx.stopped() {
            None
        } else {
            match job.source {
                JobSource::File { dir, name, path, ident } => read_file(ctx, &dir, &name, &path, ident, job.node, store),
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
pub(super) fn chunk_reader(ctx: &Ctx<'_>, chunker: &Chunker, reader: impl Read, store: &Sender<StoreJob>, previous: Option<&PreviousVersion>, size_hint: Option<u64>) -> std::io::Result<(Vec<BlobId>, u64)> {
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
        let id = ctx.repo.blob_id(chunk);
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

/// Builds trees bottom-up as the walker's events and the workers' results arrive.
pub(super) fn assemble(ctx: &Ctx<'_>, events: &Receiver<Event>) -> Result<BlobId> {
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
    root.ok_or_else(|| Error::Internal("backup stopped before the root tree was written".into()))
}

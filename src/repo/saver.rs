//! Stores new blobs: deduplicates against the index and the running session, compresses and seals
//! on the caller's thread, fills separate data and metadata packs, uploads finished packs on
//! writer threads, and writes index files only after the packs they name are stored.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};
use parking_lot::Mutex;

use super::blob::{seal_blob, seal_delta, seal_verified, Dict, VerifiedPayload};
use super::Repository;
use crate::backend::{Backend, FileType};
use crate::crypto::{aad, MasterKeys};
use crate::error::{Error, Result};
use crate::format::id::storage_hash;
use crate::format::pack::{encode_pack_header, BlobKind, Compression, IndexFile, IndexPack, PackEntry};
use crate::format::{BlobId, IndexId, PackId, ID_LEN};

/// An index file is written after this many packs, so an interrupted backup loses little.
const PACKS_PER_INDEX: usize = 64;
/// ... or once the packs waiting hold this many blobs, so an index file stays well below the
/// size readers accept ([`crate::backend::MAX_INDEX_FILE`]) however small the blobs are.
const BLOBS_PER_INDEX: usize = 100_000;
/// A pack is closed at this many blobs even below the pack size, which bounds its header
/// (under 5 MiB; see [`crate::repo::pack::MAX_PACK_HEADER`]).
const BLOBS_PER_PACK: usize = 65_536;
const SEEN_SHARDS: usize = 64;
const UPLOAD_THREADS: usize = 2;

/// Totals of one saving session.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SaverStats {
    pub blobs_added: u64,
    /// Plaintext bytes of the new blobs.
    pub bytes_added: u64,
    /// Sealed bytes of the new blobs, as they lie in packs.
    pub bytes_stored: u64,
    pub packs: u64,
    /// The index files this session wrote, in order.
    pub index_files: Vec<IndexId>,
}

#[derive(Default)]
struct Packer {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

struct Upload {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

struct Shared {
    /// Packs stored but not yet named by an index file.
    pending: Mutex<Vec<IndexPack>>,
    error: Mutex<Option<Error>>,
    packs: AtomicU64,
}

/// A session that stores blobs into one repository.
pub struct BlobSaver<'r> {
    repo: &'r Repository,
    seen: Vec<Mutex<HashSet<BlobId>>>,
    data: Mutex<Packer>,
    meta: Mutex<Packer>,
    tx: Option<Sender<Upload>>,
    uploaders: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
    blobs_added: AtomicU64,
    bytes_added: AtomicU64,
    bytes_stored: AtomicU64,
    index_files: Mutex<Vec<IndexId>>,
    pack_size: usize,
}

impl<'r> BlobSaver<'r> {
    #[must_use]
    pub fn new(repo: &'r Repository) -> Self {
        let (tx, rx) = bounded::<Upload>(0);
        let shared = Arc::new(Shared { pending: Mutex::new(Vec::new()), error: Mutex::new(None), packs: AtomicU64::new(0) });
        let uploaders = (0..UPLOAD_THREADS)
            .map(|_| {
                let rx = rx.clone();
                let backend = repo.backend.clone();
                let keys = repo.keys.clone();
                let shared = Arc::clone(&shared);
                let stored = Arc::clone(&repo.stored_packs);
                std::thread::spawn(move || {
                    for up in rx {
                        if shared.error.lock().is_some() {
                            continue;
                        }
                        match write_pack(&backend, &keys, up) {
                            Ok(p) => {
                                note_stored(&stored, &p);
                                shared.packs.fetch_add(1, Ordering::Relaxed);
                                shared.pending.lock().push(p);
                            }
                            Err(e) => {
                                shared.error.lock().get_or_insert(e);
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            repo,
            seen: (0..SEEN_SHARDS).map(|_| Mutex::new(HashSet::new())).collect(),
            data: Mutex::new(Packer::default()),
            meta: Mutex::new(Packer::default()),
            tx: Some(tx),
            uploaders,
            shared,
            blobs_added: AtomicU64::new(0),
            bytes_added: AtomicU64::new(0),
            bytes_stored: AtomicU64::new(0),
            index_files: Mutex::new(Vec::new()),
            pack_size: repo.config.pack_size as usize,
        }
    }

    /// The repository being written.
    #[must_use]
    pub fn repo(&self) -> &'r Repository {
        self.repo
    }

    /// Claims `id` for storing: true the first time a blob the repository lacks is offered.
    /// A blob the index names only as a delta whose base no index names counts as lacking: it
    /// could not be read back, so deduplicating against it would store nothing readable.
    ///
    /// # Errors
    /// Local index errors.
    pub fn claim(&self, id: &BlobId) -> Result<bool> {
        let shard = &self.seen[usize::from(id.0[0]) % SEEN_SHARDS];
        if !shard.lock().insert(*id) {
            return Ok(false);
        }
        Ok(!self.repo.readable_in_index(id)?)
    }

    /// Stores `plain` unless the repository or this session already has it; returns its id.
    ///
    /// # Errors
    /// A failed upload or index write earlier in the session, or the errors of storing.
    pub fn save(&self, kind: BlobKind, plain: &[u8]) -> Result<BlobId> {
        let id = self.repo.keys.blob_id(plain);
        if self.claim(&id)? {
            self.store(kind, &id, plain, None)?;
        }
        Ok(id)
    }

    /// Compresses (with `dict` if given and `kind` is data), seals and packs a blob that was
    /// [claimed](BlobSaver::claim).
    ///
    /// # Errors
    /// A failed upload earlier in the session, or sealing errors.
    pub fn store(&self, kind: BlobKind, id: &BlobId, plain: &[u8], dict: Option<&Dict>) -> Result<()> {
        self.check_failed()?;
        let (compression, raw_length, sealed) = self.seal(kind, id, plain, dict)?;
        self.store_sealed(kind, id, compression, raw_length, None, &sealed)
    }

    /// Compresses and seals a new blob, and counts it as added.
    fn seal(&self, kind: BlobKind, id: &BlobId, plain: &[u8], dict: Option<&Dict>) -> Result<(Compression, u32, Vec<u8>)> {
        let mut sealed = Vec::with_capacity(plain.len() + crate::crypto::OVERHEAD + ID_LEN);
        let compression = seal_blob(&self.repo.keys, kind, id, plain, self.repo.config.compression_level, dict, &mut sealed)?;
        let raw_length = u32::try_from(plain.len()).map_err(|_| Error::Internal(format!("blob {id} is too large")))?;
        self.blobs_added.fetch_add(1, Ordering::Relaxed);
        self.bytes_added.fetch_add(plain.len() as u64, Ordering::Relaxed);
        Ok((compression, raw_length, sealed))
    }

    /// Packs data blob `id` (of `raw_length` bytes) as `frame`, a delta from data blob `base`
    /// (see [`crate::repo::blob::delta`]). `base` must already be indexed.
    ///
    /// # Errors
    /// A failed upload earlier in the session, or sealing errors.
    pub fn store_delta(&self, id: &BlobId, raw_length: usize, base: &BlobId, frame: &[u8]) -> Result<()> {
        self.check_failed()?;
        let mut sealed = Vec::with_capacity(frame.len() + crate::crypto::OVERHEAD);
        seal_delta(&self.repo.keys, id, frame, &mut sealed)?;
        let raw = u32::try_from(raw_length).map_err(|_| Error::Internal(format!("blob {id} is too large")))?;
        self.blobs_added.fetch_add(1, Ordering::Relaxed);
        self.bytes_added.fetch_add(raw_length as u64, Ordering::Relaxed);
        self.store_sealed(BlobKind::Data, id, Compression::ZstdDelta, raw, Some(*base), &sealed)
    }

    /// Seals and packs a [claimed](BlobSaver::claim) blob that was opened and verified in
    /// another repository sharing this one's id key (`snap copy`), keeping its compression: a
    /// delta stays a delta of the same base, a blob compressed with a dictionary keeps it. What
    /// it needs must already be indexed here (format-spec §7.1, §7.2): the dictionary, as a dict
    /// blob; the base, as a data blob that is not itself a delta.
    ///
    /// # Errors
    /// `Internal` if the payload was verified under another id key or what it needs is not
    /// indexed here; a failed upload earlier in the session; sealing errors.
    pub fn store_verified(&self, p: &VerifiedPayload) -> Result<()> {
        self.check_failed()?;
        if let Some(base) = p.base() {
            let usable = self.repo.index().get(base)?.is_some_and(|l| l.kind == BlobKind::Data && l.compression != Compression::ZstdDelta);
            if !usable {
                return Err(Error::Internal(format!("delta {} stored before its base {base} was indexed", p.id())));
            }
        }
        if let Some(dict) = p.dict() {
            let usable = self.repo.index().get(&dict)?.is_some_and(|l| l.kind == BlobKind::Dict && l.compression != Compression::ZstdDict);
            if !usable {
                return Err(Error::Internal(format!("blob {} stored before its dictionary {dict} was indexed", p.id())));
            }
        }
        let mut sealed = Vec::with_capacity(p.payload().len() + crate::crypto::OVERHEAD);
        seal_verified(&self.repo.keys, p, &mut sealed)?;
        self.blobs_added.fetch_add(1, Ordering::Relaxed);
        self.bytes_added.fetch_add(u64::from(p.raw_length()), Ordering::Relaxed);
        self.store_sealed(p.kind(), p.id(), p.compression(), p.raw_length(), p.base().copied(), &sealed)
    }

    /// Packs a blob that is already sealed (prune copies verified blobs this way).
    ///
    /// # Errors
    /// A failed upload earlier in the session; a blob too large for a pack.
    pub fn store_sealed(&self, kind: BlobKind, id: &BlobId, compression: Compression, raw_length: u32, base: Option<BlobId>, sealed: &[u8]) -> Result<()> {
        self.check_failed()?;
        let length = u32::try_from(sealed.len()).map_err(|_| Error::Internal(format!("blob {id} is too large")))?;
        self.bytes_stored.fetch_add(sealed.len() as u64, Ordering::Relaxed);
        let packer = if kind.is_metadata() { &self.meta } else { &self.data };
        let full = {
            let mut p = packer.lock();
            let offset = u32::try_from(p.buf.len()).map_err(|_| Error::Internal("pack too large".into()))?;
            if p.buf.capacity() == 0 {
                p.buf.reserve(self.pack_size + self.pack_size / 8);
            }
            p.buf.extend_from_slice(sealed);
            p.entries.push(PackEntry { kind, compression, id: *id, offset, length, raw_length, base });
            if p.buf.len() >= self.pack_size || p.entries.len() >= BLOBS_PER_PACK { Some(std::mem::take(&mut *p)) } else { None }
        };
        if let Some(p) = full {
            self.upload(p)?;
            self.flush_index(false)?;
        }
        Ok(())
    }

    /// Stores `plain` in a pack and an index file of its own before returning, so anything
    /// stored after it may depend on it: a dictionary must be in the repository before any blob
    /// compressed with it can be named by an index.
    ///
    /// # Errors
    /// Storage errors.
    pub fn save_durable(&self, kind: BlobKind, plain: &[u8]) -> Result<BlobId> {
        let id = self.repo.keys.blob_id(plain);
        if !self.claim(&id)? {
            return Ok(id);
        }
        let (compression, raw_length, buf) = self.seal(kind, &id, plain, None)?;
        let length = u32::try_from(buf.len()).map_err(|_| Error::Internal(format!("blob {id} is too large")))?;
        self.bytes_stored.fetch_add(buf.len() as u64, Ordering::Relaxed);
        let entries = vec![PackEntry { kind, compression, id, offset: 0, length, raw_length, base: None }];
        let pack = write_pack(&self.repo.backend, &self.repo.keys, Upload { buf, entries })?;
        note_stored(&self.repo.stored_packs, &pack);
        self.shared.packs.fetch_add(1, Ordering::Relaxed);
        let file = IndexFile { supersedes: Vec::new(), packs: vec![pack] };
        let index_id = IndexId(self.repo.save_sealed(FileType::Index, aad::INDEX, &file.encode())?);
        self.repo.index().ingest(&index_id, &file)?;
        self.index_files.lock().push(index_id);
        Ok(id)
    }

    fn upload(&self, p: Packer) -> Result<()> {
        if p.entries.is_empty() {
            return Ok(());
        }
        let tx = self.tx.as_ref().ok_or_else(|| Error::Internal("blob saver already finished".into()))?;
        tx.send(Upload { buf: p.buf, entries: p.entries }).map_err(|_| Error::Internal("pack writers stopped".into()))?;
        self.check_failed()
    }

    fn check_failed(&self) -> Result<()> {
        match self.shared.error.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Writes an index file for the packs stored so far, if enough are waiting (or `force`).
    fn flush_index(&self, force: bool) -> Result<()> {
        let packs = {
            let mut pending = self.shared.pending.lock();
            let blobs: usize = pending.iter().map(|p| p.entries.len()).sum();
            if pending.is_empty() || (!force && pending.len() < PACKS_PER_INDEX && blobs < BLOBS_PER_INDEX) {
                return Ok(());
            }
            std::mem::take(&mut *pending)
        };
        let file = IndexFile { supersedes: Vec::new(), packs };
        let id = IndexId(self.repo.save_sealed(FileType::Index, aad::INDEX, &file.encode())?);
        self.repo.index().ingest(&id, &file)?;
        self.index_files.lock().push(id);
        Ok(())
    }

    /// Plaintext bytes stored so far (for progress display).
    #[must_use]
    pub fn bytes_added(&self) -> u64 {
        self.bytes_added.load(Ordering::Relaxed)
    }

    /// Writes out partial packs, waits for every upload, then writes the last index file. After
    /// this returns `Ok`, every blob saved is named by an index file in the repository.
    ///
    /// # Errors
    /// Any upload or index write that failed during the session.
    pub fn finish(mut self) -> Result<SaverStats> {
        let data = std::mem::take(&mut *self.data.lock());
        let meta = std::mem::take(&mut *self.meta.lock());
        let sent = self.upload(data).and_then(|()| self.upload(meta));
        self.tx = None;
        for h in self.uploaders.drain(..) {
            if h.join().is_err() {
                self.shared.error.lock().get_or_insert(Error::Internal("a pack writer thread panicked".into()));
            }
        }
        sent?;
        // Index what did get stored even if some upload failed, so a retry can reuse it.
        let indexed = self.flush_index(true);
        self.check_failed()?;
        indexed?;
        Ok(SaverStats {
            blobs_added: self.blobs_added.load(Ordering::Relaxed),
            bytes_added: self.bytes_added.load(Ordering::Relaxed),
            bytes_stored: self.bytes_stored.load(Ordering::Relaxed),
            packs: self.shared.packs.load(Ordering::Relaxed),
            index_files: std::mem::take(&mut *self.index_files.lock()),
        })
    }
}

impl Drop for BlobSaver<'_> {
    fn drop(&mut self) {
        self.tx = None;
        for h in self.uploaders.drain(..) {
            let _ = h.join();
        }
    }
}

/// Appends the sealed header and its length, names the pack by its hash and stores it.
/// Tells the repository's view of storage (when it has one) that a whole pack now exists.
fn note_stored(stored: &super::StoredPacks, pack: &IndexPack) {
    if let Some(m) = stored.write().as_mut() {
        m.insert(pack.id, super::StoredPack::Whole);
    }
}

/// Seals the header and writes the pack.
fn write_pack(backend: &Backend, keys: &MasterKeys, up: Upload) -> Result<IndexPack> {
    let Upload { mut buf, entries } = up;
    let header = encode_pack_header(&entries);
    let before = buf.len();
    keys.seal_into(aad::PACK_HEADER, &header, &mut buf).map_err(|e| Error::crypto("pack header", "new", e))?;
    let hlen = u32::try_from(buf.len() - before).map_err(|_| Error::Internal("pack header too large".into()))?;
    buf.extend_from_slice(&hlen.to_le_bytes());
    let id = PackId(storage_hash(&buf));
    backend.write(&FileType::Pack.path(&id.to_hex()), buf)?;
    Ok(IndexPack { id, entries })
}

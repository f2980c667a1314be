//! An open repository: keys, config, typed sealed-file I/O, blob reads through the local index,
//! and the [`saver::BlobSaver`] that writes packs and index files in crash-safe order.

pub mod blob;
pub mod drills;
mod fetch;
pub use fetch::runs;
pub mod keys;
pub mod lock;
pub mod pack;
pub mod saver;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rayon::prelude::*;

use crate::backend::{is_not_found, Backend, FileType, LAYOUT_DIRS};
use crate::crypto::{aad, CryptoError, KdfParams, KeyFile, MasterKeys};
use crate::error::{Error, Result};
use crate::format::config::{join_config, split_config, RepoConfig};
use crate::format::id::storage_hash;
use crate::format::pack::{BlobKind, Compression, IndexFile};
use crate::format::snapshot::Snapshot;
use crate::format::tree::{decode_list, Content, Node, Tree};
use crate::format::{BlobId, DecodeError, IndexId, KeyId, SnapshotId};
use crate::index::{BlobLocation, LocalIndex};

/// Packs storage holds, with their sizes, once listed (packs written since are added).
type StoredPacks = Arc<parking_lot::RwLock<Option<HashMap<crate::format::PackId, StoredPack>>>>;

/// What [`Repository::learn_stored_packs`] found of one pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredPack {
    /// Listed at exactly the size its index entries give, or written by this process.
    Whole,
    /// Listed at this size; the index gave no size to compare (a cache from before it kept
    /// them, or a pack no index names yet).
    Listed(u64),
}

/// Index files read in parallel per step of [`Repository::sync_index`].
const SYNC_BATCH: usize = 64;

/// An open, unlocked repository.
pub struct Repository {
    /// Private: every storage access goes through the typed operations below, which keep the
    /// writing order and the deletion rules of format-spec §14 in one place.
    backend: Backend,
    keys: MasterKeys,
    /// The key file that gave `keys` (the one `init` wrote, or the first that opened).
    key_id: KeyId,
    config: RepoConfig,
    index: LocalIndex,
    cache_dir: PathBuf,
    /// zstd dictionaries read so far, by dict blob id.
    dicts: Mutex<HashMap<BlobId, Arc<blob::Dict>>>,
    /// Recently read pack regions, for delta bases (see [`Repository::read_blob_ahead`]).
    regions: Mutex<Vec<Region>>,
    /// Trees read from storage and verified by this process, whose cached copy
    /// [`Repository::load_tree_fresh`] may use (see [`Repository::refresh_trees`]).
    fresh_trees: Mutex<HashSet<BlobId>>,
    /// The packs storage holds whole, once [`Repository::learn_stored_packs`] was called: a
    /// blob the index places in a pack that is gone, cut or swapped is then not readable, and
    /// a backup stores it again instead of deduplicating against it.
    stored_packs: StoredPacks,
    /// Where warnings go: things skipped or tolerated that lose nothing but deserve a look.
    warnings: Warnings,
}

/// Receives a repository's warnings; without a sink they are kept until
/// [`Repository::take_warnings`].
#[derive(Default)]
struct Warnings {
    sink: Option<Box<dyn Fn(&str) + Send + Sync>>,
    kept: Mutex<Vec<String>>,
}

/// The snapshot files of a repository, read.
#[derive(Debug, Default)]
pub struct SnapshotScan {
    /// Every snapshot that could be read, oldest first.
    pub readable: Vec<(SnapshotId, Snapshot)>,
    /// Snapshot files that could not be read (damaged, or a read that failed), by id.
    pub unreadable: Vec<(SnapshotId, Error)>,
}

/// A stretch of a pack file kept in memory.
struct Region {
    pack: crate::format::PackId,
    start: u64,
    bytes: Arc<Vec<u8>>,
}

/// Bytes read ahead when a delta base is fetched: a stream's bases lie in its earlier packs in
/// stream order, so the next ones are usually in the same stretch. On remote storage, where a
/// request is a round trip, four times as much per request.
const REGION_BYTES: u64 = 256 << 10;
const REMOTE_REGION_BYTES: u64 = 1 << 20;
/// Regions kept (one per pack being followed, a few packs at a time): 16 MiB locally, 32 MiB
/// on remote storage.
const REGIONS_KEPT: usize = 64;
const REMOTE_REGIONS_KEPT: usize = 32;

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repository({})", self.backend.location())
    }
}

impl Repository {
    /// The repository's settings.
    #[must_use]
    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// The master keys (for sealing and ids; tools and tests that craft files use them too).
    #[must_use]
    pub fn keys(&self) -> &MasterKeys {
        &self.keys
    }

    /// The id of a blob with plaintext `plain` (keyed BLAKE3).
    #[must_use]
    pub fn blob_id(&self, plain: &[u8]) -> BlobId {
        self.keys.blob_id(plain)
    }

    /// Creates a repository in an empty location and opens it.
    ///
    /// Writes the key file first and `config` last, so an interrupted init leaves no `config` and
    /// is never mistaken for a repository.
    ///
    /// # Errors
    /// [`Error::NotEmpty`] if the location holds anything; storage errors.
    pub fn init(backend: Backend, password: &[u8], kdf: KdfParams, cache_root: &Path) -> Result<Self> {
        Self::init_with(backend, password, kdf, cache_root, |_| {})
    }

    /// As [`Repository::init`], with the settings changed by `settings` before they are written
    /// (chunker sizes, pack size, compression level).
    ///
    /// # Errors
    /// As [`Repository::init`]; `Invalid` for chunker sizes out of range.
    pub fn init_with(backend: Backend, password: &[u8], kdf: KdfParams, cache_root: &Path, settings: impl FnOnce(&mut RepoConfig)) -> Result<Self> {
        let keys = MasterKeys::generate().map_err(|e| Error::crypto("master key", "new", e))?;
        let mut config = RepoConfig::new(new_repository_id()?);
        settings(&mut config);
        Self::create(backend, password, kdf, cache_root, keys, config)
    }

    /// Creates a repository that `snap copy` can copy `src`'s snapshots into: it shares `src`'s
    /// id key, chunker seed and chunker sizes (so the same content is the same blobs with the
    /// same ids in both), and has its own encryption key, repository id and password. `settings`
    /// may change the pack size and compression level, not the chunker sizes.
    ///
    /// # Errors
    /// As [`Repository::init_with`]; `Usage` if `settings` changed the chunker sizes.
    pub fn init_from(backend: Backend, password: &[u8], kdf: KdfParams, cache_root: &Path, src: &Repository, settings: impl FnOnce(&mut RepoConfig)) -> Result<Self> {
        let keys = MasterKeys::generate_sharing_ids(&src.keys).map_err(|e| Error::crypto("master key", "new", e))?;
        let mut config = RepoConfig::new(new_repository_id()?);
        config.chunker_files = src.config.chunker_files;
        config.chunker_streams = src.config.chunker_streams;
        settings(&mut config);
        if config.chunker_files != src.config.chunker_files || config.chunker_streams != src.config.chunker_streams {
            return Err(Error::Usage(format!("a repository made from {} keeps its chunker sizes; they cannot be changed", src.location())));
        }
        Self::create(backend, password, kdf, cache_root, keys, config)
    }

    /// Whether snapshots of `src` can be copied into this repository blob for blob: both share
    /// the id key, the chunker seed and the chunker sizes (one was made from the other with
    /// [`Repository::init_from`], or both from a third).
    #[must_use]
    pub fn shares_ids_with(&self, src: &Repository) -> bool {
        self.keys.shares_ids_with(&src.keys) && self.config.chunker_files == src.config.chunker_files && self.config.chunker_streams == src.config.chunker_streams
    }

    /// Where the repository lives, as given when it was opened.
    #[must_use]
    pub fn location(&self) -> &str {
        self.backend.location()
    }

    /// Whether the repository is on remote storage, where every request is a round trip.
    #[must_use]
    pub fn is_remote(&self) -> bool {
        self.backend.is_remote()
    }

    /// Whether its storage takes parallel reads well (see [`Backend::parallel_reads`]).
    #[must_use]
    pub fn parallel_reads(&self) -> bool {
        self.backend.parallel_reads()
    }

    fn create(backend: Backend, password: &[u8], kdf: KdfParams, cache_root: &Path, keys: MasterKeys, config: RepoConfig) -> Result<Self> {
        if !backend.is_empty()? {
            return Err(Error::NotEmpty(backend.location().to_string()));
        }
        kdf.check().map_err(|e| Error::crypto("key", "new", e))?;
        config.check().map_err(|e| Error::Usage(format!("repository settings: {e}")))?;
        for d in LAYOUT_DIRS {
            backend.create_dir(d)?;
        }
        let key_id = write_key(&backend, password, &keys, kdf)?;
        let json = serde_json::to_vec(&config).map_err(|e| Error::Internal(e.to_string()))?;
        let sealed = keys.seal(aad::CONFIG, &json).map_err(|e| Error::crypto("config", "new", e))?;
        backend.write(&FileType::Config.path(""), join_config(&sealed))?;
        Self::finish_open(backend, keys, key_id, config, cache_root)
    }

    /// Opens an existing repository with `password`. The local index is not synced yet: take a
    /// lock first, then call [`Repository::sync_index`].
    ///
    /// # Errors
    /// [`Error::NoRepository`], [`Error::ForeignRepository`], [`Error::UnsupportedVersion`] (all
    /// before any key is tried), [`Error::WrongPassword`], `Corrupt` for key files none of which
    /// could be tried or for settings that break the spec (such as a version that differs from
    /// the cleartext one), storage and cache errors.
    pub fn open(backend: Backend, password: &[u8], cache_root: &Path) -> Result<Self> {
        let stored = Self::read_config_frame(&backend)?;
        let (version, sealed) = split_config(&stored).map_err(|e| config_error(&backend, e))?;
        let (key_id, keys) = open_keys(&backend, password)?;
        let plain = keys.open(aad::CONFIG, sealed).map_err(|e| Error::crypto("config", backend.location(), e))?;
        let config = RepoConfig::decode(&plain, version).map_err(|e| Error::corrupt("config", backend.location(), e))?;
        Self::finish_open(backend, keys, key_id, config, cache_root)
    }

    /// Checks that `backend` holds a snap repository this code can read, without a password.
    ///
    /// # Errors
    /// As the first steps of [`Repository::open`].
    pub fn probe(backend: &Backend) -> Result<()> {
        let stored = Self::read_config_frame(backend)?;
        split_config(&stored).map(|_| ()).map_err(|e| config_error(backend, e))
    }

    fn read_config_frame(backend: &Backend) -> Result<Vec<u8>> {
        match backend.read(&FileType::Config.path("")) {
            Ok(b) => Ok(b),
            Err(e) if is_not_found(&e) => {
                if backend.is_empty()? {
                    Err(Error::NoRepository(backend.location().to_string()))
                } else {
                    Err(Error::ForeignRepository(backend.location().to_string()))
                }
            }
            Err(e) => Err(e),
        }
    }

    fn finish_open(backend: Backend, keys: MasterKeys, key_id: KeyId, config: RepoConfig, cache_root: &Path) -> Result<Self> {
        let cache_dir = cache_root.join(&config.id);
        let index = LocalIndex::open_or_private(&cache_dir)?;
        Ok(Self { backend, keys, key_id, config, index, cache_dir, dicts: Mutex::new(HashMap::new()), regions: Mutex::new(Vec::new()), fresh_trees: Mutex::new(HashSet::new()), stored_packs: Arc::new(parking_lot::RwLock::new(None)), warnings: Warnings::default() })
    }

    /// Takes a repository lock, held until the guard is dropped.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the holder of a conflicting lock; storage errors.
    pub fn lock(&self, kind: lock::LockKind) -> Result<lock::LockGuard> {
        lock::acquire(&self.backend, &self.keys, kind)
    }

    /// Removes stale locks, or every lock with `all`; returns how many (see [`lock::unlock`]).
    ///
    /// # Errors
    /// Storage errors.
    pub fn unlock(&self, all: bool) -> Result<usize> {
        lock::unlock(&self.backend, &self.keys, all)
    }

    /// The local cache directory of this repository.
    #[must_use]
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// The local index (read access for ops such as check).
    #[must_use]
    pub fn index(&self) -> &LocalIndex {
        &self.index
    }

    /// Sends every later warning to `sink` (the CLI prints them); warnings kept so far go there
    /// first.
    pub fn on_warning(&mut self, sink: impl Fn(&str) + Send + Sync + 'static) {
        for w in self.warnings.kept.lock().drain(..) {
            sink(&w);
        }
        self.warnings.sink = Some(Box::new(sink));
    }

    /// Warnings kept so far (when no sink was set).
    #[must_use]
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.kept.lock())
    }

    fn warn(&self, msg: String) {
        match &self.warnings.sink {
            Some(sink) => sink(&msg),
            None => self.warnings.kept.lock().push(msg),
        }
    }

    /// Brings the local index in line with `index/`: new files are ingested; if any ingested file
    /// has disappeared (prune, repair), the locations are rebuilt from scratch. An index file
    /// that cannot be read is skipped with a warning and tried again next time: its blobs look
    /// absent, so a backup stores them again and a restore that needs them fails naming them,
    /// while prune (which reads every index file itself) refuses to run.
    ///
    /// # Errors
    /// Listing fails, or local cache errors.
    pub fn sync_index(&self) -> Result<()> {
        let listed: HashSet<IndexId> = self.ids::<IndexId>()?.into_iter().collect();
        let mut ingested = self.index.ingested()?;
        if !ingested.is_subset(&listed) {
            self.index.clear_locations()?;
            ingested.clear();
        }
        let mut todo: Vec<&IndexId> = listed.iter().filter(|id| !ingested.contains(id)).collect();
        todo.sort();
        let mut skipped = Vec::new();
        let mut displaced = Vec::new();
        // Read and open in parallel, ingest in order: a blob stored twice is then noticed, and
        // the location kept does not depend on which thread finished first.
        for batch in todo.chunks(SYNC_BATCH) {
            let loaded: Vec<(&IndexId, Result<IndexFile>)> = batch.par_iter().map(|id| (*id, self.load_index_file(id))).collect();
            for (id, file) in loaded {
                match file {
                    Ok(file) => displaced.extend(self.index.ingest_noting(id, &file)?),
                    Err(e) => skipped.push(format!("index file {} skipped: {e}", id.short())),
                }
            }
        }
        if !displaced.is_empty() {
            // A blob with two locations: keep one in a pack storage holds whole.
            if self.stored_packs.read().is_none() {
                self.learn_stored_packs()?;
            }
            for (id, old) in displaced {
                if let Some(now) = self.index.get(&id)?
                    && !self.in_stored_pack(&now)
                    && self.in_stored_pack(&old)
                {
                    self.index.set_location(&id, &old)?;
                }
            }
        }
        skipped.sort();
        for w in skipped {
            self.warn(w);
        }
        Ok(())
    }

    /// The ids of every file of one kind in the repository; names that are not ids (stray
    /// files) are left out.
    ///
    /// # Errors
    /// Listing fails.
    pub fn ids<T: RepoFile>(&self) -> Result<Vec<T>> {
        Ok(self.backend.list(T::KIND)?.iter().filter_map(|n| n.parse().ok()).collect())
    }

    /// Reads and decodes one index file.
    ///
    /// # Errors
    /// Storage, integrity or decode errors.
    pub fn load_index_file(&self, id: &IndexId) -> Result<IndexFile> {
        let plain = self.load_sealed(FileType::Index, aad::INDEX, &id.0)?;
        IndexFile::decode(&plain).map_err(|e| Error::decode("index", id, e))
    }

    /// Seals `plain`, names it by the hash of the sealed bytes and writes it.
    ///
    /// # Errors
    /// Storage errors.
    pub fn save_sealed(&self, ft: FileType, role: &[u8], plain: &[u8]) -> Result<[u8; 32]> {
        let sealed = self.keys.seal(role, plain).map_err(|e| Error::crypto("file", "new", e))?;
        let id = storage_hash(&sealed);
        self.backend.write(&ft.path(&hex::encode(id)), sealed)?;
        Ok(id)
    }

    /// Reads a sealed file, checks its bytes hash to its name, and opens it.
    ///
    /// # Errors
    /// Storage errors; `Corrupt` on a hash mismatch; `Crypto` if authentication fails.
    pub fn load_sealed(&self, ft: FileType, role: &[u8], id: &[u8; 32]) -> Result<Vec<u8>> {
        let name = hex::encode(id);
        let path = ft.path(&name);
        let sealed = self.backend.read(&path)?;
        if storage_hash(&sealed) != *id {
            return Err(Error::corrupt("file", &path, "content does not match its name"));
        }
        let plain = self.keys.open(role, &sealed).map_err(|e| Error::crypto("file", &path, e))?;
        if ft == FileType::Snapshot {
            // Best effort: a cache that cannot be written only costs a download next time.
            let _ = write_cache_file(&self.snapshot_cache_path(&name), &sealed);
        }
        Ok(plain)
    }

    fn snapshot_cache_path(&self, name: &str) -> PathBuf {
        self.cache_dir.join("snapshots").join(name)
    }

    /// A snapshot's plaintext from the local cache, if the cached file is there, has the size
    /// the listing gave for the stored one, hashes to its name and opens: snapshot files are kept
    /// in the cache as stored (sealed), so listing snapshots on remote storage costs one request,
    /// not one per snapshot. A stored file that was cut or grew no longer matches and is read
    /// (and found damaged) again; `check` never uses the cache.
    fn cached_snapshot(&self, id: &SnapshotId, listed_size: u64) -> Option<Vec<u8>> {
        let sealed = std::fs::read(self.snapshot_cache_path(&id.to_hex())).ok()?;
        (sealed.len() as u64 == listed_size && storage_hash(&sealed) == id.0).then_some(())?;
        self.keys.open(aad::SNAPSHOT, &sealed).ok()
    }

    /// Drops cached snapshot files whose snapshot is no longer in the repository (forgotten
    /// here or elsewhere), so the cache stays the size of what is listed.
    fn trim_snapshot_cache(&self, listed: &[SnapshotId]) {
        let Ok(rd) = std::fs::read_dir(self.cache_dir.join("snapshots")) else { return };
        let keep: std::collections::HashSet<String> = listed.iter().map(SnapshotId::to_hex).collect();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Writes a snapshot file. Callers must have written every index file its blobs need.
    ///
    /// # Errors
    /// Storage errors.
    pub fn save_snapshot(&self, snap: &Snapshot) -> Result<SnapshotId> {
        let json = serde_json::to_vec(snap).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(SnapshotId(self.save_sealed(FileType::Snapshot, aad::SNAPSHOT, &json)?))
    }

    /// Loads one snapshot.
    ///
    /// # Errors
    /// Storage, integrity or decode errors; `Decode` for a snapshot of a version other than 1.
    pub fn load_snapshot(&self, id: &SnapshotId) -> Result<Snapshot> {
        self.load_snapshot_listed(id, None)
    }

    /// [`Repository::load_snapshot`], from the local cache when `listed_size` (the stored
    /// file's size in a listing just made) matches the cached copy.
    fn load_snapshot_listed(&self, id: &SnapshotId, listed_size: Option<u64>) -> Result<Snapshot> {
        let plain = match listed_size.and_then(|n| self.cached_snapshot(id, n)) {
            Some(p) => p,
            None => self.load_sealed(FileType::Snapshot, aad::SNAPSHOT, &id.0)?,
        };
        Snapshot::decode(&plain).map_err(|e| match e {
            DecodeError::UnknownVersion { .. } => Error::decode("snapshot", id, e),
            other => Error::corrupt("snapshot", id, other),
        })
    }

    /// Every snapshot that can be read, oldest first. A snapshot file that cannot be read is
    /// left out with a warning: one damaged file must not stop backups, restores of the others,
    /// or `forget` of the damaged one. Commands that delete data use
    /// [`Repository::scan_snapshots`] and refuse instead.
    ///
    /// # Errors
    /// Listing fails.
    pub fn snapshots(&self) -> Result<Vec<(SnapshotId, Snapshot)>> {
        let scan = self.scan_snapshots()?;
        for (id, e) in &scan.unreadable {
            self.warn(format!("snapshot {} skipped: {e}", id.short()));
        }
        Ok(scan.readable)
    }

    /// Reads every snapshot file, keeping the readable ones (oldest first) apart from those
    /// that could not be read.
    ///
    /// # Errors
    /// Listing fails.
    pub fn scan_snapshots(&self) -> Result<SnapshotScan> {
        self.scan(true)
    }

    /// [`Repository::scan_snapshots`] reading every snapshot file from storage, never from the
    /// local cache (`check`).
    ///
    /// # Errors
    /// Listing fails.
    pub fn scan_snapshots_stored(&self) -> Result<SnapshotScan> {
        self.scan(false)
    }

    fn scan(&self, cached: bool) -> Result<SnapshotScan> {
        let listed: Vec<(SnapshotId, u64)> =
            self.backend.list_sized(FileType::Snapshot)?.into_iter().filter_map(|(n, size)| n.parse().ok().map(|id| (id, size))).collect();
        let ids: Vec<SnapshotId> = listed.iter().map(|(id, _)| *id).collect();
        self.trim_snapshot_cache(&ids);
        let loaded: Vec<(SnapshotId, Result<Snapshot>)> =
            listed.par_iter().map(|(id, size)| (*id, self.load_snapshot_listed(id, cached.then_some(*size)))).collect();
        let mut scan = SnapshotScan::default();
        for (id, r) in loaded {
            match r {
                Ok(s) => scan.readable.push((id, s)),
                Err(e) => scan.unreadable.push((id, e)),
            }
        }
        scan.readable.sort_by(|a, b| a.1.time_key().cmp(&b.1.time_key()).then(a.0.cmp(&b.0)));
        scan.unreadable.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(scan)
    }

    /// Writes an index file; callers must have stored every pack it names (spec §14 W3).
    ///
    /// # Errors
    /// Storage errors.
    pub fn save_index_file(&self, file: &IndexFile) -> Result<IndexId> {
        Ok(IndexId(self.save_sealed(FileType::Index, aad::INDEX, &file.encode())?))
    }

    /// Deletes an index file. Callers must have written the index files that supersede it
    /// (spec §14 D1). Deleting one that is gone is not an error.
    ///
    /// # Errors
    /// Storage errors.
    pub fn delete_index_file(&self, id: &IndexId) -> Result<()> {
        self.backend.delete(&FileType::Index.path(&id.to_hex()))
    }

    /// Deletes a pack that no remaining index file names (spec §14 D2). Deleting one that is
    /// gone is not an error.
    ///
    /// # Errors
    /// Storage errors.
    pub fn delete_pack(&self, id: &crate::format::PackId) -> Result<()> {
        self.backend.delete(&FileType::Pack.path(&id.to_hex()))
    }

    /// How long ago the storage last wrote pack `id`, by the storage's own clock: "now" is the
    /// newest modification time among the lock files (the caller's own lock was written or
    /// refreshed moments ago), so no two clocks are compared. `None` when the storage keeps no
    /// times or holds no lock.
    ///
    /// # Errors
    /// Storage errors.
    pub fn pack_age(&self, id: &crate::format::PackId, now: Option<jiff::Timestamp>) -> Result<Option<std::time::Duration>> {
        let (Some(now), Some(written)) = (now, self.backend.modified(&FileType::Pack.path(&id.to_hex()))?) else { return Ok(None) };
        Ok(Some(now.duration_since(written).try_into().unwrap_or(std::time::Duration::ZERO)))
    }

    /// The storage's clock now, read from the newest lock file (see [`Repository::pack_age`]).
    ///
    /// # Errors
    /// Storage errors.
    pub fn storage_now(&self) -> Result<Option<jiff::Timestamp>> {
        let mut newest = None;
        for name in self.backend.list(FileType::Lock)? {
            match self.backend.modified(&FileType::Lock.path(&name)) {
                Ok(t) => newest = newest.max(t),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(newest)
    }

    /// A whole pack file's bytes.
    ///
    /// # Errors
    /// Storage errors.
    pub fn read_pack(&self, id: &crate::format::PackId) -> Result<Vec<u8>> {
        self.backend.read(&FileType::Pack.path(&id.to_hex()))
    }

    /// `len` bytes of a pack at `offset`.
    ///
    /// # Errors
    /// Storage errors, or a pack shorter than asked.
    pub fn read_pack_range(&self, id: &crate::format::PackId, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.backend.read_range(&FileType::Pack.path(&id.to_hex()), offset, len)
    }

    /// The size of a pack file as stored.
    ///
    /// # Errors
    /// Storage errors, including not-found.
    pub fn pack_file_size(&self, id: &crate::format::PackId) -> Result<u64> {
        self.backend.size(&FileType::Pack.path(&id.to_hex()))
    }

    /// Deletes a snapshot file (forget). Deleting one that is gone is not an error.
    ///
    /// # Errors
    /// Storage errors.
    pub fn delete_snapshot(&self, id: &SnapshotId) -> Result<()> {
        self.backend.delete(&FileType::Snapshot.path(&id.to_hex()))
    }

    /// Where a blob is stored.
    ///
    /// # Errors
    /// [`Error::MissingBlob`] if no index names it.
    pub fn locate(&self, id: &BlobId) -> Result<BlobLocation> {
        self.index.get(id)?.ok_or_else(|| Error::MissingBlob(id.to_hex()))
    }

    /// Whether the index names `id` with everything needed to read it: a delta's base must be
    /// indexed too (bases are never deltas, spec §7.2). Dictionaries are never pruned.
    ///
    /// # Errors
    /// Local index errors.
    pub fn readable_in_index(&self, id: &BlobId) -> Result<bool> {
        let Some(loc) = self.index.get(id)? else { return Ok(false) };
        if !self.in_stored_pack(&loc) {
            return Ok(false);
        }
        match loc.base {
            Some(base) => Ok(self.index.get(&base)?.is_some_and(|b| self.in_stored_pack(&b))),
            None => Ok(true),
        }
    }

    /// Whether `loc` lies within a pack storage holds, as far as [`Repository::learn_stored_packs`]
    /// knows (always true when it was not called).
    ///
    /// A pack whose listed size differs from the size its index entries give (a pack file
    /// replaced by another, cut, or extended) counts as not whole.
    fn in_stored_pack(&self, loc: &BlobLocation) -> bool {
        let guard = self.stored_packs.read();
        let Some(packs) = guard.as_ref() else { return true };
        match packs.get(&loc.pack) {
            Some(StoredPack::Whole) => true,
            Some(StoredPack::Listed(size)) => *size >= u64::from(loc.offset) + u64::from(loc.length),
            None => false,
        }
    }

    /// Lists the packs in storage with their sizes (one listing) and compares each with the
    /// size the index gives it, once, so that from now on [`Repository::readable_in_index`]
    /// counts a blob in a missing, cut or swapped pack as absent. Returns the packs listed.
    ///
    /// # Errors
    /// Storage errors; local index errors.
    pub fn learn_stored_packs(&self) -> Result<Vec<crate::format::PackId>> {
        let mut ids = Vec::new();
        let mut packs = HashMap::new();
        for (name, size) in self.backend.list_sized(FileType::Pack)? {
            let Ok(id) = name.parse::<crate::format::PackId>() else { continue };
            ids.push(id);
            match self.index.pack_size(&id)? {
                Some(expected) if expected == size => packs.insert(id, StoredPack::Whole),
                // Not what its index entries describe: as good as gone.
                Some(_) => None,
                None => packs.insert(id, StoredPack::Listed(size)),
            };
        }
        *self.stored_packs.write() = Some(packs);
        Ok(ids)
    }

    /// Reads a blob, verified against its id.
    ///
    /// # Errors
    /// Missing from the index, storage errors, authentication or id mismatch.
    pub fn read_blob(&self, id: &BlobId) -> Result<Vec<u8>> {
        let loc = self.locate(id)?;
        let path = FileType::Pack.path(&loc.pack.to_hex());
        let sealed = self.backend.read_range(&path, u64::from(loc.offset), u64::from(loc.length))?;
        self.open_blob(loc.kind, id, loc.compression, loc.raw_length, loc.base.as_ref(), &sealed)
    }

    /// Reads a blob and verifies it like [`Repository::read_blob`], but keeps it as stored
    /// (compressed), for sealing again in another repository that shares the id key.
    ///
    /// # Errors
    /// As [`Repository::read_blob`].
    pub fn read_verified(&self, id: &BlobId) -> Result<blob::VerifiedPayload> {
        let loc = self.locate(id)?;
        let path = FileType::Pack.path(&loc.pack.to_hex());
        let sealed = self.backend.read_range(&path, u64::from(loc.offset), u64::from(loc.length))?;
        blob::open_verified(&self.keys, loc.kind, id, loc.compression, loc.raw_length, loc.base.as_ref(), &sealed, self)
    }

    /// Reads a blob like [`Repository::read_blob`], but through a small cache of pack regions
    /// read ahead: for reading a file's chunks in order (`dump`) and delta bases (which a
    /// stream's backup and restore read in pack order), where the next blob is usually in the
    /// stretch just read.
    ///
    /// # Errors
    /// As [`Repository::read_blob`].
    pub fn read_blob_ahead(&self, id: &BlobId) -> Result<Vec<u8>> {
        let loc = self.locate(id)?;
        let (off, len) = (u64::from(loc.offset), u64::from(loc.length));
        let cached = self.regions.lock().iter().find(|r| r.pack == loc.pack && r.start <= off && off + len <= r.start + r.bytes.len() as u64).map(|r| (r.start, Arc::clone(&r.bytes)));
        let (start, bytes) = match cached {
            Some(c) => c,
            None => {
                let path = FileType::Pack.path(&loc.pack.to_hex());
                // The index recorded each pack's exact size when it ingested it: no stat (one
                // more round trip on remote storage) per region. A pack only learnt from an older
                // cache is asked.
                let size = match self.index.pack_size(&loc.pack)? {
                    Some(n) => n,
                    None => self.backend.size(&path)?,
                };
                let (region, kept) = if self.backend.is_remote() { (REMOTE_REGION_BYTES, REMOTE_REGIONS_KEPT) } else { (REGION_BYTES, REGIONS_KEPT) };
                let want = region.max(len).min(size.saturating_sub(off));
                let bytes = Arc::new(self.backend.read_range(&path, off, want)?);
                let mut regions = self.regions.lock();
                if regions.len() >= kept {
                    regions.remove(0);
                }
                regions.push(Region { pack: loc.pack, start: off, bytes: Arc::clone(&bytes) });
                (off, bytes)
            }
        };
        let at = usize::try_from(off - start).map_err(|_| Error::corrupt("blob", id, "offset out of range"))?;
        let sealed = bytes.get(at..at + loc.length as usize).ok_or_else(|| Error::corrupt("blob", id, "beyond the end of its pack"))?;
        self.open_blob(loc.kind, id, loc.compression, loc.raw_length, loc.base.as_ref(), sealed)
    }

    /// Opens a sealed blob read from a pack (see [`blob::open_blob`]), fetching the dictionary or
    /// delta base it needs.
    ///
    /// # Errors
    /// Authentication, size or id mismatch; a dictionary or base that cannot be read.
    pub fn open_blob(&self, kind: BlobKind, id: &BlobId, comp: Compression, raw_len: u32, base: Option<&BlobId>, sealed: &[u8]) -> Result<Vec<u8>> {
        blob::open_blob(&self.keys, kind, id, comp, raw_len, base, sealed, self)
    }

    /// The zstd dictionary stored as dict blob `id`, read once per process.
    ///
    /// # Errors
    /// The blob is missing, damaged, or not a dictionary.
    pub fn dict(&self, id: &BlobId) -> Result<Arc<blob::Dict>> {
        if let Some(d) = self.dicts.lock().get(id) {
            return Ok(Arc::clone(d));
        }
        let loc = self.locate(id)?;
        // A dictionary is itself stored plain or plain zstd, never with a dictionary.
        if loc.kind != BlobKind::Dict || loc.compression == Compression::ZstdDict {
            return Err(Error::corrupt("dictionary", id, "the index does not list it as a dictionary blob"));
        }
        // With that checked, reading it never asks for another dictionary.
        let d = Arc::new(blob::Dict { id: *id, bytes: self.read_blob(id)? });
        self.dicts.lock().insert(*id, Arc::clone(&d));
        Ok(d)
    }

    /// The ids of every dictionary the index names.
    ///
    /// # Errors
    /// Local index errors.
    pub fn dictionaries(&self) -> Result<Vec<BlobId>> {
        self.index.dicts()
    }

    /// Loads and decodes a tree, from the cache when possible.
    ///
    /// # Errors
    /// As [`Repository::read_blob`], plus decode errors (including unsafe names).
    pub fn load_tree(&self, id: &BlobId) -> Result<Tree> {
        if let Some(plain) = self.index.get_tree(id)? {
            if let Ok(t) = Tree::decode(&plain) {
                return Ok(t);
            }
        }
        let plain = self.read_blob(id)?;
        let tree = Tree::decode(&plain).map_err(|e| Error::decode("tree", id, e))?;
        self.index.put_tree(id, &plain)?;
        Ok(tree)
    }

    /// Loads and decodes a tree as storage holds it now: read from the repository, bypassing
    /// (and refreshing) the cache, unless this process already read and verified it there.
    ///
    /// # Errors
    /// As [`Repository::read_blob`], plus decode errors.
    pub fn load_tree_fresh(&self, id: &BlobId) -> Result<Tree> {
        if self.fresh_trees.lock().contains(id)
            && let Some(plain) = self.index.get_tree(id)?
            && let Ok(t) = Tree::decode(&plain)
        {
            return Ok(t);
        }
        let plain = self.read_blob(id)?;
        let tree = Tree::decode(&plain).map_err(|e| Error::decode("tree", id, e))?;
        self.index.put_tree(id, &plain)?;
        Ok(tree)
    }

    /// The ordered data-blob ids of a file node, expanding chunk-list blobs.
    ///
    /// # Errors
    /// As [`Repository::read_blob`].
    pub fn file_chunks(&self, node: &Node) -> Result<Vec<BlobId>> {
        match &node.content {
            Content::Empty => Ok(Vec::new()),
            Content::Chunks(ids) => Ok(ids.clone()),
            Content::Lists(lists) => {
                let mut out = Vec::new();
                for l in lists {
                    let plain = self.read_blob(l)?;
                    out.extend(decode_list(&plain).map_err(|e| Error::decode("chunk list", l, e))?);
                }
                Ok(out)
            }
        }
    }

    /// Resolves `spec` (full id, unique prefix of ≥ 4 hex digits, or `latest`) among `candidates`.
    ///
    /// # Errors
    /// [`Error::SnapshotNotFound`] or [`Error::AmbiguousSnapshot`].
    pub fn resolve_snapshot<'a>(spec: &str, candidates: &'a [(SnapshotId, Snapshot)]) -> Result<&'a (SnapshotId, Snapshot)> {
        if spec == "latest" {
            return candidates.last().ok_or_else(|| Error::SnapshotNotFound(spec.to_string()));
        }
        let lower = spec.to_ascii_lowercase();
        if lower.len() < 4 || lower.len() > 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Usage(format!("{spec:?} is not a snapshot id (at least 4 hex digits) or \"latest\"")));
        }
        let mut found = candidates.iter().filter(|(id, _)| id.to_hex().starts_with(&lower));
        match (found.next(), found.next()) {
            (Some(one), None) => Ok(one),
            (Some(_), Some(_)) => Err(Error::AmbiguousSnapshot(spec.to_string())),
            (None, _) => Err(Error::SnapshotNotFound(spec.to_string())),
        }
    }

    /// Adds a key file for `password`.
    ///
    /// # Errors
    /// Storage errors.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<KeyId> {
        write_key(&self.backend, password, &self.keys, kdf)
    }

    /// Every key file, each read and parsed (not opened): what `check` reports as damaged.
    ///
    /// # Errors
    /// Listing fails.
    pub fn key_files(&self) -> Result<Vec<(KeyId, Result<KeyFile>)>> {
        let mut out = Vec::new();
        for id in self.ids::<KeyId>()? {
            let path = FileType::Key.path(&id.to_hex());
            let parsed = self.backend.read(&path).and_then(|bytes| {
                if storage_hash(&bytes) != id.0 {
                    return Err(Error::corrupt("key file", &path, "content does not match its name"));
                }
                serde_json::from_slice::<KeyFile>(&bytes).map_err(|e| Error::corrupt("key file", &path, e))
            });
            out.push((id, parsed));
        }
        Ok(out)
    }

    /// Whether a blob of `kind` is part of metadata packs.
    #[must_use]
    pub fn is_metadata(kind: BlobKind) -> bool {
        kind.is_metadata()
    }
}

impl blob::References for Repository {
    fn dict(&self, id: &BlobId) -> Result<Arc<blob::Dict>> {
        Repository::dict(self, id)
    }

    /// A delta's base: a data blob that is not itself a delta (so reading a blob never follows
    /// more than one base).
    fn base(&self, id: &BlobId) -> Result<Arc<Vec<u8>>> {
        let loc = self.locate(id)?;
        if loc.kind != BlobKind::Data || loc.compression == Compression::ZstdDelta {
            return Err(Error::corrupt("delta base", id, "not a plain data blob"));
        }
        Ok(Arc::new(self.read_blob_ahead(id)?))
    }
}

impl Snapshot {
    /// Sort key: the instant, falling back to the raw string if unparsable.
    fn time_key(&self) -> (i128, String) {
        (self.timestamp().map(|t| t.as_nanosecond()).unwrap_or(i128::MIN), self.time.clone())
    }
}

/// A kind of repository file named by its id.
pub trait RepoFile: std::str::FromStr {
    const KIND: FileType;
}

impl RepoFile for IndexId {
    const KIND: FileType = FileType::Index;
}
impl RepoFile for SnapshotId {
    const KIND: FileType = FileType::Snapshot;
}
impl RepoFile for crate::format::PackId {
    const KIND: FileType = FileType::Pack;
}
impl RepoFile for KeyId {
    const KIND: FileType = FileType::Key;
}

/// 32 random bytes as hex: a new repository's id.
fn new_repository_id() -> Result<String> {
    let mut rid = [0u8; 32];
    crate::crypto::random_bytes(&mut rid).map_err(|e| Error::crypto("repository id", "new", e))?;
    Ok(hex::encode(rid))
}

fn config_error(backend: &Backend, e: DecodeError) -> Error {
    match e {
        DecodeError::UnknownVersion { found, supported, .. } => Error::UnsupportedVersion { location: backend.location().to_string(), found, supported },
        _ => Error::ForeignRepository(backend.location().to_string()),
    }
}

fn write_key(backend: &Backend, password: &[u8], keys: &MasterKeys, kdf: KdfParams) -> Result<KeyId> {
    let kf = KeyFile::create(password, keys, kdf).map_err(|e| Error::crypto("key", "new", e))?;
    let json = serde_json::to_vec_pretty(&kf).map_err(|e| Error::Internal(e.to_string()))?;
    let id = KeyId(storage_hash(&json));
    backend.write(&FileType::Key.path(&id.to_hex()), json)?;
    Ok(id)
}

/// Tries every key file with `password`. Key files that are damaged are skipped: another may
/// still open the repository, and `check` reports them. So are key files whose Argon2id
/// parameters are out of bounds, before the KDF runs: anyone with storage access can plant a key
/// file, and one must not cost gigabytes or hours. Files not named by 64 hex digits are not key
/// files and are not read.
///
/// The password is wrong only if some key file was tried with it; if none could even be tried,
/// the error names a damaged key file instead.
fn open_keys(backend: &Backend, password: &[u8]) -> Result<(KeyId, MasterKeys)> {
    let names = backend.list(FileType::Key)?;
    let mut tried = false;
    let mut damaged: Vec<(String, String)> = Vec::new();
    for name in names {
        let Ok(id) = name.parse::<KeyId>() else { continue };
        let path = FileType::Key.path(&name);
        let bytes = match backend.read(&path) {
            Ok(b) => b,
            Err(e) if is_not_found(&e) => continue,
            Err(e @ Error::TooLarge { .. }) => {
                damaged.push((name, e.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        if id.0 != storage_hash(&bytes) {
            damaged.push((name, "content does not match its name".into()));
            continue;
        }
        let kf = match serde_json::from_slice::<KeyFile>(&bytes) {
            Ok(kf) => kf,
            Err(e) => {
                damaged.push((name, format!("not a key file: {e}")));
                continue;
            }
        };
        match kf.open(password) {
            Ok(keys) => return Ok((id, keys)),
            Err(CryptoError::WrongPassword) => tried = true,
            Err(e) => damaged.push((name, e.to_string())),
        }
    }
    if tried {
        return Err(Error::WrongPassword(backend.location().to_string()));
    }
    let more = damaged.len().saturating_sub(1);
    match damaged.into_iter().next() {
        None => Err(Error::corrupt("repository", backend.location(), "it has no key files")),
        Some((name, reason)) if more == 0 => Err(Error::corrupt("key file", name, reason)),
        Some((name, reason)) => Err(Error::corrupt("key file", name, format!("{reason} (and {more} more key file(s) are damaged; none could be tried)"))),
    }
}

/// Writes a cache file whole or not at all: a temporary name in the same directory, then a
/// rename.
fn write_cache_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("cache file without a directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

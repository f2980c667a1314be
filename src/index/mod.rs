//! The local RocksDB cache: blob id → pack location, and decoded tree blobs. Always derived from
//! the repository's `index/` files and tree blobs; deleting it costs only time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rocksdb::{BlockBasedOptions, ColumnFamilyDescriptor, Options, WriteBatch, DB};

use crate::error::{Error, Result};
use crate::format::pack::{BlobKind, Compression, IndexFile, PackEntry};
use crate::format::{BlobId, IndexId, PackId, ID_LEN};

const CF_BLOBS: &str = "blobs";
const CF_INDEX_FILES: &str = "index_files";
const CF_TREES: &str = "trees";
/// Ids of dict blobs (a handful), so a backup can list them without scanning every blob.
const CF_DICTS: &str = "dicts";
/// Ids of the packs ingested index files name, so packs no index names can be found.
const CF_PACKS: &str = "packs";
const LOC_LEN: usize = ID_LEN + 1 + 1 + 4 + 4 + 4;

/// Where one blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: PackId,
    pub kind: BlobKind,
    pub compression: Compression,
    pub offset: u32,
    pub length: u32,
    pub raw_length: u32,
    /// The base of a delta blob (see [`PackEntry::base`]).
    pub base: Option<BlobId>,
}

impl BlobLocation {
    #[must_use]
    pub fn new(pack: PackId, e: &PackEntry) -> Self {
        Self { pack, kind: e.kind, compression: e.compression, offset: e.offset, length: e.length, raw_length: e.raw_length, base: e.base }
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(LOC_LEN + ID_LEN);
        b.extend_from_slice(&self.pack.0);
        b.push(self.kind as u8);
        b.push(self.compression as u8);
        b.extend_from_slice(&self.offset.to_le_bytes());
        b.extend_from_slice(&self.length.to_le_bytes());
        b.extend_from_slice(&self.raw_length.to_le_bytes());
        if let Some(base) = &self.base {
            b.extend_from_slice(&base.0);
        }
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != LOC_LEN && b.len() != LOC_LEN + ID_LEN {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(Self {
            pack: PackId::from_slice(&b[..ID_LEN])?,
            kind: BlobKind::try_from(b[ID_LEN]).ok()?,
            compression: Compression::try_from(b[ID_LEN + 1]).ok()?,
            offset: u32_at(ID_LEN + 2),
            length: u32_at(ID_LEN + 6),
            raw_length: u32_at(ID_LEN + 10),
            base: if b.len() > LOC_LEN { Some(BlobId::from_slice(&b[LOC_LEN..])?) } else { None },
        })
    }
}

/// The RocksDB-backed cache of one repository.
pub struct LocalIndex {
    db: Option<DB>,
    path: PathBuf,
    /// A private copy made because another process holds the shared one; removed on drop.
    private: bool,
}

impl std::fmt::Debug for LocalIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalIndex({})", self.path.display())
    }
}

impl LocalIndex {
    /// Opens (creating if needed) the cache database at `path`.
    ///
    /// # Errors
    /// The directory cannot be created or RocksDB cannot open it (for instance because another
    /// process holds it).
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_at(path, false)
    }

    /// Opens `<cache_dir>/index`; when another snap process holds it, opens a private index
    /// under `<cache_dir>` instead (rebuilt from the repository, deleted afterwards), so
    /// concurrent commands never wait on each other's cache.
    ///
    /// # Errors
    /// As [`LocalIndex::open`].
    pub fn open_or_private(cache_dir: &Path) -> Result<Self> {
        match Self::open(&cache_dir.join("index")) {
            Err(Error::Index { source, .. }) if source.to_string().contains("lock") => {
                let nanos = jiff::Timestamp::now().as_nanosecond();
                Self::open_at(&cache_dir.join(format!("index-{}-{nanos}", std::process::id())), true)
            }
            other => other,
        }
    }

    fn open_at(path: &Path, private: bool) -> Result<Self> {
        create_private_dir(path)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_open_files(256);
        opts.set_keep_log_file_num(2);
        opts.increase_parallelism(2);
        let mut blobs = Options::default();
        let mut bbo = BlockBasedOptions::default();
        bbo.set_bloom_filter(10.0, false);
        bbo.set_block_size(16 * 1024);
        blobs.set_block_based_table_factory(&bbo);
        blobs.set_compression_type(rocksdb::DBCompressionType::None);
        let mut trees = Options::default();
        trees.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // A cache written before a column family existed has ingested index files without
        // filling it: start its locations afresh.
        let stale = DB::list_cf(&opts, path).is_ok_and(|have| !have.iter().any(|c| c == CF_PACKS));
        let cfs = vec![
            ColumnFamilyDescriptor::new(CF_BLOBS, blobs),
            ColumnFamilyDescriptor::new(CF_INDEX_FILES, Options::default()),
            ColumnFamilyDescriptor::new(CF_TREES, trees),
            ColumnFamilyDescriptor::new(CF_DICTS, Options::default()),
            ColumnFamilyDescriptor::new(CF_PACKS, Options::default()),
        ];
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| Error::Index { path: path.to_path_buf(), source: e })?;
        let index = Self { db: Some(db), path: path.to_path_buf(), private };
        if stale {
            index.clear_locations()?;
        }
        Ok(index)
    }

    fn db(&self) -> Result<&DB> {
        self.db.as_ref().ok_or_else(|| Error::Internal(format!("local index {} is closed", self.path.display())))
    }

    fn err(&self, e: rocksdb::Error) -> Error {
        Error::Index { path: self.path.clone(), source: e }
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily> {
        self.db()?.cf_handle(name).ok_or_else(|| Error::Internal(format!("local index {} lacks column family {name}", self.path.display())))
    }

    /// Where `id` is stored, if any index file names it.
    ///
    /// # Errors
    /// RocksDB read errors.
    pub fn get(&self, id: &BlobId) -> Result<Option<BlobLocation>> {
        let cf = self.cf(CF_BLOBS)?;
        match self.db()?.get_pinned_cf(cf, id.0).map_err(|e| self.err(e))? {
            Some(v) => Ok(BlobLocation::decode(&v)),
            None => Ok(None),
        }
    }

    /// Whether the index knows `id`.
    ///
    /// # Errors
    /// RocksDB read errors.
    pub fn contains(&self, id: &BlobId) -> Result<bool> {
        let cf = self.cf(CF_BLOBS)?;
        if !self.db()?.key_may_exist_cf(cf, id.0) {
            return Ok(false);
        }
        Ok(self.db()?.get_pinned_cf(cf, id.0).map_err(|e| self.err(e))?.is_some())
    }

    /// Index files already ingested.
    ///
    /// # Errors
    /// RocksDB read errors.
    pub fn ingested(&self) -> Result<HashSet<IndexId>> {
        let cf = self.cf(CF_INDEX_FILES)?;
        let mut out = HashSet::new();
        for item in self.db()?.iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (k, _) = item.map_err(|e| self.err(e))?;
            if let Some(id) = IndexId::from_slice(&k) {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// Records every blob of an index file, and the file itself, in one batch.
    ///
    /// # Errors
    /// RocksDB write errors.
    pub fn ingest(&self, id: &IndexId, file: &IndexFile) -> Result<()> {
        self.ingest_noting(id, file).map(|_| ())
    }

    /// [`LocalIndex::ingest`], returning each location it replaced by a different one (a blob
    /// stored twice: say, once in a pack since lost and once again by a later backup).
    ///
    /// # Errors
    /// RocksDB read and write errors.
    pub fn ingest_noting(&self, id: &IndexId, file: &IndexFile) -> Result<Vec<(BlobId, BlobLocation)>> {
        let mut displaced = Vec::new();
        for p in &file.packs {
            for e in &p.entries {
                if let Some(old) = self.get(&e.id)?
                    && old != BlobLocation::new(p.id, e)
                {
                    displaced.push((e.id, old));
                }
            }
        }
        self.write_file(id, file)?;
        Ok(displaced)
    }

    /// Puts one blob's location back (see [`LocalIndex::ingest_noting`]).
    ///
    /// # Errors
    /// RocksDB write errors.
    pub fn set_location(&self, id: &BlobId, loc: &BlobLocation) -> Result<()> {
        let blobs = self.cf(CF_BLOBS)?;
        self.db()?.put_cf(blobs, id.0, loc.encode()).map_err(|e| self.err(e))
    }

    fn write_file(&self, id: &IndexId, file: &IndexFile) -> Result<()> {
        let blobs = self.cf(CF_BLOBS)?;
        let files = self.cf(CF_INDEX_FILES)?;
        let dicts = self.cf(CF_DICTS)?;
        let packs = self.cf(CF_PACKS)?;
        let mut batch = WriteBatch::default();
        for p in &file.packs {
            // The size the pack file must have: its blobs, its sealed header, the length word.
            let header = crate::format::pack::encode_pack_header(&p.entries).len();
            let blobs_len = p.entries.iter().map(|e| u64::from(e.offset) + u64::from(e.length)).max().unwrap_or(0);
            let size = blobs_len + (header + crate::crypto::OVERHEAD + 4) as u64;
            batch.put_cf(packs, p.id.0, size.to_le_bytes());
            for e in &p.entries {
                batch.put_cf(blobs, e.id.0, BlobLocation::new(p.id, e).encode());
                if e.kind == BlobKind::Dict {
                    batch.put_cf(dicts, e.id.0, []);
                }
            }
        }
        batch.put_cf(files, id.0, []);
        self.db()?.write(batch).map_err(|e| self.err(e))
    }

    /// Forgets all blob locations and ingested index files (trees stay: they are content-addressed).
    ///
    /// # Errors
    /// RocksDB write errors.
    pub fn clear_locations(&self) -> Result<()> {
        for name in [CF_BLOBS, CF_INDEX_FILES, CF_DICTS, CF_PACKS] {
            let cf = self.cf(name)?;
            self.db()?.delete_range_cf(cf, &[0u8; 0][..], &[0xffu8; ID_LEN + 1][..]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Ids of every dict blob an ingested index file names.
    ///
    /// # Errors
    /// RocksDB read errors.
    pub fn dicts(&self) -> Result<Vec<BlobId>> {
        let cf = self.cf(CF_DICTS)?;
        let mut out = Vec::new();
        for item in self.db()?.iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (k, _) = item.map_err(|e| self.err(e))?;
            out.extend(BlobId::from_slice(&k));
        }
        Ok(out)
    }

    /// Whether an ingested index file names pack `id`.
    ///
    /// # Errors
    /// RocksDB read errors.
    pub fn has_pack(&self, id: &PackId) -> Result<bool> {
        let cf = self.cf(CF_PACKS)?;
        Ok(self.db()?.get_pinned_cf(cf, id.0).map_err(|e| self.err(e))?.is_some())
    }

    /// The exact size pack `id` has in storage according to the index files that name it (its
    /// blobs, its sealed header, the length word); `None` when unknown.
    ///
    /// # Errors
    /// RocksDB read errors.
    pub fn pack_size(&self, id: &PackId) -> Result<Option<u64>> {
        let cf = self.cf(CF_PACKS)?;
        Ok(self.db()?.get_pinned_cf(cf, id.0).map_err(|e| self.err(e))?.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok()).map(u64::from_le_bytes))
    }

    /// A decoded tree's plaintext, if cached.
    ///
    /// # Errors
    /// RocksDB read errors.
    pub fn get_tree(&self, id: &BlobId) -> Result<Option<Vec<u8>>> {
        let cf = self.cf(CF_TREES)?;
        self.db()?.get_cf(cf, id.0).map_err(|e| self.err(e))
    }

    /// Caches a tree's plaintext (already verified against its id).
    ///
    /// # Errors
    /// RocksDB write errors.
    pub fn put_tree(&self, id: &BlobId, plain: &[u8]) -> Result<()> {
        let cf = self.cf(CF_TREES)?;
        self.db()?.put_cf(cf, id.0, plain).map_err(|e| self.err(e))
    }

    /// Every known blob with its location.
    ///
    /// # Errors
    /// RocksDB read errors.
    pub fn all_blobs(&self) -> Result<Vec<(BlobId, BlobLocation)>> {
        let cf = self.cf(CF_BLOBS)?;
        let mut out = Vec::new();
        for item in self.db()?.iterator_cf(cf, rocksdb::IteratorMode::Start) {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if let (Some(id), Some(loc)) = (BlobId::from_slice(&k), BlobLocation::decode(&v)) {
                out.push((id, loc));
            }
        }
        Ok(out)
    }
}

impl Drop for LocalIndex {
    fn drop(&mut self) {
        drop(self.db.take());
        if self.private {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Creates `path` and its parents, the last one readable by its owner only.
fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pack::IndexPack;

    #[test]
    fn ingest_lookup_clear() {
        let d = tempfile::tempdir().unwrap();
        let idx = LocalIndex::open(&d.path().join("db")).unwrap();
        let e = PackEntry { kind: BlobKind::Tree, compression: Compression::Zstd, id: BlobId([3; 32]), offset: 7, length: 100, raw_length: 300, base: None };
        let d = PackEntry { kind: BlobKind::Data, compression: Compression::ZstdDelta, id: BlobId([5; 32]), offset: 107, length: 10, raw_length: 4000, base: Some(BlobId([6; 32])) };
        let file = IndexFile { supersedes: vec![], packs: vec![IndexPack { id: PackId([9; 32]), entries: vec![e, d] }] };
        idx.ingest(&IndexId([1; 32]), &file).unwrap();
        let loc = idx.get(&BlobId([3; 32])).unwrap().unwrap();
        assert_eq!(loc, BlobLocation::new(PackId([9; 32]), &e));
        assert_eq!(idx.get(&BlobId([5; 32])).unwrap().unwrap().base, Some(BlobId([6; 32])));
        assert!(idx.contains(&BlobId([3; 32])).unwrap());
        assert!(idx.has_pack(&PackId([9; 32])).unwrap());
        assert!(!idx.has_pack(&PackId([8; 32])).unwrap());
        assert!(!idx.contains(&BlobId([4; 32])).unwrap());
        assert_eq!(idx.ingested().unwrap(), HashSet::from([IndexId([1; 32])]));
        idx.clear_locations().unwrap();
        assert!(idx.get(&BlobId([3; 32])).unwrap().is_none());
        assert!(!idx.has_pack(&PackId([9; 32])).unwrap());
        assert!(idx.ingested().unwrap().is_empty());
    }

    #[test]
    fn a_cache_from_before_the_packs_family_is_rebuilt() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("db");
        {
            let mut opts = Options::default();
            opts.create_if_missing(true);
            opts.create_missing_column_families(true);
            let db = DB::open_cf(&opts, &path, [CF_BLOBS, CF_INDEX_FILES, CF_TREES, CF_DICTS]).unwrap();
            db.put_cf(db.cf_handle(CF_INDEX_FILES).unwrap(), [1u8; 32], []).unwrap();
        }
        let idx = LocalIndex::open(&path).unwrap();
        assert!(idx.ingested().unwrap().is_empty(), "index files ingested without their packs must be ingested again");
    }
}

//! `check`: proves the repository is whole. Structure: every index file decodes, every indexed
//! pack exists with the size its index implies, every blob a snapshot needs is indexed and every
//! tree decodes. With `--read-data`: every selected pack is read, hashed, and each blob opened,
//! decompressed and checked against its id. Damage is reported with the snapshots and paths it
//! costs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use rayon::prelude::*;

use super::walk::{walk, Visitor};
use crate::error::{Error, Result};
use crate::format::pack::{BlobKind, PackEntry};
use crate::format::{BlobId, IndexId, PackId, SnapshotId};
use crate::index::BlobLocation;
use crate::repo::pack::pack_size;
use crate::repo::{runs, Repository};

/// Which packs `--read-data` reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataSubset {
    All,
    /// `n/m`: the packs whose id falls in slice n of m (1-based); over m nights every pack is read.
    Slice { n: u32, m: u32 },
    /// `p%`: a random share of the packs.
    Percent(f64),
    /// A size such as `500M`: random packs until this many bytes.
    Bytes(u64),
}

impl DataSubset {
    /// Parses `n/m`, `p%` or a size with an optional K/M/G/T suffix (powers of 1024).
    ///
    /// # Errors
    /// Anything else.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::Usage(format!("--read-data-subset {s:?}: expected n/m, p% or a size like 500M"));
        let s = s.trim();
        if let Some((n, m)) = s.split_once('/') {
            let (n, m): (u32, u32) = (n.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if n == 0 || m == 0 || n > m {
                return Err(bad());
            }
            return Ok(Self::Slice { n, m });
        }
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) || p.is_nan() {
                return Err(bad());
            }
            return Ok(Self::Percent(p));
        }
        let (num, mult) = match s.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => {
                let m = match c.to_ascii_uppercase() {
                    'K' => 1u64 << 10,
                    'M' => 1 << 20,
                    'G' => 1 << 30,
                    'T' => 1 << 40,
                    _ => return Err(bad()),
                };
                (&s[..i], m)
            }
            _ => (s, 1),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        Ok(Self::Bytes(n.saturating_mul(mult)))
    }

    fn select(&self, packs: &mut Vec<(PackId, u64)>) -> Result<()> {
        match *self {
            Self::All => {}
            Self::Slice { n, m } => packs.retain(|(id, _)| u32::from_le_bytes([id.0[0], id.0[1], id.0[2], id.0[3]]) % m == n - 1),
            Self::Percent(p) => {
                let mut keep = Vec::new();
                for pk in packs.drain(..) {
                    if random_unit()? * 100.0 < p {
                        keep.push(pk);
                    }
                }
                *packs = keep;
            }
            Self::Bytes(limit) => {
                let mut keyed = packs.drain(..).map(|p| Ok((random_unit()?.to_bits(), p))).collect::<Result<Vec<_>>>()?;
                keyed.sort_by_key(|(k, _)| *k);
                let mut total = 0u64;
                for (_, p) in keyed {
                    if total >= limit {
                        break;
                    }
                    total += p.1;
                    packs.push(p);
                }
            }
        }
        Ok(())
    }
}

fn random_unit() -> Result<f64> {
    let mut b = [0u8; 8];
    crate::crypto::random_bytes(&mut b).map_err(|e| Error::crypto("random", "check", e))?;
    Ok((u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64)
}

#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// `None`: structure only.
    pub read_data: Option<DataSubset>,
}

#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Problems that cost data or make the repository unreadable; non-empty means failure.
    pub errors: Vec<String>,
    /// Things that waste space or deserve a look but lose nothing.
    pub warnings: Vec<String>,
    pub snapshots: usize,
    pub index_files: usize,
    pub packs: usize,
    pub blobs: usize,
    pub packs_read: usize,
    pub bytes_read: u64,
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct CheckProgress {
    pub packs_total: AtomicU64,
    pub packs_done: AtomicU64,
    pub bytes_read: AtomicU64,
}

/// Why a blob is unusable.
#[derive(Debug, Clone)]
struct Damage {
    pack: Option<PackId>,
    reason: String,
}

/// Runs the checks.
///
/// # Errors
/// Only failures to list the repository; everything found wrong is in the report.
pub fn check(repo: &Repository, opts: &CheckOptions, progress: &CheckProgress) -> Result<CheckReport> {
    let mut report = CheckReport::default();

    // Key files: one that is damaged no longer opens the repository with its password.
    for (id, parsed) in repo.key_files()? {
        if let Err(e) = parsed {
            report.errors.push(format!("key file {}: {e}", id.short()));
        }
    }

    // Index files, read from the repository itself (not the cache).
    let index_ids: Vec<IndexId> = repo.ids()?;
    report.index_files = index_ids.len();
    let loaded: Vec<_> = index_ids.par_iter().map(|id| (*id, repo.load_index_file(id))).collect();
    let mut packs_idx: HashMap<PackId, Vec<PackEntry>> = HashMap::new();
    let mut blobs: HashMap<BlobId, PackId> = HashMap::new();
    let mut raw_len: HashMap<BlobId, u32> = HashMap::new();
    let mut bases: HashMap<BlobId, BlobId> = HashMap::new();
    for (id, file) in loaded {
        match file {
            Ok(f) => {
                for p in f.packs {
                    for e in &p.entries {
                        blobs.entry(e.id).or_insert(p.id);
                        raw_len.entry(e.id).or_insert(e.raw_length);
                        if let Some(b) = e.base {
                            bases.insert(e.id, b);
                        }
                    }
                    let slot = packs_idx.entry(p.id).or_default();
                    if slot.is_empty() {
                        *slot = p.entries;
                    } else if *slot != p.entries {
                        report.errors.push(format!("pack {}: index files disagree about its content", p.id));
                    }
                }
            }
            Err(e) => report.errors.push(format!("index file {}: {e}", id.short())),
        }
    }
    report.blobs = blobs.len();

    // Packs: present, and of the size the index implies.
    let listed: HashSet<PackId> = repo.ids::<PackId>()?.into_iter().collect();
    report.packs = listed.len();
    let mut damaged: HashMap<BlobId, Damage> = HashMap::new();
    let mut present: Vec<(PackId, u64)> = Vec::new();
    let mut sorted_packs: Vec<&PackId> = packs_idx.keys().collect();
    sorted_packs.sort();
    for pid in sorted_packs {
        let entries = &packs_idx[pid];
        if !listed.contains(pid) {
            report.errors.push(format!("pack {pid} is missing: its {} blob(s) are lost", entries.len()));
            for e in entries {
                damaged.insert(e.id, Damage { pack: Some(*pid), reason: format!("blob {} is lost with missing pack {}", e.id, pid.short()) });
            }
            continue;
        }
        let want = pack_size(entries);
        match repo.pack_file_size(pid) {
            Ok(size) if size == want => present.push((*pid, size)),
            Ok(size) => {
                report.errors.push(format!("pack {pid} is {size} bytes but its index implies {want}"));
                present.push((*pid, size));
            }
            Err(e) => report.errors.push(format!("pack {pid}: {e}")),
        }
    }
    let mut orphans: Vec<&PackId> = listed.iter().filter(|p| !packs_idx.contains_key(*p)).collect();
    orphans.sort();
    for p in orphans {
        report.warnings.push(format!("pack {p} is not in any index (left by an interrupted command; `snap prune` removes it, `snap repair index` adopts it)"));
    }

    // Snapshots and everything they reference.
    let scan = repo.scan_snapshots_stored()?;
    for (id, e) in &scan.unreadable {
        report.errors.push(format!("snapshot {} cannot be read: {e} (`snap forget {id}` removes it)", id.short()));
    }
    let snaps = scan.readable;
    report.snapshots = snaps.len();
    struct Structure<'b> {
        blobs: &'b HashMap<BlobId, PackId>,
        raw_len: &'b HashMap<BlobId, u32>,
        used: HashSet<BlobId>,
        damaged: HashMap<BlobId, Damage>,
        /// Files whose chunks do not add up to the size their node records.
        sizes: Vec<String>,
    }
    impl Visitor for Structure<'_> {
        fn blob(&mut self, _: BlobKind, id: &BlobId, _: &str) {
            self.used.insert(*id);
            if !self.blobs.contains_key(id) {
                self.damaged.entry(*id).or_insert(Damage { pack: None, reason: format!("blob {id} is in no index") });
            }
        }
        fn damaged(&mut self, _: BlobKind, id: &BlobId, _: &str, err: Error) {
            self.damaged.entry(*id).or_insert(Damage { pack: self.blobs.get(id).copied(), reason: err.to_string() });
        }
        fn file(&mut self, path: &str, size: u64, chunks: &[BlobId]) {
            // Chunks missing from the index are reported as such; only a whole sum is compared.
            let sum: Option<u64> = chunks.iter().map(|c| self.raw_len.get(c).map(|l| u64::from(*l))).sum();
            if let Some(sum) = sum.filter(|s| *s != size) {
                self.sizes.push(format!("file {path}: its node says {size} bytes but its chunks hold {sum}"));
            }
        }
    }
    // Every tree of the packs that are there, read in a few requests per pack and verified,
    // so walking the snapshots below costs no request per directory.
    let mut trees: Vec<(BlobId, BlobLocation)> = present
        .iter()
        .flat_map(|(pid, _)| packs_idx[pid].iter().filter(|e| e.kind == BlobKind::Tree).map(|e| (e.id, BlobLocation::new(*pid, e))))
        .collect();
    repo.refresh_trees(&mut trees);
    let mut st = Structure { blobs: &blobs, raw_len: &raw_len, used: HashSet::new(), damaged: std::mem::take(&mut damaged), sizes: Vec::new() };
    let mut seen = HashSet::new();
    for (_, s) in &snaps {
        walk(repo, &s.tree, "/", true, &mut seen, &mut st)?;
    }
    let Structure { mut used, damaged: mut damaged_all, sizes, .. } = st;
    report.errors.extend(sizes);
    // A delta needs its base: the base counts as used, and a delta whose base no index names
    // is damaged.
    let deltas: Vec<(BlobId, BlobId)> = used.iter().filter_map(|id| bases.get(id).map(|b| (*id, *b))).collect();
    for (id, base) in deltas {
        if !blobs.contains_key(&base) {
            damaged_all.entry(id).or_insert(Damage { pack: blobs.get(&id).copied(), reason: format!("blob {id} is stored as a delta of blob {base}, which is in no index") });
        }
        used.insert(base);
    }
    // Dictionaries are used by data blobs, not trees, and prune keeps them.
    let dicts: HashSet<BlobId> = repo.dictionaries()?.into_iter().collect();
    let unused = blobs.keys().filter(|b| !used.contains(*b) && !dicts.contains(*b)).count();
    if unused > 0 {
        report.warnings.push(format!("{unused} indexed blob(s) are not referenced by any snapshot (`snap prune` removes them)"));
    }

    // Data: read the selected packs whole and verify every blob.
    if let Some(subset) = opts.read_data {
        subset.select(&mut present)?;
        progress.packs_total.store(present.len() as u64, Ordering::Relaxed);
        // Longer reads over SFTP keep a connection busy longer, so the parallel pack reads
        // open more of them (see Backend::parallel_reads): SFTP keeps the local window.
        let window = if repo.is_remote() && repo.parallel_reads() { REMOTE_WINDOW } else { WINDOW };
        let found = Mutex::new(Vec::<(BlobId, Damage)>::new());
        let errors = Mutex::new(Vec::<String>::new());
        present.par_iter().for_each(|(pid, size)| {
            let size = *size;
            let indexed = &packs_idx[pid];
            let fail_all = |reason: String| {
                let mut f = found.lock();
                for e in indexed {
                    f.push((e.id, Damage { pack: Some(*pid), reason: reason.clone() }));
                }
            };
            // Read in windows of whole blobs, hashing as we go, so memory stays a few MiB
            // per thread whatever the pack size.
            let mut hasher = blake3::Hasher::new();
            let mut at = 0u64;
            let mut unreadable = None;
            for group in windows(indexed, window) {
                let (start, len) = (at, group.iter().map(|e| u64::from(e.length)).sum::<u64>());
                let bytes = match repo.read_pack_range(pid, start, len) {
                    Ok(b) => b,
                    Err(e) => {
                        unreadable = Some(e);
                        break;
                    }
                };
                progress.bytes_read.fetch_add(len, Ordering::Relaxed);
                hasher.update(&bytes);
                at += len;
                for e in group {
                    let from = u64::from(e.offset).saturating_sub(start) as usize;
                    let sealed = bytes.get(from..from + e.length as usize);
                    let r = match sealed {
                        Some(s) if u64::from(e.offset) >= start => repo.open_blob(e.kind, &e.id, e.compression, e.raw_length, e.base.as_ref(), s).map(|_| ()),
                        _ => Err(Error::corrupt("blob", e.id, "outside its pack")),
                    };
                    if let Err(err) = r {
                        errors.lock().push(format!("pack {}: {err}", pid.short()));
                        found.lock().push((e.id, Damage { pack: Some(*pid), reason: err.to_string() }));
                    }
                }
            }
            let trailer = match unreadable {
                Some(e) => Err(e),
                None => size.checked_sub(at).ok_or_else(|| Error::corrupt("pack", pid, "shorter than its blobs")).and_then(|n| repo.read_pack_range(pid, at, n)),
            };
            match trailer {
                Err(e) => {
                    errors.lock().push(format!("pack {pid}: {e}"));
                    fail_all(format!("pack {} cannot be read", pid.short()));
                }
                Ok(trailer) => {
                    hasher.update(&trailer);
                    if *hasher.finalize().as_bytes() != pid.0 {
                        errors.lock().push(Error::corrupt("pack", pid, "content does not match its name").to_string());
                    } else if let Err(e) = repo.parse_pack_trailer(pid, at, &trailer).and_then(|h| if h == *indexed { Ok(()) } else { Err(Error::corrupt("pack", pid, "header does not match the index")) }) {
                        errors.lock().push(e.to_string());
                    }
                }
            }
            progress.packs_done.fetch_add(1, Ordering::Relaxed);
        });
        report.packs_read = present.len();
        report.bytes_read = progress.bytes_read.load(Ordering::Relaxed);
        report.errors.extend(errors.into_inner());
        for (id, d) in found.into_inner() {
            damaged_all.entry(id).or_insert(d);
        }
    }

    // A delta is lost with its base (the snapshots name the delta, not the base).
    let lost: Vec<(BlobId, BlobId)> = used.iter().filter_map(|id| bases.get(id).filter(|b| damaged_all.contains_key(*b)).map(|b| (*id, *b))).collect();
    for (id, base) in lost {
        damaged_all.entry(id).or_insert(Damage { pack: blobs.get(&id).copied(), reason: format!("blob {id} is stored as a delta of damaged blob {base}") });
    }

    // Say which snapshots and paths each damaged blob costs.
    if !damaged_all.is_empty() {
        let hits = attribute(repo, &snaps, &damaged_all)?;
        let mut ids: Vec<&BlobId> = damaged_all.keys().collect();
        ids.sort();
        for id in ids {
            let d = &damaged_all[id];
            let place = d.pack.map(|p| format!(" (pack {})", p.short())).unwrap_or_default();
            match hits.get(id) {
                Some(list) => {
                    let shown: Vec<String> = list.iter().take(10).map(|(s, p)| format!("{} {p}", s.short())).collect();
                    let more = if list.len() > 10 { format!(" and {} more", list.len() - 10) } else { String::new() };
                    report.errors.push(format!("{}{place}; damages snapshot {}{more}", d.reason, shown.join(", snapshot ")));
                }
                None => report.warnings.push(format!("{}{place}; no snapshot needs it", d.reason)),
            }
        }
    }
    Ok(report)
}

/// For each damaged blob, the (snapshot, path) pairs that need it.
fn attribute(repo: &Repository, snaps: &[(SnapshotId, crate::format::snapshot::Snapshot)], damaged: &HashMap<BlobId, Damage>) -> Result<BTreeMap<BlobId, Vec<(SnapshotId, String)>>> {
    struct Find<'d> {
        snap: SnapshotId,
        damaged: &'d HashMap<BlobId, Damage>,
        hits: BTreeMap<BlobId, Vec<(SnapshotId, String)>>,
    }
    impl Visitor for Find<'_> {
        fn blob(&mut self, _: BlobKind, id: &BlobId, path: &str) {
            if self.damaged.contains_key(id) {
                let v = self.hits.entry(*id).or_default();
                if v.last().is_none_or(|(s, p)| *s != self.snap || p != path) {
                    v.push((self.snap, path.to_string()));
                }
            }
        }
        fn damaged(&mut self, _: BlobKind, _: &BlobId, _: &str, _: Error) {}
    }
    let mut f = Find { snap: SnapshotId::default(), damaged, hits: BTreeMap::new() };
    for (id, s) in snaps {
        f.snap = *id;
        let mut seen = HashSet::new();
        walk(repo, &s.tree, "/", false, &mut seen, &mut f)?;
    }
    Ok(f.hits)
}

/// Bytes of blobs `check --read-data` reads at a time from one pack (memory: one window per
/// thread); on S3, where each window is a round trip, four times as much.
const WINDOW: u64 = 2 << 20;
const REMOTE_WINDOW: u64 = 8 << 20;

/// A pack's entries (in offset order, tiling the blob area) cut into runs of about `window`
/// bytes, each read with one request.
fn windows(entries: &[PackEntry], window: u64) -> impl Iterator<Item = &[PackEntry]> {
    runs(entries, window, |e| u64::from(e.length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_parse() {
        assert_eq!(DataSubset::parse("2/7").ok(), Some(DataSubset::Slice { n: 2, m: 7 }));
        assert_eq!(DataSubset::parse("12.5%").ok(), Some(DataSubset::Percent(12.5)));
        assert_eq!(DataSubset::parse("500M").ok(), Some(DataSubset::Bytes(500 << 20)));
        assert_eq!(DataSubset::parse("1024").ok(), Some(DataSubset::Bytes(1024)));
        for bad in ["0/3", "4/3", "x/3", "101%", "5Q", ""] {
            assert!(DataSubset::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slices_partition_the_packs() {
        let packs: Vec<(PackId, u64)> = (0u8..200).map(|i| (PackId(*blake3::hash(&[i]).as_bytes()), 1)).collect();
        let mut total = 0;
        for n in 1..=3 {
            let mut p = packs.clone();
            DataSubset::Slice { n, m: 3 }.select(&mut p).unwrap();
            total += p.len();
        }
        assert_eq!(total, packs.len());
    }
}


//! Per-stage throughput of the backup and restore pipeline on one core (FastCDC, keyed BLAKE3,
//! zstd with and without a dictionary, sealing, opening), and a whole backup of a dump-like
//! stream into an in-memory repository. The sum of the per-stage costs, spread over the cores,
//! is the pipeline limit `tools/bench-peers` compares end-to-end runs against.
//!
//! Run: `cargo bench --bench stages` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use snap::backend::Backend;
use snap::chunker::Chunker;
use snap::crypto::{blob_aad, KdfParams, MasterKeys};
use snap::format::config::ChunkerParams;
use snap::format::pack::{BlobKind, Compression};
use snap::format::BlobId;
use snap::ops::backup::{backup, BackupOptions, Progress};
use snap::repo::lock::LockKind;
use snap::repo::blob::{compress, delta, open_blob, seal_blob, train_dict, Dict, References};
use snap::repo::Repository;

/// Text shaped like a `pg_dump` COPY section: numbered rows of a chat table.
fn dump_text(rows: u32) -> Vec<u8> {
    let words = ["hello", "world", "deploy", "server", "restart", "thanks", "review", "merge", "lunch", "tomorrow", "meeting", "urgent"];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(rows as usize * 90);
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = 3 + (x % 9) as usize;
        let body: Vec<&str> = (0..n).map(|k| words[((x >> (k * 4)) % words.len() as u64) as usize]).collect();
        out.extend_from_slice(
            format!("{i}\t{}\tuser{}\t{}\t2024-0{}-1{} 1{}:{:02}:{:02}.{:06}+00\t{}\n", x % 500, x % 5000, body.join(" "), 1 + x % 9, x % 10, x % 10, x % 60, (x >> 8) % 60, x % 999_999, if x % 20 == 0 { 't' } else { 'f' })
                .as_bytes(),
        );
    }
    out
}

fn keys() -> MasterKeys {
    MasterKeys::from_parts([1; 32], [2; 32], 3)
}

fn stages(c: &mut Criterion) {
    let text = dump_text(400_000); // ~36 MB
    let keys = keys();
    let streams = Chunker::new(ChunkerParams::STREAMS, keys.chunker_seed());
    let chunks: Vec<&[u8]> = streams.split(&text);
    let sample: Vec<&[u8]> = chunks.iter().take(2000).copied().collect();
    let sample_bytes: u64 = sample.iter().map(|c| c.len() as u64).sum();
    let dict = Arc::new(Dict { id: BlobId([7; 32]), bytes: train_dict(&chunks[2000..3000], 112 * 1024).unwrap_or_default() });

    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("fastcdc streams (8 KiB)", |b| b.iter(|| black_box(streams.split(&text).len())));
    let files = Chunker::new(ChunkerParams::FILES, keys.chunker_seed());
    g.bench_function("fastcdc files (1 MiB)", |b| b.iter(|| black_box(files.split(&text).len())));
    g.throughput(Throughput::Bytes(sample_bytes));
    g.bench_function("keyed blake3 per chunk", |b| b.iter(|| sample.iter().map(|c| keys.blob_id(c).0[0]).fold(0u8, u8::wrapping_add)));
    g.bench_function("zstd-3 per chunk", |b| b.iter(|| sample.iter().map(|c| compress(c, 3, None).map_or(0, |v| v.len())).sum::<usize>()));
    g.bench_function("zstd-3 + dictionary per chunk", |b| b.iter(|| sample.iter().map(|c| compress(c, 3, Some(&dict)).map_or(0, |v| v.len())).sum::<usize>()));
    g.bench_function("seal (xchacha20-poly1305)", |b| {
        let mut out = Vec::with_capacity(16 << 10);
        b.iter(|| {
            for c in &sample {
                out.clear();
                let _ = keys.seal_into(&blob_aad(BlobKind::Data, &BlobId([0; 32])), c, &mut out);
            }
        });
    });
    let sealed: Vec<(BlobId, Compression, u32, Vec<u8>)> = sample
        .iter()
        .map(|c| {
            let id = keys.blob_id(c);
            let mut out = Vec::new();
            let comp = seal_blob(&keys, BlobKind::Data, &id, c, 3, Some(&dict), &mut out).unwrap_or(Compression::None);
            (id, comp, c.len() as u32, out)
        })
        .collect();
    let refs = OneDict(Arc::clone(&dict));
    g.bench_function("open + unzstd + verify per chunk", |b| {
        b.iter(|| sealed.iter().map(|(id, comp, n, s)| open_blob(&keys, BlobKind::Data, id, *comp, *n, None, s, &refs).map_or(0, |p| p.len())).sum::<usize>());
    });
    // A chunk with one row edited, as a delta from its previous version.
    let edited: Vec<Vec<u8>> = sample
        .iter()
        .map(|c| {
            let mut e = c.to_vec();
            let at = e.len() / 2;
            let end = (at + 8).min(e.len());
            e[at..end].fill(b'#');
            e
        })
        .collect();
    g.bench_function("delta against the previous version per chunk", |b| {
        b.iter(|| sample.iter().zip(&edited).map(|(old, new)| delta(new, 3, old, new.len() / 5).map_or(0, |d| d.len())).sum::<usize>());
    });
    g.finish();
}

/// The bench's one dictionary, and no delta bases.
struct OneDict(Arc<Dict>);

impl References for OneDict {
    fn dict(&self, _: &BlobId) -> snap::Result<Arc<Dict>> {
        Ok(Arc::clone(&self.0))
    }
    fn base(&self, id: &BlobId) -> snap::Result<Arc<Vec<u8>>> {
        Err(snap::Error::MissingBlob(id.to_hex()))
    }
}


/// A whole backup of a 36 MB dump-like file into a fresh in-memory repository, then the same
/// file again (everything deduplicated).
fn end_to_end(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let src = dir.path().join("dump.sql");
    let text = dump_text(400_000);
    std::fs::write(&src, &text).unwrap_or_else(|e| panic!("writing {}: {e}", src.display()));
    let kdf = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };
    let mut g = c.benchmark_group("backup");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(text.len() as u64));
    let opts = BackupOptions { paths: vec![src.clone()], ..BackupOptions::default() };
    g.bench_function("new data, in-memory repository", |b| {
        b.iter_batched(
            || {
                let backend = Backend::open("memory:", true).unwrap_or_else(|e| panic!("{e}"));
                let cache = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
                let repo = Repository::init(backend, b"pw", kdf, cache.path()).unwrap_or_else(|e| panic!("{e}"));
                (repo, cache)
            },
            |(repo, _cache)| {
                let lock = repo.lock(LockKind::Shared).unwrap_or_else(|e| panic!("{e}"));
                backup(&repo, &opts, &Progress::default(), &AtomicBool::new(false), &lock).map(|o| o.snapshot.summary.bytes_added)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, stages, end_to_end);
criterion_main!(benches);

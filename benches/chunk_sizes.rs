//! The measurement behind the stream chunker's size (format-spec §13.3): for two consecutive
//! daily dumps, how many bytes of day two are in chunks day one lacks, and what storing them
//! costs with plain zstd per chunk and with a dictionary trained on day one, for several average
//! chunk sizes.
//!
//! Run: `cargo bench --bench chunk_sizes -- DAY1.sql DAY2.sql` (tools/bench-peers --keep leaves
//! daily `pg_dump` files in its work directory).

use std::collections::HashSet;
use std::sync::Arc;

use snap::chunker::Chunker;
use snap::crypto::MasterKeys;
use snap::format::config::ChunkerParams;
use snap::format::BlobId;
use snap::repo::blob::{compressed_len, train_dict, Dict};

/// Sealing (nonce and tag) plus the index entry: what every stored chunk costs besides its bytes.
const PER_CHUNK_OVERHEAD: usize = 40 + 46;
/// A chunk-list entry per chunk in every snapshot's list blobs (before list deduplication).
const LIST_ENTRY: usize = 32;

fn main() {
    let files: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let [day1, day2] = files.as_slice() else {
        eprintln!("usage: cargo bench --bench chunk_sizes -- DAY1.sql DAY2.sql");
        std::process::exit(2);
    };
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("reading {p}: {e}"));
    let (a, b) = (read(day1), read(day2));
    let keys = MasterKeys::from_parts([1; 32], [2; 32], 0x5eed);
    println!("day one {} bytes, day two {} bytes; zstd level 3", a.len(), b.len());
    println!("| avg chunk | chunks/day | new bytes day 2 | plain zstd: day 1 | plain zstd: day 2 new | dictionary: day 1 | dictionary: day 2 new | list bytes/day |");
    println!("|---|---|---|---|---|---|---|---|");
    for avg in [4096u32, 8192, 16384, 65536] {
        let p = ChunkerParams { min: avg / 4, avg, max: avg * 8 };
        let c = Chunker::new(p, keys.chunker_seed());
        let ca = c.split(&a);
        let cb = c.split(&b);
        let seen: HashSet<BlobId> = ca.iter().map(|x| keys.blob_id(x)).collect();
        let new: Vec<&[u8]> = cb.iter().filter(|x| !seen.contains(&keys.blob_id(x))).copied().collect();
        let new_bytes: usize = new.iter().map(|x| x.len()).sum();
        let training: Vec<&[u8]> = ca.iter().take(ca.len().min((8 << 20) / avg as usize)).copied().collect();
        let dict = train_dict(&training, 112 * 1024).map(|bytes| Arc::new(Dict { id: keys.blob_id(&bytes), bytes }));
        let cost = |chunks: &[&[u8]], d: Option<&Dict>| -> usize { chunks.iter().map(|x| compressed_len(x, 3, d) + PER_CHUNK_OVERHEAD).sum() };
        let mb = |n: usize| format!("{:.1} MB", n as f64 / 1e6);
        println!(
            "| {} KiB | {} | {:.1} % | {} | {} | {} | {} | {} |",
            avg / 1024,
            cb.len(),
            100.0 * new_bytes as f64 / b.len() as f64,
            mb(cost(&ca, None)),
            mb(cost(&new, None)),
            dict.as_deref().map_or("-".into(), |d| mb(cost(&ca, Some(d)))),
            dict.as_deref().map_or("-".into(), |d| mb(cost(&new, Some(d)))),
            mb(cb.len() * LIST_ENTRY),
        );
    }
}

//! Memory against repository size: fills a repository's index with N synthetic blobs (1M and 10M
//! by default), then runs the real `snap backup` of a small directory against it and reports
//! wall time and peak RSS, once with a cold cache (the index is ingested into RocksDB) and once
//! warm. The blob → location map lives in RocksDB, so the warm figure should stay flat as N
//! grows tenfold.
//!
//! Run: `cargo bench --bench index_scale` (or `-- 1000000 10000000` for other sizes).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use snap::backend::{Backend, FileType};
use snap::crypto::{aad, KdfParams};
use snap::format::pack::{BlobKind, Compression, IndexFile, IndexPack, PackEntry};
use snap::format::{BlobId, PackId};
use snap::repo::Repository;

const PASSWORD: &str = "index-scale";
const BLOBS_PER_FILE: u64 = 250_000;
const BLOBS_PER_PACK: u64 = 2_000;

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("index_scale: {what}: {e}");
    std::process::exit(1)
}

/// Writes index files naming `n` synthetic data blobs in packs that do not exist (a backup only
/// looks blobs up; it never reads packs it does not write).
fn fill(repo_dir: &Path, cache: &Path, n: u64) {
    let kdf = KdfParams { memory_kib: 256, iterations: 1, parallelism: 1 };
    let backend = Backend::open(&repo_dir.to_string_lossy(), true).unwrap_or_else(|e| fail("open", e));
    let repo = Repository::init(backend, PASSWORD.as_bytes(), kdf, cache).unwrap_or_else(|e| fail("init", e));
    let mut next = 0u64;
    while next < n {
        let end = (next + BLOBS_PER_FILE).min(n);
        let mut packs = Vec::new();
        let mut start = next;
        while start < end {
            let stop = (start + BLOBS_PER_PACK).min(end);
            let entries = (start..stop)
                .map(|i| {
                    let id = BlobId(*blake3::hash(&i.to_le_bytes()).as_bytes());
                    let offset = u32::try_from((i - start) * 4000).unwrap_or(0);
                    PackEntry { kind: BlobKind::Data, compression: Compression::Zstd, id, offset, length: 4000, raw_length: 8192, base: None }
                })
                .collect();
            packs.push(IndexPack { id: PackId(*blake3::hash(format!("pack {start}").as_bytes()).as_bytes()), entries });
            start = stop;
        }
        let file = IndexFile { supersedes: Vec::new(), packs };
        repo.save_sealed(FileType::Index, aad::INDEX, &file.encode()).unwrap_or_else(|e| fail("writing an index file", e));
        next = end;
    }
}

/// Runs `snap` with `args`; returns (seconds, peak RSS in MiB).
fn run_snap(repo_dir: &Path, cache: &Path, args: &[&str]) -> (f64, f64) {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_snap"))
        .args(args)
        .env("SNAP_REPOSITORY", repo_dir)
        .env("SNAP_PASSWORD", PASSWORD)
        .env("SNAP_CACHE_DIR", cache)
        .arg("--quiet")
        .spawn()
        .unwrap_or_else(|e| fail("starting snap", e));
    let pid = libc::pid_t::try_from(child.id()).unwrap_or_else(|e| fail("pid", e));
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; the pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        fail("snap", format!("{args:?} failed (status {status})"));
    }
    (started.elapsed().as_secs_f64(), usage.ru_maxrss as f64 / 1024.0)
}

fn main() {
    let sizes: Vec<u64> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1_000_000, 10_000_000] } else { sizes };
    println!("| blobs in index | fill | backup, cold cache (ingest) | peak RSS | backup, warm | peak RSS |");
    println!("|---|---|---|---|---|---|");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap_or_else(|e| fail("tempdir", e));
        let (repo_dir, cache, src) = (dir.path().join("repo"), dir.path().join("cache"), dir.path().join("src"));
        std::fs::create_dir_all(&src).unwrap_or_else(|e| fail("mkdir", e));
        for i in 0..200u32 {
            let text = format!("file {i}\n").repeat(2000 + 50 * i as usize);
            std::fs::write(src.join(format!("f{i}.txt")), text).unwrap_or_else(|e| fail("writing a source file", e));
        }
        let t = Instant::now();
        fill(&repo_dir, &cache, n);
        let fill_secs = t.elapsed().as_secs_f64();
        let src_s = src.to_string_lossy().into_owned();
        let (cold, cold_rss) = run_snap(&repo_dir, &cache, &["backup", &src_s]);
        std::fs::write(src.join("changed.txt"), format!("{n}")).unwrap_or_else(|e| fail("writing a source file", e));
        let (warm, warm_rss) = run_snap(&repo_dir, &cache, &["backup", &src_s]);
        println!("| {n} | {fill_secs:.1} s | {cold:.2} s | {cold_rss:.0} MiB | {warm:.2} s | {warm_rss:.0} MiB |");
    }
}

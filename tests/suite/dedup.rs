//! Deduplication and compression, measured through `snap backup --json` and the size of data/:
//! unchanged re-backups, edits inside big files and streams, identical content under several
//! names, and compressible versus random data.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::util::{assert_same_tree, backup_json, pseudo_random, restored, Env, Store};

// Deduplication and compression as the store sees them (data/ sizes, index files, deleted
// packs): each runs on a local directory, on S3 and on SFTP.
crate::on_every_store!(
    unchanged_rebackup_adds_only_metadata,
    insertion_in_the_middle_of_a_big_file_adds_few_chunks,
    identical_content_is_stored_once,
    stream_with_small_edit_dedups,
    compressible_data_is_compressed_and_random_is_not,
    dump_streams_use_a_trained_dictionary_and_reuse_it,
    edited_dump_is_stored_as_deltas_whose_bases_survive_prune,
    check_names_the_snapshot_that_loses_a_delta_base,
);

const MIB: u64 = 1024 * 1024;

fn stream_backup(env: &Env, name: &str, data: &[u8]) -> Value {
    env.snap_stdin(["backup", "--json", "--stdin", "--stdin-filename", name], data).ok().json()
}

fn id(v: &Value) -> String {
    v["snapshot_id"].as_str().unwrap_or_else(|| panic!("no snapshot id in {v}")).to_string()
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn write(p: &Path, data: &[u8]) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn unchanged_rebackup_adds_only_metadata(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("src");
    let mut total = 0u64;
    let mut n = 0u64;
    for i in 0..60usize {
        let len = (i * i * 97) % 200_000;
        write(&src.join(format!("d{}/e{}/f{i}", i % 4, i % 3)), &pseudo_random(len, i as u64 + 1));
        total += len as u64;
        n += 1;
    }
    write(&src.join("big.bin"), &pseudo_random(6 * MIB as usize, 1000));
    total += 6 * MIB;
    n += 1;
    fs::create_dir_all(src.join("empty")).unwrap();

    let first = backup_json(&env, [&src]);
    assert_eq!(num(&first, "files_new"), n);
    assert_eq!(num(&first, "bytes_read"), total);
    assert_eq!(num(&first, "bytes_total"), total);
    assert!(num(&first, "bytes_added") >= total, "{first}");

    let before = env.data_bytes();
    let second = backup_json(&env, [&src]);
    let growth = env.data_bytes() - before;
    assert_eq!(second["parent"], id(&first).as_str());
    assert_eq!(num(&second, "files_unchanged"), n, "{second}");
    assert_eq!(num(&second, "files_new"), 0, "{second}");
    assert_eq!(num(&second, "files_changed"), 0, "{second}");
    assert_eq!(num(&second, "bytes_read"), 0, "{second}");
    assert_eq!(num(&second, "bytes_total"), total, "{second}");
    assert!(num(&second, "bytes_added") < 64 * 1024, "{second}");
    assert!(growth < 64 * 1024, "data/ grew by {growth} bytes for an unchanged tree");

    // The reused snapshot restores the same bytes.
    let out = restored(&env.restore(&id(&second), "r"), &src);
    assert_same_tree(&src, &out);
}

fn insertion_in_the_middle_of_a_big_file_adds_few_chunks(store: Store) {
    let env = Env::with_repo_on(store);
    let src = env.path().join("src");
    let path = src.join("big.bin");
    let v1 = pseudo_random(20 * MIB as usize, 42);
    write(&path, &v1);
    let first = backup_json(&env, [&src]);
    assert!(num(&first, "bytes_added") >= v1.len() as u64);

    let mut v2 = v1.clone();
    let insert = pseudo_random(100, 43);
    v2.splice(10 * MIB as usize..10 * MIB as usize, insert);
    write(&path, &v2);
    let before = env.data_bytes();
    let second = backup_json(&env, [&src]);
    assert_eq!(num(&second, "files_changed"), 1, "{second}");
    assert_eq!(num(&second, "bytes_read"), v2.len() as u64);
    let added = num(&second, "bytes_added");
    assert!(added <= 8 * MIB, "an insertion added {added} bytes (at most 2 max-size chunks expected)");
    assert!(added < v2.len() as u64 / 4, "an insertion added {added} of {} bytes", v2.len());
    assert!(env.data_bytes() - before < 8 * MIB + 64 * 1024, "data/ grew by {}", env.data_bytes() - before);

    let r1 = restored(&env.restore(&id(&first), "r1"), &path);
    let r2 = restored(&env.restore(&id(&second), "r2"), &path);
    assert!(fs::read(&r1).unwrap() == v1, "first snapshot restores the original");
    assert!(fs::read(&r2).unwrap() == v2, "second snapshot restores the edited file");
    assert!(env.snap(["dump", &id(&first), path.to_str().unwrap()]).ok().raw_stdout == v1);
}

fn identical_content_is_stored_once(store: Store) {
    let env = Env::with_repo_on(store);
    let data = pseudo_random(5_000_000, 7);
    // Two names in one directory tree.
    let one = env.path().join("one");
    write(&one.join("a/x.bin"), &data);
    write(&one.join("b/y.bin"), &data);
    let v = backup_json(&env, [&one]);
    let added = num(&v, "bytes_added");
    assert_eq!(num(&v, "bytes_read"), 10_000_000);
    assert!(added >= 5_000_000 && added < 5_500_000, "two identical 5 MB files added {added} bytes");

    // Two separate source paths in one snapshot, same content again: nothing new but trees.
    let p = env.path().join("p");
    let q = env.path().join("q");
    write(&p.join("copy1"), &data);
    write(&q.join("deeper/copy2"), &data);
    let v2 = backup_json(&env, [&p, &q]);
    assert_eq!(num(&v2, "files_new"), 2);
    assert!(num(&v2, "bytes_added") < 64 * 1024, "already stored content added {} bytes", num(&v2, "bytes_added"));

    // Within one snapshot, two new paths with the same new content.
    let r = env.path().join("r");
    let s = env.path().join("s");
    let other = pseudo_random(5_000_000, 8);
    write(&r.join("n1"), &other);
    write(&s.join("n2"), &other);
    let v3 = backup_json(&env, [&r, &s]);
    let added3 = num(&v3, "bytes_added");
    assert!(added3 >= 5_000_000 && added3 < 5_500_000, "two identical new files in two paths added {added3}");

    let t = env.restore(&id(&v3), "restored3");
    assert!(fs::read(restored(&t, &r.join("n1"))).unwrap() == other);
    assert!(fs::read(restored(&t, &s.join("n2"))).unwrap() == other);
    let t = env.restore(&id(&v), "restored1");
    assert_same_tree(&one, &restored(&t, &one));
}

fn stream_with_small_edit_dedups(store: Store) {
    let env = Env::with_repo_on(store);
    // A dump-like stream: many rows, some random payload.
    let mut v1 = Vec::new();
    let mut i = 0u64;
    while v1.len() < 6 * MIB as usize {
        v1.extend_from_slice(format!("INSERT INTO t VALUES ({i}, '").as_bytes());
        v1.extend(pseudo_random(40, i).iter().map(|b| b'a' + b % 26));
        v1.extend_from_slice(b"');\n");
        i += 1;
    }
    let first = stream_backup(&env, "db.sql", &v1);
    assert_eq!(num(&first, "bytes_total"), v1.len() as u64);

    let mut v2 = v1.clone();
    let mid = v2.len() / 2;
    v2[mid..mid + 12].copy_from_slice(b"EDITED-BYTES");
    v2.splice(mid + 1000..mid + 1000, b"-- an inserted comment line\n".iter().copied());
    let second = stream_backup(&env, "db.sql", &v2);
    assert_eq!(second["parent"], id(&first).as_str(), "same host and paths: the first is the parent");
    assert_eq!(num(&second, "bytes_read"), v2.len() as u64, "streams are always read");
    let added = num(&second, "bytes_added");
    // Streams use 2-64 KiB chunks: a couple of chunks change, plus a root tree.
    assert!(added < 256 * 1024, "a small edit to a {} byte stream added {added} bytes", v2.len());
    assert!(added < v2.len() as u64 / 20);

    assert!(env.snap(["dump", &id(&first), "/db.sql"]).ok().raw_stdout == v1);
    assert!(env.snap(["dump", &id(&second), "/db.sql"]).ok().raw_stdout == v2);
}

fn compressible_data_is_compressed_and_random_is_not(store: Store) {
    let env = Env::with_repo_on(store);
    let text: Vec<u8> = (0..200_000u64).flat_map(|i| format!("{i:08} the quick brown fox jumps over the lazy dog\n").into_bytes()).collect();
    assert!(text.len() > 10_000_000);
    let t = env.path().join("text");
    write(&t.join("log.txt"), &text);
    let before = env.data_bytes();
    let v = backup_json(&env, [&t]);
    let (added, stored) = (num(&v, "bytes_added"), num(&v, "bytes_stored"));
    assert!(added >= text.len() as u64, "{v}");
    assert!(stored < added / 3, "compressible data: stored {stored} of {added}");
    let growth = env.data_bytes() - before;
    assert!(growth >= stored && growth < stored + 256 * 1024, "data/ grew by {growth}, stored {stored}");

    let r = env.path().join("rand");
    let random = pseudo_random(8 * MIB as usize, 5);
    write(&r.join("noise.bin"), &random);
    let before = env.data_bytes();
    let v = backup_json(&env, [&r]);
    let (added, stored) = (num(&v, "bytes_added"), num(&v, "bytes_stored"));
    assert!(added >= random.len() as u64, "{v}");
    assert!(stored >= random.len() as u64, "random data cannot shrink: stored {stored}");
    assert!(stored <= added + added / 50 + 64 * 1024, "random data: stored {stored} of {added}");
    let growth = env.data_bytes() - before;
    assert!(growth >= stored && growth < stored + 256 * 1024, "data/ grew by {growth}, stored {stored}");

    let out = env.restore(&id(&v), "r");
    assert!(fs::read(restored(&out, &r.join("noise.bin"))).unwrap() == random);
    let text_id = env.snap(["snapshots", "--json", "--path", t.to_str().unwrap()]).ok().json()[0]["id"].as_str().unwrap().to_string();
    assert!(env.snap(["dump", &text_id, t.join("log.txt").to_str().unwrap()]).ok().raw_stdout == text);
}

/// Chat-like rows: words from a vocabulary of a few thousand, so any one 8 KiB chunk repeats
/// little of itself while the whole dump repeats a lot, as a real table does.
pub(crate) fn chat_rows(rows: std::ops::Range<u64>, edit_every: u64) -> Vec<u8> {
    let vocab: Vec<String> =
        (0..3000u64).map(|w| pseudo_random(5 + (w % 8) as usize, 1_000 + w).iter().map(|b| char::from(b'a' + b % 26)).collect()).collect();
    let mut out = Vec::new();
    for i in rows {
        let r = pseudo_random(16, i);
        let pick = |k: usize| &vocab[(usize::from(r[k]) << 4 | usize::from(r[k + 1])) % vocab.len()];
        let words: Vec<&str> = (0..2 + usize::from(r[15] % 6)).map(|k| pick(k * 2).as_str()).collect();
        let edited = if edit_every > 0 && i % edit_every == 0 { " (edited)" } else { "" };
        out.extend_from_slice(format!("{i}\t{}\t@user{}:example.org\t{}{edited}\t2026-03-{:02} 10:{:02}:00+00\n", r[0] % 200, r[1], words.join(" "), 1 + r[2] % 28, r[3] % 60).as_bytes());
    }
    out
}

/// zstd-3 on each 8 KiB piece alone, plus sealing overhead: what a dump costs without a
/// dictionary.
fn plain_zstd_cost(data: &[u8]) -> u64 {
    data.chunks(8192).map(|c| zstd::bulk::compress(c, 3).map_or(c.len(), |z| z.len().min(c.len())) as u64 + 40).sum()
}

fn dump_streams_use_a_trained_dictionary_and_reuse_it(store: Store) {
    let env = Env::with_repo_on(store);
    let day1 = chat_rows(0..60_000, 0);
    assert!(day1.len() > 3 * MIB as usize);
    let first = stream_backup(&env, "chat.sql", &day1);
    let stored = num(&first, "bytes_stored");
    let plain = plain_zstd_cost(&day1);
    // The stored figure includes the dictionary itself (at most 112 KiB).
    assert!(stored * 100 < plain * 85, "with a dictionary {stored} bytes, plain zstd per chunk {plain}");

    let index_files_after_day_one = env.raw().list("index/").len();
    assert_eq!(index_files_after_day_one, 2, "the dictionary's index file and the backup's");

    // The next day, with the cache gone: scattered edits and appended rows reuse the stored
    // dictionary (no new one is trained: that alone would add ~100 KiB).
    fs::remove_dir_all(env.cache()).unwrap();
    let mut day2 = chat_rows(0..60_000, 997);
    day2.extend(chat_rows(60_000..61_000, 0));
    let second = stream_backup(&env, "chat.sql", &day2);
    let index_files_after_day_two = env.raw().list("index/").len();
    let added = num(&second, "bytes_added");
    let new_rows = day2.len() - day1.len();
    assert!(added < 2 * new_rows as u64 + day2.len() as u64 / 4, "day two added {added} bytes");
    // A new dictionary would come with an index file of its own (spec 7.1); only the
    // backup's own index file was added.
    assert_eq!(index_files_after_day_two - index_files_after_day_one, 1, "day two trained a new dictionary");

    assert!(env.snap(["dump", &id(&first), "/chat.sql"]).ok().raw_stdout == day1);
    assert!(env.snap(["dump", &id(&second), "/chat.sql"]).ok().raw_stdout == day2);
    env.snap(["check", "--read-data"]).ok();
}

fn edited_dump_is_stored_as_deltas_whose_bases_survive_prune(store: Store) {
    let env = Env::with_repo_on(store);
    let day1 = chat_rows(0..40_000, 0);
    let first = stream_backup(&env, "chat.sql", &day1);
    // Every 97th row edited: nearly every 8 KiB chunk changes, by one or two rows.
    let day2 = chat_rows(0..40_000, 97);
    let second = stream_backup(&env, "chat.sql", &day2);
    let (added, stored) = (num(&second, "bytes_added"), num(&second, "bytes_stored"));
    assert!(added > day2.len() as u64 / 2, "most chunks changed: {added} of {} bytes new", day2.len());
    assert!(stored < day2.len() as u64 / 25, "day two stored {stored} bytes for {added} new: deltas were not used");

    // Day one goes; its chunks are the bases day two's deltas need, so prune keeps them.
    env.snap(["forget", &id(&first)]).ok();
    let before = env.data_bytes();
    let pruned = env.snap(["prune", "--max-unused", "0%", "--json"]).ok().json();
    // Day one's tree and chunk lists go, and the few chunks no delta was made from; its other
    // chunks are bases and stay (without that rule prune frees most of day one's data).
    assert!(num(&pruned, "bytes_freed") * 10 < before, "prune freed the bases of kept deltas: {pruned}");
    env.snap(["check", "--read-data"]).ok();
    assert!(env.snap(["dump", &id(&second), "/chat.sql"]).ok().raw_stdout == day2);
    // From a cold cache, through a restore as well.
    fs::remove_dir_all(env.cache()).unwrap();
    let out = env.restore(&id(&second), "r");
    assert!(fs::read(out.join("chat.sql")).unwrap() == day2);
}

fn check_names_the_snapshot_that_loses_a_delta_base(store: Store) {
    let env = Env::with_repo_on(store);
    let first = stream_backup(&env, "chat.sql", &chat_rows(0..40_000, 0));
    let packs = |env: &Env| -> std::collections::BTreeSet<String> { env.raw().list("data/").into_iter().map(|(p, _)| p).collect() };
    let day_one = packs(&env);
    let second = stream_backup(&env, "chat.sql", &chat_rows(0..40_000, 97));
    assert!(num(&second, "bytes_stored") < 200_000, "day two is deltas: {second}");
    env.snap(["check"]).ok();
    // Lose day one's packs: its chunks are day two's bases.
    let raw = env.raw();
    for p in &day_one {
        raw.delete(p);
    }
    let run = env.snap(["check"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let second_short = &id(&second)[..8];
    let out = format!("{}{}", run.stdout, run.stderr);
    assert!(out.contains("is stored as a delta of damaged blob"), "{out}");
    assert!(out.contains(&format!("damages snapshot {second_short} /chat.sql")), "day two's snapshot is named: {out}");
    assert!(out.contains(&id(&first)[..8]), "{out}");
}

/// Issue 7 §0.1: a pack that prune keeps as it is gets indexed whole, unused deltas included, so
/// their bases must stay too. Day one's dump lies in packs of its own; day two's deltas share a
/// data pack with a large file that a third snapshot still uses. Forgetting days one and two
/// leaves that pack partly used (kept as it is under a generous --max-unused) and day one's
/// packs unused: prune must not
/// delete the bases of the unused deltas it keeps indexed, and a later backup of day two's dump,
/// which deduplicates against those deltas, must dump byte-exact.
#[test]
fn prune_keeps_the_bases_of_unused_deltas_in_packs_it_keeps() {
    let env = Env::with_repo();
    let src = env.path().join("src");
    let big = src.join("upload.bin");
    let day1 = chat_rows(0..40_000, 0);
    let day2 = chat_rows(0..40_000, 97);
    let both = |data: &[u8]| env.snap_stdin(["backup", "--json", src.to_str().unwrap(), "--stdin", "--stdin-filename", "chat.sql"], data).ok().json();
    // Day one: the dump and a note (the same paths each day, so day two's dump has a parent).
    write(&src.join("note.txt"), b"day one");
    let first = both(&day1);
    fs::remove_file(src.join("note.txt")).unwrap();
    write(&big, &pseudo_random(6 * MIB as usize, 5));
    let second = both(&day2);
    assert!(num(&second, "bytes_stored") < 6 * MIB + 200_000, "day two's dump went in as deltas: {second}");
    // The directory alone: it reuses the chunks stored with day two's deltas.
    let third = backup_json(&env, [src.to_str().unwrap()]);
    assert!(num(&third, "bytes_added") < MIB, "{third}");
    env.snap(["forget", &id(&first), &id(&second)]).ok();
    // A generous limit, so the shared pack is kept as it is rather than repacked.
    let pruned = env.snap(["prune", "--max-unused", "50%", "--json"]).ok().json();
    assert!(num(&pruned, "packs_deleted") > 0, "day one's packs were unused: {pruned}");
    assert_eq!(num(&pruned, "packs_repacked"), 0, "{pruned}");
    env.snap(["check", "--read-data"]).ok();
    // A backup of day two's dump again deduplicates against the kept deltas.
    let again = stream_backup(&env, "again.sql", &day2);
    assert!(env.snap(["dump", &id(&again), "/again.sql"]).ok().raw_stdout == day2);
    fs::remove_dir_all(env.cache()).unwrap();
    assert!(env.snap(["dump", &id(&again), "/again.sql"]).ok().raw_stdout == day2);
    env.snap(["check", "--read-data"]).ok();
}

//! Picks the zstd dictionary a stream's chunks are compressed with. Database dumps are cut into
//! small chunks so that scattered row edits cost little, but zstd on an 8 KiB chunk alone finds
//! far less to reuse than on a whole dump; a dictionary trained on the dump's own records gives
//! most of that back. The first backup of a stream trains one from its first new chunks and
//! stores it in the repository; later backups reuse the stored dictionary that compresses their
//! chunks best, and train a new one only when none of the stored ones helps.

use std::sync::Arc;

use crate::error::Result;
use crate::format::pack::BlobKind;
use crate::repo::blob::{compressed_len, train_dict, Dict};
use crate::repo::saver::BlobSaver;
use crate::repo::Repository;

/// New chunk bytes gathered before choosing (the chunks wait in memory meanwhile). zstd's
/// trainer takes about 0.1 s on this much dump text, and more samples gave no smaller dumps in
/// `tools/bench-peers`.
pub const SAMPLE_BYTES: usize = 2 << 20;
/// Below this much sample text a trained dictionary is not worth storing.
const MIN_TRAIN_BYTES: usize = 1 << 20;
/// zstd's usual dictionary size; a dictionary costs this once per repository.
const DICT_MAX_BYTES: usize = 112 * 1024;
/// Chunks compressed to score a dictionary; they are held out of training.
const SCORE_CHUNKS: usize = 128;
/// A repository stops growing new dictionaries at this many.
const MAX_DICTS: usize = 64;
/// A stored dictionary is used without training a new one when it saves this share (per mille)
/// of the bytes plain zstd leaves.
const GOOD_ENOUGH_PERMILLE: usize = 900;
/// A dictionary must beat the alternative by this much (per mille) to be used at all.
const WORTH_IT_PERMILLE: usize = 970;

/// What the stored dictionaries offer a stream.
struct Stored {
    /// The stored dictionary to use now, if any helps.
    dict: Option<Arc<Dict>>,
    /// Whether training a new one may pay (then call [`train`]).
    train: bool,
}

/// Scores the stored dictionaries on a held-out share of `samples` (a stream's first new
/// chunks): the best is used if it saves a tenth over plain zstd; otherwise training a new one
/// is worth trying when the samples are large enough.
///
/// # Errors
/// The local index cannot be read.
fn stored(repo: &Repository, samples: &[&[u8]]) -> Result<Stored> {
    if samples.is_empty() {
        return Ok(Stored { dict: None, train: false });
    }
    let level = repo.config().compression_level;
    let scored = scoring_set(samples);
    let plain = score(&scored, level, None);
    let ids = repo.dictionaries()?;
    let mut best: Option<(usize, Arc<Dict>)> = None;
    for id in &ids {
        // A dictionary that cannot be read is not used; `check` reports the damage.
        let Ok(d) = repo.dict(id) else { continue };
        let s = score(&scored, level, Some(&d));
        if best.as_ref().is_none_or(|(b, _)| s < *b) {
            best = Some((s, d));
        }
    }
    if let Some((s, d)) = &best
        && good(*s, plain, GOOD_ENOUGH_PERMILLE)
    {
        return Ok(Stored { dict: Some(Arc::clone(d)), train: false });
    }
    let total: usize = samples.iter().map(|s| s.len()).sum();
    let dict = best.filter(|(s, _)| good(*s, plain, WORTH_IT_PERMILLE)).map(|(_, d)| d);
    Ok(Stored { dict, train: total >= MIN_TRAIN_BYTES && ids.len() < MAX_DICTS })
}

/// Trains a dictionary on `samples` (less the scoring share) and stores it durably (see
/// [`BlobSaver::save_durable`]) if it beats both plain zstd and `fallback` by 3 %; returns the
/// dictionary to use from now on.
///
/// # Errors
/// Storing the new dictionary failed.
fn train(repo: &Repository, saver: &BlobSaver<'_>, samples: &[&[u8]], fallback: Option<Arc<Dict>>) -> Result<Option<Arc<Dict>>> {
    let level = repo.config().compression_level;
    let step = step(samples);
    let scored = scoring_set(samples);
    let training: Vec<&[u8]> = samples.iter().enumerate().filter(|(i, _)| i % step != 0).map(|(_, s)| *s).collect();
    let Some(bytes) = train_dict(&training, DICT_MAX_BYTES) else { return Ok(fallback) };
    let fresh = Dict { id: repo.blob_id(&bytes), bytes };
    let to_beat = fallback.as_deref().map_or_else(|| score(&scored, level, None), |d| score(&scored, level, Some(d)));
    if !good(score(&scored, level, Some(&fresh)), to_beat, WORTH_IT_PERMILLE) {
        return Ok(fallback);
    }
    let id = saver.save_durable(BlobKind::Dict, &fresh.bytes)?;
    debug_assert_eq!(id, fresh.id);
    Ok(Some(Arc::new(fresh)))
}

/// [`stored`], then [`train`] if that may pay: the whole choice, done at once.
///
/// # Errors
/// As [`stored`] and [`train`].
pub fn choose(repo: &Repository, saver: &BlobSaver<'_>, samples: &[&[u8]]) -> Result<Option<Arc<Dict>>> {
    let s = stored(repo, samples)?;
    if s.train { train(repo, saver, samples, s.dict) } else { Ok(s.dict) }
}

/// Every `step`-th sample is held out of training to score dictionaries.
fn step(samples: &[&[u8]]) -> usize {
    samples.len().div_ceil(SCORE_CHUNKS).max(2)
}

fn scoring_set<'a>(samples: &[&'a [u8]]) -> Vec<&'a [u8]> {
    samples.iter().step_by(step(samples)).copied().collect()
}

fn score(scored: &[&[u8]], level: i32, d: Option<&Dict>) -> usize {
    scored.iter().map(|s| compressed_len(s, level, d)).sum()
}

/// Whether `size` is at most `permille`/1000 of `than`.
fn good(size: usize, than: usize, permille: usize) -> bool {
    size.saturating_mul(1000) <= than.saturating_mul(permille)
}

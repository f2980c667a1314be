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

/// New chunk bytes gathered before choosing (the chunks wait in memory meanwhile).
pub const SAMPLE_BYTES: usize = 8 << 20;
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

/// The dictionary for a stream whose first new chunks are `samples`, storing a newly trained one
/// durably (see [`BlobSaver::save_durable`]) before returning it. `None`: compress plainly.
///
/// # Errors
/// Storing a new dictionary failed, or the local index cannot be read.
pub fn choose(repo: &Repository, saver: &BlobSaver<'_>, samples: &[&[u8]]) -> Result<Option<Arc<Dict>>> {
    if samples.is_empty() {
        return Ok(None);
    }
    let level = repo.config.compression_level;
    let step = samples.len().div_ceil(SCORE_CHUNKS).max(2);
    let scored: Vec<&[u8]> = samples.iter().step_by(step).copied().collect();
    let score = |d: Option<&Dict>| -> usize { scored.iter().map(|s| compressed_len(s, level, d)).sum() };
    let plain = score(None);

    let stored = repo.dictionaries()?;
    let mut best: Option<(usize, Arc<Dict>)> = None;
    for id in &stored {
        // A dictionary that cannot be read is not used; `check` reports the damage.
        let Ok(d) = repo.dict(id) else { continue };
        let s = score(Some(&d));
        if best.as_ref().is_none_or(|(b, _)| s < *b) {
            best = Some((s, d));
        }
    }
    let good = |size: usize, than: usize, permille: usize| size.saturating_mul(1000) <= than.saturating_mul(permille);
    if let Some((s, d)) = &best
        && good(*s, plain, GOOD_ENOUGH_PERMILLE)
    {
        return Ok(Some(Arc::clone(d)));
    }
    let fallback = best.filter(|(s, _)| good(*s, plain, WORTH_IT_PERMILLE));
    let total: usize = samples.iter().map(|s| s.len()).sum();
    if total < MIN_TRAIN_BYTES || stored.len() >= MAX_DICTS {
        return Ok(fallback.map(|(_, d)| d));
    }
    let training: Vec<&[u8]> = samples.iter().enumerate().filter(|(i, _)| i % step != 0).map(|(_, s)| *s).collect();
    let Some(bytes) = train_dict(&training, DICT_MAX_BYTES) else {
        return Ok(fallback.map(|(_, d)| d));
    };
    let fresh = Dict { id: repo.keys.blob_id(&bytes), bytes };
    let fresh_score = score(Some(&fresh));
    let to_beat = fallback.as_ref().map_or(plain, |(s, _)| *s);
    if !good(fresh_score, to_beat, WORTH_IT_PERMILLE) {
        return Ok(fallback.map(|(_, d)| d));
    }
    let id = saver.save_durable(BlobKind::Dict, &fresh.bytes)?;
    debug_assert_eq!(id, fresh.id);
    Ok(Some(Arc::new(fresh)))
}

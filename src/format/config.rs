//! The repository `config` file: a cleartext magic and version (so a reader can refuse a foreign
//! or newer repository before asking for a password), then the sealed JSON settings.

use serde::{Deserialize, Serialize};

use super::codec::DecodeError;

/// First bytes of `config`.
pub const CONFIG_MAGIC: &[u8; 8] = b"SNAPREPO";
/// The on-disk format version this code reads and writes.
pub const REPO_VERSION: u32 = 2;

/// FastCDC sizes for one kind of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
}

impl ChunkerParams {
    /// Regular files in data and config directories.
    pub const FILES: Self = Self { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 };
    /// Streams (database dumps): small chunks, because scattered row edits touch most large chunks.
    pub const STREAMS: Self = Self { min: 2 * 1024, avg: 8 * 1024, max: 64 * 1024 };

    /// Sizes around an average: a quarter of it as the minimum, eight times as the maximum, each
    /// rounded down to an even number.
    #[must_use]
    pub fn around(avg: u32) -> Self {
        let even = |n: u32| n & !1;
        Self { min: even(avg / 4), avg: even(avg), max: even(avg.saturating_mul(8)) }
    }

    /// Whether fastcdc accepts these sizes.
    #[must_use]
    pub fn valid(&self) -> bool {
        use fastcdc::v2020::{AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN};
        let (min, avg, max) = (self.min as usize, self.avg as usize, self.max as usize);
        (MINIMUM_MIN..=MINIMUM_MAX).contains(&min)
            && (AVERAGE_MIN..=AVERAGE_MAX).contains(&avg)
            && (MAXIMUM_MIN..=MAXIMUM_MAX).contains(&max)
            && min <= avg
            && avg <= max
            && min % 2 == 0
            && avg % 2 == 0
            && max % 2 == 0
    }
}

/// Settings fixed at `init`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoConfig {
    pub version: u32,
    /// Random 32 bytes, hex; names the local cache directory.
    pub id: String,
    pub chunker_files: ChunkerParams,
    pub chunker_streams: ChunkerParams,
    /// A pack is closed once its blobs reach this many bytes.
    pub pack_size: u32,
    /// zstd level for blobs.
    pub compression_level: i32,
}

/// The largest pack size a config may set (format-spec §12), so that a pack (this, plus its
/// last blob and header) stays well below the 512 MiB a reader accepts.
pub const MAX_PACK_SIZE: u32 = 256 << 20;

impl RepoConfig {
    /// Parses the sealed settings of a `config` whose cleartext frame says `frame_version`, and
    /// checks them ([`RepoConfig::check`]).
    ///
    /// # Errors
    /// `Invalid` for JSON that is not settings, a settings version that differs from the
    /// cleartext one, or settings out of range.
    pub fn decode(plain: &[u8], frame_version: u32) -> Result<Self, DecodeError> {
        let config: Self = serde_json::from_slice(plain).map_err(|e| DecodeError::Invalid(format!("settings: {e}")))?;
        if config.version != frame_version {
            return Err(DecodeError::Invalid(format!("its sealed settings say version {} but its cleartext header says version {frame_version}", config.version)));
        }
        config.check()?;
        Ok(config)
    }

    /// Checks the settings a reader must refuse otherwise: chunker sizes fastcdc accepts, and a
    /// pack size of at most [`MAX_PACK_SIZE`].
    ///
    /// # Errors
    /// `Invalid` naming what is out of range.
    pub fn check(&self) -> Result<(), DecodeError> {
        if !self.chunker_files.valid() || !self.chunker_streams.valid() {
            return Err(DecodeError::Invalid("chunker sizes out of range".into()));
        }
        if self.pack_size > MAX_PACK_SIZE {
            return Err(DecodeError::Invalid(format!("pack size {} is more than {MAX_PACK_SIZE}", self.pack_size)));
        }
        Ok(())
    }

    #[must_use]
    pub fn new(id: String) -> Self {
        Self {
            version: REPO_VERSION,
            id,
            chunker_files: ChunkerParams::FILES,
            chunker_streams: ChunkerParams::STREAMS,
            pack_size: 16 * 1024 * 1024,
            compression_level: 3,
        }
    }
}

/// Splits a `config` file into its version and the sealed JSON that follows.
///
/// # Errors
/// `Invalid` if the magic is wrong (not a snap repository); `UnknownVersion` if newer.
pub fn split_config(stored: &[u8]) -> Result<(u32, &[u8]), DecodeError> {
    if stored.len() < 12 || &stored[..8] != CONFIG_MAGIC {
        return Err(DecodeError::Invalid("not a snap repository config".into()));
    }
    let version = u32::from_le_bytes([stored[8], stored[9], stored[10], stored[11]]);
    if version != REPO_VERSION {
        return Err(DecodeError::UnknownVersion { what: "repository", found: version.into(), supported: REPO_VERSION.into() });
    }
    Ok((version, &stored[12..]))
}

/// Prefixes sealed JSON with the magic and version.
#[must_use]
pub fn join_config(sealed: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + sealed.len());
    v.extend_from_slice(CONFIG_MAGIC);
    v.extend_from_slice(&REPO_VERSION.to_le_bytes());
    v.extend_from_slice(sealed);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn config_frame_round_trip(body in proptest::collection::vec(any::<u8>(), 0..100)) {
            let joined = join_config(&body);
            let (v, rest) = split_config(&joined).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(v, REPO_VERSION);
            prop_assert_eq!(rest, &body[..]);
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert!(ChunkerParams::FILES.valid());
        assert!(ChunkerParams::STREAMS.valid());
    }

    #[test]
    fn settings_must_repeat_the_cleartext_version() {
        let mut c = RepoConfig::new("ab".repeat(32));
        let json = serde_json::to_vec(&c).unwrap_or_default();
        assert_eq!(RepoConfig::decode(&json, REPO_VERSION).ok(), Some(c.clone()));
        c.version = 3;
        let json = serde_json::to_vec(&c).unwrap_or_default();
        let err = RepoConfig::decode(&json, REPO_VERSION).map(|_| ()).unwrap_err();
        assert_eq!(err.to_string(), "its sealed settings say version 3 but its cleartext header says version 2");
        c.version = REPO_VERSION;
        c.pack_size = MAX_PACK_SIZE + 1;
        assert!(RepoConfig::decode(&serde_json::to_vec(&c).unwrap_or_default(), REPO_VERSION).is_err());
        c.pack_size = MAX_PACK_SIZE;
        c.chunker_files.min = 1;
        assert!(RepoConfig::decode(&serde_json::to_vec(&c).unwrap_or_default(), REPO_VERSION).is_err());
    }

    #[test]
    fn newer_version_refused() {
        let mut j = join_config(b"x");
        j[8] = 3;
        assert!(matches!(split_config(&j), Err(DecodeError::UnknownVersion { found: 3, .. })));
        j[8] = 1;
        assert!(matches!(split_config(&j), Err(DecodeError::UnknownVersion { found: 1, supported: 2, .. })));
        assert!(matches!(split_config(b"hello world, not snap"), Err(DecodeError::Invalid(_))));
    }
}

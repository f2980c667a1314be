//! 32-byte identifiers of everything in a repository, with one newtype per kind so a blob id can
//! never be passed where a pack id is meant.

use std::fmt;
use std::str::FromStr;

/// Length in bytes of every identifier.
pub const ID_LEN: usize = 32;

/// Raised when a string is not a 64-digit lowercase or uppercase hex id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a 64-digit hex id")]
pub struct ParseIdError(pub String);

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; ID_LEN]);

        impl $name {
            /// The id as lowercase hex (64 digits).
            #[must_use]
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first 8 hex digits, for display.
            #[must_use]
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }

            /// The raw bytes.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8; ID_LEN] {
                &self.0
            }

            /// Builds an id from exactly 32 bytes.
            #[must_use]
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                <[u8; ID_LEN]>::try_from(b).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; ID_LEN];
                hex::decode_to_slice(s, &mut out).map_err(|_| ParseIdError(s.to_string()))?;
                Ok(Self(out))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

define_id!(
    /// Keyed BLAKE3 of a blob's plaintext.
    BlobId
);
define_id!(
    /// BLAKE3 of a pack file's stored bytes; also its file name.
    PackId
);
define_id!(
    /// BLAKE3 of an index file's stored bytes; also its file name.
    IndexId
);
define_id!(
    /// BLAKE3 of a snapshot file's stored bytes; also its file name.
    SnapshotId
);
define_id!(
    /// BLAKE3 of a key file's stored bytes; also its file name.
    KeyId
);

/// The id of stored bytes: plain BLAKE3 over exactly what lies in storage.
#[must_use]
pub fn storage_hash(bytes: &[u8]) -> [u8; ID_LEN] {
    *blake3::hash(bytes).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hex_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
            let id = BlobId(bytes);
            let parsed: BlobId = id.to_hex().parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(parsed, id);
            let json = serde_json::to_string(&id).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let back: BlobId = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(back, id);
        }
    }

    #[test]
    fn rejects_bad_hex() {
        assert!("abc".parse::<PackId>().is_err());
        assert!("zz".repeat(32).parse::<PackId>().is_err());
    }
}

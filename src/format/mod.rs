//! Pure encode/decode of every on-disk object. No I/O and no keys here: sealing is `crypto`'s job.

pub mod codec;
pub mod config;
pub mod drill;
pub mod frame;
pub mod id;
pub mod lock;
pub mod pack;
pub mod snapshot;
pub mod tree;

pub use codec::DecodeError;
pub use id::{BlobId, IndexId, KeyId, PackId, SnapshotId, ID_LEN};

//! snap: a content-addressed, deduplicating, encrypted snapshot store.
//!
//! Layers point one way: `cli` (binary only) → [`job`] (config file, schedules) → [`ops`] → [`repo`] →
//! {[`index`], [`backend`], [`format`], [`crypto`], [`chunker`]}.
//!
//! Without the `engine` feature (on by default) only the pure layers build: `format`, `crypto`
//! and `chunker`, which do no I/O and need no RocksDB. tools/fuzz links the crate that way.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(feature = "engine")]
pub mod backend;
pub mod chunker;
pub mod crypto;
#[cfg(feature = "engine")]
pub mod error;
pub mod format;
#[cfg(feature = "engine")]
pub mod index;
#[cfg(feature = "engine")]
pub mod job;
#[cfg(feature = "engine")]
pub mod ops;
#[cfg(feature = "engine")]
pub mod repo;
pub mod units;

#[cfg(feature = "engine")]
pub use error::{Error, Result};

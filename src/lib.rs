//! snap: a content-addressed, deduplicating, encrypted snapshot store.
//!
//! Layers point one way: `cli` (binary only) → [`job`] (config file, schedules) → [`ops`] → [`repo`] →
//! {[`index`], [`backend`], [`format`], [`crypto`], [`chunker`]}.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backend;
pub mod chunker;
pub mod crypto;
pub mod error;
pub mod format;
pub mod index;
pub mod job;
pub mod ops;
pub mod repo;

pub use error::{Error, Result};

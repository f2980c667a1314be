//! The integration test suite: one binary, split by topic.

mod format_vectors;

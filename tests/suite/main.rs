//! The integration test suite: one binary, split by topic. Each test drives the real `snap`
//! binary against repositories in temporary directories.

mod util;
mod servers;
mod stores;

mod format_vectors;
mod bad_input;
mod postgres;
mod roundtrip;
mod dedup;
mod forget;
mod integrity;
mod trust;
mod decoders;
mod hostile_fs;
mod jobconfig;
mod jobs;
mod mariadb;
mod copy;
mod daemon;
mod drills;
mod remote;
mod keys;
mod tags;
mod inspect;
mod restore_modes;
mod output;
mod mount;

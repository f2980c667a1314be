//! The verbs: each takes an open repository and options, does the work, and returns a typed
//! result for the CLI to print.

pub mod adopt;
pub mod backup;
pub mod check;
pub mod copy;
pub mod dictionary;
pub mod diff;
pub mod dump;
pub mod find;
pub mod forget;
pub mod fsat;
pub mod key;
pub mod ls;
pub mod mount;
pub mod node;
pub mod prune;
pub mod repair;
pub mod restore;
pub mod select;
pub mod stats;
pub mod tag;
pub mod walk;

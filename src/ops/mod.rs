//! The verbs: each takes an open repository and options, does the work, and returns a typed
//! result for the CLI to print.

pub mod backup;
pub mod dump;
pub mod ls;
pub mod node;
pub mod restore;
pub mod select;

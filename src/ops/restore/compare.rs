//! Whether a file in the target holds exactly a snapshot file's content, without fetching
//! anything: the file is read front to back in the snapshot's own chunk lengths and each piece's
//! keyed BLAKE3 id is compared with the chunk id the snapshot records (no re-chunking, no
//! repository reads). The first piece that differs ends the read. Used to leave an unchanged
//! file alone (`--overwrite if-changed`) and to check what was just written (`--verify`).

use std::io::{self, Read};

use crate::format::BlobId;
use crate::index::BlobLocation;
use crate::repo::Repository;

/// Where a file's content first differs from the snapshot's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Differs {
    /// The chunk starting at this byte offset has another id (or the file ends inside it).
    At(u64),
    /// All chunks match, but the file goes on after them.
    Longer(u64),
}

/// Compares the content of `file` (read from its current position) with `chunks`.
///
/// # Errors
/// Reading failed.
pub(super) fn compare(repo: &Repository, file: &mut impl Read, chunks: &[(BlobId, BlobLocation)]) -> io::Result<Option<Differs>> {
    let mut buf = Vec::new();
    let mut off = 0u64;
    for (id, loc) in chunks {
        let len = loc.raw_length as usize;
        buf.resize(len, 0);
        match file.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Some(Differs::At(off))),
            Err(e) => return Err(e),
        }
        if repo.blob_id(&buf) != *id {
            return Ok(Some(Differs::At(off)));
        }
        off += u64::from(loc.raw_length);
    }
    let mut one = [0u8; 1];
    loop {
        match file.read(&mut one) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(Differs::Longer(off))),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

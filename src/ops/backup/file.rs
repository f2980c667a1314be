//! Reading one regular file of a backup, re-reading it once if it changed meanwhile.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;

use super::pipeline::chunk_reader;
use super::{Ctx, StoreJob};
use crate::format::tree::Node;

/// Reads a regular file; re-reads once if it changed while being read.
pub(super) fn read_file(ctx: &Ctx<'_>, path: &Path, mut node: Node, store: &Sender<StoreJob>) -> Option<Node> {
    for attempt in 0..2 {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                ctx.error(path, e);
                return None;
            }
        };
        let (ids, n) = match chunk_reader(ctx, &ctx.file_chunker, &file, store, None, Some(node.size)) {
            Ok(r) => r,
            Err(e) => {
                if !ctx.stopped() {
                    ctx.error(path, e);
                }
                return None;
            }
        };
        let after = file.metadata().ok();
        let changed = after.as_ref().is_some_and(|m| {
            m.size() != n || m.mtime() != node.mtime.secs || m.mtime_nsec() != i64::from(node.mtime.nanos) || m.ctime() != node.ctime.secs || m.ctime_nsec() != i64::from(node.ctime.nanos)
        });
        if let Some(m) = &after {
            node.size = n;
            node.mtime.secs = m.mtime();
            node.mtime.nanos = u32::try_from(m.mtime_nsec()).unwrap_or(0);
            node.ctime.secs = m.ctime();
            node.ctime.nanos = u32::try_from(m.ctime_nsec()).unwrap_or(0);
        }
        if changed && attempt == 0 {
            continue;
        }
        if changed {
            ctx.warnings.lock().push(format!("{}: changed while being read; stored as last read", path.display()));
        }
        ctx.counts.bytes_total.fetch_add(n, Ordering::Relaxed);
        return match ctx.content_for(ids) {
            Ok(c) => {
                node.content = c;
                Some(node)
            }
            Err(e) => {
                ctx.fail(e);
                None
            }
        };
    }
    None
}

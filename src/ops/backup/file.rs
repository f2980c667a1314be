//! Reading one regular file of a backup: opened through its directory without following a link,
//! checked to be the very file that was listed, and re-read once if it changed meanwhile.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;

use super::pipeline::chunk_reader;
use super::{Ctx, StoreJob};
use crate::format::tree::Node;
use crate::ops::fsat::{open_file_at, replaced, stat_fd, DirRef, Ident};

/// Reads the regular file `name` of `dir`, listed as `ident`; re-reads once if it changed while
/// being read. A file replaced since it was listed (by a link, a FIFO, another file) is not
/// read: it is reported and left out.
pub(super) fn read_file(ctx: &Ctx<'_>, dir: &DirRef, name: &OsStr, path: &Path, ident: Ident, mut node: Node, store: &Sender<StoreJob>) -> Option<Node> {
    for attempt in 0..2 {
        let opened = dir.with(|d| open_file_at(d, name)).and_then(|f| {
            let md = stat_fd(&f)?;
            if md.is_file() && md.ident == ident { Ok((f, md)) } else { Err(replaced()) }
        });
        let (file, before) = match opened {
            Ok(f) => f,
            Err(e) => {
                ctx.error(path, e);
                return None;
            }
        };
        let (ids, n) = match chunk_reader(ctx, &ctx.file_chunker, &file, store, None, Some(before.size)) {
            Ok(r) => r,
            Err(e) => {
                if !ctx.stopped() {
                    ctx.error(path, e);
                }
                return None;
            }
        };
        // Changed means its metadata moved while it was read. Files of /proc and /sys report
        // size 0 whatever they hold, so the bytes read are compared to nothing.
        let after = stat_fd(&file).ok();
        let changed = after.as_ref().is_some_and(|m| m.size != before.size || m.mtime != before.mtime || m.ctime != before.ctime)
            || (before.size != 0 && n != before.size);
        if let Some(m) = &after {
            node.size = n;
            node.mtime.secs = m.mtime.0;
            node.mtime.nanos = m.mtime.1;
            node.ctime.secs = m.ctime.0;
            node.ctime.nanos = m.ctime.1;
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

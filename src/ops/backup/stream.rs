//! Reading a stream (standard input or a command's output) into one file of the snapshot; any
//! failure aborts the whole backup.

use std::ffi::OsString;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;

use super::delta::PreviousVersion;
use super::pipeline::chunk_reader;
use super::{Ctx, StoreJob, StreamSource, StreamSpec};
use crate::error::{Error, Result};
use crate::format::tree::Node;
use crate::format::BlobId;

/// Reads stdin or a command's output; any failure aborts the whole backup.
pub(super) fn read_stream(ctx: &Ctx<'_>, spec: &StreamSpec, previous: &PreviousVersion, mut node: Node, store: &Sender<StoreJob>) -> Option<Node> {
    let result = match &spec.source {
        StreamSource::Stdin => chunk_reader(ctx, &ctx.stream_chunker, std::io::stdin().lock(), store, Some(previous), None)
            .map_err(|e| Error::CommandFailed(format!("reading standard input for /{}: {e}", spec.name))),
        StreamSource::Command(argv) => run_command(ctx, argv, previous, store),
    };
    match result {
        Ok((ids, n)) => {
            node.size = n;
            if n == 0 {
                // Often a dump that wrote nothing: worth a look, though it is not an error.
                ctx.warnings.lock().push(format!("/{}: the stream was empty (0 bytes)", spec.name));
            }
            ctx.counts.bytes_total.fetch_add(n, Ordering::Relaxed);
            match ctx.content_for(ids) {
                Ok(c) => {
                    node.content = c;
                    Some(node)
                }
                Err(e) => {
                    ctx.fail(e);
                    None
                }
            }
        }
        Err(e) => {
            if !ctx.cancel.load(Ordering::Relaxed) {
                ctx.fail(e);
            }
            None
        }
    }
}

fn run_command(ctx: &Ctx<'_>, argv: &[OsString], previous: &PreviousVersion, store: &Sender<StoreJob>) -> Result<(Vec<BlobId>, u64)> {
    let shown = argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    let (prog, args) = argv.split_first().ok_or_else(|| Error::Usage("--stdin-from-command needs a command after --".into()))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::CommandFailed(format!("cannot run `{shown}`: {e}")))?;
    let out = child.stdout.take().ok_or_else(|| Error::CommandFailed(format!("`{shown}`: no stdout")))?;
    let read = chunk_reader(ctx, &ctx.stream_chunker, out, store, Some(previous), None);
    if read.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| Error::CommandFailed(format!("`{shown}`: {e}")))?;
    let (ids, n) = read.map_err(|e| Error::CommandFailed(format!("reading output of `{shown}`: {e}")))?;
    if !status.success() {
        let how = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "failed".to_string(),
        };
        return Err(Error::CommandFailed(format!("`{shown}` {how}; no snapshot was written")));
    }
    Ok((ids, n))
}

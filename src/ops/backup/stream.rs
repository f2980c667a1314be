//! Reading a stream (standard input or a command's output) into one file of the snapshot; any
//! failure aborts the whole backup.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use crossbeam_channel::Sender;

use super::delta::PreviousVersion;
use super::pipeline::chunk_reader;
use super::{Ctx, Secret, StoreJob, StreamSource, StreamSpec, TAIL_LEN};
use crate::error::{Error, Result};
use crate::format::tree::Node;
use crate::format::BlobId;

/// How many of a command's last standard-error lines an error quotes.
const STDERR_TAIL: usize = 5;
/// How many standard-error lines of a command that succeeded become warnings.
const STDERR_WARNINGS: usize = 20;

/// Reads stdin or a command's output; any failure aborts the whole backup.
pub(super) fn read_stream(ctx: &Ctx<'_>, spec: &StreamSpec, previous: &PreviousVersion, mut node: Node, store: &Sender<StoreJob>) -> Option<Node> {
    let shown = spec.shown();
    let result = match &spec.source {
        StreamSource::Stdin => {
            let mut reader = Tail::new(std::io::stdin().lock());
            chunk_reader(ctx, &ctx.stream_chunker, &mut reader, store, Some(previous), None)
                .map(|(ids, n)| (ids, n, reader.tail))
                .map_err(|e| Error::CommandFailed(format!("reading standard input for {shown}: {e}")))
        }
        StreamSource::Command { argv, env, unset } => run_command(ctx, &shown, argv, env, unset, previous, store),
    };
    let result = result.and_then(|(ids, n, tail)| {
        if n == 0 && spec.require_output {
            return Err(Error::CommandFailed(format!("{shown}: the dump printed nothing; no snapshot was written")));
        }
        if let Some(marker) = &spec.complete_marker
            && n > 0
            && !String::from_utf8_lossy(&tail).contains(marker.as_str())
        {
            return Err(Error::CommandFailed(format!("{shown}: the dump does not end as a complete one does (no {marker:?} at its end); no snapshot was written")));
        }
        Ok((ids, n))
    });
    match result {
        Ok((ids, n)) => {
            node.size = n;
            if n == 0 {
                // Often a dump that wrote nothing: worth a look, though it is not an error.
                ctx.warnings.lock().push(format!("{shown}: the stream was empty (0 bytes)"));
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

fn run_command(ctx: &Ctx<'_>, shown: &str, argv: &[OsString], env: &[(OsString, Secret)], unset: &[OsString], previous: &PreviousVersion, store: &Sender<StoreJob>) -> Result<(Vec<BlobId>, u64, Vec<u8>)> {
    let line = argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    let (prog, args) = argv.split_first().ok_or_else(|| Error::Usage(format!("{shown}: no command given")))?;
    let mut cmd = Command::new(prog);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for k in unset {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, OsStr::from_bytes(&v.0));
    }
    let mut child = cmd.spawn().map_err(|e| Error::CommandFailed(format!("{shown}: cannot run `{line}`: {e}")))?;
    let out = child.stdout.take().ok_or_else(|| Error::CommandFailed(format!("{shown}: `{line}`: no stdout")))?;
    // Standard error is collected on its own thread (a chatty tool must never block on a full
    // pipe): its last lines explain a failure, and on success every line becomes a warning.
    let err_lines = child.stderr.take().map(|e| std::thread::spawn(move || collect_lines(e)));
    let mut reader = Tail::new(out);
    let read = chunk_reader(ctx, &ctx.stream_chunker, &mut reader, store, Some(previous), None);
    if read.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| Error::CommandFailed(format!("{shown}: `{line}`: {e}")))?;
    let lines = err_lines.and_then(|h| h.join().ok()).unwrap_or_default();
    let tail = || {
        let from = lines.len().saturating_sub(STDERR_TAIL);
        let t = lines[from..].join(" | ");
        if t.is_empty() { String::new() } else { format!(": {t}") }
    };
    if !status.success() {
        let how = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "failed".to_string(),
        };
        return Err(Error::CommandFailed(format!("{shown}: `{line}` {how}; no snapshot was written{}", tail())));
    }
    let (ids, n) = read.map_err(|e| Error::CommandFailed(format!("{shown}: reading output of `{line}`: {e}")))?;
    let mut w = ctx.warnings.lock();
    for l in lines.iter().take(STDERR_WARNINGS) {
        w.push(format!("{shown}: {l}"));
    }
    if lines.len() > STDERR_WARNINGS {
        w.push(format!("{shown}: {} more lines on standard error", lines.len() - STDERR_WARNINGS));
    }
    Ok((ids, n, reader.tail))
}

/// A reader that remembers the last [`TAIL_LEN`] bytes it gave.
struct Tail<R> {
    inner: R,
    tail: Vec<u8>,
}

impl<R> Tail<R> {
    fn new(inner: R) -> Self {
        Self { inner, tail: Vec::with_capacity(2 * TAIL_LEN) }
    }
}

impl<R: std::io::Read> std::io::Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        self.tail.extend_from_slice(&got[got.len().saturating_sub(TAIL_LEN)..]);
        if self.tail.len() > TAIL_LEN {
            self.tail.drain(..self.tail.len() - TAIL_LEN);
        }
        Ok(n)
    }
}

/// The non-empty lines a reader yields (invalid UTF-8 replaced), at most a bounded number kept:
/// the first [`STDERR_WARNINGS`] and the last [`STDERR_TAIL`], with the count of those between.
fn collect_lines(r: impl std::io::Read) -> Vec<String> {
    use std::io::BufRead;
    let mut head = Vec::new();
    let mut tail = std::collections::VecDeque::new();
    let mut skipped = 0usize;
    for line in std::io::BufReader::new(r).split(b'\n') {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(&line).trim_end().chars().take(500).collect::<String>();
        if text.is_empty() {
            continue;
        }
        if head.len() < STDERR_WARNINGS {
            head.push(text);
            continue;
        }
        tail.push_back(text);
        if tail.len() > STDERR_TAIL {
            tail.pop_front();
            skipped += 1;
        }
    }
    if skipped > 0 {
        head.push(format!("({skipped} lines omitted)"));
    }
    head.extend(tail);
    head
}

//! Content-defined chunking: FastCDC (2020) with the repository's secret gear seed, over a large
//! reusable buffer so that cutting costs one scan and no per-chunk reallocation.

use std::borrow::Cow;
use std::io::{self, Read};

use fastcdc::v2020::{cut_gear, get_gear_with_seed, select_masks, Normalization};

use crate::format::config::ChunkerParams;

/// Cut-point finder for one parameter set and seed.
#[derive(Clone)]
pub struct Chunker {
    min: usize,
    avg: usize,
    max: usize,
    masks: (u64, u64),
    gear: Cow<'static, [u64]>,
    gear_ls: Cow<'static, [u64]>,
}

impl Chunker {
    /// Callers must pass parameters that satisfy [`ChunkerParams::valid`].
    #[must_use]
    pub fn new(p: ChunkerParams, seed: u64) -> Self {
        let (gear, gear_ls) = get_gear_with_seed(seed);
        Self {
            min: p.min as usize,
            avg: p.avg as usize,
            max: p.max as usize,
            masks: select_masks(p.avg as usize, Normalization::Level1),
            gear,
            gear_ls,
        }
    }

    /// Largest chunk this chunker produces.
    #[must_use]
    pub fn max_size(&self) -> usize {
        self.max
    }

    /// Length of the chunk that starts `data`. `data` must hold at least `max` bytes unless it is
    /// the end of the input.
    #[must_use]
    pub fn cut(&self, data: &[u8]) -> usize {
        let (ms, ml) = self.masks;
        cut_gear(data, self.min, self.avg, self.max, ms, ml, ms << 1, ml << 1, &self.gear, &self.gear_ls).1
    }

    /// Splits a whole in-memory buffer.
    #[must_use]
    pub fn split<'a>(&self, mut data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let n = self.cut(data).clamp(1, data.len());
            let (a, b) = data.split_at(n);
            out.push(a);
            data = b;
        }
        out
    }

    /// A streaming splitter over `reader`.
    pub fn stream<R: Read>(&self, reader: R) -> ChunkStream<'_, R> {
        self.stream_sized(reader, None)
    }

    /// A streaming splitter over `reader`, whose length is about `size_hint` if given: the buffer
    /// is no larger than the input needs (small files are common; a buffer per reading thread is
    /// part of a backup's memory).
    pub fn stream_sized<R: Read>(&self, reader: R, size_hint: Option<u64>) -> ChunkStream<'_, R> {
        let full = (self.max * 2).max(1 << 20);
        // One more byte than the file, so its end is seen in the first fill.
        let cap = size_hint.and_then(|n| usize::try_from(n.saturating_add(1)).ok()).map_or(full, |n| n.clamp(4096, full));
        ChunkStream { chunker: self, reader, buf: vec![0; cap], pos: 0, len: 0, eof: false, total: 0, full }
    }
}

/// Yields chunks of a reader one at a time; each slice is valid until the next call.
pub struct ChunkStream<'c, R> {
    chunker: &'c Chunker,
    reader: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    eof: bool,
    total: u64,
    /// The size the buffer may grow to when the input is longer than its hint.
    full: usize,
}

impl<R: Read> ChunkStream<'_, R> {
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        loop {
            while !self.eof && self.len < self.buf.len() {
                match self.reader.read(&mut self.buf[self.len..]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => {
                        self.len += n;
                        self.total += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            // Only when the input turns out longer than its hint (the buffer is full, the end not
            // seen, less than `max` ahead) does the buffer grow, so every cut still sees `max`
            // bytes ahead. A file that fits its hint is never given (or made to zero) more.
            if self.eof || self.buf.len() >= self.full || self.len - self.pos >= self.chunker.max {
                return Ok(());
            }
            let grown = (self.buf.len() * 2).clamp(self.chunker.max, self.full);
            self.buf.resize(grown, 0);
        }
    }

    /// The buffer's current size (tests).
    #[cfg(test)]
    fn buffer_len(&self) -> usize {
        self.buf.len()
    }

    /// The next chunk, or `None` at the end of the input.
    ///
    /// # Errors
    /// The reader failed.
    pub fn next_chunk(&mut self) -> io::Result<Option<&[u8]>> {
        if self.len - self.pos < self.chunker.max && !self.eof {
            self.fill()?;
        }
        let rest = &self.buf[self.pos..self.len];
        if rest.is_empty() {
            return Ok(None);
        }
        let n = self.chunker.cut(rest).clamp(1, rest.len());
        let start = self.pos;
        self.pos += n;
        Ok(Some(&self.buf[start..start + n]))
    }

    /// Bytes read from the reader so far.
    #[must_use]
    pub fn bytes_read(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SMALL: ChunkerParams = ChunkerParams { min: 64, avg: 256, max: 1024 };

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A reader that hands out data in awkward small pieces.
    struct Dribble<'a>(&'a [u8], usize);
    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    proptest! {
        #[test]
        fn stream_reassembles_and_matches_split(len in 0usize..20_000, seed in any::<u64>(), step in 1usize..5000) {
            let data = pseudo_random(len, seed);
            let c = Chunker::new(SMALL, seed | 1);
            let whole: Vec<Vec<u8>> = c.split(&data).into_iter().map(<[u8]>::to_vec).collect();
            // A hint that is right, too small or absent must not change the chunks.
            let hint = match step % 3 { 0 => None, 1 => Some(len as u64), _ => Some((len / 3) as u64) };
            let mut s = c.stream_sized(Dribble(&data, step), hint);
            let mut streamed = Vec::new();
            while let Some(ch) = s.next_chunk().map_err(|e| TestCaseError::fail(e.to_string()))? {
                prop_assert!(ch.len() <= 1024);
                streamed.push(ch.to_vec());
            }
            let read = s.bytes_read();
            drop(s);
            prop_assert_eq!(&streamed, &whole);
            prop_assert_eq!(streamed.concat(), data);
            prop_assert_eq!(read, len as u64);
        }
    }

    #[test]
    fn a_file_that_fits_its_hint_never_grows_the_buffer() {
        let c = Chunker::new(ChunkerParams { min: 512 << 10, avg: 1 << 20, max: 8 << 20 }, 3);
        let data = pseudo_random(10_000, 5);
        let mut s = c.stream_sized(&data[..], Some(10_000));
        assert_eq!(s.next_chunk().unwrap().map(<[u8]>::len), Some(10_000));
        assert!(s.next_chunk().unwrap().is_none());
        assert_eq!(s.buffer_len(), 10_001, "a 10 kB file got a larger buffer");
        // Longer than its hint: the buffer grows as needed and the chunks are still right.
        let long = pseudo_random(3 << 20, 6);
        let mut s = c.stream_sized(&long[..], Some(10_000));
        let mut out = Vec::new();
        while let Some(ch) = s.next_chunk().unwrap() {
            out.extend_from_slice(ch);
        }
        assert!(out == long);
    }

    #[test]
    fn seed_changes_cut_points() {
        let data = pseudo_random(200_000, 42);
        let a: Vec<usize> = Chunker::new(SMALL, 1).split(&data).iter().map(|c| c.len()).collect();
        let b: Vec<usize> = Chunker::new(SMALL, 0x9e37_79b9_7f4a_7c15).split(&data).iter().map(|c| c.len()).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn insertion_shifts_only_nearby_chunks() {
        let data = pseudo_random(400_000, 7);
        let c = Chunker::new(SMALL, 99);
        let before: std::collections::HashSet<Vec<u8>> = c.split(&data).into_iter().map(<[u8]>::to_vec).collect();
        let mut edited = data[..200_000].to_vec();
        edited.extend_from_slice(b"inserted bytes");
        edited.extend_from_slice(&data[200_000..]);
        let after: Vec<Vec<u8>> = c.split(&edited).into_iter().map(<[u8]>::to_vec).collect();
        let new = after.iter().filter(|ch| !before.contains(*ch)).count();
        assert!(new <= 3, "{new} new chunks after a small insertion");
    }
}

//! Explicit little-endian framing shared by every binary on-disk object: fixed-width integers,
//! LEB128 varints and length-prefixed byte strings, with a reader that never panics on bad input.

use super::id::ID_LEN;

/// Why a binary object could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: needed {needed} more bytes at offset {offset}")]
    Truncated { offset: usize, needed: usize },
    #[error("varint too long at offset {0}")]
    VarintOverflow(usize),
    #[error("unsupported {what} version {found} (this snap reads version {supported})")]
    UnknownVersion { what: &'static str, found: u64, supported: u64 },
    #[error("unknown {what} tag {tag}")]
    UnknownTag { what: &'static str, tag: u8 },
    #[error("{0}")]
    Invalid(String),
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// Appends encoded values to a byte vector.
#[derive(Default, Debug)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        Self { buf: Vec::with_capacity(n) }
    }
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Unsigned LEB128.
    pub fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    /// Zig-zag then LEB128, for signed values such as times before 1970.
    pub fn varint_signed(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }
    /// Varint length, then the bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads encoded values from a byte slice, failing cleanly on truncation.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[must_use]
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { offset: self.pos, needed: n - self.remaining() });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    return Err(DecodeError::VarintOverflow(start));
                }
                return Ok(v);
            }
        }
        Err(DecodeError::VarintOverflow(start))
    }
    pub fn varint_signed(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    pub fn varint_u32(&mut self) -> Result<u32, DecodeError> {
        let at = self.pos;
        u32::try_from(self.varint()?).map_err(|_| DecodeError::Invalid(format!("value at offset {at} exceeds 32 bits")))
    }
    /// A count of items that each take at least `min_item` bytes; refuses counts the remaining
    /// input cannot hold, so hostile input cannot make us allocate.
    pub fn count(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| DecodeError::Invalid(format!("count at {at} too large")))?;
        if n.saturating_mul(min_item.max(1)) > self.remaining() {
            return Err(DecodeError::Truncated { offset: at, needed: n.saturating_mul(min_item.max(1)) - self.remaining() });
        }
        Ok(n)
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.count(1)?;
        self.take(n)
    }
    pub fn id(&mut self) -> Result<[u8; ID_LEN], DecodeError> {
        let mut b = [0u8; ID_LEN];
        b.copy_from_slice(self.take(ID_LEN)?);
        Ok(b)
    }
    /// Fails unless every byte was consumed.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), i in any::<i64>(), b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut w = Writer::default();
            w.varint(u);
            w.varint_signed(i);
            w.bytes(&b);
            let buf = w.finish();
            let mut r = Reader::new(&buf);
            prop_assert_eq!(r.varint().map_err(|e| TestCaseError::fail(e.to_string()))?, u);
            prop_assert_eq!(r.varint_signed().map_err(|e| TestCaseError::fail(e.to_string()))?, i);
            prop_assert_eq!(r.bytes().map_err(|e| TestCaseError::fail(e.to_string()))?, &b[..]);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn truncation_is_an_error(u in 128u64.., cut in 0usize..9) {
            let mut w = Writer::default();
            w.varint(u);
            let buf = w.finish();
            let cut = cut.min(buf.len() - 1);
            prop_assert!(Reader::new(&buf[..cut]).varint().is_err());
        }
    }

    #[test]
    fn overlong_varint_rejected() {
        let buf = [0xffu8; 11];
        assert!(matches!(Reader::new(&buf).varint(), Err(DecodeError::VarintOverflow(0))));
    }

    #[test]
    fn hostile_count_rejected() {
        let mut w = Writer::default();
        w.varint(u64::MAX / 2);
        let buf = w.finish();
        assert!(matches!(Reader::new(&buf).count(32), Err(DecodeError::Truncated { .. })));
    }
}

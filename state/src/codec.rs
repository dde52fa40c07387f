//! Byte codecs: how typed keys and values become RocksDB bytes and back.
//!
//! Keys are fixed-width big-endian integers with the grouping prefix first, then raw bytes, so
//! byte order is logical order and a prefix scan is a range scan. Values start with a format
//! version byte and use length-prefixed fields. Decoding never panics: any byte string either
//! decodes or yields a [`DecodeError`].

use std::fmt;

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the layout needs.
    #[error("truncated: needed {needed} more bytes")]
    Truncated {
        /// Bytes missing.
        needed: usize,
    },
    /// Bytes left over after the last field.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
    /// A value written by a format this build does not know.
    #[error("unknown value format version {0}")]
    UnknownVersion(u8),
    /// A tag byte out of range.
    #[error("invalid tag {0}")]
    InvalidTag(u8),
    /// A string field that is not UTF-8.
    #[error("invalid UTF-8 in a text field")]
    InvalidUtf8,
}

/// Typed key ↔ bytes.
pub trait KeyCodec: Sized {
    /// Encodes the key.
    fn encode_key(&self) -> Vec<u8>;
    /// Decodes a key.
    fn decode_key(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// Typed value ↔ bytes (the first byte is the format version).
pub trait ValueCodec: Sized {
    /// Encodes the value.
    fn encode_value(&self) -> Vec<u8>;
    /// Decodes a value, migrating older versions.
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// One column family's schema.
pub trait Schema {
    /// Column family name.
    const CF: &'static str;
    /// Key type.
    type Key: KeyCodec + fmt::Debug;
    /// Value type.
    type Value: ValueCodec + fmt::Debug;
}

/// Appends fields.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_version(version: u8) -> Self {
        Writer { buf: vec![version] }
    }
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        // Field lengths are bounded by S3 (keys ≤ 1 KiB, ETags tiny); saturate rather than wrap.
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.buf.extend_from_slice(&v[..len as usize]);
        self
    }
    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub(crate) fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(s) => self.u8(1).str(s),
        }
    }
    pub(crate) fn opt_i64(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(x) => self.u8(1).i64(x),
        }
    }
    pub(crate) fn opt_arr32(&mut self, v: Option<&[u8; 32]>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(a) => {
                self.u8(1);
                self.buf.extend_from_slice(a);
                self
            }
        }
    }
    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields in order; every read checks the length.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.buf.len(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8)
    }
    fn tag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(DecodeError::InvalidTag(t)),
        }
    }
    pub(crate) fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        if self.tag()? {
            self.string().map(Some)
        } else {
            Ok(None)
        }
    }
    pub(crate) fn opt_i64(&mut self) -> Result<Option<i64>, DecodeError> {
        if self.tag()? {
            self.i64().map(Some)
        } else {
            Ok(None)
        }
    }
    pub(crate) fn opt_arr32(&mut self) -> Result<Option<[u8; 32]>, DecodeError> {
        if self.tag()? {
            self.array().map(Some)
        } else {
            Ok(None)
        }
    }
    /// Bytes left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }
    /// The rest, as raw bytes (the tail of a key).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
    pub(crate) fn end(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }
}

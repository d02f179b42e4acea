//! The Adler-32 of the output as the window hands it on: bytes summed by libdeflate's vector code
//! (or one by one between two runs), the long runs of one byte (those left unwritten) added by
//! formula, never read.

const ADLER_MOD: u64 = 65_521;

/// Adler-32's two sums (RFC 1950 8.2: each byte adds itself to A, then A to B), reduced modulo
/// 65521 only when the vector code needs a checksum and at the end of a piece: a piece's runs
/// and bytes cannot carry them past 2^64.
pub(super) struct Sums {
    a: u64,
    b: u64,
}

impl Sums {
    pub(super) fn of(checksum: u32) -> Self {
        Self {
            a: u64::from(checksum & 0xFFFF),
            b: u64::from(checksum >> 16),
        }
    }

    pub(super) fn checksum(&self) -> u32 {
        (((self.b % ADLER_MOD) << 16) | (self.a % ADLER_MOD)) as u32
    }

    /// Adds `bytes`: one by one if they are few (the vector code's setup costs more than it
    /// saves between two runs), vectorised if not.
    pub(super) fn add(&mut self, bytes: &[u8]) {
        if bytes.len() >= 64 {
            *self = Self::of(libdeflate_exact::adler32(self.checksum(), bytes));
            return;
        }
        for &byte in bytes {
            self.a += u64::from(byte);
            self.b += self.a;
        }
    }

    /// Adds `len` bytes `byte`: A + len * byte, and B + len * A + byte * len * (len + 1) / 2.
    pub(super) fn add_run(&mut self, byte: u8, len: u32) {
        let (byte, len) = (u64::from(byte), u64::from(len));
        self.b += len * self.a + byte * (len * (len + 1) / 2);
        self.a += len * byte;
    }
}

//! The bit reader: deflate's bits, least significant first, from a 64-bit buffer refilled a word at
//! a time (libdeflate's branch-free refill). Past the end of the input it reads zero bytes and
//! counts them, so a truncated stream is told apart from a damaged one: it is truncated when the
//! decoder has used any of those zeros.

#[derive(Clone, Copy)]
pub(super) struct Bits<'a> {
    input: &'a [u8],
    /// The next input byte not yet in `buf`.
    pos: usize,
    /// Unused bits in the low `count` bits. Bits above them are either zero or the input's next
    /// bits in their place, so a refill can OR a word over them.
    buf: u64,
    count: u32,
    /// Zero bytes put in `buf` past the end of the input.
    padding: u32,
}

/// Bits a refill guarantees: a length code with its extra bits and a distance code with its
/// extra bits (15 + 5 + 15 + 13 = 48) fit.
pub(super) const REFILLED: u32 = 56;

impl<'a> Bits<'a> {
    pub(super) fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            buf: 0,
            count: 0,
            padding: 0,
        }
    }

    pub(super) fn input(&self) -> &'a [u8] {
        self.input
    }

    /// Tops the buffer up to at least [`REFILLED`] bits.
    #[inline(always)]
    pub(super) fn refill(&mut self) {
        if let Some(word) = self.input.get(self.pos..self.pos + 8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            self.buf |= u64::from_le_bytes(bytes) << self.count;
            self.pos += ((63 - self.count) >> 3) as usize;
            self.count |= REFILLED;
        } else {
            self.refill_at_the_end();
        }
    }

    #[cold]
    fn refill_at_the_end(&mut self) {
        while self.count <= REFILLED {
            if let Some(&byte) = self.input.get(self.pos) {
                self.buf |= u64::from(byte) << self.count;
                self.pos += 1;
            } else {
                self.padding += 1;
            }
            self.count += 8;
        }
    }

    /// True once the decoder has used bits past the end of the input.
    pub(super) fn overran(&self) -> bool {
        self.padding * 8 > self.count
    }

    /// How many bits are buffered (zeros past the end of the input included).
    #[inline(always)]
    pub(super) fn buffered(&self) -> u32 {
        self.count
    }

    /// The low `n` bits (n < 32), not consumed.
    #[inline(always)]
    pub(super) fn peek(&self, n: u32) -> u32 {
        (self.buf & ((1u64 << n) - 1)) as u32
    }

    #[inline(always)]
    pub(super) fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.count -= n;
    }

    /// The low `n` bits, consumed.
    #[inline(always)]
    pub(super) fn take(&mut self, n: u32) -> u32 {
        let bits = self.peek(n);
        self.consume(n);
        bits
    }

    /// Skips to the next byte boundary and gives the offset of that byte in the input, or `None`
    /// if the decoder has used bits past its end.
    pub(super) fn align(&mut self) -> Option<usize> {
        self.consume(self.count % 8);
        let unused = (self.count / 8) as usize;
        let at = (self.pos + self.padding as usize).checked_sub(unused)?;
        (at <= self.input.len()).then_some(at)
    }

    /// Goes on reading at input offset `at`, with nothing buffered.
    pub(super) fn restart(&mut self, at: usize) {
        self.pos = at;
        self.buf = 0;
        self.count = 0;
        self.padding = 0;
    }
}

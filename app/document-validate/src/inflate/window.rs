//! The output window: deflate's 32 KiB of history followed by the output being written, handed to
//! the sink a chunk at a time while that chunk is still in cache, then slid back so the history
//! stays in front of the next chunk. The whole window is under 200 KiB, so it stays in L2 however
//! large the output: nothing inflated is written to main memory and read back from it.
//!
//! The decoder writes through a [`Cursor`] (the buffer, its position and the runs written, held
//! in registers by the hot loop); the window turns each chunk into the Adler-32 and the sink's
//! [`Piece`] between cursors. Long runs of one byte are not written unless read
//! ([`super::unwritten`]), so the sink reads a piece through it.

use super::adler::Sums;
use super::unwritten::{BLOCK, UNWRITTEN_MIN, Unwritten};
use std::cell::Cell;

/// How far back a deflate distance reaches.
const HISTORY: usize = 32 * 1024;
/// Output handed to the sink at a time, after the first piece (which has the history's too).
const CHUNK: usize = 128 * 1024;
pub(super) const FLUSH_AT: usize = HISTORY + CHUNK;
/// The longest piece the sink is given: the first, filled up to `FLUSH_AT` and overrun by a match.
pub const PIECE_MAX: usize = FLUSH_AT + 257;
/// Room after `FLUSH_AT` for one longest match (258 bytes) and the 16-byte copies' overshoot.
const SLACK: usize = 512;
/// Copies at least this long (whole matches) are checked for being one byte, and so a run, even
/// when all they read is written.
const UNIFORM_MIN: usize = 258;

/// A run of one byte at `start`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Run {
    start: usize,
    len: u32,
    byte: u8,
}

impl Run {
    fn end(&self) -> usize {
        self.start + self.len as usize
    }
}

/// A window's memory: its buffer, the runs it sums and the runs it has not written.
#[derive(Default)]
struct Parts {
    buf: Vec<u8>,
    /// The long runs since the output last handed on, in order: the Adler-32 adds them by formula
    /// (they are not in the buffer); the bytes between them, short runs included, are summed by
    /// the vector code, which costs less than a call to it per short run.
    runs: Vec<Run>,
    unwritten: Unwritten,
}

thread_local! {
    /// The window's memory, kept between streams on each thread (a fresh buffer would be fresh
    /// pages to fault in for every document): a window takes it and gives it back when dropped.
    static PARTS: Cell<Parts> = Cell::new(Parts::default());
}

pub(super) struct Window<F> {
    parts: Parts,
    /// The end of the output.
    pos: usize,
    /// The end of the output handed to the sink and summed.
    handed: usize,
    /// The Adler-32 of the output handed on.
    adler: u32,
    sink: F,
}

/// A piece of the output, as the sink sees it: its bytes are read with [`Piece::get`] (or copied
/// out with [`Piece::copy_to`]), since the long runs in it may not be in the buffer.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'w> {
    buf: &'w [u8],
    start: usize,
    end: usize,
    unwritten: &'w Unwritten,
}

impl Piece<'_> {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The byte at `i`, if `i` is in the piece.
    pub fn get(&self, i: usize) -> Option<u8> {
        (i < self.len()).then(|| self.unwritten.byte(self.buf, self.start + i))
    }

    /// Appends the piece's bytes to `out`.
    pub fn copy_to(&self, out: &mut Vec<u8>) {
        self.unwritten.copy_out(self.buf, self.start, self.end, out);
    }
}

/// Where the decoder writes: the window's buffer from `pos` on. A run of one byte (matches at
/// distance 1 one after another, a row of white space being a dozen of them, or copies of what
/// is one byte) is extended until something else comes, then ended: written in one fill if it
/// is short, recorded with its blocks unwritten if it is long.
pub(super) struct Cursor<'w> {
    buf: &'w mut [u8],
    /// The end of the output, the run not yet ended included.
    pub(super) pos: usize,
    runs: &'w mut Vec<Run>,
    unwritten: &'w mut Unwritten,
    /// The run not yet ended, if `run.len` > 0: it ends at `pos`.
    run: Run,
}

impl<E, F: FnMut(Piece<'_>) -> Result<(), E>> Window<F> {
    pub(super) fn new(sink: F) -> Self {
        let mut parts = PARTS.take();
        parts.buf.resize(FLUSH_AT + SLACK, 0);
        parts.runs.clear();
        parts.runs.reserve(CHUNK / UNWRITTEN_MIN + 1);
        parts.unwritten.reset(parts.buf.len());
        Self {
            parts,
            pos: 0,
            handed: 0,
            adler: 1,
            sink,
        }
    }

    /// True when the window should be handed on before more output goes in.
    pub(super) fn full(&self) -> bool {
        self.pos >= FLUSH_AT
    }

    /// Writes through a cursor; `write` leaves its position where the output ends.
    #[inline(always)]
    pub(super) fn write<R>(&mut self, write: impl FnOnce(&mut Cursor<'_>) -> R) -> R {
        let parts = &mut self.parts;
        let mut cursor = Cursor {
            buf: &mut parts.buf,
            pos: self.pos,
            runs: &mut parts.runs,
            unwritten: &mut parts.unwritten,
            run: Run::default(),
        };
        let written = write(&mut cursor);
        cursor.end_run();
        self.pos = cursor.pos;
        written
    }

    /// Hands the output so far to the sink and slides the history to the front.
    pub(super) fn flush(&mut self) -> Result<(), E> {
        self.hand_on()?;
        if self.pos > HISTORY {
            // By whole blocks of the unwritten map: up to a block more than the history stays.
            let from = (self.pos - HISTORY) / BLOCK * BLOCK;
            let parts = &mut self.parts;
            parts.unwritten.slide(&mut parts.buf, from, self.pos);
            self.pos -= from;
            self.handed = self.pos;
        }
        Ok(())
    }

    /// Hands the rest of the output to the sink; gives the output's Adler-32.
    pub(super) fn finish(mut self) -> Result<u32, E> {
        self.hand_on()?;
        Ok(self.adler)
    }

    /// Sums the output not yet handed on (reading back what is not a long run) and hands it on.
    fn hand_on(&mut self) -> Result<(), E> {
        let Parts {
            buf,
            runs,
            unwritten,
        } = &mut self.parts;
        let mut summed = self.handed;
        let mut adler = Sums::of(self.adler);
        for run in runs.drain(..) {
            adler.add(&buf[summed..run.start]);
            adler.add_run(run.byte, run.len);
            summed = run.end();
        }
        adler.add(&buf[summed..self.pos]);
        self.adler = adler.checksum();
        (self.sink)(Piece {
            buf,
            start: self.handed,
            end: self.pos,
            unwritten,
        })?;
        self.handed = self.pos;
        Ok(())
    }

    /// Appends `bytes` (a stored block's), handing the window on as it fills.
    pub(super) fn extend(&mut self, mut bytes: &[u8]) -> Result<(), E> {
        while !bytes.is_empty() {
            if self.full() {
                self.flush()?;
            }
            let n = bytes.len().min(FLUSH_AT - self.pos);
            self.parts.buf[self.pos..self.pos + n].copy_from_slice(&bytes[..n]);
            self.pos += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

impl<F> Drop for Window<F> {
    fn drop(&mut self) {
        PARTS.set(std::mem::take(&mut self.parts));
    }
}

impl Cursor<'_> {
    #[inline(always)]
    pub(super) fn literal(&mut self, byte: u8) {
        self.end_run();
        self.buf[self.pos] = byte;
        self.pos += 1;
    }

    /// Ends the run being extended, if there is one: a long one is left unwritten (and summed by
    /// formula), a short one written.
    #[inline(always)]
    fn end_run(&mut self) {
        let run = self.run;
        if run.len == 0 {
            return;
        }
        if run.len as usize >= UNWRITTEN_MIN {
            self.unwritten.add(self.buf, run.start, run.end(), run.byte);
            self.runs.push(run);
        } else {
            self.buf[run.start..run.end()].fill(run.byte);
        }
        self.run.len = 0;
    }

    /// For a copy of `len` bytes to `start` reading `from..from + read`: if what it reads is one
    /// byte (white space from a run, or copied from the row above, itself copied: then the rows
    /// that copy this one are runs again), the copy is a run of it, extending the run being
    /// extended if it is of that byte, and this gives true. Else it ends that run, writes the
    /// unwritten blocks the copy reads and gives false. Out of the decoder's loop: most copies
    /// of image data (short, of written bytes) do not come here.
    #[inline(never)]
    fn copied_run(&mut self, from: usize, read: usize, start: usize, len: usize) -> bool {
        let (run, end) = (self.run, from + read);
        // What the copy reads of the run being extended (which ends at `start`) is its byte; the
        // rest is in the buffer or in unwritten blocks.
        let byte = if run.len != 0 && end > run.start {
            if from < run.start {
                self.unwritten
                    .uniform(self.buf, from, run.start, true)
                    .filter(|&byte| byte == run.byte)
            } else {
                Some(run.byte)
            }
        } else {
            // Reading written bytes pays for whole matches (a row copied from the row above);
            // a shorter copy is a run only from inside one.
            let reads = len >= UNIFORM_MIN || read <= BLOCK;
            self.unwritten.uniform(self.buf, from, end, reads)
        };
        match byte {
            Some(byte) if run.len != 0 && byte == run.byte => self.run.len += len as u32,
            Some(byte) => {
                self.end_run();
                self.run = Run {
                    start,
                    len: len as u32,
                    byte,
                };
            }
            None => {
                self.end_run();
                if self.unwritten.any_in(from, end) {
                    self.unwritten.write(self.buf, from, end);
                }
            }
        }
        byte.is_some()
    }

    /// Appends the `len` bytes found `distance` back (1..=pos): one match, or one repeated (then
    /// `len` is its length times the repeats, ending at most 258 bytes past `FLUSH_AT`). At
    /// distance 1 it extends the run being extended; a copy that may be a run (it reads the run
    /// being extended or unwritten blocks, or is a whole match whose ends and middle are one
    /// byte) goes by `copied_run`; the others are copied, long ones by `long_copy` and the rest
    /// in 16-byte blocks, at least four, that may write up to 63 bytes past the end (overwritten
    /// by the output that follows).
    #[inline(always)]
    pub(super) fn copy_match(&mut self, distance: usize, len: usize) {
        let (start, end) = (self.pos, self.pos + len);
        self.pos = end;
        if distance == 1 {
            if self.run.len == 0 {
                let byte = self.unwritten.byte(self.buf, start - 1);
                self.run = Run {
                    start,
                    len: 0,
                    byte,
                };
            }
            self.run.len += len as u32;
            return;
        }
        let (from, read) = (start - distance, len.min(distance));
        let reads_run = self.run.len != 0 && from + read > self.run.start;
        let may_be_run = len >= UNIFORM_MIN
            && self.buf[from] == self.buf[from + read - 1]
            && self.buf[from] == self.buf[from + read / 2];
        if (may_be_run || reads_run || self.unwritten.any_in(from, from + read))
            && self.copied_run(from, read, start, len)
        {
            return;
        }
        self.end_run();
        let buf = &mut self.buf[..];
        if len > 64 && distance > 64 && (distance >= len || len > 258) {
            long_copy(buf, start, end, distance);
            return;
        }
        let mut dst = start;
        // A distance under 16 repeats a pattern: write its first bytes one by one, until a whole
        // number of periods spans 16 bytes; from there on, copying from that many bytes back is
        // the same pattern, 16 bytes at a time.
        let step = if distance >= 16 {
            distance
        } else {
            distance * 16usize.div_ceil(distance)
        };
        if distance < 16 {
            let first = step.min(len);
            for i in dst..dst + first {
                buf[i] = buf[i - distance];
            }
            dst += first;
            if dst >= end {
                return;
            }
        }
        // Each block reads only bytes already written: `step` is at least 16. The first four
        // are copied whatever the length (most matches are shorter than 64 bytes), so the loop
        // only runs for longer ones, and its count, which varies from match to match, is not a
        // branch mispredicted on nearly every match.
        let mut src = dst - step;
        for _ in 0..4 {
            copy_block(buf, src, dst);
            src += 16;
            dst += 16;
        }
        while dst < end {
            copy_block(buf, src, dst);
            src += 16;
            dst += 16;
        }
    }
}

/// Copies the 16 bytes at `src` to `dst` (at least 16 bytes after them).
#[inline(always)]
fn copy_block(buf: &mut [u8], src: usize, dst: usize) {
    let mut block = [0u8; 16];
    block.copy_from_slice(&buf[src..src + 16]);
    buf[dst..dst + 16].copy_from_slice(&block);
}

/// Long and not overlapping, or a repeated match (longer than one match can be): `copy_within`
/// a distance at a time, each piece reading only bytes before it. Out of the decoder's loop,
/// which it would only make longer: its calls to `memmove` cost more than the call to it.
#[inline(never)]
fn long_copy(buf: &mut [u8], start: usize, end: usize, distance: usize) {
    let mut dst = start;
    while dst < end {
        let n = distance.min(end - dst);
        buf.copy_within(dst - distance..dst - distance + n, dst);
        dst += n;
    }
}

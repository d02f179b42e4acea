//! Log lines to stdout, coalesced under load.
//!
//! A line that comes after a quiet spell (nothing written for `WINDOW`) is written at once, so
//! lifecycle lines and the odd warning appear when they happen. A line that follows another
//! within `WINDOW` is appended to a buffer that a flusher thread writes `WINDOW` after the last
//! write, or the writer itself once `MAX_BUFFERED` bytes are waiting. Under load (a rejected
//! document logs a warning, 10% of requests in the real upstream's mix) that is about 100 writes a
//! second instead of one per line: a `write(2)` per line took 1.2% of the service's CPU under
//! `scripts/bench`'s real mix at 32 connections (`perf record`).
//!
//! `tracing-appender`'s `non_blocking` was the library to use, and does not fit: its worker
//! blocks on a channel and wakes for each line when lines are sparse, writes each line with its own
//! `write_all` (to stdout, line-buffered, one `write(2)` each), and by default drops lines when
//! its queue is full (tracing-appender/src/worker.rs, `Worker::work`).
//!
//! Nothing is dropped: a writer waits for the lock as it does for stdout's own. The buffer is
//! written out at shutdown and from the panic hook (`flush`); a hard kill loses at most the last
//! `WINDOW` of lines.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The longest a buffered line waits for its write.
pub const WINDOW: Duration = Duration::from_millis(10);

/// Bytes waiting at which the writer writes them itself.
pub const MAX_BUFFERED: usize = 64 * 1024;

/// A sink shared by every thread that logs, with its flusher thread.
#[derive(Debug)]
pub struct Coalescing<W: Write + Send + 'static> {
    shared: Arc<Shared<W>>,
}

#[derive(Debug)]
struct Shared<W> {
    state: Mutex<State<W>>,
    /// Signalled when the buffer turns non-empty.
    pending: Condvar,
    window: Duration,
}

#[derive(Debug)]
struct State<W> {
    sink: W,
    buffer: Vec<u8>,
    last_write: Option<Instant>,
}

impl<W: Write + Send + 'static> Coalescing<W> {
    /// Wraps `sink` and starts its flusher thread, which lives as long as the process.
    pub fn new(sink: W, window: Duration) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                sink,
                buffer: Vec::new(),
                last_write: None,
            }),
            pending: Condvar::new(),
            window,
        });
        let flusher = Arc::clone(&shared);
        thread::Builder::new()
            .name("log-stdout".into())
            .spawn(move || flusher.flush_forever())?;
        Ok(Self { shared })
    }

    /// Writes one whole line, now or within the window.
    pub fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let mut state = self.shared.lock();
        let now = Instant::now();
        let quiet = state
            .last_write
            .is_none_or(|last| now.duration_since(last) >= self.shared.window);
        if state.buffer.is_empty() && quiet {
            state.last_write = Some(now);
            return state.sink.write_all(line);
        }
        state.buffer.extend_from_slice(line);
        if state.buffer.len() >= MAX_BUFFERED {
            return state.write_out(now);
        }
        if state.buffer.len() == line.len() {
            self.shared.pending.notify_one();
        }
        Ok(())
    }

    /// Writes whatever is buffered, now.
    pub fn flush(&self) -> io::Result<()> {
        let mut state = self.shared.lock();
        state.write_out(Instant::now())?;
        state.sink.flush()
    }
}

impl<W: Write> Shared<W> {
    fn lock(&self) -> MutexGuard<'_, State<W>> {
        // A panic while holding the lock leaves whole lines in the buffer: still worth writing.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush_forever(&self) {
        let mut state = self.lock();
        loop {
            while state.buffer.is_empty() {
                state = self
                    .pending
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let due = state
                .last_write
                .map_or_else(Instant::now, |last| last + self.window);
            drop(state);
            thread::sleep(due.saturating_duration_since(Instant::now()));
            state = self.lock();
            // Nowhere to report a failed write of logs; the next write tries again.
            let _ = state.write_out(Instant::now());
        }
    }
}

impl<W: Write> State<W> {
    fn write_out(&mut self, now: Instant) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.last_write = Some(now);
        let written = self.sink.write_all(&self.buffer);
        self.buffer.clear();
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records each `write` call, so a test sees how lines were grouped.
    #[derive(Debug, Clone, Default)]
    struct Writes(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Writes {
        fn calls(&self) -> Vec<Vec<u8>> {
            self.0.lock().expect("writes").clone()
        }
    }

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("writes").push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(n: usize) -> Vec<u8> {
        format!("{{\"n\":{n}}}\n").into_bytes()
    }

    #[test]
    fn a_line_after_a_quiet_spell_is_written_at_once() {
        let writes = Writes::default();
        let out = Coalescing::new(writes.clone(), Duration::from_secs(3600)).expect("coalescing");
        out.write_line(&line(1)).expect("write");
        assert_eq!(writes.calls(), vec![line(1)]);
    }

    #[test]
    fn a_burst_is_written_in_few_writes_in_order_within_the_window() {
        let writes = Writes::default();
        let out = Coalescing::new(writes.clone(), Duration::from_millis(20)).expect("coalescing");
        let lines: Vec<Vec<u8>> = (0..1000).map(line).collect();
        for l in &lines {
            out.write_line(l).expect("write");
        }
        let started = Instant::now();
        while writes.calls().concat() != lines.concat() {
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "the flusher did not write the burst: {} of {} bytes",
                writes.calls().concat().len(),
                lines.concat().len()
            );
            thread::sleep(Duration::from_millis(5));
        }
        assert!(
            writes.calls().len() <= 3,
            "1000 lines in one window took {} writes",
            writes.calls().len()
        );
    }

    #[test]
    fn a_full_buffer_is_written_by_the_writer_without_waiting() {
        let writes = Writes::default();
        let out = Coalescing::new(writes.clone(), Duration::from_secs(3600)).expect("coalescing");
        let long = vec![b'x'; 1024];
        let lines = MAX_BUFFERED / long.len() + 1;
        for _ in 0..lines {
            out.write_line(&long).expect("write");
        }
        let written: usize = writes.calls().iter().map(Vec::len).sum();
        assert_eq!(
            written,
            lines * long.len(),
            "everything past the first line at once"
        );
    }

    #[test]
    fn flush_writes_what_is_buffered() {
        let writes = Writes::default();
        let out = Coalescing::new(writes.clone(), Duration::from_secs(3600)).expect("coalescing");
        out.write_line(&line(1)).expect("write");
        out.write_line(&line(2)).expect("write");
        assert_eq!(writes.calls(), vec![line(1)], "the second line waits");
        out.flush().expect("flush");
        assert_eq!(writes.calls(), vec![line(1), line(2)]);
    }
}

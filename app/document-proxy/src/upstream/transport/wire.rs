//! One HTTP/1.1 response, read off an upstream connection into that connection's own buffer: the
//! head parsed by `httparse` (hyper's parser), then the body as its head frames it (RFC 9112 §6):
//! `Content-Length`, chunked, or until the connection closes. The body stays where it was read, so
//! a body whose verdict is remembered is compared in place and the buffer serves the next response.
//!
//! Why by hand and not hyper's client: see `pool`.

use std::ops::Range;
use tokio::io::{AsyncRead, AsyncReadExt};

/// A response head (status line, headers, and any 1xx heads before it) larger than this is
/// refused rather than buffered without end.
const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;
/// A chunk-size line (size, extensions) or trailer section longer than this is refused.
const MAX_CHUNK_LINE: usize = 1024;
/// Chunk framing bytes left behind in the buffer once the body is compacted past them: beyond
/// this they are dropped, so a body of many tiny chunks cannot grow the buffer far past the body.
const MAX_SLACK: usize = 64 * 1024;
/// What each read asks for at least, beyond what the buffer already has room for.
const READ_SIZE: usize = 8 * 1024;

/// How the body after a head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// A final (non-1xx) response head, parsed from the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    framing: Framing,
    /// The connection may carry another request once this response has been read to its end.
    pub keep_alive: bool,
    /// The head's length: its body starts here in the buffer.
    len: usize,
}

impl Head {
    /// The body's length, when the head declares one (`Content-Length`).
    pub fn declared_len(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(length) => Some(length),
            Framing::Chunked | Framing::UntilClose => None,
        }
    }
}

/// Why no usable response head was read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The connection ended before a single byte of a response: on a pooled connection this is the
    /// upstream having closed it while idle, and the request is sent again on another.
    #[error("connection closed before a response")]
    Closed,
    #[error("{0}")]
    Io(std::io::Error),
    #[error("malformed response head: {0}")]
    Malformed(&'static str),
}

impl HeadError {
    /// Whether the upstream can have seen nothing of the request's answer: the connection was
    /// closed or reset before any response byte arrived.
    pub fn nothing_received(&self) -> bool {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
        match self {
            Self::Closed => true,
            Self::Io(err) => matches!(err.kind(), BrokenPipe | ConnectionAborted | ConnectionReset),
            Self::Malformed(_) => false,
        }
    }
}

/// Why a body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body exceeds the {0}-byte limit")]
    TooLarge(u64),
    #[error("connection closed before the body's end")]
    BrokeOff,
    #[error("{0}")]
    Io(std::io::Error),
    #[error("malformed chunked body: {0}")]
    Malformed(&'static str),
}

/// Reads into `buf`'s spare room (growing it when there is little); 0 means the connection ended.
async fn fill<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    if buf.capacity() - buf.len() < READ_SIZE / 2 {
        buf.reserve(READ_SIZE);
    }
    io.read_buf(buf).await
}

/// Reads until `buf` (empty on entry) starts with a complete final response head; 1xx heads
/// before it are dropped.
pub async fn read_head<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Head, HeadError> {
    let mut received_any = false;
    loop {
        if let Some(head) = parse_head(buf)? {
            if (100..200).contains(&head.status) {
                buf.drain(..head.len);
                continue;
            }
            return Ok(head);
        }
        if buf.len() >= MAX_HEAD {
            return Err(HeadError::Malformed("head too large"));
        }
        match fill(io, buf).await {
            Ok(0) if !received_any => return Err(HeadError::Closed),
            Ok(0) => return Err(HeadError::Malformed("connection closed within the head")),
            Ok(_) => received_any = true,
            Err(err) => return Err(HeadError::Io(err)),
        }
    }
}

/// The head at the start of `buf`, if it is complete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HeadError::Malformed("too many headers"));
        }
        Err(_) => return Err(HeadError::Malformed("not an HTTP/1.x response")),
    };
    let status = response.code.unwrap_or_default();
    if status == 101 {
        return Err(HeadError::Malformed("unexpected protocol switch"));
    }
    let mut keep_alive = response.version == Some(1);
    let (mut length, mut chunked, mut encoded) = (None, false, false);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| HeadError::Malformed("header value is not text"))?;
        if header.name.eq_ignore_ascii_case("content-length") {
            for part in value.split(',') {
                // Digits only: Rust's parse would also take a sign.
                let part = part.trim();
                let part = (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| part.parse::<u64>().ok())
                    .flatten();
                if part.is_none() || (length.is_some() && length != part) {
                    return Err(HeadError::Malformed("invalid Content-Length"));
                }
                length = part;
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            encoded = true;
            // Chunked counts only as the final coding (RFC 9112 §6.3).
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if header.name.eq_ignore_ascii_case("connection")
            && value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        {
            keep_alive = false;
        }
    }
    let framing = if matches!(status, 100..200 | 204 | 304) {
        Framing::Length(0)
    } else if encoded {
        // Both lengths given: Transfer-Encoding wins and the connection must not be reused.
        keep_alive &= chunked && length.is_none();
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(length) = length {
        Framing::Length(length)
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    Ok(Some(Head {
        status,
        framing,
        keep_alive,
        len,
    }))
}

/// Reads the body framed by `head` (at the start of `buf`) to its end, never more than `max`
/// bytes of it. Returns where the body is in `buf`, and whether the connection can be reused:
/// the framing allows it and nothing was sent after the body.
pub async fn read_body<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    head: &Head,
    max: u64,
) -> Result<(Range<usize>, bool), BodyError> {
    let start = head.len;
    let (body, end) = match head.framing {
        Framing::Length(length) => {
            if length > max {
                return Err(BodyError::TooLarge(max));
            }
            let end = start + usize::try_from(length).map_err(|_| BodyError::TooLarge(max))?;
            read_to(io, buf, end).await?;
            (start..end, end)
        }
        Framing::Chunked => read_chunked(io, buf, start, max).await?,
        Framing::UntilClose => {
            loop {
                if (buf.len() - start) as u64 > max {
                    return Err(BodyError::TooLarge(max));
                }
                match fill(io, buf).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(err) => return Err(BodyError::Io(err)),
                }
            }
            (start..buf.len(), buf.len())
        }
    };
    Ok((body, head.keep_alive && end == buf.len()))
}

/// Decodes a chunked body in place: each chunk's data is moved down over the framing before it, so
/// the body ends up in one piece right after the head. Returns the body and where the message ends.
async fn read_chunked<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    start: usize,
    max: u64,
) -> Result<(Range<usize>, usize), BodyError> {
    let (mut written, mut read) = (start, start);
    loop {
        let line = next_line(io, buf, read).await?;
        let size = chunk_size(&buf[read..line])?;
        read = line + 2;
        if size == 0 {
            // Trailers, if any, up to the empty line that ends the message.
            let mut trailers = 0;
            loop {
                let line = next_line(io, buf, read).await?;
                let empty = line == read;
                trailers += line - read;
                read = line + 2;
                if empty {
                    return Ok((start..written, read));
                }
                if trailers > MAX_CHUNK_LINE {
                    return Err(BodyError::Malformed("trailers too large"));
                }
            }
        }
        if (written - start) as u64 + size > max {
            return Err(BodyError::TooLarge(max));
        }
        let size = usize::try_from(size).map_err(|_| BodyError::TooLarge(max))?;
        read_to(io, buf, read + size + 2).await?;
        if &buf[read + size..read + size + 2] != b"\r\n" {
            return Err(BodyError::Malformed("chunk data longer than its size"));
        }
        buf.copy_within(read..read + size, written);
        written += size;
        read += size + 2;
        if read - written > MAX_SLACK {
            buf.drain(written..read);
            read = written;
        }
    }
}

/// Reads until `buf` holds at least `end` bytes, growing it once to exactly that.
async fn read_to<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    end: usize,
) -> Result<(), BodyError> {
    buf.reserve(end.saturating_sub(buf.len()));
    while buf.len() < end {
        match io.read_buf(buf).await {
            Ok(0) => return Err(BodyError::BrokeOff),
            Ok(_) => {}
            Err(err) => return Err(BodyError::Io(err)),
        }
    }
    Ok(())
}

/// The end (the index of its CR) of the line starting at `from`, reading more as needed.
async fn next_line<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
    from: usize,
) -> Result<usize, BodyError> {
    loop {
        if let Some(at) = buf[from..].windows(2).position(|pair| pair == b"\r\n") {
            return Ok(from + at);
        }
        if buf.len() - from > MAX_CHUNK_LINE {
            return Err(BodyError::Malformed("chunk line too long"));
        }
        match fill(io, buf).await {
            Ok(0) => return Err(BodyError::BrokeOff),
            Ok(_) => {}
            Err(err) => return Err(BodyError::Io(err)),
        }
    }
}

/// The size on a chunk-size line, extensions ignored.
fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let digits = line.split(|&byte| byte == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits).unwrap_or_default().trim();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BodyError::Malformed("invalid chunk size"));
    }
    u64::from_str_radix(digits, 16).map_err(|_| BodyError::Malformed("invalid chunk size"))
}

#[cfg(test)]
mod tests;

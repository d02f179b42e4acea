use super::{BodyError, Framing, HeadError, read_body, read_head};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// A connection that delivers `data` at most `step` bytes per read, then ends.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let end = self
            .data
            .len()
            .min(self.at + self.step)
            .min(self.at + out.remaining());
        let piece = self.data[self.at..end].to_vec();
        out.put_slice(&piece);
        self.at = end;
        Poll::Ready(Ok(()))
    }
}

/// What one response reads as: status, body, and whether the connection is reusable; or the error.
async fn exchange(response: &[u8], step: usize, max: u64) -> Result<(u16, Vec<u8>, bool), String> {
    let mut io = Trickle {
        data: response.to_vec(),
        at: 0,
        step,
    };
    let mut buf = Vec::new();
    let head = read_head(&mut io, &mut buf)
        .await
        .map_err(|e| e.to_string())?;
    let (body, reusable) = read_body(&mut io, &mut buf, &head, max)
        .await
        .map_err(|e| e.to_string())?;
    Ok((head.status, buf[body].to_vec(), reusable))
}

/// The same response read at every split, from one byte per read to all at once, must read the
/// same.
async fn at_every_split(response: &[u8], max: u64) -> Result<(u16, Vec<u8>, bool), String> {
    let whole = exchange(response, response.len().max(1), max).await;
    for step in 1..response.len() {
        assert_eq!(
            exchange(response, step, max).await,
            whole,
            "read {step} bytes at a time"
        );
    }
    whole
}

fn ok(body: &[u8], reusable: bool) -> Result<(u16, Vec<u8>, bool), String> {
    Ok((200, body.to_vec(), reusable))
}

#[tokio::test]
async fn a_content_length_body_is_read_exactly_and_leaves_the_connection_reusable() {
    let response =
        b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 11\r\n\r\nhello world";
    assert_eq!(
        at_every_split(response, 1024).await,
        ok(b"hello world", true)
    );
}

#[tokio::test]
async fn a_chunked_body_is_decoded_with_extensions_and_trailers_ignored() {
    let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
        5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n";
    assert_eq!(
        at_every_split(response, 1024).await,
        ok(b"hello 0123456789", true)
    );
    let bare = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(at_every_split(bare, 1024).await, ok(b"abc", true));
}

#[tokio::test]
async fn without_a_length_the_body_ends_with_the_connection_which_is_not_reused() {
    let response = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7 body";
    assert_eq!(
        at_every_split(response, 1024).await,
        ok(b"%PDF-1.7 body", false)
    );
    let gzip_only = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw";
    assert_eq!(at_every_split(gzip_only, 1024).await, ok(b"raw", false));
}

#[tokio::test]
async fn connection_close_http_1_0_extra_bytes_and_two_lengths_each_prevent_reuse() {
    for response in [
        &b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok"[..],
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ] {
        assert_eq!(exchange(response, 4096, 1024).await, ok(b"ok", false));
    }
}

#[tokio::test]
async fn interim_1xx_heads_are_skipped_and_204_has_no_body() {
    let response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(at_every_split(response, 1024).await, ok(b"ok", true));
    let empty = b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n";
    assert_eq!(
        exchange(empty, 4096, 1024).await,
        Ok((204, Vec::new(), true))
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_however_it_is_framed() {
    let too_large = Err(BodyError::TooLarge(8).to_string());
    for response in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n4\r\n1234\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n123456789",
    ] {
        assert_eq!(exchange(response, 4096, 8).await, too_large);
    }
    let at_limit = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n12345678";
    assert_eq!(exchange(at_limit, 4096, 8).await, ok(b"12345678", true));
}

#[tokio::test]
async fn a_body_cut_short_is_an_error_not_a_shorter_body() {
    let broke_off = Err(BodyError::BrokeOff.to_string());
    for response in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"[..],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n123",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n",
    ] {
        assert_eq!(at_every_split(response, 1024).await, broke_off);
    }
}

#[tokio::test]
async fn malformed_framing_is_refused() {
    for (response, expected) in [
        (
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"[..],
            HeadError::Malformed("invalid Content-Length").to_string(),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab",
            HeadError::Malformed("invalid Content-Length").to_string(),
        ),
        (
            b"SSH-2.0-OpenSSH\r\n\r\n",
            HeadError::Malformed("not an HTTP/1.x response").to_string(),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\n12345\r\n0\r\n\r\n",
            BodyError::Malformed("invalid chunk size").to_string(),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n12345\r\n0\r\n\r\n",
            BodyError::Malformed("chunk data longer than its size").to_string(),
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            HeadError::Malformed("unexpected protocol switch").to_string(),
        ),
    ] {
        assert_eq!(exchange(response, 4096, 1024).await, Err(expected));
    }
    let two_equal_lengths = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nab";
    assert_eq!(
        exchange(two_equal_lengths, 4096, 1024).await,
        ok(b"ab", true)
    );
}

#[tokio::test]
async fn a_head_without_end_is_refused_once_it_passes_the_limit() {
    let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
    while endless.len() <= super::MAX_HEAD + 4096 {
        endless.extend_from_slice(b"X-Filler: 0123456789\r\n");
    }
    let result = exchange(&endless, 4096, 1024).await;
    assert!(
        result == Err(HeadError::Malformed("head too large").to_string())
            || result == Err(HeadError::Malformed("too many headers").to_string()),
        "{result:?}"
    );
}

#[tokio::test]
async fn only_a_connection_that_ended_before_any_response_byte_counts_as_nothing_received() {
    let mut buf = Vec::new();
    let mut silent = Trickle {
        data: Vec::new(),
        at: 0,
        step: 1,
    };
    let closed = read_head(&mut silent, &mut buf)
        .await
        .expect_err("no response");
    assert!(closed.nothing_received(), "{closed}");

    let mut partial = Trickle {
        data: b"HTTP/1.1 200".to_vec(),
        at: 0,
        step: 4,
    };
    let cut = read_head(&mut partial, &mut Vec::new())
        .await
        .expect_err("cut head");
    assert!(!cut.nothing_received(), "{cut}");

    let reset = HeadError::Io(std::io::ErrorKind::ConnectionReset.into());
    assert!(reset.nothing_received());
    assert!(!HeadError::Io(std::io::ErrorKind::TimedOut.into()).nothing_received());
}

#[test]
fn framing_follows_rfc_9112_section_6_3() {
    let framing = |response: &[u8]| {
        super::parse_head(response)
            .expect("valid")
            .map(|head| (head.framing, head.keep_alive))
    };
    assert_eq!(
        framing(b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Some((Framing::Length(0), true))
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"),
        None,
        "incomplete"
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        Some((Framing::UntilClose, false)),
        "chunked only counts last"
    );
}

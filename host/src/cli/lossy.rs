//! Standard input for the MCP session, with bytes that are not UTF-8 replaced.
//!
//! rmcp drops a JSON-RPC line that is not UTF-8 without answering, so the client would wait
//! forever for that request. Replacing each invalid sequence with U+FFFD (as
//! `String::from_utf8_lossy` does) keeps the line a request that gets an answer; the SQL
//! analysis then refuses any statement holding U+FFFD, saying bytes were replaced, so nothing
//! altered in transit ever runs.

use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// An [`AsyncRead`] that yields only valid UTF-8.
pub struct LossyUtf8<R> {
    inner: R,
    /// Checked bytes not yet handed out.
    ready: Vec<u8>,
    /// The start of a character whose remaining bytes have not arrived yet.
    pending: Vec<u8>,
    eof: bool,
}

impl<R> LossyUtf8<R> {
    pub fn new(inner: R) -> Self {
        LossyUtf8 {
            inner,
            ready: Vec::new(),
            pending: Vec::new(),
            eof: false,
        }
    }

    /// Move `pending` into `ready`, replacing what is invalid; keep an incomplete tail unless
    /// the input ended.
    fn convert(&mut self) {
        let mut rest: &[u8] = &self.pending;
        let mut out = Vec::with_capacity(rest.len());
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    out.extend_from_slice(valid.as_bytes());
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.extend_from_slice(valid);
                    match e.error_len() {
                        Some(bad) => {
                            out.extend_from_slice(REPLACEMENT);
                            rest = &after[bad..];
                        }
                        None if self.eof => {
                            out.extend_from_slice(REPLACEMENT);
                            rest = &[];
                            break;
                        }
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let tail = rest.to_vec();
        self.ready.extend_from_slice(&out);
        self.pending = tail;
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LossyUtf8<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        while this.ready.is_empty() && !this.eof {
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    if read.filled().is_empty() {
                        this.eof = true;
                    }
                    this.pending.extend_from_slice(read.filled());
                    this.convert();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = this.ready.len().min(buf.remaining());
        buf.put_slice(&this.ready[..n]);
        this.ready.drain(..n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::LossyUtf8;
    use tokio::io::AsyncReadExt;

    async fn through(input: &[u8], chunk: usize) -> String {
        let (mut tx, rx) = tokio::io::duplex(chunk.max(1));
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for piece in input.chunks(chunk.max(1)) {
                tx.write_all(piece).await.expect("write");
            }
        });
        let mut out = Vec::new();
        LossyUtf8::new(rx)
            .read_to_end(&mut out)
            .await
            .expect("read");
        writer.await.expect("writer");
        String::from_utf8(out).expect("only UTF-8 comes out")
    }

    #[tokio::test]
    async fn valid_text_passes_unchanged_in_any_chunking() {
        let text = "SELECT 'é€𝄞' -- ok\n{\"x\": \"ü\"}\n";
        for chunk in [1, 2, 3, 5, 64] {
            assert_eq!(through(text.as_bytes(), chunk).await, text);
        }
    }

    #[tokio::test]
    async fn invalid_bytes_become_replacement_characters() {
        let input = b"a\xff\xfeb\xe2\x82c\n\xf0\x9d";
        for chunk in [1, 2, 64] {
            assert_eq!(
                through(input, chunk).await,
                String::from_utf8_lossy(input),
                "chunk {chunk}"
            );
        }
    }
}

//! A cap on the size of any single message the server sends, enforced before it is buffered.
//!
//! tokio-postgres reads a whole protocol message into memory before handing it over, and a
//! data row is one message: `SELECT repeat('x', 500000000)` would make it buffer 500 MB, and no
//! row or byte cap applied afterwards could help. This stream wrapper sits under the driver's
//! framing (above TLS, when TLS is used), follows the message boundaries (one tag byte, a
//! four-byte length), and fails the read as soon as a header announces a message over the
//! limit — after handing over every complete message before it, and none of its bytes. The
//! connection dies with it; the executor reports what tripped ([`Tripped`]) and discards the
//! connection.
//!
//! Before the startup exchange a client may send an `SSLRequest`, answered by one unframed
//! byte; the wrapper watches the first write for it. Once TLS starts on a wrapped raw socket,
//! the raw wrapper is switched off ([`Capped::disarm`]) and the wrapper around the TLS stream
//! does the counting.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsStream};

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const DATA_ROW: u8 = b'D';

/// The largest message accepted, by kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// A data row (`D`).
    pub row: usize,
    /// Anything else (errors, notices, row descriptions, …).
    pub other: usize,
}

/// The message that ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tripped {
    pub row: bool,
    pub size: usize,
    pub limit: usize,
}

/// Shared between a connection's stream and its owner, which reads it after an error.
#[derive(Debug, Default)]
pub(crate) struct Trip(Mutex<Option<Tripped>>);

impl Trip {
    pub fn get(&self) -> Option<Tripped> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, tripped: Tripped) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(tripped);
    }
}

#[derive(Debug)]
enum State {
    /// Not counting (TLS runs underneath another wrapper).
    Off,
    /// The next byte is the unframed answer to an `SSLRequest`.
    SslAnswer,
    Header {
        bytes: [u8; 5],
        have: usize,
    },
    Body {
        left: usize,
    },
    Failed,
}

/// A stream that refuses to pass on a message larger than its [`Limits`].
pub(crate) struct Capped<S> {
    inner: S,
    limits: Limits,
    trip: Arc<Trip>,
    state: State,
    written: bool,
}

impl<S> Capped<S> {
    pub fn new(inner: S, limits: Limits, trip: Arc<Trip>) -> Capped<S> {
        Capped {
            inner,
            limits,
            trip,
            state: State::Header {
                bytes: [0; 5],
                have: 0,
            },
            written: false,
        }
    }

    /// Stop counting: TLS is about to start on this stream.
    pub fn disarm(&mut self) {
        self.state = State::Off;
    }

    /// Follow the framing through `data`. Returns how many of its bytes may be handed over,
    /// and whether the limit tripped.
    fn scan(&mut self, data: &[u8]) -> (usize, bool) {
        let mut i = 0;
        let mut header_start = None;
        while i < data.len() {
            match &mut self.state {
                State::Off => return (data.len(), false),
                State::Failed => return (0, true),
                State::SslAnswer => {
                    self.state = if data[i] == b'S' {
                        State::Off
                    } else {
                        State::Header {
                            bytes: [0; 5],
                            have: 0,
                        }
                    };
                    i += 1;
                }
                State::Header { bytes, have } => {
                    if *have == 0 {
                        header_start = Some(i);
                    }
                    bytes[*have] = data[i];
                    *have += 1;
                    i += 1;
                    if *have == 5 {
                        let tag = bytes[0];
                        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
                        let len = len as usize;
                        let row = tag == DATA_ROW;
                        let limit = if row {
                            self.limits.row
                        } else {
                            self.limits.other
                        };
                        if len > limit {
                            self.trip.set(Tripped {
                                row,
                                size: len + 1,
                                limit,
                            });
                            self.state = State::Failed;
                            return (header_start.unwrap_or(0), true);
                        }
                        self.state = State::Body {
                            left: len.saturating_sub(4),
                        };
                    }
                }
                State::Body { left } => {
                    let take = (*left).min(data.len() - i);
                    *left -= take;
                    i += take;
                }
            }
            if matches!(self.state, State::Body { left: 0 }) {
                self.state = State::Header {
                    bytes: [0; 5],
                    have: 0,
                };
            }
        }
        (data.len(), false)
    }
}

fn too_large() -> io::Error {
    io::Error::other("the server sent a message larger than querygate accepts")
}

impl<S: AsyncRead + Unpin> AsyncRead for Capped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if matches!(self.state, State::Failed) {
            return Poll::Ready(Err(too_large()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let (pass, tripped) = {
            let this = &mut *self;
            this.scan(&buf.filled()[before..])
        };
        if tripped {
            if pass == 0 {
                return Poll::Ready(Err(too_large()));
            }
            buf.set_filled(before + pass);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Capped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.written {
            self.written = true;
            if data.starts_with(&SSL_REQUEST) && !matches!(self.state, State::Off) {
                self.state = State::SslAnswer;
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for Capped<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capped() -> (Capped<()>, Arc<Trip>) {
        let trip = Arc::new(Trip::default());
        let limits = Limits {
            row: 100,
            other: 50,
        };
        (Capped::new((), limits, trip.clone()), trip)
    }

    fn message(tag: u8, body: usize) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&((body + 4) as u32).to_be_bytes());
        m.extend(std::iter::repeat_n(b'x', body));
        m
    }

    #[test]
    fn messages_up_to_the_limit_pass_in_any_split() {
        let (mut c, trip) = capped();
        let mut stream = message(b'D', 96); // length field 100: exactly the limit
        stream.extend(message(b'C', 46));
        for chunk in stream.chunks(3) {
            assert_eq!(c.scan(chunk), (chunk.len(), false));
        }
        assert_eq!(trip.get(), None);
    }

    #[test]
    fn an_oversized_row_is_cut_before_its_header() {
        let (mut c, trip) = capped();
        let mut stream = message(b'D', 10);
        let ok = stream.len();
        stream.extend(message(b'D', 97)); // length 101
        assert_eq!(c.scan(&stream), (ok, true));
        assert_eq!(
            trip.get(),
            Some(Tripped {
                row: true,
                size: 102,
                limit: 100
            })
        );
        assert_eq!(c.scan(b"more"), (0, true));
    }

    #[test]
    fn other_messages_have_their_own_limit_and_ssl_answers_are_unframed() {
        let (mut c, trip) = capped();
        c.state = State::SslAnswer;
        let mut stream = vec![b'N'];
        stream.extend(message(b'E', 47)); // length 51 > 50
        assert_eq!(c.scan(&stream), (1, true));
        assert_eq!(trip.get().map(|t| t.row), Some(false));
    }
}

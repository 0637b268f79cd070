//! Body types: [`GatewayBody`], what the gateway answers (an upstream's stream passed through
//! frame by frame, or bytes of its own), and [`EventStream`], a `text/event-stream` fed by a
//! channel (stdio upstreams).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use tokio::sync::mpsc;

/// The error type of streamed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body of the gateway. Frames are handed to the connection as they arrive, so an
/// SSE event from the upstream is written (and flushed) to the client without waiting for
/// the next one.
#[derive(Debug)]
pub struct GatewayBody(UnsyncBoxBody<Bytes, BoxError>);

impl GatewayBody {
    /// A body of bytes held in memory.
    pub fn full(data: impl Into<Bytes>) -> Self {
        Self::new(http_body_util::Full::new(data.into()))
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::new(http_body_util::Empty::new())
    }

    /// Wraps any body (streamed as it is polled).
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self(body.map_err(Into::into).boxed_unsync())
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// How often an idle [`EventStream`] sends an SSE comment, so that intermediaries do not
/// close a quiet stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// A `text/event-stream` body: each JSON-RPC message received on the channel becomes one
/// `data:` event, written as soon as it arrives. The stream ends when every sender is gone.
/// Whatever is in `holds` lives as long as the stream (e.g. a registration to undo when the
/// client goes away).
pub struct EventStream<T = Bytes> {
    first: Option<T>,
    rx: mpsc::Receiver<T>,
    keep_alive: tokio::time::Interval,
    _holds: Option<Box<dyn Send + Sync>>,
}

impl<T> EventStream<T> {
    /// A stream that starts with `first` (if any), then relays `rx`.
    pub fn new(
        first: Option<T>,
        rx: mpsc::Receiver<T>,
        holds: Option<Box<dyn Send + Sync>>,
    ) -> Self {
        let mut keep_alive =
            tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            first,
            rx,
            keep_alive,
            _holds: holds,
        }
    }
}

/// One SSE event carrying `message` (a JSON-RPC message on one line).
pub fn sse_event(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(message.len() + 22);
    out.put_slice(b"event: message\ndata: ");
    out.put_slice(message);
    out.put_slice(b"\n\n");
    out.freeze()
}

impl<T: AsRef<[u8]> + Unpin> Body for EventStream<T> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(sse_event(first.as_ref())))));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(msg)) => {
                return Poll::Ready(Some(Ok(Frame::data(sse_event(msg.as_ref())))));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        match self.keep_alive.poll_tick(cx) {
            Poll::Ready(_) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                b": keep-alive\n\n",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn event_stream_frames_each_message_and_ends_with_its_senders() {
        let (tx, rx) = mpsc::channel(4);
        let body = EventStream::new(Some(Bytes::from_static(b"{\"a\":1}")), rx, None);
        tx.send(Bytes::from_static(b"{\"b\":2}")).await.unwrap();
        drop(tx);
        let all = GatewayBody::new(body).collect().await.unwrap().to_bytes();
        assert_eq!(
            &all[..],
            b"event: message\ndata: {\"a\":1}\n\nevent: message\ndata: {\"b\":2}\n\n"
        );
    }
}

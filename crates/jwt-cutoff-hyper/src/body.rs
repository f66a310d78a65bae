//! [`ResponseBody`]: the handler's body, or the layer's empty refusal body.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of a guarded hyper service: the handler's own body `B`, or the empty
    /// body of a refusal.
    ///
    /// [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer)'s default responder makes refusal bodies
    /// with [`Default`], which most streaming bodies (and hyper's `Incoming`) do not implement.
    /// [`Handler`](crate::Handler) wraps every response body in this type, whose default is an
    /// empty body, so a handler may return any [`Body`]; frames, errors, size hints and
    /// trailers of `B` pass through unchanged.
    ///
    /// A custom [`Responder`](jwt_cutoff::Responder) in front of a [`Handler`](crate::Handler)
    /// answers with `Response<ResponseBody<B>>`: [`ResponseBody::empty`], or a body of the
    /// handler's type wrapped with [`ResponseBody::new`] (or `From`).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::Response;
    /// use http_body_util::Full;
    /// use jwt_cutoff::{Rejection, Rfc6750Responder};
    /// use jwt_cutoff_hyper::ResponseBody;
    ///
    /// // Refusals with a short text body, for a handler that answers with `Full<Bytes>`.
    /// let rfc6750 = Rfc6750Responder::new();
    /// let responder = move |rejection: &Rejection| -> Response<ResponseBody<Full<Bytes>>> {
    ///     let text = Full::from(rejection.reason().description());
    ///     rfc6750.respond_with(rejection, ResponseBody::new(text))
    /// };
    /// # let _ = responder;
    /// ```
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Empty,
    }
}

impl<B> ResponseBody<B> {
    /// The handler's `body`, passed through unchanged.
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }

    /// An empty body: no frames, no trailers.
    #[must_use]
    pub fn empty() -> Self {
        Self { kind: Kind::Empty }
    }
}

impl<B> Default for ResponseBody<B> {
    /// An empty body, as the layer's default responder writes for refusals.
    fn default() -> Self {
        Self::empty()
    }
}

impl<B> From<B> for ResponseBody<B> {
    fn from(body: B) -> Self {
        Self::new(body)
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Empty => "empty",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Empty => SizeHint::with_exact(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};

    use super::*;

    #[tokio::test]
    async fn the_default_is_empty_and_ended() {
        let body = ResponseBody::<Full<Bytes>>::default();
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        let collected = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(collected, Ok(Bytes::new()));
    }

    #[tokio::test]
    async fn an_inner_body_passes_through() {
        let body = ResponseBody::new(Full::new(Bytes::from_static(b"hello")));
        assert_eq!(body.size_hint().exact(), Some(5));
        let collected = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(collected, Ok(Bytes::from_static(b"hello")));
    }
}

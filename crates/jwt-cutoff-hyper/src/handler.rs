//! [`Handler`]: a hyper service as the tower service a tower layer wraps.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::ResponseBody;

/// A hyper service, such as [`hyper::service::service_fn`], as a tower [`Service`], so
/// [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer) (or any tower layer) can wrap it.
///
/// hyper 1 services are called through `&self` and are always ready; tower layers wrap tower
/// services. `Handler` bridges the two: it is always ready, shares the hyper service behind an
/// [`Arc`] (so the service need not be `Clone`, and the per-request clones the layer makes are
/// cheap), and wraps every response body in a [`ResponseBody`], so refusals have a body whatever
/// the handler returns. [`guard`](crate::guard) builds the whole stack in one call; use `Handler`
/// directly to put other tower layers around it too.
///
/// ```
/// use std::convert::Infallible;
///
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Empty;
/// use bytes::Bytes;
/// use jwt_cutoff::{Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, Validator, VerifyingKey};
/// use jwt_cutoff_hyper::Handler;
/// use tower::{Layer as _, ServiceExt as _};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let validator = Validator::builder()
///     .algorithms([Algorithm::HS256])
///     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
///     .build(CutoffCache::new(MemoryStore::new()))?;
/// let handler = hyper::service::service_fn(|_: Request<String>| async {
///     Ok::<_, Infallible>(Response::new(Empty::<Bytes>::new()))
/// });
/// let guarded = JwtCutoffLayer::new(validator).layer(Handler::new(handler));
///
/// // No token: the layer answers, with an empty `ResponseBody`.
/// let response = guarded.oneshot(Request::new(String::new())).await?;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
pub struct Handler<S> {
    service: Arc<S>,
}

impl<S> Handler<S> {
    /// Wraps the hyper service `service`.
    pub fn new(service: S) -> Self {
        Self {
            service: Arc::new(service),
        }
    }

    /// The wrapped hyper service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S> Clone for Handler<S> {
    fn clone(&self) -> Self {
        Self {
            service: Arc::clone(&self.service),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Handler<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handler")
            .field("service", &self.service)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Handler<S>
where
    S: hyper::service::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = HandlerFuture<S::Future>;

    /// Always ready: hyper services have no readiness.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        HandlerFuture {
            future: self.service.call(request),
        }
    }
}

pin_project! {
    /// The response future of [`Handler`]: the hyper service's future, with the response body
    /// wrapped in a [`ResponseBody`].
    pub struct HandlerFuture<F> {
        #[pin]
        future: F,
    }
}

impl<F> fmt::Debug for HandlerFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for HandlerFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().future.poll(cx))?;
        Poll::Ready(Ok(response.map(ResponseBody::new)))
    }
}

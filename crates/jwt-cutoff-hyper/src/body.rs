//! Response bodies: which ones the layer can answer with, and [`BoxBody`] for the rest.

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt as _;

/// A boxed error, as [`BoxBody`] and hyper carry them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Any response body, boxed.
///
/// [`JwtCutoffLayer`](jwt_cutoff::JwtCutoffLayer)'s default responder writes refusals with an
/// empty body made by `Default`, so the guarded service's response body must implement
/// [`Default`]. `Full<Bytes>`, `Empty<Bytes>`, `String` and this type do. A handler that streams
/// (or returns different body types on different paths) returns `Response<BoxBody>` and wraps each
/// body with [`boxed`].
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Boxes `body` into a [`BoxBody`], converting its error.
///
/// ```
/// use bytes::Bytes;
/// use http::Response;
/// use http_body_util::Full;
/// use jwt_cutoff_hyper::{BoxBody, boxed};
///
/// let response: Response<BoxBody> = Response::new(boxed(Full::new(Bytes::from("hello"))));
/// # let _ = response;
/// ```
pub fn boxed<B>(body: B) -> BoxBody
where
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed()
}

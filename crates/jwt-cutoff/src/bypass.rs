//! [`Bypass`]: which requests pass the layer untouched (a health check, a public route).

use http::Request;

/// Decides which requests pass [`JwtCutoffLayer`](crate::JwtCutoffLayer) untouched: no token is
/// needed, nothing is checked, and nothing is put in their extensions.
///
/// Any `Fn(&Request<B>) -> bool` is one; the gRPC adapter's list of unguarded services is another.
///
/// ```
/// use http::Request;
/// use jwt_cutoff::{JwtCutoffLayer, Validator};
///
/// fn layer<B>(validator: Validator) -> JwtCutoffLayer<jwt_cutoff::NoClaims, jwt_cutoff::Rfc6750Responder, impl jwt_cutoff::Bypass<B> + Clone> {
///     JwtCutoffLayer::new(validator).bypass(|request: &Request<B>| request.uri().path() == "/healthz")
/// }
/// ```
pub trait Bypass<B> {
    /// Whether `request` passes without any check.
    fn bypass(&self, request: &Request<B>) -> bool;
}

impl<F, B> Bypass<B> for F
where
    F: Fn(&Request<B>) -> bool,
{
    fn bypass(&self, request: &Request<B>) -> bool {
        self(request)
    }
}

/// Bypasses nothing: every request is checked (the layer's default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoBypass;

impl<B> Bypass<B> for NoBypass {
    fn bypass(&self, _request: &Request<B>) -> bool {
        false
    }
}

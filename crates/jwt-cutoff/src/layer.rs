//! [`JwtCutoffLayer`]: the tower layer, configured once.

use std::fmt;

use tower_layer::Layer;

use crate::claims::NoClaims;
use crate::reject::Rfc6750Responder;
use crate::service::JwtCutoff;
use crate::validate::Validator;

/// Guards a service: each request needs a valid bearer token issued after its subject's cutoff.
///
/// Accepted requests reach the inner service with a [`Verified<C>`](crate::Verified) in their
/// extensions. Refused ones never reach it: the [`Responder`](crate::Responder) answers them
/// (RFC 6750 by default: 401 with `WWW-Authenticate`, 400 for a malformed header, 503 with
/// `Retry-After` when the cutoff store cannot answer).
///
/// See the [crate docs](crate) for a complete example.
#[must_use]
pub struct JwtCutoffLayer<C = NoClaims, R = Rfc6750Responder> {
    validator: Validator<C>,
    responder: R,
    optional: bool,
}

impl<C, R: Clone> Clone for JwtCutoffLayer<C, R> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
            responder: self.responder.clone(),
            optional: self.optional,
        }
    }
}

impl<C, R: fmt::Debug> fmt::Debug for JwtCutoffLayer<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCutoffLayer")
            .field("validator", &self.validator)
            .field("responder", &self.responder)
            .field("optional", &self.optional)
            .finish()
    }
}

impl<C> JwtCutoffLayer<C> {
    /// A layer that checks every request with `validator`.
    pub fn new(validator: Validator<C>) -> Self {
        Self {
            validator,
            responder: Rfc6750Responder::new(),
            optional: false,
        }
    }
}

impl<C, R> JwtCutoffLayer<C, R> {
    /// Answers refused requests with `responder` instead.
    pub fn responder<T>(self, responder: T) -> JwtCutoffLayer<C, T> {
        JwtCutoffLayer {
            validator: self.validator,
            responder,
            optional: self.optional,
        }
    }

    /// Lets requests without any bearer token through, without a [`Verified`](crate::Verified) in
    /// their extensions. A token that is present but invalid or revoked is still refused.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The validator every request goes through.
    #[must_use]
    pub fn validator(&self) -> &Validator<C> {
        &self.validator
    }
}

impl<S, C, R: Clone> Layer<S> for JwtCutoffLayer<C, R> {
    type Service = JwtCutoff<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtCutoff::new(
            inner,
            self.validator.clone(),
            self.responder.clone(),
            self.optional,
        )
    }
}

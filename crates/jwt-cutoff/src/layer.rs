//! [`JwtCutoffLayer`]: the tower layer, configured once.

use std::fmt;

use tower_layer::Layer;

use crate::bypass::NoBypass;
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
pub struct JwtCutoffLayer<C = NoClaims, R = Rfc6750Responder, P = NoBypass> {
    validator: Validator<C>,
    responder: R,
    bypass: P,
    optional: bool,
}

impl<C, R: Clone, P: Clone> Clone for JwtCutoffLayer<C, R, P> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
            responder: self.responder.clone(),
            bypass: self.bypass.clone(),
            optional: self.optional,
        }
    }
}

impl<C, R: fmt::Debug, P> fmt::Debug for JwtCutoffLayer<C, R, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCutoffLayer")
            .field("validator", &self.validator)
            .field("responder", &self.responder)
            .field("optional", &self.optional)
            .finish_non_exhaustive()
    }
}

impl<C> JwtCutoffLayer<C> {
    /// A layer that checks every request with `validator`.
    pub fn new(validator: Validator<C>) -> Self {
        Self {
            validator,
            responder: Rfc6750Responder::new(),
            bypass: NoBypass,
            optional: false,
        }
    }
}

impl<C, R, P> JwtCutoffLayer<C, R, P> {
    /// Answers refused requests with `responder` instead.
    pub fn responder<T>(self, responder: T) -> JwtCutoffLayer<C, T, P> {
        JwtCutoffLayer {
            validator: self.validator,
            responder,
            bypass: self.bypass,
            optional: self.optional,
        }
    }

    /// Lets the requests `bypass` picks through untouched: no token needed, nothing checked,
    /// no [`Verified`](crate::Verified) in their extensions (see [`Bypass`](crate::Bypass)).
    pub fn bypass<T>(self, bypass: T) -> JwtCutoffLayer<C, R, T> {
        JwtCutoffLayer {
            validator: self.validator,
            responder: self.responder,
            bypass,
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

impl<S, C, R: Clone, P: Clone> Layer<S> for JwtCutoffLayer<C, R, P> {
    type Service = JwtCutoff<S, C, R, P>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtCutoff::new(
            inner,
            self.validator.clone(),
            self.responder.clone(),
            self.bypass.clone(),
            self.optional,
        )
    }
}

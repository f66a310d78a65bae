//! [`JwtCutoff`]: the service, and the [`ResponseFuture`] that checks the cutoff, then calls inside.

use std::fmt;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::bearer::bearer_token;
use crate::bypass::{Bypass, NoBypass};
use crate::claims::NoClaims;
use crate::reject::{Reason, Rejection, Responder, Rfc6750Responder, record_refusal, recorded};
use crate::validate::{Unverified, Validator};
use jwt_cutoff_store::BoxFuture;

/// The service made by [`JwtCutoffLayer`](crate::JwtCutoffLayer).
pub struct JwtCutoff<S, C = NoClaims, R = Rfc6750Responder, P = NoBypass> {
    inner: S,
    validator: Validator<C>,
    responder: R,
    bypass: P,
    optional: bool,
}

impl<S, C, R, P> JwtCutoff<S, C, R, P> {
    pub(crate) fn new(
        inner: S,
        validator: Validator<C>,
        responder: R,
        bypass: P,
        optional: bool,
    ) -> Self {
        Self {
            inner,
            validator,
            responder,
            bypass,
            optional,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, by value.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, C, R: Clone, P: Clone> Clone for JwtCutoff<S, C, R, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            validator: self.validator.clone(),
            responder: self.responder.clone(),
            bypass: self.bypass.clone(),
            optional: self.optional,
        }
    }
}

impl<S: fmt::Debug, C, R: fmt::Debug, P> fmt::Debug for JwtCutoff<S, C, R, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCutoff")
            .field("inner", &self.inner)
            .field("validator", &self.validator)
            .field("responder", &self.responder)
            .field("optional", &self.optional)
            .finish_non_exhaustive()
    }
}

impl<S, C, R, P, ReqBody, ResBody> Service<Request<ReqBody>> for JwtCutoff<S, C, R, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    ReqBody: Send + 'static,
    ResBody: 'static,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    R: Responder<ResBody>,
    P: Bypass<ReqBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone is left behind for the next call; this request goes to the instance that was
        // polled ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        if self.bypass.bypass(&request) {
            return ResponseFuture::calling(inner.call(request));
        }
        let token = match bearer_token(request.headers(), self.validator.max_token_bytes()) {
            Ok(token) => token,
            Err(Reason::MissingToken) if self.optional => {
                return ResponseFuture::calling(inner.call(request));
            }
            Err(reason) => return self.reject(Rejection::new(reason)),
        };
        let checked = match self.validator.verify_bearer(token) {
            Ok(checked) => checked,
            Err(Unverified::NeedsKeys(issuer)) => {
                // Rare: a trusted issuer's token naming a key not fetched yet.
                let token = match token.text() {
                    Ok(text) => text.to_owned(),
                    Err(reason) => return self.reject(Rejection::new(reason)),
                };
                return self.after_fetch(inner, request, token, issuer);
            }
            Err(Unverified::Refused(reason)) => return self.reject(Rejection::new(reason)),
        };
        if let Some(result) = self.validator.check_cutoff_cached(&checked) {
            return match recorded(result) {
                Ok(()) => {
                    request.extensions_mut().insert(checked.into_verified());
                    ResponseFuture::calling(inner.call(request))
                }
                Err(rejection) => self.respond(&rejection),
            };
        }
        let verified = checked.into_verified();
        let query = verified.cutoff_query();
        let validator = self.validator.clone();
        let responder = self.responder.clone();
        // Handed to the inner service only if the cutoff check below passes.
        request.extensions_mut().insert(verified);
        let check = Box::pin(async move {
            match recorded(validator.check_cutoffs(&query).await) {
                Ok(()) => Ok((inner, request)),
                Err(rejection) => Err(responder.respond(&rejection)),
            }
        });
        ResponseFuture {
            state: State::Checking { check },
        }
    }
}

impl<S, C, R, P> JwtCutoff<S, C, R, P> {
    /// The whole check of a token whose trusted issuer's keys must be fetched first.
    fn after_fetch<ReqBody, ResBody>(
        &self,
        inner: S,
        mut request: Request<ReqBody>,
        token: String,
        issuer: usize,
    ) -> ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send + 'static,
        ReqBody: Send + 'static,
        ResBody: 'static,
        C: DeserializeOwned + Clone + Send + Sync + 'static,
        R: Responder<ResBody>,
    {
        let validator = self.validator.clone();
        let responder = self.responder.clone();
        let check = Box::pin(async move {
            let checked = validator.verify_after_fetch(&token, issuer).await;
            match validator.admit(checked).await {
                Ok(verified) => {
                    request.extensions_mut().insert(verified);
                    Ok((inner, request))
                }
                Err(rejection) => Err(responder.respond(&rejection)),
            }
        });
        ResponseFuture {
            state: State::Checking { check },
        }
    }

    fn reject<ReqBody, ResBody>(&self, rejection: Rejection) -> ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        R: Responder<ResBody>,
    {
        record_refusal(&rejection);
        self.respond(&rejection)
    }

    fn respond<ReqBody, ResBody>(&self, rejection: &Rejection) -> ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        R: Responder<ResBody>,
    {
        ResponseFuture {
            state: State::Rejected {
                response: std::future::ready(self.responder.respond(rejection)),
            },
        }
    }
}

pin_project! {
    /// The response future of [`JwtCutoff`].
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, S::Future, S::Response>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, F, Res> {
        // The cutoff is being looked up; the service and the request wait inside the check, which
        // hands them back, or the refusal.
        Checking { check: BoxFuture<'static, Result<(S, Request<ReqBody>), Res>> },
        Calling { #[pin] future: F },
        Rejected { response: Ready<Res> },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
        }
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Checking { .. } => "checking",
            State::Calling { .. } => "calling",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Checking { check } => match ready!(check.as_mut().poll(cx)) {
                    Ok((mut inner, request)) => this.state.set(State::Calling {
                        future: inner.call(request),
                    }),
                    Err(refusal) => return Poll::Ready(Ok(refusal)),
                },
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Rejected { response } => return Pin::new(response).poll(cx).map(Ok),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::StatusCode;
    use tower::{ServiceBuilder, ServiceExt as _};

    use super::*;
    use crate::{Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, Verified, VerifyingKey};

    const SECRET: &[u8] = b"a bypass test secret of at least 32 bytes";

    #[tokio::test]
    async fn bypassed_requests_reach_the_service_unchecked_and_others_do_not() {
        let validator = Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(SECRET).unwrap())
            .build(CutoffCache::new(MemoryStore::new()))
            .unwrap();
        let service = ServiceBuilder::new()
            .layer(
                JwtCutoffLayer::new(validator)
                    .bypass(|request: &Request<()>| request.uri().path() == "/healthz"),
            )
            .service_fn(|request: Request<()>| async move {
                let verified = request.extensions().get::<Verified>().is_some();
                Ok::<_, Infallible>(Response::new(verified))
            });
        let call = |path: &str, authorization: Option<&str>| {
            let mut request = Request::get(path);
            if let Some(authorization) = authorization {
                request = request.header("authorization", authorization);
            }
            service.clone().oneshot(request.body(()).unwrap())
        };

        for authorization in [None, Some("Bearer not.a.token"), Some("Basic x")] {
            let response = call("/healthz", authorization).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{authorization:?}");
            assert!(
                !response.into_body(),
                "nothing verified, nothing in the extensions"
            );
            let response = call("/api", authorization).await.unwrap();
            assert_ne!(response.status(), StatusCode::OK, "{authorization:?}");
        }
        let response = call("/healthz/x", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

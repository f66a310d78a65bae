//! [`JwtCutoff`]: the service, and the [`ResponseFuture`] that checks the cutoff, then calls inside.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::bearer::bearer_token;
use crate::claims::NoClaims;
use crate::reject::{Reason, Rejection, Responder, Rfc6750Responder, record_refusal, recorded};
use crate::validate::Validator;
use jwt_cutoff_store::BoxFuture;

/// The service made by [`JwtCutoffLayer`](crate::JwtCutoffLayer).
pub struct JwtCutoff<S, C = NoClaims, R = Rfc6750Responder> {
    inner: S,
    validator: Validator<C>,
    responder: R,
    optional: bool,
}

impl<S, C, R> JwtCutoff<S, C, R> {
    pub(crate) fn new(inner: S, validator: Validator<C>, responder: R, optional: bool) -> Self {
        Self {
            inner,
            validator,
            responder,
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

impl<S: Clone, C, R: Clone> Clone for JwtCutoff<S, C, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            validator: self.validator.clone(),
            responder: self.responder.clone(),
            optional: self.optional,
        }
    }
}

impl<S: fmt::Debug, C, R: fmt::Debug> fmt::Debug for JwtCutoff<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCutoff")
            .field("inner", &self.inner)
            .field("validator", &self.validator)
            .field("responder", &self.responder)
            .field("optional", &self.optional)
            .finish()
    }
}

impl<S, C, R, ReqBody, ResBody> Service<Request<ReqBody>> for JwtCutoff<S, C, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    R: Responder<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone is left behind for the next call; this request goes to the instance that was
        // polled ready.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        let token = match bearer_token(request.headers(), self.validator.max_token_bytes()) {
            Ok(token) => token,
            Err(Reason::MissingToken) if self.optional => {
                return ResponseFuture::calling(inner.call(request));
            }
            Err(reason) => return self.reject(Rejection::new(reason)),
        };
        let verified = match self.validator.verify(token) {
            Ok(verified) => verified,
            Err(reason) => return self.reject(Rejection::new(reason)),
        };
        let judged = verified.judged_instant();
        if let Some(checked) = self
            .validator
            .check_cutoff_cached(&verified.subject, judged)
        {
            return match recorded(checked) {
                Ok(()) => {
                    request.extensions_mut().insert(verified);
                    ResponseFuture::calling(inner.call(request))
                }
                Err(rejection) => self.respond(&rejection),
            };
        }
        let validator = self.validator.clone();
        let subject = Arc::clone(&verified.subject);
        // Handed to the inner service only if the cutoff check below passes.
        request.extensions_mut().insert(verified);
        let check = Box::pin(async move { validator.check_cutoff(&subject, judged).await });
        ResponseFuture {
            state: State::Checking { check },
            pending: Some((inner, request)),
            responder: Some(self.responder.clone()),
        }
    }
}

impl<S, C, R> JwtCutoff<S, C, R> {
    fn reject<ReqBody, ResBody>(&self, rejection: Rejection) -> ResponseFuture<S, ReqBody, R>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        R: Responder<ResBody>,
    {
        record_refusal(&rejection);
        self.respond(&rejection)
    }

    fn respond<ReqBody, ResBody>(&self, rejection: &Rejection) -> ResponseFuture<S, ReqBody, R>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        R: Responder<ResBody>,
    {
        ResponseFuture {
            state: State::Rejected {
                response: Some(self.responder.respond(rejection)),
            },
            pending: None,
            responder: None,
        }
    }
}

pin_project! {
    /// The response future of [`JwtCutoff`].
    pub struct ResponseFuture<S, ReqBody, R>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S::Future, S::Response>,
        pending: Option<(S, Request<ReqBody>)>,
        responder: Option<R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, Res> {
        Checking { check: BoxFuture<'static, Result<(), Rejection>> },
        Calling { #[pin] future: F },
        Rejected { response: Option<Res> },
    }
}

impl<S, ReqBody, R> ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>>,
{
    fn calling(future: S::Future) -> Self {
        Self {
            state: State::Calling { future },
            pending: None,
            responder: None,
        }
    }
}

impl<S, ReqBody, R> fmt::Debug for ResponseFuture<S, ReqBody, R>
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

impl<S, ReqBody, R, ResBody> Future for ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: Responder<ResBody>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Checking { check } => {
                    let checked = recorded(ready!(check.as_mut().poll(cx)));
                    let (Some((mut inner, request)), Some(responder)) =
                        (this.pending.take(), this.responder.take())
                    else {
                        unreachable!("ResponseFuture polled after completion");
                    };
                    match checked {
                        Ok(()) => this.state.set(State::Calling {
                            future: inner.call(request),
                        }),
                        Err(rejection) => {
                            return Poll::Ready(Ok(responder.respond(&rejection)));
                        }
                    }
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Rejected { response } => {
                    let Some(response) = response.take() else {
                        unreachable!("ResponseFuture polled after completion");
                    };
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

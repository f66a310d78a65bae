//! Rejections that handlers return: [`MissingClaims`] from the extractor, [`AuthRejection`] for
//! everything a handler can `?`.

use std::error::Error as StdError;
use std::fmt;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use jwt_cutoff::{IssueError, Reason, Rejection, Rfc6750Responder, SourceError};

use crate::responder::{json_rejection, rejection_body, with_json_type};

/// The body of a 500: issuing failed. Details go to the log.
const SERVER_ERROR_BODY: &str =
    r#"{"error":"server_error","error_description":"tokens cannot be issued right now"}"#;

/// The [`Claims`](crate::Claims) extractor found no verified token in the request extensions.
///
/// The layer does not guard the route (or guards it in optional mode and no token came), or its
/// validator reads another claims type. Answered like a missing token: 401 with a bare
/// `WWW-Authenticate: Bearer` challenge and a JSON body. A warning is logged when it happens, since
/// it usually means the layer is missing.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct MissingClaims;

impl MissingClaims {
    pub(crate) const fn new() -> Self {
        Self
    }

    /// The status: 401.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::UNAUTHORIZED
    }

    /// The JSON body.
    #[must_use]
    pub fn body_text(&self) -> String {
        rejection_body(&Self::REJECTION)
    }

    const REJECTION: Rejection = Rejection::new(Reason::MissingToken);
}

impl fmt::Display for MissingClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no verified token in the request extensions")
    }
}

impl StdError for MissingClaims {}

impl IntoResponse for MissingClaims {
    fn into_response(self) -> Response {
        json_rejection(&Rfc6750Responder::new(), &Self::REJECTION)
    }
}

/// Why a request was refused or an auth endpoint failed; the error type for handlers.
///
/// `?` converts into it from:
/// - a core [`Rejection`] (from [`Validator::validate`](jwt_cutoff::Validator::validate), say, in
///   a refresh endpoint): its RFC 6750 status and `WWW-Authenticate` challenge, 503 with
///   `Retry-After` when the cutoff store cannot answer;
/// - [`MissingClaims`], from the extractor: 401;
/// - a [`SourceError`] (from [`CutoffCache::logout_all`](jwt_cutoff::CutoffCache::logout_all), say): 503
///   with `Retry-After`, since the change was not stored;
/// - an [`IssueError`] (from [`TokenIssuer`](jwt_cutoff::TokenIssuer)): 500.
///
/// Every answer has `Cache-Control: no-store` and a JSON body
/// `{"error": "…", "error_description": "…"}` like [`JsonResponder`](crate::JsonResponder)'s.
/// Neither the body nor the logs hold the token; store and issuer errors are logged, not sent.
///
/// ```
/// use axum::{extract::State, http::StatusCode};
/// use jwt_cutoff::CutoffCache;
/// use jwt_cutoff_axum::{AuthRejection, Claims};
///
/// async fn logout_all(State(cutoffs): State<CutoffCache>, claims: Claims) -> Result<StatusCode, AuthRejection> {
///     cutoffs.logout_all(claims.subject()).await?;
///     Ok(StatusCode::NO_CONTENT)
/// }
/// ```
#[derive(Debug)]
pub struct AuthRejection {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Refused(Rejection),
    IssueFailed(IssueError),
}

impl AuthRejection {
    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match &self.kind {
            Kind::Refused(rejection) => rejection.status(),
            Kind::IssueFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body.
    #[must_use]
    pub fn body_text(&self) -> String {
        match &self.kind {
            Kind::Refused(rejection) => rejection_body(rejection),
            Kind::IssueFailed(_) => SERVER_ERROR_BODY.to_owned(),
        }
    }

    /// The core rejection, when the token or request was refused.
    #[must_use]
    pub fn rejection(&self) -> Option<&Rejection> {
        match &self.kind {
            Kind::Refused(rejection) => Some(rejection),
            _ => None,
        }
    }

    /// Why the token or request was refused, when it was.
    #[must_use]
    pub fn reason(&self) -> Option<Reason> {
        match &self.kind {
            Kind::Refused(rejection) => Some(rejection.reason()),
            _ => None,
        }
    }
}

impl From<Rejection> for AuthRejection {
    fn from(rejection: Rejection) -> Self {
        Self {
            kind: Kind::Refused(rejection),
        }
    }
}

impl From<MissingClaims> for AuthRejection {
    fn from(_: MissingClaims) -> Self {
        MissingClaims::REJECTION.into()
    }
}

impl From<SourceError> for AuthRejection {
    fn from(error: SourceError) -> Self {
        Rejection::unavailable(error).into()
    }
}

impl From<IssueError> for AuthRejection {
    fn from(error: IssueError) -> Self {
        Self {
            kind: Kind::IssueFailed(error),
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Refused(rejection) => fmt::Display::fmt(rejection, f),
            Kind::IssueFailed(_) => f.write_str("tokens could not be issued"),
        }
    }
}

impl StdError for AuthRejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::Refused(rejection) => rejection.source(),
            Kind::IssueFailed(error) => Some(error),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match &self.kind {
            Kind::Refused(rejection) => {
                if let Some(error) = rejection.source_error() {
                    tracing::warn!(%error, "jwt-cutoff-axum: the cutoff store failed");
                }
                return json_rejection(&Rfc6750Responder::new(), rejection);
            }
            Kind::IssueFailed(error) => {
                tracing::error!(%error, "jwt-cutoff-axum: tokens could not be issued");
            }
        }
        let mut response = Response::new(Body::from(SERVER_ERROR_BODY));
        *response.status_mut() = self.status();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        with_json_type(response)
    }
}

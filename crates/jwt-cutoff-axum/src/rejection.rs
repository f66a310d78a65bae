//! [`AuthRejection`]: every refusal and failure of the extractor and the helpers, for handlers to
//! return.

use std::error::Error as StdError;
use std::fmt;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use jwt_cutoff::{
    IssueError, Reason, RefreshError, Rejection, Rfc6750Responder, SourceError, Validator,
};

use crate::responder::{json_rejection, rejection_body};

/// Why a request was refused or an auth step failed: the rejection of the [`Claims`](crate::Claims)
/// extractor, the error of [`logout_all`](crate::logout_all) and [`refresh`](crate::refresh), and
/// the error type for handlers that `?` the core's errors.
///
/// Every one holds a core [`Rejection`], so it answers as the layer does:
/// - a core [`Rejection`] (from [`RefreshValidator::validate`](jwt_cutoff::RefreshValidator::validate),
///   say): its RFC 6750 status and `WWW-Authenticate` challenge, 503 with `Retry-After` when the
///   cutoff store cannot answer;
/// - from the extractor, no verified token: 401 `missing_token`; or 500 `server_error` when the
///   request carries a bearer token all the same, since then the server is misconfigured (see
///   [`Claims`](crate::Claims));
/// - a [`SourceError`] (from [`CutoffCache::logout_all`](jwt_cutoff::CutoffCache::logout_all),
///   say): 503 with `Retry-After`, since the change was not stored;
/// - an [`IssueError`] (from [`TokenIssuer`](jwt_cutoff::TokenIssuer)): 500 `server_error`.
///
/// It answers like [`JsonResponder`](crate::JsonResponder): `Cache-Control: no-store` and a JSON
/// body `{"error": "…", "error_description": "…"}`; inside a [`RefusalLayer`](crate::RefusalLayer),
/// in that layer's shape. Neither the body nor the logs hold the token.
///
/// **Logged when made, not when answered.** A store error, an issuer error and a misconfiguration
/// are logged (with `tracing`) as the `AuthRejection` is made, so converting it into an error type
/// of your own loses nothing: take [`rejection`](Self::rejection) or
/// [`into_rejection`](Self::into_rejection) and answer with your own responder. Refusals of a
/// token are logged by the validator that refused it.
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
    rejection: Rejection,
    detail: Detail,
}

/// What the server's log says beyond the rejection.
#[derive(Debug)]
enum Detail {
    None,
    IssueFailed(IssueError),
    /// The extractor found a bearer token but no verified claims of the asked type.
    ClaimsNotProvided(String),
}

impl AuthRejection {
    /// No bearer token in the request: 401.
    pub(crate) const fn missing_token() -> Self {
        Self {
            rejection: Rejection::new(Reason::MissingToken),
            detail: Detail::None,
        }
    }

    /// The request carries a bearer token, but the extensions hold no `Verified<asked>`: the layer
    /// verified another claims type, or no layer guards the route. Logged here, answered with 500.
    pub(crate) fn claims_not_provided(asked: &'static str) -> Self {
        let verified = Validator::verified_claims_types();
        let verified = if verified.is_empty() {
            "none so far".to_owned()
        } else {
            verified
                .iter()
                .map(|name| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let message = format!(
            "a handler asks for `Claims<{asked}>` and the request carries a bearer token, but no \
             `Verified<{asked}>` is in its extensions: the JwtCutoffLayer on this route verifies \
             another claims type, or no layer guards this route. Claims types the access-token \
             validators of this process verified: {verified}. Build the layer's validator with \
             `.with_claims::<{asked}>()`, or ask for the layer's claims type. Answering 500"
        );
        tracing::error!("jwt-cutoff-axum: {message}");
        Self {
            rejection: Rejection::new(Reason::ServerError),
            detail: Detail::ClaimsNotProvided(message),
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.rejection.status()
    }

    /// The JSON body of the default answer.
    #[must_use]
    pub fn body_text(&self) -> String {
        rejection_body(&self.rejection)
    }

    /// The core rejection: what a [`Responder`](jwt_cutoff::Responder) answers.
    #[must_use]
    pub fn rejection(&self) -> &Rejection {
        &self.rejection
    }

    /// The core rejection, by value.
    #[must_use]
    pub fn into_rejection(self) -> Rejection {
        self.rejection
    }

    /// Why the request was refused ([`Reason::ServerError`] when the server failed).
    #[must_use]
    pub fn reason(&self) -> Reason {
        self.rejection.reason()
    }
}

impl From<Rejection> for AuthRejection {
    fn from(rejection: Rejection) -> Self {
        Self {
            rejection,
            detail: Detail::None,
        }
    }
}

impl From<SourceError> for AuthRejection {
    /// 503; the store's error is logged here.
    fn from(error: SourceError) -> Self {
        tracing::warn!(%error, "jwt-cutoff-axum: the cutoff store failed");
        Rejection::unavailable(error).into()
    }
}

impl From<RefreshError> for AuthRejection {
    /// 401 or 503 for a refused refresh, 500 for a pair that could not be issued.
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Refused(rejection) => rejection.into(),
            RefreshError::Issue(error) => error.into(),
        }
    }
}

impl From<IssueError> for AuthRejection {
    /// 500; the issuer's error is logged here.
    fn from(error: IssueError) -> Self {
        tracing::error!(%error, "jwt-cutoff-axum: tokens could not be issued");
        Self {
            rejection: Rejection::new(Reason::ServerError),
            detail: Detail::IssueFailed(error),
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Detail::None => fmt::Display::fmt(&self.rejection, f),
            Detail::IssueFailed(_) => f.write_str("tokens could not be issued"),
            Detail::ClaimsNotProvided(message) => f.write_str(message),
        }
    }
}

impl StdError for AuthRejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.detail {
            Detail::None => self.rejection.source(),
            Detail::IssueFailed(error) => Some(error),
            Detail::ClaimsNotProvided(_) => None,
        }
    }
}

impl IntoResponse for AuthRejection {
    /// [`JsonResponder`](crate::JsonResponder)'s answer, with the [`Rejection`] in the response
    /// extensions (for a [`RefusalLayer`](crate::RefusalLayer) to answer in its shape instead).
    fn into_response(self) -> Response {
        json_rejection(&Rfc6750Responder::new(), &self.rejection)
    }
}

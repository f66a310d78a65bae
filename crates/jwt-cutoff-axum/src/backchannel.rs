//! [`backchannel_logout`]: the endpoint an OpenID provider posts its logout tokens to.

use axum::body::{Body, Bytes};
use axum::extract::State;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use jwt_cutoff::BackChannelLogout;
use serde::Serialize;

use crate::responder::with_json_type;

/// OpenID Connect Back-Channel Logout 1.0 (§2.5 to §2.8): the provider posts
/// `logout_token=…` as `application/x-www-form-urlencoded`; the token is checked and what it
/// names logged out by [`BackChannelLogout::receive`]. Answers 200 once logged out; 400 with
/// `{"error": "invalid_request", "error_description"}` for a request or a logout token that is
/// not valid (the description never holds the token); 503 with `Retry-After` when the
/// provider's keys or the cutoff store could not answer (the logout did not happen: the provider
/// may send it again). Every answer has `Cache-Control: no-store`.
///
/// ```
/// use axum::{Router, routing::post};
/// use jwt_cutoff::BackChannelLogout;
///
/// fn routes(logouts: BackChannelLogout) -> Router {
///     Router::new()
///         .route("/backchannel-logout", post(jwt_cutoff_axum::backchannel_logout))
///         .with_state(logouts)
/// }
/// ```
pub async fn backchannel_logout(
    State(receiver): State<BackChannelLogout>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let token = match logout_token(&headers, &body) {
        Ok(token) => token,
        Err(description) => return error(StatusCode::BAD_REQUEST, description),
    };
    match receiver.receive(&token).await {
        Ok(logged_out) => {
            tracing::info!(
                issuer = logged_out.issuer(),
                subject = logged_out.subject(),
                session = logged_out.session(),
                "jwt-cutoff: back-channel logout"
            );
            no_store(Response::new(Body::empty()))
        }
        Err(failure) => {
            tracing::info!(error = %failure, "jwt-cutoff: back-channel logout refused");
            error(failure.status(), failure.message())
        }
    }
}

/// The one `logout_token` of a form body.
fn logout_token(headers: &HeaderMap, body: &[u8]) -> Result<String, &'static str> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err("the body must be application/x-www-form-urlencoded");
    }
    let mut tokens = form_urlencoded::parse(body).filter(|(name, _)| name == "logout_token");
    match (tokens.next(), tokens.next()) {
        (Some((_, token)), None) if !token.is_empty() => Ok(token.into_owned()),
        (Some(_), Some(_)) => Err("logout_token is given more than once"),
        _ => Err("the body has no logout_token"),
    }
}

fn error(status: StatusCode, description: &str) -> Response<Body> {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    let error = if status == StatusCode::BAD_REQUEST {
        "invalid_request"
    } else {
        "temporarily_unavailable"
    };
    // Serializing two strings cannot fail; an empty body would still carry the status.
    let body = serde_json::to_string(&ErrorBody {
        error,
        error_description: description,
    })
    .unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    }
    with_json_type(no_store(response))
}

fn no_store(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

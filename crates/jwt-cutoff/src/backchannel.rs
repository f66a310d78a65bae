//! [`BackChannelLogout`]: the receiving end of OpenID Connect Back-Channel Logout 1.0, which
//! turns a trusted provider's logout token into cutoffs.

use std::fmt;

use http::StatusCode;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::claims::{Audience, NO_SESSION, Text};
use crate::numeric_date;
use crate::reject::Reason;
use crate::validate::{Unverified, Validator};
use jwt_cutoff_store::{Cutoff, MAX_SESSION_ID_BYTES, MAX_SUBJECT_BYTES, Scope, Timestamp};

/// The event a logout token carries (OIDC Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Receives back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0, §2.4 to §2.8)
/// from the [trusted issuers](crate::TrustedIssuer) of a validator, and logs out what they name
/// in its [`CutoffCache`](crate::CutoffCache).
///
/// A logout token is verified like the issuer's access tokens (its keys alone, its `iss`), and
/// must further: be addressed to this service's client id at the provider (its `aud`, which is
/// not the API audience of access tokens), carry `iat` and `jti`, an `events` object holding
/// the back-channel logout event as an object, `sub` or `sid` or both, no `nonce`, and, if it has
/// them, an unexpired `exp` and a `typ` of `logout+jwt` (or the generic `JWT`).
///
/// What it logs out, as of the logout token's `iat` (the provider's clock, which also stamps its
/// access tokens; a token replayed later changes nothing):
/// - `sub` alone: the subject, from all devices.
/// - `sid` alone: the tokens that carry that `sid`.
/// - both: the tokens that carry that `sid`, and the subject's tokens that carry no `sid` at
///   all (many providers put none in access tokens, and those cannot be told apart from the
///   session's: refusing them is the safe side); the subject's other sessions keep working.
///
/// ```
/// use jwt_cutoff::{Algorithm, BackChannelLogout, CutoffCache, MemoryStore, SigningKey, TrustedIssuer, Validator};
///
/// let provider_key = SigningKey::ec_pem(include_bytes!("../tests/keys/ec_private.pem"), Algorithm::ES256)?;
/// let validator = Validator::builder()
///     .algorithms([Algorithm::ES256])
///     .trust(TrustedIssuer::with_keys("https://id.example.com", [provider_key.verifying_key()?]).audience("orders-api"))
///     .build(CutoffCache::new(MemoryStore::new()))?;
/// // The service's client id at the provider, which its logout tokens are addressed to.
/// let logouts = BackChannelLogout::new(&validator, "orders-web");
/// # Ok::<_, jwt_cutoff::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct BackChannelLogout {
    validator: Validator,
    client_id: Box<str>,
}

impl fmt::Debug for BackChannelLogout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackChannelLogout")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What a logout token logged out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedOut {
    issuer: String,
    subject: Option<String>,
    session: Option<String>,
    at: Timestamp,
}

impl LoggedOut {
    /// The trusted issuer that sent it.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Its `sub`, if it named one.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// Its `sid`, if it named one.
    #[must_use]
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The instant tokens issued before are refused: the logout token's `iat`.
    #[must_use]
    pub fn at(&self) -> Timestamp {
        self.at
    }
}

/// A logout token that logged nothing out: invalid (answer 400), or the keys or the cutoff store
/// could not answer (answer 503: the provider may send it again).
#[derive(Clone, Debug)]
pub struct LogoutError {
    status: StatusCode,
    message: String,
}

impl LogoutError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
        }
    }

    /// 400 for an invalid logout token (§2.8), 503 when this service could not act on a valid
    /// one now.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Why, for the answer's `error_description` and for logs: never the token.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LogoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LogoutError {}

impl From<Reason> for LogoutError {
    fn from(reason: Reason) -> Self {
        match reason {
            Reason::KeysUnavailable | Reason::Unavailable => {
                Self::unavailable(reason.description())
            }
            Reason::WrongIssuer => Self::invalid("the logout token's issuer is not trusted"),
            Reason::WrongTokenType => Self::invalid("not a logout token"),
            other => Self::invalid(format!("invalid logout token: {}", other.description())),
        }
    }
}

/// The claims of a logout token; each may appear once.
#[derive(Deserialize)]
struct LogoutClaims<'a> {
    #[serde(borrow)]
    aud: Option<Audience<'a>>,
    #[serde(borrow)]
    iat: Option<&'a RawValue>,
    #[serde(borrow)]
    exp: Option<&'a RawValue>,
    #[serde(borrow)]
    jti: Option<Text<'a>>,
    #[serde(borrow)]
    sub: Option<Text<'a>>,
    #[serde(borrow)]
    sid: Option<Text<'a>>,
    events: Option<Map<String, Value>>,
    nonce: Option<IgnoredAny>,
}

impl BackChannelLogout {
    /// A receiver for the logout tokens of `validator`'s trusted issuers, addressed to
    /// `client_id` (this service's client id at them), logging out in `validator`'s cutoffs.
    #[must_use]
    pub fn new<C>(validator: &Validator<C>, client_id: impl Into<String>) -> Self {
        Self {
            validator: validator.clone().with_claims(),
            client_id: client_id.into().into(),
        }
    }

    /// Verifies `logout_token` and logs out what it names.
    ///
    /// # Errors
    /// The token is invalid ([`LogoutError::status`] 400), or its issuer's keys or the cutoff
    /// store could not answer (503).
    pub async fn receive(&self, logout_token: &str) -> Result<LoggedOut, LogoutError> {
        let verified = match self.validator.verify_logout_token(logout_token) {
            Err(Unverified::NeedsKeys(index)) => {
                self.validator.fetch_keys(index).await?;
                self.validator.verify_logout_token(logout_token)
            }
            verified => verified,
        };
        let (trusted, payload) = verified.map_err(Unverified::into_reason)?;
        let issuer = trusted.issuer.to_string();
        let sessions_subject = trusted.sessions_subject.to_string();
        // A JSON object: serde's derive would also read a struct from an array.
        if !payload.trim_start().starts_with('{') {
            return Err(LogoutError::invalid(
                "the logout token's claims are not a JSON object",
            ));
        }
        let claims: LogoutClaims<'_> = serde_json::from_str(&payload).map_err(|error| {
            LogoutError::invalid(format!("invalid logout token claims: {error}"))
        })?;
        let at = self.check(&claims)?;
        let subject = claims.sub.map(|Text(sub)| sub.into_owned());
        let session = claims.sid.map(|Text(sid)| sid.into_owned());
        let cutoff = Cutoff::ValidFrom(at);
        let cutoffs = self.validator.cutoffs();
        let scoped = subject
            .as_ref()
            .map(|subject| format!("{sessions_subject}{subject}"));
        if scoped
            .as_ref()
            .is_some_and(|scoped| scoped.len() > MAX_SUBJECT_BYTES)
        {
            return Err(LogoutError::invalid("the logout token's sub is too long"));
        }
        let raised = match (&scoped, &session) {
            (Some(subject), None) => cutoffs
                .raise(Scope::Subject(subject), cutoff)
                .await
                .map(drop),
            (None, Some(session)) => cutoffs
                .raise(
                    Scope::Session {
                        subject: &sessions_subject,
                        session,
                    },
                    cutoff,
                )
                .await
                .map(drop),
            (Some(subject), Some(session)) => {
                let this_session = Scope::Session { subject, session };
                match cutoffs.raise(this_session, cutoff).await {
                    Ok(_) => {
                        let without_sid = Scope::Session {
                            subject,
                            session: NO_SESSION,
                        };
                        cutoffs.raise(without_sid, cutoff).await.map(drop)
                    }
                    Err(error) => Err(error),
                }
            }
            (None, None) => {
                return Err(LogoutError::invalid(
                    "the logout token has no sub and no sid",
                ));
            }
        };
        raised.map_err(|error| {
            tracing::warn!(%error, issuer, "jwt-cutoff: a back-channel logout could not be stored");
            LogoutError::unavailable("the cutoff store is unavailable right now")
        })?;
        Ok(LoggedOut {
            issuer,
            subject,
            session,
            at,
        })
    }

    /// §2.6 beyond the signature and the issuer; the instant the logout applies from.
    fn check(&self, claims: &LogoutClaims<'_>) -> Result<Timestamp, LogoutError> {
        let addressed = claims
            .aud
            .as_ref()
            .is_some_and(|audience| audience.0.iter().any(|Text(aud)| **aud == *self.client_id));
        if !addressed {
            return Err(LogoutError::invalid(
                "the logout token is not addressed to this client (aud)",
            ));
        }
        let date = |raw: Option<&RawValue>, claim: &str| {
            raw.map(|raw| {
                numeric_date::parse(raw.get())
                    .map(|instant| instant.at())
                    .ok_or_else(|| LogoutError::invalid(format!("{claim} is not a NumericDate")))
            })
            .transpose()
        };
        let issued_at = date(claims.iat, "iat")?
            .ok_or_else(|| LogoutError::invalid("the logout token has no iat"))?;
        let expires_at = date(claims.exp, "exp")?;
        self.validator
            .check_logout_clock(issued_at, expires_at)
            .map_err(LogoutError::from)?;
        if claims.jti.as_ref().is_none_or(|Text(jti)| jti.is_empty()) {
            return Err(LogoutError::invalid("the logout token has no jti"));
        }
        let event = claims
            .events
            .as_ref()
            .and_then(|events| events.get(BACKCHANNEL_LOGOUT_EVENT));
        if !event.is_some_and(Value::is_object) {
            return Err(LogoutError::invalid(
                "the logout token's events hold no back-channel logout event object",
            ));
        }
        if claims.nonce.is_some() {
            return Err(LogoutError::invalid("a logout token must not have a nonce"));
        }
        if claims
            .sub
            .as_ref()
            .is_some_and(|Text(sub)| sub.is_empty() || sub.len() > MAX_SUBJECT_BYTES)
            || claims
                .sid
                .as_ref()
                .is_some_and(|Text(sid)| sid.is_empty() || sid.len() > MAX_SESSION_ID_BYTES)
        {
            return Err(LogoutError::invalid(
                "the logout token's sub or sid is empty or too long",
            ));
        }
        Ok(issued_at)
    }
}

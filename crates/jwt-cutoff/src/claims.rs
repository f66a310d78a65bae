//! The claims a token carries: the registered ones this crate checks, read strictly and in one pass,
//! and [`Verified`], what a handler gets.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use jwt_cutoff_store::{Timestamp, TokenInstant};

/// The registered claims this crate writes and checks itself. None of them can name the subject,
/// and an application's extra claims may not set them.
pub(crate) const CHECKED_CLAIMS: [&str; 9] = [
    "iat",
    "exp",
    "nbf",
    "iss",
    "aud",
    "token_use",
    "auth_time",
    "sid",
    "jti",
];

/// Whether `claim` can name the subject: not empty, and not one of [`CHECKED_CLAIMS`].
pub(crate) fn check_subject_claim(claim: &str) -> Result<(), String> {
    if claim.is_empty() || CHECKED_CLAIMS.contains(&claim) {
        return Err(format!("{claim:?} cannot name the subject"));
    }
    Ok(())
}

/// Which kind of token an endpoint accepts. The [`TokenIssuer`](crate::TokenIssuer) writes it in the
/// `token_use` claim, so neither kind can stand in for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// A short-lived token presented on every request.
    Access,
    /// A long-lived token exchanged for a new pair at a refresh endpoint.
    Refresh,
}

impl TokenType {
    /// The value of the `token_use` claim for this type.
    #[must_use]
    pub const fn claim_value(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// A token that passed every check, cutoff included; the layer puts it in the request extensions.
///
/// `C` is the application's own claims type, deserialized from the same payload. The registered
/// claims this crate checks are available here already, so `C` need not repeat them (and must not
/// declare `iat` as an integer: this crate's issuer writes it with microseconds).
#[derive(Clone)]
pub struct Verified<C = NoClaims> {
    pub(crate) subject: Arc<str>,
    /// Where the subject's cutoffs are kept: `subject` itself for this service's own tokens,
    /// `<iss>#<sub>` for a trusted issuer's.
    pub(crate) cutoff_subject: Arc<str>,
    /// The trusted issuer whose keys verified the token; `None` for this service's own tokens.
    pub(crate) trusted_issuer: Option<Arc<str>>,
    /// For a trusted issuer's token with a `sid`: the subject under which that issuer's sessions
    /// logged out by `sid` alone are kept (`<iss>#`; see [`CutoffQuery`]).
    pub(crate) issuer_sessions: Option<Arc<str>>,
    pub(crate) issued_at: TokenInstant,
    pub(crate) authenticated_at: Option<TokenInstant>,
    pub(crate) session_id: Option<Arc<str>>,
    pub(crate) token_id: Option<Arc<str>>,
    pub(crate) expires_at: Timestamp,
    pub(crate) token_type: Option<TokenType>,
    pub(crate) claims: C,
}

impl<C> Verified<C> {
    /// The subject the token speaks for (the `sub` claim, or the configured subject claim).
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The subject whose cutoffs apply to this token, as [`CutoffCache`](crate::CutoffCache)
    /// methods take it: the [subject](Self::subject) for tokens this service issues itself, and
    /// `<iss>#<sub>` for a [trusted issuer](crate::TrustedIssuer)'s, so that issuer X's "alice"
    /// and issuer Y's are logged out apart. Log a token's subject out with this, never with
    /// [`subject`](Self::subject).
    #[must_use]
    pub fn cutoff_subject(&self) -> &str {
        &self.cutoff_subject
    }

    /// The [trusted issuer](crate::TrustedIssuer) whose keys verified this token (its `iss`);
    /// `None` for a token this service's own keys verified.
    #[must_use]
    pub fn trusted_issuer(&self) -> Option<&str> {
        self.trusted_issuer.as_deref()
    }

    /// When the token was issued (`iat`).
    #[must_use]
    pub fn issued_at(&self) -> Timestamp {
        self.issued_at.at()
    }

    /// When the login this token descends from happened: its `auth_time` claim, or `iat` for a
    /// token without one. [`TokenIssuer::refresh_pair`](crate::TokenIssuer::refresh_pair) carries it
    /// from a refresh token to the pair it mints, and cutoffs judge tokens by it, so a pair
    /// refreshed from a login made before a logout is refused like that login's own tokens.
    #[must_use]
    pub fn authenticated_at(&self) -> Timestamp {
        self.authenticated_at.unwrap_or(self.issued_at).at()
    }

    /// The session (one login, one device) the token belongs to: its `sid` claim, which
    /// [`TokenIssuer::issue_pair`](crate::TokenIssuer::issue_pair) mints for every login and
    /// [`TokenIssuer::refresh_pair`](crate::TokenIssuer::refresh_pair) keeps. `None` for a token
    /// without one (minted by [`issue_access`](crate::TokenIssuer::issue_access) alone, or by an
    /// issuer that writes no `sid`).
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The token's own id: its `jti` claim, which [`TokenIssuer`](crate::TokenIssuer) writes into
    /// every refresh token (128 random bits) so that rotation can spend it once. `None` for a token
    /// without one.
    #[must_use]
    pub fn token_id(&self) -> Option<&str> {
        self.token_id.as_deref()
    }

    /// The instant a cutoff judges this token by.
    pub(crate) fn judged_instant(&self) -> TokenInstant {
        TokenInstant::judged(self.issued_at, self.authenticated_at)
    }

    /// The session whose cutoff applies to this token: its `sid`, or, for a trusted issuer's
    /// token without one, [`NO_SESSION`].
    pub(crate) fn cutoff_session(&self) -> Option<&str> {
        match (&self.session_id, &self.trusted_issuer) {
            (Some(session), _) => Some(session),
            (None, Some(_)) => Some(NO_SESSION),
            (None, None) => None,
        }
    }

    /// Everything the cutoff check of this token needs, owned.
    pub(crate) fn cutoff_query(&self) -> CutoffQuery {
        static NO_SESSION_ID: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(NO_SESSION));
        let session = match (&self.session_id, &self.trusted_issuer) {
            (Some(session), _) => Some(Arc::clone(session)),
            (None, Some(_)) => Some(Arc::clone(&NO_SESSION_ID)),
            (None, None) => None,
        };
        CutoffQuery {
            subject: Arc::clone(&self.cutoff_subject),
            issuer_session: self.issuer_sessions.clone().zip(self.session_id.clone()),
            session,
            judged: self.judged_instant(),
        }
    }

    /// When the token expires (`exp`).
    #[must_use]
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// The `token_use` claim, if the token has one.
    #[must_use]
    pub fn token_type(&self) -> Option<TokenType> {
        self.token_type
    }

    /// The application's claims.
    #[must_use]
    pub fn claims(&self) -> &C {
        &self.claims
    }

    /// The application's claims, by value.
    #[must_use]
    pub fn into_claims(self) -> C {
        self.claims
    }
}

impl<C: fmt::Debug> fmt::Debug for Verified<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("subject", &self.subject)
            .field("trusted_issuer", &self.trusted_issuer)
            .field("issued_at", &self.issued_at.at())
            .field(
                "authenticated_at",
                &self.authenticated_at.map(TokenInstant::at),
            )
            .field("session_id", &self.session_id)
            .field("token_id", &self.token_id)
            .field("expires_at", &self.expires_at)
            .field("token_type", &self.token_type)
            .field("claims", &self.claims)
            .finish()
    }
}

/// The session a trusted issuer's tokens without a `sid` are judged under, so that a back-channel
/// logout naming a subject and one of its sessions can refuse them (they cannot be told apart
/// from that session's) while the subject's other sessions go on. Providers' `sid`s are opaque
/// ids; none is this.
pub const NO_SESSION: &str = "(no sid)";

/// What the cutoff check of a verified token looks up: its subject's cutoffs (its own, its
/// session's, everyone's) and, for a trusted issuer's token with a `sid`, that issuer's sessions
/// logged out by `sid` alone (kept under the subject `<iss>#`).
#[derive(Clone, Debug)]
pub(crate) struct CutoffQuery {
    pub(crate) subject: Arc<str>,
    pub(crate) session: Option<Arc<str>>,
    /// `(<iss>#, sid)`.
    pub(crate) issuer_session: Option<(Arc<str>, Arc<str>)>,
    pub(crate) judged: TokenInstant,
}

/// The claims type for applications that need nothing beyond the registered claims.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoClaims;

/// Serializes as an empty object, so it can be passed on as extra claims when minting a new pair.
impl serde::Serialize for NoClaims {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::ser::SerializeMap::end(serializer.serialize_map(Some(0))?)
    }
}

impl<'de> Deserialize<'de> for NoClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_ignored_any(IgnoredAny)?;
        Ok(Self)
    }
}

/// A JSON string, borrowed from the payload unless it had escapes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<Text<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(value)))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(value.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug)]
pub(crate) struct Audience<'a>(pub(crate) Vec<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor<'a>(PhantomData<Audience<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for AudienceVisitor<'a> {
            type Value = Audience<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
                Ok(Audience(vec![Text(Cow::Borrowed(value))]))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(Audience(vec![Text(Cow::Owned(value.to_owned()))]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut audiences = Vec::new();
                while let Some(audience) = seq.next_element::<Text<'a>>()? {
                    audiences.push(audience);
                }
                Ok(Audience(audiences))
            }
        }
        deserializer.deserialize_any(AudienceVisitor(PhantomData))
    }
}

/// The registered claims, borrowed from the decoded payload. NumericDates stay raw JSON text here so
/// [`numeric_date::parse`](crate::numeric_date::parse) can read them exactly.
#[derive(Debug, Default)]
pub(crate) struct Registered<'a> {
    pub(crate) subject: Option<Text<'a>>,
    pub(crate) issued_at: Option<&'a RawValue>,
    pub(crate) expires_at: Option<&'a RawValue>,
    pub(crate) not_before: Option<&'a RawValue>,
    pub(crate) issuer: Option<Text<'a>>,
    pub(crate) audience: Option<Audience<'a>>,
    pub(crate) token_use: Option<Text<'a>>,
    pub(crate) auth_time: Option<&'a RawValue>,
    pub(crate) session_id: Option<Text<'a>>,
    pub(crate) token_id: Option<Text<'a>>,
    /// `events`, which only security event tokens carry (a back-channel logout token, say): such
    /// a token is never an access or a refresh token.
    pub(crate) events: Option<IgnoredAny>,
}

/// Reads [`Registered`] from a payload, with the subject under a configurable claim name. Every
/// claim it reads may appear once: a duplicate is an error, never "last one wins".
pub(crate) struct RegisteredSeed<'s> {
    pub(crate) subject_claim: &'s str,
}

impl<'de> DeserializeSeed<'de> for RegisteredSeed<'_> {
    type Value = Registered<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

fn set_once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
    name: &str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::custom(format_args!("duplicate claim `{name}`")));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl<'de> Visitor<'de> for RegisteredSeed<'_> {
    type Value = Registered<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut claims = Registered::default();
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            match &*name {
                name if name == self.subject_claim => {
                    set_once(&mut claims.subject, &mut map, name)?;
                }
                "iat" => set_once(&mut claims.issued_at, &mut map, "iat")?,
                "exp" => set_once(&mut claims.expires_at, &mut map, "exp")?,
                "nbf" => set_once(&mut claims.not_before, &mut map, "nbf")?,
                "iss" => set_once(&mut claims.issuer, &mut map, "iss")?,
                "aud" => set_once(&mut claims.audience, &mut map, "aud")?,
                "token_use" => set_once(&mut claims.token_use, &mut map, "token_use")?,
                "auth_time" => set_once(&mut claims.auth_time, &mut map, "auth_time")?,
                "sid" => set_once(&mut claims.session_id, &mut map, "sid")?,
                "jti" => set_once(&mut claims.token_id, &mut map, "jti")?,
                "events" => set_once(&mut claims.events, &mut map, "events")?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(claims)
    }
}

/// The JOSE header fields this crate reads. `jku`, `jwk`, `x5u` and `x5c` are never followed: the
/// key comes from the configuration, never from the token.
#[derive(Debug, Default)]
pub(crate) struct JoseHeader<'a> {
    pub(crate) alg: Option<Text<'a>>,
    pub(crate) kid: Option<Text<'a>>,
    pub(crate) typ: Option<Text<'a>>,
    /// Whether `crit` is present, whatever its value: it names extensions the verifier must
    /// understand (RFC 7515 §4.1.11), and this one understands none.
    pub(crate) has_crit: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for JoseHeader<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor<'a>(PhantomData<JoseHeader<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for HeaderVisitor<'a> {
            type Value = JoseHeader<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JOSE header object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut header = JoseHeader::default();
                let mut crit = None::<IgnoredAny>;
                while let Some(Text(name)) = map.next_key::<Text<'a>>()? {
                    match &*name {
                        "alg" => set_once(&mut header.alg, &mut map, "alg")?,
                        "kid" => set_once(&mut header.kid, &mut map, "kid")?,
                        "typ" => set_once(&mut header.typ, &mut map, "typ")?,
                        "crit" => set_once(&mut crit, &mut map, "crit")?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                header.has_crit = crit.is_some();
                Ok(header)
            }
        }
        // A map and nothing else: a JSON array must not be read field by field.
        deserializer.deserialize_map(HeaderVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(json: &str) -> Result<Registered<'_>, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        RegisteredSeed {
            subject_claim: "sub",
        }
        .deserialize(&mut deserializer)
    }

    #[test]
    fn reads_registered_claims_and_skips_the_rest() {
        let claims = registered(
            r#"{"sub":"alice","iat":1764384000.5,"exp":1764384300,"aud":["a","b"],"x":{"y":[1]}}"#,
        )
        .unwrap_or_default();
        assert_eq!(claims.subject, Some(Text(Cow::Borrowed("alice"))));
        assert_eq!(claims.issued_at.map(RawValue::get), Some("1764384000.5"));
        assert_eq!(claims.expires_at.map(RawValue::get), Some("1764384300"));
        assert_eq!(claims.audience.map(|aud| aud.0.len()), Some(2));
    }

    #[test]
    fn duplicate_claims_are_refused_even_when_escaped() {
        assert!(registered(r#"{"sub":"a","iat":1,"iat":2}"#).is_err());
        assert!(registered(r#"{"sub":"a","\u0069at":1,"iat":2}"#).is_err());
        assert!(registered(r#"{"sub":"a","sub":"b"}"#).is_err());
    }

    #[test]
    fn wrong_types_are_refused() {
        assert!(registered(r#"{"sub":1}"#).is_err());
        assert!(registered(r#"{"sub":null}"#).is_err());
        assert!(registered(r#"{"aud":[1]}"#).is_err());
        assert!(registered(r#"[]"#).is_err());
        assert!(registered(r#""claims""#).is_err());
    }

    #[test]
    fn headers_are_objects_with_unique_members() {
        let header = |json| serde_json::from_str::<JoseHeader<'_>>(json);
        assert!(header(r#"["HS256"]"#).is_err());
        assert!(header(r#"{"alg":"HS256","alg":"none"}"#).is_err());
        assert!(header(r#"{"alg":"HS256","kid":null}"#).is_err());
        assert!(header(r#"{"alg":"HS256","crit":null}"#).is_ok_and(|h| h.has_crit));
        assert!(header(r#"{"alg":"HS256","jku":"https://x"}"#).is_ok_and(|h| !h.has_crit));
    }

    #[test]
    fn escaped_subjects_are_decoded() {
        let claims = registered(r#"{"sub":"al\u0069ce"}"#).unwrap_or_default();
        assert_eq!(
            claims.subject.map(|s| s.0.into_owned()).as_deref(),
            Some("alice")
        );
    }
}

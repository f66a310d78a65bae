//! `inspect`: a token's header and claims, readable; with a key, whether its signature holds;
//! with a store, whether its cutoffs refuse it and since when.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_cutoff::{
    Algorithm, CutoffCache, MemoryStore, NO_SESSION, Reason, SubjectCutoffs, Timestamp,
    TokenInstant, TokenType, Validator, VerifyingKey,
};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A token taken apart, before any check.
pub(crate) struct Inspected {
    /// The header's JSON, pretty.
    pub(crate) header: String,
    /// The claims' JSON, pretty.
    pub(crate) claims: String,
    algorithm: Option<String>,
    token_type: Option<String>,
    subject: Option<String>,
    issuer: Option<String>,
    session: Option<String>,
    /// `iat`, with `auth_time` when the token has one (see [`TokenInstant::judged`]); `None` when
    /// `iat` is missing or not a plain number.
    judged: Option<TokenInstant>,
}

/// The registered claims the checks need, with the instants as the JSON wrote them.
#[derive(Deserialize)]
struct Registered<'a> {
    sub: Option<String>,
    iss: Option<String>,
    sid: Option<String>,
    token_use: Option<String>,
    #[serde(borrow)]
    iat: Option<&'a RawValue>,
    #[serde(borrow)]
    auth_time: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
}

impl Inspected {
    /// Takes a compact JWT apart; what is wrong with it when it cannot.
    pub(crate) fn parse(token: &str) -> Result<Self, String> {
        let mut segments = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err("not a compact JWT: it needs three segments separated by dots".to_owned());
        };
        let header = decode_json(header, "header")?;
        let payload = decode_json(payload, "claims")?;
        let algorithm = serde_json::from_str::<Header>(&header)
            .ok()
            .and_then(|header| header.alg);
        let registered: Registered<'_> = serde_json::from_str(&payload)
            .map_err(|error| format!("the claims are not a JSON object as expected: {error}"))?;
        let issued_at = registered.iat.and_then(instant);
        let authenticated_at = registered.auth_time.and_then(instant);
        Ok(Self {
            header: pretty(&header)?,
            claims: pretty(&payload)?,
            algorithm,
            token_type: registered.token_use,
            subject: registered.sub,
            issuer: registered.iss,
            session: registered.sid,
            judged: issued_at.map(|iat| TokenInstant::judged(iat, authenticated_at)),
        })
    }

    /// Where a service keeps the cutoffs that judge this token: as its own issuer's token,
    /// under `sub` and its `sid`; as a trusted issuer's (`trusted`), under `<iss>#<sub>` and its
    /// `sid` (or [`NO_SESSION`] without one), and, with a `sid`, also that session under
    /// `<iss>#` (where back-channel logouts naming only a `sid` go).
    pub(crate) fn lookups(&self, trusted: bool) -> Result<Vec<Lookup>, String> {
        let subject = self
            .subject
            .as_deref()
            .ok_or("the token has no `sub`: no cutoff applies to it")?;
        if !trusted {
            return Ok(vec![Lookup {
                subject: subject.to_owned(),
                session: self.session.clone(),
            }]);
        }
        let issuer = self
            .issuer
            .as_deref()
            .ok_or("--trusted-issuer: the token has no `iss`")?;
        let mut lookups = vec![Lookup {
            subject: format!("{issuer}#{subject}"),
            session: Some(self.session.as_deref().unwrap_or(NO_SESSION).to_owned()),
        }];
        if let Some(session) = &self.session {
            lookups.push(Lookup {
                subject: format!("{issuer}#"),
                session: Some(session.clone()),
            });
        }
        Ok(lookups)
    }

    /// The algorithm the header names, if jwt-cutoff verifies it.
    pub(crate) fn algorithm(&self) -> Result<Algorithm, String> {
        self.algorithm
            .as_deref()
            .and_then(Algorithm::from_name)
            .ok_or_else(|| {
                format!(
                    "the header's algorithm {:?} is not one jwt-cutoff verifies",
                    self.algorithm.as_deref().unwrap_or("(none)")
                )
            })
    }

    /// Whether one of `keys` verifies the token's signature with the algorithm its header names,
    /// among `algorithms`; the other checks a service makes (expiry, token type) are reported
    /// beside, not as failures.
    pub(crate) async fn check_signature(
        &self,
        token: &str,
        keys: Vec<VerifyingKey>,
        algorithms: Vec<Algorithm>,
    ) -> Signature {
        let token_type = match self.token_type.as_deref() {
            Some("refresh") => TokenType::Refresh,
            _ => TokenType::Access,
        };
        let mut builder = Validator::builder().algorithms(algorithms);
        for key in keys {
            builder = builder.key(key);
        }
        let builder = builder.token_type(token_type).token_cache_max_bytes(0);
        // Untyped tokens are never refresh tokens: a refresh validator refuses the setting.
        let builder = match token_type {
            TokenType::Access => builder.accept_untyped_tokens(),
            TokenType::Refresh => builder,
        };
        let validator = match builder.build(CutoffCache::new(MemoryStore::new())) {
            Ok(validator) => validator,
            Err(error) => return Signature::Invalid(format!("the key cannot verify it: {error}")),
        };
        match validator.validate(token).await {
            Ok(_) => Signature::Valid(None),
            Err(rejection) => match rejection.reason() {
                Reason::BadSignature
                | Reason::AlgorithmNotAllowed
                | Reason::UnknownKey
                | Reason::MalformedToken
                | Reason::UnsupportedHeader
                | Reason::TokenTooLarge => {
                    Signature::Invalid(rejection.reason().description().to_owned())
                }
                other => Signature::Valid(Some(other.description().to_owned())),
            },
        }
    }

    /// What the cutoffs found by `lookup` say of the token.
    pub(crate) fn judge(
        &self,
        lookup: &Lookup,
        cutoffs: &SubjectCutoffs,
    ) -> Result<Judgement, String> {
        let judged = self
            .judged
            .ok_or("the token has no `iat` as a plain number, so no cutoff can judge it")?;
        let cutoff = cutoffs.for_token(lookup.session.as_deref());
        Ok(if cutoff.admits(judged) {
            Judgement::Admitted
        } else {
            Judgement::Revoked(cutoff.to_string())
        })
    }
}

/// One subject's cutoffs to look up, and the session among them that applies.
pub(crate) struct Lookup {
    pub(crate) subject: String,
    session: Option<String>,
}

/// Whether the signature holds, and what else a service would refuse the token for.
pub(crate) enum Signature {
    /// It holds; `Some` names another reason a service would refuse the token (expired, say).
    Valid(Option<String>),
    Invalid(String),
}

/// What the cutoffs say.
pub(crate) enum Judgement {
    Admitted,
    /// Refused, by the cutoff that applies (`valid from …` or `refused`).
    Revoked(String),
}

/// The first line of `inspect`'s report on the token's parts.
pub(crate) fn describe(inspected: &Inspected) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "header: {}", inspected.header);
    let _ = write!(text, "claims: {}", inspected.claims);
    text
}

fn decode_json(segment: &str, what: &str) -> Result<String, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| format!("the {what} is not base64url"))?;
    String::from_utf8(bytes).map_err(|_| format!("the {what} is not UTF-8"))
}

fn pretty(json: &str) -> Result<String, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|error| format!("not JSON: {error}"))?;
    serde_json::to_string_pretty(&value).map_err(|error| error.to_string())
}

/// A NumericDate as the JSON wrote it: whole seconds, or seconds with a fraction (read to the
/// microsecond, exactly). Anything else (exponents, signs, strings) gives `None`.
fn instant(raw: &RawValue) -> Option<TokenInstant> {
    let text = raw.get();
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    if !text.contains('.') {
        return Some(TokenInstant::whole_second(secs));
    }
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect();
    let micros: i64 = micros.parse().ok()?;
    let at = secs.checked_mul(1_000_000)?.checked_add(micros)?;
    Some(TokenInstant::precise(Timestamp::from_unix_micros(at)))
}

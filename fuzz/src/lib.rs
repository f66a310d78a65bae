//! The checks behind the fuzz targets, kept in a library so the regression tests in `tests/` replay
//! the committed corpus through exactly the same code on a stable toolchain.
//!
//! Everything goes through jwt-cutoff's public API. Each check panics (the fuzzer's "crash") when
//! the validator's decision disagrees with an oracle written here independently from the spec:
//! - [`check_token`]: a token is accepted only if its signature is the fuzz key's HMAC over its
//!   first two segments, encoded canonically (so only the seed tokens), and never for the revoked
//!   subject.
//! - [`check_headers`]: the header-level outcome (missing, malformed, too large) is predicted from
//!   RFC 6750 / RFC 9110 token68; a well-formed header gets exactly the decision of
//!   `validate(token)`.
//! - [`check_numeric_date`]: a payload signed with the fuzz key, whose `iat`, `exp` or `nbf` is the
//!   fuzz input's raw JSON text, is accepted exactly when an independent reading of the claims says
//!   it must be.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};
use jwt_cutoff::{
    Algorithm, CutoffCache, MemoryStore, Reason, Rejection, Validator, Verified, VerifyingKey,
};
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;

/// The HMAC secret every seed token is signed with. Public on purpose: it only signs fuzz input.
pub const FUZZ_SECRET: &[u8] = b"jwt-cutoff fuzz key: public, for fuzzing only, 48+ bytes";

/// A subject logged out from all devices when the fixture starts, after every seed was minted: its
/// seed tokens must always be refused as revoked.
pub const REVOKED_SUBJECT: &str = "revoked";

/// The validator's default token cap.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The validator's leeway (its default).
pub const LEEWAY: Duration = Duration::from_secs(30);

/// The largest NumericDate accepted, 9999-12-31T23:59:59Z, as the crate documents.
pub const MAX_SECONDS: u64 = 253_402_300_799;

/// The subject of the numeric-date target's payloads.
const NUMERIC_DATE_SUBJECT: &str = "x";
/// A fixed `iat` in the past (2025-11-29) for the `exp`/`nbf` variants.
const PAST: &str = "1764384000.5";
/// A fixed `exp` at the last accepted second, for the `iat`/`nbf` variants.
const FAR_FUTURE: &str = "253402300799";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    validator: Validator,
    signing_key: jsonwebtoken::EncodingKey,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        let cutoffs = CutoffCache::new(MemoryStore::new());
        runtime
            .block_on(cutoffs.logout_all(REVOKED_SUBJECT))
            .expect("the memory store answers");
        let validator = Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(VerifyingKey::hmac(FUZZ_SECRET).expect("a 32+ byte secret"))
            .leeway(LEEWAY)
            .build(cutoffs)
            .expect("a valid configuration");
        Fixture {
            runtime,
            validator,
            signing_key: jsonwebtoken::EncodingKey::from_secret(FUZZ_SECRET).expect("an HMAC key"),
        }
    })
}

fn validate(token: &str) -> Result<Verified, Rejection> {
    let fixture = fixture();
    fixture.runtime.block_on(fixture.validator.validate(token))
}

fn validate_headers(headers: &HeaderMap) -> Result<Verified, Rejection> {
    let fixture = fixture();
    fixture
        .runtime
        .block_on(fixture.validator.validate_headers(headers))
}

/// The canonical base64url HS256 signature of `signed` with the fuzz key.
fn sign(signed: &[u8]) -> String {
    jsonwebtoken::crypto::sign(
        signed,
        &fixture().signing_key,
        jsonwebtoken::Algorithm::HS256,
    )
    .expect("HMAC signing cannot fail")
}

/// Whether `token` is `header.payload.signature` with the signature exactly the fuzz key's HMAC
/// over `header.payload`: a token the fuzzer cannot forge, so one of the seeds.
fn is_genuine(token: &str) -> bool {
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return false;
    };
    signed.matches('.').count() == 1 && sign(signed.as_bytes()) == signature
}

/// The `sub` claim of a token's payload, read independently of the crate.
fn payload_subject(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
    value.get("sub")?.as_str().map(str::to_owned)
}

/// What must hold of an accepted token, whichever target it came through.
fn assert_sound_acceptance(token: &str, verified: &Verified) {
    assert!(
        token.len() <= MAX_TOKEN_BYTES,
        "accepted a token above the cap"
    );
    assert!(
        is_genuine(token),
        "accepted a token not signed canonically with the fuzz key: {token:?}"
    );
    assert_ne!(
        verified.subject(),
        REVOKED_SUBJECT,
        "accepted a revoked token"
    );
    assert_eq!(
        payload_subject(token).as_deref(),
        Some(verified.subject()),
        "verified subject differs from the payload's `sub`"
    );
}

/// Reasons that only the header parser or the store may give, never a token check.
fn is_header_or_store_reason(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::MissingToken | Reason::MalformedRequest | Reason::Unavailable
    )
}

/// Fuzz target `token`: arbitrary bytes (lossy UTF-8) as a whole token.
pub fn check_token(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    match validate(&token) {
        Ok(verified) => assert_sound_acceptance(&token, &verified),
        Err(rejection) => {
            let reason = rejection.reason();
            assert!(
                !is_header_or_store_reason(reason),
                "a token check answered {reason:?}"
            );
            if token.len() > MAX_TOKEN_BYTES {
                assert_eq!(reason, Reason::TokenTooLarge, "an oversized token");
            }
        }
    }
}

/// What the `Authorization` headers of a request amount to, by RFC 6750 §2.1 and the spec.
#[derive(Debug, PartialEq, Eq)]
enum Expected<'a> {
    Refused(Reason),
    Token(&'a str),
}

/// `tchar` (RFC 9110 §5.6.2): what a scheme name is made of.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 9110 §11.2).
fn is_token68(text: &[u8]) -> bool {
    let body_end = text.iter().position(|&b| b == b'=').unwrap_or(text.len());
    let (body, padding) = text.split_at(body_end);
    !body.is_empty()
        && body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b))
        && padding.iter().all(|&b| b == b'=')
}

fn expected_from_headers<'a>(values: &[&'a [u8]]) -> Expected<'a> {
    let value = match values {
        [] => return Expected::Refused(Reason::MissingToken),
        [value] => *value,
        _ => return Expected::Refused(Reason::MalformedRequest),
    };
    let (scheme, rest) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"Bearer") {
        // Another scheme (Basic, say) offers no bearer token; garbage is a malformed request.
        return if !scheme.is_empty() && scheme.iter().all(|&b| is_tchar(b)) {
            Expected::Refused(Reason::MissingToken)
        } else {
            Expected::Refused(Reason::MalformedRequest)
        };
    }
    let Some(token) = rest.strip_prefix(b" ") else {
        return Expected::Refused(Reason::MalformedRequest);
    };
    if token.len() > MAX_TOKEN_BYTES {
        return Expected::Refused(Reason::TokenTooLarge);
    }
    if !is_token68(token) {
        return Expected::Refused(Reason::MalformedRequest);
    }
    match std::str::from_utf8(token) {
        Ok(token) => Expected::Token(token),
        Err(_) => unreachable!("token68 is ASCII"),
    }
}

/// Fuzz target `authorization_header`: the input split at `\n` into `Authorization` values (empty
/// input: no header at all). Pieces `http` refuses as header values are left out, as a server
/// would never see them.
pub fn check_headers(data: &[u8]) {
    let mut headers = HeaderMap::new();
    let mut values = Vec::new();
    if !data.is_empty() {
        for piece in data.split(|&b| b == b'\n') {
            if let Ok(value) = HeaderValue::from_bytes(piece) {
                headers.append(AUTHORIZATION, value);
                values.push(piece);
            }
        }
    }
    // Unrelated headers must not matter.
    headers.append("x-authorization", HeaderValue::from_static("Bearer a.b.c"));

    let actual = validate_headers(&headers);
    match expected_from_headers(&values) {
        Expected::Refused(expected) => match actual {
            Ok(_) => panic!("accepted headers that must be refused with {expected:?}: {values:?}"),
            Err(rejection) => assert_eq!(rejection.reason(), expected, "{values:?}"),
        },
        Expected::Token(token) => {
            let alone = validate(token);
            match (&actual, &alone) {
                (Ok(verified), Ok(again)) => {
                    assert_sound_acceptance(token, verified);
                    assert_eq!(verified.subject(), again.subject());
                    assert_eq!(verified.issued_at(), again.issued_at());
                }
                (Err(from_headers), Err(alone)) => {
                    assert_eq!(from_headers.reason(), alone.reason(), "{token:?}");
                    assert!(!is_header_or_store_reason(from_headers.reason()));
                }
                _ => panic!(
                    "header and token decisions differ for {token:?}: {:?} vs {:?}",
                    actual
                        .as_ref()
                        .map(Verified::subject)
                        .map_err(Rejection::reason),
                    alone
                        .as_ref()
                        .map(Verified::subject)
                        .map_err(Rejection::reason),
                ),
            }
        }
    }
}

/// The claim the numeric-date target fuzzes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateClaim {
    /// `iat`
    IssuedAt,
    /// `exp`
    ExpiresAt,
    /// `nbf`
    NotBefore,
    /// `auth_time`
    AuthTime,
}

impl DateClaim {
    fn name(self) -> &'static str {
        match self {
            Self::IssuedAt => "iat",
            Self::ExpiresAt => "exp",
            Self::NotBefore => "nbf",
            Self::AuthTime => "auth_time",
        }
    }
}

/// The payload for a numeric-date input: the first byte picks the claim (`& 3`: 0 iat, 1 exp, 2 nbf, 3 auth_time) and
/// whether it comes first or last among the claims (`& 4`); the rest is its raw JSON text.
pub fn numeric_date_payload(data: &[u8]) -> Option<(DateClaim, Vec<u8>)> {
    let (&selector, text) = data.split_first()?;
    let claim = match selector & 3 {
        0 => DateClaim::IssuedAt,
        1 => DateClaim::ExpiresAt,
        2 => DateClaim::NotBefore,
        _ => DateClaim::AuthTime,
    };
    let mut fixed = vec![
        ("sub", format!("\"{NUMERIC_DATE_SUBJECT}\"")),
        ("token_use", "\"access\"".to_owned()),
    ];
    if claim != DateClaim::ExpiresAt {
        fixed.push(("exp", FAR_FUTURE.to_owned()));
    }
    if claim != DateClaim::IssuedAt {
        fixed.push(("iat", PAST.to_owned()));
    }
    let fuzzed = [
        b"\"".as_slice(),
        claim.name().as_bytes(),
        b"\":".as_slice(),
        text,
    ]
    .concat();
    let fixed: Vec<String> = fixed
        .into_iter()
        .map(|(name, value)| format!("\"{name}\":{value}"))
        .collect();
    let fixed = fixed.join(",");
    let payload = if selector & 4 == 0 {
        [b"{", fixed.as_bytes(), b",", &fuzzed, b"}"].concat()
    } else {
        [b"{", fuzzed.as_slice(), b",", fixed.as_bytes(), b"}"].concat()
    };
    Some((claim, payload))
}

/// Independent NumericDate grammar: `0|[1-9][0-9]*` with an optional `.[0-9]+`, at most
/// [`MAX_SECONDS`]; the value in microseconds, further digits dropped (rounding down).
pub fn oracle_numeric_date(text: &str) -> Option<i64> {
    let (integer, fraction) = match text.find('.') {
        Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(integer) || (integer.len() > 1 && integer.starts_with('0')) {
        return None;
    }
    // More than 12 digits is above MAX_SECONDS whatever they are; u64 holds 12 digits easily.
    if integer.len() > 12 {
        return None;
    }
    let seconds: u64 = integer.parse().ok()?;
    if seconds > MAX_SECONDS {
        return None;
    }
    let micros: u64 = match fraction {
        None => 0,
        Some(fraction) if digits(fraction) => {
            let mut six: String = fraction.chars().take(6).collect();
            while six.len() < 6 {
                six.push('0');
            }
            six.parse().ok()?
        }
        Some(_) => return None,
    };
    i64::try_from(seconds * 1_000_000 + micros).ok()
}

/// The top-level members of a JSON object, in order, duplicates kept, names unescaped.
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// The dates an accepted payload carries, in microseconds.
#[derive(Debug, PartialEq, Eq)]
pub struct OracleDates {
    issued_at: i64,
    expires_at: i64,
    not_before: Option<i64>,
    authenticated_at: Option<i64>,
}

/// Whether the oracle accepts `payload` at `now` (microseconds), and with which dates.
fn oracle_payload(payload: &[u8], now: i64) -> Option<OracleDates> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let members = <Members as serde::Deserialize>::deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;

    let registered = [
        "sub",
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
    let mut found: [Option<&str>; 10] = [None; 10];
    for (name, value) in &members.0 {
        if let Some(index) = registered.iter().position(|r| r == name) {
            if found[index].is_some() {
                return None; // a registered claim twice
            }
            found[index] = Some(value.get());
        }
    }
    let [sub, iat, exp, nbf, iss, aud, token_use, auth_time, sid, jti] = found;
    let string = |raw: &str| serde_json::from_str::<String>(raw).ok();

    let subject = string(sub?)?;
    if subject.is_empty() || subject.len() > 256 || subject == REVOKED_SUBJECT {
        return None;
    }
    if string(token_use?)? != "access" {
        return None;
    }
    if let Some(sid) = sid {
        let sid = string(sid)?;
        if sid.is_empty() || sid.len() > 256 {
            return None;
        }
    }
    if let Some(jti) = jti {
        let jti = string(jti)?;
        let printable = jti.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if jti.is_empty() || jti.len() > 256 || !printable {
            return None;
        }
    }
    if let Some(iss) = iss {
        string(iss)?;
    }
    if let Some(aud) = aud
        && string(aud).is_none()
        && serde_json::from_str::<Vec<String>>(aud).is_err()
    {
        return None;
    }
    let leeway = i64::try_from(LEEWAY.as_micros()).ok()?;
    let issued_at = oracle_numeric_date(iat?)?;
    let expires_at = oracle_numeric_date(exp?)?;
    let not_before = match nbf {
        Some(nbf) => Some(oracle_numeric_date(nbf)?),
        None => None,
    };
    // The login instant only meets cutoffs, and no subject but the revoked one has any.
    let authenticated_at = match auth_time {
        Some(auth_time) => Some(oracle_numeric_date(auth_time)?),
        None => None,
    };
    let in_force = expires_at > now - leeway
        && issued_at <= now + leeway
        && not_before.is_none_or(|nbf| nbf <= now + leeway);
    in_force.then_some(OracleDates {
        issued_at,
        expires_at,
        not_before,
        authenticated_at,
    })
}

fn now_micros() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// A compact HS256 token over `payload` (raw bytes, so non-UTF-8 payloads can be tried too).
pub fn sign_payload(payload: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = sign(signed.as_bytes());
    format!("{signed}.{signature}")
}

/// Fuzz target `numeric_date`: see [`numeric_date_payload`].
pub fn check_numeric_date(data: &[u8]) {
    let Some((claim, payload)) = numeric_date_payload(data) else {
        return;
    };
    let token = sign_payload(&payload);
    if token.len() > MAX_TOKEN_BYTES {
        let refused = validate(&token).map(|_| ()).map_err(|r| r.reason());
        assert_eq!(refused, Err(Reason::TokenTooLarge), "an oversized token");
        return;
    }
    let before = now_micros();
    let actual = validate(&token);
    let after = now_micros();
    let expected = oracle_payload(&payload, before);
    if expected.is_some() != oracle_payload(&payload, after).is_some() {
        return; // the clock crossed a boundary during the call: either answer is right
    }
    let show = || String::from_utf8_lossy(&payload).into_owned();
    match (actual, expected) {
        (Ok(verified), Some(dates)) => {
            assert_eq!(
                verified.issued_at().as_unix_micros(),
                dates.issued_at,
                "iat read wrongly from {}",
                show()
            );
            assert_eq!(
                verified.expires_at().as_unix_micros(),
                dates.expires_at,
                "exp read wrongly from {}",
                show()
            );
            assert_eq!(
                verified.authenticated_at().as_unix_micros(),
                dates.authenticated_at.unwrap_or(dates.issued_at),
                "auth_time read wrongly from {}",
                show()
            );
            assert_eq!(verified.subject(), NUMERIC_DATE_SUBJECT);
            // Presented again, the token comes from the token cache: the same decision and dates.
            let again = validate(&token);
            if oracle_payload(&payload, now_micros()).is_some() {
                let again = again.unwrap_or_else(|rejection| {
                    panic!(
                        "refused ({:?}) from the token cache what was accepted: {}",
                        rejection.reason(),
                        show()
                    )
                });
                assert_eq!(
                    (again.issued_at(), again.expires_at()),
                    (verified.issued_at(), verified.expires_at()),
                    "the token cache changed the dates of {}",
                    show()
                );
            }
        }
        (Err(rejection), None) => {
            let reason = rejection.reason();
            assert!(!is_header_or_store_reason(reason), "{reason:?}");
            assert_ne!(reason, Reason::BadSignature, "our own signature refused");
        }
        (Ok(_), None) => panic!(
            "accepted {claim:?} in a payload that must be refused: {}",
            show()
        ),
        (Err(rejection), Some(dates)) => panic!(
            "refused ({:?}) a payload that must be accepted ({dates:?}): {}",
            rejection.reason(),
            show()
        ),
    }
}

/// The validator's decision on `token`: its subject, or why it was refused. For the seed minter and
/// the regression tests.
pub fn decision(token: &str) -> Result<String, Reason> {
    validate(token)
        .map(|verified| verified.subject().to_owned())
        .map_err(|rejection| rejection.reason())
}

/// The trusted issuer of the logout-token target's fixture.
pub const LOGOUT_ISSUER: &str = "https://fuzz.example";
/// The client id its logout tokens must be addressed to.
pub const LOGOUT_CLIENT_ID: &str = "fuzz-client";

struct LogoutFixture {
    receiver: jwt_cutoff::BackChannelLogout,
}

fn logout_fixture() -> &'static LogoutFixture {
    static FIXTURE: OnceLock<LogoutFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = VerifyingKey::hmac(FUZZ_SECRET).expect("a 32+ byte secret");
        let validator = Validator::builder()
            .algorithms([Algorithm::HS256])
            .trust(jwt_cutoff::TrustedIssuer::with_keys(LOGOUT_ISSUER, [key]).audience("fuzz-api"))
            .leeway(LEEWAY)
            .build(CutoffCache::new(MemoryStore::new()))
            .expect("a valid configuration");
        LogoutFixture {
            receiver: jwt_cutoff::BackChannelLogout::new(&validator, LOGOUT_CLIENT_ID),
        }
    })
}

/// The claims of a token's payload, read independently of the crate.
fn payload_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice(&json).ok()? {
        serde_json::Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// What the fixture's receiver answers a logout token: the subject and session it logged out, or
/// the status of its refusal.
pub fn logout_decision(token: &str) -> Result<(Option<String>, Option<String>), u16> {
    let receiver = &logout_fixture().receiver;
    match fixture().runtime.block_on(receiver.receive(token)) {
        Ok(done) => Ok((
            done.subject().map(str::to_owned),
            done.session().map(str::to_owned),
        )),
        Err(error) => Err(error.status().as_u16()),
    }
}

/// Fuzz target `logout_token`: arbitrary bytes (lossy UTF-8) as a back-channel logout token. One
/// accepted must be signed canonically with the fuzz key, come from the trusted issuer, be
/// addressed to the client, and hold what OIDC Back-Channel Logout §2.4 requires, read here
/// independently: `iat`, a non-empty `jti`, the event as an object, `sub` or `sid`, no `nonce`.
/// Nothing the receiver answers is a 5xx: the store is in memory and the keys are given.
pub fn check_logout_token(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let receiver = &logout_fixture().receiver;
    let received = fixture().runtime.block_on(receiver.receive(&token));
    match received {
        Ok(logged_out) => {
            assert!(
                is_genuine(&token),
                "accepted a forged logout token: {token:?}"
            );
            let claims = payload_claims(&token).expect("an accepted token has JSON claims");
            assert_eq!(
                claims.get("iss").and_then(|iss| iss.as_str()),
                Some(LOGOUT_ISSUER)
            );
            let audience = claims.get("aud").expect("an audience");
            let addressed = audience.as_str() == Some(LOGOUT_CLIENT_ID)
                || audience.as_array().is_some_and(|audiences| {
                    audiences
                        .iter()
                        .any(|aud| aud.as_str() == Some(LOGOUT_CLIENT_ID))
                });
            assert!(addressed, "accepted a logout token for another client");
            assert!(claims.get("iat").is_some_and(serde_json::Value::is_number));
            assert!(
                claims
                    .get("jti")
                    .and_then(|jti| jti.as_str())
                    .is_some_and(|jti| !jti.is_empty())
            );
            let event = claims
                .get("events")
                .and_then(|events| events.get(jwt_cutoff::BACKCHANNEL_LOGOUT_EVENT));
            assert!(
                event.is_some_and(serde_json::Value::is_object),
                "no event object"
            );
            assert!(!claims.contains_key("nonce"), "accepted a nonce");
            assert_eq!(
                logged_out.subject(),
                claims.get("sub").and_then(|sub| sub.as_str())
            );
            assert_eq!(
                logged_out.session(),
                claims.get("sid").and_then(|sid| sid.as_str())
            );
            assert!(logged_out.subject().is_some() || logged_out.session().is_some());
        }
        Err(error) => assert_eq!(
            error.status(),
            http::StatusCode::BAD_REQUEST,
            "a logout token answered {error}"
        ),
    }
}

/// Fuzz target `jwks`: arbitrary bytes as a JWK set document. The parse never panics; it is an
/// error exactly when the document is not a JSON object with a `keys` array (read here with
/// serde_json); otherwise every entry is either taken or skipped, the taken keys' `kid`s are
/// unique, and each one is read from an entry that has that `kid`.
pub fn check_jwks(data: &[u8]) {
    let independent = serde_json::from_slice::<serde_json::Value>(data).ok();
    let entries = independent
        .as_ref()
        .and_then(|document| document.as_object())
        .and_then(|document| document.get("keys"))
        .and_then(serde_json::Value::as_array);
    match (jwt_cutoff::JwkSet::parse(data), entries) {
        (Ok(set), Some(entries)) => {
            assert_eq!(
                set.keys().len() + set.skipped().len(),
                entries.len(),
                "an entry was lost or counted twice"
            );
            let mut kids: Vec<&str> = set.keys().iter().filter_map(VerifyingKey::key_id).collect();
            let named = kids.len();
            kids.sort_unstable();
            kids.dedup();
            assert_eq!(kids.len(), named, "two taken keys share a kid");
            for kid in kids {
                assert!(
                    entries
                        .iter()
                        .any(|entry| entry.get("kid").and_then(|k| k.as_str()) == Some(kid)),
                    "a taken kid no entry has"
                );
            }
        }
        (Err(_), None) => {}
        // serde_json's own reading may still differ on duplicate members (the last one wins
        // there; the crate refuses duplicate `keys`): only then may they disagree.
        (Err(_), Some(_)) | (Ok(_), None) => assert!(
            has_duplicate_keys_member(data),
            "JwkSet::parse and serde_json disagree on whether this is a set"
        ),
    }
}

/// Whether a top-level JSON object names `keys` more than once (escapes decoded).
fn has_duplicate_keys_member(data: &[u8]) -> bool {
    struct CountKeys;
    impl<'de> Visitor<'de> for CountKeys {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
            let mut count = 0;
            while let Some(name) = map.next_key::<String>()? {
                count += usize::from(name == "keys");
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(count)
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(data);
    serde::Deserializer::deserialize_map(&mut deserializer, CountKeys).is_ok_and(|count| count > 1)
}

//! Shared helpers for the adversarial tests: test keys, hand-made tokens, counting and failing
//! cutoff sources, and a guarded service that records what reached it.
#![allow(dead_code)]

pub(crate) mod gated;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Request, Response, StatusCode, header};
use jsonwebtoken::{Algorithm as Jwa, EncodingKey};
use jwt_cutoff::{
    Algorithm, BoxFuture, Cutoff, CutoffCache, CutoffSource, JwtCutoffLayer, MemoryStore, Reason,
    Responder, Scope, SigningKey, SourceError, TokenIssuer, Validator, Verified, VerifyingKey,
};
use serde::de::DeserializeOwned;
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

/// The HMAC secret the default validator trusts (64 bytes, so HS384/HS512 would be usable too).
pub(crate) const SECRET: &[u8] =
    b"jwt-cutoff adversarial test secret: 64 bytes of not-very-random!";
/// A second HMAC secret, for key rotation and forged signatures.
pub(crate) const OTHER_SECRET: &[u8] =
    b"another secret, for the other key: also long enough, 64 bytes!!";

pub(crate) const RSA_PRIVATE: &[u8] = include_bytes!("../keys/rsa_private.pem");
pub(crate) const RSA_PUBLIC: &[u8] = include_bytes!("../keys/rsa_public.pem");
pub(crate) const RSA_ATTACKER_PRIVATE: &[u8] = include_bytes!("../keys/rsa_attacker_private.pem");
pub(crate) const RSA_ATTACKER_JWK: &str = include_str!("../keys/rsa_attacker_jwk.json");
pub(crate) const EC_PRIVATE: &[u8] = include_bytes!("../keys/ec_private.pem");
pub(crate) const EC_PUBLIC: &[u8] = include_bytes!("../keys/ec_public.pem");
pub(crate) const ED_PRIVATE: &[u8] = include_bytes!("../keys/ed_private.pem");
pub(crate) const ED_PUBLIC: &[u8] = include_bytes!("../keys/ed_public.pem");

/// The plain HS256 header.
pub(crate) const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

// ---------------------------------------------------------------------------------------------
// Time

/// Wall-clock microseconds since the epoch.
pub(crate) fn now_micros() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(elapsed.as_micros()).expect("fits in i64")
}

/// Wall-clock whole seconds since the epoch.
pub(crate) fn now_secs() -> i64 {
    now_micros().div_euclid(1_000_000)
}

/// The exact NumericDate text `secs.micros` (six digits) for an instant in microseconds.
pub(crate) fn precise(micros: i64) -> String {
    format!(
        "{}.{:06}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

// ---------------------------------------------------------------------------------------------
// Hand-made tokens

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn hmac_key(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret).expect("HMAC encoding key")
}

/// Signs already-encoded segments, exactly as given.
pub(crate) fn sign_segments(
    header_b64: &str,
    payload_b64: &str,
    key: &EncodingKey,
    alg: Jwa,
) -> String {
    let message = format!("{header_b64}.{payload_b64}");
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("signing");
    format!("{message}.{signature}")
}

/// Encodes the header and payload text byte for byte and signs them.
pub(crate) fn sign(header: &str, payload: &str, key: &EncodingKey, alg: Jwa) -> String {
    sign_segments(&b64(header), &b64(payload), key, alg)
}

/// An HS256 token over `header` and `payload`, signed with [`SECRET`].
pub(crate) fn hs(header: &str, payload: &str) -> String {
    sign(header, payload, &hmac_key(SECRET), Jwa::HS256)
}

/// An HS256 token with the plain header over `payload`, signed with [`SECRET`].
pub(crate) fn hs_token(payload: &str) -> String {
    hs(HS256_HEADER, payload)
}

/// A payload with valid defaults (`sub` alice, `iat` a second ago with microseconds, `exp` in five
/// minutes, `token_use` access), changed by `overrides`: `Some(raw JSON)` replaces or adds a claim,
/// `None` removes it. Claims keep their order; added ones go last.
pub(crate) fn payload(overrides: &[(&str, Option<&str>)]) -> String {
    let now = now_micros();
    let mut fields: Vec<(String, String)> = vec![
        ("sub".to_owned(), "\"alice\"".to_owned()),
        ("iat".to_owned(), precise(now - 1_000_000)),
        (
            "exp".to_owned(),
            (now.div_euclid(1_000_000) + 300).to_string(),
        ),
        ("token_use".to_owned(), "\"access\"".to_owned()),
    ];
    for (name, value) in overrides {
        let position = fields.iter().position(|(existing, _)| existing == name);
        match (position, value) {
            (Some(index), Some(value)) => fields[index].1 = (*value).to_owned(),
            (Some(index), None) => {
                fields.remove(index);
            }
            (None, Some(value)) => fields.push(((*name).to_owned(), (*value).to_owned())),
            (None, None) => {}
        }
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("\"{name}\":{value}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// The unpadded base64url length of `n` bytes.
pub(crate) fn b64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// A correctly signed, otherwise valid HS256 token for `sub` of exactly `len` bytes, padded with a
/// junk claim.
pub(crate) fn hs_token_of_len(len: usize, sub: &str) -> String {
    let headers = [
        r#"{"alg":"HS256"}"#.to_owned(),
        HS256_HEADER.to_owned(),
        r#"{"alg":"HS256","typ":"JWT","x":1}"#.to_owned(),
    ];
    let sub_json = format!("\"{sub}\"");
    let base = payload(&[("sub", Some(&sub_json)), ("pad", Some("\"\""))]);
    // `,"pad":""}` closes the payload; junk goes between the quotes.
    let prefix = base.strip_suffix("\"}").expect("pad is the last claim");
    for header in &headers {
        let fixed = b64_len(header.len()) + 2 + 43;
        let Some(want_payload) = len.checked_sub(fixed) else {
            continue;
        };
        // Smallest byte count whose encoding is long enough, then check it is exact.
        let bytes = want_payload * 3 / 4;
        for n in bytes.saturating_sub(2)..=bytes + 2 {
            if b64_len(n) == want_payload && n >= base.len() {
                let junk = "x".repeat(n - base.len());
                let body = format!("{prefix}{junk}\"}}");
                let token = hs(header, &body);
                assert_eq!(token.len(), len);
                return token;
            }
        }
    }
    panic!("no token of length {len}");
}

const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The same segment with a non-zero unused trailing bit: a lenient decoder reads the same bytes, a
/// strict (canonical) one refuses it. `None` when the segment has no unused bits.
pub(crate) fn dirty_trailing_bits(segment: &str) -> Option<String> {
    if !matches!(segment.len() % 4, 2 | 3) {
        return None;
    }
    let (body, last) = segment.split_at(segment.len() - 1);
    let index = URL_ALPHABET.iter().position(|&c| c == last.as_bytes()[0])?;
    let dirty = URL_ALPHABET[index | 1] as char;
    (dirty != last.chars().next()?).then(|| format!("{body}{dirty}"))
}

/// A base64url decoder that ignores non-zero trailing bits (to prove a dirty segment decodes to the
/// same bytes when read leniently).
pub(crate) fn lenient_decode(segment: &str) -> Vec<u8> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let engine = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    engine.decode(segment).expect("lenient decode")
}

// ---------------------------------------------------------------------------------------------
// Validators and issuers

pub(crate) fn hs_validator(cutoffs: CutoffCache) -> Validator {
    Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).expect("key"))
        .build(cutoffs)
        .expect("validator")
}

pub(crate) fn hs_issuer() -> TokenIssuer {
    TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).expect("key"))
        .build()
        .expect("issuer")
}

// ---------------------------------------------------------------------------------------------
// Cutoff sources

/// A memory store that records every lookup it answers.
#[derive(Clone, Debug, Default)]
pub(crate) struct CountingSource {
    pub(crate) store: MemoryStore,
    lookups: Arc<Mutex<Vec<String>>>,
}

impl CountingSource {
    pub(crate) fn lookups(&self) -> Vec<String> {
        self.lookups.lock().expect("lock").clone()
    }

    pub(crate) fn lookup_count(&self) -> usize {
        self.lookups.lock().expect("lock").len()
    }
}

impl CutoffSource for CountingSource {
    fn lookup<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        self.lookups.lock().expect("lock").push(subject.to_owned());
        self.store.lookup(subject)
    }

    fn raise<'a>(
        &'a self,
        scope: Scope<'a>,
        to: Cutoff,
    ) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        self.store.raise(scope, to)
    }
}

/// A store that is down: every lookup fails.
#[derive(Clone, Debug, Default)]
pub(crate) struct FailingSource {
    pub(crate) lookups: Arc<AtomicUsize>,
}

impl CutoffSource for FailingSource {
    fn lookup<'a>(&'a self, _subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(SourceError::new("connection refused")) })
    }
}

/// A memory store that can be taken down and brought back.
#[derive(Clone, Debug, Default)]
pub(crate) struct FlakySource {
    pub(crate) store: MemoryStore,
    pub(crate) down: Arc<std::sync::atomic::AtomicBool>,
}

impl CutoffSource for FlakySource {
    fn lookup<'a>(&'a self, subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(async { Err(SourceError::new("connection reset")) });
        }
        self.store.lookup(subject)
    }

    fn raise<'a>(
        &'a self,
        scope: Scope<'a>,
        to: Cutoff,
    ) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(async { Err(SourceError::new("connection reset")) });
        }
        self.store.raise(scope, to)
    }
}

/// A store that never answers.
#[derive(Clone, Debug, Default)]
pub(crate) struct HangingSource;

impl CutoffSource for HangingSource {
    fn lookup<'a>(&'a self, _subject: &'a str) -> BoxFuture<'a, Result<Cutoff, SourceError>> {
        Box::pin(std::future::pending())
    }
}

// ---------------------------------------------------------------------------------------------
// The guarded service

/// A tiny inner service behind a [`JwtCutoffLayer`], counting the requests that reach it.
#[derive(Clone)]
pub(crate) struct Guarded {
    service: BoxCloneService<Request<String>, Response<String>, Infallible>,
    calls: Arc<AtomicUsize>,
}

impl Guarded {
    /// Guards the inner service with `JwtCutoffLayer::new(validator)`.
    pub(crate) fn new(validator: Validator) -> Self {
        Self::with_layer(JwtCutoffLayer::new(validator))
    }

    /// Guards the inner service with `layer`. The inner service answers `ok <subject>` when it finds
    /// a `Verified` (without custom claims) in the extensions, `ok anonymous` otherwise.
    pub(crate) fn with_layer<C, R>(layer: JwtCutoffLayer<C, R>) -> Self
    where
        C: DeserializeOwned + Clone + Send + Sync + 'static,
        R: Responder<String>,
    {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let service =
            ServiceBuilder::new()
                .layer(layer)
                .service_fn(move |request: Request<String>| {
                    let counter = Arc::clone(&counter);
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let body = match request.extensions().get::<Verified>() {
                            Some(verified) => format!("ok {}", verified.subject()),
                            None => "ok anonymous".to_owned(),
                        };
                        Ok::<_, Infallible>(Response::new(body))
                    }
                });
        Self {
            service: BoxCloneService::new(service),
            calls,
        }
    }

    /// Sends `request` and records what came back and whether the inner service ran.
    pub(crate) async fn send(&self, request: Request<String>) -> Reply {
        let before = self.calls.load(Ordering::SeqCst);
        let response = self
            .service
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let inner_calls = self.calls.load(Ordering::SeqCst) - before;
        let text = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        Reply {
            status: response.status(),
            challenge: text(header::WWW_AUTHENTICATE),
            challenges: response
                .headers()
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .count(),
            retry_after: text(header::RETRY_AFTER),
            cache_control: text(header::CACHE_CONTROL),
            body: response.into_body(),
            inner_calls,
        }
    }

    /// Sends a request carrying each of `values` as an `Authorization` header.
    pub(crate) async fn authorization(&self, values: &[HeaderValue]) -> Reply {
        let mut request = Request::get("/resource")
            .body(String::new())
            .expect("request");
        for value in values {
            request
                .headers_mut()
                .append(header::AUTHORIZATION, value.clone());
        }
        self.send(request).await
    }

    /// Sends `Authorization: Bearer <token>` twice, and checks the answer does not echo the token.
    ///
    /// The second time, a token that passed verification comes from the verified-token cache: both
    /// answers must be the same, so every test through here holds for cached tokens too.
    pub(crate) async fn bearer(&self, token: &str) -> Reply {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
        let reply = self.authorization(std::slice::from_ref(&value)).await;
        reply.assert_no_echo(token);
        let again = self.authorization(&[value]).await;
        assert_eq!(
            (
                again.status,
                &again.challenge,
                &again.body,
                again.inner_calls
            ),
            (
                reply.status,
                &reply.challenge,
                &reply.body,
                reply.inner_calls
            ),
            "the same token presented again was decided differently"
        );
        reply
    }

    /// Sends a request without any `Authorization` header.
    pub(crate) async fn anonymous(&self) -> Reply {
        self.authorization(&[]).await
    }
}

/// What the client saw.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) challenge: Option<String>,
    pub(crate) challenges: usize,
    pub(crate) retry_after: Option<String>,
    pub(crate) cache_control: Option<String>,
    pub(crate) body: String,
    pub(crate) inner_calls: usize,
}

impl Reply {
    /// The request reached the inner service once, as `subject`.
    #[track_caller]
    pub(crate) fn assert_ok(&self, subject: &str, what: &str) {
        assert_eq!(self.status, StatusCode::OK, "{what}: {self:?}");
        assert_eq!(self.inner_calls, 1, "{what}: inner service not called once");
        assert_eq!(self.body, format!("ok {subject}"), "{what}");
        assert_eq!(self.challenge, None, "{what}");
    }

    /// The request reached the inner service once, without a verified token.
    #[track_caller]
    pub(crate) fn assert_anonymous(&self, what: &str) {
        assert_eq!(self.status, StatusCode::OK, "{what}: {self:?}");
        assert_eq!(self.inner_calls, 1, "{what}: inner service not called once");
        assert_eq!(self.body, "ok anonymous", "{what}");
    }

    #[track_caller]
    fn assert_refused(&self, status: StatusCode, what: &str) {
        assert_eq!(self.status, status, "{what}: {self:?}");
        assert_eq!(self.inner_calls, 0, "{what}: the inner service was called");
        assert_eq!(self.body, "", "{what}: refusals have an empty body");
        assert_eq!(
            self.cache_control.as_deref(),
            Some("no-store"),
            "{what}: refusals must not be cached"
        );
    }

    /// 401 with a bare `Bearer` challenge (RFC 6750 §3.1: no error code when no token was sent).
    #[track_caller]
    pub(crate) fn assert_missing(&self, what: &str) {
        self.assert_refused(StatusCode::UNAUTHORIZED, what);
        assert_eq!(self.challenge.as_deref(), Some("Bearer"), "{what}");
        assert_eq!(self.challenges, 1, "{what}");
        assert_eq!(self.retry_after, None, "{what}");
    }

    /// 400 `error="invalid_request"`.
    #[track_caller]
    pub(crate) fn assert_invalid_request(&self, what: &str) {
        self.assert_refused(StatusCode::BAD_REQUEST, what);
        let challenge = self.challenge.as_deref().unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_request\", error_description=\""),
            "{what}: {challenge:?}"
        );
        assert_eq!(self.retry_after, None, "{what}");
    }

    /// 401 `error="invalid_token"`, with the description of `reason` (which names it uniquely).
    #[track_caller]
    pub(crate) fn assert_invalid_token(&self, reason: Reason, what: &str) {
        self.assert_refused(StatusCode::UNAUTHORIZED, what);
        let expected = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            reason.description()
        );
        assert_eq!(
            self.challenge.as_deref(),
            Some(&*expected),
            "{what}: expected reason {reason}"
        );
        assert_eq!(self.retry_after, None, "{what}");
    }

    /// 503 with `Retry-After`: the store could not answer.
    #[track_caller]
    pub(crate) fn assert_unavailable(&self, what: &str) {
        self.assert_refused(StatusCode::SERVICE_UNAVAILABLE, what);
        let retry_after = self.retry_after.as_deref().unwrap_or_default();
        assert!(
            retry_after.parse::<u64>().is_ok_and(|secs| secs >= 1),
            "{what}: Retry-After {retry_after:?}"
        );
    }

    /// Neither the body nor the challenge repeats the token.
    #[track_caller]
    pub(crate) fn assert_no_echo(&self, token: &str) {
        if token.len() >= 8 {
            assert!(!self.body.contains(token), "the body echoes the token");
            assert!(
                !self
                    .challenge
                    .as_deref()
                    .unwrap_or_default()
                    .contains(token),
                "the challenge echoes the token"
            );
        }
    }
}

/// `Duration` shorthand.
pub(crate) const fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

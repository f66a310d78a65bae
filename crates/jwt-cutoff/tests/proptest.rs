#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

//! Property tests: whatever arrives in the `Authorization` header, and whatever a correctly signed
//! payload says, the layer never panics, never lets a request through that it should not, and
//! answers only with the statuses RFC 6750 allows; and a token seen before is decided exactly as a
//! validator without a token cache decides it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderValue, Request, Response, StatusCode, header};
use jsonwebtoken::Algorithm as Jwa;
use jwt_cutoff::{
    CutoffCache, JwtCutoffLayer, MAX_SESSION_ID_BYTES, MemoryStore, Reason, Timestamp, TokenIssuer,
    Validator,
};
use jwt_cutoff_test_support::{
    HS256_HEADER, SECRET, b64, hmac_key, hs_builder, hs_issuer, hs_validator, now_secs,
    sign_segments,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};
use serde_json::value::RawValue;
use tower::util::BoxCloneService;
use tower::{ServiceBuilder, ServiceExt};

/// The validator's default leeway.
const LEEWAY_SECS: i64 = 30;

/// A runner for `cases` cases (or `PROPTEST_CASES`, to search harder).
fn runner(cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// The layer around a counting inner service, on a runtime of its own.
struct Harness {
    runtime: tokio::runtime::Runtime,
    service: BoxCloneService<Request<String>, Response<String>, Infallible>,
    /// Shares its token cache with the layer.
    validator: Validator,
    /// The same configuration without a token cache, to compare decisions with.
    uncached: Validator,
    issuer: TokenIssuer,
    inner_calls: Arc<AtomicUsize>,
}

impl Harness {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let cutoffs = CutoffCache::new(MemoryStore::new());
        let validator = hs_validator(cutoffs.clone());
        let uncached = hs_builder()
            .token_cache_max_bytes(0)
            .build(cutoffs)
            .unwrap();
        let inner_calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&inner_calls);
        let inner = tower::service_fn(move |_request: Request<String>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, Infallible>(Response::new("inner".to_owned())) }
        });
        let service = BoxCloneService::new(
            ServiceBuilder::new()
                .layer(JwtCutoffLayer::new(validator.clone()))
                .service(inner),
        );
        let issuer = hs_issuer();
        Self {
            runtime,
            service,
            validator,
            uncached,
            issuer,
            inner_calls,
        }
    }

    fn inner_calls(&self) -> usize {
        self.inner_calls.load(Ordering::SeqCst)
    }

    /// The status for a request with this `Authorization` value, and whether it reached the inner
    /// service.
    fn send(&self, authorization: HeaderValue) -> (StatusCode, bool) {
        let request = Request::get("/")
            .header(header::AUTHORIZATION, authorization)
            .body(String::new())
            .unwrap();
        let before = self.inner_calls();
        let response = self
            .runtime
            .block_on(self.service.clone().oneshot(request))
            .unwrap();
        (response.status(), self.inner_calls() > before)
    }

    /// `Bearer <token>` through the layer; `None` when the bytes cannot be a header value.
    fn send_token(&self, token: &[u8]) -> Option<(StatusCode, bool)> {
        let mut value = b"Bearer ".to_vec();
        value.extend_from_slice(token);
        HeaderValue::from_bytes(&value)
            .ok()
            .map(|value| self.send(value))
    }

    fn validate(&self, token: &str) -> Result<(), Reason> {
        self.validate_with(&self.validator, token)
    }

    fn validate_with(&self, validator: &Validator, token: &str) -> Result<(), Reason> {
        self.runtime
            .block_on(validator.validate(token))
            .map(drop)
            .map_err(|rejection| rejection.reason())
    }

    fn valid_token(&self) -> String {
        self.issuer.issue_access("alice", &()).unwrap().token
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Arbitrary headers and tokens
// ---------------------------------------------------------------------------------------------

fn scheme() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Bearer ".to_vec()),
        Just(b"bearer ".to_vec()),
        Just(b"BEARER ".to_vec()),
        Just(b"Bearer".to_vec()),
        Just(b"Bearer  ".to_vec()),
        Just(b"Bearer\t".to_vec()),
        Just(b"Basic ".to_vec()),
        Just(b" Bearer ".to_vec()),
        Just(Vec::new()),
    ]
}

fn authorization_bytes() -> impl Strategy<Value = Vec<u8>> {
    let joined = |(mut scheme, rest): (Vec<u8>, Vec<u8>)| {
        scheme.extend(rest);
        scheme
    };
    prop_oneof![
        vec(any::<u8>(), 0..300),
        (scheme(), vec(any::<u8>(), 0..300)).prop_map(joined),
        (scheme(), "[ -~]{0,300}".prop_map(String::into_bytes)).prop_map(joined),
        (
            scheme(),
            "[A-Za-z0-9._~+/=-]{0,120}( [A-Za-z0-9._~+/=-]{0,60})?".prop_map(String::into_bytes)
        )
            .prop_map(joined),
    ]
}

#[test]
fn arbitrary_authorization_values_are_refused_with_400_or_401() {
    let harness = Harness::new();
    runner(512)
        .run(&authorization_bytes(), |bytes| {
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                return Ok(()); // not a header value at all: http refuses it before we see it
            };
            stopped_at_the_layer(harness.send(value), &bytes)
        })
        .unwrap();
    assert_eq!(harness.inner_calls(), 0);
}

/// What a request the layer must stop gets: 400 or 401, and the inner service never reached.
/// `sent` is named in the failure message.
fn stopped_at_the_layer(
    (status, reached): (StatusCode, bool),
    sent: &dyn std::fmt::Debug,
) -> TestCaseResult {
    prop_assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
        "status {status} for {sent:?}"
    );
    prop_assert!(!reached, "the inner service was reached for {sent:?}");
    Ok(())
}

fn token_strings() -> impl Strategy<Value = String> {
    // A header that names an allowed algorithm, so these get as far as the signature check.
    let header = b64(HS256_HEADER);
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9._~+/=-]{0,400}",
        "[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{1,200}\\.[A-Za-z0-9_-]{1,90}",
        (vec(any::<u8>(), 0..200), vec(any::<u8>(), 0..64)).prop_map(
            move |(payload, signature)| format!("{header}.{}.{}", b64(payload), b64(signature))
        ),
        (
            vec(any::<u8>(), 0..60),
            vec(any::<u8>(), 0..200),
            vec(any::<u8>(), 0..64)
        )
            .prop_map(|(header, payload, signature)| format!(
                "{}.{}.{}",
                b64(header),
                b64(payload),
                b64(signature)
            )),
    ]
}

#[test]
fn arbitrary_tokens_are_refused_with_400_or_401() {
    let harness = Harness::new();
    runner(512)
        .run(&token_strings(), |token| {
            let outcome = harness.validate(&token);
            prop_assert!(outcome.is_err(), "accepted {token:?}");
            prop_assert_ne!(outcome, Err(Reason::Unavailable));
            if let Some(answer) = harness.send_token(token.as_bytes()) {
                stopped_at_the_layer(answer, &token)?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(harness.inner_calls(), 0);
}

// ---------------------------------------------------------------------------------------------
// (b) Mutations of a valid token
// ---------------------------------------------------------------------------------------------

/// A change to the payload's claims; the payload is re-encoded and the old signature kept (unless
/// the mutation re-signs).
#[derive(Clone, Debug)]
enum ClaimEdit {
    Subject(String),
    /// `iat` moved by this many microseconds (never zero).
    IssuedAtBy(i64),
    /// `iat` as whole seconds.
    IssuedAtWhole,
    /// `exp` moved by this many seconds (never zero).
    ExpiresBy(i64),
    TokenUse(String),
    Remove(Index),
    Add(String, i64),
    /// The same claims, spaced out: the JSON means the same, the bytes differ.
    Reformat,
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        segment: usize,
        at: Index,
        bit: u8,
    },
    Replace {
        segment: usize,
        at: Index,
        byte: u8,
    },
    Insert {
        segment: usize,
        at: Index,
        byte: u8,
    },
    Delete {
        segment: usize,
        at: Index,
    },
    Truncate(Index),
    SwapSegments(usize, usize),
    ExtraSegment(String),
    Claims(ClaimEdit),
    /// Signed with another secret, possibly after editing the claims.
    Resign {
        secret: Vec<u8>,
        edit: Option<ClaimEdit>,
    },
    /// Correctly signed with the right secret, but with an algorithm the validator does not allow.
    OtherAlgorithm(usize),
    /// The header's `alg` replaced; the signature dropped, emptied or kept.
    AlgHeader {
        alg: usize,
        signature: usize,
    },
}

const OTHER_ALGORITHMS: [Jwa; 2] = [Jwa::HS384, Jwa::HS512];
const ALG_NAMES: [&str; 8] = [
    "none", "None", "NONE", "nOnE", "", "hs256", "HS256 ", "RS256",
];

fn claim_edit() -> impl Strategy<Value = ClaimEdit> {
    prop_oneof![
        ".{0,20}"
            .prop_filter("another subject", |s| s != "alice")
            .prop_map(ClaimEdit::Subject),
        prop_oneof![-10_000_000_i64..0, 1_i64..10_000_000].prop_map(ClaimEdit::IssuedAtBy),
        Just(ClaimEdit::IssuedAtWhole),
        prop_oneof![-1_000_000_i64..0, 1_i64..100_000_000].prop_map(ClaimEdit::ExpiresBy),
        prop_oneof![
            Just("refresh".to_owned()),
            Just("ACCESS".to_owned()),
            Just(String::new()),
            "[a-z]{1,8}".prop_filter("not access", |s| s != "access"),
        ]
        .prop_map(ClaimEdit::TokenUse),
        any::<Index>().prop_map(ClaimEdit::Remove),
        ("x[a-z]{0,6}", any::<i64>()).prop_map(|(name, value)| ClaimEdit::Add(name, value)),
        Just(ClaimEdit::Reformat),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..3_usize, any::<Index>(), 0..8_u8).prop_map(|(segment, at, bit)| Mutation::Flip {
            segment,
            at,
            bit
        }),
        (0..3_usize, any::<Index>(), any::<u8>())
            .prop_map(|(segment, at, byte)| { Mutation::Replace { segment, at, byte } }),
        (0..3_usize, any::<Index>(), any::<u8>())
            .prop_map(|(segment, at, byte)| { Mutation::Insert { segment, at, byte } }),
        (0..3_usize, any::<Index>()).prop_map(|(segment, at)| Mutation::Delete { segment, at }),
        any::<Index>().prop_map(Mutation::Truncate),
        (0..3_usize, 0..3_usize)
            .prop_filter("two segments", |(a, b)| a != b)
            .prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
        "[A-Za-z0-9_-]{0,40}".prop_map(Mutation::ExtraSegment),
        claim_edit().prop_map(Mutation::Claims),
        (
            vec(any::<u8>(), 32..64).prop_filter("another secret", |s| s != SECRET),
            proptest::option::of(claim_edit())
        )
            .prop_map(|(secret, edit)| Mutation::Resign { secret, edit }),
        (0..OTHER_ALGORITHMS.len()).prop_map(Mutation::OtherAlgorithm),
        (0..ALG_NAMES.len(), 0..3_usize)
            .prop_map(|(alg, signature)| Mutation::AlgHeader { alg, signature }),
    ]
}

/// The token's three segments.
fn segments(token: &str) -> [String; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    [
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    ]
}

fn join(parts: &[impl AsRef<[u8]>]) -> Vec<u8> {
    let mut joined = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            joined.push(b'.');
        }
        joined.extend_from_slice(part.as_ref());
    }
    joined
}

/// The payload with `edit` applied, as JSON text.
fn edited_payload(payload_b64: &str, edit: &ClaimEdit) -> String {
    let json = URL_SAFE_NO_PAD.decode(payload_b64).unwrap();
    let mut claims: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(&json).unwrap();
    let raw = |text: String| RawValue::from_string(text).unwrap();
    let issued_at = |claims: &BTreeMap<String, Box<RawValue>>| {
        let text = claims["iat"].get();
        let (secs, micros) = text.split_once('.').unwrap_or((text, "0"));
        let micros: i64 = format!("{micros:0<6}")[..6].parse().unwrap();
        secs.parse::<i64>().unwrap() * 1_000_000 + micros
    };
    match edit {
        ClaimEdit::Subject(subject) => {
            claims.insert(
                "sub".to_owned(),
                raw(serde_json::to_string(subject).unwrap()),
            );
        }
        ClaimEdit::IssuedAtBy(delta) => {
            let at = Timestamp::from_unix_micros(issued_at(&claims) + delta);
            claims.insert("iat".to_owned(), raw(at.to_string()));
        }
        ClaimEdit::IssuedAtWhole => {
            let secs = issued_at(&claims).div_euclid(1_000_000);
            claims.insert("iat".to_owned(), raw(secs.to_string()));
        }
        ClaimEdit::ExpiresBy(delta) => {
            let exp: i64 = claims["exp"].get().parse().unwrap();
            claims.insert("exp".to_owned(), raw((exp + delta).to_string()));
        }
        ClaimEdit::TokenUse(token_use) => {
            claims.insert(
                "token_use".to_owned(),
                raw(serde_json::to_string(token_use).unwrap()),
            );
        }
        ClaimEdit::Remove(index) => {
            let name = claims
                .keys()
                .nth(index.index(claims.len()))
                .unwrap()
                .clone();
            claims.remove(&name);
        }
        ClaimEdit::Add(name, value) => {
            claims.insert(name.clone(), raw(value.to_string()));
        }
        ClaimEdit::Reformat => {}
    }
    let separator = if matches!(edit, ClaimEdit::Reformat) {
        " , "
    } else {
        ","
    };
    let entries: Vec<String> = claims
        .iter()
        .map(|(name, value)| format!("{}:{}", serde_json::to_string(name).unwrap(), value.get()))
        .collect();
    format!("{{{}}}", entries.join(separator))
}

fn mutate(token: &str, mutation: &Mutation) -> Vec<u8> {
    let parts = segments(token);
    let edit_segment = |segment: usize, change: &dyn Fn(&mut Vec<u8>)| {
        let mut parts: Vec<Vec<u8>> = parts.iter().map(|p| p.clone().into_bytes()).collect();
        change(&mut parts[segment]);
        join(&parts)
    };
    match mutation {
        Mutation::Flip { segment, at, bit } => edit_segment(*segment, &|bytes| {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }),
        Mutation::Replace { segment, at, byte } => edit_segment(*segment, &|bytes| {
            let i = at.index(bytes.len());
            bytes[i] = if bytes[i] == *byte {
                byte.wrapping_add(1)
            } else {
                *byte
            };
        }),
        Mutation::Insert { segment, at, byte } => edit_segment(*segment, &|bytes| {
            let i = at.index(bytes.len() + 1);
            bytes.insert(i, *byte);
        }),
        Mutation::Delete { segment, at } => edit_segment(*segment, &|bytes| {
            let i = at.index(bytes.len());
            bytes.remove(i);
        }),
        Mutation::Truncate(at) => token.as_bytes()[..at.index(token.len())].to_vec(),
        Mutation::SwapSegments(a, b) => {
            let mut parts = parts.clone();
            parts.swap(*a, *b);
            join(&parts)
        }
        Mutation::ExtraSegment(extra) => format!("{token}.{extra}").into_bytes(),
        Mutation::Claims(edit) => {
            let payload = b64(edited_payload(&parts[1], edit));
            join(&[&parts[0], &payload, &parts[2]])
        }
        Mutation::Resign { secret, edit } => {
            let payload = match edit {
                Some(edit) => b64(edited_payload(&parts[1], edit)),
                None => parts[1].clone(),
            };
            sign_segments(&parts[0], &payload, &hmac_key(secret), Jwa::HS256).into_bytes()
        }
        Mutation::OtherAlgorithm(i) => {
            let alg = OTHER_ALGORITHMS[*i];
            let header = b64(format!(r#"{{"alg":"{alg:?}","typ":"JWT"}}"#));
            sign_segments(&header, &parts[1], &hmac_key(SECRET), alg).into_bytes()
        }
        Mutation::AlgHeader { alg, signature } => {
            let header = b64(format!(r#"{{"alg":"{}","typ":"JWT"}}"#, ALG_NAMES[*alg]));
            match signature {
                0 => format!("{header}.{}.", parts[1]),
                1 => format!("{header}.{}", parts[1]),
                _ => format!("{header}.{}.{}", parts[1], parts[2]),
            }
            .into_bytes()
        }
    }
}

#[test]
fn mutated_tokens_are_never_accepted() {
    let harness = Harness::new();
    // The unmutated token passes, so a refusal below is the mutation's doing.
    let control = harness.valid_token();
    assert_eq!(harness.validate(&control), Ok(()));
    assert_eq!(
        harness.send_token(control.as_bytes()),
        Some((StatusCode::OK, true))
    );
    let before = harness.inner_calls();

    runner(512)
        .run(&mutation(), |mutation| {
            let token = harness.valid_token();
            let mutated = mutate(&token, &mutation);
            prop_assert_ne!(&mutated, token.as_bytes(), "{:?} changed nothing", mutation);
            if let Ok(text) = std::str::from_utf8(&mutated) {
                let outcome = harness.validate(text);
                prop_assert!(outcome.is_err(), "{mutation:?} accepted: {text}");
                prop_assert_ne!(outcome, Err(Reason::Unavailable));
            }
            if let Some(answer) = harness.send_token(&mutated) {
                stopped_at_the_layer(answer, &mutation)?;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(harness.inner_calls(), before);
}

// ---------------------------------------------------------------------------------------------
// (c) Arbitrary payloads, correctly signed
// ---------------------------------------------------------------------------------------------

/// A NumericDate claim as written: a value relative to now, in some format.
#[derive(Clone, Debug)]
enum Date {
    /// Whole seconds, this many seconds from now.
    Whole(i64),
    /// With a fraction of 1 to 9 digits, this many seconds from now.
    Fraction(i64, String),
    Zero,
    /// Text that is not a valid NumericDate (or not valid JSON at all).
    Invalid(&'static str),
    /// A valid date written as a JSON string.
    Quoted(i64),
}

impl Date {
    /// The JSON text, and the instant (seconds from now) when it is a valid NumericDate.
    fn render(&self, now: i64) -> (String, Option<i64>) {
        match self {
            Self::Whole(offset) => ((now + offset).to_string(), Some(*offset)),
            Self::Fraction(offset, digits) => (format!("{}.{digits}", now + offset), Some(*offset)),
            Self::Zero => ("0".to_owned(), Some(-now)),
            Self::Invalid(text) => ((*text).to_owned(), None),
            Self::Quoted(offset) => (format!("\"{}\"", now + offset), None),
        }
    }
}

fn date() -> impl Strategy<Value = Date> {
    // Offsets are either clearly on one side of "now ± leeway" or clearly inside the leeway, so
    // the expected outcome does not depend on when the case runs.
    let offset = prop_oneof![
        -100_000_i64..-60,
        -20_i64..20,
        40_i64..600,
        600_i64..100_000,
        100_000_i64..10_000_000,
    ];
    prop_oneof![
        3 => offset.clone().prop_map(Date::Whole),
        2 => (offset.clone(), "[0-9]{1,9}").prop_map(|(o, d)| Date::Fraction(o, d)),
        1 => Just(Date::Zero),
        2 => proptest::sample::select(vec![
            "-1", "-0", "1e9", "1.5e9", "1E9", "null", "true", "\"\"", "[]", "{}", "1e308",
            "99999999999999999999", "9223372036854775808", "253402300800", "0123", "1.",
            ".5", "NaN", "Infinity", "1.5.5", "+5", "0x10",
        ])
        .prop_map(Date::Invalid),
        1 => offset.prop_map(Date::Quoted),
    ]
}

#[derive(Clone, Debug)]
enum Subject {
    /// 1 to 64 characters: at most 256 bytes, accepted.
    Valid(String),
    Empty,
    /// Longer than 256 bytes.
    Long(String),
    /// Not a string.
    Other(&'static str),
}

fn subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        12 => ".{1,64}".prop_map(Subject::Valid),
        1 => Just(Subject::Empty),
        1 => prop_oneof![
            (257_usize..600).prop_map(|n| "a".repeat(n)),
            (129_usize..300).prop_map(|n| "é".repeat(n)),
        ]
        .prop_map(Subject::Long),
        1 => proptest::sample::select(vec!["1", "null", "true", "[\"alice\"]", "{}", "1.5"])
            .prop_map(Subject::Other),
    ]
}

#[derive(Clone, Debug)]
struct Payload {
    subject: Option<Subject>,
    issued_at: Option<Date>,
    expires: Option<Date>,
    not_before: Option<Date>,
    token_use: Option<&'static str>,
    /// `iss` as JSON text, and whether it is a string (anything else is refused).
    issuer: Option<(String, bool)>,
    /// `aud` as JSON text, and whether it is a string or an array of strings.
    audience: Option<(String, bool)>,
    /// `sid` as JSON text, and whether it is a string of 1 to `MAX_SESSION_ID_BYTES` bytes.
    session_id: Option<(String, bool)>,
    /// Unregistered claims (their names start with `x`).
    extra: Vec<(String, String)>,
    /// Repeat one registered claim (refused: claims may not repeat).
    duplicate: Option<Index>,
    /// A permutation seed for the claim order.
    order: Vec<Index>,
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| f.to_string()),
        ".{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            vec(("[a-z]{1,5}", inner), 0..4).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(name, value)| format!("\"{name}\":{value}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    let text = |valid: bool| {
        if valid {
            ".{0,12}"
                .prop_map(|s| (serde_json::to_string(&s).unwrap(), true))
                .boxed()
        } else {
            json_value()
                .prop_filter("not a string", |v| !v.starts_with('"'))
                .prop_map(|v| (v, false))
                .boxed()
        }
    };
    let audience = prop_oneof![
        text(true),
        vec(".{0,8}", 0..3).prop_map(|auds| (serde_json::to_string(&auds).unwrap(), true)),
        json_value().prop_map(|aud| {
            // `aud` is one string or an array of strings (an empty array included).
            let valid = match serde_json::from_str(&aud).unwrap() {
                serde_json::Value::String(_) => true,
                serde_json::Value::Array(items) => items.iter().all(serde_json::Value::is_string),
                _ => false,
            };
            (aud, valid)
        }),
    ];
    let bounded_session_id = |len: usize| {
        let text = serde_json::to_string(&"s".repeat(len)).unwrap();
        (text, (1..=MAX_SESSION_ID_BYTES).contains(&len))
    };
    let session_id = prop_oneof![
        "[A-Za-z0-9_-]{22}".prop_map(|sid| (serde_json::to_string(&sid).unwrap(), true)),
        ".{1,12}".prop_map(|sid| (serde_json::to_string(&sid).unwrap(), true)),
        prop_oneof![
            Just(0),
            Just(MAX_SESSION_ID_BYTES),
            Just(MAX_SESSION_ID_BYTES + 1)
        ]
        .prop_map(bounded_session_id),
        text(false),
    ];
    (
        (
            proptest::option::weighted(0.95, subject()),
            proptest::option::weighted(0.95, date()),
            proptest::option::weighted(0.95, date()),
            proptest::option::weighted(0.2, date()),
            proptest::option::weighted(
                0.95,
                proptest::sample::select(vec![
                    "access", "access", "access", "access", "access", "access", "access", "access",
                    "refresh", "", "ACCESS", "id",
                ]),
            ),
        ),
        (
            proptest::option::weighted(0.2, prop_oneof![text(true), text(false)]),
            proptest::option::weighted(0.2, audience),
            proptest::option::weighted(0.3, session_id),
            vec(("x[a-z_]{0,6}", json_value()), 0..4),
            proptest::option::weighted(0.1, any::<Index>()),
            vec(any::<Index>(), 12),
        ),
    )
        .prop_map(
            |(
                (subject, issued_at, expires, not_before, token_use),
                (issuer, audience, session_id, extra, duplicate, order),
            )| Payload {
                subject,
                issued_at,
                expires,
                not_before,
                token_use,
                issuer,
                audience,
                session_id,
                extra,
                duplicate,
                order,
            },
        )
}

impl Payload {
    /// The JSON text of the payload at `now`, and whether the validator must accept it.
    fn render(&self, now: i64) -> (String, bool) {
        let mut acceptable = true;
        let mut claims: Vec<(String, String)> = Vec::new();

        match &self.subject {
            Some(Subject::Valid(subject)) => {
                claims.push(("sub".to_owned(), serde_json::to_string(subject).unwrap()));
            }
            Some(Subject::Empty) => {
                claims.push(("sub".to_owned(), "\"\"".to_owned()));
                acceptable = false;
            }
            Some(Subject::Long(subject)) => {
                claims.push(("sub".to_owned(), serde_json::to_string(subject).unwrap()));
                acceptable = false;
            }
            Some(Subject::Other(text)) => {
                claims.push(("sub".to_owned(), (*text).to_owned()));
                acceptable = false;
            }
            None => acceptable = false,
        }
        // iat: a valid date at most the leeway ahead.
        match &self.issued_at {
            Some(date) => {
                let (text, offset) = date.render(now);
                acceptable &= offset.is_some_and(|offset| offset <= LEEWAY_SECS);
                claims.push(("iat".to_owned(), text));
            }
            None => acceptable = false,
        }
        // exp: a valid date later than the leeway ago.
        match &self.expires {
            Some(date) => {
                let (text, offset) = date.render(now);
                acceptable &= offset.is_some_and(|offset| offset > -LEEWAY_SECS);
                claims.push(("exp".to_owned(), text));
            }
            None => acceptable = false,
        }
        // nbf: optional; a valid date at most the leeway ahead.
        if let Some(date) = &self.not_before {
            let (text, offset) = date.render(now);
            acceptable &= offset.is_some_and(|offset| offset <= LEEWAY_SECS);
            claims.push(("nbf".to_owned(), text));
        }
        match self.token_use {
            Some(token_use) => {
                acceptable &= token_use == "access";
                claims.push((
                    "token_use".to_owned(),
                    serde_json::to_string(token_use).unwrap(),
                ));
            }
            None => acceptable = false,
        }
        if let Some((text, valid)) = &self.issuer {
            acceptable &= valid;
            claims.push(("iss".to_owned(), text.clone()));
        }
        if let Some((text, valid)) = &self.audience {
            acceptable &= valid;
            claims.push(("aud".to_owned(), text.clone()));
        }
        if let Some((text, valid)) = &self.session_id {
            acceptable &= valid;
            claims.push(("sid".to_owned(), text.clone()));
        }
        if let Some(index) = &self.duplicate
            && !claims.is_empty()
        {
            let repeated = claims[index.index(claims.len())].clone();
            claims.push(repeated);
            acceptable = false;
        }
        claims.extend(self.extra.iter().cloned());

        // Shuffle the claims with the order seed.
        let mut shuffled = Vec::with_capacity(claims.len());
        for index in &self.order {
            if claims.is_empty() {
                break;
            }
            shuffled.push(claims.remove(index.index(claims.len())));
        }
        shuffled.append(&mut claims);

        let fields: Vec<String> = shuffled
            .iter()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        (format!("{{{}}}", fields.join(",")), acceptable)
    }
}

fn signed(payload: &[u8]) -> String {
    sign_segments(
        &b64(HS256_HEADER),
        &b64(payload),
        &hmac_key(SECRET),
        Jwa::HS256,
    )
}

#[test]
fn signed_payloads_are_accepted_only_when_their_claims_are_valid() {
    let harness = Harness::new();
    let accepted = AtomicUsize::new(0);
    let refused = AtomicUsize::new(0);
    runner(512)
        .run(&payload(), |payload| {
            let (json, acceptable) = payload.render(now_secs());
            check_signed(&harness, json.as_bytes(), acceptable)?;
            let counter = if acceptable { &accepted } else { &refused };
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    // The generator explores both sides.
    eprintln!(
        "COUNTS {} {}",
        accepted.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst)
    );
    assert!(accepted.load(Ordering::SeqCst) > 0);
    assert!(refused.load(Ordering::SeqCst) > 0);
}

fn junk_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..200),
        json_value().prop_map(String::into_bytes),
        any::<String>().prop_map(String::into_bytes),
        "[ -~]{0,100}".prop_map(String::into_bytes),
        Just(br#"{"sub":"alice","iat":1,"exp":99999999999,"token_use":"access""#.to_vec()),
    ]
}

#[test]
fn signed_non_object_payloads_are_refused() {
    let harness = Harness::new();
    runner(256)
        .run(&junk_payload(), |payload| {
            // A JSON object could happen to be a valid claim set; anything else never is.
            let is_object = serde_json::from_slice::<serde_json::Value>(&payload)
                .is_ok_and(|value| value.is_object());
            if is_object {
                return Ok(());
            }
            check_signed(&harness, &payload, false)
        })
        .unwrap();
}

/// Sends `payload`, correctly signed, through the validator and the layer.
fn check_signed(harness: &Harness, payload: &[u8], acceptable: bool) -> TestCaseResult {
    let token = signed(payload);
    let text = String::from_utf8_lossy(payload);
    let outcome = harness.validate(&token);
    prop_assert_eq!(
        outcome.is_ok(),
        acceptable,
        "payload {} gave {:?}",
        text,
        outcome
    );
    prop_assert_ne!(outcome, Err(Reason::Unavailable));
    // Again (from the token cache if it was accepted), and without any token cache: the same.
    prop_assert_eq!(harness.validate(&token), outcome);
    prop_assert_eq!(harness.validate_with(&harness.uncached, &token), outcome);
    let (status, reached) = harness
        .send_token(token.as_bytes())
        .expect("a compact JWT is a valid header value");
    let expected = if acceptable {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    prop_assert_eq!(status, expected, "payload {}", text);
    prop_assert_eq!(reached, acceptable);
    Ok(())
}

#[test]
fn the_generators_reach_the_expected_outcomes() {
    // A hand-written case of each kind, so a broken generator cannot make the properties vacuous.
    let harness = Harness::new();
    let now = now_secs();
    let good = format!(
        r#"{{"sub":"alice","iat":{now}.5,"exp":{},"token_use":"access"}}"#,
        now + 300
    );
    check_signed(&harness, good.as_bytes(), true).unwrap();
    let future = format!(
        r#"{{"sub":"alice","iat":{},"exp":{},"token_use":"access"}}"#,
        now + 3_600,
        now + 7_200
    );
    check_signed(&harness, future.as_bytes(), false).unwrap();
}

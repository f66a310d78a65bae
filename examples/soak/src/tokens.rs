//! Tokens the tool makes itself with the demo's access secret (expired ones, and one per logout),
//! and the forged and garbage `Authorization` headers, each with what the demo must answer.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::header::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A small, fast, non-cryptographic generator (xorshift64*), one per task.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        let bound = u64::try_from(bound).unwrap_or(u64::MAX);
        usize::try_from(self.next() % bound).unwrap_or(0)
    }

    /// One of `items`.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Seconds since the epoch, with microseconds, as the demo writes `iat`.
pub(crate) fn now_secs() -> f64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros());
    // Exact for dates in this century: below 2^53 microseconds.
    u64::try_from(micros).unwrap_or(0) as f64 / 1e6
}

fn whole_secs(secs: f64) -> i64 {
    secs.floor() as i64
}

/// The demo's access claims: `sub`, fractional `iat`, `exp`, `token_use` and `username`.
pub(crate) fn access_claims(
    subject: &str,
    username: &str,
    issued_at: f64,
    expires_at: i64,
) -> Value {
    json!({
        "sub": subject,
        "iat": issued_at,
        "exp": expires_at,
        "token_use": "access",
        "username": username,
    })
}

/// Signs with the demo's access secret (and, for forgeries, with another one).
pub(crate) struct Minter {
    access: EncodingKey,
    other: EncodingKey,
}

impl Minter {
    pub(crate) fn new(access_secret: &[u8]) -> Result<Self, String> {
        let key = |secret: &[u8]| {
            EncodingKey::from_secret(secret).map_err(|error| format!("secret: {error}"))
        };
        Ok(Self {
            access: key(access_secret)?,
            other: key(b"not the demo's secret, but just as long as one")?,
        })
    }

    fn sign(key: &EncodingKey, algorithm: Algorithm, claims: &Value) -> Result<String, String> {
        jsonwebtoken::encode(&Header::new(algorithm), claims, key)
            .map_err(|error| format!("signing: {error}"))
    }

    /// A token the demo accepts: its own shape, signed with its secret, issued now.
    pub(crate) fn valid_now(&self, subject: &str, username: &str) -> Result<String, String> {
        let now = now_secs();
        let claims = access_claims(subject, username, now, whole_secs(now) + 300);
        Self::sign(&self.access, Algorithm::HS256, &claims)
    }

    /// A well-signed access token whose `exp` passed `ago` seconds ago (well beyond the demo's 5 s
    /// leeway).
    pub(crate) fn expired(
        &self,
        subject: &str,
        username: &str,
        ago: i64,
    ) -> Result<String, String> {
        let expires_at = whole_secs(now_secs()) - ago;
        let issued_at = expires_at as f64 - 300.0 + 0.123_456;
        let claims = access_claims(subject, username, issued_at, expires_at);
        Self::sign(&self.access, Algorithm::HS256, &claims)
    }

    /// Forgeries of a token for this user, each with a label. `genuine` is a token the demo issued
    /// to this user, `refresh` its refresh token, `other_subject` another user's id.
    pub(crate) fn forgeries(
        &self,
        subject: &str,
        username: &str,
        genuine: &str,
        refresh: &str,
        other_subject: &str,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let now = now_secs();
        let exp = whole_secs(now) + 300;
        let claims = access_claims(subject, username, now, exp);
        let mut forged = vec![
            (
                "other secret",
                Self::sign(&self.other, Algorithm::HS256, &claims)?,
            ),
            ("alg none", unsigned(&claims)),
            (
                "alg HS512, right secret",
                Self::sign(&self.access, Algorithm::HS512, &claims)?,
            ),
            ("refresh token as access token", refresh.to_owned()),
        ];
        let mut refresh_use = claims;
        if let Some(map) = refresh_use.as_object_mut() {
            map.insert("token_use".to_owned(), json!("refresh"));
        }
        forged.push((
            "token_use refresh, right secret",
            Self::sign(&self.access, Algorithm::HS256, &refresh_use)?,
        ));
        let future = access_claims(subject, username, now + 3600.0, exp + 3600);
        forged.push((
            "iat an hour ahead, right secret",
            Self::sign(&self.access, Algorithm::HS256, &future)?,
        ));
        forged.push((
            "payload: sub swapped, signature kept",
            tampered(genuine, "sub", json!(other_subject))?,
        ));
        forged.push((
            "payload: exp extended, signature kept",
            tampered(genuine, "exp", json!(exp + 86_400))?,
        ));
        forged.push((
            "payload: iat moved, signature kept",
            tampered(genuine, "iat", json!(now + 1.0))?,
        ));
        Ok(forged)
    }
}

/// `alg: none`: header and payload, and an empty signature.
fn unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// `token` with one claim of its payload changed and the original signature.
fn tampered(token: &str, claim: &str, value: Value) -> Result<String, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("a token from the demo is not header.payload.signature".to_owned());
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|error| format!("payload: {error}"))?;
    let mut claims: Value =
        serde_json::from_slice(&bytes).map_err(|error| format!("payload: {error}"))?;
    if let Some(map) = claims.as_object_mut() {
        map.insert(claim.to_owned(), value);
    }
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    Ok(format!("{header}.{payload}.{signature}"))
}

/// `Bearer <token>` (with the scheme spelt `scheme`).
pub(crate) fn bearer(scheme: &str, token: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(&format!("{scheme} {token}"))
        .map_err(|error| format!("header value: {error}"))
}

fn header(bytes: Vec<u8>) -> Result<HeaderValue, String> {
    HeaderValue::from_maybe_shared(bytes::Bytes::from(bytes))
        .map_err(|error| format!("header value: {error}"))
}

/// A byte that an HTTP header value may carry: visible ASCII, space, or obs-text (not UTF-8).
fn header_byte(rng: &mut Rng) -> u8 {
    loop {
        let byte = u8::try_from(rng.next() & 0xff).unwrap_or(b'x');
        if (0x20..0x7f).contains(&byte) || byte >= 0x80 || byte == b'\t' {
            return byte;
        }
    }
}

fn token68_char(rng: &mut Rng) -> u8 {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/";
    CHARS.get(rng.below(CHARS.len())).copied().unwrap_or(b'A')
}

/// Requests the demo must refuse with 400 or 401: each a label and its `Authorization` headers.
/// `genuine` are tokens the demo issued (still valid), used for the shapes around them.
pub(crate) fn garbage(
    rng: &mut Rng,
    genuine: &[String],
) -> Result<Vec<(&'static str, Vec<HeaderValue>)>, String> {
    let mut out: Vec<(&'static str, Vec<HeaderValue>)> = Vec::new();
    for _ in 0..40 {
        let len = 1 + rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| header_byte(rng)).collect();
        out.push(("random bytes", vec![header(bytes)?]));
        let len = 1 + rng.below(300);
        let mut bytes = b"Bearer ".to_vec();
        bytes.extend((0..len).map(|_| header_byte(rng)));
        out.push(("Bearer + random bytes", vec![header(bytes)?]));
        let len = 1 + rng.below(600);
        let mut bytes = b"Bearer ".to_vec();
        bytes.extend((0..len).map(|_| token68_char(rng)));
        out.push(("Bearer + random token68", vec![header(bytes)?]));
    }
    for token in genuine.iter().take(40) {
        let cut = rng.below(token.len());
        let truncated = token.get(..cut).unwrap_or("");
        out.push(("truncated token", vec![bearer("Bearer", truncated)?]));
        let mut shortened = token.clone();
        shortened.pop();
        out.push(("last character cut", vec![bearer("Bearer", &shortened)?]));
    }
    for token in genuine.iter().take(10) {
        out.push((
            "two Authorization headers",
            vec![bearer("Bearer", token)?, bearer("Bearer", token)?],
        ));
        out.push((
            "two tokens",
            vec![bearer("Bearer", &format!("{token} {token}"))?],
        ));
        out.push(("two spaces", vec![bearer("Bearer ", token)?]));
        out.push((
            "tab",
            vec![header(format!("Bearer\t{token}").into_bytes())?],
        ));
        out.push(("quoted", vec![bearer("Bearer", &format!("\"{token}\""))?]));
        out.push((
            "extra segment",
            vec![bearer("Bearer", &format!("{token}.AAAA"))?],
        ));
        out.push((
            "Basic scheme",
            vec![header(b"Basic YWxpY2U6d29uZGVybGFuZA==".to_vec())?],
        ));
        out.push(("Bearer, no token", vec![header(b"Bearer".to_vec())?]));
        out.push(("no Authorization header", Vec::new()));
    }
    for (label, size) in [("9 KiB token", 9 * 1024), ("64 KiB token", 64 * 1024)] {
        for _ in 0..3 {
            let third = size / 3;
            let segment = |rng: &mut Rng| -> String {
                (0..third)
                    .map(|_| char::from(token68_char(rng).max(b'0')))
                    .collect()
            };
            let huge = format!("{}.{}.{}", segment(rng), segment(rng), segment(rng));
            out.push((label, vec![bearer("Bearer", &huge)?]));
        }
    }
    Ok(out)
}

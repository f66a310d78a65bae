//! Test keys, hand-made tokens whose every byte the test chooses, and HS256 fixtures.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm as Jwa, EncodingKey};
use jwt_cutoff::{
    Algorithm, CutoffCache, Reason, SigningKey, TokenIssuer, TokenIssuerBuilder, TokenType,
    Validator, ValidatorBuilder, VerifyingKey,
};

use crate::wait::{now_micros, precise};

/// The HMAC secret the HS256 fixtures use (64 bytes, so HS384/HS512 would be usable too).
pub const SECRET: &[u8] = b"jwt-cutoff adversarial test secret: 64 bytes of not-very-random!";
/// A second HMAC secret, for key rotation and forged signatures.
pub const OTHER_SECRET: &[u8] = b"another secret, for the other key: also long enough, 64 bytes!!";

/// The test RSA private key (PKCS#8 PEM). The key files live in the core crate's `tests/keys/`,
/// where its unit tests and benchmarks read them too.
pub const RSA_PRIVATE: &[u8] = include_bytes!("../../jwt-cutoff/tests/keys/rsa_private.pem");
/// The public half of [`RSA_PRIVATE`].
pub const RSA_PUBLIC: &[u8] = include_bytes!("../../jwt-cutoff/tests/keys/rsa_public.pem");
/// An attacker's RSA private key, which no validator trusts.
pub const RSA_ATTACKER_PRIVATE: &[u8] =
    include_bytes!("../../jwt-cutoff/tests/keys/rsa_attacker_private.pem");
/// The public half of [`RSA_ATTACKER_PRIVATE`] as a JWK, to embed in headers.
pub const RSA_ATTACKER_JWK: &str =
    include_str!("../../jwt-cutoff/tests/keys/rsa_attacker_jwk.json");
/// The test P-256 private key.
pub const EC_PRIVATE: &[u8] = include_bytes!("../../jwt-cutoff/tests/keys/ec_private.pem");
/// The public half of [`EC_PRIVATE`].
pub const EC_PUBLIC: &[u8] = include_bytes!("../../jwt-cutoff/tests/keys/ec_public.pem");
/// The test Ed25519 private key.
pub const ED_PRIVATE: &[u8] = include_bytes!("../../jwt-cutoff/tests/keys/ed_private.pem");
/// The public half of [`ED_PRIVATE`].
pub const ED_PUBLIC: &[u8] = include_bytes!("../../jwt-cutoff/tests/keys/ed_public.pem");

/// The plain HS256 header.
pub const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

// ---------------------------------------------------------------------------------------------
// Hand-made tokens

/// Unpadded base64url.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The unpadded base64url length of `n` bytes.
pub fn b64_len(n: usize) -> usize {
    (n * 4).div_ceil(3)
}

/// An HMAC signing key for `secret`.
pub fn hmac_key(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret).expect("HMAC encoding key")
}

/// Signs already-encoded segments, exactly as given.
pub fn sign_segments(header_b64: &str, payload_b64: &str, key: &EncodingKey, alg: Jwa) -> String {
    let message = format!("{header_b64}.{payload_b64}");
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("signing");
    format!("{message}.{signature}")
}

/// Encodes the header and payload text byte for byte and signs them.
pub fn sign(header: &str, payload: &str, key: &EncodingKey, alg: Jwa) -> String {
    sign_segments(&b64(header), &b64(payload), key, alg)
}

/// An HS256 token over `header` and `payload`, signed with [`SECRET`].
pub fn hs(header: &str, payload: &str) -> String {
    sign(header, payload, &hmac_key(SECRET), Jwa::HS256)
}

/// An HS256 token with the plain header over `payload`, signed with [`SECRET`].
pub fn hs_token(payload: &str) -> String {
    hs(HS256_HEADER, payload)
}

/// An HS256 token with the plain header over `payload`, signed with `secret`.
pub fn hs_token_with(secret: &[u8], payload: &str) -> String {
    sign(HS256_HEADER, payload, &hmac_key(secret), Jwa::HS256)
}

/// An HS256 token with valid claims (see [`payload`]) signed with [`OTHER_SECRET`], which no
/// fixture trusts: a forgery.
pub fn forged_token() -> String {
    hs_token_with(OTHER_SECRET, &payload(&[]))
}

/// Claim overrides for [`payload`]: `Some(raw JSON)` replaces or adds a claim, `None` removes it.
pub type Overrides<'a> = &'a [(&'a str, Option<&'a str>)];

/// A payload with valid defaults (`sub` alice, `iat` a second ago with microseconds, `exp` in five
/// minutes, `token_use` access), changed by `overrides`: `Some(raw JSON)` replaces or adds a claim,
/// `None` removes it. Claims keep their order; added ones go last.
pub fn payload(overrides: Overrides<'_>) -> String {
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

/// `object` (a JSON object's text) with `members` (raw `"name":value` text) added at its end,
/// after what it holds: how a test repeats a claim the object already has.
pub fn with_members(object: &str, members: &str) -> String {
    let open = object.strip_suffix('}').expect("a JSON object");
    format!("{open},{members}}}")
}

/// A correctly signed, otherwise valid HS256 token for `sub` of exactly `len` bytes, padded with a
/// junk claim.
pub fn hs_token_of_len(len: usize, sub: &str) -> String {
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
pub fn dirty_trailing_bits(segment: &str) -> Option<String> {
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
pub fn lenient_decode(segment: &str) -> Vec<u8> {
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

/// A validator builder for HS256 tokens signed with [`SECRET`], to configure further.
pub fn hs_builder() -> ValidatorBuilder {
    Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(SECRET).expect("key"))
}

/// A validator with the defaults for HS256 tokens signed with [`SECRET`].
pub fn hs_validator(cutoffs: CutoffCache) -> Validator {
    hs_builder().build(cutoffs).expect("validator")
}

/// A validator of HS256 refresh tokens signed with [`SECRET`].
pub fn hs_refresh_validator(cutoffs: CutoffCache) -> Validator {
    hs_builder()
        .token_type(TokenType::Refresh)
        .build(cutoffs)
        .expect("validator")
}

/// An access token for `subject` from [`hs_issuer`], without custom claims.
pub fn hs_access(subject: &str) -> String {
    hs_issuer().issue_access(subject, &()).expect("issue").token
}

/// An issuer builder signing HS256 with [`SECRET`], to configure further.
pub fn hs_issuer_builder() -> TokenIssuerBuilder {
    TokenIssuer::builder(SigningKey::hmac(SECRET, Algorithm::HS256).expect("key"))
}

/// An issuer with the defaults, signing HS256 with [`SECRET`]: its tokens pass [`hs_validator`].
pub fn hs_issuer() -> TokenIssuer {
    hs_issuer_builder().build().expect("issuer")
}

/// An issuer with the defaults signing with `key`.
pub fn issuer_for(key: SigningKey) -> TokenIssuer {
    TokenIssuer::builder(key).build().expect("issuer")
}

/// What a store must do for the validator, through two instances over it: `alice`'s token passes
/// until she logs out everywhere on `cutoffs`, and one issued afterwards passes; `other`, a second
/// instance over the same store whose cache is still cold, reads the same from the store; once she
/// is refused on `cutoffs`, her newer token no longer passes there either. And `bob`'s session
/// revoked on `cutoffs` is refused on both instances, while his other session passes.
pub async fn check_logout_round_trip(cutoffs: &CutoffCache, other: CutoffCache) {
    let (issuer, validator) = (hs_issuer(), hs_validator(cutoffs.clone()));
    let before = issuer.issue_access("alice", &()).expect("issue").token;
    let accepted = validator
        .validate(&before)
        .await
        .expect("before the logout");
    assert_eq!(accepted.subject(), "alice");
    cutoffs.logout_all("alice").await.expect("logout_all");
    assert_eq!(reason_of(&validator, &before).await, Some(Reason::Revoked));
    let after = issuer.issue_access("alice", &()).expect("issue").token;
    assert_eq!(reason_of(&validator, &after).await, None, "issued after");

    let (lost, kept) = (
        issuer.issue_pair("bob", &()).expect("issue"),
        issuer.issue_pair("bob", &()).expect("issue"),
    );
    assert_eq!(reason_of(&validator, &lost.access.token).await, None);
    cutoffs
        .revoke_session("bob", &lost.session_id)
        .await
        .expect("revoke_session");
    assert_eq!(
        reason_of(&validator, &lost.access.token).await,
        Some(Reason::Revoked),
        "the revoked session"
    );
    assert_eq!(reason_of(&validator, &kept.access.token).await, None);

    let other = hs_validator(other);
    assert_eq!(
        reason_of(&other, &before).await,
        Some(Reason::Revoked),
        "the other instance reads the logout from the store"
    );
    assert_eq!(reason_of(&other, &after).await, None, "issued after");
    assert_eq!(
        reason_of(&other, &lost.access.token).await,
        Some(Reason::Revoked),
        "the other instance reads the revoked session from the store"
    );
    assert_eq!(reason_of(&other, &kept.access.token).await, None);

    cutoffs.refuse("alice").await.expect("refuse");
    assert_eq!(
        reason_of(&validator, &after).await,
        Some(Reason::SubjectRefused)
    );
}

/// Why `validator` refuses `token`, or `None` if it accepts it.
pub async fn reason_of<C>(validator: &Validator<C>, token: &str) -> Option<Reason>
where
    C: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    validator.validate(token).await.err().map(|r| r.reason())
}

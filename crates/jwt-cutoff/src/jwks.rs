//! JSON Web Key Sets (RFC 7517): the verifying keys an identity provider publishes, read strictly
//! and one key at a time, so that one odd entry never costs the others.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::ConfigError;
use crate::keys::{Algorithm, PublicComponents, SigningKey, VerifyingKey};

/// The usable verifying keys of a JWK set, and the entries that were skipped (with why).
///
/// Taken: RSA keys of 2048 to 8192 bits (RS256/384/512, PS256/384/512), EC keys on P-256 (ES256)
/// and P-384 (ES384), and Ed25519 keys (EdDSA). A key verifies only the algorithm its JWK names
/// in `alg`, or, without one, the algorithms of its type (and curve). Skipped, leaving the other
/// keys usable: keys for encryption (`use` other than `sig`, `key_ops` without `verify`),
/// symmetric (`oct`) keys, which a published set must never hold, unknown key types and curves,
/// an `alg` that does not fit the key, malformed key material, and a second key with a `kid`
/// already taken. `x5c`, `x5u` and `jku` are never followed: a key is its own parameters.
///
/// ```
/// use jwt_cutoff::JwkSet;
///
/// let set = JwkSet::parse(br#"{"keys": [
///     {"kty": "OKP", "crv": "Ed25519", "kid": "2026-12", "use": "sig",
///      "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///     {"kty": "RSA", "kid": "enc-1", "use": "enc", "n": "AQAB", "e": "AQAB"}
/// ]}"#)?;
/// assert_eq!(set.keys().len(), 1);
/// assert_eq!(set.skipped()[0].kid(), Some("enc-1"));
/// # Ok::<_, jwt_cutoff::JwksError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct JwkSet {
    keys: Vec<VerifyingKey>,
    skipped: Vec<SkippedKey>,
}

/// A JWK set entry that was not taken, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    kid: Option<String>,
    reason: String,
}

impl SkippedKey {
    /// The entry's `kid`, if it had one.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Why it was skipped, for logs.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(f, "key {kid:?}: {}", self.reason),
            None => write!(f, "key without kid: {}", self.reason),
        }
    }
}

/// A document that is not a JWK set at all: not JSON, or no `keys` array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksError {
    message: String,
}

impl JwksError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a JWK set: {}", self.message)
    }
}

impl std::error::Error for JwksError {}

/// `{"keys": [...]}`: an object (serde's derive would also take `[[...]]`), `keys` once.
struct Document {
    keys: Vec<Value>,
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor;
        impl<'de> Visitor<'de> for DocumentVisitor {
            type Value = Document;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with a `keys` array")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
                let mut keys = None;
                while let Some(name) = map.next_key::<String>()? {
                    if name != "keys" {
                        map.next_value::<IgnoredAny>()?;
                    } else if keys.is_some() {
                        return Err(de::Error::duplicate_field("keys"));
                    } else {
                        keys = Some(map.next_value()?);
                    }
                }
                let keys = keys.ok_or_else(|| de::Error::missing_field("keys"))?;
                Ok(Document { keys })
            }
        }
        deserializer.deserialize_map(DocumentVisitor)
    }
}

/// The members this crate reads; the others (`x5c`, `x5t`, `d`, …) are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    public_key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

const RSA: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

impl JwkSet {
    /// Reads a JWK set document (`{"keys": [...]}`).
    ///
    /// # Errors
    /// The document is not JSON (UTF-8), or has no `keys` array. Entries that cannot be used are
    /// [skipped](Self::skipped), never an error.
    pub fn parse(document: &[u8]) -> Result<Self, JwksError> {
        // JSON text is UTF-8 (RFC 8259 §8.1); serde_json would not check the members it skips.
        let document = std::str::from_utf8(document)
            .map_err(|_| JwksError::new("the document is not UTF-8"))?;
        let document: Document =
            serde_json::from_str(document).map_err(|error| JwksError::new(error.to_string()))?;
        let mut set = Self::default();
        for entry in document.keys {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            let object = if entry.is_object() {
                Ok(entry)
            } else {
                Err("not a JWK: not a JSON object".to_owned())
            };
            let taken = object
                .and_then(|entry| {
                    serde_json::from_value::<Jwk>(entry)
                        .map_err(|error| format!("not a JWK: {error}"))
                })
                .and_then(|jwk| jwk.verifying_key())
                .and_then(|key| match &kid {
                    Some(kid) if set.has_kid(kid) => Err("a key before it has this kid".to_owned()),
                    _ => Ok(key),
                });
            match taken {
                Ok(key) => set.keys.push(key),
                Err(reason) => set.skipped.push(SkippedKey { kid, reason }),
            }
        }
        Ok(set)
    }

    fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.key_id() == Some(kid))
    }

    /// The keys taken, in the document's order, each with its `kid`.
    #[must_use]
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The keys taken.
    #[must_use]
    pub fn into_keys(self) -> Vec<VerifyingKey> {
        self.keys
    }

    /// The entries skipped, with why.
    #[must_use]
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// The JWK set document that publishes the public halves of `keys` (each with its `alg`,
    /// `use: sig` and its `kid`, if it has one), for other services to verify this one's tokens
    /// with: serve it at the `jwks_uri` of the discovery document. Private parts never leave.
    ///
    /// # Errors
    /// A key is an HMAC secret (it has no public half), or the crate was built without a crypto
    /// backend.
    pub fn document<'a>(
        keys: impl IntoIterator<Item = &'a SigningKey>,
    ) -> Result<String, ConfigError> {
        let keys = keys
            .into_iter()
            .map(public_jwk)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(serde_json::json!({ "keys": keys }).to_string())
    }
}

fn public_jwk(key: &SigningKey) -> Result<Value, ConfigError> {
    let encode = |bytes: Vec<u8>| URL_SAFE_NO_PAD.encode(bytes);
    let mut jwk = match key.public_components()? {
        PublicComponents::Rsa { n, e } => {
            serde_json::json!({ "kty": "RSA", "n": encode(n), "e": encode(e) })
        }
        PublicComponents::Ec { algorithm, x, y } => {
            let curve = if algorithm == Algorithm::ES384 {
                "P-384"
            } else {
                "P-256"
            };
            serde_json::json!({ "kty": "EC", "crv": curve, "x": encode(x), "y": encode(y) })
        }
        PublicComponents::Ed { x } => {
            serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": encode(x) })
        }
    };
    if let Value::Object(members) = &mut jwk {
        members.insert("alg".to_owned(), key.algorithm().name().into());
        members.insert("use".to_owned(), "sig".into());
        if let Some(kid) = &key.kid {
            members.insert("kid".to_owned(), kid.as_str().into());
        }
    }
    Ok(jwk)
}

impl Jwk {
    fn verifying_key(self) -> Result<VerifyingKey, String> {
        if let Some(public_key_use) = &self.public_key_use
            && public_key_use != "sig"
        {
            return Err(format!("use {public_key_use:?}, not a signing key"));
        }
        if let Some(operations) = &self.key_ops
            && !operations.iter().any(|operation| operation == "verify")
        {
            return Err("key_ops without \"verify\"".to_owned());
        }
        let (key, algorithms) = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => {
                let n = required(self.n.as_deref(), "n")?;
                let e = required(self.e.as_deref(), "e")?;
                check_rsa_modulus(&decode(n, "n")?)?;
                if decode(e, "e")?.is_empty() {
                    return Err("an empty RSA exponent".to_owned());
                }
                let key = VerifyingKey::rsa_components(n, e).map_err(|error| error.to_string())?;
                (key, RSA.to_vec())
            }
            ("EC", Some(curve @ ("P-256" | "P-384"))) => {
                let (algorithm, length) = if curve == "P-256" {
                    (Algorithm::ES256, 32)
                } else {
                    (Algorithm::ES384, 48)
                };
                let x = coordinate(self.x.as_deref(), "x", length)?;
                let y = coordinate(self.y.as_deref(), "y", length)?;
                let key = VerifyingKey::ec_components(x, y).map_err(|error| error.to_string())?;
                (key, vec![algorithm])
            }
            ("OKP", Some("Ed25519")) => {
                let x = coordinate(self.x.as_deref(), "x", 32)?;
                let key = VerifyingKey::ed_components(x).map_err(|error| error.to_string())?;
                (key, vec![Algorithm::EdDSA])
            }
            ("oct", _) => return Err("a symmetric key, never taken from a JWK set".to_owned()),
            ("EC" | "OKP", curve) => {
                return Err(format!("unsupported curve {:?}", curve.unwrap_or("(none)")));
            }
            (kty, _) => return Err(format!("unsupported key type {kty:?}")),
        };
        let algorithms = match &self.alg {
            None => algorithms,
            Some(name) => match Algorithm::from_name(name) {
                Some(algorithm) if algorithms.contains(&algorithm) => vec![algorithm],
                _ => return Err(format!("alg {name:?} does not fit this key")),
            },
        };
        let key = key.algorithms(algorithms);
        Ok(match self.kid {
            Some(kid) => key.kid(kid),
            None => key,
        })
    }
}

fn required<'a>(value: Option<&'a str>, member: &str) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("no {member:?}"))
}

fn decode(value: &str, member: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("{member:?} is not base64url"))
}

/// A coordinate of exactly `length` bytes.
fn coordinate<'a>(value: Option<&'a str>, member: &str, length: usize) -> Result<&'a str, String> {
    let text = required(value, member)?;
    if decode(text, member)?.len() != length {
        return Err(format!("{member:?} is not {length} bytes long"));
    }
    Ok(text)
}

/// 2048 to 8192 bits: shorter keys are forgeable in practice, and no backend verifies longer ones.
fn check_rsa_modulus(modulus: &[u8]) -> Result<(), String> {
    let mut significant = modulus.iter().skip_while(|byte| **byte == 0);
    let bits = significant.next().map_or(0, |top| {
        (significant.count() + 1) * 8 - top.leading_zeros() as usize
    });
    if (2048..=8192).contains(&bits) {
        Ok(())
    } else {
        Err(format!(
            "an RSA modulus of {bits} bits (2048 to 8192 are taken)"
        ))
    }
}

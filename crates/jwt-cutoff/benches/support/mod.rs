//! What the benchmark measures: one algorithm's raw `jsonwebtoken::decode`, and one request
//! through the layer on a cutoff-cache hit with 100 000 subjects cached, with the token verified
//! in full or answered from the verified-token cache, with or without sessions.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;

use futures_util::FutureExt as _;
use http::{HeaderValue, Request, Response, StatusCode, header};
use jwt_cutoff::{
    Algorithm, Cutoff, CutoffCache, CutoffSource as _, JwtCutoff, JwtCutoffLayer, MemoryStore,
    Scope, SigningKey, TokenIssuer, Validator, Verified, VerifyingKey,
};
use serde::Deserialize;
use tower::util::ServiceFn;
use tower::{Layer as _, Service, ServiceExt as _};

pub const SUBJECTS: usize = 100_000;
/// Tokens of other subjects put in the token cache before the HS256 measurement, so that a hit is
/// looked up among as many entries as a busy service keeps. (The lookup hashes the token text, so
/// its cost does not depend on the algorithm; minting 100 000 RSA tokens would take minutes.)
const CACHED_TOKENS: usize = 100_000;
const SECRET: &[u8] = b"a benchmark secret that is at least 32 bytes";

/// What raw decoding deserializes: the registered claims the layer checks too.
#[derive(Deserialize)]
#[allow(dead_code)]
struct RawClaims {
    sub: String,
    iat: f64,
    exp: u64,
    token_use: String,
}

type Inner = ServiceFn<fn(Request<()>) -> Ready<Result<Response<()>, Infallible>>>;

fn inner(request: Request<()>) -> Ready<Result<Response<()>, Infallible>> {
    black_box(request.extensions().get::<Verified>());
    ready(Ok(Response::new(())))
}

/// How the layer under measurement treats a token it has seen before.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Token cache off: signature and claims are verified on every request.
    Verify,
    /// Token cache on and holding the token: only the clock and the cutoff are checked.
    TokenCached,
}

impl Mode {
    pub const ALL: [Self; 2] = [Self::Verify, Self::TokenCached];

    pub fn describe(self) -> &'static str {
        match self {
            Self::Verify => "layer, cutoff cached",
            Self::TokenCached => "layer, token cached",
        }
    }
}

/// Whether the measured token belongs to a session, as the issuer's login pairs do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sessions {
    /// A token without `sid` (`issue_access`), a subject with no session cutoffs.
    Without,
    /// A login pair's access token (with `sid`), its subject having `REVOKED_SESSIONS` other
    /// sessions revoked: the cutoff entry holds them, and the token's own is looked up among them.
    With,
}

/// How many of the subject's other sessions are revoked in [`Sessions::With`]: a user who signs a
/// device out every few days, within the 31-day retention.
pub const REVOKED_SESSIONS: usize = 10;

impl Sessions {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Without => "",
            Self::With => ", with sessions",
        }
    }
}

/// One algorithm's token, key and guarded services.
pub struct Fixture {
    pub token: String,
    authorization: HeaderValue,
    raw_key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
    verifying: JwtCutoff<Inner>,
    token_cached: JwtCutoff<Inner>,
}

/// A request carrying `authorization`, as a client sends it.
pub fn request(authorization: &HeaderValue) -> Request<()> {
    let mut request = Request::new(());
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, authorization.clone());
    request
}

/// A cutoff cache holding `SUBJECTS` subjects, the one the tokens name among them, and its store.
pub fn warm_cutoffs(runtime: &tokio::runtime::Runtime) -> (MemoryStore, CutoffCache) {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::builder(store.clone())
        .max_subjects(2 * SUBJECTS as u64)
        .build();
    runtime.block_on(async {
        for i in 0..SUBJECTS {
            cutoffs.lookup(&format!("user-{i}")).await.unwrap();
        }
    });
    (store, cutoffs)
}

impl Fixture {
    pub fn new(
        (store, cutoffs): &(MemoryStore, CutoffCache),
        algorithm: Algorithm,
        sessions: Sessions,
    ) -> Self {
        let (signing, verifying, raw_key) = keys(algorithm);
        let issuer = TokenIssuer::builder(signing).build().unwrap();
        let token = match sessions {
            Sessions::Without => issuer.issue_access("user-4242", &()).unwrap().token,
            Sessions::With => {
                // In the store and in the cached entry, as a revocation pushed here would be.
                for n in 0..REVOKED_SESSIONS {
                    let device = format!("old-device-{n}");
                    let session = Scope::Session {
                        subject: "user-4242",
                        session: &device,
                    };
                    let raised = store.raise(session, Cutoff::Refused).now_or_never();
                    cutoffs.apply(session, raised.unwrap().unwrap());
                }
                issuer.issue_pair("user-4242", &()).unwrap().access.token
            }
        };
        let validator = |token_cache_max_bytes| {
            Validator::builder()
                .algorithms([algorithm])
                .key(verifying.clone())
                .token_cache_max_bytes(token_cache_max_bytes)
                .build(cutoffs.clone())
                .unwrap()
        };
        let token_cached = validator(1 << 30);
        if algorithm == Algorithm::HS256 {
            let runtime = tokio::runtime::Handle::current();
            for i in 0..CACHED_TOKENS {
                let other = issuer.issue_access(&format!("user-{i}"), &()).unwrap();
                runtime
                    .block_on(token_cached.validate(&other.token))
                    .unwrap();
            }
        }
        let mut validation = jsonwebtoken::Validation::new(algorithm.name().parse().unwrap());
        validation.leeway = 30;
        let guard = |validator| {
            JwtCutoffLayer::new(validator).layer(tower::service_fn(inner as fn(Request<()>) -> _))
        };
        let mut fixture = Self {
            authorization: HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            token,
            raw_key,
            validation,
            verifying: guard(validator(0)),
            token_cached: guard(token_cached),
        };
        for mode in Mode::ALL {
            let request = fixture.request();
            assert_eq!(fixture.call(mode, request).status(), StatusCode::OK);
        }
        fixture
    }

    /// A request carrying the token, as a client sends it.
    pub fn request(&self) -> Request<()> {
        request(&self.authorization)
    }

    /// The `Authorization` header value, to build requests while the fixture is borrowed.
    pub fn authorization(&self) -> HeaderValue {
        self.authorization.clone()
    }

    /// `jsonwebtoken::decode` alone, validating `exp` like the layer does.
    pub fn decode_raw(&self) {
        black_box(
            jsonwebtoken::decode::<RawClaims>(
                black_box(&self.token),
                &self.raw_key,
                &self.validation,
            )
            .unwrap(),
        );
    }

    /// One request through the layer; on a cutoff-cache hit it completes without yielding.
    pub fn call(&mut self, mode: Mode, request: Request<()>) -> Response<()> {
        let service = match mode {
            Mode::Verify => &mut self.verifying,
            Mode::TokenCached => &mut self.token_cached,
        };
        let service = service.ready().now_or_never().unwrap().unwrap();
        service
            .call(request)
            .now_or_never()
            .expect("cache hit")
            .unwrap()
    }
}

fn keys(algorithm: Algorithm) -> (SigningKey, VerifyingKey, jsonwebtoken::DecodingKey) {
    match algorithm {
        Algorithm::HS256 => (
            SigningKey::hmac(SECRET, algorithm).unwrap(),
            VerifyingKey::hmac(SECRET).unwrap(),
            jsonwebtoken::DecodingKey::from_secret(SECRET).unwrap(),
        ),
        Algorithm::RS256 => {
            let public = include_bytes!("../../tests/keys/rsa_public.pem");
            (
                SigningKey::rsa_pem(
                    include_bytes!("../../tests/keys/rsa_private.pem"),
                    algorithm,
                )
                .unwrap(),
                VerifyingKey::rsa_pem(public).unwrap(),
                jsonwebtoken::DecodingKey::from_rsa_pem(public).unwrap(),
            )
        }
        Algorithm::ES256 => {
            let public = include_bytes!("../../tests/keys/ec_public.pem");
            (
                SigningKey::ec_pem(include_bytes!("../../tests/keys/ec_private.pem"), algorithm)
                    .unwrap(),
                VerifyingKey::ec_pem(public).unwrap(),
                jsonwebtoken::DecodingKey::from_ec_pem(public).unwrap(),
            )
        }
        Algorithm::EdDSA => {
            let public = include_bytes!("../../tests/keys/ed_public.pem");
            (
                SigningKey::ed_pem(include_bytes!("../../tests/keys/ed_private.pem")).unwrap(),
                VerifyingKey::ed_pem(public).unwrap(),
                jsonwebtoken::DecodingKey::from_ed_pem(public).unwrap(),
            )
        }
        other => panic!("no benchmark key for {other}"),
    }
}

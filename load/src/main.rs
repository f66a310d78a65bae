//! `load-server`: the server that `scripts/load-run` loads, to compare what JWT authentication
//! costs a real HTTP server: one route, `GET /`, answering `hello`, behind one of four modes.
//!
//! - `none`: no authentication; the baseline. The load generator still sends the header, so the
//!   server parses the same request.
//! - `jwt-cutoff`: [`JwtCutoffLayer`] with a [`MemoryStore`] behind the cutoff cache, all defaults
//!   (30 s leeway, access tokens only). After the first request the subject's cutoff is cached.
//! - `jwt-cutoff-no-token-cache`: the same with jwt-cutoff's verified-token cache turned off, so
//!   every request pays for the signature.
//! - `jwt-authorizer`: the `jwt-authorizer` crate's layer with the same key, one allowed algorithm,
//!   `exp` required and checked with the same 30 s leeway, and a check that `token_use` is `access`.
//!
//! Both algorithms use fixed keys: an HMAC secret for HS256, and for ES256 the P-256 key pair in
//! `crates/jwt-cutoff/tests/keys/`.
//!
//! ```text
//! load-server serve MODE --alg hs256|es256 [--addr 127.0.0.1:0]  # prints `listening ADDR` once bound
//! load-server token --alg hs256|es256                             # an access token for load-user, 1 h
//! load-server modes                                               # the modes, one per line
//! ```
//!
//! The server runs on one thread (a current-thread tokio runtime), so the script can pin it to one
//! core and the figures do not depend on how many cores the machine has.
//!
//! What jwt-authorizer is given, and why. [`TokenIssuer`] writes `iat` with microseconds
//! (`1767225600.123456`), a valid NumericDate. jwt-authorizer's default claims type,
//! `RegisteredClaims`, reads `iat` as an integer and so refuses every such token with 401. Its
//! validation itself checks only `exp` (and `nbf` when asked), so it is given [`AuthorizerClaims`]:
//! the same registered claims our layer reads, with `iat` as a number. See the tests at the bottom.
//! Note also that jwt-authorizer 0.15 verifies with jsonwebtoken 9, on ring; jwt-cutoff with
//! jsonwebtoken 12, on aws-lc-rs (its default feature).

use std::error::Error;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use clap::{Parser, Subcommand, ValueEnum};
use jwt_authorizer::{Authorizer, IntoLayer as _, JwtAuthorizer, Validation};
use jwt_cutoff::{
    Algorithm, ConfigError, CutoffCache, JwkSet, JwtCutoffLayer, MemoryStore, SigningKey,
    TokenIssuer, TrustedIssuer, Validator, ValidatorBuilder, VerifyingKey,
};
use serde::Deserialize;

/// The HS256 secret, as text because jwt-authorizer takes a `&str`.
const HMAC_SECRET: &str = "load-run: a fixed HMAC secret of more than 32 bytes";
/// The ES256 (P-256) key pair shared with jwt-cutoff's tests.
const EC_PRIVATE_PEM: &[u8] = include_bytes!("../../crates/jwt-cutoff/tests/keys/ec_private.pem");
const EC_PUBLIC_PEM: &str = include_str!("../../crates/jwt-cutoff/tests/keys/ec_public.pem");
/// The RSA key of the provider-like issuer whose JWK set the server publishes itself.
const RSA_PRIVATE_PEM: &[u8] = include_bytes!("../../crates/jwt-cutoff/tests/keys/rsa_private.pem");
/// That issuer's identifier, and the audience its tokens are for.
const PROVIDER_ISSUER: &str = "https://provider.load.example";
const PROVIDER_AUDIENCE: &str = "load-api";
/// Where the server publishes the provider's JWK set (outside the guarded route).
const JWKS_PATH: &str = "/jwks.json";
/// The subject of the minted token.
const SUBJECT: &str = "load-user";
/// How long the minted token is valid: longer than any run.
const TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// jwt-cutoff's default leeway, given to jwt-authorizer too (its default is 60 s).
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Parser)]
#[command(about = "A hello-world server with no auth, jwt-cutoff or jwt-authorizer, for load runs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves `GET /` on ADDR in MODE; prints `listening ADDR` once bound.
    Serve {
        mode: Mode,
        #[arg(long)]
        alg: Alg,
        /// Port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
    /// Prints an access token for `load-user`, valid for one hour, that every mode accepts.
    Token {
        #[arg(long)]
        alg: Alg,
    },
    /// Prints the modes, one per line.
    Modes,
}

/// What guards the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// No authentication.
    #[value(name = "none")]
    NoAuth,
    /// `JwtCutoffLayer` with its defaults.
    JwtCutoff,
    /// `JwtCutoffLayer` with the verified-token cache off.
    JwtCutoffNoTokenCache,
    /// jwt-authorizer's layer.
    JwtAuthorizer,
}

impl Mode {
    fn name(self) -> String {
        self.to_possible_value()
            .map(|value| value.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// The signing algorithm, with its fixed key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Alg {
    Hs256,
    Es256,
    /// RS256 tokens of an identity provider whose keys both layers fetch from a JWK set URL
    /// (jwt-cutoff: a `TrustedIssuer`; jwt-authorizer: `from_jwks_url`).
    Rs256Jwks,
}

impl Alg {
    fn algorithm(self) -> Algorithm {
        match self {
            Self::Hs256 => Algorithm::HS256,
            Self::Es256 => Algorithm::ES256,
            Self::Rs256Jwks => Algorithm::RS256,
        }
    }

    /// The same algorithm as jwt-authorizer's jsonwebtoken 9 names it.
    fn jsonwebtoken9(self) -> jsonwebtoken9::Algorithm {
        match self {
            Self::Hs256 => jsonwebtoken9::Algorithm::HS256,
            Self::Es256 => jsonwebtoken9::Algorithm::ES256,
            Self::Rs256Jwks => jsonwebtoken9::Algorithm::RS256,
        }
    }

    fn signing_key(self) -> Result<SigningKey, ConfigError> {
        match self {
            Self::Hs256 => SigningKey::hmac(HMAC_SECRET.as_bytes(), self.algorithm()),
            Self::Es256 => SigningKey::ec_pem(EC_PRIVATE_PEM, self.algorithm()),
            Self::Rs256Jwks => {
                Ok(SigningKey::rsa_pem(RSA_PRIVATE_PEM, self.algorithm())?.kid("load-rsa-1"))
            }
        }
    }

    fn verifying_key(self) -> Result<VerifyingKey, ConfigError> {
        match self {
            Self::Hs256 => VerifyingKey::hmac(HMAC_SECRET.as_bytes()),
            Self::Es256 => VerifyingKey::ec_pem(EC_PUBLIC_PEM.as_bytes()),
            Self::Rs256Jwks => self.signing_key()?.verifying_key(),
        }
    }
}

/// The claims jwt-authorizer deserializes: those our layer reads, with `iat` as any number (see
/// the crate docs for why not jwt-authorizer's `RegisteredClaims`).
#[derive(Debug, Clone, Deserialize)]
struct AuthorizerClaims {
    #[expect(dead_code, reason = "read to match the work our layer does")]
    sub: String,
    #[expect(dead_code, reason = "read to match the work our layer does")]
    iat: f64,
    #[expect(dead_code, reason = "read to match the work our layer does")]
    exp: u64,
    token_use: String,
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("load-server: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), Box<dyn Error>> {
    match command {
        Command::Serve { mode, alg, addr } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(serve(mode, alg, addr)),
        Command::Token { alg } => {
            println!("{}", mint(alg)?);
            Ok(())
        }
        Command::Modes => {
            for mode in Mode::value_variants() {
                println!("{}", mode.name());
            }
            Ok(())
        }
    }
}

/// The access token of a login of [`SUBJECT`] minted by jwt-cutoff's [`TokenIssuer`]: it carries a
/// session id (`sid`), so jwt-cutoff's layer checks the session's cutoff as well as the subject's.
fn mint(alg: Alg) -> Result<String, Box<dyn Error>> {
    let mut issuer = TokenIssuer::builder(alg.signing_key()?).access_lifetime(TOKEN_LIFETIME);
    if alg == Alg::Rs256Jwks {
        issuer = issuer.issuer(PROVIDER_ISSUER).audience(PROVIDER_AUDIENCE);
    }
    let issuer = issuer.build()?;
    Ok(issuer.issue_pair(SUBJECT, &())?.access.token)
}

async fn serve(mode: Mode, alg: Alg, addr: SocketAddr) -> Result<(), Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let jwks_url = format!("http://{}{JWKS_PATH}", listener.local_addr()?);
    let app = app(mode, alg, &jwks_url).await?.merge(published()?);
    // The script reads the port from this line; stdout is line-buffered, so it is seen at once.
    println!("listening {}", listener.local_addr()?);
    // Nagle's algorithm off, as HTTP servers usually run; the same in every mode.
    axum::serve(listener, app).tcp_nodelay(true).await?;
    Ok(())
}

/// The provider's JWK set at [`JWKS_PATH`], unguarded.
fn published() -> Result<Router, Box<dyn Error>> {
    let document = JwkSet::document([&Alg::Rs256Jwks.signing_key()?])?;
    Ok(Router::new().route(JWKS_PATH, get(move || async move { document })))
}

/// The route, guarded as `mode` says; a provider's keys are fetched from `jwks_url`.
async fn app(mode: Mode, alg: Alg, jwks_url: &str) -> Result<Router, Box<dyn Error>> {
    let app = Router::new().route("/", get(|| async { "hello" }));
    Ok(match mode {
        Mode::NoAuth => app,
        Mode::JwtCutoff => app.layer(JwtCutoffLayer::new(
            validator(alg, jwks_url)?.build(CutoffCache::new(MemoryStore::new()))?,
        )),
        Mode::JwtCutoffNoTokenCache => app.layer(JwtCutoffLayer::new(
            validator(alg, jwks_url)?
                .token_cache_max_bytes(0)
                .build(CutoffCache::new(MemoryStore::new()))?,
        )),
        Mode::JwtAuthorizer => app.layer(authorizer(alg, jwks_url).await?.into_layer()),
    })
}

/// jwt-cutoff's validator for `alg`, with its defaults; for a provider's tokens, trusting it
/// through its JWK set.
fn validator(alg: Alg, jwks_url: &str) -> Result<ValidatorBuilder, ConfigError> {
    let builder = Validator::builder().algorithms([alg.algorithm()]);
    Ok(match alg {
        Alg::Rs256Jwks => builder
            .trust(TrustedIssuer::jwks(PROVIDER_ISSUER, jwks_url).audience(PROVIDER_AUDIENCE)),
        Alg::Hs256 | Alg::Es256 => builder.key(alg.verifying_key()?),
    })
}

/// jwt-authorizer configured like our layer: same key, one algorithm, `exp` required, same leeway,
/// access tokens only.
async fn authorizer(
    alg: Alg,
    jwks_url: &str,
) -> Result<Authorizer<AuthorizerClaims>, Box<dyn Error>> {
    let builder = match alg {
        Alg::Hs256 => JwtAuthorizer::<AuthorizerClaims>::from_secret(HMAC_SECRET),
        Alg::Es256 => JwtAuthorizer::from_ec_pem_text(EC_PUBLIC_PEM),
        Alg::Rs256Jwks => JwtAuthorizer::from_jwks_url(jwks_url),
    };
    let mut validation = Validation::new()
        .leeway(LEEWAY_SECS)
        .algs(vec![alg.jsonwebtoken9()]);
    if alg == Alg::Rs256Jwks {
        validation = validation.iss(&[PROVIDER_ISSUER]).aud(&[PROVIDER_AUDIENCE]);
    }
    Ok(builder
        .validation(validation)
        .check(|claims: &AuthorizerClaims| claims.token_use == "access")
        .build()
        .await?)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use jwt_authorizer::RegisteredClaims;
    use tower::ServiceExt as _;

    use super::*;

    const ALGS: [Alg; 2] = [Alg::Hs256, Alg::Es256];

    async fn status(mode: Mode, alg: Alg, authorization: Option<String>) -> StatusCode {
        let mut request = Request::get("/");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let app = app(mode, alg, "http://127.0.0.1:1/jwks.json")
            .await
            .unwrap();
        app.oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    /// The token with the first character of its signature changed.
    fn forged(token: &str) -> String {
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let replacement = if signature.starts_with('A') { "B" } else { "A" };
        format!("{signed}.{replacement}{}", &signature[1..])
    }

    fn auth_modes() -> impl Iterator<Item = Mode> {
        [
            Mode::JwtCutoff,
            Mode::JwtCutoffNoTokenCache,
            Mode::JwtAuthorizer,
        ]
        .into_iter()
    }

    #[tokio::test]
    async fn every_mode_accepts_the_minted_token() {
        for alg in ALGS {
            let token = mint(alg).unwrap();
            for mode in Mode::value_variants() {
                let got = status(*mode, alg, Some(format!("Bearer {token}"))).await;
                assert_eq!(got, StatusCode::OK, "{mode:?} {alg:?}");
            }
        }
    }

    #[tokio::test]
    async fn every_auth_mode_refuses_a_forged_or_missing_token() {
        for alg in ALGS {
            let forged = forged(&mint(alg).unwrap());
            for mode in auth_modes() {
                let got = status(mode, alg, Some(format!("Bearer {forged}"))).await;
                assert_eq!(got, StatusCode::UNAUTHORIZED, "forged, {mode:?} {alg:?}");
                let got = status(mode, alg, None).await;
                assert_eq!(got, StatusCode::UNAUTHORIZED, "missing, {mode:?} {alg:?}");
            }
        }
    }

    #[tokio::test]
    async fn jwt_authorizer_refuses_a_token_of_another_algorithm() {
        // An HS256 token against the ES256 authorizer: refused by the allow-list.
        let token = mint(Alg::Hs256).unwrap();
        let got = status(
            Mode::JwtAuthorizer,
            Alg::Es256,
            Some(format!("Bearer {token}")),
        )
        .await;
        assert_eq!(got, StatusCode::UNAUTHORIZED);
    }

    /// Why jwt-authorizer gets `AuthorizerClaims`: with its default claims type, the microsecond
    /// `iat` fails to deserialize and a valid token is refused.
    #[tokio::test]
    async fn jwt_authorizer_registered_claims_refuse_a_fractional_iat() {
        let token = mint(Alg::Hs256).unwrap();
        let default: Authorizer<RegisteredClaims> = JwtAuthorizer::from_secret(HMAC_SECRET)
            .build()
            .await
            .unwrap();
        let error = default.check_auth(&token).await.unwrap_err();
        assert!(error.to_string().contains("floating point"), "{error}");

        let ours = authorizer(Alg::Hs256).await.unwrap();
        assert!(ours.check_auth(&token).await.is_ok());
    }
}

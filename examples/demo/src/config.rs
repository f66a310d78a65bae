//! The command line: flags, their `JWT_CUTOFF_DEMO_*` environment variables, and their checks.
//!
//! Every mistake (an unknown flag, a bad address, URL or duration, a short secret) is one line on
//! stderr and exit code 2, before anything is opened.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use jwt_cutoff::Algorithm;

/// The shortest secret accepted for HS256 keys.
const MIN_SECRET_BYTES: usize = 32;

/// "Log out from all devices" for JWTs, over HTTP, gRPC and a web page.
#[derive(Debug, Parser)]
#[command(name = "jwt-cutoff-demo", version)]
pub(crate) struct Flags {
    /// Address of the HTTP API and the web page.
    #[arg(long, env = "JWT_CUTOFF_DEMO_HTTP", default_value = "127.0.0.1:8080")]
    http: String,
    /// Address of the gRPC API.
    #[arg(long, env = "JWT_CUTOFF_DEMO_GRPC", default_value = "127.0.0.1:50051")]
    grpc: String,
    /// Users, generated secrets and (unless --cutoff-store says otherwise) cutoffs:
    /// sqlite://FILE, sqlite::memory: or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "JWT_CUTOFF_DEMO_DATABASE",
        default_value = "sqlite://jwt-cutoff-demo.db"
    )]
    database: String,
    /// Keep cutoffs in Redis instead of the database: redis://HOST:PORT, or redis://HOST:PORT/DB.
    #[arg(long, env = "JWT_CUTOFF_DEMO_CUTOFF_STORE")]
    cutoff_store: Option<String>,
    /// Prefix of the Redis keys and pub/sub channel (with --cutoff-store).
    #[arg(
        long,
        env = "JWT_CUTOFF_DEMO_REDIS_PREFIX",
        default_value = "jwt-cutoff-demo:"
    )]
    redis_prefix: String,
    /// Lifetime of access tokens (e.g. 30s, 5m, 1h).
    #[arg(long, env = "JWT_CUTOFF_DEMO_ACCESS_TTL", default_value = "5m")]
    access_ttl: String,
    /// Lifetime of refresh tokens.
    #[arg(long, env = "JWT_CUTOFF_DEMO_REFRESH_TTL", default_value = "30d")]
    refresh_ttl: String,
    /// How long a cutoff looked up in the store is trusted. It bounds how late a logout made by
    /// another instance is seen when the store does not push changes (SQLite); with push
    /// (PostgreSQL, Redis) changes arrive at once and cached cutoffs live at least 10 minutes.
    #[arg(long, env = "JWT_CUTOFF_DEMO_CACHE_TTL", default_value = "5s")]
    cache_ttl: String,
    /// How long after a refresh the refresh token it replaced is refused without signing its
    /// session out (a concurrent refresh from another tab, a retry); used again later, it revokes
    /// the session. 0s makes any second use revoke it.
    #[arg(
        long,
        env = "JWT_CUTOFF_DEMO_REFRESH_REUSE_GRACE",
        default_value = "5s"
    )]
    refresh_reuse_grace: String,
    /// Also accept the access tokens of this OpenID provider (its issuer URL; found through
    /// its discovery document). Repeat for several.
    #[arg(long, env = "JWT_CUTOFF_DEMO_OIDC_ISSUER", value_delimiter = ',')]
    oidc_issuer: Vec<String>,
    /// The audience the providers' access tokens must carry (`aud`).
    #[arg(
        long,
        env = "JWT_CUTOFF_DEMO_AUDIENCE",
        default_value = "jwt-cutoff-demo"
    )]
    audience: String,
    /// The demo's client id at the providers: the `aud` their back-channel logout tokens carry
    /// (default: the audience).
    #[arg(long, env = "JWT_CUTOFF_DEMO_CLIENT_ID")]
    client_id: Option<String>,
    /// After a fetch of a provider's keys, how long a token naming an unknown key waits for
    /// nothing (bounds the fetches a flood of made-up key ids causes).
    #[arg(long, env = "JWT_CUTOFF_DEMO_JWKS_COOLDOWN", default_value = "10s")]
    jwks_cooldown: String,
    /// How often a provider's keys are fetched again.
    #[arg(long, env = "JWT_CUTOFF_DEMO_JWKS_REFRESH", default_value = "5m")]
    jwks_refresh: String,
    /// The demo's own issuer URL: written into its tokens (with --audience) and required in
    /// them; GET /.well-known/openid-configuration and /.well-known/jwks.json then say where its
    /// keys are, for other services to trust it (their --oidc-issuer).
    #[arg(long, env = "JWT_CUTOFF_DEMO_ISSUER")]
    issuer: Option<String>,
    /// How access tokens are signed: HS256 (a secret), or ES256, EdDSA or RS256 (a key generated
    /// at first start and kept in the database; its public half is served as a JWK set).
    /// Refresh tokens stay HS256.
    #[arg(long, env = "JWT_CUTOFF_DEMO_SIGNING_ALG", default_value = "HS256")]
    signing_alg: String,
}

/// The checked configuration.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) http: SocketAddr,
    pub(crate) grpc: SocketAddr,
    pub(crate) database: DatabaseUrl,
    pub(crate) redis: Option<RedisConfig>,
    pub(crate) access_ttl: Duration,
    pub(crate) refresh_ttl: Duration,
    pub(crate) cache_ttl: Duration,
    pub(crate) refresh_reuse_grace: Duration,
    /// From `JWT_CUTOFF_DEMO_ACCESS_SECRET`; generated and kept in the database when unset.
    pub(crate) access_secret: Option<Secret>,
    /// From `JWT_CUTOFF_DEMO_REFRESH_SECRET`; generated and kept in the database when unset.
    pub(crate) refresh_secret: Option<Secret>,
    pub(crate) providers: Providers,
    /// `--issuer`.
    pub(crate) issuer: Option<String>,
    pub(crate) signing_alg: Algorithm,
}

/// The OpenID providers whose access tokens the demo accepts too.
#[derive(Debug)]
pub(crate) struct Providers {
    pub(crate) issuers: Vec<String>,
    pub(crate) audience: String,
    pub(crate) client_id: String,
    pub(crate) jwks_cooldown: Duration,
    pub(crate) jwks_refresh: Duration,
}

/// Where users live.
#[derive(Debug)]
pub(crate) enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

/// Where cutoffs live when not in the database.
#[derive(Debug)]
pub(crate) struct RedisConfig {
    pub(crate) url: String,
    pub(crate) prefix: String,
}

/// A secret from the environment; its `Debug` output hides it.
pub(crate) struct Secret(pub(crate) Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Config {
    /// Reads flags, environment and secrets; on any mistake prints one line and exits with 2.
    pub(crate) fn from_env_or_exit() -> Self {
        let flags = match Flags::try_parse() {
            Ok(flags) => flags,
            // --help and --version print and exit 0; usage errors exit 2.
            Err(error) if !error.use_stderr() => error.exit(),
            Err(error) => {
                let rendered = error.render().to_string();
                usage_error(
                    rendered
                        .lines()
                        .next()
                        .unwrap_or("error: invalid arguments"),
                )
            }
        };
        match Self::check(flags) {
            Ok(config) => config,
            Err(message) => usage_error(&format!("error: {message}")),
        }
    }

    fn check(flags: Flags) -> Result<Self, String> {
        Ok(Self {
            http: address("--http", &flags.http)?,
            grpc: address("--grpc", &flags.grpc)?,
            database: database_url(&flags.database)?,
            redis: flags
                .cutoff_store
                .map(|url| redis_config(url, flags.redis_prefix))
                .transpose()?,
            access_ttl: duration("--access-ttl", &flags.access_ttl)?,
            refresh_ttl: duration("--refresh-ttl", &flags.refresh_ttl)?,
            cache_ttl: duration("--cache-ttl", &flags.cache_ttl)?,
            refresh_reuse_grace: grace(&flags.refresh_reuse_grace)?,
            access_secret: secret("JWT_CUTOFF_DEMO_ACCESS_SECRET")?,
            refresh_secret: secret("JWT_CUTOFF_DEMO_REFRESH_SECRET")?,
            issuer: flags
                .issuer
                .map(|issuer| issuer_url("--issuer", issuer))
                .transpose()?,
            signing_alg: signing_alg(&flags.signing_alg)?,
            providers: providers(
                flags.oidc_issuer,
                flags.audience,
                flags.client_id,
                &flags.jwks_cooldown,
                &flags.jwks_refresh,
            )?,
        })
    }
}

fn providers(
    issuers: Vec<String>,
    audience: String,
    client_id: Option<String>,
    jwks_cooldown: &str,
    jwks_refresh: &str,
) -> Result<Providers, String> {
    let issuers = issuers
        .into_iter()
        .map(|issuer| issuer_url("--oidc-issuer", issuer))
        .collect::<Result<Vec<_>, _>>()?;
    if audience.is_empty() {
        return Err("--audience: must not be empty".to_owned());
    }
    Ok(Providers {
        issuers,
        client_id: client_id.unwrap_or_else(|| audience.clone()),
        audience,
        jwks_cooldown: duration("--jwks-cooldown", jwks_cooldown)?,
        jwks_refresh: duration("--jwks-refresh", jwks_refresh)?,
    })
}

/// An issuer identifier: an `https://` (or, for local set-ups, `http://`) URL without a fragment.
fn issuer_url(flag: &str, issuer: String) -> Result<String, String> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"));
    if rest.is_none_or(|rest| rest.is_empty() || rest.contains('#')) {
        return Err(format!(
            "{flag}: {issuer:?} is not an issuer URL like https://id.example.com"
        ));
    }
    Ok(issuer)
}

fn signing_alg(name: &str) -> Result<Algorithm, String> {
    match Algorithm::from_name(name) {
        Some(alg @ (Algorithm::HS256 | Algorithm::ES256 | Algorithm::EdDSA | Algorithm::RS256)) => {
            Ok(alg)
        }
        _ => Err(format!(
            "--signing-alg: {name:?} is not one of HS256, ES256, EdDSA, RS256"
        )),
    }
}

/// Prints `line` to stderr and exits with the usage-error code.
fn usage_error(line: &str) -> ! {
    eprintln!("{line}");
    std::process::exit(2)
}

fn address(flag: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("{flag}: {text:?} is not an address like 127.0.0.1:8080 or [::1]:8080")
    })
}

fn database_url(url: &str) -> Result<DatabaseUrl, String> {
    if url.starts_with("sqlite:") {
        Ok(DatabaseUrl::Sqlite(url.to_owned()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DatabaseUrl::Postgres(url.to_owned()))
    } else {
        Err(format!(
            "--database: {url:?} is not a sqlite://FILE, sqlite::memory: or postgres:// URL"
        ))
    }
}

fn redis_config(url: String, prefix: String) -> Result<RedisConfig, String> {
    if !url.starts_with("redis://") {
        return Err(format!(
            "--cutoff-store: {url:?} is not a redis://HOST[:PORT][/DB] URL"
        ));
    }
    if prefix.is_empty() {
        return Err("--redis-prefix: must not be empty".to_owned());
    }
    Ok(RedisConfig { url, prefix })
}

/// A duration like `90s`, `5m`, `2h` or `30d` (also `500ms`); at least one millisecond.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    let millis = number.checked_mul(millis_per_unit)?;
    (millis > 0).then(|| Duration::from_millis(millis))
}

fn duration(flag: &str, text: &str) -> Result<Duration, String> {
    parse_duration(text)
        .ok_or_else(|| format!("{flag}: {text:?} is not a duration like 500ms, 2s, 5m, 12h or 30d"))
}

/// A duration as [`duration`] reads it, or zero (`0s`, `0ms`, `0`).
fn grace(text: &str) -> Result<Duration, String> {
    if text.trim_end_matches(['s', 'm']).chars().all(|c| c == '0') && !text.is_empty() {
        return Ok(Duration::ZERO);
    }
    duration("--refresh-reuse-grace", text)
}

fn secret(variable: &str) -> Result<Option<Secret>, String> {
    let Some(value) = std::env::var_os(variable) else {
        return Ok(None);
    };
    let bytes = value.into_encoded_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "{variable} must be at least {MIN_SECRET_BYTES} bytes long (it has {})",
            bytes.len()
        ));
    }
    Ok(Some(Secret(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(
            parse_duration("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        for bad in [
            "",
            "5",
            "s",
            "0s",
            "-1s",
            "1.5s",
            "5 m",
            "5w",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}

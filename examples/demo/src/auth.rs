//! The jwt-cutoff wiring: one cutoff store and one [`CutoffCache`], the validators that the HTTP
//! and gRPC guards share, and the issuer that mints token pairs.
//!
//! A token is only as good as its user: no row in `demo_users` means no access, so a token signed
//! with the demo's key for a `sub` that never was (or no longer is) a user is refused (401). The
//! SQL stores check that in the cutoff lookup's own query (`known_subjects`), so it costs no extra
//! round trip; with the cutoffs in Redis, `RedisForKnownUsers` asks Redis and the database at once.

use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff::{
    Algorithm, BackChannelLogout, Cutoff, CutoffCache, CutoffFuture, CutoffSource, LookupFuture,
    PushTask, RefreshTokens, Refresher, Scope, SigningKey, SourceError, TokenIssuer, TokenKeys,
    TrustedIssuer, Validator, ValidatorBuilder,
};
use jwt_cutoff_axum::PublishedKeys;
use jwt_cutoff_redis::RedisStore;
use jwt_cutoff_redis::redis;
use jwt_cutoff_sqlx::{PostgresStore, SqliteStore};
use serde::{Deserialize, Serialize};

use crate::Failure;
use crate::config::{Config, Providers, RedisConfig, Secret};
use crate::db::{Database, USER_ID_COLUMN, USERS_TABLE, random_hex};
use crate::users;

/// With push, a change reaches the cache at once; entries then live this long at least, which
/// bounds the damage of a lost message.
const TIME_TO_LIVE_WITH_PUSH: Duration = Duration::from_secs(600);

/// Clock skew tolerated on `exp` (and on an `iat` slightly in the future) between instances. Short,
/// so that `--access-ttl 2s` shows tokens expiring (and the page refreshing them) within seconds.
const LEEWAY: Duration = Duration::from_secs(5);

/// How much longer than a refresh token's lifetime its session's records are kept: more than the
/// leeway, so no token of a session outlives what is known of it.
const RETENTION_MARGIN: Duration = Duration::from_secs(24 * 60 * 60);

/// The claims the demo adds to every token, next to `sub`, `iat`, `exp` and `token_use`; in an
/// OpenID provider's tokens, what it calls the username.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// OpenID Connect's name for it, in providers' tokens; never written.
    #[serde(default, skip_serializing)]
    preferred_username: Option<String>,
}

impl Profile {
    /// The claims of a token for the demo's own user `username`.
    pub(crate) fn of(username: String) -> Self {
        Self {
            username: Some(username),
            preferred_username: None,
        }
    }

    /// The username: the demo's own, or a provider's `preferred_username`.
    pub(crate) fn username(&self) -> Option<&str> {
        self.username
            .as_deref()
            .or(self.preferred_username.as_deref())
    }
}

/// Everything about tokens; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Auth {
    /// The one cache of cutoffs, in front of the store; both validators read it.
    pub(crate) cutoffs: CutoffCache,
    /// Access tokens, for the HTTP and gRPC guards.
    pub(crate) access: Validator<Profile>,
    /// Refresh tokens, for `/auth/refresh`: verified, exchanged for a pair and spent.
    pub(crate) refresher: Refresher<Profile>,
    pub(crate) issuer: TokenIssuer,
    /// Back-channel logout tokens from the trusted providers.
    pub(crate) logouts: BackChannelLogout,
    /// With `--issuer`: the discovery document and the JWK set other services fetch.
    pub(crate) published: Option<PublishedKeys>,
}

/// The access validator, also trusting the `--oidc-issuer` providers (found through discovery).
fn trusting(builder: ValidatorBuilder, providers: &Providers) -> ValidatorBuilder {
    if providers.issuers.is_empty() {
        return builder;
    }
    let algorithms = std::iter::once(Algorithm::HS256).chain(Algorithm::ASYMMETRIC);
    providers
        .issuers
        .iter()
        .fold(builder.algorithms(algorithms), |builder, issuer| {
            builder.trust(
                TrustedIssuer::discover(issuer.as_str())
                    .audience(providers.audience.as_str())
                    .refetch_cooldown(providers.jwks_cooldown)
                    .refresh_every(providers.jwks_refresh),
            )
        })
}

/// Keeps the push subscription (PostgreSQL LISTEN or Redis pub/sub) running; `None` for SQLite.
pub(crate) type Push = Option<PushTask>;

impl Auth {
    /// Opens the cutoff store (Redis when configured, else the database), follows its push channel
    /// if it has one, and loads or generates the secrets. Every lookup also checks that the user
    /// exists, in `demo_users`, which [`Database::open`] has created by now.
    pub(crate) async fn start(
        config: &Config,
        database: &Database,
    ) -> Result<(Self, Push), Failure> {
        let store_failed =
            |error: jwt_cutoff_sqlx::Error| Failure::runtime(format!("cutoff store: {error}"));
        // A provider's subjects are `<iss>#<sub>` (and `<iss>#` for its sessions): not the demo's users.
        let prefixes: Arc<[String]> = config
            .providers
            .issuers
            .iter()
            .map(|issuer| format!("{issuer}#"))
            .collect();
        let own_prefix: Option<Arc<str>> = config
            .issuer
            .as_ref()
            .map(|issuer| format!("{issuer}#").into());
        // Revoked sessions and rotation records are kept as long as a refresh token can live.
        let retention = config.refresh_ttl.saturating_add(RETENTION_MARGIN);
        let (cutoffs, push, rotation): (_, _, Box<dyn RefreshTokens>) =
            match (&config.redis, database) {
                (Some(redis), _) => {
                    let store = redis_store(redis, retention).await?;
                    let source = ProvidersApart {
                        users: RedisForKnownUsers {
                            redis: store.clone(),
                            database: database.clone(),
                        },
                        providers: store.clone(),
                        prefixes: prefixes.clone(),
                        own_prefix: own_prefix.clone(),
                    };
                    let cutoffs = cache(source, config.cache_ttl);
                    let push = cutoffs.follow(store.clone());
                    (cutoffs, Some(push), Box::new(store))
                }
                (None, Database::Sqlite(pool)) => {
                    let store = SqliteStore::builder()
                        .known_subjects(USERS_TABLE, USER_ID_COLUMN)
                        .session_retention(retention)
                        .pool(pool.clone())
                        .await
                        .map_err(store_failed)?;
                    let providers = SqliteStore::builder()
                        .session_retention(retention)
                        .pool(pool.clone())
                        .await
                        .map_err(store_failed)?;
                    let source = ProvidersApart {
                        users: store.clone(),
                        providers,
                        prefixes: prefixes.clone(),
                        own_prefix: own_prefix.clone(),
                    };
                    (cache(source, config.cache_ttl), None, Box::new(store))
                }
                (None, Database::Postgres(pool)) => {
                    let store = PostgresStore::builder()
                        .known_subjects(USERS_TABLE, USER_ID_COLUMN)
                        .session_retention(retention)
                        .pool(pool.clone())
                        .await
                        .map_err(store_failed)?;
                    let providers = PostgresStore::builder()
                        .session_retention(retention)
                        .pool(pool.clone())
                        .await
                        .map_err(store_failed)?;
                    let source = ProvidersApart {
                        users: store.clone(),
                        providers,
                        prefixes: prefixes.clone(),
                        own_prefix: own_prefix.clone(),
                    };
                    let cutoffs = cache(source, config.cache_ttl);
                    let push = cutoffs.follow(store.push_channel());
                    (cutoffs, Some(push), Box::new(store))
                }
            };

        let access_secret = secret(database, "access", config.access_secret.as_ref()).await?;
        let refresh_secret = secret(database, "refresh", config.refresh_secret.as_ref()).await?;
        let bad_key = |error: jwt_cutoff::ConfigError| Failure::usage(format!("secret: {error}"));
        let access_key = match config.signing_alg {
            Algorithm::HS256 => {
                SigningKey::hmac(&access_secret, Algorithm::HS256).map_err(bad_key)?
            }
            algorithm => generated_key(database, algorithm).await?,
        };
        let refresh_key = SigningKey::hmac(&refresh_secret, Algorithm::HS256).map_err(bad_key)?;
        // One bundle of keys for the issuer and both validators; each kind of token its own key.
        let keys = TokenKeys::new(access_key.clone(), refresh_key).map_err(bad_key)?;
        let (mut issuer, mut access, mut refresh) = (
            keys.issuer(),
            keys.access_validator(),
            keys.refresh_validator(),
        );
        let mut published = None;
        if let Some(own) = &config.issuer {
            // Its own tokens say who issued them and for whom, as a provider's do.
            issuer = issuer
                .issuer(own.as_str())
                .audience(config.providers.audience.as_str());
            access = access.issuer(own.as_str());
            refresh = refresh.issuer(own.as_str());
            let asymmetric = (config.signing_alg != Algorithm::HS256).then_some(&access_key);
            published = Some(PublishedKeys::new(own, asymmetric).map_err(bad_key)?);
        }
        let issuer = issuer
            .access_lifetime(config.access_ttl)
            .refresh_lifetime(config.refresh_ttl)
            .build()
            .map_err(bad_key)?;
        let refresh_validator = refresh
            .leeway(LEEWAY)
            .build_refresh(cutoffs.clone())
            .map_err(bad_key)?
            .with_claims::<Profile>();
        let access = trusting(access.leeway(LEEWAY), &config.providers)
            .build(cutoffs.clone())
            .map_err(|error| Failure::usage(format!("--oidc-issuer: {error}")))?
            .with_claims::<Profile>();
        let auth = Self {
            published,
            logouts: BackChannelLogout::new(&access, config.providers.client_id.as_str()),
            access,
            refresher: Refresher::new(refresh_validator, issuer.clone())
                .rotating(rotation)
                .reuse_grace(config.refresh_reuse_grace),
            issuer,
            cutoffs,
        };
        Ok((auth, push))
    }
}

/// The cache in front of `store`.
fn cache(store: impl CutoffSource, time_to_live: Duration) -> CutoffCache {
    CutoffCache::builder(store)
        .time_to_live(time_to_live)
        .time_to_live_with_push(time_to_live.max(TIME_TO_LIVE_WITH_PUSH))
        .build()
}

/// The demo's users are checked against `demo_users` (`users`); a trusted provider's subjects
/// (`<iss>#…`) are nobody there, so their cutoffs are looked up without that check (`providers`,
/// the same store). Writes go to the same place either way.
///
/// With `--issuer`, a cutoff of the demo's own users is written twice: under the plain subject,
/// which the demo judges its own tokens by (as before it had an issuer), and under
/// `<issuer>#<subject>`, which services trusting it (`--oidc-issuer`) judge its tokens by: so a
/// logout here reaches them through the store they share, and pushes.
struct ProvidersApart<U, P> {
    users: U,
    providers: P,
    prefixes: Arc<[String]>,
    /// `<--issuer>#`.
    own_prefix: Option<Arc<str>>,
}

impl<U, P> ProvidersApart<U, P> {
    fn is_provider_subject(&self, subject: &str) -> bool {
        self.prefixes
            .iter()
            .any(|prefix| subject.starts_with(prefix.as_str()))
    }

    /// The subject services trusting the demo judge an own user's tokens by.
    fn mirrored(&self, subject: &str) -> Option<String> {
        let own = self.own_prefix.as_deref()?;
        (!self.is_provider_subject(subject) && !subject.starts_with(own))
            .then(|| format!("{own}{subject}"))
    }
}

impl<U: CutoffSource, P: CutoffSource> CutoffSource for ProvidersApart<U, P> {
    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
        if self.is_provider_subject(subject) {
            self.providers.lookup(subject)
        } else {
            self.users.lookup(subject)
        }
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        Box::pin(async move {
            let raised = self.users.raise(scope, to).await?;
            let mirror = match scope {
                Scope::Everyone => None,
                Scope::Subject(subject) | Scope::Session { subject, .. } => self.mirrored(subject),
            };
            if let Some(mirror) = mirror {
                let mirrored = match scope {
                    Scope::Session { session, .. } => Scope::Session {
                        subject: &mirror,
                        session,
                    },
                    _ => Scope::Subject(&mirror),
                };
                self.users.raise(mirrored, to).await?;
            }
            Ok(raised)
        })
    }

    fn stored<'a>(&'a self, scope: Scope<'a>) -> CutoffFuture<'a> {
        self.users.stored(scope)
    }
}

/// Cutoffs in Redis, users in the database. Redis knows nothing about users, so each lookup asks
/// both at once (the latency of one round trip, not two) and refuses a subject with no row in
/// `demo_users`, as the SQL stores do with `known_subjects`. Writes and push go to Redis.
struct RedisForKnownUsers {
    redis: RedisStore,
    database: Database,
}

impl CutoffSource for RedisForKnownUsers {
    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            let (cutoffs, exists) = tokio::join!(
                self.redis.lookup(subject),
                users::exists(&self.database, subject)
            );
            if exists.map_err(SourceError::from_error)? {
                cutoffs
            } else {
                // No such user: refused, whatever Redis answered (or whether it answered at all).
                Ok(Cutoff::Refused.into())
            }
        })
    }

    fn raise<'a>(&'a self, scope: Scope<'a>, to: Cutoff) -> CutoffFuture<'a> {
        self.redis.raise(scope, to)
    }
}

async fn redis_store(config: &RedisConfig, retention: Duration) -> Result<RedisStore, Failure> {
    let client = redis::Client::open(config.url.as_str())
        .map_err(|error| Failure::usage(format!("--cutoff-store: {error}")))?;
    RedisStore::builder(client)
        .key_prefix(config.prefix.as_str())
        .session_retention(retention)
        .connect()
        .await
        .map_err(|error| Failure::runtime(format!("cannot reach the Redis cutoff store: {error}")))
}

/// The asymmetric access-token key for `algorithm`, generated at first start and kept in the
/// database (as PKCS#8 PEM), with a `kid` of its own, so restarts and instances on one database
/// sign with the same key.
async fn generated_key(database: &Database, algorithm: Algorithm) -> Result<SigningKey, Failure> {
    let pem = private_key_pem(algorithm).map_err(Failure::runtime)?;
    let pem = database
        .secret(&format!("access-key-{algorithm}"), &pem)
        .await
        .map_err(|error| Failure::runtime(format!("database: {error}")))?;
    let kid = random_hex(8).map_err(|error| Failure::runtime(error.to_string()))?;
    let kid = database
        .secret(&format!("access-kid-{algorithm}"), &kid)
        .await
        .map_err(|error| Failure::runtime(format!("database: {error}")))?;
    let key = match algorithm {
        Algorithm::ES256 => SigningKey::ec_pem(pem.as_bytes(), algorithm),
        Algorithm::EdDSA => SigningKey::ed_pem(pem.as_bytes()),
        _ => SigningKey::rsa_pem(pem.as_bytes(), algorithm),
    };
    Ok(key
        .map_err(|error| Failure::runtime(format!("the stored {algorithm} key: {error}")))?
        .kid(kid))
}

/// A new private key for `algorithm`, as PKCS#8 PEM.
fn private_key_pem(algorithm: Algorithm) -> Result<String, String> {
    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
    use base64::Engine as _;
    let failed = |_| format!("could not generate an {algorithm} key");
    let der: Vec<u8> = match algorithm {
        Algorithm::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(failed)?
                .as_ref()
                .to_vec()
        }
        Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        _ => aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(failed)?
            .as_der()
            .map_err(failed)?
            .as_ref()
            .to_vec(),
    };
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

/// The secret from the environment, else the one kept in the database (generated at first start).
async fn secret(
    database: &Database,
    name: &str,
    from_env: Option<&Secret>,
) -> Result<Vec<u8>, Failure> {
    if let Some(secret) = from_env {
        return Ok(secret.0.clone());
    }
    let generated = random_hex(32).map_err(|error| Failure::runtime(error.to_string()))?;
    let kept = database
        .secret(name, &generated)
        .await
        .map_err(|error| Failure::runtime(format!("database: {error}")))?;
    Ok(kept.into_bytes())
}

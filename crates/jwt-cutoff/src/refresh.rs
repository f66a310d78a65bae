//! [`Refresher`]: the refresh exchange, a verified refresh token for a new pair, with rotation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff_store::{Cutoff, RefreshTokens, Scope, SourceError, Spend, Spent};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::claims::{NoClaims, Verified};
use crate::issuer::{IssueError, TokenIssuer, TokenPair};
use crate::reject::{Reason, Rejection};
use crate::validate::RefreshValidator;

/// How long after a rotation the token it replaced is refused without revoking its session, unless
/// [`Refresher::reuse_grace`] says otherwise: long enough for concurrent refreshes from one client
/// (several tabs) and a retry of a refresh whose answer was lost, short enough that a stolen copy
/// used later revokes the session.
pub const DEFAULT_REUSE_GRACE: Duration = Duration::from_secs(5);

/// The refresh exchange: a refresh token for a new pair in the same session.
///
/// [`refresh`](Self::refresh) verifies the token with a [`RefreshValidator`] (every check, the
/// subject's and session's cutoffs read from the store), mints the new pair with
/// [`TokenIssuer::refresh_pair`] (same session, the login's instant kept) and, with
/// [`rotating`](Self::rotating), spends the presented token in the store before answering:
///
/// - each refresh token works once: the new pair's refresh token replaces it;
/// - of concurrent refreshes with one token exactly one succeeds, across instances too (the store
///   decides atomically); the others, and a retry within the [grace window](Self::reuse_grace), get
///   401 [`Reason::Revoked`] and the session keeps working;
/// - a spent token presented after the grace window is reuse (a copy in another hand): the session
///   is revoked in the store, here at once and on every instance push reaches, its access and
///   refresh tokens refused, and a warning is logged.
///
/// Without rotation a refresh token stays valid until it expires, and a logout is what ends it.
/// Refresh tokens minted before sessions (no `sid`) start a new session and are not spent.
///
/// ```
/// use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, Refresher, SigningKey, TokenIssuer, VerifyingKey, Validator};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = b"a refresh secret of at least 32 bytes";
/// let store = MemoryStore::new();
/// let cutoffs = CutoffCache::new(store.clone());
/// let validator = Validator::builder()
///     .algorithms([Algorithm::HS256])
///     .key(VerifyingKey::hmac(secret)?)
///     .build_refresh(cutoffs)?;
/// let issuer = TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256)?).build()?;
/// let refresher = Refresher::new(validator, issuer.clone()).rotating(store);
///
/// let login = issuer.issue_pair("alice", &())?;
/// let refreshed = refresher.refresh(&login.refresh.token, |_| ()).await?;
/// assert_eq!(refreshed.session_id, login.session_id);
/// // The login's refresh token is spent: presented again, it is refused.
/// assert!(refresher.refresh(&login.refresh.token, |_| ()).await.is_err());
/// # Ok(())
/// # }
/// ```
pub struct Refresher<C = NoClaims> {
    validator: RefreshValidator<C>,
    issuer: TokenIssuer,
    /// Where refresh tokens are spent; `None` without rotation.
    rotation: Option<Arc<dyn RefreshTokens>>,
    reuse_grace: Duration,
}

impl<C> Clone for Refresher<C> {
    fn clone(&self) -> Self {
        Self {
            validator: self.validator.clone(),
            issuer: self.issuer.clone(),
            rotation: self.rotation.clone(),
            reuse_grace: self.reuse_grace,
        }
    }
}

impl<C> fmt::Debug for Refresher<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresher")
            .field("validator", &self.validator)
            .field("rotating", &self.rotation.is_some())
            .field("reuse_grace", &self.reuse_grace)
            .finish_non_exhaustive()
    }
}

/// A refresh was refused, or the new pair could not be minted.
#[derive(Debug)]
pub enum RefreshError {
    /// The refresh token was refused (401), or a store could not answer (503).
    Refused(Rejection),
    /// The new pair could not be issued (500).
    Issue(IssueError),
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(rejection) => write!(f, "refresh refused: {rejection}"),
            Self::Issue(error) => write!(f, "refresh failed: {error}"),
        }
    }
}

impl std::error::Error for RefreshError {}

impl From<Rejection> for RefreshError {
    fn from(rejection: Rejection) -> Self {
        Self::Refused(rejection)
    }
}

impl From<IssueError> for RefreshError {
    fn from(error: IssueError) -> Self {
        Self::Issue(error)
    }
}

impl<C> Refresher<C> {
    /// The exchange through `validator` and `issuer`, without rotation.
    pub fn new(validator: RefreshValidator<C>, issuer: TokenIssuer) -> Self {
        Self {
            validator,
            issuer,
            rotation: None,
            reuse_grace: DEFAULT_REUSE_GRACE,
        }
    }

    /// Rotates refresh tokens in `store` (every store of this workspace rotates: memory, SQL,
    /// Redis), with the [default grace window](DEFAULT_REUSE_GRACE). Use the store the
    /// validator's [`CutoffCache`](crate::CutoffCache) reads, so that a session revoked for reuse
    /// is refused by every validator over it.
    #[must_use]
    pub fn rotating(mut self, store: impl RefreshTokens) -> Self {
        self.rotation = Some(Arc::new(store));
        self
    }

    /// How long after a rotation the replaced token is refused without revoking its session
    /// (default [`DEFAULT_REUSE_GRACE`]); zero makes any second use reuse. It matters only with
    /// [`rotating`](Self::rotating), before or after which it may be set.
    #[must_use]
    pub fn reuse_grace(mut self, grace: Duration) -> Self {
        self.reuse_grace = grace;
        self
    }

    /// The validator refresh tokens go through.
    #[must_use]
    pub fn validator(&self) -> &RefreshValidator<C> {
        &self.validator
    }

    /// The issuer of the new pairs.
    #[must_use]
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }
}

impl<C: DeserializeOwned + Clone + Send + Sync + 'static> Refresher<C> {
    /// Exchanges `refresh_token` for a new pair: verified, minted and, with rotation, spent (see
    /// the [type docs](Self)). `extra_claims` picks the new pair's claims: `|_| ()` for none,
    /// `|verified| verified.claims().clone()` to carry the refresh token's over.
    ///
    /// # Errors
    /// The token is refused, spent or reused ([`RefreshError::Refused`], 401), a store is down
    /// (503), or the pair could not be issued ([`RefreshError::Issue`]).
    pub async fn refresh<E: Serialize>(
        &self,
        refresh_token: &str,
        extra_claims: impl FnOnce(&Verified<C>) -> E,
    ) -> Result<TokenPair, RefreshError> {
        let verified = self.validator.validate(refresh_token).await?;
        self.exchange(&verified, &extra_claims(&verified)).await
    }

    /// The second half of [`refresh`](Self::refresh), for claims that need I/O between the two:
    /// mints the new pair for a token `verified` by [`validator`](Self::validator) and, with
    /// rotation, spends that token.
    ///
    /// # Errors
    /// As for [`refresh`](Self::refresh).
    pub async fn exchange<E: Serialize>(
        &self,
        verified: &Verified<C>,
        extra_claims: &E,
    ) -> Result<TokenPair, RefreshError> {
        let pair = self.issuer.refresh_pair(verified, extra_claims)?;
        let Some(rotation) = &self.rotation else {
            return Ok(pair);
        };
        let (Some(session), Some(successor)) = (verified.session_id(), pair.refresh.id.as_deref())
        else {
            // A token from before sessions: refresh_pair made it a new session.
            return Ok(pair);
        };
        let Some(token) = verified.token_id() else {
            // A session's refresh token carries its id; one without cannot be spent once.
            return Err(Rejection::new(Reason::MissingClaim).into());
        };
        let spend = Spend {
            subject: verified.subject(),
            session,
            token,
            successor,
            grace: self.reuse_grace,
        };
        let cutoffs = self.validator.cutoffs();
        let timeout = cutoffs.store_timeout();
        let spent = match tokio::time::timeout(timeout, rotation.spend(spend)).await {
            Ok(spent) => spent,
            Err(_elapsed) => Err(SourceError::new(format!(
                "spending a refresh token timed out after {timeout:?}"
            ))),
        };
        let refused = match spent {
            Ok(Spent::Rotated) => return Ok(pair),
            Ok(Spent::Raced | Spent::Revoked) => Rejection::new(Reason::Revoked),
            Ok(Spent::Reused) => {
                let scope = Scope::Session {
                    subject: verified.subject(),
                    session,
                };
                cutoffs.apply(scope, Cutoff::Refused);
                tracing::warn!(
                    subject = verified.subject(),
                    session,
                    "jwt-cutoff: a spent refresh token was presented again; its session is revoked"
                );
                Rejection::new(Reason::Revoked)
            }
            Err(error) => {
                tracing::warn!(%error, "jwt-cutoff: a refresh token could not be spent");
                Rejection::unavailable(error)
            }
        };
        Err(refused.into())
    }
}

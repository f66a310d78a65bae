//! Refresh-token rotation with reuse detection: [`RefreshTokens`], the store side of it.

use std::sync::Arc;
use std::time::Duration;

use crate::cutoff::Cutoff;
use crate::source::{BoxFuture, Scope, SourceError, check_scope};

/// The longest refresh-token id (`jti`), in bytes, that stores keep.
pub const MAX_TOKEN_ID_BYTES: usize = 256;

/// A refresh token presented for rotation, and the id of the token that replaces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spend<'a> {
    /// Whose session it is.
    pub subject: &'a str,
    /// The session the token belongs to (its `sid`).
    pub session: &'a str,
    /// The presented token's id (its `jti`).
    pub token: &'a str,
    /// The id of the token that replaces it, current once this spend rotates.
    pub successor: &'a str,
    /// How long after a rotation the token it replaced is answered [`Spent::Raced`] rather than
    /// [`Spent::Reused`]. Zero makes any second use reuse.
    pub grace: Duration,
}

/// What spending a refresh token did; see [`RefreshTokens`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Spent {
    /// The token was current: it is spent, and its successor is current.
    Rotated,
    /// The token was replaced within the grace window: another refresh with it won. Nothing
    /// changed; the token is refused.
    Raced,
    /// The token was spent before: the session is revoked now.
    Reused,
    /// The session was revoked already. Nothing changed; the token is refused.
    Revoked,
}

/// A store that rotates refresh tokens: spends each one atomically, once, and revokes a session
/// whose spent token comes back.
///
/// Each session's record holds the id (`jti`) of its current refresh token, the one it replaced,
/// and when. Spending a token is one atomic step in the store:
///
/// | presented token | answer | effect |
/// | --- | --- | --- |
/// | the current one (or the session's first, never spent) | [`Spent::Rotated`] | its successor is current |
/// | the one just replaced, within the grace window | [`Spent::Raced`] | none: a concurrent refresh, or a retry of one, won |
/// | any other (replaced before the window, or older) | [`Spent::Reused`] | the session is revoked ([`Cutoff::Refused`]), pushed like any change |
/// | any, in a revoked session | [`Spent::Revoked`] | none |
///
/// So of concurrent refreshes with one token exactly one rotates, and a retry within the grace
/// window is refused without signing the session out; only a token presented again after the
/// window (a copy in another hand, typically) revokes the session.
///
/// Stores keep a session's record for their session retention after its last rotation, as they
/// keep its cutoff; it must outlive every refresh token of the session.
pub trait RefreshTokens: Send + Sync + 'static {
    /// Spends `spend.token`, atomically: see the [trait docs](RefreshTokens) for the answers. On
    /// [`Spent::Reused`] the session's cutoff is [`Cutoff::Refused`] in the store, and pushed,
    /// before this returns.
    fn spend<'a>(&'a self, spend: Spend<'a>) -> BoxFuture<'a, Result<Spent, SourceError>>;
}

/// A store behind a pointer spends as the store itself.
macro_rules! forward_through {
    ($($pointer:ident),+) => {$(
        impl<T: RefreshTokens + ?Sized> RefreshTokens for $pointer<T> {
            fn spend<'a>(&'a self, spend: Spend<'a>) -> BoxFuture<'a, Result<Spent, SourceError>> {
                (**self).spend(spend)
            }
        }
    )+};
}

forward_through!(Arc, Box);

/// Refuses a spend whose subject or session is out of bounds (see [`check_scope`]), or whose token
/// ids are empty, longer than [`MAX_TOKEN_ID_BYTES`], or hold whitespace or control characters.
///
/// # Errors
/// The spend is out of bounds; nothing should be read or written for it.
pub fn check_spend(spend: &Spend<'_>) -> Result<(), SourceError> {
    check_scope(Scope::Session {
        subject: spend.subject,
        session: spend.session,
    })?;
    for id in [spend.token, spend.successor] {
        let printable = id.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if id.is_empty() || id.len() > MAX_TOKEN_ID_BYTES || !printable {
            return Err(SourceError::new(format!(
                "a refresh-token id must have 1 to {MAX_TOKEN_ID_BYTES} bytes, none of them \
                 whitespace or control characters; this one has {} bytes",
                id.len()
            )));
        }
    }
    Ok(())
}

/// A session's rotation record as the stores keep it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) current: Option<String>,
    pub(crate) previous: Option<String>,
    /// Microseconds since the epoch.
    pub(crate) rotated_at: Option<i64>,
}

impl Record {
    /// What a spend of a session with this record and cutoff does, at `now` (microseconds): the
    /// answer, and the record to keep when it rotates. The one rule every store follows; the SQL
    /// and Redis stores run the same steps in their own language.
    pub(crate) fn spend(
        &self,
        cutoff: Cutoff,
        spend: &Spend<'_>,
        now: i64,
    ) -> (Spent, Option<Self>) {
        if cutoff != Cutoff::NoCutoff {
            return (Spent::Revoked, None);
        }
        match &self.current {
            None => (Spent::Rotated, Some(self.rotated(spend, now))),
            Some(current) if current == spend.token => {
                (Spent::Rotated, Some(self.rotated(spend, now)))
            }
            Some(_) if self.raced(spend, now) => (Spent::Raced, None),
            Some(_) => (Spent::Reused, None),
        }
    }

    fn rotated(&self, spend: &Spend<'_>, now: i64) -> Self {
        Self {
            current: Some(spend.successor.to_owned()),
            previous: Some(spend.token.to_owned()),
            rotated_at: Some(now),
        }
    }

    fn raced(&self, spend: &Spend<'_>, now: i64) -> bool {
        let grace = i64::try_from(spend.grace.as_micros()).unwrap_or(i64::MAX);
        self.previous.as_deref() == Some(spend.token)
            && self
                .rotated_at
                .is_some_and(|at| now.saturating_sub(at) <= grace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    fn spend<'a>(token: &'a str, successor: &'a str) -> Spend<'a> {
        Spend {
            subject: "alice",
            session: "laptop",
            token,
            successor,
            grace: GRACE,
        }
    }

    #[test]
    fn the_rule() {
        let fresh = Record::default();
        let (spent, rotated) = fresh.spend(Cutoff::NoCutoff, &spend("a", "b"), 0);
        assert_eq!(spent, Spent::Rotated, "a session's first refresh");
        let rotated = rotated.unwrap_or_default();
        assert_eq!(rotated.current.as_deref(), Some("b"));

        let at = |micros| (rotated.spend(Cutoff::NoCutoff, &spend("a", "c"), micros)).0;
        assert_eq!(at(5_000_000), Spent::Raced, "within the window");
        assert_eq!(at(5_000_001), Spent::Reused, "after it");
        assert_eq!(
            rotated.spend(Cutoff::NoCutoff, &spend("z", "c"), 1).0,
            Spent::Reused,
            "an older token"
        );
        assert_eq!(
            rotated
                .spend(Cutoff::NoCutoff, &spend("b", "c"), 9_000_000)
                .0,
            Spent::Rotated
        );
        assert_eq!(
            rotated.spend(Cutoff::Refused, &spend("b", "c"), 1).0,
            Spent::Revoked
        );
        let no_grace = Spend {
            grace: Duration::ZERO,
            ..spend("a", "c")
        };
        assert_eq!(
            rotated.spend(Cutoff::NoCutoff, &no_grace, 1).0,
            Spent::Reused,
            "with no grace any second use is reuse"
        );
    }

    #[test]
    fn ids_are_bounded_and_printable() {
        assert!(check_spend(&spend("a", "b")).is_ok());
        let long = "x".repeat(MAX_TOKEN_ID_BYTES + 1);
        for (token, successor) in [("", "b"), ("a b", "b"), ("a", "\n"), (long.as_str(), "b")] {
            assert!(check_spend(&spend(token, successor)).is_err(), "{token:?}");
        }
    }
}

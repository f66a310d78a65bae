//! The answer a cutoff source gives for a subject, the instants a token claims, and the one rule
//! that compares the two.

use std::fmt;
use std::sync::Arc;

use crate::time::Timestamp;

/// The longest subject, in bytes, that tokens may name and stores hold: a longer one is refused
/// by token validators and issuers before any lookup, by [`CutoffCache`](crate::CutoffCache) and by
/// every store ([`check_subject`](crate::check_subject)), so that every store can keep and push any
/// subject a token can carry.
pub const MAX_SUBJECT_BYTES: usize = 256;

/// The longest session id (`sid`), in bytes, that tokens may carry: a token with a longer one is
/// refused before any lookup, so a session id always fits wherever a subject does.
pub const MAX_SESSION_ID_BYTES: usize = 256;

/// What a subject's tokens must satisfy, as a [`CutoffSource`](crate::CutoffSource) answers it.
///
/// Cutoffs only move forward. They are ordered `NoCutoff < ValidFrom(earlier) < ValidFrom(later) <
/// Refused`, and wherever several apply (the subject's own, a global one, a session's) the greatest
/// wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cutoff {
    /// Every otherwise valid token passes.
    #[default]
    NoCutoff,
    /// Only tokens issued at or after this instant pass ("log out from all devices" sets it to now).
    ValidFrom(Timestamp),
    /// Every token fails: the subject is deleted, disabled, or unknown to an authoritative store.
    Refused,
}

/// What a cutoff says of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Verdict {
    /// The token was issued (and its login made) at or after the cutoff.
    Admitted,
    /// The token, or the login it descends from, is older than the cutoff.
    Revoked,
    /// Every token of the subject is refused (deleted, disabled, unknown).
    Refused,
}

/// An instant a token claims (`iat`, `auth_time`), as precisely as the token wrote it.
///
/// A whole-second claim only says "somewhere in that second", which the cutoff rule treats on the
/// safe side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenInstant {
    at: Timestamp,
    whole_seconds: bool,
}

impl TokenInstant {
    /// A claim with a fraction (microseconds), such as this project's issuer writes.
    #[must_use]
    pub const fn precise(at: Timestamp) -> Self {
        Self {
            at,
            whole_seconds: false,
        }
    }

    /// A claim in whole seconds: some time within the second that starts `secs` after the epoch.
    #[must_use]
    pub const fn whole_second(secs: i64) -> Self {
        Self {
            at: Timestamp::from_unix_secs(secs),
            whole_seconds: true,
        }
    }

    /// The instant (the start of its second, for a whole-second claim).
    #[must_use]
    pub const fn at(self) -> Timestamp {
        self.at
    }

    /// Whether the claim was in whole seconds.
    #[must_use]
    pub const fn is_whole_second(self) -> bool {
        self.whole_seconds
    }

    /// The instant a cutoff judges a token by: the earlier of its `iat` and, when it has one, the
    /// `auth_time` of the login it descends from. A pair minted by a refresh carries its login's
    /// `auth_time`, so a logout covers every pair refreshed from a login made before it, however
    /// late the refresh slipped through.
    ///
    /// On equal instants a whole-second claim is the one kept, as [`Cutoff::admits`] treats it
    /// more strictly. The earlier instant passes a cutoff only if both do.
    #[must_use]
    pub fn judged(issued_at: Self, authenticated_at: Option<Self>) -> Self {
        match authenticated_at {
            Some(login) if login.at < issued_at.at => login,
            Some(login) if login.at == issued_at.at && login.whole_seconds => login,
            _ => issued_at,
        }
    }
}

impl Cutoff {
    /// The later of two cutoffs.
    #[must_use]
    pub fn max(self, other: Self) -> Self {
        Ord::max(self, other)
    }

    /// The instant tokens are valid from, for [`ValidFrom`](Self::ValidFrom).
    #[must_use]
    pub const fn valid_from(self) -> Option<Timestamp> {
        match self {
            Self::ValidFrom(at) => Some(at),
            Self::NoCutoff | Self::Refused => None,
        }
    }

    /// What this cutoff says of a token judged by `instant` (see [`TokenInstant::judged`]).
    pub fn judge(self, instant: TokenInstant) -> Verdict {
        match self {
            _ if self.admits(instant) => Verdict::Admitted,
            Self::Refused => Verdict::Refused,
            _ => Verdict::Revoked,
        }
    }

    /// Whether a token judged by `instant` passes this cutoff.
    ///
    /// A precise instant passes when it is at or after the cutoff. A whole-second one only says the
    /// token was made somewhere in that second, so it passes only when that second starts after the
    /// cutoff's second: a third-party token stamped in the same second as a logout is refused, the
    /// safe side.
    #[must_use]
    pub fn admits(self, instant: TokenInstant) -> bool {
        match self {
            Self::NoCutoff => true,
            Self::Refused => false,
            Self::ValidFrom(from) if instant.whole_seconds => {
                instant.at.as_unix_secs() > from.as_unix_secs()
            }
            Self::ValidFrom(from) => instant.at >= from,
        }
    }
}

/// The cutoffs in force for one subject, as [`CutoffSource::lookup`](crate::CutoffSource::lookup)
/// answers them in one go: the one for all of its tokens (its own combined with every wider one),
/// and those of its sessions that have their own ([`Scope::Session`](crate::Scope::Session)).
///
/// A token is judged by the latest that applies to it: [`for_token`](Self::for_token).
///
/// ```
/// use jwt_cutoff_store::{Cutoff, SubjectCutoffs, Timestamp};
///
/// let logout = Cutoff::ValidFrom(Timestamp::from_unix_secs(1_764_384_000));
/// let cutoffs = SubjectCutoffs::from(logout).with_session("laptop", Cutoff::Refused);
/// assert_eq!(cutoffs.for_token(Some("laptop")), Cutoff::Refused);
/// assert_eq!(cutoffs.for_token(Some("phone")), logout);
/// assert_eq!(cutoffs.for_token(None), logout);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectCutoffs {
    cutoff: Cutoff,
    /// Sorted by session id, without duplicates, and never holding [`Cutoff::NoCutoff`]; `None`
    /// when empty, so that the common subject with no session of its own costs no allocation (and
    /// a clone from the cache one reference count when it has some).
    sessions: Option<Arc<[SessionCutoff]>>,
}

/// A session's id and its cutoff.
type SessionCutoff = (Box<str>, Cutoff);

impl From<Cutoff> for SubjectCutoffs {
    fn from(cutoff: Cutoff) -> Self {
        Self {
            cutoff,
            sessions: None,
        }
    }
}

impl SubjectCutoffs {
    /// These cutoffs, with `session`'s raised to at least `cutoff`.
    #[must_use]
    pub fn with_session(self, session: &str, cutoff: Cutoff) -> Self {
        self.raised(Some(session), cutoff).unwrap_or(self)
    }

    /// The cutoff for every token of the subject, wider scopes included.
    #[must_use]
    pub const fn cutoff(&self) -> Cutoff {
        self.cutoff
    }

    /// The cutoff of one session of its own ([`Cutoff::NoCutoff`] when it has none).
    #[must_use]
    pub fn session(&self, session: &str) -> Cutoff {
        let sessions = self.sessions.as_deref().unwrap_or_default();
        sessions
            .binary_search_by(|(id, _)| (**id).cmp(session))
            .ok()
            .and_then(|found| sessions.get(found))
            .map_or(Cutoff::NoCutoff, |(_, cutoff)| *cutoff)
    }

    /// The sessions that have a cutoff of their own, ordered by id.
    pub fn sessions(&self) -> impl ExactSizeIterator<Item = (&str, Cutoff)> {
        let sessions = self.sessions.as_deref().unwrap_or_default();
        sessions.iter().map(|(id, cutoff)| (&**id, *cutoff))
    }

    /// The cutoff in force for a token of the subject that carries `session` (`None`: a token
    /// without one): the latest of the subject's and the session's.
    #[must_use]
    pub fn for_token(&self, session: Option<&str>) -> Cutoff {
        match session {
            Some(session) => self.cutoff.max(self.session(session)),
            None => self.cutoff,
        }
    }

    /// What these cutoffs say of a token judged by `instant` (see [`TokenInstant::judged`]) that
    /// carries `session` (`None`: no session id). The subject's cutoff decides first, so a deleted
    /// subject is [`Verdict::Refused`]; a token that passes it but not its session's cutoff is
    /// [`Verdict::Revoked`], whatever that cutoff is.
    pub fn judge(&self, session: Option<&str>, instant: TokenInstant) -> Verdict {
        self.judge_with(Cutoff::NoCutoff, session, instant)
    }

    /// [`judge`](Self::judge), with `wider` (everyone's cutoff) applying to the subject too.
    pub(crate) fn judge_with(
        &self,
        wider: Cutoff,
        session: Option<&str>,
        instant: TokenInstant,
    ) -> Verdict {
        match self.cutoff.max(wider).judge(instant) {
            Verdict::Admitted => match session {
                Some(session) if !self.session(session).admits(instant) => Verdict::Revoked,
                _ => Verdict::Admitted,
            },
            refused => refused,
        }
    }

    /// Both answers combined: every cutoff the later of the two.
    #[must_use]
    pub fn max(self, other: &Self) -> Self {
        let raised = self.raised(None, other.cutoff).unwrap_or(self);
        other.sessions().fold(raised, |merged, (session, cutoff)| {
            merged.with_session(session, cutoff)
        })
    }

    /// These cutoffs with the subject's (`session` `None`) or a session's raised to `to`; `None`
    /// when that changes nothing.
    pub(crate) fn raised(&self, session: Option<&str>, to: Cutoff) -> Option<Self> {
        let Some(session) = session else {
            return (self.cutoff < to).then(|| Self {
                cutoff: to,
                sessions: self.sessions.clone(),
            });
        };
        let sessions = self.sessions.as_deref().unwrap_or_default();
        let position = sessions.binary_search_by(|(id, _)| (**id).cmp(session));
        let mut changed: Vec<SessionCutoff> = match position {
            Ok(found) if sessions.get(found).is_some_and(|(_, cutoff)| *cutoff >= to) => {
                return None;
            }
            _ if to == Cutoff::NoCutoff => return None,
            _ => sessions.to_vec(),
        };
        match position {
            Ok(found) => {
                if let Some(entry) = changed.get_mut(found) {
                    entry.1 = to;
                }
            }
            Err(at) => changed.insert(at, (session.into(), to)),
        }
        Some(Self {
            cutoff: self.cutoff,
            sessions: Some(changed.into()),
        })
    }
}

/// The subject's cutoff, then each session's: `valid from 1764384000; session "a": refused`.
impl fmt::Display for SubjectCutoffs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cutoff)?;
        for (session, cutoff) in self.sessions() {
            write!(f, "; session {session:?}: {cutoff}")?;
        }
        Ok(())
    }
}

/// `no cutoff`, `valid from <seconds since the epoch>` or `refused`.
impl fmt::Display for Cutoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCutoff => f.write_str("no cutoff"),
            Self::ValidFrom(at) => write!(f, "valid from {at}"),
            Self::Refused => f.write_str("refused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_764_384_000;

    fn precise(micros: i64) -> TokenInstant {
        TokenInstant::precise(Timestamp::from_unix_micros(micros))
    }

    fn whole(secs: i64) -> TokenInstant {
        TokenInstant::whole_second(secs)
    }

    #[test]
    fn order_is_none_then_time_then_refused() {
        let early = Cutoff::ValidFrom(Timestamp::from_unix_secs(1));
        let late = Cutoff::ValidFrom(Timestamp::from_unix_secs(2));
        assert!(Cutoff::NoCutoff < early && early < late && late < Cutoff::Refused);
        assert_eq!(early.max(late), late);
        assert_eq!(late.max(Cutoff::NoCutoff), late);
        assert_eq!(late.max(Cutoff::Refused), Cutoff::Refused);
    }

    #[test]
    fn precise_iat_compares_to_the_microsecond() {
        let cutoff = Cutoff::ValidFrom(Timestamp::from_unix_micros(SECOND * 1_000_000 + 500));
        assert!(!cutoff.admits(precise(SECOND * 1_000_000 + 499)));
        assert!(cutoff.admits(precise(SECOND * 1_000_000 + 500)));
        assert!(cutoff.admits(precise(SECOND * 1_000_000 + 501)));
    }

    #[test]
    fn whole_second_iat_in_the_cutoff_second_is_refused() {
        let mid_second = Cutoff::ValidFrom(Timestamp::from_unix_micros(SECOND * 1_000_000 + 1));
        assert!(!mid_second.admits(whole(SECOND)));
        assert!(mid_second.admits(whole(SECOND + 1)));
        let on_the_second = Cutoff::ValidFrom(Timestamp::from_unix_secs(SECOND));
        assert!(!on_the_second.admits(whole(SECOND)));
        assert!(!on_the_second.admits(whole(SECOND - 1)));
        assert!(on_the_second.admits(whole(SECOND + 1)));
    }

    #[test]
    fn the_earlier_of_iat_and_auth_time_is_judged() {
        let cutoff = Cutoff::ValidFrom(Timestamp::from_unix_micros(SECOND * 1_000_000 + 500));
        let fresh_iat = precise(SECOND * 1_000_000 + 900);
        let old_login = precise(SECOND * 1_000_000 + 100);
        assert!(cutoff.admits(TokenInstant::judged(fresh_iat, None)));
        assert!(!cutoff.admits(TokenInstant::judged(fresh_iat, Some(old_login))));
        assert!(!cutoff.admits(TokenInstant::judged(old_login, Some(fresh_iat))));
        let new_login = precise(SECOND * 1_000_000 + 600);
        assert!(cutoff.admits(TokenInstant::judged(fresh_iat, Some(new_login))));
        // A whole-second login in the cutoff's second is refused even with a precise later iat.
        assert!(!cutoff.admits(TokenInstant::judged(fresh_iat, Some(whole(SECOND)))));
        assert_eq!(
            TokenInstant::judged(whole(SECOND), Some(precise(SECOND * 1_000_000))),
            whole(SECOND)
        );
        assert_eq!(
            TokenInstant::judged(precise(SECOND * 1_000_000), Some(whole(SECOND))),
            whole(SECOND)
        );
        // Whichever is judged, it passes only if both instants pass.
        for (iat, login) in [
            (whole(SECOND + 1), precise(SECOND * 1_000_000 + 700)),
            (precise(SECOND * 1_000_000 + 700), whole(SECOND + 1)),
            (whole(SECOND), precise(SECOND * 1_000_000 + 900)),
        ] {
            let judged = TokenInstant::judged(iat, Some(login));
            assert_eq!(
                cutoff.admits(judged),
                cutoff.admits(iat) && cutoff.admits(login),
                "{iat:?} {login:?}"
            );
        }
    }

    proptest::proptest! {
        /// Whichever instant is judged, a token passes only if its `iat` and its `auth_time` both
        /// pass: a refresh can never move a token past a cutoff its login did not pass.
        #[test]
        fn the_judged_instant_passes_only_if_both_pass(
            cutoff_micros in -3_000_000_i64..3_000_000,
            iat_micros in -3_000_000_i64..3_000_000,
            login_micros in -3_000_000_i64..3_000_000,
            iat_whole: bool,
            login_whole: bool,
        ) {
            let date = |micros: i64, whole_seconds: bool| {
                if whole_seconds {
                    TokenInstant::whole_second(micros.div_euclid(1_000_000))
                } else {
                    TokenInstant::precise(Timestamp::from_unix_micros(micros))
                }
            };
            let base = SECOND * 1_000_000;
            let cutoff = Cutoff::ValidFrom(Timestamp::from_unix_micros(base + cutoff_micros));
            let iat = date(base + iat_micros, iat_whole);
            let login = date(base + login_micros, login_whole);
            let judged = TokenInstant::judged(iat, Some(login));
            proptest::prop_assert_eq!(
                cutoff.admits(judged),
                cutoff.admits(iat) && cutoff.admits(login)
            );
            proptest::prop_assert_eq!(TokenInstant::judged(iat, None), iat);
        }
    }

    #[test]
    fn none_admits_and_refused_refuses_everything() {
        for date in [precise(0), whole(0), whole(SECOND), precise(i64::MAX)] {
            assert!(Cutoff::NoCutoff.admits(date));
            assert!(!Cutoff::Refused.admits(date));
        }
    }
}

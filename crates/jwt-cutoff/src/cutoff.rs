//! The answer a cutoff source gives for a subject, and the one rule that compares it with `iat`.

use crate::reject::Reason;
use crate::time::{NumericDate, Timestamp};

/// What a subject's tokens must satisfy, as a [`CutoffSource`](crate::CutoffSource) answers it.
///
/// Cutoffs only move forward. They are ordered `NoCutoff < ValidFrom(earlier) < ValidFrom(later) <
/// Refused`, and wherever several apply (the subject's own, a global one) the greatest wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cutoff {
    /// Every otherwise valid token passes.
    NoCutoff,
    /// Only tokens issued at or after this instant pass ("log out from all devices" sets it to now).
    ValidFrom(Timestamp),
    /// Every token fails: the subject is deleted, disabled, or unknown to an authoritative store.
    Refused,
}

impl Cutoff {
    /// The later of two cutoffs.
    #[must_use]
    pub fn max(self, other: Self) -> Self {
        Ord::max(self, other)
    }

    /// Whether a token issued at `issued_at` passes this cutoff, and if not, why.
    pub(crate) fn check(self, issued_at: NumericDate) -> Result<(), Reason> {
        match self {
            _ if self.admits(issued_at) => Ok(()),
            Self::Refused => Err(Reason::SubjectRefused),
            _ => Err(Reason::Revoked),
        }
    }

    /// Whether a token issued at `issued_at` passes this cutoff.
    ///
    /// A precise `iat` (with a fraction, as this crate's [`TokenIssuer`](crate::TokenIssuer) writes
    /// it) passes when it is at or after the cutoff. A whole-second `iat` only says the token was made
    /// somewhere in that second, so it passes only when that second starts after the cutoff's second:
    /// a third-party token stamped in the same second as a logout is refused, the safe side.
    pub(crate) fn admits(self, issued_at: NumericDate) -> bool {
        match self {
            Self::NoCutoff => true,
            Self::Refused => false,
            Self::ValidFrom(from) if issued_at.whole_seconds => {
                issued_at.at.as_unix_secs() > from.as_unix_secs()
            }
            Self::ValidFrom(from) => issued_at.at >= from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_764_384_000;

    fn precise(micros: i64) -> NumericDate {
        NumericDate {
            at: Timestamp::from_unix_micros(micros),
            whole_seconds: false,
        }
    }

    fn whole(secs: i64) -> NumericDate {
        NumericDate {
            at: Timestamp::from_unix_secs(secs),
            whole_seconds: true,
        }
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
    fn none_admits_and_refused_refuses_everything() {
        for date in [precise(0), whole(0), whole(SECOND), precise(i64::MAX)] {
            assert!(Cutoff::NoCutoff.admits(date));
            assert!(!Cutoff::Refused.admits(date));
        }
    }
}

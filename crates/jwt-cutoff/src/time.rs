//! Instants as microseconds since the Unix epoch, the exact NumericDate parser, and the clock.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MICROS_PER_SEC: i64 = 1_000_000;

/// The latest instant a token may carry: 9999-12-31T23:59:59Z. Larger claims are refused as invalid,
/// which keeps every accepted value far from `i64` overflow once scaled to microseconds.
const MAX_SECONDS: i64 = 253_402_300_799;

/// An instant with microsecond precision, counted from the Unix epoch.
///
/// Cutoffs are stored as `Timestamp`s, and every claim of a verified token is parsed into one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const UNIX_EPOCH: Self = Self(0);

    /// The instant `micros` microseconds after the Unix epoch (before it, when negative).
    #[must_use]
    pub const fn from_unix_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// Microseconds since the Unix epoch.
    #[must_use]
    pub const fn as_unix_micros(self) -> i64 {
        self.0
    }

    /// The instant `secs` whole seconds after the Unix epoch, saturating at the ends of the range.
    #[must_use]
    pub const fn from_unix_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(MICROS_PER_SEC))
    }

    /// Whole seconds since the Unix epoch, rounded down.
    #[must_use]
    pub const fn as_unix_secs(self) -> i64 {
        self.0.div_euclid(MICROS_PER_SEC)
    }

    /// Seconds since the Unix epoch as a float (for display and JSON; comparisons use the integer).
    #[must_use]
    pub fn as_unix_secs_f64(self) -> f64 {
        // Two exact integer conversions, so a JSON round trip of the result keeps the microseconds.
        self.as_unix_secs() as f64 + self.0.rem_euclid(MICROS_PER_SEC) as f64 / 1e6
    }

    /// The instant `time`, saturating at the ends of the range.
    #[must_use]
    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(i64::try_from(after.as_micros()).unwrap_or(i64::MAX)),
            Err(before) => Self(
                i64::try_from(before.duration().as_micros())
                    .map(|micros| -micros)
                    .unwrap_or(i64::MIN),
            ),
        }
    }

    /// This instant as a [`SystemTime`].
    #[must_use]
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_micros(self.0.unsigned_abs());
        if self.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }

    /// A fresh instant from this process's clock, strictly later than every instant it handed out
    /// before.
    ///
    /// The token issuer stamps `iat` with this clock and "log out from all devices" stamps the cutoff
    /// with it, so within one process a token minted before a logout is always strictly earlier than
    /// the cutoff and a token minted after it always strictly later, even inside one microsecond.
    #[must_use]
    pub fn now() -> Self {
        static LAST_HANDED_OUT: AtomicI64 = AtomicI64::new(i64::MIN);
        let wall = Self::from_system_time(SystemTime::now()).0;
        let mut last = LAST_HANDED_OUT.load(Ordering::Relaxed);
        loop {
            let next = wall.max(last.saturating_add(1));
            match LAST_HANDED_OUT.compare_exchange_weak(
                last,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Self(next),
                Err(current) => last = current,
            }
        }
    }

    /// The instant `duration` later, saturating.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration_micros(duration)))
    }

    /// The instant `duration` earlier, saturating.
    #[must_use]
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration_micros(duration)))
    }

    /// The exact decimal NumericDate for this instant: whole seconds, a dot and six digits.
    pub(crate) fn to_numeric_date(self) -> String {
        format!(
            "{}.{:06}",
            self.as_unix_secs(),
            self.0.rem_euclid(MICROS_PER_SEC)
        )
    }
}

fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_numeric_date())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_numeric_date())
    }
}

/// A NumericDate claim (`iat`, `exp`, `nbf`) as the token wrote it.
///
/// `whole_seconds` records that the claim had no fraction: such a claim only says the token was made
/// somewhere in that second, which the cutoff rule has to treat on the safe side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NumericDate {
    pub(crate) at: Timestamp,
    pub(crate) whole_seconds: bool,
}

impl NumericDate {
    /// The JSON text of this NumericDate: whole seconds as an integer, anything else with six
    /// decimals, so that [`parse`](Self::parse) reads back exactly this value.
    pub(crate) fn to_json(self) -> String {
        if self.whole_seconds {
            self.at.as_unix_secs().to_string()
        } else {
            self.at.to_numeric_date()
        }
    }

    /// Parses the raw JSON text of a NumericDate exactly, without going through a float.
    ///
    /// Accepted: a non-negative decimal integer, optionally followed by a fraction, no larger than
    /// [`MAX_SECONDS`]. Refused: signs, exponents, leading zeros, strings, `null`, anything else.
    /// Digits past the sixth decimal are dropped, which rounds down: an earlier `iat` is the safe side.
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let (integer, fraction) = match raw.split_once('.') {
            Some((integer, fraction)) => (integer, Some(fraction)),
            None => (raw, None),
        };
        let integer = integer.as_bytes();
        let canonical = matches!(integer, [b'0'] | [b'1'..=b'9', ..]);
        if !canonical || integer.len() > 12 || !integer.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let seconds = integer
            .iter()
            .fold(0_i64, |acc, digit| acc * 10 + i64::from(digit - b'0'));
        if seconds > MAX_SECONDS {
            return None;
        }
        let micros = match fraction {
            None => 0,
            Some(fraction) => {
                let digits = fraction.as_bytes();
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                digits
                    .iter()
                    .chain(std::iter::repeat(&b'0'))
                    .take(6)
                    .fold(0_i64, |acc, digit| acc * 10 + i64::from(digit - b'0'))
            }
        };
        Some(Self {
            at: Timestamp(seconds * MICROS_PER_SEC + micros),
            whole_seconds: fraction.is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Option<(i64, bool)> {
        NumericDate::parse(raw).map(|date| (date.at.as_unix_micros(), date.whole_seconds))
    }

    #[test]
    fn parses_integers_and_fractions_exactly() {
        assert_eq!(parse("0"), Some((0, true)));
        assert_eq!(parse("1764384000"), Some((1_764_384_000_000_000, true)));
        assert_eq!(
            parse("1764384000.123456"),
            Some((1_764_384_000_123_456, false))
        );
        assert_eq!(parse("1764384000.5"), Some((1_764_384_000_500_000, false)));
        assert_eq!(parse("1764384000.0"), Some((1_764_384_000_000_000, false)));
        // Beyond microseconds: rounded down, never up.
        assert_eq!(
            parse("1764384000.9999999"),
            Some((1_764_384_000_999_999, false))
        );
        assert_eq!(parse("253402300799"), Some((253_402_300_799_000_000, true)));
    }

    #[test]
    fn refuses_everything_else() {
        for raw in [
            "",
            "-1",
            "+1",
            "01",
            "1e3",
            "1E3",
            "1.",
            ".5",
            "1.5e3",
            "1.-5",
            "NaN",
            "Infinity",
            "null",
            "\"1\"",
            "true",
            "1 ",
            " 1",
            "253402300800",
            "1e308",
            "9223372036854775808",
            "99999999999999999999",
            "1..2",
            "1.2.3",
            "0x10",
            "١",
        ] {
            assert_eq!(parse(raw), None, "{raw:?} must be refused");
        }
    }

    #[test]
    fn now_is_strictly_increasing() {
        let mut last = Timestamp::now();
        for _ in 0..10_000 {
            let next = Timestamp::now();
            assert!(next > last);
            last = next;
        }
    }

    #[test]
    fn numeric_date_round_trips() {
        let at = Timestamp::from_unix_micros(1_764_384_000_000_042);
        assert_eq!(at.to_numeric_date(), "1764384000.000042");
        assert_eq!(
            NumericDate::parse(&at.to_numeric_date()).map(|d| d.at),
            Some(at)
        );
        assert_eq!(at.as_unix_secs_f64(), 1_764_384_000.000042);
    }

    #[test]
    fn system_time_round_trips() {
        let at = Timestamp::from_unix_micros(1_764_384_000_123_456);
        assert_eq!(Timestamp::from_system_time(at.to_system_time()), at);
        let before = Timestamp::from_unix_micros(-5);
        assert_eq!(Timestamp::from_system_time(before.to_system_time()), before);
    }
}

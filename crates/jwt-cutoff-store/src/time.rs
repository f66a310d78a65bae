//! Instants as microseconds since the Unix epoch, and the clock.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MICROS_PER_SEC: i64 = 1_000_000;

/// An instant with microsecond precision, counted from the Unix epoch.
///
/// Cutoffs are stored as `Timestamp`s, and every instant a token claims is read into one.
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

    /// Seconds since the Unix epoch with exactly six decimals, as a JWT NumericDate that keeps the
    /// microseconds (and as `Display` shows it).
    #[must_use]
    pub fn to_decimal_seconds(self) -> String {
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
        write!(f, "Timestamp({})", self.to_decimal_seconds())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_decimal_seconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn decimal_seconds_keep_the_microseconds() {
        let at = Timestamp::from_unix_micros(1_764_384_000_000_042);
        assert_eq!(at.to_decimal_seconds(), "1764384000.000042");
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

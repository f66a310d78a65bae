//! NumericDate claims (`iat`, `exp`, `nbf`, `auth_time`): read exactly from the JSON text, and
//! written back so that they read the same.

use jwt_cutoff_store::{Timestamp, TokenInstant};

const MICROS_PER_SEC: i64 = 1_000_000;

/// The latest instant a token may carry: 9999-12-31T23:59:59Z. Larger claims are refused as invalid,
/// which keeps every accepted value far from `i64` overflow once scaled to microseconds.
const MAX_SECONDS: i64 = 253_402_300_799;

/// Parses the raw JSON text of a NumericDate exactly, without going through a float.
///
/// Accepted: a non-negative decimal integer, optionally followed by a fraction, no larger than
/// [`MAX_SECONDS`]. Refused: signs, exponents, leading zeros, strings, `null`, anything else.
/// Digits past the sixth decimal are dropped, which rounds down: an earlier `iat` is the safe side.
pub(crate) fn parse(raw: &str) -> Option<TokenInstant> {
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
    Some(match fraction {
        None => TokenInstant::whole_second(seconds),
        Some(_) => TokenInstant::precise(Timestamp::from_unix_micros(
            seconds * MICROS_PER_SEC + micros,
        )),
    })
}

/// The JSON text of `instant`: whole seconds as an integer, anything else with six decimals, so that
/// [`parse`] reads back exactly this value.
pub(crate) fn to_json(instant: TokenInstant) -> String {
    if instant.is_whole_second() {
        instant.at().as_unix_secs().to_string()
    } else {
        instant.at().to_decimal_seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Option<(i64, bool)> {
        super::parse(raw).map(|date| (date.at().as_unix_micros(), date.is_whole_second()))
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
    fn numeric_dates_round_trip() {
        for instant in [
            TokenInstant::precise(Timestamp::from_unix_micros(1_764_384_000_000_042)),
            TokenInstant::precise(Timestamp::from_unix_secs(1_764_384_000)),
            TokenInstant::whole_second(1_764_384_000),
        ] {
            assert_eq!(super::parse(&to_json(instant)), Some(instant));
        }
        assert_eq!(
            to_json(TokenInstant::precise(Timestamp::from_unix_micros(42))),
            "0.000042"
        );
    }
}

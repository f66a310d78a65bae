//! The `Authorization: Bearer <token>` header (RFC 6750 §2.1), read strictly.

use http::{HeaderMap, header};

use crate::reject::Reason;

/// A bearer token as its header carries it: the header, the scheme and the token's size are
/// checked, the token's characters only by [`text`](Self::text).
#[derive(Clone, Copy)]
pub(crate) struct BearerToken<'a>(&'a [u8]);

impl<'a> BearerToken<'a> {
    /// The token's bytes, unchecked: enough to find it among tokens that passed verification,
    /// which are all token68 (base64url segments and dots), so a match needs no scan.
    pub(crate) const fn as_bytes(self) -> &'a [u8] {
        self.0
    }

    /// The token, if it is token68; [`Reason::MalformedRequest`] if not.
    pub(crate) fn text(self) -> Result<&'a str, Reason> {
        if !is_token68(self.0) {
            return Err(Reason::MalformedRequest);
        }
        // token68 is ASCII, so this never fails; the fallback keeps the function panic-free.
        std::str::from_utf8(self.0).map_err(|_| Reason::MalformedRequest)
    }
}

/// The bearer token of a request, or why there is none.
///
/// - No `Authorization` header, or one with another scheme (Basic, say): [`Reason::MissingToken`].
/// - More than one `Authorization` header, a scheme without a token, or anything but exactly one
///   space between scheme and token: [`Reason::MalformedRequest`], as for a token that is not
///   token68 ([`BearerToken::text`]).
/// - A token longer than `max_token_bytes`: [`Reason::TokenTooLarge`], before it is even scanned.
///
/// The scheme name is case-insensitive.
pub(crate) fn bearer_token(
    headers: &HeaderMap,
    max_token_bytes: usize,
) -> Result<BearerToken<'_>, Reason> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Reason::MissingToken);
    };
    if values.next().is_some() {
        return Err(Reason::MalformedRequest);
    }
    let value = value.as_bytes();
    let scheme_end = value.iter().position(|&b| b == b' ').unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(other_scheme(scheme));
    }
    let Some((&b' ', token)) = rest.split_first() else {
        return Err(Reason::MalformedRequest);
    };
    if token.len() > max_token_bytes {
        return Err(Reason::TokenTooLarge);
    }
    Ok(BearerToken(token))
}

/// Another well-formed scheme (Basic, say) means no bearer token was offered; a value that does not
/// even start with a scheme name is malformed.
fn other_scheme(scheme: &[u8]) -> Reason {
    let is_token = !scheme.is_empty()
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b));
    if is_token {
        Reason::MissingToken
    } else {
        Reason::MalformedRequest
    }
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 9110 §11.2).
fn is_token68(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    let (body, _padding) = token.split_at(body_len);
    // Every request scans its whole token: without branches or early exit, the compiler checks
    // many bytes per instruction.
    !body.is_empty()
        && body
            .iter()
            .fold(true, |all_allowed, &b| all_allowed & is_token68_body(b))
}

/// Whether a token68 body may hold `b`, computed with `|` rather than `||` so that it stays
/// branch-free.
const fn is_token68_body(b: u8) -> bool {
    b.is_ascii_lowercase()
        | b.is_ascii_uppercase()
        | b.is_ascii_digit()
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn parse(values: &[&[u8]]) -> Result<String, Reason> {
        let mut headers = HeaderMap::new();
        for value in values {
            let Ok(value) = HeaderValue::from_bytes(value) else {
                return Err(Reason::MalformedRequest);
            };
            headers.append(header::AUTHORIZATION, value);
        }
        bearer_token(&headers, 64)
            .and_then(BearerToken::text)
            .map(str::to_owned)
    }

    #[test]
    fn accepts_the_scheme_in_any_case() {
        for value in [
            &b"Bearer abc.def.ghi"[..],
            b"bearer abc.def.ghi",
            b"BEARER abc.def.ghi",
            b"bEaReR abc.def.ghi",
        ] {
            assert_eq!(parse(&[value]).as_deref(), Ok("abc.def.ghi"));
        }
        assert_eq!(parse(&[b"Bearer a+/~_-.b=="]).as_deref(), Ok("a+/~_-.b=="));
    }

    #[test]
    fn no_header_or_another_scheme_is_a_missing_token() {
        assert_eq!(parse(&[]), Err(Reason::MissingToken));
        assert_eq!(parse(&[b"Basic dXNlcjpwYXNz"]), Err(Reason::MissingToken));
        assert_eq!(parse(&[b"Bearerx abc"]), Err(Reason::MissingToken));
        assert_eq!(parse(&[b"Bear"]), Err(Reason::MissingToken));
    }

    #[test]
    fn malformed_values_are_bad_requests() {
        for value in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer  abc",
            b"Bearer\tabc",
            b"Bearer \"abc\"",
            b"Bearer abc def",
            b"Bearer abc,def",
            b"Bearer =abc",
            b"Bearer ab=c",
            b"Bearer ==",
            b"Bearer abc\xff",
            b"Bearer abc\x7f",
            b"",
            b"\xc3\xa9 abc",
        ] {
            assert_eq!(parse(&[value]), Err(Reason::MalformedRequest), "{value:?}");
        }
    }

    #[test]
    fn several_headers_are_refused_whatever_they_hold() {
        assert_eq!(
            parse(&[b"Bearer abc", b"Bearer abc"]),
            Err(Reason::MalformedRequest)
        );
        assert_eq!(
            parse(&[b"Basic dXNlcg==", b"Bearer abc"]),
            Err(Reason::MalformedRequest)
        );
    }

    #[test]
    fn oversized_tokens_are_refused_before_scanning() {
        let mut value = b"Bearer ".to_vec();
        value.extend(std::iter::repeat_n(b'a', 65));
        assert_eq!(parse(&[&value]), Err(Reason::TokenTooLarge));
        value.pop();
        assert!(parse(&[&value]).is_ok());
    }
}

//! Signatures, segments, base64 and JSON (SPEC 8): forged and truncated tokens, non-canonical
//! base64, segments that are not JSON or not UTF-8.

use jsonwebtoken::Algorithm as Jwa;
use jwt_cutoff::Reason;
use jwt_cutoff_test_support::*;

use crate::counted;

#[tokio::test]
async fn bad_signatures_are_refused() {
    let (guarded, source, _cutoffs) = counted();
    let issuer = hs_issuer();
    let token = issuer.issue_access("alice", &()).unwrap().token;
    let bob = issuer.issue_access("bob", &()).unwrap().token;
    let (head_payload, signature) = token.rsplit_once('.').unwrap();

    let flip = |s: &str, at: usize| {
        let mut bytes = s.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let bob_payload = bob.split('.').nth(1).unwrap();
    let alice_head = token.split('.').next().unwrap();
    let cases = [
        (
            format!("{head_payload}.{}", flip(signature, 10)),
            "flipped signature char",
        ),
        (
            format!("{head_payload}.{}", flip(signature, 0)),
            "flipped first signature char",
        ),
        (flip(&token, alice_head.len() + 5), "flipped payload char"),
        (
            format!("{alice_head}.{bob_payload}.{signature}"),
            "bob's payload, alice's signature",
        ),
        (forged_token(), "another secret"),
        (
            format!("{head_payload}.{}", &signature[..signature.len() - 4]),
            "short signature",
        ),
        (format!("{head_payload}.{signature}AAAA"), "long signature"),
        (
            format!("{head_payload}.{}", "A".repeat(43)),
            "zero signature",
        ),
        (
            format!("{head_payload}.{}", signature.replace(['-', '_'], "+")),
            "standard alphabet",
        ),
    ];
    for (forged, what) in &cases {
        if forged == &token {
            continue;
        }
        guarded.refuses(forged, Reason::BadSignature, what).await;
    }
    source.assert_no_lookups();
    guarded.accepts(&token, "alice", "control").await;
}

#[tokio::test]
async fn truncated_tokens_and_wrong_segment_counts_are_refused() {
    let (guarded, source, _cutoffs) = counted();
    let token = hs_access("alice");
    let mut parts = token.split('.');
    let (h, p, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let malformed = [
        format!("{h}.{p}"),
        format!("{h}.{p}."),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.."),
        format!("{h}.{h}.{p}.{s}"),
        format!("{h}.{p}.{s}.{h}.{p}"),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
        h.to_owned(),
        ".".to_owned(),
        "..".to_owned(),
        "...".to_owned(),
        format!("{}.{p}.{s}", &h[..h.len() - 3]),
    ];
    for forged in &malformed {
        guarded
            .refuses(forged, Reason::MalformedToken, forged)
            .await;
    }
    // Cut inside the signature: still three segments, but the signature fails.
    for cut in [1, 2, 5, 20] {
        guarded
            .refuses(
                &token[..token.len() - cut],
                Reason::BadSignature,
                &format!("{cut} bytes cut"),
            )
            .await;
    }
    source.assert_no_lookups();
}

/// A JSON text whose base64url encoding contains `-` or `_`, by adding a junk member.
fn with_url_only_chars(object: &str) -> (String, String) {
    for i in 0..1000 {
        let text = format!(
            "{},\"x\":\"{}\"}}",
            &object[..object.len() - 1],
            "~".repeat(i % 7) + &"?".repeat(i / 7)
        );
        let encoded = b64(&text);
        if encoded.contains('-') && encoded.contains('_') {
            return (text, encoded);
        }
    }
    panic!("no encoding with - and _");
}

/// A JSON text whose base64url encoding has unused trailing bits, by adding a junk member.
fn with_trailing_bits(object: &str) -> (String, String) {
    for i in 0..3 {
        let text = format!(
            "{},\"y\":\"{}\"}}",
            &object[..object.len() - 1],
            "z".repeat(i)
        );
        let encoded = b64(&text);
        if dirty_trailing_bits(&encoded).is_some() {
            return (text, encoded);
        }
    }
    panic!("no encoding with trailing bits");
}

#[tokio::test]
async fn non_canonical_base64_is_refused() {
    let (guarded, source, cutoffs) = counted();
    let validator = hs_validator(cutoffs);
    let key = hmac_key(SECRET);
    let body = payload(&[]);

    // '+' and '/' (standard alphabet) in the header or payload, correctly signed over those bytes.
    let (_, head) = with_url_only_chars(HS256_HEADER);
    let standard = head.replace('-', "+").replace('_', "/");
    let token = sign_segments(&standard, &b64(&body), &key, Jwa::HS256);
    guarded
        .refuses(
            &token,
            Reason::MalformedToken,
            "standard alphabet in the header",
        )
        .await;
    let (_, payload_b64) = with_url_only_chars(&body);
    let standard = payload_b64.replace('-', "+").replace('_', "/");
    let token = sign_segments(&b64(HS256_HEADER), &standard, &key, Jwa::HS256);
    guarded
        .refuses(
            &token,
            Reason::MalformedToken,
            "standard alphabet in the payload",
        )
        .await;
    // Control: the url-safe originals are fine.
    let token = sign_segments(&head, &payload_b64, &key, Jwa::HS256);
    guarded.accepts(&token, "alice", "url-safe control").await;

    // Non-zero unused trailing bits: a lenient decoder reads the same JSON.
    let (head_text, head) = with_trailing_bits(HS256_HEADER);
    let dirty_head = dirty_trailing_bits(&head).unwrap();
    assert_eq!(lenient_decode(&dirty_head), head_text.as_bytes());
    let token = sign_segments(&dirty_head, &b64(&body), &key, Jwa::HS256);
    guarded
        .refuses(
            &token,
            Reason::MalformedToken,
            "dirty trailing bits in the header",
        )
        .await;
    let (body_text, body_b64) = with_trailing_bits(&body);
    let dirty_body = dirty_trailing_bits(&body_b64).unwrap();
    assert_eq!(lenient_decode(&dirty_body), body_text.as_bytes());
    let token = sign_segments(&b64(HS256_HEADER), &dirty_body, &key, Jwa::HS256);
    guarded
        .refuses(
            &token,
            Reason::MalformedToken,
            "dirty trailing bits in the payload",
        )
        .await;
    // In the signature: a second spelling of a valid token must not verify.
    let valid = hs_token(&body);
    let (message, signature) = valid.rsplit_once('.').unwrap();
    let dirty_signature = dirty_trailing_bits(signature).unwrap();
    assert_eq!(lenient_decode(&dirty_signature), lenient_decode(signature));
    guarded
        .refuses(
            &format!("{message}.{dirty_signature}"),
            Reason::BadSignature,
            "dirty trailing bits in the signature",
        )
        .await;

    // Padding in the signature (the last segment, so the header is still token68).
    guarded
        .refuses(
            &format!("{valid}="),
            Reason::BadSignature,
            "padded signature",
        )
        .await;
    // Padding inside the token is not token68: a bad request at the layer, malformed standalone.
    let unpadded_head = with_trailing_bits(HS256_HEADER).1;
    let mut padded_head = unpadded_head.clone();
    while !padded_head.len().is_multiple_of(4) {
        padded_head.push('=');
    }
    assert_ne!(padded_head, unpadded_head, "the header needs padding");
    let token = sign_segments(&padded_head, &b64(&body), &key, Jwa::HS256);
    guarded
        .bearer(&token)
        .await
        .assert_invalid_request("padded header segment");
    assert_eq!(
        reason_of(&validator, &token).await,
        Some(Reason::MalformedToken)
    );
    assert_eq!(source.calls(), 1, "only the control was looked up");
}

#[tokio::test]
async fn non_json_segments_are_refused() {
    let (guarded, source, _cutoffs) = counted();
    let key = hmac_key(SECRET);
    let body = payload(&[]);
    let header_cases: &[&[u8]] = &[
        b"not json",
        b"{}",
        b"\"HS256\"",
        b"null",
        b"{\"alg\":\"HS256\"}garbage",
        b"{\"alg\":\"HS256\"}{\"alg\":\"none\"}",
        b"\xef\xbb\xbf{\"alg\":\"HS256\"}",
        b"{\"alg\":\"HS256\",}",
        b"{'alg':'HS256'}",
        b"\xff\xfe{\"alg\":\"HS256\"}",
        b"{\"alg\":\"HS\xff256\"}",
    ];
    for head in header_cases {
        let token = sign_segments(&b64(head), &b64(&body), &key, Jwa::HS256);
        guarded
            .refuses(
                &token,
                Reason::MalformedToken,
                &String::from_utf8_lossy(head),
            )
            .await;
    }
    let payload_cases: &[(&[u8], Reason)] = &[
        (b"not json", Reason::MalformedToken),
        (b"{\"sub\":\"alice\"", Reason::MalformedToken),
        (b"\xff\xfe", Reason::MalformedToken),
        (b"[]", Reason::InvalidClaim),
        (b"[\"alice\",1764384000,9999999999]", Reason::InvalidClaim),
        (b"\"claims\"", Reason::InvalidClaim),
        (b"null", Reason::InvalidClaim),
        (b"42", Reason::InvalidClaim),
    ];
    for (content, reason) in payload_cases {
        let token = sign_segments(&b64(HS256_HEADER), &b64(content), &key, Jwa::HS256);
        guarded
            .refuses(&token, *reason, &String::from_utf8_lossy(content))
            .await;
    }
    // A valid object followed by more text: refused whatever follows.
    for tail in ["garbage", "{\"sub\":\"bob\"}", ",", "]"] {
        let token = hs_token(&format!("{body}{tail}"));
        let reply = guarded.bearer(&token).await;
        reply.assert_invalid_token(Reason::MalformedToken, &format!("payload then {tail:?}"));
    }
    source.assert_no_lookups();
}

/// RFC 7519 §7.2 (steps 5, 10) and RFC 8259 §8.1: header and payload are UTF-8 JSON. Bytes that
/// are not UTF-8, hidden in a member the verifier skips, must not pass.
#[tokio::test]
async fn segments_must_be_valid_utf8_even_in_skipped_members() {
    let (guarded, source, _cutoffs) = counted();
    let key = hmac_key(SECRET);
    let body = payload(&[]);
    let mut raw = body.clone().into_bytes();
    let at = raw.len() - 1;
    raw.splice(at..at, b",\"name\":\"\xc3\x28\"".iter().copied());
    let token = sign_segments(&b64(HS256_HEADER), &b64(&raw), &key, Jwa::HS256);
    guarded
        .refuses(
            &token,
            Reason::MalformedToken,
            "invalid UTF-8 in a payload claim",
        )
        .await;
    let head: &[u8] = b"{\"alg\":\"HS256\",\"x\":\"\xff\"}";
    let token = sign_segments(&b64(head), &b64(&body), &key, Jwa::HS256);
    guarded
        .refuses(
            &token,
            Reason::MalformedToken,
            "invalid UTF-8 in a header member",
        )
        .await;
    source.assert_no_lookups();
}

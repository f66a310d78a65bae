//! The JOSE header itself (SPEC 7): `crit` in any form, and a header that is not a JSON object.

use http::StatusCode;
use jwt_cutoff::Reason;
use jwt_cutoff_test_support::*;

use crate::counted;

#[tokio::test]
async fn crit_header_is_refused() {
    let (guarded, source, _cutoffs) = counted();
    let body = payload(&[]);
    for head in [
        r#"{"alg":"HS256","crit":["exp"]}"#,
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        r#"{"alg":"HS256","crit":[]}"#,
        r#"{"alg":"HS256","crit":"exp"}"#,
        r#"{"alg":"HS256","crit":{}}"#,
        r#"{"alg":"HS256","cr\u0069t":["exp"]}"#,
    ] {
        guarded
            .refuses(&hs(head, &body), Reason::UnsupportedHeader, head)
            .await;
    }
    source.assert_no_lookups();
}

/// RFC 7515 §4.1.11: `crit`, when present, is an array of names. A `null` is present but not an
/// array; a verifier that "understands no extensions" must not read it as absent.
#[tokio::test]
async fn crit_null_is_not_read_as_absent() {
    let (guarded, _source, _cutoffs) = counted();
    let token = hs(r#"{"alg":"HS256","crit":null}"#, &payload(&[]));
    let reply = guarded.bearer(&token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert_eq!(reply.inner_calls, 0);
}

/// RFC 7515 §5.2 (steps 3-4): the JOSE header is a JSON object. A JSON array must not be read
/// positionally as if it were one.
#[tokio::test]
async fn jose_header_must_be_a_json_object() {
    let (guarded, source, _cutoffs) = counted();
    let body = payload(&[]);
    for head in [
        r#"["HS256"]"#,
        r#"["HS256",null,null]"#,
        r#"["HS256","kid"]"#,
    ] {
        let reply = guarded.bearer(&hs(head, &body)).await;
        reply.assert_invalid_token(Reason::MalformedToken, head);
    }
    source.assert_no_lookups();
}

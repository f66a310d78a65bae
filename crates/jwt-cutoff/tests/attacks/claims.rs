//! Claims and NumericDates (SPEC 4, 5): malformed and duplicate claims, `iat` in the future, `exp`
//! and `nbf`, issuer and audience, and custom claims handed to the inner service.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use jwt_cutoff::{CutoffCache, JwtCutoffLayer, MemoryStore, Reason, TokenType, Verified};
use jwt_cutoff_test_support::*;

use crate::{counted, in_memory, refuses_claim_values};
use serde::Deserialize;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::test]
async fn malformed_iat_values_are_refused_without_lookup() {
    let (guarded, source, _cutoffs) = counted();
    let cases: &[(Option<&str>, Reason)] = &[
        (None, Reason::MissingClaim),
        (Some("null"), Reason::InvalidClaim),
        (Some("\"1764384000\""), Reason::InvalidClaim),
        (Some("\"\""), Reason::InvalidClaim),
        (Some("\"NaN\""), Reason::InvalidClaim),
        (Some("\"Infinity\""), Reason::InvalidClaim),
        (Some("\"-Infinity\""), Reason::InvalidClaim),
        (Some("-1"), Reason::InvalidClaim),
        (Some("-0"), Reason::InvalidClaim),
        (Some("-1764384000"), Reason::InvalidClaim),
        (Some("-0.5"), Reason::InvalidClaim),
        (Some("1e308"), Reason::InvalidClaim),
        (Some("1E9"), Reason::InvalidClaim),
        (Some("1.5e9"), Reason::InvalidClaim),
        (Some("1764384000e0"), Reason::InvalidClaim),
        (Some("1764384000.5E-1"), Reason::InvalidClaim),
        (Some("1e400"), Reason::InvalidClaim),
        (Some("99999999999999999999"), Reason::InvalidClaim),
        (Some("9223372036854775807"), Reason::InvalidClaim),
        (Some("9223372036854775808"), Reason::InvalidClaim),
        (Some("18446744073709551616"), Reason::InvalidClaim),
        (Some("253402300800"), Reason::InvalidClaim),
        (Some("true"), Reason::InvalidClaim),
        (Some("[1764384000]"), Reason::InvalidClaim),
        (
            Some("{\"$numberLong\":\"1764384000\"}"),
            Reason::InvalidClaim,
        ),
        // Not JSON at all.
        (Some("NaN"), Reason::MalformedToken),
        (Some("Infinity"), Reason::MalformedToken),
        (Some("+1764384000"), Reason::MalformedToken),
        (Some("01764384000"), Reason::MalformedToken),
        (Some("1764384000."), Reason::MalformedToken),
        (Some(".5"), Reason::MalformedToken),
        (Some("0x6929a000"), Reason::MalformedToken),
        (Some("1764384000,5"), Reason::MalformedToken),
    ];
    refuses_claim_values(&guarded, "iat", cases).await;
    source.assert_no_lookups();
}

#[tokio::test]
async fn duplicate_claims_are_refused_even_when_escaped() {
    let (guarded, source, cutoffs) = counted();
    let cutoff = logged_out_at(&cutoffs, "alice").await.as_unix_micros();
    let lookups_after_logout = source.calls();
    let early = precise(cutoff - 1_000_000);
    let late = precise(cutoff + 1);
    let base = payload(&[("iat", Some(&late))]);
    let open = &base[..base.len() - 1];
    let cases = [
        format!("{open},\"iat\":{early}}}"),
        format!("{open},\"iat\":{late}}}"),
        format!("{open},\"\\u0069at\":{early}}}"),
        format!("{open},\"i\\u0061t\":{early}}}"),
        format!("{open},\"\\u0069\\u0061\\u0074\":{early}}}"),
        format!("{{\"iat\":{early},{}", &base[1..]),
        format!("{open},\"exp\":1}}"),
        format!("{open},\"\\u0065xp\":1}}"),
        format!("{open},\"nbf\":1,\"nbf\":1}}"),
        format!("{open},\"sub\":\"bob\"}}"),
        format!("{open},\"\\u0073ub\":\"bob\"}}"),
        format!("{open},\"token_use\":\"access\"}}"),
    ];
    for body in &cases {
        guarded
            .refuses(&hs_token(body), Reason::InvalidClaim, body)
            .await;
    }
    assert_eq!(
        source.calls(),
        lookups_after_logout,
        "{:?}",
        source.lookups()
    );
    // Control: the base payload itself passes.
    guarded
        .accepts(&hs_token(&base), "alice", "no duplicate")
        .await;
}

#[tokio::test]
async fn iat_beyond_the_leeway_in_the_future_is_refused() {
    let (guarded, cutoffs) = in_memory();
    let now = now_micros();
    let far = [
        precise(now + 3_600_000_000),
        (now_secs() + 3600).to_string(),
        (now_secs() + 120).to_string(),
        "253402300799".to_owned(),
    ];
    for iat in &far {
        let token = hs_token(&payload(&[("iat", Some(iat))]));
        guarded.refuses(&token, Reason::IssuedInFuture, iat).await;
    }
    let near = precise(now + 10_000_000);
    guarded
        .accepts(
            &hs_token(&payload(&[("iat", Some(&near))])),
            "alice",
            "iat 10 s ahead, within the 30 s leeway",
        )
        .await;

    // A far-future token does not survive a logout either.
    cutoffs.logout_all("alice").await.unwrap();
    let token = hs_token(&payload(&[("iat", Some(&far[0]))]));
    guarded
        .refuses(&token, Reason::IssuedInFuture, "after logout")
        .await;

    // No leeway: a few seconds ahead is already too far.
    let strict = hs_builder()
        .leeway(Duration::ZERO)
        .build(CutoffCache::new(MemoryStore::new()))
        .unwrap();
    let ahead = precise(now_micros() + 5_000_000);
    let token = hs_token(&payload(&[("iat", Some(&ahead))]));
    assert_eq!(
        reason_of(&strict, &token).await,
        Some(Reason::IssuedInFuture)
    );
}

#[tokio::test]
async fn exp_and_nbf_are_enforced() {
    let (guarded, source, _cutoffs) = counted();
    let now = now_secs();
    let past = (now - 3600).to_string();
    let just_past = (now - 10).to_string();
    let beyond_leeway = (now - 60).to_string();
    let future = (now + 3600).to_string();
    let near_future = (now + 10).to_string();
    let fractional = format!("{}.5", now + 300);
    let refused: &[(&str, Option<&str>, Reason)] = &[
        ("exp", None, Reason::MissingClaim),
        ("exp", Some(&past), Reason::Expired),
        ("exp", Some(&beyond_leeway), Reason::Expired),
        ("exp", Some("0"), Reason::Expired),
        ("exp", Some("null"), Reason::InvalidClaim),
        ("exp", Some("\"9999999999\""), Reason::InvalidClaim),
        ("exp", Some("1e10"), Reason::InvalidClaim),
        ("exp", Some("-1"), Reason::InvalidClaim),
        ("exp", Some("99999999999999999999"), Reason::InvalidClaim),
        ("nbf", Some(&future), Reason::NotYetValid),
        ("nbf", Some("\"0\""), Reason::InvalidClaim),
        ("nbf", Some("null"), Reason::InvalidClaim),
        ("nbf", Some("1e3"), Reason::InvalidClaim),
    ];
    for (claim, value, reason) in refused {
        let token = hs_token(&payload(&[(claim, *value)]));
        guarded
            .refuses(&token, *reason, &format!("{claim} {value:?}"))
            .await;
    }
    source.assert_no_lookups();

    for (claim, value) in [
        ("exp", &just_past),
        ("exp", &fractional),
        ("nbf", &near_future),
        ("nbf", &past),
    ] {
        let token = hs_token(&payload(&[(claim, Some(value))]));
        guarded
            .accepts(&token, "alice", &format!("{claim} {value}"))
            .await;
    }
}

#[tokio::test]
async fn issuer_and_audience_are_required_and_checked() {
    let source = TestSource::new(MemoryStore::new());
    let validator = hs_builder()
        .issuer("https://issuer.example")
        .audience("api")
        .audience("admin")
        .build(CutoffCache::new(Arc::clone(&source)))
        .unwrap();
    let guarded = Guarded::new(validator);
    let iss = Some("\"https://issuer.example\"");
    let aud = Some("\"api\"");

    let issued = hs_issuer_builder()
        .issuer("https://issuer.example")
        .audience("admin")
        .build()
        .unwrap()
        .issue_access("alice", &())
        .unwrap()
        .token;
    guarded.accepts(&issued, "alice", "issuer token").await;

    let accepted: &[Overrides<'_>] = &[
        &[("iss", iss), ("aud", aud)],
        &[("iss", Some(r#""https:\/\/issuer.example""#)), ("aud", aud)],
        &[("iss", iss), ("aud", Some(r#"["web","api"]"#))],
        &[("iss", iss), ("aud", Some(r#"["admin"]"#))],
    ];
    for overrides in accepted {
        guarded
            .accepts(
                &hs_token(&payload(overrides)),
                "alice",
                &format!("{overrides:?}"),
            )
            .await;
    }
    let lookups = source.calls();

    let refused: &[(Overrides<'_>, Reason)] = &[
        (&[("aud", aud)], Reason::MissingClaim),
        (
            &[("iss", Some("\"https://evil.example\"")), ("aud", aud)],
            Reason::WrongIssuer,
        ),
        (
            &[("iss", Some("\"https://issuer.example/\"")), ("aud", aud)],
            Reason::WrongIssuer,
        ),
        (
            &[("iss", Some("\"HTTPS://ISSUER.EXAMPLE\"")), ("aud", aud)],
            Reason::WrongIssuer,
        ),
        (&[("iss", Some("\"\"")), ("aud", aud)], Reason::WrongIssuer),
        (&[("iss", Some("1")), ("aud", aud)], Reason::InvalidClaim),
        (&[("iss", Some("null")), ("aud", aud)], Reason::InvalidClaim),
        (
            &[("iss", Some("[\"https://issuer.example\"]")), ("aud", aud)],
            Reason::InvalidClaim,
        ),
        (&[("iss", iss)], Reason::MissingClaim),
        (
            &[("iss", iss), ("aud", Some("\"web\""))],
            Reason::WrongAudience,
        ),
        (
            &[("iss", iss), ("aud", Some("\"API\""))],
            Reason::WrongAudience,
        ),
        (
            &[("iss", iss), ("aud", Some("\"api \""))],
            Reason::WrongAudience,
        ),
        (&[("iss", iss), ("aud", Some("[]"))], Reason::WrongAudience),
        (
            &[("iss", iss), ("aud", Some("[\"web\",\"mobile\"]"))],
            Reason::WrongAudience,
        ),
        (
            &[("iss", iss), ("aud", Some("\"api,admin\""))],
            Reason::WrongAudience,
        ),
        (&[("iss", iss), ("aud", Some("[1]"))], Reason::InvalidClaim),
        (
            &[("iss", iss), ("aud", Some("[\"api\",1]"))],
            Reason::InvalidClaim,
        ),
        (
            &[("iss", iss), ("aud", Some("[[\"api\"]]"))],
            Reason::InvalidClaim,
        ),
        (&[("iss", iss), ("aud", Some("null"))], Reason::InvalidClaim),
        (
            &[("iss", iss), ("aud", Some("{\"api\":true}"))],
            Reason::InvalidClaim,
        ),
    ];
    for (overrides, reason) in refused {
        guarded
            .refuses(
                &hs_token(&payload(overrides)),
                *reason,
                &format!("{overrides:?}"),
            )
            .await;
    }
    assert_eq!(source.calls(), lookups, "no lookup for refused tokens");
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct MyClaims {
    username: String,
    roles: Vec<String>,
}

#[tokio::test]
async fn verified_custom_claims_reach_the_inner_service() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = hs_validator(cutoffs.clone()).with_claims::<MyClaims>();
    let seen: Arc<Mutex<Vec<Verified<MyClaims>>>> = Arc::default();
    let record = Arc::clone(&seen);
    let service = ServiceBuilder::new()
        .layer(JwtCutoffLayer::new(validator))
        .service_fn(move |request: Request<String>| {
            let record = Arc::clone(&record);
            async move {
                let verified = request.extensions().get::<Verified<MyClaims>>().cloned();
                assert!(request.extensions().get::<Verified>().is_none());
                let status = match verified {
                    Some(verified) => {
                        record.lock().unwrap().push(verified);
                        StatusCode::OK
                    }
                    None => StatusCode::IM_A_TEAPOT,
                };
                let mut response = Response::new(String::new());
                *response.status_mut() = status;
                Ok::<_, Infallible>(response)
            }
        });
    let send = |token: String| {
        let service = service.clone();
        async move {
            let request = Request::get("/")
                .header("authorization", format!("Bearer {token}"))
                .body(String::new())
                .unwrap();
            service.oneshot(request).await.unwrap()
        }
    };

    let issued = hs_issuer()
        .issue_access(
            "alice",
            &serde_json::json!({ "username": "Alice A.", "roles": ["admin", "ops"] }),
        )
        .unwrap();
    assert_eq!(send(issued.token.clone()).await.status(), StatusCode::OK);
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let verified = &seen[0];
        assert_eq!(verified.subject(), "alice");
        assert_eq!(verified.issued_at(), issued.issued_at);
        assert_eq!(verified.expires_at(), issued.expires_at);
        assert_eq!(verified.token_type(), Some(TokenType::Access));
        assert_eq!(
            verified.claims(),
            &MyClaims {
                username: "Alice A.".to_owned(),
                roles: vec!["admin".to_owned(), "ops".to_owned()],
            }
        );
    }

    // Claims that do not fit the application's type are refused before the inner service.
    let missing = hs_token(&payload(&[("username", Some("\"x\""))]));
    let response = send(missing).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let wrong = hs_token(&payload(&[("username", Some("1")), ("roles", Some("[]"))]));
    assert_eq!(send(wrong).await.status(), StatusCode::UNAUTHORIZED);
    let doubled = payload(&[("username", Some("\"a\"")), ("roles", Some("[]"))]);
    let doubled = format!("{},\"username\":\"b\"}}", &doubled[..doubled.len() - 1]);
    assert_eq!(
        send(hs_token(&doubled)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Revoked: never reaches the inner service.
    cutoffs.logout_all("alice").await.unwrap();
    assert_eq!(send(issued.token).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

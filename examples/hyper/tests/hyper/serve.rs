//! A `service_fn` handler behind `guard`, served by hyper-util's auto builder over a real socket:
//! tokens accepted and revoked, HTTP/1 and HTTP/2 on one port, and the SPEC's header cases as hyper
//! hands them over.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body::Frame;
use http_body_util::{Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::service::TowerToHyperService;
use jwt_cutoff::{CutoffCache, MemoryStore, Verified};
use jwt_cutoff_test_support::client::{clients, fetch, get, http1_client, raw, raw_status, send};
use jwt_cutoff_test_support::{TestSource, hs_access};
use tower::ServiceBuilder;

use crate::{DRAIN, Running, Server, layer};

#[tokio::test]
async fn a_valid_token_reaches_the_handler_with_its_claims_over_both_protocols() {
    let server = Server::start(MemoryStore::new()).await;
    let token = server.token("alice");
    for (name, client, version) in clients() {
        let bearer = format!("Bearer {token}");
        let answer = fetch(&client, &server.url("/me"), &[&bearer]).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}");
        assert_eq!(answer.version, version, "{name}");
        assert_eq!(
            answer.body, "alice",
            "{name}: the handler saw the verified subject"
        );
    }
}

#[tokio::test]
async fn logout_all_revokes_the_token_on_both_protocols() {
    let server = Server::start(MemoryStore::new()).await;
    let token = server.token("alice");
    let bearer = format!("Bearer {token}");
    for (name, client, _) in clients() {
        let answer = fetch(&client, &server.url("/me"), &[&bearer]).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}");
    }

    server.cutoffs.logout_all("alice").await.unwrap();

    for (name, client, _) in clients() {
        let answer = fetch(&client, &server.url("/me"), &[&bearer]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{name}");
        let challenge = answer.header("www-authenticate").unwrap();
        assert!(challenge.starts_with("Bearer "), "{name}: {challenge}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{name}: {challenge}"
        );
        assert!(
            !answer.body.contains(&token),
            "{name}: the token is never echoed"
        );
    }
    // A token minted after the logout works.
    let fresh = server.bearer("alice");
    let answer = fetch(&http1_client(), &server.url("/me"), &[&fresh]).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn no_authorization_header_is_401_with_a_bare_bearer_challenge() {
    let server = Server::start(MemoryStore::new()).await;
    for (name, client, _) in clients() {
        let answer = fetch(&client, &server.url("/me"), &[]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{name}");
        assert_eq!(answer.body, "", "{name}");
    }
}

#[tokio::test]
async fn the_scheme_is_case_insensitive() {
    let server = Server::start(MemoryStore::new()).await;
    let token = server.token("alice");
    for (name, client, _) in clients() {
        for scheme in ["bearer", "BEARER", "Bearer", "bEaReR"] {
            let value = format!("{scheme} {token}");
            let answer = fetch(&client, &server.url("/me"), &[&value]).await;
            assert_eq!(
                answer.outcome(),
                (StatusCode::OK, "alice"),
                "{name} {scheme}"
            );
        }
    }
}

#[tokio::test]
async fn two_authorization_headers_are_400_invalid_request() {
    let server = Server::start(MemoryStore::new()).await;
    let bearer = server.bearer("alice");
    for (name, client, _) in clients() {
        for pair in [[&*bearer, &*bearer], ["Basic YWxpY2U6cHc=", &*bearer]] {
            let answer = fetch(&client, &server.url("/me"), &pair).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{name} {:?}",
                pair[0]
            );
            let challenge = answer.header("www-authenticate").unwrap();
            assert!(
                challenge.contains(r#"error="invalid_request""#),
                "{name}: {challenge}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_bearer_values_are_refused() {
    let server = Server::start(MemoryStore::new()).await;
    let token = server.token("alice");
    let cases = [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Bearer  {token}"),
        format!("Bearer\t{token}"),
        format!("Bearer \"{token}\""),
        format!("Bearer {token} {token}"),
    ];
    for (name, client, _) in clients() {
        for value in &cases {
            let answer = fetch(&client, &server.url("/me"), &[value]).await;
            assert!(
                matches!(
                    answer.status,
                    StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
                ),
                "{name} {value:?}: {}",
                answer.status
            );
            assert_ne!(answer.body, "alice", "{name} {value:?}");
        }
    }
}

#[tokio::test]
async fn non_utf8_and_control_bytes_are_refused_and_the_server_keeps_serving() {
    let server = Server::start(MemoryStore::new()).await;
    let token = server.token("alice");
    let cases: Vec<Vec<u8>> = vec![
        // obs-text: hyper hands these bytes over, the layer must refuse them.
        b"Bearer \xff\xfe\xfd".to_vec(),
        [format!("Bearer {token}").as_bytes(), b"\xc3\xa9"].concat(),
        [b"Bearer \xe2\x80\x8b".as_slice(), token.as_bytes()].concat(),
        b"\xffBearer abc.def.ghi".to_vec(),
        // Control bytes: hyper's parser may refuse them first; either way, no pass.
        [b"Bearer \x01".as_slice(), token.as_bytes()].concat(),
        [format!("Bearer {token}").as_bytes(), b"\x7f"].concat(),
        [b"Bearer ".as_slice(), token.as_bytes(), b"\x00"].concat(),
    ];
    for value in &cases {
        let request = [
            b"GET /me HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: ".as_slice(),
            value,
            b"\r\n\r\n",
        ]
        .concat();
        let answer = raw(server.addr, &request).await.expect("an answer");
        let status = raw_status(&answer);
        assert!(
            status == 400 || status == 401,
            "{:?}: {status}",
            String::from_utf8_lossy(value)
        );
        assert!(!String::from_utf8_lossy(&answer).contains("alice"));
    }

    let request = format!(
        "GET /me HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: bearer {token}\r\n\r\n"
    );
    let answer = raw(server.addr, request.as_bytes())
        .await
        .expect("an answer");
    assert_eq!(raw_status(&answer), 200);
    assert!(String::from_utf8_lossy(&answer).ends_with("alice"));
}

#[tokio::test]
async fn oversized_tokens_are_refused_and_the_server_keeps_serving() {
    let server = Server::start(MemoryStore::new()).await;
    let valid = server.bearer("alice");
    for (name, client, version) in clients() {
        // Just over the core's 8 KiB cap: the layer refuses it, 401 invalid_token.
        let just_over = format!("Bearer {}", "a".repeat(8 * 1024 + 1));
        let answer = fetch(&client, &server.url("/me"), &[&just_over]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{name}");
        assert!(
            answer
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token"),
            "{name}"
        );

        // 64 KiB and 1 MiB: refused, by the layer or by hyper's own header limits first: 431, or
        // for HTTP/2 header lists far beyond its 16 KiB limit a GOAWAY on the connection.
        for size in [64 * 1024, 1024 * 1024] {
            let huge = format!("Bearer {}", "a".repeat(size));
            match send(&client, get(&server.url("/me"), &[&huge])).await {
                Ok(answer) => assert!(
                    answer.status.is_client_error(),
                    "{name} {size}: {}",
                    answer.status
                ),
                Err(error) => assert!(
                    version == Version::HTTP_2 || size > 64 * 1024,
                    "{name} {size}: {error:?}"
                ),
            }
        }

        let answer = fetch(&client, &server.url("/me"), &[&valid]).await;
        let still_serving = answer.outcome();
        assert_eq!(still_serving, (StatusCode::OK, "alice"), "{name}");
    }
}

#[tokio::test]
async fn a_failing_store_gives_503_with_retry_after() {
    let server = Server::start(TestSource::failing()).await;
    let bearer = server.bearer("alice");
    for (name, client, _) in clients() {
        let answer = fetch(&client, &server.url("/me"), &[&bearer]).await;
        assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{name}");
        assert!(answer.header("retry-after").is_some(), "{name}");
        assert_ne!(answer.body, "alice", "{name}");
    }
}

#[tokio::test]
async fn a_handler_with_a_streaming_body_is_guarded_without_glue() {
    // `StreamBody` has no `Default`: refusals still get a body, the empty `ResponseBody`.
    let handler = service_fn(|request: Request<Incoming>| async move {
        let chunks: Vec<Result<Frame<Bytes>, Infallible>> = match request.uri().path() {
            "/stream" => vec![
                Ok(Frame::data(Bytes::from("one "))),
                Ok(Frame::data(Bytes::from("two"))),
            ],
            _ => vec![Ok(Frame::data(Bytes::from("full")))],
        };
        Ok::<_, Infallible>(Response::new(StreamBody::new(futures_util::stream::iter(
            chunks,
        ))))
    });
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let running = Running::start(jwt_cutoff_hyper::guard(layer(cutoffs), handler), DRAIN);
    let addr = running.addr;

    let bearer = format!("Bearer {}", hs_access("alice"));
    for (name, client, _) in clients() {
        let streamed = fetch(&client, &format!("http://{addr}/stream"), &[&bearer]).await;
        assert_eq!(streamed.outcome(), (StatusCode::OK, "one two"), "{name}");
        let refused = fetch(&client, &format!("http://{addr}/stream"), &[]).await;
        assert_eq!(refused.outcome(), (StatusCode::UNAUTHORIZED, ""), "{name}");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"), "{name}");
    }
}

#[tokio::test]
async fn a_tower_service_needs_only_hyper_utils_adapter() {
    // The other path the crate docs name: a tower stack, no `Handler`, a body with `Default`.
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let service = ServiceBuilder::new().layer(layer(cutoffs)).service_fn(
        |request: Request<Incoming>| async move {
            let subject = request
                .extensions()
                .get::<Verified>()
                .map(Verified::subject);
            let body = Full::new(Bytes::from(subject.unwrap_or_default().to_owned()));
            Ok::<_, Infallible>(Response::new(body))
        },
    );
    let running = Running::start(TowerToHyperService::new(service), DRAIN);

    let bearer = format!("Bearer {}", hs_access("alice"));
    let url = format!("http://{}/", running.addr);
    for (name, client, _) in clients() {
        let answer = fetch(&client, &url, &[&bearer]).await;
        assert_eq!(answer.outcome(), (StatusCode::OK, "alice"), "{name}");
        let refused = fetch(&client, &url, &[]).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{name}");
    }
}

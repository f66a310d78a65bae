//! The real binary on free ports with SQLite: the whole flow over HTTP and gRPC, a restart on the
//! same file, bad flags, and malformed requests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::{Method, StatusCode};
use support::{Demo, Pair, assert_refused, pb, sqlite_url, who_am_i, with_token};
use tonic::Code;

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Every way a token can be refused, over both protocols.
async fn assert_session_refused(demo: &Demo, pair: &Pair) {
    let me = demo.http.me(&pair.access).await;
    assert_refused(&me, StatusCode::UNAUTHORIZED, "invalid_token");
    let challenge = me.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_refused(
        &demo.http.refresh(&pair.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    let status = who_am_i(demo, &pair.access).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}

#[tokio::test]
async fn whole_flow_over_http_and_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(
        dir.path(),
        &["--database", &sqlite_url(dir.path(), "demo.db")],
        &[],
    )
    .await;
    let http = &demo.http;

    // Sign up: 201 with the id; the name is then taken; bad names and passwords are 400.
    let signup = http.signup("alice", "wonderland").await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.text);
    assert_eq!(signup.json["username"], "alice");
    let id = signup.json["id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());
    assert_refused(
        &http.signup("alice", "another password").await,
        StatusCode::CONFLICT,
        "username_taken",
    );
    for (username, password) in [
        ("al", "long enough"),
        ("with space", "long enough"),
        ("bob", "short"),
    ] {
        let answer = http.signup(username, password).await;
        assert_refused(&answer, StatusCode::BAD_REQUEST, "invalid_request");
    }

    // Bad credentials: the same 401 for an unknown user and a wrong password.
    let unknown = http.login("nobody", "wonderland").await;
    let wrong = http.login("alice", "not the password").await;
    assert_refused(&unknown, StatusCode::UNAUTHORIZED, "invalid_grant");
    assert_eq!(unknown.text, wrong.text);
    assert_eq!(unknown.status, wrong.status);

    // Two devices log in.
    let login = http.login("alice", "wonderland").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    assert_eq!(login.json["token_type"], "Bearer");
    let expires_in = login.json["expires_in"].as_u64().unwrap();
    assert!((290..=300).contains(&expires_in), "{expires_in}");
    let phone = Pair::from_json(&login.json);
    let phone_session = login.json["session_id"].as_str().unwrap().to_owned();
    let laptop_login = http.login("alice", "wonderland").await;
    assert_eq!(laptop_login.status, StatusCode::OK, "{}", laptop_login.text);
    let laptop = Pair::from_json(&laptop_login.json);
    let laptop_session = laptop_login.json["session_id"].as_str().unwrap();
    assert_eq!(
        phone_session.len(),
        22,
        "128 bits, base64url: {phone_session}"
    );
    assert_ne!(phone_session, laptop_session, "one session per login");

    // Who am I, over HTTP and gRPC.
    let me = http.me(&phone.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json["sub"], id.as_str());
    assert_eq!(me.json["username"], "alice");
    let iat = me.json["iat"].as_f64().unwrap();
    let exp = me.json["exp"].as_i64().unwrap();
    assert!((iat - now_secs()).abs() < 60.0, "{iat}");
    assert!(exp > iat as i64, "{exp}");
    let whoami = who_am_i(&demo, &laptop.access).await.unwrap();
    assert_eq!(whoami.sub, id);
    assert_eq!(whoami.username, "alice");
    assert!(whoami.exp > whoami.iat as i64);

    // Refresh: a new working pair; an access token is no refresh token.
    let refreshed = http.refresh(&laptop.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(refreshed.json["token_type"], "Bearer");
    let laptop2 = Pair::from_json(&refreshed.json);
    assert_eq!(
        refreshed.json["session_id"], laptop_session,
        "a refresh keeps the session"
    );
    assert_eq!(http.me(&laptop2.access).await.status, StatusCode::OK);
    assert_refused(
        &http.refresh(&laptop.access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );

    // Requests without a token or with a malformed header, per RFC 6750.
    let missing = http.get("/api/me", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    assert!(missing.json["error"].is_string(), "{}", missing.text);
    let malformed = http.get("/api/me", Some("two tokens")).await;
    assert_refused(&malformed, StatusCode::BAD_REQUEST, "invalid_request");
    let status = demo
        .grpc()
        .await
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // The phone logs out from all devices over HTTP: every earlier token is refused, on HTTP and
    // gRPC, access and refresh alike.
    assert_eq!(
        http.logout_all(&phone.access).await.status,
        StatusCode::NO_CONTENT
    );
    for pair in [&phone, &laptop, &laptop2] {
        assert_session_refused(&demo, pair).await;
    }

    // Logging in right after works (the cutoff has microseconds; see also the same-second test).
    let again = http.pair("alice", "wonderland").await;
    assert_eq!(http.me(&again.access).await.status, StatusCode::OK);
    assert_eq!(who_am_i(&demo, &again.access).await.unwrap().sub, id);

    // Logout over gRPC is refused over HTTP at once.
    demo.grpc()
        .await
        .logout_all(with_token(pb::LogoutAllRequest {}, &again.access))
        .await
        .unwrap();
    assert_session_refused(&demo, &again).await;

    // Delete: the user is gone and every token of theirs refused; the name is free again, and the
    // new account (a new id) is not refused.
    let doomed = http.pair("alice", "wonderland").await;
    let other_device = http.pair("alice", "wonderland").await;
    let deleted = http
        .send(Method::DELETE, "/api/me", Some(&doomed.access), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_session_refused(&demo, &doomed).await;
    assert_session_refused(&demo, &other_device).await;
    assert_refused(
        &http.login("alice", "wonderland").await,
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
    );
    let reborn = http.signup("alice", "wonderland").await;
    assert_eq!(reborn.status, StatusCode::CREATED);
    assert_ne!(reborn.json["id"], id.as_str());
    let fresh = http.pair("alice", "wonderland").await;
    assert_eq!(http.me(&fresh.access).await.status, StatusCode::OK);

    // Health and the page need no token.
    assert_eq!(http.get("/healthz", None).await.status, StatusCode::OK);
    let page = http.get("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text.contains(">Logout from all devices</button>"));
    assert_refused(
        &http.get("/nowhere", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    assert_eq!(demo.terminate().await, Some(0), "graceful shutdown exits 0");
}

/// A login in the same second as a logout-all, after it, is accepted.
#[tokio::test]
async fn login_in_the_same_second_as_logout_all_works() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), &["--database", "sqlite::memory:"], &[]).await;
    let http = &demo.http;
    assert_eq!(
        http.signup("carol", "password1").await.status,
        StatusCode::CREATED
    );
    let mut same_second = false;
    for _ in 0..3 {
        let old = http.pair("carol", "password1").await;
        // Start at the top of a second, so the logout and the login below likely share it.
        let fraction = now_secs().fract();
        tokio::time::sleep(Duration::from_secs_f64(1.0 - fraction + 0.005)).await;
        let logout_started = now_secs();
        assert_eq!(
            http.logout_all(&old.access).await.status,
            StatusCode::NO_CONTENT
        );
        let new = http.pair("carol", "password1").await;
        // Refused before, accepted after, whatever the seconds.
        assert_eq!(http.me(&old.access).await.status, StatusCode::UNAUTHORIZED);
        let me = http.me(&new.access).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text);
        assert!(who_am_i(&demo, &new.access).await.is_ok());
        let iat = me.json["iat"].as_f64().unwrap();
        if iat.floor() == logout_started.floor() {
            same_second = true;
            break;
        }
    }
    println!("logout-all and the next login fell in the same second: {same_second}");
}

/// A restart on the same SQLite file keeps users, cutoffs, secrets and so sessions.
#[tokio::test]
async fn restart_keeps_users_cutoffs_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path(), "demo.db");
    let args = ["--database", database.as_str()];

    let first = Demo::start(dir.path(), &args, &[]).await;
    assert_eq!(
        first.http.signup("dave", "password1").await.status,
        StatusCode::CREATED
    );
    let revoked = first.http.pair("dave", "password1").await;
    assert_eq!(
        first.http.logout_all(&revoked.access).await.status,
        StatusCode::NO_CONTENT
    );
    let kept = first.http.pair("dave", "password1").await;
    assert_eq!(first.terminate().await, Some(0));

    let second = Demo::start(dir.path(), &args, &[]).await;
    // The session from before the restart still works: the secrets were kept.
    let me = second.http.me(&kept.access).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json["username"], "dave");
    assert_eq!(
        second.http.refresh(&kept.refresh).await.status,
        StatusCode::OK
    );
    assert!(who_am_i(&second, &kept.access).await.is_ok());
    // The cutoff was kept.
    assert_session_refused(&second, &revoked).await;
    // The user was kept.
    assert_eq!(
        second.http.signup("dave", "password1").await.status,
        StatusCode::CONFLICT
    );
    second.http.pair("dave", "password1").await;
    assert_eq!(second.terminate().await, Some(0));
}

/// Secrets from the environment are used, so tokens verify under another database too (where
/// their user is unknown, and so refused for that reason, not for their signature).
#[tokio::test]
async fn secrets_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "JWT_CUTOFF_DEMO_ACCESS_SECRET",
            "an access secret of at least 32 bytes",
        ),
        (
            "JWT_CUTOFF_DEMO_REFRESH_SECRET",
            "a refresh secret of at least 32 bytes",
        ),
        ("JWT_CUTOFF_DEMO_DATABASE", "sqlite::memory:"),
        ("JWT_CUTOFF_DEMO_ACCESS_TTL", "1m"),
    ];
    let first = Demo::start(dir.path(), &[], &env).await;
    assert_eq!(
        first.http.signup("erin", "password1").await.status,
        StatusCode::CREATED
    );
    let login = first.http.login("erin", "password1").await;
    // `exp` is whole seconds and `iat` has microseconds, so a minute shows as 59 or 60 seconds.
    let expires_in = login.json["expires_in"].as_u64().unwrap();
    assert!((59..=60).contains(&expires_in), "{}", login.text);
    let pair = Pair::from_json(&login.json);
    let second = Demo::start(dir.path(), &[], &env).await;
    // A fresh in-memory database, but the same secrets: the signature verifies there too, and
    // the token is refused only because erin is no user of that database.
    let me = second.http.me(&pair.access).await;
    assert_refused(&me, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        me.json["error_description"], "the token subject is not allowed",
        "{}",
        me.text
    );
    let tampered = format!("{}x", pair.access);
    let me = second.http.me(&tampered).await;
    assert_eq!(
        me.json["error_description"], "the token signature is invalid",
        "{}",
        me.text
    );
}

/// Malformed JSON and missing fields are 400 or 422 with a JSON error, never 500.
#[tokio::test]
async fn malformed_requests_are_client_errors() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), &["--database", "sqlite::memory:"], &[]).await;
    let bodies = [
        "",
        "{",
        "not json",
        "null",
        "[]",
        "{}",
        r#"{"username": 1, "password": 2}"#,
        r#"{"username": "frank"}"#,
        r#"{"refresh_token": null}"#,
        "\u{0}\u{1}",
    ];
    for path in ["/auth/signup", "/auth/login", "/auth/refresh"] {
        for body in bodies {
            let answer = demo.http.send(Method::POST, path, None, Some(body)).await;
            assert!(
                answer.status == StatusCode::BAD_REQUEST
                    || answer.status == StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {body:?}: {} {}",
                answer.status,
                answer.text
            );
            assert_eq!(answer.json["error"], "invalid_request", "{}", answer.text);
        }
    }
    let refresh = demo.http.refresh("not.a.token").await;
    assert_refused(&refresh, StatusCode::UNAUTHORIZED, "invalid_token");
    let wrong_method = demo.http.get("/auth/login", None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Health answers without a token; reflection (the whole schema) needs one, as grpcurl sends with
/// `-H "authorization: Bearer $ACCESS"`.
#[tokio::test]
async fn health_is_open_and_reflection_needs_a_token() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), &["--database", "sqlite::memory:"], &[]).await;
    let health = HealthClient::new(demo.channel().await)
        .check(tonic_health::pb::HealthCheckRequest {
            service: "jwtcutoff.demo.v1.Account".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let list_services = || {
        tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }])
    };
    let mut reflection = ServerReflectionClient::new(demo.channel().await);

    let status = reflection
        .server_reflection_info(list_services())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    assert_eq!(
        demo.http.signup("grace", "password1").await.status,
        StatusCode::CREATED
    );
    let pair = demo.http.pair("grace", "password1").await;
    let mut responses = reflection
        .server_reflection_info(with_token(list_services(), &pair.access))
        .await
        .unwrap()
        .into_inner();
    let response: ServerReflectionResponse = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<_> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.contains(&"jwtcutoff.demo.v1.Account".to_owned()),
        "{names:?}"
    );
}

/// A bad flag, URL, duration or secret: one line on stderr, exit code 2, no panic.
#[tokio::test]
async fn bad_configuration_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: &[Case<'_>] = &[
        (&["--no-such-flag"], &[]),
        (&["--http", "localhost"], &[]),
        (&["--grpc", "127.0.0.1:99999"], &[]),
        (&["--database", "mysql://localhost/db"], &[]),
        (&["--database", "sqlite://demo.db?mode=bogus"], &[]),
        (&["--database", "postgres://user@host:notaport/db"], &[]),
        (&["--cutoff-store", "http://localhost:6379"], &[]),
        (&["--access-ttl", "5x"], &[]),
        (&["--refresh-ttl", "0s"], &[]),
        (&["--cache-ttl", "-1s"], &[]),
        (
            &[
                "--cutoff-store",
                "redis://127.0.0.1:1",
                "--redis-prefix",
                "",
            ],
            &[],
        ),
        (&[], &[("JWT_CUTOFF_DEMO_ACCESS_TTL", "soon")]),
        (&[], &[("JWT_CUTOFF_DEMO_DATABASE", "oracle://x")]),
        (&[], &[("JWT_CUTOFF_DEMO_ACCESS_SECRET", "too short")]),
        (&[], &[("JWT_CUTOFF_DEMO_REFRESH_SECRET", "")]),
    ];
    for (args, env) in cases {
        // Should a case start after all, it must not take a fixed port or outlive the test.
        let mut command = support::command(dir.path(), args, env);
        command
            .env("JWT_CUTOFF_DEMO_HTTP", "127.0.0.1:0")
            .env("JWT_CUTOFF_DEMO_GRPC", "127.0.0.1:0")
            .kill_on_drop(true);
        for (variable, value) in *env {
            command.env(variable, value);
        }
        let output = tokio::time::timeout(Duration::from_secs(30), command.output())
            .await
            .unwrap_or_else(|_| panic!("{args:?} {env:?}: the demo started instead of exiting"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let context = format!("{args:?} {env:?}: {stderr}");
        assert_eq!(output.status.code(), Some(2), "{context}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{context}");
        assert!(stderr.starts_with("error:"), "{context}");
        assert!(!stderr.contains("panicked"), "{context}");
        assert!(output.stdout.is_empty(), "{context}");
    }
    // --help is not an error.
    let help = support::command(dir.path(), &["--help"], &[])
        .output()
        .await
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--cutoff-store"));
}

//! Sessions through the real binary on SQLite: the device list, signing out one device, this one,
//! the others, and refresh-token rotation with reuse detection; over HTTP and gRPC, and across a
//! restart on the same file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::time::Duration;

use hyper::StatusCode;
use serde_json::Value;
use support::{Demo, Http, Pair, assert_refused, sqlite_url, who_am_i};
use tonic::Code;

/// Whether every token of `pair` works (`true`) or is refused (`false`), over HTTP and gRPC; the
/// refresh token is only tried when `refresh` (a refresh spends it).
async fn works(demo: &Demo, pair: &Pair) -> bool {
    let me = demo.http.me(&pair.access).await;
    let grpc = who_am_i(demo, &pair.access).await;
    match me.status {
        StatusCode::OK => {
            assert!(grpc.is_ok(), "HTTP accepts, gRPC refuses: {grpc:?}");
            true
        }
        _ => {
            assert_refused(&me, StatusCode::UNAUTHORIZED, "invalid_token");
            let status = grpc.unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            false
        }
    }
}

/// The refresh token of `pair` is refused (and so not spent).
async fn refresh_refused(http: &Http, pair: &Pair) {
    let refreshed = http.refresh(&pair.refresh).await;
    assert_refused(&refreshed, StatusCode::UNAUTHORIZED, "invalid_token");
}

/// The ids of the device list, and the one marked current.
fn listed(answer: &Value) -> (Vec<String>, Vec<String>) {
    let sessions = answer["sessions"].as_array().expect("sessions");
    let ids = sessions
        .iter()
        .map(|session| session["id"].as_str().unwrap().to_owned())
        .collect();
    let current = sessions
        .iter()
        .filter(|session| session["current"] == true)
        .map(|session| session["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, current)
}

async fn start(dir: &std::path::Path, extra: &[&str]) -> Demo {
    let database = sqlite_url(dir, "demo.db");
    let mut args = vec!["--database", database.as_str()];
    args.extend_from_slice(extra);
    Demo::start(dir, &args, &[]).await
}

#[tokio::test]
async fn the_device_list_and_signing_devices_out() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), &[]).await;
    let http = &demo.http;
    assert_eq!(
        http.signup("alice", "wonderland").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        http.signup("bob", "builder!").await.status,
        StatusCode::CREATED
    );
    let laptop = http.pair_from("alice", "wonderland", "Laptop/1.0").await;
    let phone = http.pair_from("alice", "wonderland", "Phone/2.0").await;
    let tablet = http.pair_from("alice", "wonderland", "Tablet/3.0").await;
    let bob = http.pair_from("bob", "builder!", "Bob/1.0").await;
    assert_ne!(laptop.session_id, phone.session_id);

    // The list: alice's three sessions, oldest first, with what each login sent.
    let list = http.sessions(&laptop.access).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.headers["cache-control"], "no-store");
    let (ids, current) = listed(&list.json);
    assert_eq!(
        ids,
        [
            laptop.session_id.as_str(),
            phone.session_id.as_str(),
            tablet.session_id.as_str()
        ]
    );
    assert_eq!(current, [laptop.session_id.as_str()]);
    let first = &list.json["sessions"][0];
    assert_eq!(first["user_agent"], "Laptop/1.0");
    let created = first["created_at"].as_f64().unwrap();
    let used = first["last_used_at"].as_f64().unwrap();
    assert!(created > 1.7e9 && used >= created, "{first}");
    let (_, current) = listed(&http.sessions(&phone.access).await.json);
    assert_eq!(
        current,
        [phone.session_id.as_str()],
        "each device sees itself as current"
    );

    // Another user's session, and an unknown one: 404, nothing revoked.
    for id in [bob.session_id.as_str(), "no-such-session"] {
        let deleted = http.delete_session(&laptop.access, id).await;
        assert_refused(&deleted, StatusCode::NOT_FOUND, "not_found");
    }
    assert!(works(&demo, &bob).await, "bob's session is untouched");

    // Signing the tablet out from the laptop: the tablet's tokens go at once, the others stay.
    let deleted = http
        .delete_session(&laptop.access, &tablet.session_id)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert!(!works(&demo, &tablet).await);
    refresh_refused(http, &tablet).await;
    assert!(works(&demo, &laptop).await && works(&demo, &phone).await);
    let (ids, _) = listed(&http.sessions(&laptop.access).await.json);
    assert_eq!(ids, [laptop.session_id.as_str(), phone.session_id.as_str()]);
    let again = http
        .delete_session(&laptop.access, &tablet.session_id)
        .await;
    assert_refused(&again, StatusCode::NOT_FOUND, "not_found");

    // "Sign out other devices" from the laptop: the phone goes, the laptop keeps working, access
    // and refresh.
    let others = http.logout_others(&laptop.access).await;
    assert_eq!(others.status, StatusCode::NO_CONTENT, "{}", others.text);
    assert!(!works(&demo, &phone).await);
    refresh_refused(http, &phone).await;
    assert!(works(&demo, &laptop).await);
    let refreshed = http.refresh(&laptop.refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert_eq!(refreshed.json["session_id"], laptop.session_id.as_str());
    let laptop = Pair::from_json(&refreshed.json);
    let (ids, current) = listed(&http.sessions(&laptop.access).await.json);
    assert_eq!(
        (ids, current),
        (
            vec![laptop.session_id.clone()],
            vec![laptop.session_id.clone()]
        )
    );

    // "Log out" on the laptop: its session is revoked on the server, access and refresh.
    let desktop = http.pair_from("alice", "wonderland", "Desktop/4.0").await;
    let logout = http.logout(&laptop.access).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text);
    assert!(!works(&demo, &laptop).await);
    refresh_refused(http, &laptop).await;
    assert!(
        works(&demo, &desktop).await,
        "the other device stays signed in"
    );

    // Logout-all: every session made before it goes; the list shows only later ones.
    let logout_all = http.logout_all(&desktop.access).await;
    assert_eq!(logout_all.status, StatusCode::NO_CONTENT);
    assert!(!works(&demo, &desktop).await);
    let later = http.pair_from("alice", "wonderland", "Later/5.0").await;
    let (ids, _) = listed(&http.sessions(&later.access).await.json);
    assert_eq!(ids, [later.session_id.as_str()]);
    assert!(works(&demo, &bob).await, "bob is untouched throughout");
    demo.terminate().await;
}

#[tokio::test]
async fn a_spent_refresh_token_used_again_signs_its_session_out() {
    let dir = tempfile::tempdir().unwrap();
    // A short grace window, so that the test can wait it out.
    let demo = start(dir.path(), &["--refresh-reuse-grace", "1s"]).await;
    let http = &demo.http;
    assert_eq!(
        http.signup("alice", "wonderland").await.status,
        StatusCode::CREATED
    );
    let login = http.pair_from("alice", "wonderland", "Laptop/1.0").await;
    let other = http.pair_from("alice", "wonderland", "Phone/1.0").await;

    // Refreshed once; a retry with the same token within the window is refused, not reuse.
    let first = http.refresh(&login.refresh).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let first = Pair::from_json(&first.json);
    assert_eq!(first.session_id, login.session_id);
    refresh_refused(http, &login).await;
    assert!(
        works(&demo, &first).await,
        "a retry in the window signs nobody out"
    );

    // Past the window the spent token is reuse: the session goes, newer tokens included.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    refresh_refused(http, &login).await;
    assert!(!works(&demo, &first).await);
    refresh_refused(http, &first).await;
    assert!(
        works(&demo, &other).await,
        "the user's other session keeps working"
    );
    let (ids, _) = listed(&http.sessions(&other.access).await.json);
    assert_eq!(ids, [other.session_id.as_str()]);

    // The revocation and the spent tokens survive a restart on the same file.
    demo.terminate().await;
    let demo = start(dir.path(), &["--refresh-reuse-grace", "1s"]).await;
    assert!(!works(&demo, &first).await);
    let spent = demo.http.refresh(&other.refresh).await;
    assert_eq!(spent.status, StatusCode::OK, "{}", spent.text);
    let renewed = Pair::from_json(&spent.json);
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    demo.terminate().await;
    let demo = start(dir.path(), &["--refresh-reuse-grace", "1s"]).await;
    refresh_refused(&demo.http, &other).await;
    assert!(
        !works(&demo, &renewed).await,
        "a token spent before the restart is reuse after it"
    );
    demo.terminate().await;
}

#[tokio::test]
async fn of_twelve_concurrent_refreshes_with_one_token_exactly_one_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let demo = start(dir.path(), &[]).await;
    assert_eq!(
        demo.http.signup("alice", "wonderland").await.status,
        StatusCode::CREATED
    );
    let login = demo
        .http
        .pair_from("alice", "wonderland", "Laptop/1.0")
        .await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (http, token) = (demo.http.clone(), login.refresh.clone());
            tokio::spawn(async move { http.refresh(&token).await })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let answer = task.await.unwrap();
        match answer.status {
            StatusCode::OK => winners.push(Pair::from_json(&answer.json)),
            _ => assert_refused(&answer, StatusCode::UNAUTHORIZED, "invalid_token"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh succeeds");
    assert!(
        works(&demo, &winners[0]).await,
        "and its session keeps working"
    );
    let next = demo.http.refresh(&winners[0].refresh).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    demo.terminate().await;
}

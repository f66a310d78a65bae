//! The operator's `jwt-cutoff` command line against the running demo, on each of its stores: on the
//! demo's SQLite file a logout, a revoked session and "everyone" are seen once the demo's cache TTL
//! has passed; on PostgreSQL and Redis they are seen at once (pushed: the demo's cache TTL is ten
//! minutes), and `watch` prints the demo's own logout-all. `inspect` checks the demo's tokens with
//! the right and a wrong secret, before and after a logout.
//!
//! The binary is the one `cargo test --workspace` builds beside the demo (see
//! [`support::cli_binary`]). Servers as in `shared_stores.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use serde_json::Value;
use support::{Demo, Pair, ScratchDatabase, ScratchRedis, sqlite_url, who_am_i};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tonic::Code;

const SECRET_VARIABLE: &str = "JWT_CUTOFF_DEMO_ACCESS_SECRET";
const SECRET: &str = "the demo's access secret in the operator CLI test";
const WRONG_SECRET_VARIABLE: &str = "JWT_CUTOFF_CLI_TEST_WRONG_SECRET";

/// The SQLite demo's cache TTL: the most a logout made by the CLI can wait to be seen there.
const SQLITE_CACHE_TTL: Duration = Duration::from_secs(2);
/// The cache TTL of the demos on stores that push: only a push can explain a refusal within
/// [`PUSHED_WITHIN`].
const PUSHING_CACHE_TTL: &str = "10m";
/// Generous, so a busy machine does not fail the test; a missed push would take ten minutes.
const PUSHED_WITHIN: Duration = Duration::from_secs(2);

/// `jwt-cutoff ARGS`, with the demo's access secret (and a wrong one) in its environment.
async fn cli(args: &[&str]) -> Output {
    let output = Command::new(support::cli_binary())
        .args(args)
        .env(SECRET_VARIABLE, SECRET)
        .env(
            WRONG_SECRET_VARIABLE,
            "not the demo's access secret, though long enough",
        )
        .stdin(Stdio::null())
        .output();
    tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .expect("jwt-cutoff ends within 30 s")
        .expect("jwt-cutoff runs")
}

/// `jwt-cutoff ARGS`, which must succeed; its stdout.
async fn cli_ok(args: &[&str]) -> String {
    let output = cli(args).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A token's claims, decoded without any check.
fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

fn subject_of(pair: &Pair) -> String {
    claims_of(&pair.access)["sub"].as_str().unwrap().to_owned()
}

/// Signs `username` up on `demo` and logs in once.
async fn user(demo: &Demo, username: &str) -> Pair {
    let password = "correct horse battery";
    let signup = demo.http.signup(username, password).await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.text);
    demo.http.pair(username, password).await
}

/// Waits until `demo` refuses `token` over HTTP, for `within` at most; how long it took.
async fn refused_within(demo: &Demo, token: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let status = demo.http.me(token).await.status;
        if status == StatusCode::UNAUTHORIZED {
            return started.elapsed();
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            started.elapsed() < within,
            "still accepted {within:?} after the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Accepted over HTTP and gRPC (and so cached by the demo).
async fn assert_accepted(demo: &Demo, token: &str) {
    assert_eq!(demo.http.me(token).await.status, StatusCode::OK);
    who_am_i(demo, token).await.unwrap();
}

/// Refused over HTTP and gRPC.
async fn assert_refused(demo: &Demo, token: &str) {
    assert_eq!(demo.http.me(token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        who_am_i(demo, token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_on_the_demos_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path(), "demo.db");
    let ttl = format!("{}s", SQLITE_CACHE_TTL.as_secs());
    // The CLI's default table is the demo's: no --table.
    let args = ["--database", database.as_str(), "--cache-ttl", ttl.as_str()];
    let demo = Demo::start(dir.path(), &args, &[(SECRET_VARIABLE, SECRET)]).await;
    let store = ["--store", database.as_str()];
    let seen_within = SQLITE_CACHE_TTL + Duration::from_secs(3);

    let alice = user(&demo, "alice").await;
    let sub = subject_of(&alice);
    assert_accepted(&demo, &alice.access).await;

    let inspect = [
        &["inspect", "--secret-env", SECRET_VARIABLE][..],
        &store,
        &[alice.access.as_str()],
    ]
    .concat();
    let shown = cli_ok(&inspect).await;
    assert!(shown.contains("signature: valid"), "{shown}");
    assert!(shown.contains("cutoffs: not revoked"), "{shown}");
    assert!(shown.contains(&format!("\"sub\": \"{sub}\"")), "{shown}");
    let wrong = cli(&[
        "inspect",
        "--secret-env",
        WRONG_SECRET_VARIABLE,
        &alice.access,
    ])
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("signature"));
    for output in [&wrong.stdout, &wrong.stderr] {
        assert!(!String::from_utf8_lossy(output).contains(SECRET));
    }

    // Log alice out from all devices.
    let printed = cli_ok(&[&["logout-all"][..], &store, &[sub.as_str()]].concat()).await;
    assert!(
        printed.starts_with(&format!("{sub}: valid from ")),
        "{printed}"
    );
    refused_within(&demo, &alice.access, seen_within).await;
    assert_refused(&demo, &alice.access).await;
    let refresh = demo.http.refresh(&alice.refresh).await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED, "{}", refresh.text);
    let revoked = cli(&inspect).await;
    assert_eq!(revoked.status.code(), Some(1));
    let shown = String::from_utf8(revoked.stdout).unwrap();
    assert!(shown.contains("signature: valid"), "{shown}");
    assert!(shown.contains("revoked: the cutoff that applies is valid from"));
    assert!(String::from_utf8_lossy(&revoked.stderr).contains("revoked"));
    let show = cli_ok(&[&["show", "--json"][..], &store, &[sub.as_str()]].concat()).await;
    let lines: Vec<Value> = show
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["everyone"], true);
    assert_eq!(lines[0]["valid_from"], Value::Null);
    assert_eq!(lines[1]["subject"], sub.as_str());
    assert!(lines[1]["valid_from"].as_f64().unwrap() > 1.7e9, "{show}");

    // One device: the session's tokens are refused, the other login's keep working.
    let laptop = demo.http.pair("alice", "correct horse battery").await;
    let phone = demo.http.pair("alice", "correct horse battery").await;
    let revoke = [
        &["revoke-session"][..],
        &store,
        &[sub.as_str(), laptop.session_id.as_str()],
    ]
    .concat();
    cli_ok(&revoke).await;
    refused_within(&demo, &laptop.access, seen_within).await;
    assert_eq!(
        demo.http.refresh(&laptop.refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_accepted(&demo, &phone.access).await;

    // Everyone, after a key leak: every token issued before is refused, a new login works.
    let bob = user(&demo, "bob").await;
    cli_ok(&[&["logout-everyone"][..], &store].concat()).await;
    for token in [&bob.access, &phone.access] {
        refused_within(&demo, token, seen_within).await;
    }
    let again = demo.http.pair("bob", "correct horse battery").await;
    assert_accepted(&demo, &again.access).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_on_the_demos_postgres_database() {
    let Some(database) = ScratchDatabase::create("demo_cli").await else {
        return;
    };
    let url = database.url.clone();
    database
        .run(async move {
            let dir = tempfile::tempdir().unwrap();
            let args = ["--database", url.as_str(), "--cache-ttl", PUSHING_CACHE_TTL];
            let demo = Demo::start(dir.path(), &args, &[]).await;
            seen_at_once(&demo, &["--store", url.as_str()]).await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_on_the_demos_redis_store() {
    let Some(redis) = ScratchRedis::create().await else {
        return;
    };
    let cutoff_store = redis.cutoff_store_args();
    let store = [
        "--store".to_owned(),
        redis.url.clone(),
        "--key-prefix".to_owned(),
        redis.prefix.clone(),
    ];
    redis
        .run(async move {
            let dir = tempfile::tempdir().unwrap();
            let database = sqlite_url(dir.path(), "users.db");
            let mut args = vec!["--database", database.as_str()];
            args.extend(["--cache-ttl", PUSHING_CACHE_TTL]);
            args.extend(cutoff_store.iter().map(String::as_str));
            let demo = Demo::start(dir.path(), &args, &[]).await;
            let store: Vec<&str> = store.iter().map(String::as_str).collect();
            seen_at_once(&demo, &store).await;
        })
        .await;
}

/// On a store that pushes: `watch` prints the demo's own logout-all; the CLI's logout-all and
/// revoke-session are refused by the demo at once, over HTTP and gRPC.
async fn seen_at_once(demo: &Demo, store: &[&str]) {
    let (mut watch, mut lines) = subscribed_watcher(store).await;

    let carol = user(demo, "carol").await;
    let carol_sub = subject_of(&carol);
    assert_eq!(
        demo.http.logout_all(&carol.access).await.status,
        StatusCode::NO_CONTENT
    );
    let change = next_change_of(&mut lines, &carol_sub).await;
    assert_eq!(change["everyone"], false);
    assert_eq!(change["session"], Value::Null);
    assert_eq!(change["refused"], false);
    let valid_from = change["valid_from"].as_f64().unwrap();
    assert!(
        valid_from >= claims_of(&carol.access)["iat"].as_f64().unwrap(),
        "{change}"
    );

    let dave = user(demo, "dave").await;
    let dave_sub = subject_of(&dave);
    let other = demo.http.pair("dave", "correct horse battery").await;
    for pair in [&dave, &other] {
        assert_accepted(demo, &pair.access).await;
    }
    cli_ok(
        &[
            &["revoke-session"][..],
            store,
            &[&dave_sub, &dave.session_id],
        ]
        .concat(),
    )
    .await;
    let took = refused_within(demo, &dave.access, PUSHED_WITHIN).await;
    println!("revoked session refused {took:?} after the CLI ended");
    assert_refused(demo, &dave.access).await;
    assert_accepted(demo, &other.access).await;
    let change = next_change_of(&mut lines, &dave_sub).await;
    assert_eq!(change["session"], dave.session_id.as_str());

    cli_ok(&[&["logout-all"][..], store, &[&dave_sub]].concat()).await;
    let took = refused_within(demo, &other.access, PUSHED_WITHIN).await;
    println!("logged-out subject refused {took:?} after the CLI ended");
    assert_refused(demo, &other.access).await;

    interrupt(&mut watch).await;
}

/// `jwt-cutoff watch --json` on `store`, once it prints the store's changes: until then changes
/// are not seen, so the CLI logs a marker subject out until one shows.
async fn subscribed_watcher(store: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut watch = Command::new(support::cli_binary())
        .args(["watch", "--json"])
        .args(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let marker = format!("marker-{}", support::random_hex(8));
    for _ in 0..50 {
        cli_ok(&[&["logout-all"][..], store, &[&marker]].concat()).await;
        if let Ok(line) = tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
        {
            let line = line.unwrap().expect("the watcher ended");
            assert!(line.contains(&marker), "{line}");
            return (watch, lines);
        }
    }
    panic!("the watcher printed nothing");
}

/// The next change naming `subject`, skipping markers still arriving.
async fn next_change_of(lines: &mut Lines<BufReader<ChildStdout>>, subject: &str) -> Value {
    loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("no change within 10 s")
            .unwrap()
            .expect("the watcher ended");
        let change: Value = serde_json::from_str(&line).unwrap();
        if change["subject"] == subject {
            return change;
        }
    }
}

/// Ctrl-C: `watch` ends with 0.
async fn interrupt(watch: &mut Child) {
    let pid = watch.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(10), watch.wait())
        .await
        .expect("watch ends on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

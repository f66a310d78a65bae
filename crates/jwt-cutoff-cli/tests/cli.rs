//! The built `jwt-cutoff` binary against real stores: a SQLite file, PostgreSQL and Redis (servers
//! named by `JWT_CUTOFF_TEST_POSTGRES_URL` and `JWT_CUTOFF_TEST_REDIS_URL`, else the local
//! defaults; a missing one skips its test unless `JWT_CUTOFF_REQUIRE_SERVERS=1`), every usage error
//! and unreachable stores.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use jwt_cutoff_redis::RedisStore;
use jwt_cutoff_sqlx::{PostgresStore, SqliteStore};
use jwt_cutoff_store::{Cutoff, CutoffSource, Scope, Timestamp};
use jwt_cutoff_test_support::{skip, unique_id};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

const BINARY: &str = env!("CARGO_BIN_EXE_jwt-cutoff");

async fn run(args: &[&str]) -> Output {
    tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(BINARY).args(args).output(),
    )
    .await
    .expect("jwt-cutoff did not end within 30 s")
    .expect("jwt-cutoff runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Exit code 2, one line on stderr, nothing on stdout.
fn assert_usage_error(output: &Output, args: &[&str]) {
    assert_eq!(
        output.status.code(),
        Some(2),
        "{args:?}: {}",
        stderr(output)
    );
    assert_eq!(
        stderr(output).lines().count(),
        1,
        "{args:?}: {}",
        stderr(output)
    );
    assert!(stdout(output).is_empty(), "{args:?}");
}

/// The cutoff stored for `subject`'s tokens with no session, as the store answers a lookup.
async fn cutoff_of(store: &dyn CutoffSource, subject: &str) -> Cutoff {
    store.lookup(subject).await.unwrap().cutoff()
}

#[tokio::test]
async fn usage_errors_are_one_line_and_exit_2() {
    let cases: [&[&str]; 8] = [
        &["bogus"],
        &[],
        &["logout-all", "--store", "ftp://host/db", "alice"],
        &["logout-all", "--store", "sqlite://", "alice"],
        &["logout-all", "--store", "sqlite://x.db"],
        &[
            "logout-all",
            "--store",
            "sqlite://x.db",
            "--timeout",
            "soon",
            "alice",
        ],
        &["logout-all", "--store", "sqlite://x.db", "--bogus", "alice"],
        &["revoke-session", "--store", "sqlite://x.db", "alice", ""],
    ];
    for args in cases {
        assert_usage_error(&run(args).await, args);
    }
    let too_long = "a".repeat(jwt_cutoff_store::MAX_SUBJECT_BYTES + 1);
    for command in ["logout-all", "show"] {
        let args = [
            command,
            "--store",
            "sqlite://x.db",
            "alice",
            too_long.as_str(),
        ];
        assert_usage_error(&run(&args).await, &args);
    }
    for args in [
        &["--help"][..],
        &["watch", "--help"],
        &["logout-all", "--help"],
    ] {
        let output = run(args).await;
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(stdout(&output).contains("Usage"), "{args:?}");
    }
}

#[tokio::test]
async fn a_missing_sqlite_file_is_an_error_and_is_not_created() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("missing.db");
    let url = format!("sqlite://{}", path.display());
    let output = run(&["logout-all", "--store", &url, "alice"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("no SQLite database"));
    assert!(!path.exists(), "the file was created");
}

#[tokio::test]
async fn an_unreachable_store_fails_within_the_timeout() {
    for url in [
        "redis://127.0.0.1:1",
        "postgres://postgres@127.0.0.1:1/test",
    ] {
        let started = Instant::now();
        let output = run(&["logout-all", "--store", url, "--timeout", "2s", "alice"]).await;
        assert_eq!(output.status.code(), Some(1), "{url}: {}", stderr(&output));
        assert!(!stderr(&output).is_empty(), "{url}");
        assert!(started.elapsed() < Duration::from_secs(10), "{url}");
    }
}

#[tokio::test]
async fn logouts_land_in_a_sqlite_store() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("cutoffs.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store
        .raise(Scope::Subject("deleted"), Cutoff::Refused)
        .await
        .unwrap();

    let before = Timestamp::now();
    let output = run(&["logout-all", "--store", &url, "alice", "bob", "deleted"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines: Vec<_> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("alice: valid from "), "{lines:?}");
    assert_eq!(lines[2], "deleted: refused", "never lowered");
    for subject in ["alice", "bob"] {
        let Cutoff::ValidFrom(at) = cutoff_of(&store, subject).await else {
            panic!("{subject} was not logged out");
        };
        assert!(at >= before);
    }
    assert_eq!(cutoff_of(&store, "deleted").await, Cutoff::Refused);

    let output = run(&["revoke-session", "--store", &url, "alice", "laptop"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "alice session laptop: refused\n");
    let alice = store.lookup("alice").await.unwrap();
    assert_eq!(alice.session("laptop"), Cutoff::Refused);
    assert_eq!(alice.session("phone"), Cutoff::NoCutoff);
    // Minted session ids are base64url: one in 64 starts with `-`, and is still an id.
    let output = run(&["revoke-session", "--store", &url, "dave", "-Eq3"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let dave = store.lookup("dave").await.unwrap();
    assert_eq!(dave.session("-Eq3"), Cutoff::Refused);

    let before = Timestamp::now();
    let output = run(&["logout-everyone", "--store", &url]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("everyone: valid from "));
    let Cutoff::ValidFrom(at) = cutoff_of(&store, "carol").await else {
        panic!("everyone was not logged out");
    };
    assert!(at >= before);

    // What is stored, each scope apart: everyone's is not alice's own.
    let output = run(&[
        "show", "--store", &url, "--json", "alice", "deleted", "nobody",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["everyone"], true);
    assert_eq!(lines[0]["refused"], false);
    let everyone = lines[0]["valid_from"].as_f64().unwrap();
    assert_eq!(lines[1]["subject"], "alice");
    assert!(
        lines[1]["valid_from"].as_f64().unwrap() < everyone,
        "{lines:?}"
    );
    assert_eq!(
        lines[1]["sessions"],
        serde_json::json!([{"session": "laptop", "valid_from": null, "refused": true}])
    );
    assert_eq!(lines[2]["refused"], true);
    assert_eq!(lines[3]["subject"], "nobody");
    assert_eq!(lines[3]["valid_from"], serde_json::Value::Null);
    assert_eq!(lines[3]["refused"], false);
    let output = run(&["show", "--store", &url, "alice"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(shown.starts_with("everyone: valid from "), "{shown}");
    assert!(shown.contains("\nalice: valid from "), "{shown}");
    assert!(shown.contains("\nalice session laptop: refused"), "{shown}");

    // A SQLite store does not push: nothing to watch.
    let output = run(&["watch", "--store", &url]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("does not push"));
}

/// `watch --json` on a store that pushes, while the CLI itself logs a subject out and revokes a
/// session: each change is one JSON line. Ends with Ctrl-C (SIGINT), exit 0.
async fn watch_prints_what_the_store_pushes(store: &dyn CutoffSource, options: &[&str]) {
    let (mut watch, mut lines) = subscribed_watcher(store, options, &["--json"]).await;

    let output = run(&[&["logout-all"][..], options, &["alice"]].concat()).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let line = next_change_of(&mut lines, "alice").await;
    let change: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(change["subject"], "alice");
    assert_eq!(change["everyone"], false);
    assert_eq!(change["refused"], false);
    assert!(change["valid_from"].as_f64().unwrap() > 1.7e9, "{line}");

    let output = run(&[&["revoke-session"][..], options, &["alice", "laptop"]].concat()).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let line = next_change_of(&mut lines, "alice").await;
    let change: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(change["session"], "laptop");
    assert_eq!(change["refused"], true);

    let pid = watch.id().unwrap().to_string();
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = tokio::time::timeout(Duration::from_secs(10), watch.wait())
        .await
        .expect("watch did not end on Ctrl-C")
        .unwrap();
    assert_eq!(status.code(), Some(0));

    // Piped into a reader that goes away (`| head -1`): the next change ends it quietly.
    let (mut watch, lines) = subscribed_watcher(store, options, &[]).await;
    drop(lines);
    store
        .raise(Scope::Subject("alice"), Cutoff::Refused)
        .await
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), watch.wait())
        .await
        .expect("watch did not end once its stdout was closed")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

/// `jwt-cutoff watch` with `options` and `extra` flags, once it prints the changes of the store:
/// until then changes are not seen, so a marker is raised until one shows.
async fn subscribed_watcher(
    store: &dyn CutoffSource,
    options: &[&str],
    extra: &[&str],
) -> (tokio::process::Child, Lines<BufReader<ChildStdout>>) {
    let mut watch = Command::new(BINARY)
        .arg("watch")
        .args(extra)
        .args(options)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let marker = format!("marker-{}", unique_id());
    for _ in 0..100 {
        store
            .raise(Scope::Subject(&marker), Cutoff::ValidFrom(Timestamp::now()))
            .await
            .unwrap();
        if let Ok(line) = tokio::time::timeout(Duration::from_millis(200), lines.next_line()).await
        {
            let line = line.unwrap().expect("the watcher ended");
            assert!(line.contains(&marker), "{line}");
            return (watch, lines);
        }
    }
    panic!("the watcher printed nothing");
}

/// The next line naming `subject`, skipping markers still arriving.
async fn next_change_of(lines: &mut Lines<BufReader<ChildStdout>>, subject: &str) -> String {
    let wanted = format!("\"subject\":\"{subject}\"");
    loop {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("no change within 10 s")
            .unwrap()
            .expect("the watcher ended");
        if line.contains(&wanted) {
            return line;
        }
    }
}

#[tokio::test]
async fn watch_prints_postgres_changes() {
    let url = std::env::var("JWT_CUTOFF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let table = format!("cli_{}", unique_id());
    let connected = tokio::time::timeout(
        Duration::from_secs(5),
        PostgresStore::builder().table(table.as_str()).connect(&url),
    )
    .await;
    let Ok(Ok(store)) = connected else {
        skip(&format!("PostgreSQL not reachable at {url}"));
        return;
    };
    watch_prints_what_the_store_pushes(&store, &["--store", &url, "--table", &table]).await;
}

#[tokio::test]
async fn watch_prints_redis_changes() {
    let url = std::env::var("JWT_CUTOFF_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("cli-{}:", unique_id());
    let client = jwt_cutoff_redis::redis::Client::open(url.as_str()).unwrap();
    let connected = tokio::time::timeout(
        Duration::from_secs(5),
        RedisStore::builder(client)
            .key_prefix(prefix.as_str())
            .connect(),
    )
    .await;
    let Ok(Ok(store)) = connected else {
        skip(&format!("Redis not reachable at {url}"));
        return;
    };
    watch_prints_what_the_store_pushes(&store, &["--store", &url, "--key-prefix", &prefix]).await;
}

const SECRET: &str = "an inspect test secret of at least 32 bytes";
const SECRET_VARIABLE: &str = "JWT_CUTOFF_CLI_TEST_SECRET";
const WRONG_SECRET_VARIABLE: &str = "JWT_CUTOFF_CLI_TEST_WRONG_SECRET";

fn issuer(key: jwt_cutoff::SigningKey) -> jwt_cutoff::TokenIssuer {
    jwt_cutoff::TokenIssuer::builder(key).build().unwrap()
}

fn hs_issuer() -> jwt_cutoff::TokenIssuer {
    issuer(jwt_cutoff::SigningKey::hmac(SECRET.as_bytes(), jwt_cutoff::Algorithm::HS256).unwrap())
}

/// `jwt-cutoff` with the HMAC secret (and a wrong one) in its environment and `input` on stdin.
async fn run_with_secret(args: &[&str], input: &str) -> Output {
    use tokio::io::AsyncWriteExt as _;
    let mut child = Command::new(BINARY)
        .args(args)
        .env(SECRET_VARIABLE, SECRET)
        .env(
            WRONG_SECRET_VARIABLE,
            "another secret, also of at least 32 bytes",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("jwt-cutoff did not end within 30 s")
        .unwrap()
}

#[tokio::test]
async fn inspect_shows_the_token_and_checks_the_signature_and_the_cutoffs() {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("cutoffs.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    let pair = hs_issuer().issue_pair("alice", &()).unwrap();
    let token = pair.access.token.as_str();

    let output = run_with_secret(&["inspect", token], "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(shown.contains("\"alg\": \"HS256\""), "{shown}");
    assert!(shown.contains("\"sub\": \"alice\""), "{shown}");

    let checked = [
        "inspect",
        "--secret-env",
        SECRET_VARIABLE,
        "--store",
        &url,
        token,
    ];
    let output = run_with_secret(&checked, "").await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("signature: valid"));
    assert!(stdout(&output).contains("cutoffs: not revoked"));
    assert!(!stdout(&output).contains(SECRET) && !stderr(&output).contains(SECRET));

    // The same token from stdin, checked with a wrong secret.
    let wrong = ["inspect", "--secret-env", WRONG_SECRET_VARIABLE, "-"];
    let output = run_with_secret(&wrong, token).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("signature: INVALID"));
    assert!(stderr(&output).contains("signature"));

    // Logged out: revoked, since when; the signature still holds.
    let logout = run(&["logout-all", "--store", &url, "alice"]).await;
    assert_eq!(logout.status.code(), Some(0), "{}", stderr(&logout));
    let output = run_with_secret(&checked, "").await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("signature: valid"));
    assert!(stdout(&output).contains("revoked: the cutoff that applies is valid from"));
    assert!(stderr(&output).contains("revoked"));
    drop(store);

    // A session revoked: the login's refresh token is refused too.
    let pair = hs_issuer().issue_pair("bob", &()).unwrap();
    let sid = claims_of(&pair.refresh.token)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = run(&["revoke-session", "--store", &url, "bob", &sid]).await;
    assert_eq!(revoke.status.code(), Some(0), "{}", stderr(&revoke));
    let refresh = ["inspect", "--secret-env", SECRET_VARIABLE, "--store", &url];
    let output =
        run_with_secret(&[&refresh[..], &[pair.refresh.token.as_str()]].concat(), "").await;
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("signature: valid"));
    assert!(stdout(&output).contains("revoked: the cutoff that applies is refused"));
}

/// `--trusted-issuer` judges a provider's token where the services that trust the provider keep
/// its cutoffs: `<iss>#<sub>` (a `sid`-less token under the session `(no sid)`), and its `sid`
/// under `<iss>#`; the plain `sub` of the services' own users is another subject.
#[tokio::test]
async fn inspect_judges_a_trusted_issuers_token_under_its_issuer() {
    const IDP: &str = "https://id.example.com";
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", directory.path().join("cutoffs.db").display());
    let _store = SqliteStore::connect(&url).await.unwrap();
    let provider = jwt_cutoff::TokenIssuer::builder(
        jwt_cutoff::SigningKey::hmac(SECRET.as_bytes(), jwt_cutoff::Algorithm::HS256).unwrap(),
    )
    .issuer(IDP)
    .build()
    .unwrap();
    let lone = provider.issue_access("alice", &()).unwrap().token;
    let with_sid = provider.issue_pair("alice", &()).unwrap().access.token;
    let sid = claims_of(&with_sid)["sid"].as_str().unwrap().to_owned();
    let judged = |token: &str, trusted: bool| {
        let mut args = vec!["inspect", "--store", url.as_str()];
        if trusted {
            args.push("--trusted-issuer");
        }
        args.push(token);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let code = async |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = run(&args).await;
        (output.status.code(), stdout(&output))
    };

    // The services' own "alice" logged out: the provider's alice is another subject.
    let output = run(&["logout-all", "--store", &url, "alice"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(code(judged(&lone, false)).await.0, Some(1));
    let (status, shown) = code(judged(&lone, true)).await;
    assert_eq!(status, Some(0), "{shown}");
    assert!(shown.contains("cutoffs: not revoked"), "{shown}");

    // A back-channel logout of the provider's session `sid` alone: only the token carrying it.
    let issuer_sessions = format!("{IDP}#");
    let output = run(&["revoke-session", "--store", &url, &issuer_sessions, &sid]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (status, shown) = code(judged(&with_sid, true)).await;
    assert_eq!(status, Some(1), "{shown}");
    assert!(shown.contains(&format!("(under {IDP}#)")), "{shown}");
    assert_eq!(code(judged(&lone, true)).await.0, Some(0));

    // The provider's subject and the session of its `sid`-less tokens (`sub` and `sid` both in
    // a logout token): the lone token is refused.
    let subject = format!("{IDP}#alice");
    let output = run(&[
        "revoke-session",
        "--store",
        &url,
        &subject,
        jwt_cutoff::NO_SESSION,
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (status, shown) = code(judged(&lone, true)).await;
    assert_eq!(status, Some(1), "{shown}");
    assert!(shown.contains(&format!("(under {subject})")), "{shown}");

    // It needs a store to judge against, and a token that names its issuer.
    assert_eq!(
        run(&["inspect", "--trusted-issuer", &lone])
            .await
            .status
            .code(),
        Some(2)
    );
    let own = hs_issuer().issue_access("alice", &()).unwrap().token;
    let output = run(&["inspect", "--store", &url, "--trusted-issuer", &own]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no `iss`"), "{}", stderr(&output));
}

/// A token's claims, decoded without any check.
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[tokio::test]
async fn inspect_checks_public_key_signatures_and_refuses_bad_input() {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../jwt-cutoff/tests/keys/");
    let private = std::fs::read(format!("{keys}ec_private.pem")).unwrap();
    let signing = jwt_cutoff::SigningKey::ec_pem(&private, jwt_cutoff::Algorithm::ES256).unwrap();
    let token = issuer(signing).issue_access("alice", &()).unwrap().token;
    let ec_public = format!("{keys}ec_public.pem");
    let rsa_public = format!("{keys}rsa_public.pem");

    let output = run(&["inspect", "--public-key", &ec_public, &token]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("signature: valid"));
    // Another kind of key cannot verify ES256 at all.
    let output = run(&["inspect", "--public-key", &rsa_public, &token]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("signature: INVALID"));
    // An HS256 token signed with the public key's bytes as the secret (algorithm confusion).
    let confused = issuer(
        jwt_cutoff::SigningKey::hmac(
            &std::fs::read(&ec_public).unwrap(),
            jwt_cutoff::Algorithm::HS256,
        )
        .unwrap(),
    )
    .issue_access("alice", &())
    .unwrap()
    .token;
    let output = run(&["inspect", "--public-key", &ec_public, &confused]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("signature: INVALID"));

    for bad in ["not-a-token", "a.b.c", "a.b", ""] {
        let output = run(&["inspect", bad]).await;
        assert_eq!(output.status.code(), Some(1), "{bad:?}");
        assert!(stderr(&output).contains("malformed token"), "{bad:?}");
    }
    for args in [
        &[
            "inspect",
            "--secret-env",
            "JWT_CUTOFF_CLI_TEST_NOT_SET",
            "a.b.c",
        ][..],
        &[
            "inspect",
            "--public-key",
            &rsa_public,
            "--secret-env",
            "X",
            "a.b.c",
        ],
        &["inspect", "--public-key", keys, "a.b.c"],
        &[
            "inspect",
            "--jwks-url",
            "http://127.0.0.1:1/jwks.json",
            "--public-key",
            &rsa_public,
            "a.b.c",
        ],
    ] {
        let output = run(args).await;
        assert!(matches!(output.status.code(), Some(1 | 2)), "{args:?}");
        assert_eq!(stderr(&output).lines().count(), 1, "{args:?}");
    }
}

#[tokio::test]
async fn inspect_checks_signatures_with_a_providers_jwk_set() {
    use jwt_cutoff::{Algorithm, SigningKey};
    use jwt_cutoff_test_support::provider::{Behaviour, FakeProvider};
    use jwt_cutoff_test_support::{EC_PRIVATE, ED_PRIVATE, RSA_ATTACKER_PRIVATE};

    let provider = FakeProvider::start().await;
    let ec = SigningKey::ec_pem(EC_PRIVATE, Algorithm::ES256)
        .unwrap()
        .kid("ec-1");
    let ed = SigningKey::ed_pem(ED_PRIVATE).unwrap().kid("ed-1");
    provider.publish(&[&ec, &ed]);
    let jwks_url = provider.jwks_uri();
    let check = |token: String| {
        let jwks_url = jwks_url.clone();
        async move {
            run(&[
                "inspect",
                "--jwks-url",
                &jwks_url,
                "--timeout",
                "2s",
                &token,
            ])
            .await
        }
    };

    for key in [ec.clone(), ed] {
        let output = check(issuer(key).issue_access("alice", &()).unwrap().token).await;
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(stdout(&output).contains("signature: valid"));
    }
    let forged = [
        // Another key under a published kid.
        SigningKey::rsa_pem(RSA_ATTACKER_PRIVATE, Algorithm::RS256)
            .unwrap()
            .kid("ec-1"),
        // A kid the set does not hold.
        ec.clone().kid("ec-2"),
        // Algorithm confusion: an HS256 tag made with the published set's bytes.
        SigningKey::hmac(
            &jwt_cutoff::JwkSet::document([&ec]).unwrap().into_bytes(),
            Algorithm::HS256,
        )
        .unwrap()
        .kid("ec-1"),
    ];
    for key in forged {
        let output = check(issuer(key).issue_access("alice", &()).unwrap().token).await;
        assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
        assert!(stdout(&output).contains("signature: INVALID"));
        assert!(stderr(&output).contains("signature"));
    }

    // A provider that fails: exit 1 within the timeout, saying why, the token left unjudged.
    let token = issuer(ec).issue_access("alice", &()).unwrap().token;
    for (behaviour, says) in [
        (Behaviour::Status(503), "503"),
        (Behaviour::Hang, "within"),
        (Behaviour::Garbage, "not a JWK set"),
    ] {
        provider.behave(behaviour);
        let started = Instant::now();
        let output = check(token.clone()).await;
        assert_eq!(output.status.code(), Some(1), "{behaviour:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{behaviour:?}");
        let message = stderr(&output);
        assert!(
            message.contains("--jwks-url") && message.contains(says),
            "{message}"
        );
        assert!(stdout(&output).is_empty(), "{behaviour:?}");
    }
    provider.set_jwks(r#"{"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}"#);
    provider.behave(Behaviour::Serve);
    let output = check(token.clone()).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no key that verifies"),
        "{}",
        stderr(&output)
    );
    provider.stop().await;
    let output = check(token).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--jwks-url"),
        "{}",
        stderr(&output)
    );
}

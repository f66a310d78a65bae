//! The demo trusting a real, OpenID-certified provider: panva's `oidc-provider` on Node.js
//! (`tests/oidc-provider/provider.mjs`), whose users log in through its own endpoints (the
//! authorization code flow with PKCE, its login and consent pages). Its access tokens (RFC 9068
//! `at+jwt`, RS256, no `sid`) work over HTTP and gRPC, for two users; its back-channel logout,
//! sent by the provider itself when a user ends their session there, is answered 200 and refuses
//! that user's tokens while the other's keep working, and a later login of that user works again;
//! a restart of the provider with a new key (a new `kid`) is picked up by the running demo, and
//! the withdrawn key's tokens are then refused.
//!
//! Needs `node` and `npm` (`npm ci` runs in `tests/oidc-provider` when its `node_modules` is
//! missing or older than its lock file); without them the test says it is skipped, unless
//! `JWT_CUTOFF_REQUIRE_SERVERS=1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use hyper::{Method, StatusCode};
use jwt_cutoff_test_support::{PATIENCE, eventually, now_secs};
use serde_json::Value;
use support::{Demo, Http, assert_refused, free_address, skip, sqlite_url, who_am_i};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tonic::Code;

const AUDIENCE: &str = "demo-api";
const CLIENT_ID: &str = "demo-web";
const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// `tests/oidc-provider`: the provider's script and its npm package.
fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Makes `node_modules` match the lock file (`npm ci`, only when it is missing or older than the
/// lock file); the reason it cannot, if so.
fn install_provider(dir: &Path) -> Result<(), String> {
    if !runs("node") || !runs("npm") {
        return Err("node and npm are needed for the oidc-provider test".to_owned());
    }
    let modified = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|meta| meta.modified())
            .ok()
    };
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    let locked = modified(&dir.join("package-lock.json"));
    if installed.is_some() && installed >= locked {
        return Ok(());
    }
    let output = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .map_err(|error| format!("npm ci: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "npm ci in {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// `provider.mjs` running on `address`; killed when dropped.
struct NodeProvider {
    child: Child,
    address: String,
    backchannel_logout_uri: String,
    control: Http,
}

impl NodeProvider {
    /// Starts it and waits for its `ready` line.
    async fn start(address: &str, backchannel_logout_uri: &str) -> Self {
        let port = address.rsplit_once(':').unwrap().1;
        let mut child = Command::new("node")
            .args(["provider.mjs", "--port", port, "--backchannel-logout-uri"])
            .arg(backchannel_logout_uri)
            .current_dir(provider_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line == "ready" {
                    return;
                }
            }
            panic!("provider.mjs exited before printing ready");
        };
        tokio::time::timeout(PATIENCE, ready)
            .await
            .expect("provider.mjs is ready in time");
        // Keep draining stdout (oidc-provider's notices) so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            address: address.to_owned(),
            backchannel_logout_uri: backchannel_logout_uri.to_owned(),
            control: Http::new(address.parse().unwrap()),
        }
    }

    /// Stops it and starts a new process on the same port: a new signing key, a new `kid`.
    async fn restart(mut self) -> Self {
        self.child.kill().await.unwrap();
        Self::start(&self.address, &self.backchannel_logout_uri).await
    }

    fn issuer(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `user` logs in at the provider: the access token, `sub` and `sid` the client got.
    async fn login(&self, user: &str) -> Login {
        let path = format!("/test/login?user={user}");
        let answer = self.control.send(Method::POST, &path, None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "login: {}", answer.text);
        let field = |name: &str| answer.json[name].as_str().unwrap().to_owned();
        Login {
            access_token: field("access_token"),
            sub: field("sub"),
            sid: field("sid"),
        }
    }

    /// `user` ends their session at the provider; the back-channel logouts it sent meanwhile,
    /// each `(status answered, logout token)`.
    async fn logout(&self, user: &str) -> Vec<(u16, String)> {
        let path = format!("/test/logout?user={user}");
        let answer = self.control.send(Method::POST, &path, None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "logout: {}", answer.text);
        let deliveries = answer.json["deliveries"].as_array().unwrap();
        let delivery = |sent: &Value| {
            let status = u16::try_from(sent["status"].as_u64().unwrap()).unwrap();
            (status, sent["logout_token"].as_str().unwrap().to_owned())
        };
        deliveries.iter().map(delivery).collect()
    }
}

struct Login {
    access_token: String,
    sub: String,
    sid: String,
}

/// A JWT's header and claims, unverified.
fn decode(token: &str) -> (Value, Value) {
    let part = |index: usize| {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(index).unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    (part(0), part(1))
}

/// Whether `token` works on `/api/me` now.
async fn accepted(demo: &Demo, token: &str) -> bool {
    demo.http.me(token).await.status == StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certified_providers_tokens_logouts_and_key_rotation() {
    if let Err(why) = install_provider(&provider_dir()) {
        return skip(&why);
    }
    let demo_address = free_address();
    let provider = NodeProvider::start(
        &free_address(),
        &format!("http://{demo_address}/backchannel-logout"),
    )
    .await;
    let issuer = provider.issuer();
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path(), "demo.db");
    let args = [
        "--database",
        database.as_str(),
        "--oidc-issuer",
        issuer.as_str(),
        "--audience",
        AUDIENCE,
        "--client-id",
        CLIENT_ID,
        "--jwks-cooldown",
        "200ms",
    ];
    let demo = Demo::start_on(dir.path(), &demo_address, &args, &[]).await;

    // The provider's access token, as it issues them: RFC 9068, no `sid`, no user claims.
    let alice = provider.login("alice").await;
    let (header, claims) = decode(&alice.access_token);
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(header["alg"], "RS256", "{header}");
    let first_kid = header["kid"].as_str().unwrap().to_owned();
    assert_eq!(claims["iss"], issuer.as_str(), "{claims}");
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["aud"], AUDIENCE, "{claims}");
    assert_eq!(claims["client_id"], CLIENT_ID, "{claims}");
    assert_eq!(claims["scope"], "api", "{claims}");
    assert!(claims["jti"].is_string(), "{claims}");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 600, "{claims}");
    assert!(claims.get("sid").is_none(), "{claims}");
    assert!(!alice.sid.is_empty());

    let me = demo.http.me(&alice.access_token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json["sub"], "alice", "{}", me.text);
    assert_eq!(me.json["iss"], issuer.as_str(), "{}", me.text);
    assert_eq!(me.json["username"], Value::Null, "no preferred_username");
    let grpc = who_am_i(&demo, &alice.access_token).await.unwrap();
    assert_eq!(
        (grpc.sub.as_str(), grpc.iss.as_str()),
        ("alice", issuer.as_str())
    );

    let bob = provider.login("bob").await;
    assert_ne!(bob.sid, alice.sid);
    let me = demo.http.me(&bob.access_token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.json["sub"], "bob", "{}", me.text);
    assert_eq!(who_am_i(&demo, &bob.access_token).await.unwrap().sub, "bob");

    // Alice ends her session at the provider, which posts its logout token to the demo.
    let deliveries = provider.logout("alice").await;
    assert_eq!(deliveries.len(), 1, "one client, one logout token");
    let (status, logout_token) = &deliveries[0];
    assert_eq!(*status, 200, "the demo's answer to the back-channel logout");
    let (header, claims) = decode(logout_token);
    assert_eq!(header["typ"], "logout+jwt", "{header}");
    assert_eq!(header["kid"], first_kid.as_str(), "{header}");
    assert_eq!(claims["iss"], issuer.as_str(), "{claims}");
    assert_eq!(claims["aud"], CLIENT_ID, "{claims}");
    assert_eq!(claims["sub"], alice.sub.as_str(), "{claims}");
    assert_eq!(claims["sid"], alice.sid.as_str(), "{claims}");
    assert_eq!(
        claims["events"][BACKCHANNEL_LOGOUT_EVENT],
        serde_json::json!({})
    );
    assert!(claims["jti"].is_string(), "{claims}");
    assert!(claims.get("nonce").is_none(), "{claims}");
    let logout_iat = claims["iat"].as_i64().unwrap();

    let refused = demo.http.me(&alice.access_token).await;
    assert_refused(&refused, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        refused.json["error_description"],
        "the token has been revoked"
    );
    assert_eq!(
        who_am_i(&demo, &alice.access_token)
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    assert!(accepted(&demo, &bob.access_token).await);
    assert_eq!(who_am_i(&demo, &bob.access_token).await.unwrap().sub, "bob");

    // A login after the logout's second (provider tokens carry whole seconds) works again.
    eventually("the second after the logout", PATIENCE, async || {
        now_secs() > logout_iat
    })
    .await;
    let alice_again = provider.login("alice").await;
    assert_ne!(alice_again.sid, alice.sid);
    assert!(accepted(&demo, &alice_again.access_token).await);
    assert!(!accepted(&demo, &alice.access_token).await);

    // The provider restarts with a new key: the running demo fetches it for the unknown `kid`.
    let provider = provider.restart().await;
    let bob_rotated = provider.login("bob").await;
    let (header, _) = decode(&bob_rotated.access_token);
    let second_kid = header["kid"].as_str().unwrap().to_owned();
    assert_ne!(second_kid, first_kid);
    eventually(
        "the demo accepts the new key's token",
        Duration::from_secs(10),
        async || accepted(&demo, &bob_rotated.access_token).await,
    )
    .await;
    assert_eq!(
        who_am_i(&demo, &bob_rotated.access_token)
            .await
            .unwrap()
            .sub,
        "bob"
    );

    // The old key is no longer published: its tokens, accepted a moment ago, are refused.
    let withdrawn = demo.http.me(&bob.access_token).await;
    assert_refused(&withdrawn, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        withdrawn.json["error_description"],
        "the token key is unknown"
    );
    assert_eq!(
        who_am_i(&demo, &bob.access_token).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert!(!accepted(&demo, &alice_again.access_token).await);
    assert!(accepted(&demo, &bob_rotated.access_token).await);
}

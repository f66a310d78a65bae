//! PostgreSQL outages: instance B reaches the real server through a TCP proxy inside the test, which
//! is cut (every connection dropped, new ones refused) or frozen (connections held open, silent) and
//! then restored. B must fail closed, accept nothing revoked meanwhile, and recover by itself.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside the #[test] functions unwrap, as the tests do"
)]
#![cfg(feature = "postgres")]

mod common;

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use jwt_cutoff::{Cutoff, CutoffCache, PushTask, Reason, Validator};
use jwt_cutoff_sqlx::PostgresStore;
use jwt_cutoff_test_support::{
    eventually, following, hs_issuer, hs_validator, logout_reaches, reason_of,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const MINUTES: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Open,
    /// Every proxied connection is closed; new ones are accepted and closed at once.
    Cut,
    /// Connections stay open but nothing gets through, like a network partition.
    Frozen,
}

/// A TCP proxy from 127.0.0.1:<any> to the server.
struct Proxy {
    port: u16,
    link: watch::Sender<Link>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let link = watch::Sender::new(Link::Open);
        let links = link.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream, links.subscribe()));
            }
        });
        Self { port, link }
    }

    fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut link: watch::Receiver<Link>) {
    let current = *link.borrow();
    match current {
        Link::Cut => return,
        Link::Frozen => {
            let _ = link.wait_for(|link| *link != Link::Frozen).await;
            return;
        }
        Link::Open => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let changed = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => None,
        changed = link.wait_for(|link| *link != Link::Open) => changed.ok().map(|link| *link),
    };
    if changed == Some(Link::Frozen) {
        // Hold both sockets, silent, until the link changes; then close them (bytes the copy had
        // in flight are gone, so the stream could not be resumed).
        let _ = link.wait_for(|link| *link != Link::Frozen).await;
    }
}

/// Instance A talks to the server directly; instance B through the proxy. Both follow the push
/// channel, with caches that keep entries for minutes.
struct Setup {
    schema: common::TestSchema,
    proxy: Proxy,
    a: CutoffCache,
    b: CutoffCache,
    store_a: PostgresStore,
    store_b: PostgresStore,
    _push: (PushTask, PushTask),
}

impl Setup {
    async fn new(test: &str, heartbeat: Duration) -> Option<Self> {
        let schema = common::postgres(test).await?;
        let options = PgConnectOptions::from_str(&schema.url).unwrap();
        let upstream = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .unwrap()
            .next()
            .unwrap();
        let proxy = Proxy::start(upstream).await;

        let store_a = PostgresStore::builder()
            .table(schema.table())
            .connect(&schema.url)
            .await
            .unwrap();
        let pool_b = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(1))
            .connect_with(options.host("127.0.0.1").port(proxy.port))
            .await
            .unwrap();
        let store_b = PostgresStore::builder()
            .table(schema.table())
            .pool(pool_b)
            .await
            .unwrap();

        let a = CutoffCache::builder(store_a.clone())
            .time_to_live(MINUTES)
            .time_to_live_with_push(MINUTES)
            .build();
        let b = CutoffCache::builder(store_b.clone())
            .time_to_live(MINUTES)
            .time_to_live_with_push(MINUTES)
            .store_timeout(Duration::from_millis(500))
            .build();
        let push_a = following(&a, store_a.push_channel()).await;
        let push_b = following(&b, store_b.push_channel().heartbeat(heartbeat)).await;
        Some(Self {
            schema,
            proxy,
            a,
            b,
            store_a,
            store_b,
            _push: (push_a, push_b),
        })
    }

    /// Caches the victim's token on B, breaks B's link to the server as `link` says, waits until B
    /// notices (`notices` names how), and checks that B then fails closed. Returns B's validator
    /// and the victim's token, for the recovery.
    async fn break_link(&self, link: Link, notices: &str) -> (Validator, String) {
        let validator_b = hs_validator(self.b.clone());
        let victim_token = hs_issuer().issue_access("victim", &()).unwrap().token;
        assert!(
            validator_b.validate(&victim_token).await.is_ok(),
            "cached on B"
        );
        self.proxy.set(link);
        eventually(notices, Duration::from_secs(5), async || {
            !self.b.push_connected()
        })
        .await;
        check_fails_closed(self, &validator_b, &victim_token).await;
        (validator_b, victim_token)
    }

    async fn finish(self) {
        drop((self.a, self.b, self._push));
        self.store_a.pool().close().await;
        self.proxy.set(Link::Cut);
        self.store_b.pool().close().await;
        self.schema.drop_schema().await;
    }
}

/// B's view while it cannot reach the server: a logout made through A meanwhile is not accepted
/// (the answer is the fail-closed one), and neither is any uncached subject's token.
async fn check_fails_closed(setup: &Setup, validator_b: &Validator, victim_token: &str) {
    let issuer = hs_issuer();
    let (a, b) = (&setup.a, &setup.b);
    let stranger = issuer.issue_access("stranger", &()).unwrap().token;
    let rejection = validator_b.validate(&stranger).await.unwrap_err();
    assert_eq!(rejection.reason(), Reason::Unavailable, "uncached: 503");
    assert_eq!(rejection.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    assert!(b.lookup("stranger").await.is_err());

    a.logout_all("victim").await.unwrap();
    let rejection = validator_b.validate(victim_token).await.unwrap_err();
    assert_eq!(
        rejection.reason(),
        Reason::Unavailable,
        "B forgot the victim's cached cutoff with the channel and cannot look it up"
    );
}

/// After the link is back, B reconnects by itself, has caught up, and follows pushes again.
async fn check_recovers(setup: &Setup, validator_b: &Validator, victim_token: &str) {
    let (a, b) = (&setup.a, &setup.b);
    eventually("B reconnects", Duration::from_secs(15), async || {
        b.push_connected()
    })
    .await;
    let victim = setup.a.lookup("victim").await.unwrap().cutoff();
    assert!(matches!(victim, Cutoff::ValidFrom(_)));
    eventually("B catches up", Duration::from_secs(5), async || {
        b.lookup("victim")
            .await
            .is_ok_and(|cutoffs| cutoffs.cutoff() == victim)
    })
    .await;
    assert_eq!(
        reason_of(validator_b, victim_token).await,
        Some(Reason::Revoked)
    );
    let stranger = hs_issuer().issue_access("stranger", &()).unwrap().token;
    assert!(validator_b.validate(&stranger).await.is_ok());

    logout_reaches(a, b, "later").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_fails_closed_and_recovers_by_itself() {
    let Some(setup) = Setup::new("outage_cut", Duration::from_secs(10)).await else {
        return;
    };
    let (validator_b, victim_token) = setup.break_link(Link::Cut, "B notices the cut").await;
    // Long enough for a few failed reconnects, so the backoff has grown.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!setup.b.push_connected());

    setup.proxy.set(Link::Open);
    check_recovers(&setup, &validator_b, &victim_token).await;
    setup.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_link_is_noticed_by_the_heartbeat_and_recovers() {
    let Some(setup) = Setup::new("outage_frozen", Duration::from_millis(300)).await else {
        return;
    };
    // No error reaches B: only the heartbeat's unanswered ping reveals the dead link.
    let (validator_b, victim_token) = setup
        .break_link(Link::Frozen, "B notices the silence")
        .await;

    setup.proxy.set(Link::Open);
    check_recovers(&setup, &validator_b, &victim_token).await;
    setup.finish().await;
}

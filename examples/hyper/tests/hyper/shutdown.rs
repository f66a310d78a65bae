//! Graceful shutdown through hyper-util's `GracefulShutdown`, over a real socket: in-flight
//! requests finish, new connections are refused, the accept loop returns; at the deadline,
//! returning closes what is left.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use jwt_cutoff::MemoryStore;
use jwt_cutoff_test_support::client::{clients, fetch, get, http1_client, send};
use jwt_cutoff_test_support::within;
use tokio::net::TcpStream;

use crate::Server;

/// Waits until connecting to `addr` is refused: the listener is closed.
async fn until_refused(addr: SocketAddr) {
    within("the listener to close", async {
        loop {
            match TcpStream::connect(addr).await {
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => return,
                // Accepted before the signal was seen, or caught in the backlog as the listener
                // closed (a reset): try again.
                Ok(_) | Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn in_flight_requests_finish_while_new_connections_are_refused() {
    for (name, client, _) in clients() {
        let mut server = Server::start(MemoryStore::new()).await;
        let bearer = server.bearer("alice");
        let in_flight = {
            let request = get(&server.url("/slow"), &[&bearer]);
            let client = client.clone();
            tokio::spawn(async move { send(&client, request).await })
        };
        within("the slow request to start", server.started.recv())
            .await
            .unwrap();

        server.running.shut_down();
        until_refused(server.addr).await;
        assert!(
            server.running.is_serving(),
            "{name}: the server must wait for the in-flight request"
        );

        server.release_one();
        let answer = within("the in-flight request", in_flight)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{name}");
        assert_eq!(answer.body, "slow alice", "{name}");
        server.running.served().await;

        // Still refused after the drain, through the client too.
        let after = send(&client, get(&server.url("/me"), &[&bearer])).await;
        assert!(after.is_err(), "{name}: served after shutdown");
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_the_shutdown() {
    for (name, client, _) in clients() {
        let mut server = Server::start(MemoryStore::new()).await;
        let bearer = server.bearer("alice");
        // The client keeps this connection open in its pool.
        let answer = fetch(&client, &server.url("/me"), &[&bearer]).await;
        assert_eq!(answer.status, StatusCode::OK, "{name}");

        server.running.shut_down();
        server.running.served().await;
        drop(client);
    }
}

#[tokio::test]
async fn the_shutdown_deadline_closes_requests_that_never_finish() {
    let mut server = Server::start_with(MemoryStore::new(), Duration::from_millis(200)).await;
    let bearer = server.bearer("alice");
    let client = http1_client();
    let stuck = {
        let request = get(&server.url("/slow"), &[&bearer]);
        tokio::spawn(async move { send(&client, request).await })
    };
    within("the slow request to start", server.started.recv())
        .await
        .unwrap();

    // The slow request is never released: only the deadline can end the drain.
    server.running.shut_down();
    server.running.served().await;
    let outcome = within("the stuck request", stuck).await.unwrap();
    assert!(
        outcome.is_err(),
        "the connection was closed, so no answer came"
    );
}

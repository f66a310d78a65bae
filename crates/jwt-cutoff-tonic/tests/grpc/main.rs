//! The tonic adapter over a real 127.0.0.1:0 socket, with real generated gRPC clients: the health
//! and reflection clients of `tonic-health` and `tonic-reflection`. One module per topic; every
//! test starts from a [`Fixture`] and serves it with [`Fixture::serve`] (or
//! [`serve_grpc`] for other server shapes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] functions (which clippy.toml already covers) fail the test this way"
)]

mod calls;
mod health_and_reflection;
mod metadata;
mod wire;

use std::sync::{Arc, Mutex};

use jwt_cutoff::{CutoffCache, MemoryStore, Reason, TokenIssuer, Validator};
use jwt_cutoff_test_support::grpc::{health_check, serve_grpc};
use jwt_cutoff_test_support::{hs_issuer, hs_validator};
use jwt_cutoff_tonic::{GrpcJwtCutoffLayer, RequestExt as _};
use tonic::codegen::tokio_stream::Stream;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// The application's claims, read by the handler through `RequestExt::verified`.
#[derive(Clone, Debug, serde::Deserialize)]
pub(crate) struct Claims {
    #[serde(default)]
    role: Option<String>,
}

/// What the handler saw of one call: the subject and role of its `Verified`, if any.
type Seen = Arc<Mutex<Vec<Option<(String, Option<String>)>>>>;

/// A hand-written implementation of the generated `Health` service, so the server side is real
/// generated code. It records the `Verified<Claims>` it finds on each call.
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    seen: Seen,
    sessions: Arc<Mutex<Vec<Option<String>>>>,
}

impl Recorder {
    pub(crate) fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub(crate) fn last(&self) -> Option<(String, Option<String>)> {
        self.seen.lock().unwrap().last().cloned().flatten()
    }

    /// The session id of the last call's `Verified`, if it had one.
    pub(crate) fn last_session_id(&self) -> Option<String> {
        self.sessions.lock().unwrap().last().cloned().flatten()
    }

    /// The subject of the last call's `Verified`, if it had one.
    pub(crate) fn last_subject(&self) -> Option<String> {
        self.last().map(|seen| seen.0)
    }
}

type WatchStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for Recorder {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let verified = request.verified::<Claims>().ok();
        let session_id = verified.and_then(|verified| verified.session_id().map(str::to_owned));
        self.sessions.lock().unwrap().push(session_id);
        let seen = verified.map(|verified| {
            (
                verified.subject().to_owned(),
                verified.claims().role.clone(),
            )
        });
        self.seen.lock().unwrap().push(seen);
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving.into(),
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

/// Cutoffs, a validator of HS256 tokens with [`Claims`], an issuer of such tokens, and the
/// [`Recorder`] to serve.
pub(crate) struct Fixture {
    pub(crate) cutoffs: CutoffCache,
    pub(crate) validator: Validator<Claims>,
    pub(crate) issuer: TokenIssuer,
    pub(crate) recorder: Recorder,
}

impl Fixture {
    /// Over a memory store.
    pub(crate) fn new() -> Self {
        Self::with_cutoffs(CutoffCache::new(MemoryStore::new()))
    }

    pub(crate) fn with_cutoffs(cutoffs: CutoffCache) -> Self {
        Self {
            validator: hs_validator(cutoffs.clone()).with_claims::<Claims>(),
            cutoffs,
            issuer: hs_issuer(),
            recorder: Recorder::default(),
        }
    }

    /// Health, reflection and the rest guarded.
    pub(crate) fn strict_layer(&self) -> GrpcJwtCutoffLayer<Claims> {
        GrpcJwtCutoffLayer::new(self.validator.clone()).guard_all()
    }

    /// An access token for `subject`, with the role `admin`.
    pub(crate) fn token(&self, subject: &str) -> String {
        self.issuer
            .issue_access(subject, &serde_json::json!({ "role": "admin" }))
            .unwrap()
            .token
    }

    pub(crate) fn service(&self) -> HealthServer<Recorder> {
        HealthServer::new(self.recorder.clone())
    }

    /// The server fixture: the [`Recorder`]'s health service behind `layer` server-wide, on
    /// 127.0.0.1:0; a channel to it.
    pub(crate) async fn serve(&self, layer: GrpcJwtCutoffLayer<Claims>) -> Channel {
        let service = self.service();
        serve_grpc(|incoming| {
            Server::builder()
                .layer(layer)
                .add_service(service)
                .serve_with_incoming(incoming)
        })
        .await
    }

    /// [`serve`](Self::serve) behind the [`strict_layer`](Self::strict_layer).
    pub(crate) async fn serve_strict(&self) -> Channel {
        self.serve(self.strict_layer()).await
    }

    /// A new fixture over a memory store, served behind the strict layer.
    pub(crate) async fn strict() -> (Self, Channel) {
        let fixture = Self::new();
        let channel = fixture.serve_strict().await;
        (fixture, channel)
    }
}

/// The call was refused with `code`, and a message naming `reason` (never PERMISSION_DENIED).
#[track_caller]
pub(crate) fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, Status>,
    code: Code,
    reason: Reason,
) {
    let status = result.expect_err("the call should have been refused");
    assert_ne!(status.code(), Code::PermissionDenied);
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), reason.description());
}

/// Every call in `cases`, each carrying its `authorization` values, is refused UNAUTHENTICATED for
/// its reason.
pub(crate) async fn assert_all_unauthenticated(
    channel: &Channel,
    cases: &[(Vec<Vec<u8>>, Reason)],
) {
    for (values, reason) in cases {
        let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let answer = health_check(channel, &values).await;
        assert_refused(answer, Code::Unauthenticated, *reason);
    }
}

/// A call without a token is refused UNAUTHENTICATED, as missing one.
pub(crate) async fn assert_anonymous_refused(channel: &Channel) {
    let answer = health_check(channel, &[]).await;
    assert_refused(answer, Code::Unauthenticated, Reason::MissingToken);
}

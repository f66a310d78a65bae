//! The gRPC API (`proto/demo.proto`), with tonic: `Account.WhoAmI` and `Account.LogoutAll`, behind
//! the same validator (so the same cutoff cache) as HTTP. Health stays open; reflection is served
//! but guarded like the API, so it needs an access token too:
//! `grpcurl -plaintext -H "authorization: Bearer $ACCESS" 127.0.0.1:50051 list` (grpcurl sends the
//! `-H` metadata on its reflection calls).

use std::future::Future;

use jwt_cutoff::CutoffCache;
use jwt_cutoff_tonic::{GrpcJwtCutoffLayer, RequestExt as _};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use crate::auth::{Auth, Profile};
use pb::account_server::AccountServer;

/// Code generated from `proto/demo.proto` by `build.rs`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
mod pb {
    tonic::include_proto!("jwtcutoff.demo.v1");
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("demo_descriptor");
}

struct Account {
    cutoffs: CutoffCache,
}

#[tonic::async_trait]
impl pb::account_server::Account for Account {
    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        // The layer let the call through, so its verified token is here.
        let verified = request.verified::<Profile>()?;
        Ok(Response::new(pb::WhoAmIResponse {
            sub: verified.subject().to_owned(),
            username: verified.claims().username().unwrap_or_default().to_owned(),
            iss: verified.trusted_issuer().unwrap_or_default().to_owned(),
            iat: verified.issued_at().as_unix_secs_f64(),
            exp: verified.expires_at().as_unix_secs(),
        }))
    }

    async fn logout_all(
        &self,
        request: Request<pb::LogoutAllRequest>,
    ) -> Result<Response<pb::LogoutAllResponse>, Status> {
        let subject = request.verified::<Profile>()?.cutoff_subject();
        self.cutoffs
            .logout_all(subject)
            .await
            .map_err(|_| Status::unavailable("the cutoff store is unavailable"))?;
        Ok(Response::new(pb::LogoutAllResponse {}))
    }
}

/// Serves gRPC on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    listener: TcpListener,
    auth: &Auth,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<AccountServer<Account>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|error| error.to_string())?;
    let account = Account {
        cutoffs: auth.cutoffs.clone(),
    };
    Server::builder()
        // Guards every service below except health: reflection, which hands out the schema, too.
        .layer(GrpcJwtCutoffLayer::new(auth.access.clone()))
        .add_service(health)
        .add_service(reflection)
        .add_service(AccountServer::new(account))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
        .map_err(|error| error.to_string())
}

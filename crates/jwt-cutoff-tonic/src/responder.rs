//! [`GrpcResponder`]: refusals as trailers-only gRPC responses.

use http::Response;
use jwt_cutoff::{Reason, Rejection, Responder};
use tonic::Status;

/// The gRPC [`Status`] for a refused request.
///
/// - [`Reason::Unavailable`] (the cutoff store could not answer) and [`Reason::KeysUnavailable`]
///   (the issuer's keys could not be fetched): `UNAVAILABLE` (14), so clients retry.
/// - [`Reason::ServerError`] (the server could not finish an auth step, never the client's
///   fault): `INTERNAL` (13).
/// - Every other reason (no token, a malformed `authorization` value, several of them, a bad,
///   expired or revoked token, a refused subject): `UNAUTHENTICATED` (16). gRPC has no "bad
///   request" for credentials, and a refusal here is never `PERMISSION_DENIED`.
///
/// The message is the reason's short [description](Reason::description): it never holds the token.
///
/// Use it to shape your own answers, in a closure passed to
/// [`GrpcJwtCutoffLayer::responder`](crate::GrpcJwtCutoffLayer::responder):
///
/// ```
/// use jwt_cutoff::{Rejection, Validator};
/// use jwt_cutoff_tonic::{GrpcJwtCutoffLayer, rejection_status};
/// use tonic::metadata::MetadataValue;
///
/// fn layer(validator: Validator) -> GrpcJwtCutoffLayer<jwt_cutoff::NoClaims, impl jwt_cutoff::Responder<tonic::body::Body>> {
///     GrpcJwtCutoffLayer::new(validator).responder(|rejection: &Rejection| {
///         let mut status = rejection_status(rejection);
///         let reason = MetadataValue::from_static(rejection.reason().as_str());
///         status.metadata_mut().insert("x-auth-reason", reason);
///         status.into_http::<tonic::body::Body>()
///     })
/// }
/// ```
#[must_use]
pub fn rejection_status(rejection: &Rejection) -> Status {
    let reason = rejection.reason();
    match reason {
        Reason::Unavailable | Reason::KeysUnavailable => Status::unavailable(reason.description()),
        Reason::ServerError => Status::internal(reason.description()),
        _ => Status::unauthenticated(reason.description()),
    }
}

/// Answers refused requests as gRPC does: a trailers-only response (`grpc-status` and
/// `grpc-message` in the headers, no body) with the status of [`rejection_status`].
///
/// Works with any body type that has a [`Default`] (an empty body), such as
/// [`tonic::body::Body`].
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcResponder {
    _private: (),
}

impl GrpcResponder {
    /// The responder.
    #[must_use]
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl<B: Default> Responder<B> for GrpcResponder {
    fn respond(&self, rejection: &Rejection) -> Response<B> {
        rejection_status(rejection).into_http()
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use tonic::Code;
    use tonic::codegen::Body as _;

    use super::*;

    #[test]
    fn refused_tokens_are_unauthenticated_and_a_store_outage_unavailable() {
        let token_reasons = Reason::ALL.iter().filter(|reason| {
            !matches!(
                reason,
                Reason::Unavailable | Reason::KeysUnavailable | Reason::ServerError
            )
        });
        for &reason in token_reasons {
            let status = rejection_status(&Rejection::new(reason));
            assert_eq!(status.code(), Code::Unauthenticated, "{reason}");
            assert_eq!(status.message(), reason.description());
        }
        for reason in [Reason::Unavailable, Reason::KeysUnavailable] {
            let status = rejection_status(&Rejection::new(reason));
            assert_eq!(status.code(), Code::Unavailable);
            assert_eq!(status.message(), reason.description());
        }
        let status = rejection_status(&Rejection::new(Reason::ServerError));
        assert_eq!(
            status.code(),
            Code::Internal,
            "the server's fault, not the client's"
        );
    }

    #[test]
    fn the_response_is_trailers_only() {
        let response: Response<tonic::body::Body> =
            GrpcResponder::new().respond(&Rejection::new(Reason::Revoked));
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers["content-type"], "application/grpc");
        assert_eq!(headers["grpc-status"], "16");
        assert_eq!(
            headers["grpc-message"],
            "the%20token%20has%20been%20revoked"
        );
        assert!(response.body().is_end_stream());
    }
}

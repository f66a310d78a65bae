//! [`GrpcJwtCutoffLayer`]: the core layer with gRPC answers, and services left unguarded by name.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use jwt_cutoff::{Bypass, JwtCutoff, JwtCutoffLayer, NoClaims, Validator};
use tonic::server::NamedService;
use tower_layer::Layer;
use tower_service::Service;

use crate::responder::GrpcResponder;

/// The services a [`GrpcJwtCutoffLayer`] leaves unguarded unless told otherwise: gRPC health
/// checking alone.
///
/// Server reflection is not in it: it hands the whole schema (every service, method and message)
/// to whoever asks. Open it with
/// [`unguarded_reflection`](GrpcJwtCutoffLayer::unguarded_reflection) if you want that.
pub const DEFAULT_UNGUARDED_SERVICES: &[&str] = &["grpc.health.v1.Health"];

/// Both versions of gRPC server reflection, the services that
/// [`unguarded_reflection`](GrpcJwtCutoffLayer::unguarded_reflection) leaves unguarded.
pub const REFLECTION_SERVICES: &[&str] = &[
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Guards gRPC services: [`JwtCutoffLayer`] with [`GrpcResponder`] answers, plus a list of services
/// it lets through untouched.
///
/// Every check is the core layer's. Refused calls get a trailers-only response: `UNAUTHENTICATED`
/// for a missing, malformed, invalid or revoked token, `UNAVAILABLE` when the cutoff store cannot
/// answer. Accepted calls reach the service with a [`Verified<C>`](jwt_cutoff::Verified) in their
/// extensions; read it with [`RequestExt::verified`](crate::RequestExt::verified).
///
/// Apply it to every service with `Server::builder().layer(..)`, or to one service with
/// [`Layer::layer`] (the wrapped service is still a [`NamedService`], so `add_service` takes it).
///
/// # Unguarded services
///
/// Calls to the services in [`DEFAULT_UNGUARDED_SERVICES`] (gRPC health) pass without a token, so
/// load balancers keep working when the layer guards the whole server. The service is the first
/// segment of the request path (`/grpc.health.v1.Health/Check`), compared exactly, the same segment
/// tonic routes by. Add your own with [`unguarded_service`](Self::unguarded_service); guard
/// everything with [`guard_all`](Self::guard_all). The list applies to a layer put on one service
/// too: a default layer wrapped around the health service alone leaves it open.
///
/// # Server reflection
///
/// Reflection is guarded like any other service by default, since it tells anyone who asks every
/// service, method and message the server has. Clients that send a token keep using it: `grpcurl`
/// sends its `-H` metadata on reflection calls too, so
/// `grpcurl -H "authorization: Bearer $TOKEN" host:port list` works. To leave both versions
/// ([`REFLECTION_SERVICES`]) open to calls without a token, as for a local development server, opt
/// in with [`unguarded_reflection`](Self::unguarded_reflection).
///
/// ```
/// use jwt_cutoff::Validator;
/// use jwt_cutoff_tonic::GrpcJwtCutoffLayer;
///
/// fn layers(validator: Validator) -> [GrpcJwtCutoffLayer; 3] {
///     // Health open, everything else (reflection included) guarded.
///     let server_wide = GrpcJwtCutoffLayer::new(validator.clone());
///     // Health and reflection open, everything else guarded.
///     let development = GrpcJwtCutoffLayer::new(validator.clone()).unguarded_reflection();
///     // Nothing open but a public catalogue service.
///     let strict = GrpcJwtCutoffLayer::new(validator)
///         .guard_all()
///         .unguarded_service("shop.v1.Catalogue");
///     [server_wide, development, strict]
/// }
/// ```
#[must_use]
pub struct GrpcJwtCutoffLayer<C = NoClaims, R = GrpcResponder> {
    inner: JwtCutoffLayer<C, R>,
    unguarded: UnguardedServices,
}

impl<C, R: Clone> Clone for GrpcJwtCutoffLayer<C, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            unguarded: self.unguarded.clone(),
        }
    }
}

impl<C, R: fmt::Debug> fmt::Debug for GrpcJwtCutoffLayer<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcJwtCutoffLayer")
            .field("inner", &self.inner)
            .field("unguarded", &self.unguarded)
            .finish()
    }
}

impl<C> GrpcJwtCutoffLayer<C> {
    /// A layer that checks every call with `validator`, except gRPC health (see
    /// [`DEFAULT_UNGUARDED_SERVICES`]).
    pub fn new(validator: Validator<C>) -> Self {
        let unguarded = DEFAULT_UNGUARDED_SERVICES
            .iter()
            .map(|&name| name.to_owned());
        Self {
            inner: JwtCutoffLayer::new(validator).responder(GrpcResponder::new()),
            unguarded: UnguardedServices(Arc::new(unguarded.collect())),
        }
    }
}

impl<C, R> GrpcJwtCutoffLayer<C, R> {
    /// Answers refused calls with `responder` instead: a closure
    /// `Fn(&Rejection) -> http::Response<B>` or any [`Responder`](jwt_cutoff::Responder). Start from
    /// [`rejection_status`](crate::rejection_status) to keep the gRPC codes.
    pub fn responder<T>(self, responder: T) -> GrpcJwtCutoffLayer<C, T> {
        GrpcJwtCutoffLayer {
            inner: self.inner.responder(responder),
            unguarded: self.unguarded,
        }
    }

    /// Lets calls without any bearer token through, without a [`Verified`](jwt_cutoff::Verified)
    /// in their extensions. A token that is present but invalid or revoked is still refused.
    pub fn optional(mut self) -> Self {
        self.inner = self.inner.optional();
        self
    }

    /// Lets calls to the service with this full name (`package.Service`, as in the generated
    /// `SERVICE_NAME` constants) through without any check.
    pub fn unguarded_service(mut self, name: impl Into<String>) -> Self {
        self.unguarded.unguard(name.into());
        self
    }

    /// Lets calls to gRPC server reflection, both v1 and v1alpha ([`REFLECTION_SERVICES`]),
    /// through without any check.
    ///
    /// Anyone who reaches the server can then read its whole schema. Without this, reflection
    /// needs a token like any other service.
    pub fn unguarded_reflection(mut self) -> Self {
        for &name in REFLECTION_SERVICES {
            self.unguarded.unguard(name.to_owned());
        }
        self
    }

    /// Guards every service, health included (until
    /// [`unguarded_service`](Self::unguarded_service) or
    /// [`unguarded_reflection`](Self::unguarded_reflection) opens some again).
    pub fn guard_all(mut self) -> Self {
        self.unguarded = UnguardedServices(Arc::new(Vec::new()));
        self
    }

    /// The services this layer lets through without any check.
    pub fn unguarded_services(&self) -> impl Iterator<Item = &str> {
        self.unguarded.0.iter().map(String::as_str)
    }

    /// The validator every guarded call goes through.
    #[must_use]
    pub fn validator(&self) -> &Validator<C> {
        self.inner.validator()
    }
}

impl<S, C, R: Clone> Layer<S> for GrpcJwtCutoffLayer<C, R> {
    type Service = GrpcJwtCutoff<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        let guarded = self.inner.clone().bypass(self.unguarded.clone());
        GrpcJwtCutoff(guarded.layer(inner))
    }
}

/// The services left unguarded, by full name: the core layer's [`Bypass`] for gRPC.
///
/// The service is the first segment of the request path (`/grpc.health.v1.Health/Check`),
/// compared exactly: the segment tonic routes by.
#[derive(Clone, Debug)]
pub struct UnguardedServices(Arc<Vec<String>>);

impl UnguardedServices {
    fn unguard(&mut self, name: String) {
        let names = Arc::make_mut(&mut self.0);
        if !names.contains(&name) {
            names.push(name);
        }
    }

    fn is_unguarded(&self, path: &str) -> bool {
        let Some((service, _method)) = path.strip_prefix('/').and_then(|rest| rest.split_once('/'))
        else {
            return false;
        };
        self.0.iter().any(|name| name == service)
    }
}

impl<B> Bypass<B> for UnguardedServices {
    fn bypass(&self, request: &Request<B>) -> bool {
        self.is_unguarded(request.uri().path())
    }
}

/// The service made by [`GrpcJwtCutoffLayer`]: the core [`JwtCutoff`] service, which lets the
/// unguarded services through, under the wrapped service's name.
pub struct GrpcJwtCutoff<S, C = NoClaims, R = GrpcResponder>(JwtCutoff<S, C, R, UnguardedServices>);

impl<S, C, R> GrpcJwtCutoff<S, C, R> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        self.0.get_ref()
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.0.get_mut()
    }

    /// The wrapped service, by value.
    pub fn into_inner(self) -> S {
        self.0.into_inner()
    }
}

impl<S: Clone, C, R: Clone> Clone for GrpcJwtCutoff<S, C, R> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S: fmt::Debug, C, R: fmt::Debug> fmt::Debug for GrpcJwtCutoff<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("GrpcJwtCutoff").field(&self.0).finish()
    }
}

/// Keeps the wrapped service's name, so a guarded service can be passed to `add_service`.
impl<S: NamedService, C, R> NamedService for GrpcJwtCutoff<S, C, R> {
    const NAME: &'static str = S::NAME;
}

impl<S, C, R, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcJwtCutoff<S, C, R>
where
    JwtCutoff<S, C, R, UnguardedServices>: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = <JwtCutoff<S, C, R, UnguardedServices> as Service<Request<ReqBody>>>::Error;
    type Future = <JwtCutoff<S, C, R, UnguardedServices> as Service<Request<ReqBody>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.0.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_cutoff::{Algorithm, CutoffCache, MemoryStore, VerifyingKey};

    fn service(layer: GrpcJwtCutoffLayer) -> UnguardedServices {
        layer.unguarded
    }

    fn validator() -> Validator {
        Validator::builder()
            .algorithms([Algorithm::HS256])
            .key(
                VerifyingKey::hmac(b"an access secret of at least 32 bytes")
                    .unwrap_or_else(|_| unreachable!()),
            )
            .build(CutoffCache::new(MemoryStore::new()))
            .unwrap_or_else(|_| unreachable!())
    }

    const REFLECTION_PATHS: [&str; 2] = [
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ];

    #[test]
    fn only_health_is_unguarded_by_default() {
        let layer = GrpcJwtCutoffLayer::new(validator());
        assert_eq!(
            layer.unguarded_services().collect::<Vec<_>>(),
            [tonic_health::pb::health_server::SERVICE_NAME]
        );
        let service = service(layer);
        assert!(service.is_unguarded("/grpc.health.v1.Health/Check"));
        assert!(service.is_unguarded("/grpc.health.v1.Health/Watch"));
        // Reflection serves the whole schema: it needs a token like any other service.
        for path in REFLECTION_PATHS {
            assert!(!service.is_unguarded(path), "{path}");
        }
    }

    #[test]
    fn reflection_is_unguarded_on_request() {
        assert_eq!(
            REFLECTION_SERVICES,
            [
                tonic_reflection::pb::v1::server_reflection_server::SERVICE_NAME,
                tonic_reflection::pb::v1alpha::server_reflection_server::SERVICE_NAME,
            ]
        );
        let layer = GrpcJwtCutoffLayer::new(validator())
            .unguarded_reflection()
            .unguarded_reflection();
        assert_eq!(
            layer.unguarded_services().collect::<Vec<_>>(),
            [
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ]
        );
        let service = service(layer);
        assert!(service.is_unguarded("/grpc.health.v1.Health/Check"));
        for path in REFLECTION_PATHS {
            assert!(service.is_unguarded(path), "{path}");
        }
        assert!(!service.is_unguarded("/hello.v1.Greeter/SayHello"));
    }

    #[test]
    fn guard_all_and_unguarded_reflection_apply_in_order() {
        let reflection_only = service(
            GrpcJwtCutoffLayer::new(validator())
                .guard_all()
                .unguarded_reflection(),
        );
        assert!(!reflection_only.is_unguarded("/grpc.health.v1.Health/Check"));
        for path in REFLECTION_PATHS {
            assert!(reflection_only.is_unguarded(path), "{path}");
        }

        let nothing = GrpcJwtCutoffLayer::new(validator())
            .unguarded_reflection()
            .guard_all();
        assert_eq!(nothing.unguarded_services().count(), 0);
    }

    #[test]
    fn only_the_exact_service_segment_is_unguarded() {
        let service = service(GrpcJwtCutoffLayer::new(validator()));
        for path in [
            "/grpc.health.v1.HealthX/Check",
            "/grpc.health.v1.Health",
            "grpc.health.v1.Health/Check",
            "/x/grpc.health.v1.Health/Check",
            "/grpc.health.v1/Health/Check",
            "//grpc.health.v1.Health/Check",
            "/GRPC.health.v1.Health/Check",
            "/hello.v1.Greeter/SayHello",
            "/",
            "",
        ] {
            assert!(!service.is_unguarded(path), "{path}");
        }
    }

    #[test]
    fn the_list_is_configurable() {
        let layer = GrpcJwtCutoffLayer::new(validator()).guard_all();
        assert_eq!(layer.unguarded_services().count(), 0);
        assert!(!service(layer.clone()).is_unguarded("/grpc.health.v1.Health/Check"));

        let layer = layer
            .unguarded_service("hello.v1.Public")
            .unguarded_service("hello.v1.Public");
        assert_eq!(
            layer.unguarded_services().collect::<Vec<_>>(),
            ["hello.v1.Public"]
        );
        assert!(service(layer).is_unguarded("/hello.v1.Public/Get"));
    }
}

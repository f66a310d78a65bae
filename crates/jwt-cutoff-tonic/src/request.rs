//! [`RequestExt`]: the verified token of a call, in one line of a handler.

use jwt_cutoff::{Reason, Verified};
use tonic::{Request, Status};

/// Reads what [`GrpcJwtCutoffLayer`](crate::GrpcJwtCutoffLayer) left in a call's extensions.
///
/// ```
/// use jwt_cutoff::{NoClaims, Verified};
/// use jwt_cutoff_tonic::RequestExt as _;
/// use tonic::{Request, Status};
///
/// fn greeting(request: &Request<()>) -> Result<String, Status> {
///     let verified = request.verified::<NoClaims>()?;
///     // The login this token belongs to (its `sid`), to sign that one device out.
///     let device = verified.session_id().unwrap_or("a token without a session");
///     Ok(format!("hello {} on {device}", verified.subject()))
/// }
///
/// // Without the layer (or with an optional layer and no token) there is nothing to read.
/// let status = greeting(&Request::new(())).unwrap_err();
/// assert_eq!(status.code(), tonic::Code::Unauthenticated);
/// ```
pub trait RequestExt: sealed::Sealed {
    /// The verified token of this call, with the application's claims `C` (the claims type of the
    /// layer's [`Validator`](jwt_cutoff::Validator); [`NoClaims`](jwt_cutoff::NoClaims) by
    /// default).
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when there is none: the layer is optional and the call had no token, the
    /// layer does not guard this service, or it reads claims of another type than `C`.
    fn verified<C: Send + Sync + 'static>(&self) -> Result<&Verified<C>, Status>;
}

impl<T> RequestExt for Request<T> {
    fn verified<C: Send + Sync + 'static>(&self) -> Result<&Verified<C>, Status> {
        self.extensions()
            .get::<Verified<C>>()
            .ok_or_else(|| Status::unauthenticated(Reason::MissingToken.description()))
    }
}

mod sealed {
    pub trait Sealed {}
    impl<T> Sealed for tonic::Request<T> {}
}

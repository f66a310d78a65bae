//! A plain tower service guarded by `JwtCutoffLayer`: a token works, "log out from all devices"
//! refuses it, and a token minted right after works again, all within one second.
//!
//! Run with `cargo run -p example-quickstart`.

use std::convert::Infallible;

use http::{Request, Response, StatusCode, header};
use jwt_cutoff::{
    Algorithm, CutoffCache, JwtCutoffLayer, MemoryStore, SigningKey, TokenIssuer, Validator,
    Verified, VerifyingKey,
};
use tower::{ServiceBuilder, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = b"an example secret of at least 32 bytes";
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = Validator::builder()
        .algorithms([Algorithm::HS256])
        .key(VerifyingKey::hmac(secret)?)
        .build(cutoffs.clone())?;
    let service = ServiceBuilder::new()
        .layer(JwtCutoffLayer::new(validator))
        .service_fn(|request: Request<String>| async move {
            let verified = request.extensions().get::<Verified>();
            let subject = verified.map(Verified::subject).unwrap_or_default();
            Ok::<_, Infallible>(Response::new(format!("hello {subject}")))
        });
    let issuer = TokenIssuer::builder(SigningKey::hmac(secret, Algorithm::HS256)?).build()?;

    let call = |token: String| {
        let service = service.clone();
        async move {
            let request = Request::get("/")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(String::new())?;
            let response = service.oneshot(request).await?;
            Ok::<_, Box<dyn std::error::Error>>(response.status())
        }
    };

    let laptop = issuer.issue_access("alice", &())?.token;
    let phone = issuer.issue_access("alice", &())?.token;
    println!(
        "laptop token before logout:  {}",
        call(laptop.clone()).await?
    );
    println!(
        "phone token before logout:   {}",
        call(phone.clone()).await?
    );

    let cutoff = cutoffs.logout_all("alice").await?;
    println!("alice logged out from all devices: her tokens are {cutoff}");
    println!("laptop token after logout:   {}", call(laptop).await?);
    println!("phone token after logout:    {}", call(phone).await?);

    let fresh = issuer.issue_access("alice", &())?.token;
    let status = call(fresh).await?;
    println!("token minted after logout:   {status}");
    assert_eq!(status, StatusCode::OK);
    Ok(())
}

//! Compiles `proto/demo.proto` with protox (pure Rust: no `protoc` needed): the server for the
//! binary, and a client (in `OUT_DIR/client`) for the integration tests.

use std::path::PathBuf;

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let descriptors = protox::compile(["demo.proto"], ["proto"])?;
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    // Kept for the reflection service, so grpcurl can list and describe the API.
    std::fs::write(
        out_dir.join("demo_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors.clone())?;
    let client_dir = out_dir.join("client");
    std::fs::create_dir_all(&client_dir)?;
    tonic_prost_build::configure()
        .build_server(false)
        .out_dir(client_dir)
        .compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}

//! Generates the gRPC types from proto/ with the vendored protoc.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let protos =
        ["logs/ingest/v1/ingest.proto", "logs/query/v1/query.proto", "logs/stats/v1/stats.proto"];
    println!("cargo:rerun-if-changed={}", root.display());
    for p in &protos {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    // The vendored protoc: no system package needed.
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("loglens_descriptor.bin"))
        // One set of types for gRPC and REST: the gateway serialises these directly.
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]")
        .message_attribute(".", "#[serde(default)]")
        // An attribute value is its bare scalar in JSON.
        .message_attribute(".logs.ingest.v1.AttributeValue", "#[serde(transparent)]")
        .type_attribute(".logs.ingest.v1.AttributeValue.value", "#[serde(untagged)]")
        // Only Tail sets it; `GET /logs` replies stay as they were.
        .field_attribute(
            ".logs.query.v1.LogEntry.tail_position",
            "#[serde(skip_serializing_if = \"String::is_empty\")]",
        )
        .compile_with_config(config, &protos.map(|p| root.join(p)), &[root])?;
    Ok(())
}

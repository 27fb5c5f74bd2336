//! The REST API's JSON request bodies, as axum's Json extractor deserialises them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vcc_pki_proto as proto;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<proto::CaCreateRequest>(data);
    let _ = serde_json::from_slice::<proto::UnlockRequest>(data);
    let _ = serde_json::from_slice::<proto::IssueRequest>(data);
    let _ = serde_json::from_slice::<proto::RenewRequest>(data);
    let _ = serde_json::from_slice::<proto::RevokeRequest>(data);
    let _ = serde_json::from_slice::<proto::RegisterRequest>(data);
    let _ = serde_json::from_slice::<proto::CreateTokenRequest>(data);
    let _ = serde_json::from_slice::<proto::RenewalWindowMoveRequest>(data);
    let _ = serde_json::from_slice::<proto::EabKeyCreateRequest>(data);
    let _ = serde_json::from_slice::<proto::IntermediateImportRequest>(data);
});

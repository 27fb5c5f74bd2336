//! OCSP request parsing (RFC 6960 over POST and GET), and the response reader the CLI uses.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = vcc_pki_core::ocsp::parse_request(data) {
        assert!(
            !request.queries.is_empty(),
            "a parsed request names a certificate"
        );
    }
    let _ = vcc_pki_core::ocsp::read_response(data);
});

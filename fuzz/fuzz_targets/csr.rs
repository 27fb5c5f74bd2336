//! CSR parsing and checks: DER and PEM, as `POST /api/certificates/issue-csr` and ACME finalize
//! take them. Any input must end in Ok or a CoreError, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = vcc_pki_core::csr::verify_csr_der(data) {
        // Whatever verified must describe itself without panicking.
        let _ = format!("{csr:?}");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vcc_pki_core::csr::verify_csr_pem(text);
    }
});

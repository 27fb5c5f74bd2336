//! ACME's flattened JWS (RFC 8555 §6.2): parsing, the embedded JWK's thumbprint, and verification
//! against that key.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(jws) = vcc_pki_acme::Jws::parse(data) else {
        return;
    };
    if let Some(jwk) = jws.protected.jwk.clone() {
        let _ = vcc_pki_acme::thumbprint(&jwk);
        let _ = jws.verify(&jwk);
    }
});

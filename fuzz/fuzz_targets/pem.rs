//! PEM input: certificate bundles and private keys as the CLI, the import endpoint and the
//! ceremony read them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for label in ["CERTIFICATE", "CERTIFICATE REQUEST", "X509 CRL"] {
        if let Ok(blocks) = vcc_pki_core::pem_decode_all(text, label) {
            for der in blocks {
                // What decoded encodes back to the same bytes.
                let again = vcc_pki_core::pem_encode(label, &der);
                let back = vcc_pki_core::pem_decode_all(&again, label).expect("own PEM decodes");
                assert_eq!(back, vec![der]);
            }
        }
    }
    let _ = vcc_pki_core::keys::private_key_from_pem(text);
});

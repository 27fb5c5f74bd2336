//! Keys generated in a SoftHSM2 token sign certificates that verify, stay non-extractable, and
//! are found again by URI. One test function: one PKCS#11 context per process.
use rcgen::{CertificateParams, PublicKeyData};
use std::process::Command;
use vcc_pki_core::KeyType;
use vcc_pki_pkcs11::{KeyUri, Pkcs11Key};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

#[test]
fn softhsm_keys_sign_verifiable_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tokens.display()
        ),
    )
    .unwrap();
    // Set before the module is loaded: SoftHSM reads it in C_Initialize.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let init = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "vcc-ca",
            "--pin",
            "246810",
            "--so-pin",
            "13579",
        ])
        .output()
        .expect("softhsm2-util (Debian softhsm2) is installed");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "246810\n").unwrap();
    let uri = |object: &str| {
        KeyUri::parse(&format!(
            "pkcs11:token=vcc-ca;object={object}?module-path={MODULE}&pin-source=file:{}",
            pin.display()
        ))
        .unwrap()
    };

    for (object, key_type) in [
        ("p256", KeyType::EcdsaP256),
        ("p384", KeyType::EcdsaP384),
        ("rsa", KeyType::Rsa2048),
    ] {
        let key = Pkcs11Key::generate(&uri(object), key_type).unwrap();
        assert_eq!(key.key_type(), key_type);
        let mut params = CertificateParams::new(vec!["hsm.test".to_string()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        parsed
            .verify_signature(None)
            .unwrap_or_else(|e| panic!("{object}: the token's signature does not verify: {e}"));
        assert_eq!(
            parsed.public_key().raw,
            key.subject_public_key_info().as_slice()
        );

        // Found again by URI, with the same public key; a second generate under the label is refused.
        let again = Pkcs11Key::open(&uri(object)).unwrap();
        assert_eq!(again.der_bytes(), key.der_bytes());
        assert!(Pkcs11Key::generate(&uri(object), key_type).is_err());

        // The private key is sensitive and not extractable, and the token will not hand it out.
        let p = again.protection().unwrap();
        assert!(
            p.sensitive && !p.extractable && p.never_extractable,
            "{object}: {p:?}"
        );
        assert!(
            !p.value_readable,
            "{object}: the token returned the private value"
        );
    }

    // A wrong PIN is a clear error, not a crash; an unknown label and token too.
    std::fs::write(&pin, "000000\n").unwrap();
    let err = Pkcs11Key::open(&uri("p256-other")).unwrap_err().to_string();
    assert!(err.contains("refused the PIN"), "{err}");
    std::fs::write(&pin, "246810\n").unwrap();
    let err = Pkcs11Key::open(&uri("missing")).unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");
    let other_token = KeyUri::parse(&format!(
        "pkcs11:token=nope;object=p256?module-path={MODULE}&pin-source=file:{}",
        pin.display()
    ))
    .unwrap();
    let err = Pkcs11Key::open(&other_token).unwrap_err().to_string();
    assert!(err.contains("no token"), "{err}");
}

//! The offline root (issue #17, SPEC §12): `vcc-pki ceremony root|sign|crl` in a directory the
//! server never sees, `ca create-intermediate --csr-out` and `ca import-intermediate` against a
//! running server. The root's key never reaches the server's store or data dir; openssl accepts
//! the chain and the root's CRL, and rejects an intermediate the root's CRL revokes.
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use vcc_pki_testkit::*;

const ROOT_PASSWORD: &str = "the root's own long passphrase";

/// The CLI, with `password` as VCC_CA_PASSWORD.
fn cli(args: &[&str], password: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("VCC_CA_PASSWORD")
        .env_remove("VCC_PKI_DATABASE_URL")
        .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("VCC_CA_PASSWORD", p);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn ceremony_config(dir: &Path, revoked: &str) {
    std::fs::write(
        dir.join("ceremony.toml"),
        format!(
            r#"
[root]
common_name = "Offline Test Root"
country = "DE"
organization = "VCC"
key_type = "ecdsa-p384"
validity_years = 20
certificate = "root.crt"
key = "root.key"

[intermediate]
common_name = "Online Issuing CA"
country = "DE"
organization = "VCC"
validity_years = 5

[crl]
file = "root.crl"
next_update_days = 180
{revoked}
"#
        ),
    )
    .unwrap();
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn an_offline_root_signs_the_servers_issuing_ca_and_its_key_never_reaches_the_server() {
    let offline = tempfile::tempdir().unwrap();
    let off = offline.path();
    ceremony_config(off, "");
    let config = off.join("ceremony.toml");
    let config = config.to_str().unwrap();

    // The root, offline. Without a password the key file cannot be made; nothing is written.
    let (ok, out) = cli(&["ceremony", "root", "--config", config], None);
    assert!(!ok && out.contains("CA password"), "{out}");
    assert!(!off.join("root.crt").exists());
    let (ok, out) = cli(
        &["ceremony", "root", "--config", config],
        Some(ROOT_PASSWORD),
    );
    assert!(ok, "{out}");
    let key_pem = std::fs::read_to_string(off.join("root.key")).unwrap();
    assert!(key_pem.contains("ENCRYPTED PRIVATE KEY"), "{key_pem}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(off.join("root.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // A second `ceremony root` never overwrites the root.
    let (ok, out) = cli(
        &["ceremony", "root", "--config", config],
        Some(ROOT_PASSWORD),
    );
    assert!(!ok && out.contains("never overwrites"), "{out}");
    // The root key's DER, to look for on the server later.
    let root_key_der = {
        let (ok, out) = run(
            "openssl",
            &[
                "pkey",
                "-in",
                off.join("root.key").to_str().unwrap(),
                "-passin",
                &format!("pass:{ROOT_PASSWORD}"),
                "-outform",
                "DER",
                "-out",
                off.join("root.der").to_str().unwrap(),
            ],
        );
        assert!(ok, "{out}");
        std::fs::read(off.join("root.der")).unwrap()
    };

    // The server: no CA yet; it makes the issuing CA's key and a CSR.
    let mut server = TestServer::start_public(Some(PASSWORD));
    let data = server.data_dir();
    let data_arg = data.to_str().unwrap();
    let global = ["--server", server.url.as_str(), "--data-dir", data_arg];
    let csr = off.join("intermediate.csr");
    let mut args = global.to_vec();
    args.extend([
        "ca",
        "create-intermediate",
        "--cn",
        "Online Issuing CA",
        "--country",
        "DE",
        "--org",
        "VCC",
        "--key-type",
        "ecdsa-p256",
        "--csr-out",
        csr.to_str().unwrap(),
    ]);
    let (ok, out) = cli(&args, Some(PASSWORD));
    assert!(ok, "{out}");
    // Online creation is refused until a root exists; the server holds no key for one.
    let (s, refused) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "billing", "common_name": "billing.internal"})),
        )
        .await;
    assert!(s >= 400, "{refused}");

    // Offline: a CSR whose CN is not what [intermediate] says is refused; the right one is signed.
    let (_, wrong_csr) = openssl_csr(
        off,
        "wrong",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "Someone Else",
        "",
        &[],
    );
    let wrong = tempfile::NamedTempFile::new_in(off).unwrap();
    std::fs::write(wrong.path(), wrong_csr).unwrap();
    let chain_path = off.join("intermediate-chain.pem");
    let chain_arg = chain_path.to_str().unwrap();
    let (ok, out) = cli(
        &[
            "ceremony",
            "sign",
            "--config",
            config,
            "--csr",
            wrong.path().to_str().unwrap(),
            "--out",
            chain_arg,
        ],
        Some(ROOT_PASSWORD),
    );
    assert!(!ok && out.contains("CN=Someone Else"), "{out}");
    let (ok, out) = cli(
        &[
            "ceremony",
            "sign",
            "--config",
            config,
            "--csr",
            csr.to_str().unwrap(),
            "--out",
            chain_arg,
        ],
        Some(ROOT_PASSWORD),
    );
    assert!(ok, "{out}");

    // Back online — after a restart without the CA password: the import brings it.
    server.restart(None);
    let global = ["--server", server.url.as_str(), "--data-dir", data_arg];
    // A certificate for a key this server did not make is refused.
    let stranger = {
        let (_, pem) = openssl_csr(
            off,
            "stranger",
            &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "Online Issuing CA",
            "",
            &[],
        );
        let f = off.join("stranger.csr");
        std::fs::write(&f, pem).unwrap();
        let out_path = off.join("stranger-chain.pem");
        let (ok, out) = cli(
            &[
                "ceremony",
                "sign",
                "--config",
                config,
                "--csr",
                f.to_str().unwrap(),
                "--out",
                out_path.to_str().unwrap(),
            ],
            Some(ROOT_PASSWORD),
        );
        assert!(ok, "{out}");
        out_path
    };
    let mut args = global.to_vec();
    args.extend([
        "ca",
        "import-intermediate",
        "--cert",
        stranger.to_str().unwrap(),
    ]);
    let (ok, out) = cli(&args, Some(PASSWORD));
    assert!(
        !ok && out.contains("no key on this server matches"),
        "{out}"
    );
    assert_eq!(server.count("intermediate_ca"), 0);
    assert_eq!(server.count("root_ca"), 0);

    let mut args = global.to_vec();
    args.extend(["ca", "import-intermediate", "--cert", chain_arg]);
    let (ok, out) = cli(&args, Some(PASSWORD));
    assert!(ok, "{out}");
    let (_, info) = server.admin("GET", "/api/ca/info", None).await;
    assert_eq!(info["root"]["key_storage"], "offline", "{info}");
    assert_eq!(info["intermediate"]["key_storage"], "store");
    assert_eq!(
        info["sealed"], false,
        "an offline root is not a sealed CA: {info}"
    );
    assert_eq!(info["chain_status"], "complete");

    // Issuance chains to the offline root: openssl verifies against the ceremony's root.crt.
    let (s, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "billing", "common_name": "billing.internal"})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let root_pem = std::fs::read_to_string(off.join("root.crt")).unwrap();
    let chain = issued["ca_chain_pem"].as_str().unwrap();
    let cert = issued["certificate_pem"].as_str().unwrap();
    let (ok, out) = openssl_verify(server.dir.path(), &root_pem, chain, cert, None);
    assert!(ok, "{out}");

    // The root's key is nowhere on the server: not in the store, not in any file of its data dir.
    assert_eq!(
        server.sql("SELECT length(encrypted_private_key) FROM root_ca"),
        "0"
    );
    assert_eq!(server.count("pending_intermediate_ca"), 0);
    let key_body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for path in files(&data) {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes).replace(['\n', '\r'], "");
        assert!(
            !text.contains(&key_body[..64]),
            "the root's encrypted key is in {}",
            path.display()
        );
        assert!(
            !bytes
                .windows(root_key_der.len())
                .any(|w| w == root_key_der.as_slice()),
            "the root's key is in {}",
            path.display()
        );
    }

    // `db verify` reports the offline root as such, and opens the intermediate's key.
    let (ok, out) = cli(&["--data-dir", data_arg, "db", "verify"], Some(PASSWORD));
    if server.database_url.is_none() {
        assert!(ok && out.contains("is offline"), "{out}");
    }

    // The root's CRL, offline: numbered 1, then 2 with the issuing CA revoked.
    let (ok, out) = cli(
        &["ceremony", "crl", "--config", config, "--output", "json"],
        Some(ROOT_PASSWORD),
    );
    assert!(ok, "{out}");
    let crl1: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(crl1["crl_number"], 1);
    let crl_path = off.join("root.crl");
    let crl_arg = crl_path.to_str().unwrap();
    let root_file = write(off, "root-ca.pem", &root_pem);
    let (ok, out) = run(
        "openssl",
        &[
            "crl", "-inform", "DER", "-in", crl_arg, "-CAfile", &root_file, "-noout",
        ],
    );
    assert!(ok && out.contains("verify OK"), "{out}");
    let errors = pkilint_errors(
        off,
        "lint_crl",
        &["-t", "CRL", "-p", "PKIX"],
        &std::fs::read(&crl_path).unwrap(),
        "root-lint.crl",
    );
    assert!(errors.is_empty(), "pkilint on the root CRL: {errors:#?}");

    // With the server's CRL too, the whole chain checks (-crl_check_all).
    let intermediate_crl = server_crl_pem(&server).await;
    let (_, root_crl_pem) = run("openssl", &["crl", "-inform", "DER", "-in", crl_arg]);
    let crls = write(off, "crls.pem", format!("{root_crl_pem}{intermediate_crl}"));
    let leaf = write(off, "leaf.pem", cert);
    let inter = write(off, "inter.pem", first_pem(chain));
    let verify = |crls: &str| {
        run(
            "openssl",
            &[
                "verify",
                "-x509_strict",
                "-crl_check_all",
                "-CRLfile",
                crls,
                "-CAfile",
                &root_file,
                "-untrusted",
                &inter,
                &leaf,
            ],
        )
    };
    let (ok, out) = verify(&crls);
    assert!(ok, "{out}");

    let (_, inter_serial) = run("openssl", &["x509", "-in", &inter, "-noout", "-serial"]);
    let inter_serial = inter_serial
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase();
    ceremony_config(off, &format!("[[crl.revoked]]\nserial = \"{inter_serial}\"\nreason = \"keyCompromise\"\nrevoked_at = \"2026-12-01T00:00:00Z\"\n"));
    let (ok, out) = cli(
        &["ceremony", "crl", "--config", config, "--output", "json"],
        Some(ROOT_PASSWORD),
    );
    assert!(ok, "{out}");
    let crl2: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(crl2["crl_number"], 2);
    let (_, root_crl_pem) = run("openssl", &["crl", "-inform", "DER", "-in", crl_arg]);
    let crls = write(
        off,
        "crls2.pem",
        format!("{root_crl_pem}{intermediate_crl}"),
    );
    let (ok, out) = verify(&crls);
    assert!(!ok && out.contains("revoked"), "{out}");

    // The ceremony record holds one line per step that ran.
    let record = std::fs::read_to_string(off.join("ceremony-record.jsonl")).unwrap();
    let steps: Vec<String> = record
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["outcome"]["step"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(steps, ["root", "sign", "sign", "crl", "crl"]);
}

/// The server's current CRL, as PEM.
async fn server_crl_pem(server: &TestServer) -> String {
    let der = server
        .client()
        .get(format!("{}/crl", server.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let path = write(server.dir.path(), "inter.crl", &der);
    let (ok, pem) = run("openssl", &["crl", "-inform", "DER", "-in", &path]);
    assert!(ok, "{pem}");
    pem
}

//! The admin CLI, run as a real binary against a real server.
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use vcc_pki_testkit::*;

struct Cli<'a> {
    server: &'a TestServer,
    config_home: std::path::PathBuf,
}

struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl<'a> Cli<'a> {
    fn new(server: &'a TestServer) -> Self {
        let config_home = server.dir.path().join("xdg");
        std::fs::create_dir_all(&config_home).unwrap();
        Self {
            server,
            config_home,
        }
    }

    /// Run `vcc-pki` as the operator on the server's host: only --data-dir and --server given.
    fn run(&self, args: &[&str]) -> Outcome {
        self.run_with(args, &[], true)
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)], local: bool) -> Outcome {
        let mut cmd = Command::new(bin());
        if local {
            cmd.arg("--data-dir")
                .arg(self.server.data_dir())
                .args(["--server", &self.server.url]);
        }
        cmd.args(args)
            .env_remove("VCC_CA_PASSWORD")
            .env_remove("VCC_PKI_TOKEN")
            .env_remove("VCC_PKI_SERVER")
            .env_remove("NO_COLOR")
            .env("XDG_CONFIG_HOME", &self.config_home)
            .current_dir(self.server.dir.path())
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Outcome {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let o = self.run(&all);
        assert!(o.ok, "{args:?} failed: {}", o.stderr);
        serde_json::from_str(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", o.stdout))
    }
}

#[tokio::test]
async fn seed_workflow_through_the_cli_without_flags_on_the_servers_host() {
    let server = TestServer::start(Some(PASSWORD));
    let cli = Cli::new(&server);
    // The seed's README session, verbatim apart from the binary name.
    let o = cli.run(&[
        "ca",
        "init-root",
        "--cn",
        "VCC Root CA",
        "--country",
        "DE",
        "--org",
        "VCC GmbH",
        "--key-type",
        "ecdsa-p384",
    ]);
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.contains("Root CA created"), "{}", o.stdout);
    let o = cli.run(&[
        "ca",
        "create-intermediate",
        "--cn",
        "VCC Intermediate CA",
        "--country",
        "DE",
        "--org",
        "VCC GmbH",
        "--key-type",
        "ecdsa-p256",
    ]);
    assert!(o.ok, "{}", o.stderr);
    let out_dir = server.dir.path().join("certs");
    let o = cli.run(&[
        "cert",
        "issue",
        "veritas-backend",
        "--cn",
        "veritas-backend.vcc.local",
        "--san-dns",
        "veritas-backend",
        "localhost",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.contains("Certificate issued"));
    let key_mode = std::fs::metadata(out_dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    let cert = std::fs::read_to_string(out_dir.join("cert.pem")).unwrap();
    let chain = std::fs::read_to_string(out_dir.join("ca_chain.pem")).unwrap();
    let (ok, msg) = openssl_verify(server.dir.path(), &server.root_pem(), &chain, &cert, None);
    assert!(ok, "{msg}");
    let (_, text) = run(
        "openssl",
        &[
            "x509",
            "-in",
            out_dir.join("cert.pem").to_str().unwrap(),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(
        text.contains("DNS:veritas-backend.vcc.local")
            && text.contains("DNS:veritas-backend")
            && text.contains("DNS:localhost"),
        "{text}"
    );

    let o = cli.run(&[
        "service",
        "register",
        "veritas-backend",
        "--name",
        "VERITAS Backend",
        "--endpoints",
        "https://veritas.vcc.local:8001",
    ]);
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout.contains("vccenr_"),
        "enrollment token not printed: {}",
        o.stdout
    );
    let o = cli.run(&["health", "check"]);
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.contains("healthy"));

    // Piped output is plain: no ANSI escapes; tables are still tables.
    let o = cli.run(&["cert", "list"]);
    assert!(o.ok);
    assert!(
        !o.stdout.contains('\x1b'),
        "colour codes in piped output: {:?}",
        o.stdout
    );
    assert!(
        o.stdout.contains("veritas-backend") && o.stdout.contains("Days Left"),
        "{}",
        o.stdout
    );
    for args in [
        &["db", "stats"][..],
        &["ca", "info"],
        &["crl", "info"],
        &["service", "list"],
        &["cert", "info", "veritas-backend"],
    ] {
        let o = cli.run(args);
        assert!(o.ok, "{args:?}: {}", o.stderr);
    }

    // --output json on list/info/issue commands, with stable field names.
    let list = cli.json(&["cert", "list"]);
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["service_id"] == "veritas-backend"));
    let info = cli.json(&["cert", "info", "veritas-backend"]);
    for field in [
        "serial_number",
        "status",
        "days_until_expiry",
        "not_after",
        "san_dns",
    ] {
        assert!(!info[field].is_null(), "cert info json lacks {field}");
    }
    let issued = cli.json(&[
        "cert",
        "issue",
        "api",
        "--cn",
        "api.vcc.local",
        "--out",
        server.dir.path().join("api").to_str().unwrap(),
    ]);
    assert!(issued["serial_number"].is_string() && issued["files"].is_array());
    assert!(
        issued.get("private_key_pem").is_none(),
        "json output leaked the private key"
    );
    let svc = cli.json(&["service", "info", "veritas-backend"]);
    assert_eq!(svc["service_name"], "VERITAS Backend");
    let ca = cli.json(&["ca", "info"]);
    assert_eq!(ca["chain_status"], "complete");
    assert_eq!(cli.json(&["health", "check"])["status"], "healthy");

    // Revoke asks for confirmation: without a terminal and without --yes it refuses and changes nothing.
    let o = cli.run(&[
        "cert",
        "revoke",
        "veritas-backend",
        "--reason",
        "keyCompromise",
    ]);
    assert!(!o.ok);
    assert!(
        o.stderr.contains("--yes") && o.stderr.lines().count() == 1,
        "{}",
        o.stderr
    );
    assert_eq!(server.count("revoked_certificates"), 0);
    let o = cli.run(&[
        "cert",
        "revoke",
        "veritas-backend",
        "--reason",
        "keyCompromise",
        "--yes",
    ]);
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(server.count("revoked_certificates"), 1);
    let o = cli.run(&["crl", "generate"]);
    assert!(o.ok && o.stdout.contains("CRL #"), "{}", o.stdout);

    // Renew to a directory keeps the key file.
    let o = cli.run(&[
        "cert",
        "renew",
        "api",
        "--out",
        server.dir.path().join("api").to_str().unwrap(),
    ]);
    assert!(o.ok, "{}", o.stderr);

    // Tokens and the audit chain.
    let created = cli.json(&["token", "create", "--name", "ci"]);
    let new_token = created["token"].as_str().unwrap().to_string();
    let o = cli.run(&["--token", &new_token, "cert", "list"]);
    assert!(o.ok, "new token refused: {}", o.stderr);
    let tokens = cli.json(&["token", "list"]);
    assert!(tokens.to_string().contains("\"ci\"") && !tokens.to_string().contains(&new_token));
    let o = cli.run(&["token", "revoke", &created["id"].to_string(), "--yes"]);
    assert!(o.ok, "{}", o.stderr);
    let o = cli.run(&["--token", &new_token, "cert", "list"]);
    assert!(
        !o.ok && o.stderr.contains("401"),
        "revoked token still works: {}",
        o.stderr
    );
    // An auditor token lists and verifies, and its change is refused in one line.
    let auditor = cli.json(&["token", "create", "--name", "review", "--role", "auditor"]);
    assert_eq!(auditor["role"], "auditor");
    let auditor = auditor["token"].as_str().unwrap().to_string();
    let o = cli.run(&["--token", &auditor, "cert", "list"]);
    assert!(o.ok, "auditor cannot list: {}", o.stderr);
    let o = cli.run(&["--token", &auditor, "token", "create", "--name", "escalate"]);
    assert!(
        !o.ok && o.stderr.contains("403") && o.stderr.contains("read-only"),
        "{}",
        o.stderr
    );
    let o = cli.run(&["audit", "verify"]);
    assert!(
        o.ok && o.stdout.contains("intact"),
        "{} {}",
        o.stdout,
        o.stderr
    );

    // ca export: the seed's ca_storage layout, keys still encrypted.
    let export = server.dir.path().join("ca_storage");
    let o = cli.run(&["ca", "export", "--out", export.to_str().unwrap()]);
    assert!(o.ok, "{}", o.stderr);
    for f in [
        "root_ca/root_ca.crt",
        "root_ca/root_ca.key",
        "intermediate_ca/intermediate_ca.crt",
        "intermediate_ca/intermediate_ca.key",
        "intermediate_ca/ca_chain.pem",
    ] {
        assert!(export.join(f).exists(), "missing {f}");
    }
    let key = export.join("intermediate_ca/intermediate_ca.key");
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .contains("ENCRYPTED PRIVATE KEY"));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (ok, msg) = run(
        "openssl",
        &[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-passin",
            &format!("pass:{PASSWORD}"),
            "-noout",
        ],
    );
    assert!(ok, "{msg}");
}

#[tokio::test]
async fn errors_are_one_line_with_the_next_step() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let cli = Cli::new(&server);

    // Server not running.
    let o = cli.run_with(
        &[
            "--server",
            "https://127.0.0.1:9",
            "--ca-bundle",
            server.data_dir().join("root.crt").to_str().unwrap(),
            "health",
            "check",
        ],
        &[],
        false,
    );
    assert!(!o.ok);
    assert_eq!(o.stderr.trim().lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("https://127.0.0.1:9") && o.stderr.contains("vcc-pki serve"),
        "{}",
        o.stderr
    );

    // TLS trust failure: a CA bundle that is not this server's.
    let other = TestServer::start(Some(PASSWORD));
    other.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let o = cli.run_with(
        &[
            "--server",
            &server.url,
            "--ca-bundle",
            other.data_dir().join("root.crt").to_str().unwrap(),
            "--token",
            &server.token,
            "db",
            "stats",
        ],
        &[],
        false,
    );
    assert!(!o.ok);
    assert!(
        o.stderr.contains("TLS")
            && o.stderr.contains("--ca-bundle")
            && o.stderr.contains("bootstrap"),
        "{}",
        o.stderr
    );

    // 401 names the token.
    let o = cli.run(&["--token", "vccadm_wrong", "cert", "list"]);
    assert!(!o.ok);
    assert!(
        o.stderr.contains("401") && o.stderr.contains("token"),
        "{}",
        o.stderr
    );

    // Problem details are shown.
    let o = cli.run(&["cert", "issue", "svc", "--cn", "bad_name!.internal"]);
    assert!(!o.ok);
    assert!(
        o.stderr.contains("invalid DNS name") && o.stderr.contains("400"),
        "{}",
        o.stderr
    );
    assert_eq!(o.stderr.trim().lines().count(), 1);
}

#[tokio::test]
async fn bootstrap_pins_the_root_fingerprint() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let cli = Cli::new(&server);
    let fp = cli.json(&["ca", "info"])["root"]["fingerprint_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let elsewhere = server.dir.path().join("elsewhere");
    // A remote host: no data dir. A wrong fingerprint is refused and nothing is saved.
    let wrong = "00".repeat(32);
    let o = cli.run_with(
        &[
            "--data-dir",
            elsewhere.to_str().unwrap(),
            "--server",
            &server.url,
            "bootstrap",
            "--fingerprint",
            &wrong,
        ],
        &[],
        false,
    );
    assert!(!o.ok && o.stderr.contains("mismatch"), "{}", o.stderr);
    assert!(!cli.config_home.join("vcc-pki/ca.pem").exists());
    let o = cli.run_with(
        &[
            "--data-dir",
            elsewhere.to_str().unwrap(),
            "--server",
            &server.url,
            "--token",
            &server.token,
            "bootstrap",
            "--fingerprint",
            &fp,
        ],
        &[],
        false,
    );
    assert!(o.ok, "{}", o.stderr);
    // Later commands need neither --server, --ca-bundle nor --token.
    let o = cli.run_with(
        &["--data-dir", elsewhere.to_str().unwrap(), "cert", "list"],
        &[],
        false,
    );
    assert!(o.ok, "{}", o.stderr);
}

#[test]
fn help_shows_examples_and_completions_generate() {
    let commands: &[&[&str]] = &[
        &["serve"],
        &["ca", "init-root"],
        &["ca", "create-intermediate"],
        &["ca", "info"],
        &["ca", "export"],
        &["ca", "unlock"],
        &["cert", "issue"],
        &["cert", "renew"],
        &["cert", "revoke"],
        &["cert", "info"],
        &["cert", "list"],
        &["service", "register"],
        &["service", "list"],
        &["service", "info"],
        &["crl", "generate"],
        &["crl", "info"],
        &["health", "check"],
        &["db", "stats"],
        &["audit", "verify"],
        &["token", "create"],
        &["token", "list"],
        &["token", "revoke"],
        &["bootstrap"],
        &["quickstart"],
        &["completions"],
    ];
    for c in commands {
        let out = Command::new(bin()).args(*c).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Example"),
            "{c:?} --help has no example:\n{text}"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("vcc-pki"),
            "{shell}"
        );
    }
}

#[tokio::test]
async fn colour_on_a_terminal_and_never_with_no_color() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let base = format!(
        "{} --data-dir {} --server {} health check",
        bin(),
        server.data_dir().display(),
        server.url
    );
    // `script` gives the command a pseudo-terminal.
    let tty = |env: &str| run("script", &["-qec", &format!("{env} {base}"), "/dev/null"]).1;
    assert!(tty("").contains("\x1b[32m"), "no colour on a terminal");
    assert!(
        !tty("NO_COLOR=1").contains("\x1b["),
        "colour despite NO_COLOR"
    );
    assert!(
        !run(
            "script",
            &["-qec", &format!("{base} --no-color"), "/dev/null"]
        )
        .1
        .contains("\x1b["),
        "colour despite --no-color"
    );
}

/// The README's "Try it" block, pasted into bash as a newcomer would (with the built binary on PATH).
#[test]
fn readme_workflow_runs_when_pasted_into_a_shell() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = &readme[readme.find("## Try it").expect("Try it section")..];
    let block = section
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let bin_dir = std::path::Path::new(bin()).parent().unwrap();
    // The first line builds the release binary; the test runs the binary cargo just built instead.
    let script: String = block
        .lines()
        .map(|l| {
            if l.starts_with("cargo build") {
                format!("export PATH=\"{}:$PATH\"", bin_dir.display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args(["300", "bash", "-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env_remove("VCC_PKI_SERVER")
        .env_remove("VCC_PKI_TOKEN")
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "README block failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("cert.pem: OK"),
        "openssl verify did not pass:\n{stdout}"
    );
    assert!(
        stdout.contains("healthy") && stdout.contains("veritas-backend"),
        "{stdout}"
    );
}

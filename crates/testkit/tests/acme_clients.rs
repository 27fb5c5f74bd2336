//! The README's certbot and lego blocks, run exactly as written against the real server:
//! certbot (PyPI) over http-01 and revocation with a reason; lego (Debian) over http-01 with an
//! EC key and tls-alpn-01 with an RSA key, and revocation; Caddy (Debian) serving a site with a
//! certificate it obtained. Checked with curl, openssl and against the store afterwards.
use std::path::Path;
use std::process::Command;
use vcc_pki_testkit::*;

/// The shell block after `<!-- acme-client-test: NAME -->` in the README.
fn readme_block(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README.md");
    let marker = format!("<!-- acme-client-test: {name} -->");
    let after = readme
        .split(&marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {marker} in README.md"));
    let start = after.find("```sh\n").expect("a sh block after the marker") + "```sh\n".len();
    let end = after[start..].find("```").expect("the block ends");
    after[start..start + end].to_string()
}

fn tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// bash running a README block with the variables the README names (`env` may override NAME).
fn block_command(server: &TestServer, block: &str, cwd: &Path, env: &[(&str, String)]) -> Command {
    let root = write(server.dir.path(), "readme-root.pem", server.root_pem());
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", block])
        .current_dir(cwd)
        .env("PKI", &server.url)
        .env("PKI_ROOT", &root)
        .env("NAME", "localhost");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run_block(server: &TestServer, block: &str, cwd: &Path, env: &[(&str, String)]) -> String {
    let out = block_command(server, block, cwd, env)
        .output()
        .expect("bash");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the README block failed:\n{block}\n---\n{text}"
    );
    text
}

/// PATH with the directory of the `vcc-pki` under test first.
fn path_with_vcc_pki() -> String {
    let dir = Path::new(bin()).parent().unwrap().display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

fn revoked_reasons(server: &TestServer) -> String {
    server.sql(
        "SELECT r.reason FROM revoked_certificates r JOIN certificates c ON c.id = r.certificate_id
         WHERE c.service_id LIKE 'acme-%' ORDER BY r.id",
    )
}

#[test]
fn certbot_as_the_readme_says() {
    assert!(
        tool("certbot"),
        "certbot is installed by scripts/test-all.sh (pip install certbot)"
    );
    let http01 = free_port();
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-http-port".into(), http01.to_string()],
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(server.create_ca("ecdsa-p256", "ecdsa-p256"));
    // certbot's directories, through its own config file (the README's commands take no paths).
    let home = server.dir.path().join("certbot");
    let config_dir = home.join("config");
    std::fs::create_dir_all(home.join("xdg/letsencrypt")).unwrap();
    std::fs::write(
        home.join("xdg/letsencrypt/cli.ini"),
        format!(
            "config-dir = {}\nwork-dir = {}\nlogs-dir = {}\n",
            config_dir.display(),
            home.join("work").display(),
            home.join("logs").display()
        ),
    )
    .unwrap();
    run_block(
        &server,
        &readme_block("certbot"),
        server.dir.path(),
        &[
            ("HTTP01_PORT", http01.to_string()),
            ("XDG_CONFIG_HOME", home.join("xdg").display().to_string()),
            (
                "CERTBOT_LIVE",
                config_dir.join("live").display().to_string(),
            ),
            // `vcc-pki` on the CA's host finds the admin token and the root in its data dir.
            ("PATH", path_with_vcc_pki()),
            ("VCC_PKI_SERVER", server.url.clone()),
            ("VCC_PKI_DATA_DIR", server.data_dir().display().to_string()),
        ],
    );
    // The first renew found nothing due; the second, after the move, replaced the certificate.
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM certificates WHERE service_id LIKE 'acme-%'"),
        "2"
    );
    // certbot asked for the renewal window before renewing.
    // (certbot keeps one log per run: letsencrypt.log, .log.1, …)
    let renewal_info_asked: String = std::fs::read_dir(home.join("logs"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    assert!(
        renewal_info_asked.contains("/acme/renewal-info/"),
        "certbot did not ask for ARI"
    );
    assert_eq!(revoked_reasons(&server), "keyCompromise");
    // certbot made an RS256 account.
    let jwk = server.sql("SELECT jwk FROM acme_accounts");
    assert!(jwk.contains("\"kty\":\"RSA\""), "{jwk}");
}

#[test]
fn lego_as_the_readme_says() {
    assert!(
        tool("lego"),
        "lego is installed by scripts/test-all.sh (apt-get install lego)"
    );
    let http01 = free_port();
    let tls = free_port();
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec![
            "--acme-http-port".into(),
            http01.to_string(),
            "--acme-tls-port".into(),
            tls.to_string(),
        ],
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(server.create_ca("ecdsa-p256", "ecdsa-p256"));
    let cwd = server.dir.path().join("lego-run");
    std::fs::create_dir_all(&cwd).unwrap();
    run_block(
        &server,
        &readme_block("lego"),
        &cwd,
        &[
            ("HTTP01_PORT", http01.to_string()),
            ("TLS_PORT", tls.to_string()),
        ],
    );
    assert_eq!(
        server.sql("SELECT key_type FROM certificates WHERE service_id LIKE 'acme-%' ORDER BY id"),
        "ecdsa-p256\nrsa-2048"
    );
    assert_eq!(
        server.sql("SELECT challenge_type FROM acme_challenges WHERE status = 'valid' ORDER BY validated_at"),
        "http-01\ntls-alpn-01"
    );
    assert_eq!(revoked_reasons(&server), "superseded");
}

#[path = "acme_support/mod.rs"]
mod acme_support;

#[test]
fn certbot_over_dns01_with_manual_hooks_writing_into_the_test_dns_server() {
    assert!(
        tool("certbot"),
        "certbot is installed by scripts/test-all.sh"
    );
    let dns = acme_support::ChallTestSrv::start();
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-dns-resolver".into(), dns.dns.to_string()],
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(server.create_ca("ecdsa-p256", "ecdsa-p256"));
    let home = server.dir.path().join("certbot-dns");
    std::fs::create_dir_all(&home).unwrap();
    // certbot's manual hooks get CERTBOT_DOMAIN and CERTBOT_VALIDATION; these write the TXT
    // record into pebble-challtestsrv's management API, as a real hook would call a DNS API.
    let auth = home.join("auth-hook.sh");
    std::fs::write(
        &auth,
        format!(
            "#!/bin/sh\nexec curl -sf -d \"{{\\\"host\\\":\\\"_acme-challenge.$CERTBOT_DOMAIN.\\\",\\\"value\\\":\\\"$CERTBOT_VALIDATION\\\"}}\" {}/set-txt\n",
            dns.management_url()
        ),
    )
    .unwrap();
    let cleanup = home.join("cleanup-hook.sh");
    std::fs::write(
        &cleanup,
        format!(
            "#!/bin/sh\nexec curl -sf -d \"{{\\\"host\\\":\\\"_acme-challenge.$CERTBOT_DOMAIN.\\\"}}\" {}/clear-txt\n",
            dns.management_url()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for hook in [&auth, &cleanup] {
        std::fs::set_permissions(hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let root = write(server.dir.path(), "dns-root.pem", server.root_pem());
    let out = Command::new("certbot")
        .args([
            "certonly",
            "--manual",
            "--preferred-challenges",
            "dns",
            "--manual-auth-hook",
            auth.to_str().unwrap(),
            "--manual-cleanup-hook",
            cleanup.to_str().unwrap(),
            "--server",
            &format!("{}/acme/directory", server.url),
            "-d",
            "dns01.test",
            "--register-unsafely-without-email",
            "--agree-tos",
            "--non-interactive",
            "--config-dir",
            home.join("config").to_str().unwrap(),
            "--work-dir",
            home.join("work").to_str().unwrap(),
            "--logs-dir",
            home.join("logs").to_str().unwrap(),
        ])
        .env("REQUESTS_CA_BUNDLE", &root)
        .output()
        .expect("certbot");
    assert!(
        out.status.success(),
        "certbot dns-01: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, text) = run(
        "openssl",
        &[
            "x509",
            "-in",
            home.join("config/live/dns01.test/cert.pem")
                .to_str()
                .unwrap(),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(ok && text.contains("DNS:dns01.test"), "{text}");
    assert_eq!(
        server.sql("SELECT challenge_type FROM acme_challenges WHERE status = 'valid'"),
        "dns-01"
    );
}

/// Kills a README block left running (bash and what it started: one process group).
struct RunningBlock(std::process::Child);

impl Drop for RunningBlock {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.0.wait();
    }
}

#[test]
fn caddy_as_the_readme_says() {
    use std::os::unix::process::CommandExt;
    assert!(
        tool("caddy"),
        "caddy is installed by scripts/test-all.sh (apt-get install caddy)"
    );
    // Caddy gets `localhost` from its internal CA, so the site has a name that the test DNS
    // server resolves to 127.0.0.1 for the CA's validation; curl is told the address itself.
    let name = "caddy.vcc.test";
    let dns = acme_support::ChallTestSrv::start();
    let http01 = free_port();
    let tls = free_port();
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec![
            "--acme-http-port".into(),
            http01.to_string(),
            "--acme-tls-port".into(),
            tls.to_string(),
            "--acme-dns-resolver".into(),
            dns.dns.to_string(),
        ],
    );
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(server.create_ca("ecdsa-p256", "ecdsa-p256"));
    let cwd = server.dir.path().join("caddy-run");
    std::fs::create_dir_all(&cwd).unwrap();
    let log = std::fs::File::create(cwd.join("caddy.log")).unwrap();
    let mut cmd = block_command(
        &server,
        &readme_block("caddy"),
        &cwd,
        &[
            ("NAME", name.to_string()),
            ("HTTP01_PORT", http01.to_string()),
            ("TLS_PORT", tls.to_string()),
            ("HOME", cwd.display().to_string()),
            ("XDG_DATA_HOME", cwd.join("data").display().to_string()),
            ("XDG_CONFIG_HOME", cwd.join("config").display().to_string()),
        ],
    );
    cmd.stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    let caddy = RunningBlock(cmd.spawn().expect("bash"));
    let root = write(server.dir.path(), "caddy-root.pem", server.root_pem());
    let resolve = format!("{name}:{tls}:127.0.0.1");
    let url = format!("https://{name}:{tls}/");
    let mut body = String::new();
    for _ in 0..120 {
        let (ok, out) = run(
            "curl",
            &["-sf", "--cacert", &root, "--resolve", &resolve, &url],
        );
        if ok {
            body = out;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let caddy_log = || std::fs::read_to_string(cwd.join("caddy.log")).unwrap_or_default();
    assert!(
        body.contains("served with a VCC PKI certificate"),
        "curl never got the site over HTTPS trusting only the root: {body}\n{}",
        caddy_log()
    );
    // The chain Caddy serves verifies strictly against the root.
    let (_, shown) = run(
        "sh",
        &[
            "-c",
            &format!("openssl s_client -connect 127.0.0.1:{tls} -servername {name} -showcerts </dev/null"),
        ],
    );
    let blocks: Vec<String> = shown
        .split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|b| b.split("-----END CERTIFICATE-----").next())
        .map(|b| format!("-----BEGIN CERTIFICATE-----{b}-----END CERTIFICATE-----\n"))
        .collect();
    assert!(blocks.len() >= 2, "leaf and intermediate: {shown}");
    let (ok, out) = openssl_verify(
        server.dir.path(),
        &server.root_pem(),
        &blocks[1],
        &blocks[0],
        None,
    );
    assert!(ok, "{out}");
    drop(caddy);
    assert_eq!(
        server.sql("SELECT common_name FROM certificates WHERE service_id LIKE 'acme-%'"),
        name
    );
    assert_eq!(server.sql("SELECT status FROM acme_orders"), "valid");
}

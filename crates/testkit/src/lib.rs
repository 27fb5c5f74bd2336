//! Test kit: starts the real `vcc-pki serve` on a free loopback port with a temp data dir and
//! talks HTTPS to it, checking results with independent tools (openssl, python's sqlite3, pkilint).
//!
//! The server binary is `VCC_PKI_BIN`, or `vcc-pki` in the target directory the tests run from
//! (`cargo test --workspace` builds it first; alone, `cargo build -p vcc-pki` first).

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
pub use vcc_pki_client::{AdminClient, AdminError, ServerTrust};
use vcc_pki_proto as proto;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub token: String,
    /// `Some(url)` when the suite runs on PostgreSQL (VCC_TEST_DATABASE=postgres).
    pub database_url: Option<String>,
    /// Whether dropping this server drops its PostgreSQL database (false for extra replicas).
    owns_database: bool,
    /// Base URL of the plain-HTTP listener, when started with [`TestServer::start_public`].
    pub http_url: Option<String>,
    /// Extra `serve` flags, kept for restarts.
    args: Vec<String>,
    child: Child,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(url) = self.database_url.as_ref().filter(|_| self.owns_database) {
            if let Some((_, name)) = url.rsplit_once('/') {
                let _ = Command::new("psql")
                    .args([
                        &postgres_admin_url(),
                        "-Xqc",
                        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    ])
                    .output();
            }
        }
    }
}

/// The suite runs on SQLite unless VCC_TEST_DATABASE=postgres; then PostgreSQL must be reachable
/// (VCC_TEST_POSTGRES_URL, default postgres://vcc:vcc@127.0.0.1:5432/postgres) or every test fails.
pub fn on_postgres() -> bool {
    std::env::var("VCC_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

pub fn postgres_admin_url() -> String {
    std::env::var("VCC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://vcc:vcc@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty PostgreSQL database for one test server; its URL.
pub fn new_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!("vcc_test_{:016x}", rand_u64());
    let out = Command::new("psql")
        .args([&admin, "-Xqc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql not installed");
    assert!(
        out.status.success(),
        "PostgreSQL was expected (VCC_TEST_DATABASE=postgres) but could not be reached at {admin}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin);
    format!("{base}/{name}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("VCC_PKI_BIN") {
            return path;
        }
        // target/<profile>/deps/<test executable>  ->  target/<profile>/vcc-pki
        let exe = std::env::current_exe().expect("the test executable's path");
        let bin = exe
            .parent()
            .and_then(|deps| deps.parent())
            .map(|dir| dir.join("vcc-pki"))
            .expect("a target directory");
        assert!(
            bin.exists(),
            "{} not found: run `cargo build -p vcc-pki` first (`cargo test --workspace` does), or set VCC_PKI_BIN",
            bin.display()
        );
        bin.to_string_lossy().into_owned()
    })
}

fn spawn(data_dir: &Path, password: Option<&str>, args: &[String]) -> (Child, String) {
    spawn_with_env(data_dir, password, args, &[])
}

/// As [`spawn`], with extra environment variables for the server (fault injection).
// The child is owned by TestServer, whose Drop kills and waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_with_env(
    data_dir: &Path,
    password: Option<&str>,
    args: &[String],
    envs: &[(&str, &str)],
) -> (Child, String) {
    // stderr (the log) and stdout after the address line go to files beside the data dir:
    // server.log and server.out, kept for a failing test to show and for log checks. Servers
    // log at `warn` unless started with --log-format (then `info`: every request line).
    let dir = data_dir.parent().unwrap_or(data_dir);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("server.log");
    let level = if args.iter().any(|a| a == "--log-format") {
        "info"
    } else {
        "warn"
    };
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env_remove("VCC_CA_PASSWORD")
        .env("VCC_PKI_LOG", level)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log);
    if let Some(p) = password {
        cmd.env("VCC_CA_PASSWORD", p);
    }
    let mut child = cmd.spawn().expect("start vcc-pki serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.out"))
        .expect("server.out");
    loop {
        assert!(
            Instant::now() < deadline,
            "server did not announce its address"
        );
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        let _ = writeln!(out, "{line}");
        if let Some(url) = line.strip_prefix("vcc-pki listening on ") {
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    let _ = writeln!(out, "{line}");
                }
            });
            return (child, url.trim().to_string());
        }
    }
}

/// A loopback port that was free a moment ago (bind to port 0, read it, release it), for flags
/// whose value must be known before the server starts (`--public-url` naming `--http-port`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}

impl TestServer {
    pub fn start(password: Option<&str>) -> Self {
        Self::start_with(password, Vec::new())
    }

    /// Start with extra `serve` flags.
    pub fn start_with(password: Option<&str>, args: Vec<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut args = args;
        let database_url = on_postgres().then(new_postgres_database);
        if let Some(db) = &database_url {
            args.extend(["--database-url".to_string(), db.clone()]);
        }
        let (child, url) = spawn(&data, password, &args);
        let token = std::fs::read_to_string(data.join("admin.token"))
            .unwrap()
            .trim()
            .to_string();
        Self {
            dir,
            url,
            token,
            database_url,
            owns_database: true,
            http_url: None,
            args,
            child,
        }
    }

    /// Start a server on `database_url` (PostgreSQL); `token` is an admin token already in it, if any.
    /// The first server on a database owns it; replicas started with `owner = false` share it.
    pub fn start_on(
        password: Option<&str>,
        database_url: &str,
        token: Option<&str>,
        owner: bool,
    ) -> Self {
        Self::start_on_with(password, database_url, token, owner, Vec::new())
    }

    /// As [`TestServer::start_on`], with extra `serve` flags.
    pub fn start_on_with(
        password: Option<&str>,
        database_url: &str,
        token: Option<&str>,
        owner: bool,
        extra: Vec<String>,
    ) -> Self {
        Self::start_on_with_env(password, database_url, token, owner, extra, &[])
    }

    /// As [`TestServer::start_on_with`], with extra environment variables for this server only
    /// (fault injection; a restart does not keep them).
    pub fn start_on_with_env(
        password: Option<&str>,
        database_url: &str,
        token: Option<&str>,
        owner: bool,
        extra: Vec<String>,
        envs: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut args = vec!["--database-url".to_string(), database_url.to_string()];
        args.extend(extra);
        let (child, url) = spawn_with_env(&data, password, &args, envs);
        let token = match token {
            Some(t) => t.to_string(),
            None => std::fs::read_to_string(data.join("admin.token"))
                .unwrap()
                .trim()
                .to_string(),
        };
        Self {
            dir,
            url,
            token,
            database_url: Some(database_url.to_string()),
            owns_database: owner,
            http_url: None,
            args,
            child,
        }
    }

    /// Start on a data dir that already holds a store (`dir`/data, e.g. restored from a backup):
    /// SQLite only; `token` is an admin token in that store.
    pub fn start_in(
        dir: tempfile::TempDir,
        password: Option<&str>,
        token: &str,
        args: Vec<String>,
    ) -> Self {
        let (child, url) = spawn(&dir.path().join("data"), password, &args);
        Self {
            dir,
            url,
            token: token.to_string(),
            database_url: None,
            owns_database: false,
            http_url: None,
            args,
            child,
        }
    }

    /// Start a first server on `dir`/data, which may already exist empty (e.g. a mount point):
    /// SQLite only.
    pub fn start_fresh_in(
        dir: tempfile::TempDir,
        password: Option<&str>,
        args: Vec<String>,
    ) -> Self {
        let data = dir.path().join("data");
        let (child, url) = spawn(&data, password, &args);
        let token = std::fs::read_to_string(data.join("admin.token"))
            .unwrap()
            .trim()
            .to_string();
        Self {
            dir,
            url,
            token,
            database_url: None,
            owns_database: true,
            http_url: None,
            args,
            child,
        }
    }

    /// Start with a plain-HTTP listener on a free port that is also the public URL, so issued
    /// certificates name `http://127.0.0.1:PORT/ocsp`, `/crl` and `/ca/intermediate.crt`.
    pub fn start_public(password: Option<&str>) -> Self {
        let port = free_port();
        let http_url = format!("http://127.0.0.1:{port}");
        let args = vec![
            "--http-port".to_string(),
            port.to_string(),
            "--public-url".to_string(),
            http_url.clone(),
        ];
        let mut server = Self::start_with(password, args);
        server.http_url = Some(http_url);
        server
    }

    /// Kill the server with SIGKILL (no shutdown of any kind) and wait for it to be gone; the
    /// data dir (and, for a replica, the database) stays.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stop and start again on the same data dir.
    pub fn restart(&mut self, password: Option<&str>) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, url) = spawn(&self.data_dir(), password, &self.args);
        self.child = child;
        self.url = url;
    }

    /// CPU seconds (user + system) the server process has used so far, from /proc.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name in parentheses: utime and stime are the 12th and 13th.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn root_pem(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("root.crt")).unwrap()
    }

    /// Client that trusts only this server's root CA (after the CA exists).
    pub fn client(&self) -> reqwest::Client {
        let root = reqwest::Certificate::from_pem(self.root_pem().as_bytes()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([root])
            .build()
            .unwrap()
    }

    /// Client for the bootstrap phase, before any CA exists (self-signed server certificate).
    pub fn bootstrap_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .build()
            .unwrap()
    }

    /// Client presenting a service certificate (mTLS).
    pub fn mtls_client(&self, cert_pem: &str, key_pem: &str) -> reqwest::Client {
        let root = reqwest::Certificate::from_pem(self.root_pem().as_bytes()).unwrap();
        let identity =
            reqwest::Identity::from_pem(format!("{cert_pem}{key_pem}").as_bytes()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([root])
            .identity(identity)
            .build()
            .unwrap()
    }

    pub async fn send(
        &self,
        client: &reqwest::Client,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = client.request(method.parse().unwrap(), format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        if status >= 400 {
            assert_eq!(
                ctype, "application/problem+json",
                "error without problem+json: {status} {text}"
            );
        }
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        // Until the intermediate exists the server's TLS certificate is self-signed.
        let client = if self.count("intermediate_ca") > 0 {
            self.client()
        } else {
            self.bootstrap_client()
        };
        self.send(&client, method, path, Some(&self.token.clone()), body)
            .await
    }

    /// The typed admin client (proto types in and out) with this server's admin token, trusting
    /// the root CA once the intermediate exists (the server then serves a CA-issued certificate)
    /// and the self-signed bootstrap certificate before.
    pub fn admin_client(&self) -> AdminClient {
        let trust = if self.count("intermediate_ca") > 0 {
            ServerTrust::Pem(self.root_pem().into_bytes())
        } else {
            ServerTrust::AnyBootstrap
        };
        AdminClient::new(&self.url, &self.token, trust).expect("admin client")
    }

    /// Create root and intermediate CAs of the given key types.
    pub async fn create_ca(&self, root_key: &str, intermediate_key: &str) {
        let admin = self.admin_client();
        let subject = |common_name: &str, key_type: &str| proto::CaCreateRequest {
            common_name: common_name.into(),
            country: Some("DE".into()),
            organization: Some("VCC".into()),
            key_type: Some(key_type.into()),
            ..Default::default()
        };
        let root = admin
            .create_root(&subject("VCC Test Root CA", root_key))
            .await
            .expect("root CA");
        assert_eq!(root.level, "root");
        let intermediate = admin
            .create_intermediate(&subject("VCC Test Intermediate CA", intermediate_key))
            .await
            .expect("intermediate CA");
        assert_eq!(intermediate.level, "intermediate");
    }

    /// Run SQL against the server's database with an independent client: psql on PostgreSQL,
    /// Python's sqlite3 on SQLite. Columns are joined with '|', rows with newlines.
    pub fn sql(&self, sql: &str) -> String {
        if let Some(url) = &self.database_url {
            let out = Command::new("psql")
                .args([url, "-XAtq", "-c", sql])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return String::from_utf8(out.stdout).unwrap().trim().to_string();
        }
        let out = Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nrows=c.execute(sys.argv[2]).fetchall()\nc.commit()\nprint('\\n'.join('|'.join(str(x) for x in r) for r in rows))",
            ])
            .arg(self.data_dir().join("pki.db"))
            .arg(sql)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// "table:NAME" and "view:NAME" lines for the schema's objects.
    pub fn schema_objects(&self) -> String {
        if self.database_url.is_some() {
            self.sql(
                "SELECT CASE WHEN table_type = 'VIEW' THEN 'view' ELSE 'table' END || ':' || table_name
                 FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
            )
        } else {
            self.sql("SELECT type || ':' || name FROM sqlite_master WHERE type IN ('table','view') ORDER BY name")
        }
    }

    pub fn count(&self, table: &str) -> i64 {
        self.sql(&format!("SELECT COUNT(*) FROM {table}"))
            .parse()
            .unwrap()
    }
}

/// Run a command; returns (success, stdout+stderr).
pub fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.to_str().unwrap().to_string()
}

/// `openssl verify -x509_strict` of leaf against root with the intermediate as untrusted.
pub fn openssl_verify(
    dir: &Path,
    root_pem: &str,
    chain_pem: &str,
    leaf_pem: &str,
    crl_pem: Option<&str>,
) -> (bool, String) {
    let root = write(dir, "v_root.pem", root_pem);
    let inter = write(dir, "v_inter.pem", first_pem(chain_pem));
    let leaf = write(dir, "v_leaf.pem", leaf_pem);
    let mut args = vec![
        "verify",
        "-x509_strict",
        "-CAfile",
        &root,
        "-untrusted",
        &inter,
    ];
    let crl;
    if let Some(c) = crl_pem {
        crl = write(dir, "v_crl.pem", c);
        args.extend(["-crl_check", "-CRLfile", &crl]);
    }
    args.push(&leaf);
    run("openssl", &args)
}

pub fn first_pem(chain: &str) -> String {
    let end = "-----END CERTIFICATE-----";
    let i = chain.find(end).expect("PEM") + end.len();
    format!("{}\n", &chain[..i])
}

/// Make a key and CSR with openssl (independent of the server's crypto). Returns (key_pem, csr_pem).
pub fn openssl_csr(
    dir: &Path,
    name: &str,
    key_alg: &[&str],
    cn: &str,
    san: &str,
    extra: &[&str],
) -> (String, String) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let mut args = vec!["req", "-new", "-newkey"];
    args.extend(key_alg);
    args.extend([
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
        "-subj",
    ]);
    let subj = format!("/CN={cn}");
    args.push(&subj);
    let san_ext = format!("subjectAltName={san}");
    if !san.is_empty() {
        args.extend(["-addext", &san_ext]);
    }
    args.extend(extra);
    let (ok, out) = run("openssl", &args);
    assert!(ok, "openssl req: {out}");
    (
        std::fs::read_to_string(key).unwrap(),
        std::fs::read_to_string(csr).unwrap(),
    )
}

/// pkilint: returns the ERROR/FATAL findings (ignoring the accepted single-label DNS name findings).
pub fn pkilint_errors(
    dir: &Path,
    tool: &str,
    extra: &[&str],
    pem_or_der: &[u8],
    name: &str,
) -> Vec<String> {
    let path = write(dir, name, pem_or_der);
    let mut args: Vec<&str> = vec!["lint"];
    args.extend(extra);
    args.extend(["-f", "JSON", &path]);
    let out = Command::new(tool)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} not installed: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let parsed: Value = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!(
            "{tool} output is not JSON: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let mut errors = Vec::new();
    collect_findings(&parsed, &mut errors);
    errors
}

fn collect_findings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(sev), Some(code)) = (
                m.get("severity").and_then(Value::as_str),
                m.get("code").and_then(Value::as_str),
            ) {
                // SPEC §6: the one accepted exception is a single-label DNS name (no dot), e.g. `localhost`.
                let message = m.get("message").and_then(Value::as_str).unwrap_or("");
                let single_label = code == "pkix.invalid_domain_name_syntax"
                    && message
                        .split('"')
                        .nth(1)
                        .is_some_and(|name| !name.contains('.'));
                if (sev == "ERROR" || sev == "FATAL") && !single_label {
                    out.push(format!(
                        "{sev} {code} {}",
                        m.get("message").map(|x| x.to_string()).unwrap_or_default()
                    ));
                }
            }
            for x in m.values() {
                collect_findings(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_findings(x, out)),
        _ => {}
    }
}

/// Prometheus text: the sum of the samples of `name` whose labels include every `labels` pair.
pub fn metric_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, r)) => (m, r),
                None => (series, ""),
            };
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())
            .flatten()
        })
        .sum()
}

/// The server's `/metrics` over HTTPS with its admin token.
pub async fn scrape_metrics(server: &TestServer) -> String {
    let response = server
        .client()
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Poll `GET /crl` until the CRL lists `serial`; returns it as PEM.
pub async fn wait_for_crl_with(server: &TestServer, serial: &str) -> String {
    let client = server.client();
    let want = serial.to_uppercase();
    for _ in 0..100 {
        let resp = client
            .get(format!("{}/crl", server.url))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            assert_eq!(resp.headers()["content-type"], "application/pkix-crl");
            let der = resp.bytes().await.unwrap();
            let path = write(server.dir.path(), "latest.crl", &der);
            let (ok, text) = run(
                "openssl",
                &["crl", "-inform", "DER", "-in", &path, "-noout", "-text"],
            );
            assert!(ok, "{text}");
            if text.to_uppercase().contains(&want) {
                let (_, pem) = run("openssl", &["crl", "-inform", "DER", "-in", &path]);
                return pem;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("serial {serial} never appeared in the CRL");
}

/// A SoftHSM2 token directory for this test process: `SOFTHSM2_CONF` points at it (set once,
/// before any server starts, so every `vcc-pki serve` child inherits it).
pub struct SoftHsm {
    pub dir: PathBuf,
}

pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const SOFTHSM_PIN: &str = "731246";

impl SoftHsm {
    pub fn get() -> &'static SoftHsm {
        static HSM: std::sync::OnceLock<SoftHsm> = std::sync::OnceLock::new();
        HSM.get_or_init(|| {
            // Kept for the life of the test process (tokens outlive single servers on restart).
            let dir = tempfile::tempdir().unwrap().keep();
            let tokens = dir.join("tokens");
            std::fs::create_dir(&tokens).unwrap();
            let conf = dir.join("softhsm2.conf");
            std::fs::write(
                &conf,
                format!(
                    "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    tokens.display()
                ),
            )
            .unwrap();
            std::env::set_var("SOFTHSM2_CONF", &conf);
            SoftHsm { dir }
        })
    }

    /// The file holding `label`'s user PIN (pin-source=file:…), one per token so that a test
    /// that spoils its PIN does not spoil another's.
    pub fn pin_file(&self, label: &str) -> PathBuf {
        self.dir.join(format!("{label}.pin"))
    }

    /// Initialise a token labelled `label`; returns the pkcs11: URI of key `object` in it.
    pub fn token(&self, label: &str, object: &str) -> String {
        std::fs::write(self.pin_file(label), format!("{SOFTHSM_PIN}\n")).unwrap();
        let (ok, out) = run(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                SOFTHSM_PIN,
                "--so-pin",
                "97531",
            ],
        );
        assert!(ok, "softhsm2-util (Debian softhsm2): {out}");
        self.uri(label, object)
    }

    pub fn uri(&self, label: &str, object: &str) -> String {
        format!(
            "pkcs11:token={label};object={object}?module-path={SOFTHSM_MODULE}&pin-source=file:{}",
            self.pin_file(label).display()
        )
    }

    /// The directory SoftHSM keeps `label`'s token in (to take the token away and put it back).
    pub fn token_dir(&self, label: &str) -> PathBuf {
        let tokens = self.dir.join("tokens");
        for entry in std::fs::read_dir(&tokens).unwrap() {
            let path = entry.unwrap().path();
            let conf = path.join("token.object");
            if let Ok(bytes) = std::fs::read(&conf) {
                if bytes.windows(label.len()).any(|w| w == label.as_bytes()) {
                    return path;
                }
            }
        }
        panic!("no SoftHSM token directory for {label}");
    }
}

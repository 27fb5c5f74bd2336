//! `bench --spawn`: a throwaway `vcc-pki serve` on a free loopback port with a temp data dir and a
//! fresh Root + Intermediate CA, stopped (and its data deleted) when the benchmark ends.
use anyhow::{bail, Context};
use rand::RngCore;
use serde::Serialize;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Connection;

pub struct SpawnedServer {
    /// Holds the data dir; deleted on drop, after the child is stopped.
    dir: tempfile::TempDir,
    pub url: String,
    /// The plain-HTTP listener (`--http-port 0`): /ocsp, /crl, /ca/*.crt.
    pub http_url: Option<String>,
    child: Child,
    password: String,
    extra: Vec<String>,
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process from /proc/<pid>/status, KiB.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rss {
    pub rss_kb: u64,
    /// High-water mark of the resident set since the process started.
    pub hwm_kb: u64,
}

pub fn read_rss(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok(Rss {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
    })
}

impl SpawnedServer {
    /// Start `vcc-pki serve --port 0` from this very binary and wait for its "listening on" line.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    /// As [`SpawnedServer::start`], with extra `serve` flags.
    pub fn start_with(extra: &[String]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("vcc-pki-bench-")
            .tempdir()
            .context("cannot create a temp dir for the spawned server")?;
        let mut password = [0u8; 24];
        rand::rng().fill_bytes(&mut password);
        let password = hex::encode(password);
        let (child, url, http_url) = launch(dir.path(), &password, extra)?;
        Ok(Self {
            dir,
            url,
            http_url,
            child,
            password,
            extra: extra.to_vec(),
        })
    }

    /// Stop the server (its data dir stays), e.g. to write into its store directly.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Start it again on the same data dir, password and flags (a new port).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let (child, url, http_url) = launch(self.dir.path(), &self.password, &self.extra)?;
        self.child = child;
        self.url = url;
        self.http_url = http_url;
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Whether the server process is still running (not exited, not a zombie).
    pub fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .map(|s| {
                !s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'))
            })
            .unwrap_or(false)
    }

    pub fn rss(&self) -> anyhow::Result<Rss> {
        read_rss(self.pid())
    }

    /// Last lines of the server's stderr, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("server.log"))
    }

    /// How to reach this server: its data dir holds the admin token and the trust anchors (the
    /// root CA once it exists, the self-signed bootstrap certificate before).
    pub fn connection(&self) -> Connection {
        let dir = self.data_dir();
        Connection {
            server: self.url.clone(),
            token: std::fs::read_to_string(dir.join("admin.token"))
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
            trust_anchors: [
                dir.join("root.crt"),
                dir.join("tls").join("self-signed.pem"),
            ]
            .into_iter()
            .filter(|p| p.exists())
            .collect(),
        }
    }

    /// Create the Root and the Intermediate CA (the server's VCC_CA_PASSWORD encrypts them).
    pub async fn create_ca(&self, root_key: &str, intermediate_key: &str) -> anyhow::Result<()> {
        self.create_ca_in(root_key, intermediate_key, None).await
    }

    /// As [`SpawnedServer::create_ca`], the intermediate's key made in the PKCS#11 token
    /// `intermediate_key_uri` names when given.
    pub async fn create_ca_in(
        &self,
        root_key: &str,
        intermediate_key: &str,
        intermediate_key_uri: Option<&str>,
    ) -> anyhow::Result<()> {
        // Before the intermediate exists the server presents its self-signed bootstrap
        // certificate, which the data dir's tls/self-signed.pem anchors.
        let started = Instant::now();
        let client = loop {
            // The bootstrap certificate is written at start-up: wait for it and for an answer.
            let answer = match self.connection().admin() {
                Ok(client) => client
                    .health()
                    .await
                    .map(|_| client)
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            match answer {
                Ok(client) => break client,
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    return Err(e.context("the spawned server does not answer"))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let subject = |common_name: &str, key_type: &str| vcc_pki_proto::CaCreateRequest {
            common_name: common_name.into(),
            organization: Some("VCC PKI Bench".into()),
            key_type: Some(key_type.into()),
            ..Default::default()
        };
        client
            .create_root(&subject("VCC PKI Bench Root CA", root_key))
            .await
            .context("creating the root CA")?;
        client
            .create_intermediate(&vcc_pki_proto::CaCreateRequest {
                key_uri: intermediate_key_uri.map(str::to_string),
                ..subject("VCC PKI Bench Intermediate CA", intermediate_key)
            })
            .await
            .context("creating the intermediate CA")?;
        Ok(())
    }
}

/// Start `vcc-pki serve` on `dir`/data and wait for its "listening on" lines: (child, HTTPS URL,
/// plain-HTTP URL).
fn launch(
    dir: &std::path::Path,
    password: &str,
    extra: &[String],
) -> anyhow::Result<(Child, String, Option<String>)> {
    let data = dir.join("data");
    let exe = std::env::current_exe().context("cannot find the vcc-pki binary")?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))?;
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--http-port",
            "0",
            "--data-dir",
        ])
        .arg(&data)
        .args(extra)
        .env("VCC_CA_PASSWORD", password)
        .env("VCC_PKI_LOG", "warn")
        .env_remove("VCC_PKI_DATABASE_URL")
        .env_remove("VCC_PKI_CONFIG")
        .env_remove("VCC_PKI_LISTEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("cannot start `vcc-pki serve`")?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("no stdout from the spawned server");
    };
    // Read the announcement on a thread so a silent server cannot hang us past the deadline.
    // The plain-HTTP line comes first, then the HTTPS one.
    let (tx, rx) = std::sync::mpsc::channel::<(String, Option<String>)>();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut http_url = None;
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("vcc-pki http listening on ") {
                http_url = Some(url.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("vcc-pki listening on ") {
                let _ = tx.send((url.trim().to_string(), http_url.take()));
                break;
            }
        }
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok((url, http_url)) => Ok((child, url, http_url)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "the spawned server did not start: {}",
                log_tail(&dir.join("server.log"))
            )
        }
    }
}

/// Last lines of the server's stderr, for error messages.
fn log_tail(path: &std::path::Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    // The first start prints the admin token: never repeat it.
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("vccadm_") && !l.contains("admin token"))
        .rev()
        .take(5)
        .collect();
    if lines.is_empty() {
        "(no log output)".into()
    } else {
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

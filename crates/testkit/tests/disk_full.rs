//! Disk full on the SQLite volume (issue 18 item 2): the data dir is a small tmpfs, filled to the
//! last byte while clients issue and revoke. Requests then fail with 503 problem+json (never a 500,
//! never a 201 for a certificate that is not stored), nothing is half-written, and once space
//! returns the same server issues again without a restart. Needs the right to mount a tmpfs (root,
//! as in CI); SQLite only (the PostgreSQL pass skips it).
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vcc_pki_testkit::*;

/// A tmpfs mounted on a directory, unmounted (and the directory removed) on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .expect("mount not installed");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs (run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Write zeros into `path` until the file system refuses; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(_) => break,
        }
    }
    // The last partial pages too.
    while let Ok(n) = file.write(&block[..512]) {
        if n == 0 {
            break;
        }
        written += n as u64;
    }
    let _ = file.sync_all();
    written
}

async fn issue(server: &TestServer, i: usize) -> (u16, String, Value) {
    let resp = server
        .client()
        .post(format!("{}/api/certificates/issue", server.url))
        .bearer_auth(&server.token)
        .json(&json!({"service_id": "full", "common_name": format!("full-{i}.internal")}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the server answers while its disk is full");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ctype, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_volume_gets_503_writes_nothing_half_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _volume = Tmpfs::mount(&data, "48m");
    let server = TestServer::start_fresh_in(dir, Some(PASSWORD), Vec::new());
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let mut issued = Vec::new();
    for i in 0..20 {
        let (s, _, v) = issue(&server, i).await;
        assert_eq!(s, 201, "{v}");
        issued.push(v["serial_number"].as_str().unwrap().to_string());
    }

    // Fill the volume, then keep issuing (and revoking what was issued) until the writes fail:
    // SQLite may still have room in pages it already holds.
    let filler = server.data_dir().join("filler");
    let filled = fill(&filler);
    assert!(filled > 0);
    let mut refused = 0;
    let mut stored_while_full = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 1000;
    while refused < 5 {
        assert!(
            Instant::now() < deadline,
            "no request failed on a full volume ({} issued after filling)",
            stored_while_full.len()
        );
        i += 1;
        let (s, ctype, v) = issue(&server, i).await;
        match s {
            201 => stored_while_full.push(v["serial_number"].as_str().unwrap().to_string()),
            503 => {
                assert_eq!(ctype, "application/problem+json", "{v}");
                assert!(v["detail"].is_string(), "{v}");
                refused += 1;
            }
            other => panic!("a full volume answered {other} {ctype}: {v}"),
        }
        // Top up whatever SQLite freed (a checkpoint, a truncated journal).
        let _ = fill(&server.data_dir().join(format!("filler-{i}")));
    }
    let (s, v) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": issued[0], "reason": "superseded"})),
        )
        .await;
    assert!(
        s == 503 || s == 200,
        "a revocation on a full volume answered {s}: {v}"
    );
    let revoked_while_full = s == 200;
    // Health tells the operator.
    let (s, health) = server.admin("GET", "/api/health", None).await;
    assert!(s == 200 || s == 503, "{s} {health}");

    // Space returns: the same server issues again.
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("filler"))
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let serial = loop {
        i += 1;
        let (s, _, v) = issue(&server, i).await;
        if s == 201 {
            break v["serial_number"].as_str().unwrap().to_string();
        }
        assert_eq!(s, 503, "{v}");
        assert!(
            Instant::now() < deadline,
            "still refusing 30 s after space returned: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (s, v) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": serial, "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 200, "revocation after space returned: {v}");
    wait_for_crl_with(&server, &serial).await;

    // Nothing half-written: what was answered 201 is stored; every certificate has its audit row,
    // every audit row of an issuance its certificate; the database and the audit chain are intact.
    let count = |sql: &str| server.sql(sql);
    for serial in issued.iter().chain(&stored_while_full) {
        assert_eq!(
            count(&format!(
                "SELECT COUNT(*) FROM certificates WHERE serial_number = '{serial}'"
            )),
            "1"
        );
    }
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM certificates c WHERE NOT EXISTS
             (SELECT 1 FROM audit_log a WHERE a.target_id = c.serial_number AND a.action LIKE 'certificate.issue%')"
        ),
        "0"
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM audit_log a WHERE a.action = 'certificate.issue' AND NOT EXISTS
             (SELECT 1 FROM certificates c WHERE c.serial_number = a.target_id)"
        ),
        "0"
    );
    assert_eq!(
        count(&format!(
            "SELECT COUNT(*) FROM revoked_certificates WHERE serial_number = '{}'",
            issued[0]
        )),
        if revoked_while_full { "1" } else { "0" },
        "the revocation's answer and the store disagree"
    );
    assert_eq!(count("PRAGMA integrity_check"), "ok");
    let (s, v) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["intact"], true, "{v}");
}

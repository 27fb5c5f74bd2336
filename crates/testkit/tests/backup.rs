//! `vcc-pki db backup | restore | verify` (SPEC §10) against real servers: a backup taken while
//! certificates are being issued, restored into a new data dir, served again.
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vcc_pki_testkit::*;

/// `vcc-pki` run as the operator; (success, stdout, stderr).
fn cli(args: &[&str], password: Option<&str>) -> (bool, String, String) {
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
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

async fn issue(server: &TestServer, n: usize) -> Value {
    let (s, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": format!("svc-{}", n % 7), "common_name": format!("host-{n}.example.internal")})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    issued
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_backup_taken_while_issuing_restores_into_a_working_server() {
    if on_postgres() {
        // PostgreSQL stores are backed up with pg_dump; `db verify` on them is tested below.
        return;
    }
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let data = server.data_dir();
    let data_arg = data.to_str().unwrap().to_string();
    let revoked = issue(&server, 0).await;
    let revoked_serial = revoked["serial_number"].as_str().unwrap().to_string();
    let (s, body) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": revoked_serial, "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    for n in 1..40 {
        issue(&server, n).await;
    }

    // Issue continuously; take the backup in the middle.
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("pki-backup.db");
    let file_arg = file.to_str().unwrap().to_string();
    let mut received: Vec<(String, Instant)> = Vec::new();
    let issued_so_far = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let backup = {
        let data_arg = data_arg.clone();
        let file_arg = file_arg.clone();
        let issued_so_far = issued_so_far.clone();
        tokio::task::spawn_blocking(move || {
            // Begin once the client has received a few certificates (however slow the machine).
            let deadline = Instant::now() + Duration::from_secs(60);
            while issued_so_far.load(std::sync::atomic::Ordering::SeqCst) < 3
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let began = Instant::now();
            let result = cli(
                &["--data-dir", &data_arg, "db", "backup", "--out", &file_arg],
                None,
            );
            (began, Instant::now(), result)
        })
    };
    let mut n = 100;
    while !backup.is_finished() || received.len() < 5 {
        let issued = issue(&server, n).await;
        received.push((
            issued["serial_number"].as_str().unwrap().to_string(),
            Instant::now(),
        ));
        issued_so_far.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        n += 1;
    }
    let (began, ended, (ok, stdout, stderr)) = backup.await.unwrap();
    assert!(ok, "db backup failed: {stderr}");
    assert!(stdout.contains("backup written"), "{stdout}");
    // The server kept issuing while the backup ran: certificates before it began and after it ended.
    let before: Vec<&String> = received
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(s, _)| s)
        .collect();
    assert!(!before.is_empty(), "no issuance before the backup began");
    let (s, after) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "after", "common_name": "after.example.internal"})),
        )
        .await;
    assert_eq!(
        s, 201,
        "the server stopped issuing after the backup: {after}"
    );
    assert!(ended > began);
    assert_eq!(mode(&file), 0o600, "a backup holds the CA keys: owner only");
    // No partial file is left beside the backup.
    let left: Vec<_> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    // A second backup to the same file is refused and leaves the first alone.
    let size = std::fs::metadata(&file).unwrap().len();
    let (ok, _, stderr) = cli(
        &["--data-dir", &data_arg, "db", "backup", "--out", &file_arg],
        None,
    );
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);

    // Restore refuses the live data dir, a missing password and a wrong one, and changes nothing.
    let (ok, _, stderr) = cli(
        &[
            "--data-dir",
            &data_arg,
            "db",
            "restore",
            "--from",
            &file_arg,
        ],
        Some(PASSWORD),
    );
    assert!(!ok && stderr.contains("in use"), "{stderr}");
    assert_eq!(server.admin("GET", "/api/health", None).await.0, 200);
    let target = tempfile::tempdir().unwrap();
    let new_data = target.path().join("data");
    let new_arg = new_data.to_str().unwrap().to_string();
    let (ok, _, stderr) = cli(
        &["--data-dir", &new_arg, "db", "restore", "--from", &file_arg],
        None,
    );
    assert!(!ok && stderr.contains("CA password"), "{stderr}");
    let (ok, _, stderr) = cli(
        &["--data-dir", &new_arg, "db", "restore", "--from", &file_arg],
        Some("not the password"),
    );
    assert!(!ok && stderr.contains("does not open"), "{stderr}");
    assert!(
        !new_data.join("pki.db").exists(),
        "a failed restore left a store"
    );
    let not_a_backup = write(target.path(), "junk.db", "not a database at all, clearly");
    let (ok, _, stderr) = cli(
        &[
            "--data-dir",
            &new_arg,
            "db",
            "restore",
            "--from",
            &not_a_backup,
        ],
        Some(PASSWORD),
    );
    assert!(!ok && stderr.contains("not a vcc-pki backup"), "{stderr}");

    // The restore itself.
    let (ok, stdout, stderr) = cli(
        &["--data-dir", &new_arg, "db", "restore", "--from", &file_arg],
        Some(PASSWORD),
    );
    assert!(ok, "restore failed: {stderr}{stdout}");
    assert!(stdout.contains("audit chain"), "{stdout}");
    assert_eq!(mode(&new_data), 0o700);
    assert_eq!(mode(&new_data.join("pki.db")), 0o600);
    // Restoring again over the restored store is refused.
    let (ok, _, stderr) = cli(
        &["--data-dir", &new_arg, "db", "restore", "--from", &file_arg],
        Some(PASSWORD),
    );
    assert!(!ok && stderr.contains("already holds a store"), "{stderr}");
    // `db verify` on the restored store, with the password: every check passes.
    let (ok, stdout, stderr) = cli(
        &["--data-dir", &new_arg, "--output", "json", "db", "verify"],
        Some(PASSWORD),
    );
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    let checks: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for c in [
        "integrity",
        "schema",
        "counters",
        "audit chain",
        "intermediate CA key",
    ] {
        assert!(checks.contains(&c), "{c} missing: {report}");
    }

    // A server on the restored dir: unsealed, every certificate received before the backup began
    // is there, the audit chain verifies, OCSP answers good and revoked.
    let port = free_port();
    let mut restored = TestServer::start_in(
        target,
        Some(PASSWORD),
        &server.token,
        vec!["--http-port".into(), port.to_string()],
    );
    restored.http_url = Some(format!("http://127.0.0.1:{port}"));
    let (s, health) = restored.admin("GET", "/api/health", None).await;
    assert_eq!(s, 200, "{health}");
    assert_eq!(health["ca"]["sealed"], false, "{health}");
    let stored = restored.sql("SELECT serial_number FROM certificates");
    for serial in &before {
        assert!(
            stored.lines().any(|l| l == serial.as_str()),
            "certificate {serial} was received before the backup began but is not in it"
        );
    }
    assert!(stored.lines().any(|l| l == revoked_serial));
    let (s, v) = restored.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["intact"], true, "{v}");
    let dir = restored.dir.path();
    let root = write(dir, "root.pem", restored.root_pem());
    let intermediate = write(
        dir,
        "intermediate.pem",
        first_pem(revoked["ca_chain_pem"].as_str().unwrap()),
    );
    let leaf = write(
        dir,
        "revoked.pem",
        revoked["certificate_pem"].as_str().unwrap(),
    );
    let url = format!("{}/ocsp", restored.http_url.as_deref().unwrap());
    let (_, out) = run(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &intermediate,
            "-cert",
            &leaf,
            "-url",
            &url,
            "-CAfile",
            &root,
            "-no_nonce",
        ],
    );
    assert!(
        out.contains("Response verify OK") && out.contains("revoked.pem: revoked"),
        "{out}"
    );
    // And it issues: the restored CA keys sign.
    issue(&restored, 9999).await;
}

#[tokio::test]
async fn db_verify_finds_a_broken_audit_chain_and_drifted_counters() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    for n in 0..3 {
        issue(&server, n).await;
    }
    let url = server
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", server.data_dir().join("pki.db").display()));
    let verify = |password: Option<&str>| {
        let (_, stdout, stderr) = cli(
            &["--output", "json", "db", "verify", "--database-url", &url],
            password,
        );
        let report: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout} {stderr}"));
        (report, stderr)
    };
    let (report, stderr) = verify(Some(PASSWORD));
    assert_eq!(report["ok"], true, "{report} {stderr}");
    // A wrong password: the keys do not open.
    let (report, stderr) = verify(Some("wrong"));
    assert_eq!(report["ok"], false, "{report}");
    assert!(stderr.contains("does not open"), "{stderr}");
    // An edited audit row and a counter off by one are both found.
    server.sql(
        "UPDATE audit_log SET actor = 'mallory' WHERE id = (SELECT MIN(id) + 1 FROM audit_log)",
    );
    server.sql("UPDATE table_row_counts SET n = n + 1 WHERE table_name = 'services'");
    let (report, stderr) = verify(None);
    assert_eq!(report["ok"], false, "{report}");
    assert!(stderr.contains("audit chain: broken at row"), "{stderr}");
    assert!(stderr.contains("services: "), "{stderr}");
}

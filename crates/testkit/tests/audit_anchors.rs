//! The audit chain is tamper-evident, not only edit-evident (issue #18 item 5): the head is
//! signed outside the database (audit-anchors.jsonl in the data dir, and a metric), and
//! verification catches both a truncated log and an edited log whose later hashes were
//! recomputed — which the chain alone accepts.
use serde_json::{json, Value};
use vcc_pki_testkit::*;

async fn issue(server: &TestServer, n: usize) {
    let (s, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "billing", "common_name": format!("h{n}.example.internal")})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
}

async fn verify(server: &TestServer) -> Value {
    let (s, v) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(s, 200, "{v}");
    v
}

fn cli_verify(server: &TestServer) -> (bool, String) {
    let data = server.data_dir();
    run(
        bin(),
        &[
            "--server",
            &server.url,
            "--data-dir",
            data.to_str().unwrap(),
            "audit",
            "verify",
        ],
    )
}

#[tokio::test]
async fn truncating_the_audit_log_is_detected_by_its_anchors() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    for n in 0..3 {
        issue(&server, n).await;
    }
    let v = verify(&server).await;
    assert_eq!(v["intact"], true, "{v}");
    // The verified head is anchored outside the database, signed, with a 0600 key.
    let head: i64 = server.sql("SELECT MAX(id) FROM audit_log").parse().unwrap();
    let anchors = std::fs::read_to_string(server.data_dir().join("audit-anchors.jsonl")).unwrap();
    let last: Value = serde_json::from_str(anchors.lines().last().unwrap()).unwrap();
    assert!(
        last["row_id"].as_i64().unwrap() >= head - 1,
        "{last} vs head {head}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(server.data_dir().join("audit-anchor.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let metrics = scrape_metrics(&server).await;
    assert!(
        metric_sample(&metrics, "vcc_pki_audit_anchored_row_id", &[]) >= 1.0,
        "{metrics}"
    );

    // More work, verified and anchored again; then the newest rows are deleted.
    for n in 3..6 {
        issue(&server, n).await;
    }
    let v = verify(&server).await;
    assert_eq!(v["intact"], true, "{v}");
    let anchored = v["anchored_row"].as_i64().unwrap();
    let anchored_now = {
        let anchors =
            std::fs::read_to_string(server.data_dir().join("audit-anchors.jsonl")).unwrap();
        serde_json::from_str::<Value>(anchors.lines().last().unwrap()).unwrap()["row_id"]
            .as_i64()
            .unwrap()
    };
    assert!(anchored_now >= anchored);
    server.sql(&format!(
        "DELETE FROM audit_log WHERE id > {}",
        anchored_now - 3
    ));

    // The chain alone still verifies; the anchors do not.
    let v = verify(&server).await;
    assert_eq!(
        v["first_broken_id"],
        Value::Null,
        "the chain alone accepts a truncation: {v}"
    );
    assert_eq!(v["intact"], false, "{v}");
    assert!(
        v["anchor_failure"].as_str().unwrap().contains("truncated"),
        "{v}"
    );
    let (ok, out) = cli_verify(&server);
    assert!(
        !ok && out.contains("does not match its anchors") && out.contains("truncated"),
        "{out}"
    );
}

/// Edit one row and recompute every later hash, exactly as the server chains them.
const RECOMPUTE: &str = r#"
import hashlib, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1]); target = int(sys.argv[2])
rows = db.execute("SELECT id, occurred_at, actor, action, target_type, target_id, outcome, details, source_ip, prev_hash FROM audit_log ORDER BY id").fetchall()
prev = None
for (id, at, actor, action, ttype, tid, outcome, details, ip, prev_hash) in rows:
    if prev is None:
        prev = prev_hash
    if id < target:
        prev = db.execute("SELECT row_hash FROM audit_log WHERE id = ?", (id,)).fetchone()[0]
        continue
    if id == target:
        details = '{"edited":true}'
    h = hashlib.sha256()
    for f in [prev, at, actor, action, ttype, tid, outcome, details, ip]:
        if f is None:
            h.update(b"\xff" * 8)
        else:
            b = f.encode(); h.update(struct.pack(">Q", len(b))); h.update(b)
    new = h.hexdigest()
    db.execute("UPDATE audit_log SET details = ?, prev_hash = ?, row_hash = ? WHERE id = ?", (details, prev, new, id))
    prev = new
db.commit()
"#;

#[tokio::test]
async fn an_edited_row_with_recomputed_hashes_is_detected_by_its_anchors() {
    let server = TestServer::start(Some(PASSWORD));
    if server.database_url.is_some() {
        // The recomputation is written for SQLite; the truncation test runs on both backends.
        return;
    }
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    for n in 0..4 {
        issue(&server, n).await;
    }
    let v = verify(&server).await;
    assert_eq!(v["intact"], true, "{v}");
    let first: i64 = server
        .sql("SELECT MIN(id) FROM audit_log WHERE action = 'certificate.issue'")
        .parse()
        .unwrap();
    let db = server.data_dir().join("pki.db");
    let script = write(server.dir.path(), "recompute.py", RECOMPUTE);
    let (ok, out) = run(
        "python3",
        &[&script, db.to_str().unwrap(), &first.to_string()],
    );
    assert!(ok, "{out}");
    assert_eq!(
        server.sql(&format!("SELECT details FROM audit_log WHERE id = {first}")),
        r#"{"edited":true}"#
    );

    let v = verify(&server).await;
    assert_eq!(
        v["first_broken_id"],
        Value::Null,
        "the recomputed chain verifies on its own: {v}"
    );
    assert_eq!(v["intact"], false, "{v}");
    assert!(
        v["anchor_failure"].as_str().unwrap().contains("recomputed"),
        "{v}"
    );
    let (ok, out) = cli_verify(&server);
    assert!(!ok && out.contains("recomputed"), "{out}");
}

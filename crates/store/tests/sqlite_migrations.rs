//! Migrations that rebuild tables, run on a populated database. `sqlite/0006` drops the UNIQUE
//! constraints of `certificates.fingerprint_sha256` and `audit_log.row_hash` by rebuilding both
//! tables (SQLite cannot drop a constraint): every certificate, revocation, view row and the audit
//! chain must survive it, and the store must work on afterwards.
use std::path::Path;
use std::process::Command;
use vcc_pki_store::{
    AuditEntry, CaLevel, IssueEffects, NewCa, NewCertificate, NewService, RevocationTarget, Store,
};

/// Run `sql` (several statements allowed) with Python's sqlite3; rows of the last as `a|b` lines.
fn sql(db: &Path, sql: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1], timeout=30)\nc.isolation_level=None\n*head,last=[s for s in sys.argv[2].split(';') if s.strip()]\nfor s in head: c.execute(s)\nfor r in c.execute(last): print('|'.join(map(str, r)))",
        ])
        .arg(db)
        .arg(sql)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn certificate(n: u32) -> NewCertificate {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    NewCertificate {
        serial_number: serial(n),
        service_id: format!("svc{}", n % 5),
        common_name: format!("c{n}.migrate.test"),
        san_dns: vec![format!("c{n}.migrate.test")],
        san_ip: vec![],
        profile: "server".into(),
        key_type: vcc_pki_core::KeyType::EcdsaP256,
        key_source: "csr".into(),
        public_key_sha256: format!("key{n}"),
        fingerprint_sha256: format!("{n:064x}"),
        certificate_der: vec![0x30, 0x00],
        issuer_ca_id: 1,
        not_before: now,
        not_after: now + time::Duration::days(if matches!(n % 3, 0) { 5 } else { 60 }),
        renewed_from: None,
        crl_shard: Some(i64::from(n % 4)),
        renew_after: now + time::Duration::days(20),
    }
}

/// What must not change across the migration.
const SNAPSHOT: &str = "SELECT (SELECT COUNT(*) FROM certificates),
    (SELECT group_concat(quote(id) || quote(serial_number) || quote(service_id) || quote(common_name) || quote(san_dns) || quote(san_ip) || quote(profile) || quote(key_type) || quote(key_source) || quote(public_key_sha256) || quote(fingerprint_sha256) || quote(certificate_der) || quote(issuer_ca_id) || quote(not_before) || quote(not_after) || quote(status) || quote(renewed_from) || quote(created_at) || quote(crl_shard), ',') FROM (SELECT * FROM certificates ORDER BY id)),
    (SELECT COUNT(*) FROM revoked_certificates),
    (SELECT COUNT(*) FROM certificate_rotation_schedule),
    (SELECT COUNT(*) FROM audit_log),
    (SELECT group_concat(quote(id) || quote(occurred_at) || quote(actor) || quote(action) || quote(target_type) || quote(target_id) || quote(outcome) || quote(details) || quote(source_ip) || quote(prev_hash) || quote(row_hash), ',') FROM (SELECT * FROM audit_log ORDER BY id)),
    (SELECT COUNT(*) FROM v_certificate_status), (SELECT COUNT(*) FROM v_active_certificates),
    (SELECT COUNT(*) FROM v_expiring_certificates), (SELECT COUNT(*) FROM v_service_certificates)";

/// The snapshot without its two long lists (certificates and audit hashes), for messages.
fn counts(snapshot: &str) -> String {
    snapshot
        .split('|')
        .enumerate()
        .filter(|(i, _)| *i != 1 && *i != 5)
        .map(|(_, v)| v)
        .collect::<Vec<_>>()
        .join("|")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_0006_rebuilds_a_populated_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    {
        let store = Store::open(&url).await.unwrap();
        let now = time::OffsetDateTime::now_utc();
        for level in [CaLevel::Root, CaLevel::Intermediate] {
            let ca = NewCa {
                common_name: format!("{level:?}"),
                subject: format!("CN={level:?}"),
                serial_number: serial(if level == CaLevel::Root { 901 } else { 902 }),
                key_type: vcc_pki_core::KeyType::EcdsaP256,
                certificate_der: vec![0x30, 0x00],
                key: vcc_pki_store::CaKey::EncryptedPem("x".into()),
                fingerprint_sha256: format!("{level:?}"),
                not_before: now,
                not_after: now + time::Duration::days(365),
            };
            let audit = AuditEntry::new("test", "ca.create", "ca");
            store.insert_ca(level, &ca, &audit).await.unwrap();
        }
        let mut tasks = Vec::new();
        for n in 1..=300u32 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let effects = IssueEffects {
                    create_service: Some(NewService {
                        service_id: format!("svc{}", n % 5),
                        service_name: "migrate".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let audit = AuditEntry::new("test", "certificate.issue", "certificate")
                    .target(n.to_string());
                store
                    .insert_certificate(&certificate(n), &effects, &audit)
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        for (n, reason) in [
            (7u32, vcc_pki_core::RevocationReason::KeyCompromise),
            (8, vcc_pki_core::RevocationReason::Superseded),
        ] {
            let target = RevocationTarget::Serial(serial(n));
            let audit = AuditEntry::new("test", "certificate.revoke", "certificate");
            store
                .revoke_certificates(&target, reason, "test", &audit)
                .await
                .unwrap();
        }
    }
    // Back to the schema 0006 found: both digests UNIQUE, 0006 not applied yet.
    let before = sql(
        &db,
        &format!(
            "CREATE UNIQUE INDEX old_fingerprint ON certificates(fingerprint_sha256);
             CREATE UNIQUE INDEX old_row_hash ON audit_log(row_hash);
             DELETE FROM _sqlx_migrations WHERE version = 6;
             {SNAPSHOT}"
        ),
    );
    assert!(before.starts_with("300|"), "{}", counts(&before));

    let store = Store::open(&url).await.unwrap();
    let after = sql(&db, SNAPSHOT);
    assert!(
        after == before,
        "rows changed by the rebuild; counts before {} and after {}",
        counts(&before),
        counts(&after)
    );
    assert_eq!(
        sql(
            &db,
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 6 AND success"
        ),
        "1"
    );
    for (table, column) in [
        ("certificates", "fingerprint_sha256"),
        ("audit_log", "row_hash"),
    ] {
        let unique = format!(
            "SELECT COUNT(*) FROM pragma_index_list('{table}') l, pragma_index_info(l.name) i
             WHERE l.[unique] AND i.name = '{column}'"
        );
        assert_eq!(sql(&db, &unique), "0", "{table}.{column} still UNIQUE");
    }
    assert_eq!(sql(&db, "PRAGMA integrity_check"), "ok");
    assert_eq!(sql(&db, "PRAGMA foreign_key_check"), "");
    let chain = store.verify_audit_chain().await.unwrap();
    assert!(chain.intact && chain.rows == 2 + 300 + 2, "{chain:?}");
    // The serial stays unique, and the keyCompromise block still holds.
    let duplicate = store
        .insert_certificate(
            &certificate(9),
            &IssueEffects::default(),
            &AuditEntry::new("test", "certificate.issue", "certificate"),
        )
        .await;
    assert!(duplicate.is_err(), "{duplicate:?}");
    let mut reuse = certificate(301);
    reuse.public_key_sha256 = "key7".into();
    let blocked = store
        .insert_certificate(
            &reuse,
            &IssueEffects::default(),
            &AuditEntry::new("test", "certificate.issue", "certificate"),
        )
        .await;
    assert!(
        matches!(blocked, Err(vcc_pki_store::StoreError::Refused(_))),
        "{blocked:?}"
    );
    store
        .insert_certificate(
            &certificate(302),
            &IssueEffects::default(),
            &AuditEntry::new("test", "certificate.issue", "certificate"),
        )
        .await
        .unwrap();
    let chain = store.verify_audit_chain().await.unwrap();
    assert!(chain.intact && chain.rows == 2 + 300 + 2 + 1, "{chain:?}");
}

/// A serial whose hex is `40` and then `n`: 16 bytes, as the authority makes them.
fn serial(n: u32) -> vcc_pki_core::Serial {
    vcc_pki_core::Serial::from_hex(&format!("40{n:030x}")).unwrap()
}

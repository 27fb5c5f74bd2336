//! The store against both backends: the same schema, the same audit chain, the same CRL numbering
//! and lease rules. PostgreSQL comes from VCC_TEST_POSTGRES_URL (default the CI's local cluster);
//! the PostgreSQL tests fail, never skip, when it cannot be reached.
use std::process::Command;
use vcc_pki_store::{AuditEntry, Store, SEED_TABLES, SEED_VIEWS};

fn postgres_url() -> String {
    let admin = std::env::var("VCC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://vcc:vcc@127.0.0.1:5432/postgres".into());
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("vcc_store_{}_{}_{n}", std::process::id(), rand_small());
    let out = Command::new("psql")
        .args([&admin, "-Xqc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "PostgreSQL expected at {admin}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}/{name}",
        admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin)
    )
}

fn rand_small() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    (dir, store)
}

async fn schema_and_chain(store: &Store, objects: &str) {
    for t in SEED_TABLES {
        assert!(
            objects.lines().any(|l| l == format!("table:{t}")),
            "missing table {t}"
        );
    }
    for v in SEED_VIEWS {
        assert!(
            objects.lines().any(|l| l == format!("view:{v}")),
            "missing view {v}"
        );
    }
    // Concurrent appends from many tasks keep one unbroken chain.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.audit(AuditEntry::new("test", "test.event", "thing").target(i.to_string()))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let v = store.verify_audit_chain().await.unwrap();
    assert!(v.intact && v.rows == 40, "{v:?}");
    // Leases: one holder at a time; the holder renews; another takes over only after expiry.
    assert!(store
        .acquire_lease("crl", "a", time::Duration::seconds(60))
        .await
        .unwrap());
    assert!(!store
        .acquire_lease("crl", "b", time::Duration::seconds(60))
        .await
        .unwrap());
    assert!(store
        .acquire_lease("crl", "a", time::Duration::seconds(60))
        .await
        .unwrap());
    assert!(store
        .acquire_lease("x", "b", time::Duration::seconds(-1))
        .await
        .unwrap());
    assert!(
        store
            .acquire_lease("x", "c", time::Duration::seconds(60))
            .await
            .unwrap(),
        "expired lease not taken over"
    );
}

fn sqlite_objects(dir: &tempfile::TempDir) -> String {
    let out = Command::new("python3")
        .args(["-c", "import sqlite3,sys\nfor t,n in sqlite3.connect(sys.argv[1]).execute(\"SELECT type,name FROM sqlite_master WHERE type IN ('table','view')\"): print(t+':'+n)"])
        .arg(dir.path().join("t.db"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn postgres_objects(url: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-XAtqc", "SELECT CASE WHEN table_type = 'VIEW' THEN 'view' ELSE 'table' END || ':' || table_name FROM information_schema.tables WHERE table_schema = 'public'"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn sqlite_schema_audit_chain_and_leases() {
    let (dir, store) = sqlite().await;
    schema_and_chain(&store, &sqlite_objects(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_schema_audit_chain_and_leases() {
    let url = postgres_url();
    let store = Store::open(&url).await.unwrap();
    schema_and_chain(&store, &postgres_objects(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_migrations_are_safe_when_replicas_start_together() {
    let url = postgres_url();
    let opens: Vec<_> = (0..4)
        .map(|_| tokio::spawn(Store::open_owned(url.clone())))
        .collect();
    for o in opens {
        o.await.unwrap().unwrap();
    }
    assert!(postgres_objects(&url).contains("table:audit_log"));
}

fn new_certificate(
    n: u32,
    key: &str,
    renewed_from: Option<vcc_pki_core::Serial>,
) -> vcc_pki_store::NewCertificate {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    vcc_pki_store::NewCertificate {
        serial_number: serial(n),
        service_id: "batch".into(),
        common_name: format!("c{n}.batch.test"),
        san_dns: vec![format!("c{n}.batch.test")],
        san_ip: vec![],
        profile: "server".into(),
        key_type: vcc_pki_core::KeyType::EcdsaP256,
        key_source: "csr".into(),
        public_key_sha256: key.into(),
        fingerprint_sha256: format!("{n:064x}"),
        certificate_der: vec![0x30, 0x00],
        issuer_ca_id: 1,
        not_before: now,
        not_after: now + time::Duration::days(30),
        renewed_from,
        crl_shard: Some(i64::from(n % 4)),
        renew_after: now + time::Duration::days(20),
    }
}

/// Group commit stores a burst of concurrent issuances in shared transactions, yet decides each
/// one on its own: a renewal of a revoked certificate and a key revoked for keyCompromise are
/// refused, a duplicate serial fails alone (the batch falls back to one by one), the rest land
/// with their audit rows and rotation schedules, and the audit chain stays intact.
async fn group_commit_decides_each_issuance(store: &Store, sql: impl Fn(&str) -> String) {
    use vcc_pki_store::{CaLevel, IssueEffects, NewCa, NewService, RevocationTarget};
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
        store
            .insert_ca(level, &ca, &AuditEntry::new("test", "ca.create", "ca"))
            .await
            .unwrap();
    }
    let create = IssueEffects {
        create_service: Some(NewService {
            service_id: "batch".into(),
            service_name: "batch".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let audit =
        |n: u32| AuditEntry::new("test", "certificate.issue", "certificate").target(n.to_string());
    // Setup: certificate 1 (key "bad") revoked for keyCompromise, certificate 2 revoked as
    // superseded, certificate 50 active (renewed in the burst).
    for (n, key) in [(1, "bad"), (2, "old"), (50, "k50")] {
        store
            .insert_certificate(&new_certificate(n, key, None), &create, &audit(n))
            .await
            .unwrap();
    }
    for (n, reason) in [
        (1u32, vcc_pki_core::RevocationReason::KeyCompromise),
        (2, vcc_pki_core::RevocationReason::Superseded),
    ] {
        store
            .revoke_certificates(
                &RevocationTarget::Serial(serial(n)),
                reason,
                "test",
                &AuditEntry::new("test", "certificate.revoke", "certificate"),
            )
            .await
            .unwrap();
    }
    // One burst: 3..=40 fine, 41 renews the revoked 2, 42 reuses the compromised key, 43 repeats
    // serial 3 (its fingerprint differs), 44 renews the active 50.
    let mut tasks = Vec::new();
    for n in 3u32..=44 {
        let store = store.clone();
        let effects = create.clone();
        let mut cert = match n {
            41 => new_certificate(n, "k41", Some(serial(2))),
            42 => new_certificate(n, "bad", None),
            44 => new_certificate(n, "k50", Some(serial(50))),
            _ => new_certificate(n, &format!("k{n}"), None),
        };
        if n == 43 {
            cert.serial_number = serial(3);
        }
        tasks.push(tokio::spawn(async move {
            (
                n,
                store.insert_certificate(&cert, &effects, &audit(n)).await,
            )
        }));
    }
    let mut stored = 0;
    let mut serial_three = Vec::new();
    for task in tasks {
        let (n, result) = task.await.unwrap();
        match n {
            41 | 42 => assert!(
                matches!(result, Err(vcc_pki_store::StoreError::Refused(_))),
                "{n}: {result:?}"
            ),
            // The same serial twice: whichever came first is stored, the other is a conflict.
            3 | 43 => serial_three.push(result),
            _ => {
                result.unwrap_or_else(|e| panic!("{n}: {e}"));
                stored += 1;
            }
        }
    }
    assert_eq!(stored, 38);
    assert_eq!(
        serial_three.iter().filter(|r| r.is_ok()).count(),
        1,
        "{serial_three:?}"
    );
    assert!(
        serial_three
            .iter()
            .any(|r| matches!(r, Err(vcc_pki_store::StoreError::Conflict(_)))),
        "{serial_three:?}"
    );
    let page = store
        .list_certificates(&vcc_pki_store::CertificateFilter {
            service_id: Some("batch".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 42, "3 set-up + 39 from the burst");
    let v = store.verify_audit_chain().await.unwrap();
    // 2 CAs + 3 set-up issuances + 2 revocations + 39 issuances.
    assert!(v.intact && v.rows == 46, "{v:?}");
    // Every stored certificate has its rotation schedule; the renewed one is marked renewed.
    let schedule = |serial: u32| {
        sql(&format!(
            "SELECT s.status FROM certificate_rotation_schedule s JOIN certificates c ON c.id = s.certificate_id WHERE c.serial_number = '40{serial:030x}'"
        ))
    };
    assert_eq!(schedule(50), "renewed");
    assert_eq!(schedule(44), "pending");
    // A second burst with nothing to refuse stays on the bulk path: 60..=69 new, 70 renews 5.
    let mut tasks = Vec::new();
    for n in 60u32..=70 {
        let store = store.clone();
        let effects = create.clone();
        let cert = if n == 70 {
            new_certificate(n, "k5", Some(serial(5)))
        } else {
            new_certificate(n, &format!("k{n}"), None)
        };
        tasks.push(tokio::spawn(async move {
            store.insert_certificate(&cert, &effects, &audit(n)).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(schedule(5), "renewed");
    assert_eq!(schedule(70), "pending");
    assert_eq!(
        sql("SELECT COUNT(*) FROM certificates c LEFT JOIN certificate_rotation_schedule s ON s.certificate_id = c.id WHERE s.id IS NULL"),
        "0"
    );
    // Issuances and revocations at once (on SQLite both go through the group-commit writer, on its
    // own connection, in shared transactions). Every write must succeed, each revocation must
    // return what it hit — a keyCompromise revocation also its key's other certificate — and the
    // audit chain must stay one line (a fork breaks `verify_audit_chain`).
    for n in [220u32, 221] {
        store
            .insert_certificate(&new_certificate(n, "shared", None), &create, &audit(n))
            .await
            .unwrap();
    }
    let compromise = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .revoke_certificates(
                    &RevocationTarget::Serial(serial(220)),
                    vcc_pki_core::RevocationReason::KeyCompromise,
                    "test",
                    &AuditEntry::new("test", "certificate.revoke", "certificate"),
                )
                .await
        })
    };
    let mut issued = Vec::new();
    for n in 100u32..=219 {
        let store = store.clone();
        let effects = create.clone();
        issued.push(tokio::spawn(async move {
            let cert = new_certificate(n, &format!("k{n}"), None);
            store.insert_certificate(&cert, &effects, &audit(n)).await
        }));
    }
    let mut revoked = Vec::new();
    for n in 60u32..=69 {
        let store = store.clone();
        revoked.push(tokio::spawn(async move {
            store
                .revoke_certificates(
                    &RevocationTarget::Serial(serial(n)),
                    vcc_pki_core::RevocationReason::Superseded,
                    "test",
                    &AuditEntry::new("test", "certificate.revoke", "certificate"),
                )
                .await
        }));
    }
    for task in issued {
        task.await.unwrap().unwrap();
    }
    for (task, n) in revoked.into_iter().zip(60u32..) {
        let records = task.await.unwrap().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].serial_number, serial(n));
    }
    let mut both: Vec<vcc_pki_core::Serial> = compromise
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|r| r.serial_number)
        .collect();
    both.sort();
    assert_eq!(both, [serial(220), serial(221)]);
    let blocked = store
        .insert_certificate(&new_certificate(222, "shared", None), &create, &audit(222))
        .await;
    assert!(
        matches!(blocked, Err(vcc_pki_store::StoreError::Refused(_))),
        "{blocked:?}"
    );
    let v = store.verify_audit_chain().await.unwrap();
    // 46 above, 11 from the second burst, 2 set-up, 120 issuances, 11 revocations.
    assert!(v.intact && v.rows == 46 + 11 + 2 + 120 + 11, "{v:?}");
    assert_eq!(
        sql("SELECT COUNT(*) FROM certificates WHERE status = 'revoked'"),
        "14"
    );
    assert_eq!(
        sql("SELECT COUNT(*) FROM revoked_certificates WHERE reason = 'keyCompromise'"),
        "3"
    );
    statistics_agree_with_a_full_count(store, &sql, &create).await;
    inventory_filters_and_search(store, &sql).await;
}

/// `statistics()` reads counters that triggers keep; they must give what a full count gives,
/// across expiry days (past, today on both sides of now, within 30 days, both sides of the 30th
/// day, later), revocations and every table.
async fn statistics_agree_with_a_full_count(
    store: &Store,
    sql: &impl Fn(&str) -> String,
    create: &vcc_pki_store::IssueEffects,
) {
    use time::Duration;
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let offsets = [
        Duration::days(-3),
        Duration::minutes(-1),
        Duration::minutes(1),
        Duration::days(10),
        Duration::days(30) - Duration::minutes(1),
        Duration::days(30) + Duration::minutes(1),
        Duration::days(400),
    ];
    for (i, offset) in offsets.iter().enumerate() {
        let n = 600 + i as u32;
        let mut c = new_certificate(n, &format!("k{n}"), None);
        c.not_before = now - Duration::days(5);
        c.not_after = now + *offset;
        let audit = AuditEntry::new("test", "certificate.issue", "certificate");
        store.insert_certificate(&c, create, &audit).await.unwrap();
    }
    store
        .revoke_certificates(
            &vcc_pki_store::RevocationTarget::Serial(serial(603)),
            vcc_pki_core::RevocationReason::Superseded,
            "test",
            &AuditEntry::new("test", "certificate.revoke", "certificate"),
        )
        .await
        .unwrap();
    let stats = store.statistics().await.unwrap();
    let at = vcc_pki_store::format_time(time::OffsetDateTime::now_utc());
    let soon = vcc_pki_store::format_time(time::OffsetDateTime::now_utc() + Duration::days(30));
    let full = sql(&format!(
        "SELECT COUNT(*),
                SUM(CASE WHEN status = 'active' AND not_after > '{at}' THEN 1 ELSE 0 END),
                SUM(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END),
                SUM(CASE WHEN status = 'active' AND not_after <= '{at}' THEN 1 ELSE 0 END),
                SUM(CASE WHEN status = 'active' AND not_after > '{at}' AND not_after <= '{soon}' THEN 1 ELSE 0 END)
         FROM certificates"
    ));
    assert_eq!(
        format!(
            "{}|{}|{}|{}|{}",
            stats.certificates_total,
            stats.certificates_active,
            stats.certificates_revoked,
            stats.certificates_expired,
            stats.certificates_expiring
        ),
        full,
        "counters (total|active|revoked|expired|expiring) against a full count"
    );
    assert!(
        stats.certificates_expired >= 2 && stats.certificates_expiring >= 3,
        "{stats:?}"
    );
    for (table, n) in &stats.tables {
        assert_eq!(
            n.to_string(),
            sql(&format!("SELECT COUNT(*) FROM {table}")),
            "rows of {table}"
        );
    }
    assert!(stats.audit_rows > 0 && stats.services == 1, "{stats:?}");
}

/// Every filter and search of the inventory gives what a full scan gives, page by page.
async fn inventory_filters_and_search(store: &Store, sql: &impl Fn(&str) -> String) {
    use vcc_pki_store::{
        CertificateCursor, CertificateFilter, CertificateSearch, CertificateStatus,
    };
    let walk = |filter: CertificateFilter| async move {
        let mut ids = Vec::new();
        let mut cursor: Option<CertificateCursor> = None;
        loop {
            let page = store
                .list_certificates(&CertificateFilter {
                    limit: 3,
                    cursor: cursor.clone(),
                    ..filter.clone()
                })
                .await
                .unwrap();
            ids.extend(page.items.iter().map(|c| c.id.to_string()));
            // Cursors survive the trip through their text form.
            cursor = page
                .next_cursor
                .map(|c| CertificateCursor::parse(&c.to_token()).unwrap());
            if cursor.is_none() {
                break;
            }
        }
        ids.join(",")
    };
    let ids = |q: &str| sql(&q.replace('\n', " ")).replace('\n', ",");
    let at = vcc_pki_store::format_time(time::OffsetDateTime::now_utc());
    let status = |s| CertificateFilter {
        status: Some(s),
        ..Default::default()
    };
    assert_eq!(
        walk(status(CertificateStatus::Revoked)).await,
        ids("SELECT id FROM certificates WHERE status = 'revoked' ORDER BY id DESC")
    );
    assert_eq!(
        walk(status(CertificateStatus::Expired)).await,
        ids(&format!("SELECT id FROM certificates WHERE status = 'active' AND not_after <= '{at}' ORDER BY not_after DESC, id DESC"))
    );
    let soonest = walk(CertificateFilter {
        expires_within_days: Some(31),
        ..Default::default()
    })
    .await;
    let in_31 =
        vcc_pki_store::format_time(time::OffsetDateTime::now_utc() + time::Duration::days(31));
    assert_eq!(
        soonest,
        ids(&format!("SELECT id FROM certificates WHERE status = 'active' AND not_after > '{at}' AND not_after <= '{in_31}' ORDER BY not_after, id"))
    );
    assert!(
        soonest.split(',').count() > 3,
        "more than one page: {soonest}"
    );
    assert_eq!(
        walk(CertificateFilter {
            service_id: Some("batch".into()),
            ..Default::default()
        })
        .await,
        ids("SELECT id FROM certificates WHERE service_id = 'batch' ORDER BY id DESC")
    );
    assert_eq!(
        walk(CertificateFilter {
            profile: Some("nosuch".into()),
            ..Default::default()
        })
        .await,
        ""
    );
    // Search: an exact name in any case, a serial prefix, a fingerprint prefix.
    let search = |term: &str| CertificateFilter {
        search: CertificateSearch::parse(term),
        ..Default::default()
    };
    assert_eq!(
        walk(search("C603.Batch.TEST")).await,
        ids("SELECT id FROM certificates WHERE common_name = 'c603.batch.test' ORDER BY id DESC")
    );
    assert_eq!(
        walk(search("603.batch.test")).await,
        "",
        "names match whole"
    );
    let serial =
        sql("SELECT serial_number FROM certificates WHERE common_name = 'c603.batch.test'");
    assert_eq!(
        walk(search(&serial[..8].to_uppercase())).await,
        ids(&format!(
            "SELECT id FROM certificates WHERE serial_number LIKE '{}%' ORDER BY id DESC",
            &serial[..8]
        ))
    );
    // (The test's fingerprints share their leading zeros: the whole one names one certificate.)
    let fingerprint =
        sql("SELECT fingerprint_sha256 FROM certificates WHERE common_name = 'c603.batch.test'");
    assert_eq!(
        walk(search(&fingerprint)).await,
        ids("SELECT id FROM certificates WHERE common_name = 'c603.batch.test'")
    );
    // Issuance per day comes from its counter: today's count is every certificate stored today.
    let days = store.issuance_per_day(7).await.unwrap();
    assert_eq!(days.len(), 7);
    let today = &at[..10];
    assert_eq!(days[6].0, today);
    assert_eq!(
        days[6].1.to_string(),
        sql(&format!(
            "SELECT COUNT(*) FROM certificates WHERE created_at LIKE '{today}%'"
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_group_commit_decides_each_issuance() {
    let (dir, store) = sqlite().await;
    let db = dir.path().join("t.db");
    group_commit_decides_each_issuance(&store, |q| {
        let out = Command::new("python3")
            .args(["-c", "import sqlite3,sys\nfor r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print('|'.join(map(str, r)))"])
            .arg(&db)
            .arg(q)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_group_commit_decides_each_issuance() {
    let url = postgres_url();
    let store = Store::open(&url).await.unwrap();
    group_commit_decides_each_issuance(&store, |q| {
        let out = Command::new("psql")
            .args([&url, "-XAtqc", q])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    })
    .await;
}

/// A serial whose hex is `40` and then `n`: 16 bytes, as the authority makes them.
fn serial(n: u32) -> vcc_pki_core::Serial {
    vcc_pki_core::Serial::from_hex(&format!("40{n:030x}")).unwrap()
}

/// Tidy's statements run on both backends (its rules are tested with the authority's clock in
/// crates/authority): on a store with nothing old it removes nothing and writes its audit row.
async fn tidy_runs_and_is_audited(store: &Store) {
    let now = time::OffsetDateTime::now_utc();
    let audit = AuditEntry::new("system", "store.tidy", "store");
    let report = store
        .tidy(now, now - time::Duration::days(90), &audit)
        .await
        .unwrap();
    assert_eq!(report, vcc_pki_store::TidyReport::default());
    let rows = store
        .audit_page(Some("store.tidy"), None, None, 5)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["details"]["removed"]["certificates_emptied"], 0);
    assert!(store.verify_audit_chain().await.unwrap().intact);
    // …and `db verify`'s structural checks pass on a fresh store.
    let findings = store.check_structure().await;
    assert!(findings.iter().all(|f| f.ok), "{findings:?}");
}

#[tokio::test]
async fn sqlite_tidy_runs_and_is_audited() {
    let (_dir, store) = sqlite().await;
    tidy_runs_and_is_audited(&store).await;
}

#[tokio::test]
async fn postgres_tidy_runs_and_is_audited() {
    let store = Store::open(&postgres_url()).await.unwrap();
    tidy_runs_and_is_audited(&store).await;
}

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

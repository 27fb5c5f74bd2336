//! `vcc-pki db verify` and the check after `db restore` (SPEC §10): the store's structure and
//! counters, the audit chain, and (given the password) that each active CA key opens and belongs
//! to its certificate. Reads only; the same checks on SQLite and PostgreSQL.
use vcc_pki_store::{CaLevel, CheckFinding, Store};

/// Every check, in the order a reader wants them. `password`: the CA password, or `None` to
/// skip opening the keys (reported, not failed).
pub async fn verify_store(store: &Store, password: Option<&[u8]>) -> Vec<CheckFinding> {
    let mut findings = store.check_structure().await;
    findings.push(match store.verify_audit_chain().await {
        Ok(v) if v.intact => CheckFinding::pass(
            "audit chain",
            format!("{} rows, head {}", v.rows, short(&v.head_hash)),
        ),
        Ok(v) => CheckFinding::fail(
            "audit chain",
            format!(
                "broken at row {} of {}",
                v.first_broken_id.unwrap_or_default(),
                v.rows
            ),
        ),
        Err(e) => CheckFinding::fail("audit chain", e.to_string()),
    });
    for (level, name) in [
        (CaLevel::Root, "root CA key"),
        (CaLevel::Intermediate, "intermediate CA key"),
    ] {
        findings.push(check_ca_key(store, level, name, password).await);
    }
    findings
}

async fn check_ca_key(
    store: &Store,
    level: CaLevel,
    name: &'static str,
    password: Option<&[u8]>,
) -> CheckFinding {
    let record = match store.active_ca(level).await {
        Ok(Some(r)) => r,
        Ok(None) => return CheckFinding::pass(name, "no active CA at this level"),
        Err(e) => return CheckFinding::fail(name, e.to_string()),
    };
    if record.key == vcc_pki_store::CaKey::Offline {
        return CheckFinding::pass(
            name,
            format!(
                "{} is offline: no key on this server, by design",
                record.common_name
            ),
        );
    }
    let token = matches!(record.key, vcc_pki_store::CaKey::Pkcs11Uri(_));
    if password.is_none() && !token {
        return CheckFinding::pass(
            name,
            format!(
                "{} present, not opened (no password given)",
                record.common_name
            ),
        );
    }
    let password =
        password.map(|p| zeroize::Zeroizing::new(String::from_utf8_lossy(p).into_owned()));
    let key = match crate::ca_key::open(
        &record.key,
        password.as_ref(),
        name.trim_end_matches(" CA key"),
    ) {
        Ok(Some(k)) => k,
        Ok(None) | Err(_) if !token => {
            return CheckFinding::fail(
                name,
                format!(
                    "the key of {} does not open with this password",
                    record.common_name
                ),
            )
        }
        Ok(None) => return CheckFinding::fail(name, "the token key did not open"),
        Err(e) => return CheckFinding::fail(name, e.to_string()),
    };
    let certificate_spki = x509_parser::parse_x509_certificate(&record.certificate_der)
        .map(|(_, c)| c.tbs_certificate.subject_pki.raw.to_vec());
    match certificate_spki {
        Ok(spki) if spki == key.subject_public_key_info() => CheckFinding::pass(
            name,
            format!(
                "{} opens and matches its certificate (SHA-256 {})",
                record.common_name,
                short(&record.fingerprint_sha256)
            ),
        ),
        Ok(_) => CheckFinding::fail(
            name,
            format!(
                "the key of {} is not the key of its certificate",
                record.common_name
            ),
        ),
        Err(e) => CheckFinding::fail(name, format!("certificate unreadable: {e}")),
    }
}

fn short(hash: &str) -> String {
    hash.chars().take(16).collect()
}

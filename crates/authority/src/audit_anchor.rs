//! Anchors for the audit chain (issue 18): the chain alone is edit-evident, not tamper-evident —
//! someone who can write the database can delete the newest rows, or edit a row and recompute
//! every later hash, and the chain still verifies. So the head is anchored outside the database:
//! every minute (and after each verification that passes) the newest row's id and hash are
//! signed with an Ed25519 key kept in the data dir (`audit-anchor.key`, 0600) and appended to
//! `audit-anchors.jsonl`; each anchor also goes to the log and to a metric, for copies off the
//! host. Verification then checks the newest anchors against the store: a row that is gone
//! (truncation) or whose hash changed (recomputation) is reported.
use crate::{Authority, AuthorityError, AuthorityResult};
use base64::Engine;
use rcgen::{KeyPair, PublicKeyData, SigningKey};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Weak};
use time::format_description::well_known::Rfc3339;

const KEY_FILE: &str = "audit-anchor.key";
const PUBLIC_FILE: &str = "audit-anchor.pub";
const ANCHORS_FILE: &str = "audit-anchors.jsonl";
/// How often the head is anchored when it moved.
const INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// How many of the newest anchors a verification checks (each one a point lookup).
const CHECKED: usize = 100;
pub const ANCHORED_ROW: &str = "vcc_pki_audit_anchored_row_id";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Anchor {
    row_id: i64,
    row_hash: String,
    anchored_at: String,
    /// Ed25519 over `message(row_id, row_hash, anchored_at)`, base64.
    signature: String,
}

fn message(row_id: i64, row_hash: &str, anchored_at: &str) -> String {
    format!("vcc-pki audit anchor v1\n{row_id}\n{row_hash}\n{anchored_at}\n")
}

/// What checking the anchors found.
#[derive(Debug, Clone, Default)]
pub struct AnchorCheck {
    /// Anchors read and checked against the store.
    pub checked: usize,
    /// The newest anchored row id, if any anchor exists.
    pub anchored_row: Option<i64>,
    /// Why the store does not match its anchors (truncated, recomputed, or a forged anchor).
    pub failure: Option<String>,
}

/// The anchor key of `data_dir`, made on first use.
fn key(data_dir: &Path) -> AuthorityResult<KeyPair> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(pem) => vcc_pki_core::keys::private_key_from_pem(&pem)
            .map_err(|e| AuthorityError::internal(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = vcc_pki_core::KeyType::Ed25519.generate()?;
            let pem = vcc_pki_core::keys::private_key_pem(&key);
            crate::files::write_secret(&path, pem.as_bytes())
                .map_err(|e| AuthorityError::internal(format!("{}: {e}", path.display())))?;
            let public = base64::engine::general_purpose::STANDARD.encode(key.der_bytes());
            let _ = crate::files::write_public(
                &data_dir.join(PUBLIC_FILE),
                format!("{public}\n").as_bytes(),
            );
            Ok(key)
        }
        Err(e) => Err(AuthorityError::internal(format!("{}: {e}", path.display()))),
    }
}

fn read_anchors(data_dir: &Path) -> AuthorityResult<Vec<Anchor>> {
    let path = data_dir.join(ANCHORS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(AuthorityError::internal(format!("{}: {e}", path.display()))),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                AuthorityError::internal(format!(
                    "{}: a line is not an anchor: {e}",
                    path.display()
                ))
            })
        })
        .collect()
}

impl Authority {
    /// Anchor the audit head if it moved since the newest anchor. Returns the anchored row id.
    pub async fn anchor_audit_head(&self) -> AuthorityResult<Option<i64>> {
        let _one_at_a_time = self.audit_anchoring.lock().await;
        let Some((row_id, row_hash)) = self.store.audit_head().await? else {
            return Ok(None);
        };
        let dir = self.config.data_dir.clone();
        let newest = read_anchors(&dir)?.pop();
        if newest
            .as_ref()
            .is_some_and(|a| a.row_id == row_id && a.row_hash == row_hash)
        {
            return Ok(Some(row_id));
        }
        let anchored_at = self.now().format(&Rfc3339).unwrap_or_default();
        let key = key(&dir)?;
        let signature = key
            .sign(message(row_id, &row_hash, &anchored_at).as_bytes())
            .map_err(|e| AuthorityError::internal(format!("anchor signature: {e}")))?;
        let anchor = Anchor {
            row_id,
            row_hash: row_hash.clone(),
            anchored_at,
            signature: base64::engine::general_purpose::STANDARD.encode(signature),
        };
        let line =
            serde_json::to_string(&anchor).map_err(|e| AuthorityError::internal(e.to_string()))?;
        let path = dir.join(ANCHORS_FILE);
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{line}").and_then(|_| f.sync_all()));
        written.map_err(|e| AuthorityError::internal(format!("{}: {e}", path.display())))?;
        tracing::info!(row_id, row_hash = %row_hash, "audit head anchored");
        metrics::gauge!(ANCHORED_ROW).set(row_id as f64);
        Ok(Some(row_id))
    }

    /// Check the newest anchors against the store: each signature, and that each anchored row
    /// still exists with the hash it had.
    pub async fn check_audit_anchors(&self) -> AuthorityResult<AnchorCheck> {
        let dir = self.config.data_dir.clone();
        let anchors = read_anchors(&dir)?;
        if anchors.is_empty() {
            return Ok(AnchorCheck::default());
        }
        let key = key(&dir)?;
        let public = key.der_bytes().to_vec();
        let verifier =
            aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public);
        let mut check = AnchorCheck {
            anchored_row: anchors.last().map(|a| a.row_id),
            ..Default::default()
        };
        for anchor in anchors.iter().rev().take(CHECKED) {
            check.checked += 1;
            let signature = base64::engine::general_purpose::STANDARD
                .decode(&anchor.signature)
                .unwrap_or_default();
            let msg = message(anchor.row_id, &anchor.row_hash, &anchor.anchored_at);
            if verifier.verify(msg.as_bytes(), &signature).is_err() {
                check.failure = Some(format!(
                    "the anchor of row {} ({}) is not signed by this server's anchor key",
                    anchor.row_id, anchor.anchored_at
                ));
                break;
            }
            match self.store.audit_row_hash(anchor.row_id).await? {
                None => {
                    check.failure = Some(format!(
                        "row {} anchored at {} is gone: the audit log was truncated",
                        anchor.row_id, anchor.anchored_at
                    ));
                    break;
                }
                Some(hash) if hash != anchor.row_hash => {
                    check.failure = Some(format!(
                        "row {} does not have the hash anchored at {}: rows were changed and the chain recomputed",
                        anchor.row_id, anchor.anchored_at
                    ));
                    break;
                }
                Some(_) => {}
            }
        }
        Ok(check)
    }

    /// Anchor the head every minute for the life of the server.
    pub fn start_audit_anchors(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(this) = weak.upgrade() else { return };
                if let Err(e) = this.anchor_audit_head().await {
                    tracing::warn!(error = %e, "could not anchor the audit head");
                }
                drop(this);
                tokio::time::sleep(INTERVAL).await;
            }
        });
    }
}

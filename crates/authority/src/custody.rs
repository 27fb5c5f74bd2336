//! CA key custody: the active root and intermediate as the store has them, their keys unlocked
//! with the CA password (or left sealed), and a follower that reloads them when another replica
//! creates or replaces a CA in the shared database.
use crate::{Authority, AuthorityError, AuthorityResult};
use std::sync::Arc;
use vcc_pki_core::{certificate_pem, IssuingAuthority};
use vcc_pki_store::{ActiveCaIds, CaLevel, CaRecord};
use zeroize::Zeroizing;

/// How often each replica compares the active CA ids in the store with those it loaded.
const CA_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Unlocked CA material. Absent keys with present records means "sealed".
#[derive(Default)]
pub(crate) struct CaKeys {
    pub(crate) password: Option<Zeroizing<String>>,
    pub(crate) root: Option<Arc<IssuingAuthority>>,
    /// (intermediate_ca.id, authority)
    pub(crate) intermediate: Option<(i64, Arc<IssuingAuthority>)>,
    /// PEM of intermediate + root, for responses.
    chain_pem: String,
    pub(crate) root_pem: Option<String>,
    pub(crate) intermediate_pem: Option<String>,
    /// Ids of the active root and intermediate records loaded, sealed or not: a replica that sees
    /// other ids in the store reloads.
    loaded: ActiveCaIds,
    /// Why the last load left the CA sealed, when a key failed to open (token, PIN, password).
    sealed_reason: Option<String>,
    /// The active root's key is offline (a ceremony keeps it): its absence here is not "sealed".
    pub(crate) root_offline: bool,
}

impl CaKeys {
    /// Nothing loaded yet; keys will be unlocked with `password`.
    pub(crate) fn locked_with(password: Option<Zeroizing<String>>) -> Self {
        Self {
            password,
            ..Default::default()
        }
    }
}

impl Authority {
    /// Re-read CA records and unlock them with the known password, if any. A key the password
    /// does not open is an error, or, with `seal_on_key_failure`, leaves that CA sealed.
    pub(crate) async fn reload_ca(&self, seal_on_key_failure: bool) -> AuthorityResult<()> {
        // One reload at a time (the follower, CA creation and unlock all reload): a slower one
        // must not install an older snapshot over a newer one.
        let _reloading = self.ca_reload.lock().await;
        let root = self.store.active_ca(CaLevel::Root).await?;
        let intermediate = self.store.active_ca(CaLevel::Intermediate).await?;
        let password = self
            .keys
            .read()
            .map_err(|_| AuthorityError::internal("lock poisoned"))?
            .password
            .clone();
        let mut next = CaKeys {
            password: password.clone(),
            loaded: ActiveCaIds {
                root: root.as_ref().map(|r| r.id),
                intermediate: intermediate.as_ref().map(|i| i.id),
            },
            ..Default::default()
        };
        next.root_offline = root
            .as_ref()
            .is_some_and(|r| r.key == vcc_pki_store::CaKey::Offline);
        next.root_pem = root.as_ref().map(|r| certificate_pem(&r.certificate_der));
        next.intermediate_pem = intermediate
            .as_ref()
            .map(|r| certificate_pem(&r.certificate_der));
        next.chain_pem = format!(
            "{}{}",
            next.intermediate_pem.clone().unwrap_or_default(),
            next.root_pem.clone().unwrap_or_default()
        );
        // PBKDF2 at 600 000 iterations is a few hundred milliseconds of CPU per key, and a token
        // is I/O: off the async threads, which keep serving (OCSP, CRLs, reads) meanwhile.
        let (pw, r, i) = (password.clone(), root.clone(), intermediate.clone());
        let unlocked =
            tokio::task::spawn_blocking(move || unlock_keys(pw.as_ref(), r.as_ref(), i.as_ref()))
                .await
                .map_err(|e| AuthorityError::internal(format!("CA unlock task: {e}")))?;
        match unlocked {
            Ok((root_key, intermediate_key)) => {
                next.root = root_key;
                next.intermediate = intermediate_key;
            }
            Err(e) if seal_on_key_failure => {
                tracing::warn!(error = %e, "a CA key did not open: sealed until it can be (fix the token or PIN and restart, or unlock with the CA password)");
                next.sealed_reason = Some(e.to_string());
            }
            Err(e) => return Err(e),
        }
        if let Some(r) = &root {
            // The local CLI's trust anchor (public data).
            let path = self.config.data_dir.join("root.crt");
            if let Err(e) =
                crate::files::write_public(&path, certificate_pem(&r.certificate_der).as_bytes())
            {
                tracing::warn!(error = %e, path = %path.display(), "could not write root.crt");
            }
        }
        let roots: Vec<Vec<u8>> = [root.as_ref(), intermediate.as_ref()]
            .into_iter()
            .flatten()
            .map(|r| r.certificate_der.clone())
            .collect();
        self.tls.set_client_trust(&roots);
        let mut keys = self
            .keys
            .write()
            .map_err(|_| AuthorityError::internal("lock poisoned"))?;
        // The password may have been set meanwhile (CA creation, unlock): keep the newest.
        next.password = keys.password.take();
        *keys = next;
        Ok(())
    }

    /// True when a CA exists but its keys are locked.
    pub fn is_sealed(&self) -> bool {
        self.keys
            .read()
            .map(|k| {
                (k.root_pem.is_some() && k.root.is_none() && !k.root_offline)
                    || (k.intermediate_pem.is_some() && k.intermediate.is_none())
            })
            .unwrap_or(true)
    }

    pub(crate) fn intermediate(&self) -> AuthorityResult<(i64, Arc<IssuingAuthority>)> {
        let keys = self
            .keys
            .read()
            .map_err(|_| AuthorityError::internal("lock poisoned"))?;
        match (&keys.intermediate, &keys.intermediate_pem) {
            (Some(i), _) => Ok(i.clone()),
            (None, Some(_)) => Err(AuthorityError::Sealed),
            (None, None) => Err(AuthorityError::conflict(
                "no intermediate CA exists yet: create one with POST /api/ca/intermediate",
            )),
        }
    }

    /// Why the CA is sealed, when a key failed to open at the last load.
    pub fn sealed_reason(&self) -> Option<String> {
        if !self.is_sealed() {
            return None;
        }
        self.keys.read().ok().and_then(|k| k.sealed_reason.clone())
    }

    pub fn chain_pem(&self) -> String {
        self.keys
            .read()
            .map(|k| k.chain_pem.clone())
            .unwrap_or_default()
    }

    pub fn root_pem(&self) -> Option<String> {
        self.keys.read().ok().and_then(|k| k.root_pem.clone())
    }

    pub fn intermediate_pem(&self) -> Option<String> {
        self.keys
            .read()
            .ok()
            .and_then(|k| k.intermediate_pem.clone())
    }

    pub(crate) fn password(&self) -> Option<Zeroizing<String>> {
        self.keys.read().ok().and_then(|k| k.password.clone())
    }

    /// Follow CA changes made through other replicas: when the active root or intermediate in
    /// the store is not the one loaded here, reload (unlocking with this replica's password, or
    /// sealed without one), then issue this server's TLS certificate from the new intermediate and
    /// wake the CRL and OCSP workers. Runs for the life of the server.
    pub async fn run_ca_follower(authority: std::sync::Weak<Self>) {
        loop {
            tokio::time::sleep(CA_POLL).await;
            // Held for one look only: the follower ends with the authority.
            let Some(this) = authority.upgrade() else {
                return;
            };
            this.follow_ca_once().await;
        }
    }

    /// One look of the CA follower: reload when the active CA ids in the store changed.
    async fn follow_ca_once(&self) {
        {
            let active = match self.store.active_ca_ids().await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read the active CA ids");
                    return;
                }
            };
            let loaded = match self.keys.read() {
                Ok(k) => k.loaded,
                Err(_) => return,
            };
            if active == loaded {
                return;
            }
            tracing::info!(
                root = ?active.root,
                intermediate = ?active.intermediate,
                "the active CA changed in the store (another replica): reloading"
            );
            if let Err(e) = self.reload_ca(true).await {
                tracing::warn!(error = %e, "could not reload the CA; retrying");
                return;
            }
            if active.intermediate != loaded.intermediate {
                self.ca_changed().await;
            }
        }
    }
}

/// The unlocked root and intermediate. Both open (a token key with its PIN, an encrypted one with
/// the one CA password), or neither is used: a password that opens only one of them is a
/// misconfiguration the operator must see. An encrypted key without a password stays sealed.
type UnlockedKeys = (
    Option<Arc<IssuingAuthority>>,
    Option<(i64, Arc<IssuingAuthority>)>,
);

fn unlock_keys(
    password: Option<&Zeroizing<String>>,
    root: Option<&CaRecord>,
    intermediate: Option<&CaRecord>,
) -> AuthorityResult<UnlockedKeys> {
    let unlock =
        |record: &CaRecord, what: &str| -> AuthorityResult<Option<Arc<IssuingAuthority>>> {
            let Some(signer) = crate::ca_key::open(&record.key, password, what)? else {
                return Ok(None);
            };
            Ok(Some(Arc::new(IssuingAuthority::new(
                record.certificate_der.clone(),
                signer,
            )?)))
        };
    let root = root.map(|r| unlock(r, "root")).transpose()?.flatten();
    let intermediate = match intermediate {
        Some(i) => unlock(i, "intermediate")?.map(|a| (i.id, a)),
        None => None,
    };
    Ok((root, intermediate))
}

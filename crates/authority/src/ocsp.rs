//! The OCSP responder, a component of the Authority ([`OcspService`]): a delegated OCSP-signing
//! certificate issued from the intermediate (stored and audited like every certificate, its key in
//! memory and in the data dir (0600) so that a restart reuses it, rotated at half-life), and a cache of pre-signed responses per serial, re-signed at half-life and replaced
//! at once when a certificate is revoked. Responses are built by vcc-pki-core; nothing here
//! touches DER.
use super::Authority;
mod responder_file;
use crate::{telemetry, AuthorityError, AuthorityResult, Clock};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;
use vcc_pki_core::ocsp::{
    self, CertIdHash, CertQuery, CertificateStatus, IssuerIdentity, OcspResponder,
    OcspResponseStatus,
};
use vcc_pki_core::{fingerprint_sha256, KeyType, RevocationReason, Serial};
use vcc_pki_store::{
    AuditEntry, CertificateFilter, CertificateRecord, IssueEffects, NewCertificate, NewService,
    RevokedRecord, Store,
};

/// The service id the OCSP responder certificates are issued to.
pub const OCSP_SERVICE_ID: &str = vcc_pki_store::OCSP_SERVICE_ID;
/// `profile` of the responder certificates in the certificates table.
pub const OCSP_SIGNING_PROFILE: &str = "ocsp_signing";
/// Validity of a responder certificate; it is replaced when half of it has passed, so that every
/// response it signed (at most [`RESPONSE_LIFETIME`]) expires before it does.
pub const RESPONDER_LIFETIME: Duration = vcc_pki_core::profile::validity::OCSP_RESPONDER_LIFETIME;
/// nextUpdate − thisUpdate of every response; cached responses are re-signed at half of it.
pub const RESPONSE_LIFETIME: Duration = vcc_pki_core::profile::validity::OCSP_RESPONSE_LIFETIME;
/// Most pre-signed responses kept in memory; beyond it responses are signed on demand.
pub const MAX_CACHED_RESPONSES: usize = 100_000;
/// How often the worker checks for due responses and a due responder certificate.
const WORKER_TICK: std::time::Duration = std::time::Duration::from_secs(60);
/// How often each replica looks for revocations made through the others.
const REVOCATION_POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// After a failed responder issuance, requests do not retry it for this long.
const ISSUE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// The responder certificate in use, with its key.
pub(crate) struct ActiveResponder {
    responder: OcspResponder,
    /// The intermediate it answers for.
    issuer: IssuerIdentity,
    issuer_ca_id: i64,
    pub(crate) serial: Serial,
    not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    /// Set when its certificate is revoked: it signs nothing more.
    revoked: AtomicBool,
}

impl ActiveResponder {
    fn due(&self, now: OffsetDateTime) -> bool {
        now >= self.not_before + (self.not_after - self.not_before) / 2
    }

    /// May still sign (a sealed CA keeps using it while it is valid).
    fn usable(&self, now: OffsetDateTime) -> bool {
        now < self.not_after && !self.revoked.load(Ordering::SeqCst)
    }
}

/// A signed, successful OCSP response ready to serve.
#[derive(Debug)]
pub struct SignedOcspResponse {
    /// Shared, not copied, with every answer that serves it.
    pub der: bytes::Bytes,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    /// Quoted strong entity tag (SHA-256 of the DER), for HTTP caches.
    pub etag: String,
    /// RFC 5019 §6.2 headers made once at signing: ETag, Last-Modified, Expires.
    pub cache_headers: Vec<(&'static str, bytes::Bytes)>,
    /// Every answer in it says `revoked` (final: such a response never needs replacing early).
    says_revoked: bool,
    responder_serial: Serial,
}

impl SignedOcspResponse {
    fn refresh_at(&self) -> OffsetDateTime {
        self.this_update + (self.next_update - self.this_update) / 2
    }
}

/// What the responder answers a request with.
#[derive(Debug)]
pub enum OcspAnswer {
    /// A signed response; `cacheable` when the request had no nonce, so HTTP caches may keep it.
    Signed {
        response: Arc<SignedOcspResponse>,
        cacheable: bool,
    },
    /// An unsuccessful status (malformedRequest, unauthorized, tryLater, internalError): no body.
    Refused(OcspResponseStatus),
}

impl OcspAnswer {
    pub fn der(&self) -> Vec<u8> {
        match self {
            Self::Signed { response, .. } => response.der.to_vec(),
            Self::Refused(status) => ocsp::status_only_response(*status),
        }
    }
}

type CacheKey = (Serial, CertIdHash);

/// The OCSP responder: answers requests, keeps its signing certificate and the pre-signed
/// responses. The Authority tells it of every issuance and revocation synchronously (a revoked
/// certificate's response is replaced before `revoke` returns); it holds the Authority weakly, for
/// the intermediate that issues its certificate, and its workers end with it.
pub struct OcspService {
    authority: Weak<Authority>,
    store: Store,
    clock: Arc<dyn Clock>,
    responder: RwLock<Option<Arc<ActiveResponder>>>,
    /// Held while a responder certificate is being issued (one at a time).
    rotation: tokio::sync::Mutex<()>,
    last_issue_failure: Mutex<Option<std::time::Instant>>,
    cache: RwLock<HashMap<CacheKey, Arc<SignedOcspResponse>>>,
    /// Bumped (under the cache lock) after every revocation: a response signed from a status read
    /// before the bump may be stale and is not cached.
    epoch: AtomicU64,
    /// Set when the cache starts over (first responder, new intermediate): the worker pre-signs
    /// every unexpired certificate again.
    warm_needed: AtomicBool,
    /// The responder remembered in the data dir was looked at (once per process).
    remembered_tried: AtomicBool,
    wake: Notify,
    /// New certificates' `good` responses waiting to be pre-signed on idle CPU.
    pub(super) presign: super::ocsp_presign::PresignQueue,
}

impl OcspService {
    pub(crate) fn new(authority: Weak<Authority>, store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            authority,
            store,
            clock,
            responder: RwLock::default(),
            rotation: tokio::sync::Mutex::default(),
            last_issue_failure: Mutex::default(),
            cache: RwLock::default(),
            epoch: AtomicU64::default(),
            warm_needed: AtomicBool::default(),
            remembered_tried: AtomicBool::default(),
            wake: Notify::new(),
            presign: Default::default(),
        }
    }

    /// The Authority's time, in whole seconds.
    fn now(&self) -> OffsetDateTime {
        crate::clock::whole_seconds(self.clock.now())
    }

    /// Where the responder's key is remembered across restarts.
    fn data_dir(&self) -> Option<std::path::PathBuf> {
        self.authority.upgrade().map(|a| a.config.data_dir.clone())
    }

    /// The responder last installed (possibly due, expired or revoked).
    fn installed(&self) -> Option<Arc<ActiveResponder>> {
        self.responder.read().ok().and_then(|r| r.clone())
    }

    /// The revocation epoch; read it before a certificate is stored and pass it to `issued`.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// How many pre-signed responses are cached, and the age of the oldest (for `/metrics`):
    /// the worker re-signs each at half its lifetime, so this stays under half of it when it
    /// keeps up. O(cache), read under the read lock.
    pub fn cache_age(&self) -> (usize, Option<std::time::Duration>) {
        let Ok(cache) = self.cache.read() else {
            return (0, None);
        };
        let oldest = cache.values().map(|r| r.this_update).min();
        let age = oldest.map(|t| std::time::Duration::try_from(self.now() - t).unwrap_or_default());
        (cache.len(), age)
    }

    fn cached(&self, key: &CacheKey, now: OffsetDateTime) -> Option<Arc<SignedOcspResponse>> {
        let cache = self.cache.read().ok()?;
        cache.get(key).filter(|r| now < r.next_update).cloned()
    }

    /// Cache `response` unless a revocation happened since `epoch` (then it may be stale).
    pub(super) fn insert_if_current(
        &self,
        key: CacheKey,
        response: Arc<SignedOcspResponse>,
        epoch: u64,
    ) {
        if let Ok(mut cache) = self.cache.write() {
            if self.epoch() == epoch
                && (cache.len() < MAX_CACHED_RESPONSES || cache.contains_key(&key))
            {
                cache.insert(key, response);
            }
        }
    }
}

/// The status a stored certificate record gives (None: the record is inconsistent).
fn status_of(record: &CertificateRecord) -> Option<CertificateStatus> {
    if record.status != vcc_pki_store::CertificateStatus::Revoked {
        return Some(CertificateStatus::Good);
    }
    let revoked_at = record.revoked_at?;
    let reason = record
        .revocation_reason
        .unwrap_or(RevocationReason::Unspecified);
    Some(CertificateStatus::Revoked { revoked_at, reason })
}

/// RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: OffsetDateTime) -> Option<bytes::Bytes> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let text = t.to_offset(time::UtcOffset::UTC).format(&format).ok()?;
    Some(bytes::Bytes::from(text))
}

/// Sign one response with the active responder: thisUpdate now, nextUpdate a day later (never
/// past the responder certificate's own expiry).
fn sign_with(
    active: &ActiveResponder,
    answers: &[(ocsp::CertId, CertificateStatus)],
    nonce: Option<&ocsp::Extension>,
    this_update: OffsetDateTime,
) -> Result<SignedOcspResponse, vcc_pki_core::CoreError> {
    let next_update = (this_update + RESPONSE_LIFETIME).min(active.not_after);
    let der = active
        .responder
        .sign(answers, this_update, next_update, nonce)?;
    let etag = format!("\"{}\"", hex::encode(Sha256::digest(&der)));
    let mut cache_headers = Vec::with_capacity(3);
    cache_headers.push(("etag", bytes::Bytes::from(etag.clone())));
    for (name, t) in [("last-modified", this_update), ("expires", next_update)] {
        if let Some(v) = http_date(t) {
            cache_headers.push((name, v));
        }
    }
    Ok(SignedOcspResponse {
        says_revoked: answers
            .iter()
            .all(|(_, s)| matches!(s, CertificateStatus::Revoked { .. })),
        der: der.into(),
        this_update,
        next_update,
        etag,
        cache_headers,
        responder_serial: active.serial.clone(),
    })
}

impl OcspService {
    /// Answer one DER OCSP request. Never fails: every problem is an OCSP status.
    pub async fn respond(&self, request_der: &[u8]) -> OcspAnswer {
        let request = match ocsp::parse_request(request_der) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "OCSP request refused");
                telemetry::ocsp_answer("malformed_request", false);
                return OcspAnswer::Refused(OcspResponseStatus::MalformedRequest);
            }
        };
        let Some(active) = self.active_responder().await else {
            telemetry::ocsp_answer("try_later", false);
            return OcspAnswer::Refused(OcspResponseStatus::TryLater);
        };
        if !request.queries.iter().all(|q| active.issuer.names(q)) {
            telemetry::ocsp_answer("unauthorized", false);
            return OcspAnswer::Refused(OcspResponseStatus::Unauthorized);
        }
        let cacheable = request.nonce.is_none();
        let single_key = match (cacheable, request.queries.as_slice()) {
            (
                true,
                [CertQuery {
                    hash: Some(hash),
                    serial: Some(serial),
                    ..
                }],
            ) => Some((serial.clone(), *hash)),
            _ => None,
        };
        if let Some(hit) = single_key
            .as_ref()
            .and_then(|key| self.cached(key, self.now()))
        {
            telemetry::ocsp_answer(if hit.says_revoked { "revoked" } else { "good" }, true);
            return OcspAnswer::Signed {
                response: hit,
                cacheable,
            };
        }
        let epoch = self.epoch();
        let mut answers = Vec::with_capacity(request.queries.len());
        for query in &request.queries {
            match self.ocsp_status(&active, query.serial.as_ref()).await {
                Ok(status) => answers.push((query.cert_id.clone(), status)),
                Err(e) => {
                    tracing::warn!(error = %e, "OCSP: certificate status unavailable");
                    telemetry::ocsp_answer("try_later", false);
                    return OcspAnswer::Refused(OcspResponseStatus::TryLater);
                }
            }
        }
        let response = match sign_with(&active, &answers, request.nonce.as_ref(), self.now()) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                tracing::error!(error = %e, "OCSP: signing failed");
                telemetry::ocsp_answer("internal_error", false);
                return OcspAnswer::Refused(OcspResponseStatus::InternalError);
            }
        };
        telemetry::ocsp_answer(
            match answers.first().map(|(_, s)| s) {
                Some(CertificateStatus::Good) => "good",
                Some(CertificateStatus::Revoked { .. }) => "revoked",
                _ => "unknown",
            },
            false,
        );
        // Unknown serials are not cached: anyone can ask about any number of them.
        if let (Some(key), Some((_, status))) = (single_key, answers.first()) {
            if *status != CertificateStatus::Unknown {
                self.insert_if_current(key, response.clone(), epoch);
            }
        }
        OcspAnswer::Signed {
            response,
            cacheable,
        }
    }

    /// Status of `serial` among the certificates of the responder's intermediate.
    async fn ocsp_status(
        &self,
        active: &ActiveResponder,
        serial: Option<&Serial>,
    ) -> AuthorityResult<CertificateStatus> {
        let Some(serial) = serial else {
            return Ok(CertificateStatus::Unknown);
        };
        match self.store.certificate_by_serial(serial).await? {
            Some(record) if record.issuer_ca_id == active.issuer_ca_id => status_of(&record)
                .ok_or_else(|| {
                    AuthorityError::internal("revoked certificate without revocation row")
                }),
            _ => Ok(CertificateStatus::Unknown),
        }
    }

    /// The responder to sign with, issuing a new responder certificate first when there is none,
    /// it is due, or the intermediate changed. A sealed CA keeps using a still-valid responder.
    pub(crate) async fn active_responder(&self) -> Option<Arc<ActiveResponder>> {
        let current = self.installed();
        let intermediate_id = self
            .authority
            .upgrade()
            .and_then(|a| a.intermediate().ok())
            .map(|(id, _)| id);
        let usable = |r: &Option<Arc<ActiveResponder>>, now| r.clone().filter(|r| r.usable(now));
        let fresh = |r: &Option<Arc<ActiveResponder>>, now| {
            r.clone()
                .filter(|r| r.usable(now) && Some(r.issuer_ca_id) == intermediate_id && !r.due(now))
        };
        if let Some(r) = fresh(&current, self.now()) {
            return Some(r);
        }
        if intermediate_id.is_none() {
            // Sealed: the responder an earlier start left still signs (its key is not a CA key).
            if current.is_none() {
                let _rotation = self.rotation.lock().await;
                if self.installed().is_none() {
                    if let Some(active) = self.install_remembered(None).await {
                        return Some(active);
                    }
                }
                return usable(&self.installed(), self.now());
            }
            return usable(&current, self.now());
        }
        let recently_failed = self
            .last_issue_failure
            .lock()
            .ok()
            .and_then(|f| *f)
            .is_some_and(|t| t.elapsed() < ISSUE_RETRY_AFTER);
        if recently_failed {
            return usable(&current, self.now());
        }
        let _rotation = self.rotation.lock().await;
        // Another task may have rotated while this one waited.
        let current = self.installed();
        if let Some(r) = fresh(&current, self.now()) {
            return Some(r);
        }
        // First use in this process: the responder an earlier start left, if still good.
        if current.is_none() {
            if let Some(active) = self.install_remembered(intermediate_id).await {
                return Some(active);
            }
        }
        // A revoked predecessor is replaced, not renewed: the store refuses to renew from a revoked certificate.
        let previous = current
            .as_ref()
            .filter(|r| !r.revoked.load(Ordering::SeqCst))
            .map(|r| r.serial.clone());
        match self.issue_responder(previous).await {
            Ok(active) => {
                tracing::info!(serial = %active.serial, not_after = %vcc_pki_store::format_time(active.not_after), "OCSP responder certificate issued");
                if let Ok(mut slot) = self.responder.write() {
                    *slot = Some(active.clone());
                }
                // Responses of the previous responder stay valid until the worker re-signs them;
                // without one for the same intermediate, the cache starts over and is pre-signed.
                let same_issuer = current
                    .as_ref()
                    .is_some_and(|c| c.issuer_ca_id == active.issuer_ca_id);
                if !same_issuer {
                    if let Ok(mut cache) = self.cache.write() {
                        cache.clear();
                    }
                    self.warm_needed.store(true, Ordering::SeqCst);
                }
                self.wake.notify_one();
                Some(active)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not issue the OCSP responder certificate");
                if let Ok(mut f) = self.last_issue_failure.lock() {
                    *f = Some(std::time::Instant::now());
                }
                usable(&current, self.now())
            }
        }
    }

    /// Issue a responder certificate from the intermediate and store it (with its audit row)
    /// before it signs anything. Its key is made here and never leaves memory.
    async fn issue_responder(
        &self,
        replaces: Option<Serial>,
    ) -> AuthorityResult<Arc<ActiveResponder>> {
        let (issuer_ca_id, issuer) = self
            .authority
            .upgrade()
            .ok_or_else(|| AuthorityError::Unavailable("the authority is shutting down".into()))?
            .intermediate()?;
        let serial = Serial::random();
        let now = self.now();
        let sign_serial = serial.clone();
        let sign_issuer = issuer.clone();
        let (key, der, validity, subject) = tokio::task::spawn_blocking(move || {
            let key = KeyType::EcdsaP256.generate()?;
            let (der, validity, subject) =
                sign_issuer.issue_ocsp_responder(&key, &sign_serial, now)?;
            Ok::<_, vcc_pki_core::CoreError>((key, der, validity, subject))
        })
        .await
        .map_err(|e| AuthorityError::internal(e.to_string()))??;
        let (not_before, not_after) = (validity.not_before, validity.not_after);
        let common_name = subject.common_name;
        let spki = vcc_pki_core::keys::spki_der(&key);
        let record = NewCertificate {
            serial_number: serial.clone(),
            service_id: OCSP_SERVICE_ID.into(),
            common_name,
            san_dns: Vec::new(),
            san_ip: Vec::new(),
            profile: OCSP_SIGNING_PROFILE.into(),
            key_type: KeyType::EcdsaP256,
            key_source: "server".into(),
            public_key_sha256: hex::encode(Sha256::digest(&spki)),
            fingerprint_sha256: fingerprint_sha256(&der),
            certificate_der: der.clone(),
            issuer_ca_id,
            not_before,
            not_after,
            renew_after: vcc_pki_core::profile::renewal_due(not_before, not_after),
            renewed_from: replaces.clone(),
            crl_shard: None,
        };
        let mut effects = IssueEffects::default();
        if self.store.service(OCSP_SERVICE_ID).await?.is_none() {
            effects.create_service = Some(NewService {
                service_id: OCSP_SERVICE_ID.into(),
                service_name: "VCC PKI OCSP responder".into(),
                ..Default::default()
            });
        }
        let audit = AuditEntry::new("system", "certificate.issue_ocsp_responder", "certificate")
            .target(serial.to_hex())
            .details(serde_json::json!({
                "service_id": OCSP_SERVICE_ID, "common_name": record.common_name,
                "profile": OCSP_SIGNING_PROFILE, "key_type": record.key_type.as_str(),
                "not_after": vcc_pki_store::format_time(not_after), "renewed_from": replaces.as_ref().map(Serial::to_hex),
            }));
        self.store
            .insert_certificate(&record, &effects, &audit)
            .await?;
        if let Some(dir) = self.data_dir() {
            responder_file::remember(&dir, &serial, &vcc_pki_core::keys::private_key_pem(&key));
        }
        let responder = OcspResponder::new(&der, Arc::new(key))?;
        Ok(Arc::new(ActiveResponder {
            responder,
            issuer: IssuerIdentity::from_certificate(issuer.certificate_der())?,
            issuer_ca_id,
            serial: serial.clone(),
            not_before,
            not_after,
            revoked: AtomicBool::new(false),
        }))
    }

    /// Sign the (SHA-1 CertID) response for `serial` and cache it if no revocation happened
    /// since `epoch`. Without a responder this does nothing: the first request signs on demand.
    pub(super) fn presign(
        &self,
        serial: &Serial,
        issuer_ca_id: i64,
        status: CertificateStatus,
        epoch: Option<u64>,
    ) {
        let Some(response) = self.sign_for_cache(serial, issuer_ca_id, status) else {
            return;
        };
        let key = (serial.clone(), CertIdHash::Sha1);
        match epoch {
            Some(epoch) => self.insert_if_current(key, Arc::new(response), epoch),
            None => {
                if let Ok(mut cache) = self.cache.write() {
                    cache.insert(key, Arc::new(response));
                }
            }
        }
    }

    /// The SHA-1 CertID response for `serial` as the cache keeps it; None without a usable
    /// responder for `issuer_ca_id` (the first request then signs on demand).
    pub(super) fn sign_for_cache(
        &self,
        serial: &Serial,
        issuer_ca_id: i64,
        status: CertificateStatus,
    ) -> Option<SignedOcspResponse> {
        let active = self.installed().filter(|a| a.usable(self.now()))?;
        if active.issuer_ca_id != issuer_ca_id {
            return None;
        }
        let signed = active
            .issuer
            .cert_id(CertIdHash::Sha1, serial)
            .and_then(|id| sign_with(&active, &[(id, status)], None, self.now()));
        match signed {
            Ok(response) => Some(response),
            Err(e) => {
                tracing::warn!(error = %e, serial = %serial, "OCSP: pre-signing failed");
                None
            }
        }
    }

    /// Certificates were just revoked (durably): replace their cached responses at once, before
    /// the revocation is acknowledged. A revoked responder certificate is replaced too.
    pub(super) fn revoked(&self, revoked: &[RevokedRecord], reason: RevocationReason) {
        let serials: Vec<Serial> = revoked.iter().map(|r| r.serial_number.clone()).collect();
        self.forget(&serials);
        let Some(active) = self.installed() else {
            return;
        };
        if revoked.iter().any(|r| r.serial_number == active.serial) {
            tracing::warn!(serial = %active.serial, "the OCSP responder certificate was revoked; issuing a new one");
            active.revoked.store(true, Ordering::SeqCst);
            if let Ok(mut cache) = self.cache.write() {
                cache.clear();
            }
            self.warm_needed.store(true, Ordering::SeqCst);
            self.wake.notify_one();
            return;
        }
        for (record, serial) in revoked.iter().zip(&serials) {
            let status = CertificateStatus::Revoked {
                revoked_at: record.revoked_at,
                reason,
            };
            self.presign(serial, active.issuer_ca_id, status, None);
        }
    }

    /// Follow revocations made through any replica sharing the database: every second, drop the
    /// cached responses of certificates revoked since the last look, so the next request signs
    /// `revoked` from the database. Revocations through this replica were already replaced when
    /// they committed; this is for the others (their cached `good` would otherwise last until
    /// re-signed, up to half a day).
    pub async fn run_revocation_follower(self: Arc<Self>) {
        let mut last = loop {
            match self.store.last_revocation_id().await {
                Ok(id) => break id,
                Err(e) => {
                    tracing::warn!(error = %e, "OCSP: cannot read revocations; retrying");
                    tokio::time::sleep(REVOCATION_POLL * 5).await;
                }
            }
        };
        loop {
            tokio::time::sleep(REVOCATION_POLL).await;
            if self.authority.strong_count() == 0 {
                return;
            }
            loop {
                let rows = match self.store.revocations_after(last, 1000).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::debug!(error = %e, "OCSP: cannot read revocations");
                        break;
                    }
                };
                let Some(&(newest, _)) = rows.last() else {
                    break;
                };
                last = newest;
                let serials: Vec<Serial> = rows.iter().filter_map(|(_, s)| s.clone()).collect();
                self.forget(&serials);
                if rows.len() < 1000 {
                    break;
                }
            }
        }
    }

    /// Drop cached responses (the next request signs from the database); a response being signed
    /// meanwhile from an older read is not cached (the epoch moves).
    fn forget(&self, serials: &[Serial]) {
        if serials.is_empty() {
            return;
        }
        if let Ok(mut cache) = self.cache.write() {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            // By key, not by walking the cache: that was O(cache) per revocation, and with 40 000
            // cached responses revocations fell to ~120/s with both cores in `retain`.
            // Every answer goes, a `revoked` one too: a revocation's reason can change (a later
            // keyCompromise), on this replica or another; the next request signs from the store.
            for serial in serials {
                for hash in CertIdHash::ALL {
                    cache.remove(&(serial.clone(), hash));
                }
            }
        }
    }

    /// Wake the worker (after the intermediate appears or is unlocked).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Background worker: keeps a responder certificate (rotating it at half-life), pre-signs a
    /// response for every unexpired certificate when the cache starts over, and re-signs cached
    /// responses at half-life or after a rotation.
    pub async fn run_worker(self: Arc<Self>) {
        loop {
            if self.authority.strong_count() == 0 {
                return;
            }
            if self.active_responder().await.is_some() {
                if self.warm_needed.swap(false, Ordering::SeqCst) {
                    if let Err(e) = self.presign_all().await {
                        tracing::warn!(error = %e, "OCSP: pre-signing stopped early");
                        self.warm_needed.store(true, Ordering::SeqCst);
                    }
                }
                if let Err(e) = self.refresh_due_responses().await {
                    tracing::warn!(error = %e, "OCSP: refreshing responses stopped early");
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(WORKER_TICK) => {}
            }
        }
    }

    /// Pre-sign the response of every unexpired certificate of the responder's intermediate.
    async fn presign_all(&self) -> AuthorityResult<()> {
        let mut cursor = None;
        let mut signed = 0usize;
        loop {
            let epoch = self.epoch();
            let page = self
                .store
                .list_certificates(&CertificateFilter {
                    limit: 500,
                    cursor: cursor.clone(),
                    ..Default::default()
                })
                .await?;
            let Some(active) = self.installed().filter(|a| a.usable(self.now())) else {
                return Ok(());
            };
            for record in &page.items {
                if signed >= MAX_CACHED_RESPONSES {
                    return Ok(());
                }
                let Some(status) = status_of(record) else {
                    continue;
                };
                let serial = record.serial_number.clone();
                if record.status == vcc_pki_store::CertificateStatus::Expired {
                    continue;
                }
                self.presign(&serial, active.issuer_ca_id, status, Some(epoch));
                signed += 1;
            }
            tokio::task::yield_now().await;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        tracing::info!(responses = signed, "OCSP responses pre-signed");
        Ok(())
    }

    /// Re-sign cached responses past half their lifetime (or signed by a previous responder)
    /// from the stored status; drop those of expired certificates.
    async fn refresh_due_responses(&self) -> AuthorityResult<()> {
        let Some(active) = self.installed().filter(|a| a.usable(self.now())) else {
            return Ok(());
        };
        let now = self.now();
        let due: Vec<CacheKey> = match self.cache.read() {
            Ok(cache) => cache
                .iter()
                .filter(|(_, r)| now >= r.refresh_at() || r.responder_serial != active.serial)
                .map(|(k, _)| k.clone())
                .collect(),
            Err(_) => return Err(AuthorityError::internal("OCSP cache lock poisoned")),
        };
        for (serial, hash) in due {
            let epoch = self.epoch();
            let record = self.store.certificate_by_serial(&serial).await?;
            let status = record
                .as_ref()
                .filter(|r| {
                    r.issuer_ca_id == active.issuer_ca_id
                        && r.status != vcc_pki_store::CertificateStatus::Expired
                })
                .and_then(status_of);
            let Some(status) = status else {
                if let Ok(mut cache) = self.cache.write() {
                    cache.remove(&(serial, hash));
                }
                continue;
            };
            let cert_id = active.issuer.cert_id(hash, &serial)?;
            let response = sign_with(&active, &[(cert_id, status)], None, self.now())?;
            self.insert_if_current((serial, hash), Arc::new(response), epoch);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "ocsp_tests.rs"]
mod tests;

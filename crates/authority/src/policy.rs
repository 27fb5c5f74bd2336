//! Who may get which name, and who may change what: the one home of the registration authority's
//! rules (Boulder's `policy/pa.go` and the RA's checks in one file). Pure functions, no I/O: the
//! authority reads what they need (the service record, its current certificate) and passes it in,
//! so every rule is tested here without a database or HTTP.
//!
//! The rules:
//! - An admin (and the server itself) may issue any names to any service id, renew any
//!   certificate, and register or change any service.
//! - An enrollment token buys one certificate for its service: it must match the service's token
//!   in constant time, be unused and unexpired, and every name must be in the service's allowed list
//!   (a service without a list gets no name this way).
//! - A service proves itself with its certificate over mTLS. It may read its own records with any of
//!   its unrevoked, unexpired certificates, but only its *current* certificate (the newest one; not
//!   one a renewal has superseded) may change anything: renew itself or update its registry entry
//!   (name, endpoints, description; never its allowed names).
//! - A renewal re-permits every name. A service whose allowed list no longer holds a name of its
//!   certificate is refused (an admin re-issues or re-registers); a service created by an admin's
//!   issuance and never registered has no list, and renews the names the admin chose.
//! - Wildcard names (`*.example.com`) only through an ACME order ([`Names::from_identifiers`]),
//!   validated over dns-01; REST requests and CSRs name services one by one. A certificate issued
//!   through ACME renews only through ACME (a new order revalidates its names), never over REST
//!   with itself as the credential.
//! - An auditor token reads everything an admin reads and changes nothing.
//! - Nobody else may do anything but read public data.
use crate::{AuthorityError, AuthorityResult, Principal};
use std::net::IpAddr;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use vcc_pki_core::names::{normalize_dns_name, normalize_san_dns_name, parse_ip};
use vcc_pki_store::{CertificateRecord, ServiceRecord};

/// At most this many names (CN included) in one certificate.
pub const MAX_NAMES: usize = 100;

/// What a principal asks to do.
#[derive(Debug, Clone, Copy)]
pub enum Action<'a> {
    /// A new certificate for the service.
    Issue,
    /// A new certificate in place of this one (same service, same names).
    Renew { certificate: &'a CertificateRecord },
    /// Create a service or change its allowed names (and issue an enrollment token).
    Register,
    /// Change a service's name, endpoints or description.
    UpdateEntry,
    /// Read the service's record or its current certificate.
    Read,
}

/// The service acted on, as the store has it now.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub service_id: &'a str,
    /// None when no service of that id is registered.
    pub service: Option<&'a ServiceRecord>,
    /// Serial of the service's current certificate (the newest unrevoked, unexpired one).
    pub current_serial: Option<&'a vcc_pki_core::Serial>,
}

/// The names a certificate will carry, validated, normalised and de-duplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// The CN as policy checked it: a normalised DNS name or an IP address's canonical text.
    pub common_name: String,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

impl Names {
    /// The CN and the requested SANs. The CN is a SAN too (SPEC §6).
    pub fn from_request(
        common_name: &str,
        dns: &[String],
        ips: &[String],
    ) -> AuthorityResult<Self> {
        let cn = common_name.trim();
        if cn.is_empty() {
            return Err(AuthorityError::malformed("common_name is required"));
        }
        let mut out = Names::default();
        match cn.parse::<IpAddr>() {
            Ok(ip) => {
                out.common_name = ip.to_string();
                out.ips.push(ip);
            }
            Err(_) => {
                out.common_name = normalize_dns_name(cn)?;
                out.dns.push(out.common_name.clone());
            }
        }
        out.add(dns, ips, normalize_dns_name)?;
        Ok(out)
    }

    /// The identifiers of an ACME order: DNS names, where a wildcard `*.name` is allowed in form
    /// (the ACME front end decides whether it issues them and validates them over dns-01 only),
    /// and IP addresses; de-duplicated, at most [`MAX_NAMES`]. No common name: the ACME profile
    /// decides whether the certificate gets one.
    pub fn from_identifiers(dns: &[String], ips: &[String]) -> AuthorityResult<Self> {
        let mut out = Names::default();
        out.add(dns, ips, normalize_san_dns_name)?;
        if out.dns.is_empty() && out.ips.is_empty() {
            return Err(AuthorityError::malformed("at least one name is required"));
        }
        Ok(out)
    }

    fn add(
        &mut self,
        dns: &[String],
        ips: &[String],
        normalize: fn(&str) -> Result<String, vcc_pki_core::CoreError>,
    ) -> AuthorityResult<()> {
        // Before any work: a request with thousands of names is refused at once.
        if dns.len() + ips.len() > MAX_NAMES {
            return Err(AuthorityError::malformed(format!(
                "at most {MAX_NAMES} names per certificate"
            )));
        }
        for d in dns {
            let d = normalize(d)?;
            if !self.dns.contains(&d) {
                self.dns.push(d);
            }
        }
        for ip in ips {
            let ip = parse_ip(ip)?;
            if !self.ips.contains(&ip) {
                self.ips.push(ip);
            }
        }
        if self.dns.len() + self.ips.len() > MAX_NAMES {
            return Err(AuthorityError::malformed(format!(
                "at most {MAX_NAMES} names per certificate"
            )));
        }
        Ok(())
    }

    /// Every name, as text.
    pub fn all(&self) -> Vec<String> {
        self.dns
            .iter()
            .cloned()
            .chain(self.ips.iter().map(|ip| ip.to_string()))
            .collect()
    }

    /// The names of a stored certificate (for its renewal).
    pub fn of_certificate(certificate: &CertificateRecord) -> Self {
        Names {
            common_name: certificate.common_name.clone(),
            dns: certificate.san_dns.clone(),
            ips: certificate
                .san_ip
                .iter()
                .filter_map(|i| i.parse().ok())
                .collect(),
        }
    }

    /// A CSR's own SANs are never copied: they must be among these names (SPEC §6: "never copied
    /// blindly"), or the request is refused.
    pub fn check_csr(&self, csr: &vcc_pki_core::csr::VerifiedCsr) -> AuthorityResult<()> {
        let mut extra: Vec<String> = csr
            .dns_names
            .iter()
            .filter(|d| !self.dns.contains(d))
            .cloned()
            .collect();
        extra.extend(
            csr.ip_addresses
                .iter()
                .filter(|ip| !self.ips.contains(ip))
                .map(|ip| ip.to_string()),
        );
        if extra.is_empty() {
            Ok(())
        } else {
            Err(AuthorityError::bad_csr(format!(
                "the CSR asks for names the request does not: {} (list them in san_dns/san_ip)",
                extra.join(", ")
            )))
        }
    }
}

/// The server's own identities (its TLS certificate, its OCSP responder's): only the server
/// itself issues, renews or registers under them, never a request from outside (issue 16).
pub fn reserved_for_the_server(principal: &Principal, service_id: &str) -> AuthorityResult<()> {
    let reserved = service_id == crate::SERVER_SERVICE_ID || service_id == crate::OCSP_SERVICE_ID;
    if !reserved || matches!(principal, Principal::System) {
        return Ok(());
    }
    Err(AuthorityError::forbidden(format!(
        "service id '{service_id}' is reserved for the server's own certificates"
    )))
}

/// `service_id`: 1–64 of [A-Za-z0-9._-], starting with a letter or digit.
pub fn validate_service_id(id: &str) -> AuthorityResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(AuthorityError::malformed(format!(
            "invalid service_id '{id}': use 1 to 64 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// The allowed names of a registration, normalised; none given means the service may name itself.
pub fn allowed_names(
    service_id: &str,
    dns: &[String],
    ips: &[String],
) -> AuthorityResult<(Vec<String>, Vec<String>)> {
    let mut allowed_dns = Vec::new();
    for d in dns {
        let d = normalize_dns_name(d)?;
        if !allowed_dns.contains(&d) {
            allowed_dns.push(d);
        }
    }
    let mut allowed_ip = Vec::new();
    for i in ips {
        let ip = parse_ip(i)?.to_string();
        if !allowed_ip.contains(&ip) {
            allowed_ip.push(ip);
        }
    }
    if allowed_dns.is_empty() && allowed_ip.is_empty() {
        allowed_dns.push(normalize_dns_name(service_id)?);
    }
    Ok((allowed_dns, allowed_ip))
}

/// The names outside the service's allowed list; None when the service has no list at all (made by
/// an admin's issuance and never registered).
fn outside_allowed(service: &ServiceRecord, names: &Names) -> Option<Vec<String>> {
    if service.allowed_dns.is_empty() && service.allowed_ip.is_empty() {
        return None;
    }
    let allowed_dns: Vec<String> = service
        .allowed_dns
        .iter()
        .filter_map(|d| normalize_dns_name(d).ok())
        .collect();
    let allowed_ip: Vec<IpAddr> = service
        .allowed_ip
        .iter()
        .filter_map(|i| i.parse().ok())
        .collect();
    let mut outside: Vec<String> = names
        .dns
        .iter()
        .filter(|d| !allowed_dns.contains(d))
        .cloned()
        .collect();
    outside.extend(
        names
            .ips
            .iter()
            .filter(|ip| !allowed_ip.contains(ip))
            .map(|ip| ip.to_string()),
    );
    Some(outside)
}

/// Why a principal with these credentials is refused outright (no credentials, bad token).
fn unauthenticated(bad_token: bool, what: &str) -> AuthorityError {
    if bad_token {
        AuthorityError::unauthenticated("the bearer token is not valid")
    } else {
        AuthorityError::unauthenticated(what)
    }
}

/// The enrollment token is the service's, unused and unexpired at `now`.
fn enrollment_valid(
    service: Option<&ServiceRecord>,
    token_hash: &str,
    now: OffsetDateTime,
) -> bool {
    service.is_some_and(|s| {
        let stored = s.enrollment_token_hash.as_deref().unwrap_or("");
        let unexpired = s.enrollment_expires_at.is_some_and(|t| t > now);
        // Evaluated in full whatever the outcome: the comparison is the only secret-dependent part.
        let matches = bool::from(stored.as_bytes().ct_eq(token_hash.as_bytes()));
        matches && s.enrollment_used_at.is_none() && unexpired
    })
}

/// May `principal` do `action` on `subject`, naming `names` (the certificate's for issue and
/// renew; the requested allowed names for register; empty otherwise)? `Ok` or the refusal to
/// audit and return (always `Unauthenticated` or `Forbidden`).
pub fn permit(
    principal: &Principal,
    bad_token: bool,
    action: Action<'_>,
    subject: Subject<'_>,
    names: &Names,
    now: OffsetDateTime,
) -> AuthorityResult<()> {
    match (principal, action) {
        (Principal::Admin | Principal::System, _) => Ok(()),
        // An auditor reads everything and changes nothing.
        (Principal::Auditor, Action::Read) => Ok(()),
        (Principal::Auditor, _) => Err(crate::principal::read_only()),

        (Principal::Enrollment { token_hash }, Action::Issue) => {
            if !enrollment_valid(subject.service, token_hash, now) {
                return Err(AuthorityError::unauthenticated(
                    "the enrollment token is not valid for this service, expired, or already used",
                ));
            }
            // An enrollment buys only listed names: a service without a list gets none.
            let outside = subject
                .service
                .and_then(|s| outside_allowed(s, names))
                .unwrap_or_else(|| names.all());
            if outside.is_empty() {
                Ok(())
            } else {
                Err(AuthorityError::forbidden(format!(
                    "names not allowed for service '{}': {}",
                    subject.service_id,
                    outside.join(", ")
                )))
            }
        }
        (Principal::Enrollment { .. }, Action::Renew { .. }) => {
            Err(AuthorityError::unauthenticated(
                "renewal needs the service's current certificate (mTLS) or an admin token",
            ))
        }
        (Principal::Enrollment { .. }, Action::Register | Action::UpdateEntry) => Err(
            AuthorityError::unauthenticated("needs an admin token or the service's certificate"),
        ),
        (Principal::Enrollment { .. }, Action::Read) => {
            Err(AuthorityError::forbidden("not your service"))
        }

        // A certificate issued through ACME proves control that ACME checked and keeps checking:
        // it renews through a new ACME order (its names revalidated, its wildcard through dns-01
        // only, its account still valid), never through REST, and changes no registry entry.
        (
            Principal::Service { certificate },
            Action::Renew { .. } | Action::Register | Action::UpdateEntry,
        ) if crate::is_acme_service_id(&certificate.service_id) => Err(AuthorityError::forbidden(
            "a certificate issued through ACME is renewed by a new ACME order (ARI `replaces`), \
                 not over REST",
        )),
        (Principal::Service { certificate }, action) => {
            let own = certificate.service_id == subject.service_id;
            let current = subject.current_serial == Some(&certificate.serial_number);
            match action {
                Action::Issue => Err(AuthorityError::forbidden(
                    "a service with a certificate renews it (POST /api/certificates/renew)",
                )),
                Action::Read if own => Ok(()),
                Action::Read => Err(AuthorityError::forbidden("not your service")),
                Action::Renew {
                    certificate: target,
                } => {
                    if !own || target.serial_number != certificate.serial_number {
                        return Err(AuthorityError::forbidden(
                            "a service renews only its own certificate",
                        ));
                    }
                    if !current {
                        return Err(AuthorityError::forbidden(
                            "renew with the service's current certificate, not an older one",
                        ));
                    }
                    let outside = subject
                        .service
                        .and_then(|s| outside_allowed(s, names))
                        .unwrap_or_default();
                    if outside.is_empty() {
                        Ok(())
                    } else {
                        Err(AuthorityError::forbidden(format!(
                            "names no longer allowed for service '{}': {} (an admin re-issues the \
                             certificate or allows them again)",
                            subject.service_id,
                            outside.join(", ")
                        )))
                    }
                }
                Action::Register if own && (!names.dns.is_empty() || !names.ips.is_empty()) => Err(
                    AuthorityError::forbidden("only an admin changes a service's allowed names"),
                ),
                Action::Register | Action::UpdateEntry if !own => Err(AuthorityError::forbidden(
                    "a service updates only its own entry",
                )),
                Action::Register | Action::UpdateEntry if !current => {
                    Err(AuthorityError::forbidden(
                        "a superseded certificate may not change the service: use its current \
                         certificate",
                    ))
                }
                Action::Register | Action::UpdateEntry => Ok(()),
            }
        }

        (Principal::AcmeAccount { .. } | Principal::AcmeKey { .. }, _) => {
            Err(AuthorityError::forbidden(
                "an ACME account gets certificates through its ACME orders only",
            ))
        }

        (Principal::Anonymous, Action::Issue) => Err(unauthenticated(
            bad_token,
            "issuing needs an admin or enrollment token",
        )),
        (Principal::Anonymous, Action::Renew { .. }) => Err(unauthenticated(
            bad_token,
            "renewal needs the service's current certificate (mTLS) or an admin token",
        )),
        (Principal::Anonymous, _) => Err(unauthenticated(
            bad_token,
            "needs an admin token or the service's certificate",
        )),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

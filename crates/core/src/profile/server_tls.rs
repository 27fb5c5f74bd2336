//! The server's own TLS certificates: the self-signed bootstrap it presents until a CA exists,
//! and the names of the certificate the intermediate then issues to it (profile `server`,
//! [`SERVER_TLS_DAYS`](super::validity::SERVER_TLS_DAYS)).
use super::validity::{Validity, BOOTSTRAP_TLS_DAYS, CA_BACKDATE};
use crate::names::normalize_dns_name;
use crate::{CoreError, Serial};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

/// Common name of the self-signed bootstrap certificate.
pub const BOOTSTRAP_COMMON_NAME: &str = "VCC PKI bootstrap (self-signed)";

/// A self-signed certificate and its key.
pub struct SelfSigned {
    pub certificate_der: Vec<u8>,
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    pub validity: Validity,
}

/// The bootstrap certificate: P-256, self-signed, for localhost, 127.0.0.1, ::1 and `extra_names`.
pub fn bootstrap_certificate(
    extra_names: &[String],
    now: OffsetDateTime,
) -> Result<SelfSigned, CoreError> {
    let crypto = |e: rcgen::Error| CoreError::Crypto(e.to_string());
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(extra_names.iter().cloned());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
    let mut params = rcgen::CertificateParams::new(names).map_err(crypto)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, BOOTSTRAP_COMMON_NAME);
    let validity = Validity {
        not_before: now - CA_BACKDATE,
        not_after: now + Duration::days(BOOTSTRAP_TLS_DAYS),
    };
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(Serial::random().as_bytes()));
    let cert = params.self_signed(&key).map_err(crypto)?;
    Ok(SelfSigned {
        certificate_der: cert.der().to_vec(),
        key_pkcs8: Zeroizing::new(key.serialize_der()),
        validity,
    })
}

/// The names of the server's CA-issued TLS certificate: localhost, the host name, `dns_names`,
/// 127.0.0.1, ::1 and the listen address when it is a specific IP address.
pub fn server_names(
    host_name: Option<&str>,
    dns_names: &[String],
    listen_host: &str,
) -> Result<(Vec<String>, Vec<IpAddr>), CoreError> {
    let mut dns = vec!["localhost".to_string()];
    if let Some(host) = host_name.and_then(|h| normalize_dns_name(h.trim()).ok()) {
        dns.push(host);
    }
    for d in dns_names {
        let d = normalize_dns_name(d)?;
        if !dns.contains(&d) {
            dns.push(d);
        }
    }
    let mut ips: Vec<IpAddr> = vec![
        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    ];
    if let Ok(ip) = listen_host.parse::<IpAddr>() {
        if !ip.is_unspecified() && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok((dns, ips))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_is_self_signed_for_local_names() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let s = bootstrap_certificate(&["pki.example".into()], now).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&s.certificate_der).unwrap();
        assert_eq!(cert.subject(), cert.issuer());
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let text: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
        for want in ["localhost", "pki.example", "7f:00:00:01", "00:00:00:01)"] {
            assert!(text.iter().any(|t| t.contains(want)), "{want} in {text:?}");
        }
        assert_eq!(
            cert.validity().not_after.timestamp(),
            (now + Duration::days(BOOTSTRAP_TLS_DAYS)).unix_timestamp()
        );
    }

    #[test]
    fn server_names_dedupe_and_add_the_listen_address() {
        let (dns, ips) = server_names(
            Some("Host1\n"),
            &["pki.example".into(), "localhost".into()],
            "10.1.2.3",
        )
        .unwrap();
        assert_eq!(dns, vec!["localhost", "host1", "pki.example"]);
        assert_eq!(ips.len(), 3);
        let (_, ips) = server_names(None, &[], "0.0.0.0").unwrap();
        assert_eq!(ips.len(), 2);
        assert!(server_names(None, &["bad name".into()], "::").is_err());
    }
}

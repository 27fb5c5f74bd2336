//! Validation of the names a certificate may carry.
use crate::CoreError;
use std::net::IpAddr;

/// A DNS name as RFC 1035/5280 allow it in a SAN: LDH labels of 1–63 octets, 253 in all. No
/// wildcards: a fleet's services are named one by one. Single-label names (`localhost`, `veritas-backend`) are
/// allowed on purpose: the fleet uses them. Returned lower-cased.
pub fn normalize_dns_name(name: &str) -> Result<String, CoreError> {
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let bad = || CoreError::InvalidDnsName(name.to_string());
    if lower.is_empty() || lower.len() > 253 {
        return Err(bad());
    }
    for label in lower.split('.') {
        if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
            return Err(bad());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad());
        }
    }
    // A name made only of digits and dots is an IP address in disguise.
    if lower.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    Ok(lower)
}

pub fn parse_ip(ip: &str) -> Result<IpAddr, CoreError> {
    ip.trim()
        .parse::<IpAddr>()
        .map_err(|_| CoreError::InvalidIpAddress(ip.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert_eq!(
            normalize_dns_name("Veritas-Backend").unwrap(),
            "veritas-backend"
        );
        assert_eq!(
            normalize_dns_name("api.example.com.").unwrap(),
            "api.example.com"
        );
        for bad in [
            "*.example.com",
            "",
            "-a.com",
            "a-.com",
            "a..b",
            "exa mple.com",
            "*",
            "a.*.com",
            "1.2.3.4",
            "ü.com",
            &"a".repeat(64),
        ] {
            assert!(normalize_dns_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ips() {
        assert!(parse_ip("127.0.0.1").is_ok());
        assert!(parse_ip("::1").is_ok());
        assert!(parse_ip("300.1.1.1").is_err());
    }
}

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

/// A DNS name as a certificate's SAN may hold it: a name of [`normalize_dns_name`], or a
/// wildcard `*.` followed by one with at least two labels (RFC 6125 §6.4.3: only the whole
/// leftmost label; `*.com` and `a.*.com` are refused). Which names may be wildcards is policy
/// (the authority's), not syntax: here only the form is checked.
pub fn normalize_san_dns_name(name: &str) -> Result<String, CoreError> {
    match name.strip_prefix("*.") {
        Some(base) => {
            let base = normalize_dns_name(base)?;
            if !base.contains('.') {
                return Err(CoreError::InvalidDnsName(name.to_string()));
            }
            Ok(format!("*.{base}"))
        }
        None => normalize_dns_name(name),
    }
}

/// The name a wildcard covers the children of (`*.example.com` → `example.com`), if `name` is one.
pub fn wildcard_base(name: &str) -> Option<&str> {
    name.strip_prefix("*.")
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
    fn san_dns_names_allow_only_a_whole_leftmost_wildcard() {
        assert_eq!(
            normalize_san_dns_name("*.Example.COM.").unwrap(),
            "*.example.com"
        );
        assert_eq!(normalize_san_dns_name("a.example").unwrap(), "a.example");
        assert_eq!(wildcard_base("*.example.com"), Some("example.com"));
        assert_eq!(wildcard_base("example.com"), None);
        for bad in [
            "*",
            "*.",
            "*.com",
            "a.*.com",
            "*.*.example.com",
            "x*.example.com",
            "*example.com",
        ] {
            assert!(normalize_san_dns_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ips() {
        assert!(parse_ip("127.0.0.1").is_ok());
        assert!(parse_ip("::1").is_ok());
        assert!(parse_ip("300.1.1.1").is_err());
    }
}

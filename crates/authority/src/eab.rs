//! External Account Binding keys for ACME (RFC 8555 §7.3.4; SPEC §9), made and revoked by an
//! admin. A key's policy (DNS suffixes, IP ranges, profiles) binds every account made with it.
use super::Authority;
use crate::policy::Names;
use crate::{AuthorityError, AuthorityResult, Requester};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use std::net::IpAddr;
use vcc_pki_store::EabKeyRecord;
use zeroize::Zeroizing;

/// What `vcc-pki acme eab create` asks for.
#[derive(Debug, Clone, Default)]
pub struct EabKeyRequest {
    pub allowed_dns: Vec<String>,
    pub allowed_ip: Vec<String>,
    pub profiles: Vec<String>,
    pub reusable: bool,
    pub expires_in: Option<time::Duration>,
}

/// A new key: its id and the HMAC key (base64url), shown once.
pub struct CreatedEabKey {
    pub kid: String,
    pub hmac_key: Zeroizing<String>,
    pub record: EabKeyRecord,
}

/// An IP range `ADDR/PREFIX` (or one address).
pub fn parse_cidr(text: &str) -> AuthorityResult<(IpAddr, u8)> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let ip: IpAddr = addr.trim().parse().map_err(|_| {
        AuthorityError::malformed(format!("'{text}' is not an IP range (ADDR/PREFIX)"))
    })?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| AuthorityError::malformed(format!("'{text}': bad prefix length")))?,
        None => max,
    };
    Ok((ip, prefix))
}

/// Is `ip` inside `range`?
pub fn cidr_contains((net, prefix): (IpAddr, u8), ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Does a DNS name fall under one of `suffixes` (the suffix itself or a name below it)?
pub fn dns_allowed(suffixes: &[String], name: &str) -> bool {
    let name = name.trim_start_matches("*.");
    suffixes.iter().any(|s| {
        let s = s.trim_start_matches('.');
        name == s || name.ends_with(&format!(".{s}"))
    })
}

impl Authority {
    pub async fn create_eab_key(
        &self,
        ctx: &Requester,
        req: EabKeyRequest,
    ) -> AuthorityResult<CreatedEabKey> {
        const ACTION: &str = "acme.eab.create";
        ctx.require_admin(&self.store, ACTION, None).await?;
        let mut allowed_dns = Vec::new();
        for suffix in &req.allowed_dns {
            let normal =
                Names::from_request(suffix.trim_start_matches('.'), &[], &[]).map_err(|_| {
                    AuthorityError::malformed(format!("'{suffix}' is not a DNS suffix"))
                })?;
            allowed_dns.push(normal.common_name);
        }
        let mut allowed_ip = Vec::new();
        for range in &req.allowed_ip {
            let (ip, prefix) = parse_cidr(range)?;
            allowed_ip.push(format!("{ip}/{prefix}"));
        }
        if req.expires_in.is_some_and(|d| d <= time::Duration::ZERO) {
            return Err(AuthorityError::malformed("expires_in must be positive"));
        }
        let kid = format!("eab-{}", B64.encode(rand::random::<[u8; 12]>()));
        let hmac_key = Zeroizing::new(B64.encode(rand::random::<[u8; 32]>()));
        let now = self.now();
        let record = EabKeyRecord {
            kid: kid.clone(),
            hmac_key: hmac_key.to_string(),
            allowed_dns,
            allowed_ip,
            profiles: req.profiles.clone(),
            reusable: req.reusable,
            expires_at: req.expires_in.map(|d| now + d),
            created_at: now,
            revoked_at: None,
            used_at: None,
        };
        let audit = ctx
            .audit(ACTION, "acme_eab_key")
            .target(kid.clone())
            .details(serde_json::json!({
                "allowed_dns": record.allowed_dns, "allowed_ip": record.allowed_ip,
                "profiles": record.profiles, "reusable": record.reusable,
            }));
        self.store.insert_eab_key(&record, &audit).await?;
        Ok(CreatedEabKey {
            kid,
            hmac_key,
            record,
        })
    }

    /// ACME accounts, newest first (admin).
    pub async fn acme_accounts(
        &self,
        ctx: &Requester,
        limit: i64,
    ) -> AuthorityResult<Vec<vcc_pki_store::AcmeAccountRecord>> {
        ctx.require_reader(&self.store, "acme.account.list", None)
            .await?;
        Ok(self.store.acme_accounts(limit).await?)
    }

    /// ACME orders, of one account or all, newest first (admin).
    pub async fn acme_orders(
        &self,
        ctx: &Requester,
        account_id: Option<&str>,
        limit: i64,
    ) -> AuthorityResult<Vec<vcc_pki_store::AcmeOrderRecord>> {
        ctx.require_reader(&self.store, "acme.order.list", account_id)
            .await?;
        Ok(self.store.acme_orders(account_id, limit).await?)
    }

    pub async fn eab_keys(&self, ctx: &Requester) -> AuthorityResult<Vec<EabKeyRecord>> {
        ctx.require_reader(&self.store, "acme.eab.list", None)
            .await?;
        Ok(self.store.eab_keys().await?)
    }

    pub async fn revoke_eab_key(&self, ctx: &Requester, kid: &str) -> AuthorityResult<()> {
        const ACTION: &str = "acme.eab.revoke";
        ctx.require_admin(&self.store, ACTION, Some(kid)).await?;
        let audit = ctx.audit(ACTION, "acme_eab_key").target(kid.to_string());
        if self.store.revoke_eab_key(kid, &audit).await? {
            Ok(())
        } else {
            Err(AuthorityError::not_found(format!(
                "no unrevoked external account key '{kid}'"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_suffixes() {
        let range = parse_cidr("10.1.0.0/16").unwrap();
        assert!(cidr_contains(range, "10.1.2.3".parse().unwrap()));
        assert!(!cidr_contains(range, "10.2.0.1".parse().unwrap()));
        assert!(cidr_contains(
            parse_cidr("fd00::/8").unwrap(),
            "fd12::1".parse().unwrap()
        ));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        let suffixes = vec!["svc.internal".to_string()];
        assert!(dns_allowed(&suffixes, "a.svc.internal"));
        assert!(dns_allowed(&suffixes, "svc.internal"));
        assert!(!dns_allowed(&suffixes, "evilsvc.internal"));
    }
}

//! The one resolver every validation uses (SPEC §9): the system's, or `--acme-dns-resolver
//! HOST:PORT` for closed networks and tests. http-01 and tls-alpn-01 connect to the addresses
//! it gives; dns-01 reads TXT records through it (CNAMEs are followed by the resolver).
use crate::problem::{AcmeErrorType, AcmeProblem};
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

#[derive(Clone)]
pub struct DnsResolver {
    inner: Arc<TokioResolver>,
    /// What a failure says was asked.
    label: String,
}

impl DnsResolver {
    /// `server`: a resolver at HOST:PORT (UDP and TCP), else the system configuration.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, String> {
        let (resolver, label) = match server {
            Some(addr) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
                    addr.ip(),
                    true,
                    vec![udp, tcp],
                )]);
                let mut builder =
                    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
                // Validation must see a record the moment it is set: no answers kept.
                builder.options_mut().cache_size = 0;
                (
                    builder.build().map_err(|e| e.to_string())?,
                    addr.to_string(),
                )
            }
            None => {
                let mut builder = TokioResolver::builder_tokio().map_err(|e| e.to_string())?;
                builder.options_mut().cache_size = 0;
                (
                    builder.build().map_err(|e| e.to_string())?,
                    "the system resolver".to_string(),
                )
            }
        };
        Ok(Self {
            inner: Arc::new(resolver),
            label,
        })
    }

    /// The TXT strings at `name` (each record's strings joined).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, AcmeProblem> {
        let lookup = self
            .inner
            .lookup(fqdn(name), RecordType::TXT)
            .await
            .map_err(|e| {
                AcmeProblem::new(
                    AcmeErrorType::Dns,
                    format!("TXT {name} via {}: {e}", self.label),
                )
            })?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    /// The addresses of `name` (A and AAAA).
    pub async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, AcmeProblem> {
        let lookup = self.inner.lookup_ip(fqdn(name)).await.map_err(|e| {
            AcmeProblem::new(
                AcmeErrorType::Dns,
                format!("A/AAAA {name} via {}: {e}", self.label),
            )
        })?;
        let ips: Vec<IpAddr> = lookup.iter().collect();
        if ips.is_empty() {
            return Err(AcmeProblem::new(
                AcmeErrorType::Dns,
                format!("{name} has no A or AAAA record (asked {})", self.label),
            ));
        }
        Ok(ips)
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// reqwest resolves http-01 hosts through the same resolver.
impl reqwest::dns::Resolve for DnsResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.clone();
        Box::pin(async move {
            let ips = resolver
                .addresses(name.as_str())
                .await
                .map_err(|p| -> Box<dyn std::error::Error + Send + Sync> { p.detail.into() })?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

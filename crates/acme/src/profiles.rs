//! ACME profiles (draft-ietf-acme-profiles): what a client may ask for by name in newOrder.
//! Built in: `classic` (the default) and `tlsserver` (CA/B Forum shaped).
use vcc_pki_core::LeafProfile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeProfile {
    pub name: String,
    pub description: String,
    /// The certificate profile of the core (extensions, subject).
    pub certificate: LeafProfile,
    pub validity_days: u32,
}

impl AcmeProfile {
    /// The built-in profiles; `classic_days` is the configured validity of `classic`.
    pub fn built_in(classic_days: u32) -> Vec<AcmeProfile> {
        vec![
            AcmeProfile {
                name: "classic".into(),
                description: "The default: server and client authentication, the first identifier \
                              as subject CN"
                    .into(),
                certificate: LeafProfile::ServerClient,
                validity_days: classic_days,
            },
            AcmeProfile {
                name: "tlsserver".into(),
                description: "TLS server authentication only, no subject CN, CA/Browser Forum \
                              Baseline Requirements shape (certificatePolicies 2.23.140.1.2.1), 90 days"
                    .into(),
                certificate: LeafProfile::TlsServer,
                validity_days: 90,
            },
        ]
    }
}

/// The default profile's name.
pub const DEFAULT_PROFILE: &str = "classic";

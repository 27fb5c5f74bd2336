//! ACME profiles (draft-ietf-acme-profiles): what a client may ask for by name in newOrder.
//! Built in: `classic` (the default) and `tlsserver` (CA/B Forum shaped); more, or changed
//! built-ins, from `[acme.profiles.NAME]` of the configuration ([`ProfileSettings`]).
use vcc_pki_authority::policy::MAX_NAMES;
use vcc_pki_core::profile::validity::LEAF_MAX_DAYS;
use vcc_pki_core::profile::TLS_SERVER_MAX_DAYS;
use vcc_pki_core::LeafProfile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeProfile {
    pub name: String,
    pub description: String,
    /// The certificate profile of the core (extensions, subject).
    pub certificate: LeafProfile,
    pub validity_days: u32,
    /// Put the CSR's CN, else the first identifier, in the subject CN; else an empty subject.
    pub common_name: bool,
    /// Identifier types orders of this profile may hold (`dns`, `ip`).
    pub identifier_types: Vec<String>,
    /// Most identifiers in one order.
    pub max_names: usize,
}

/// `[acme.profiles.NAME]` of the TOML configuration.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSettings {
    /// Shown in the directory's `meta.profiles`.
    pub description: Option<String>,
    /// `server`, `client`, `server_client` or `tlsserver`. [default: server_client]
    pub certificate: Option<String>,
    /// [default: the server's ACME validity; 90 for tlsserver]
    pub validity_days: Option<u32>,
    /// [default: `dns` and `ip`]
    pub identifiers: Option<Vec<String>>,
    /// [default: 100]
    pub max_names: Option<usize>,
    /// [default: true; tlsserver: false, and it cannot be true]
    pub common_name: Option<bool>,
}

fn every_identifier_type() -> Vec<String> {
    vec!["dns".into(), "ip".into()]
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
                common_name: true,
                identifier_types: every_identifier_type(),
                max_names: MAX_NAMES,
            },
            AcmeProfile {
                name: "tlsserver".into(),
                description: "TLS server authentication only, no subject CN, CA/Browser Forum \
                              Baseline Requirements shape (certificatePolicies 2.23.140.1.2.1), 90 days"
                    .into(),
                certificate: LeafProfile::TlsServer,
                validity_days: 90,
                common_name: false,
                identifier_types: every_identifier_type(),
                max_names: MAX_NAMES,
            },
        ]
    }

    /// A profile from the configuration, checked: a bad one stops the server at start-up with
    /// this message rather than failing every order.
    pub fn from_settings(
        name: &str,
        settings: &ProfileSettings,
        classic_days: u32,
    ) -> Result<AcmeProfile, String> {
        let bad = |what: String| format!("[acme.profiles.{name}]: {what}");
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(bad("a profile name is 1–64 of [A-Za-z0-9_-]".into()));
        }
        let certificate = match &settings.certificate {
            Some(c) => LeafProfile::parse(c).map_err(|e| bad(e.to_string()))?,
            None => LeafProfile::ServerClient,
        };
        let tlsserver = certificate == LeafProfile::TlsServer;
        let (default_days, max_days) = if tlsserver {
            // A certificate is backdated a minute, and the BR's 398 days bound the whole span.
            (90, TLS_SERVER_MAX_DAYS - 1)
        } else {
            (classic_days, LEAF_MAX_DAYS)
        };
        let validity_days = settings.validity_days.unwrap_or(default_days);
        if validity_days == 0 || validity_days > max_days {
            return Err(bad(format!(
                "validity_days must be 1 to {max_days} for certificate '{}'",
                certificate.as_str()
            )));
        }
        let common_name = settings.common_name.unwrap_or(!tlsserver);
        if common_name && tlsserver {
            return Err(bad(
                "a tlsserver certificate has an empty subject: common_name must be false".into(),
            ));
        }
        let identifier_types = match &settings.identifiers {
            Some(types) => {
                let mut out: Vec<String> = Vec::new();
                for t in types {
                    let t = t.trim().to_ascii_lowercase();
                    if t != "dns" && t != "ip" {
                        return Err(bad(format!("identifier type '{t}' (expected dns or ip)")));
                    }
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
                if out.is_empty() {
                    return Err(bad("identifiers must name dns, ip or both".into()));
                }
                out
            }
            None => every_identifier_type(),
        };
        let max_names = settings.max_names.unwrap_or(MAX_NAMES);
        if max_names == 0 || max_names > MAX_NAMES {
            return Err(bad(format!("max_names must be 1 to {MAX_NAMES}")));
        }
        Ok(AcmeProfile {
            name: name.to_string(),
            description: settings.description.clone().unwrap_or_else(|| {
                format!(
                    "{} certificate, {validity_days} days, {}",
                    certificate.as_str(),
                    identifier_types.join("/")
                )
            }),
            certificate,
            validity_days,
            common_name,
            identifier_types,
            max_names,
        })
    }

    /// The offered profiles: the built-ins, each replaced by a configured profile of its name,
    /// then the other configured ones in name order.
    pub fn offered(
        classic_days: u32,
        configured: &[(String, ProfileSettings)],
    ) -> Result<Vec<AcmeProfile>, String> {
        let mut profiles = Self::built_in(classic_days);
        for (name, settings) in configured {
            let profile = Self::from_settings(name, settings, classic_days)?;
            match profiles.iter_mut().find(|p| p.name == profile.name) {
                Some(existing) => *existing = profile,
                None => profiles.push(profile),
            }
        }
        Ok(profiles)
    }

    /// Why this profile does not issue for these identifiers, if it does not.
    pub fn refuses(&self, identifiers: &[vcc_pki_store::AcmeIdentifier]) -> Option<String> {
        if let Some(i) = identifiers
            .iter()
            .find(|i| !self.identifier_types.contains(&i.kind))
        {
            return Some(format!(
                "profile '{}' issues for {} identifiers only, not {} '{}'",
                self.name,
                self.identifier_types.join(" and "),
                i.kind,
                i.value
            ));
        }
        if identifiers.len() > self.max_names {
            return Some(format!(
                "profile '{}' allows at most {} identifiers in an order ({} asked)",
                self.name,
                self.max_names,
                identifiers.len()
            ));
        }
        None
    }
}

/// The default profile's name.
pub const DEFAULT_PROFILE: &str = "classic";

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> ProfileSettings {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn configured_profiles_are_checked() {
        let p = AcmeProfile::from_settings(
            "short",
            &settings("certificate = \"server\"\nvalidity_days = 7\nidentifiers = [\"dns\"]\nmax_names = 2\ncommon_name = false"),
            90,
        )
        .unwrap();
        assert_eq!(p.certificate, LeafProfile::Server);
        assert_eq!((p.validity_days, p.max_names, p.common_name), (7, 2, false));
        assert_eq!(p.identifier_types, vec!["dns"]);
        let defaults = AcmeProfile::from_settings("d", &ProfileSettings::default(), 42).unwrap();
        assert_eq!(defaults.certificate, LeafProfile::ServerClient);
        assert_eq!((defaults.validity_days, defaults.common_name), (42, true));
        for (name, text) in [
            ("x", "certificate = \"codesigning\""),
            ("x", "validity_days = 0"),
            ("x", "validity_days = 826"),
            ("x", "certificate = \"tlsserver\"\nvalidity_days = 398"),
            ("x", "certificate = \"tlsserver\"\ncommon_name = true"),
            ("x", "identifiers = [\"email\"]"),
            ("x", "identifiers = []"),
            ("x", "max_names = 0"),
            ("x", "max_names = 101"),
            ("bad name", ""),
        ] {
            assert!(
                AcmeProfile::from_settings(name, &settings(text), 90).is_err(),
                "{text} accepted"
            );
        }
        assert!(toml::from_str::<ProfileSettings>("colour = \"red\"").is_err());
    }

    #[test]
    fn configured_profiles_replace_built_ins_and_add_new_ones() {
        let offered = AcmeProfile::offered(
            90,
            &[
                (
                    "tlsserver".into(),
                    settings("certificate = \"tlsserver\"\nvalidity_days = 30"),
                ),
                ("ip-only".into(), settings("identifiers = [\"ip\"]")),
            ],
        )
        .unwrap();
        let names: Vec<_> = offered.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["classic", "tlsserver", "ip-only"]);
        assert_eq!(offered[1].validity_days, 30);
        let dns = vcc_pki_store::AcmeIdentifier {
            kind: "dns".into(),
            value: "a.example".into(),
        };
        assert!(offered[2].refuses(std::slice::from_ref(&dns)).is_some());
        assert!(offered[0].refuses(&[dns]).is_none());
    }
}

use crate::CoreError;

/// RFC 5280 §5.3.1 CRLReason, named as the seed's CLI and API name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 10] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::RemoveFromCrl,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// Accepts the RFC 5280 names case-insensitively, and snake_case spellings
    /// (`key_compromise`) the seed's Python client used.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().to_ascii_lowercase() == norm)
            .ok_or_else(|| CoreError::UnknownReason(s.to_string()))
    }

    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::RemoveFromCrl => 8,
            Self::PrivilegeWithdrawn => 9,
            Self::AaCompromise => 10,
        }
    }

    /// The reason of a CRLReason code (RFC 5280 §5.3.1); `None` for an unassigned one.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| i64::from(r.code()) == code)
    }

    pub(crate) fn to_rcgen(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            Self::Unspecified => R::Unspecified,
            Self::KeyCompromise => R::KeyCompromise,
            Self::CaCompromise => R::CaCompromise,
            Self::AffiliationChanged => R::AffiliationChanged,
            Self::Superseded => R::Superseded,
            Self::CessationOfOperation => R::CessationOfOperation,
            Self::CertificateHold => R::CertificateHold,
            Self::RemoveFromCrl => R::RemoveFromCrl,
            Self::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            Self::AaCompromise => R::AaCompromise,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc_and_snake_case_names() {
        assert_eq!(
            RevocationReason::parse("keyCompromise").unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            RevocationReason::parse("key_compromise").unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(RevocationReason::parse("removeFromCRL").unwrap().code(), 8);
        assert!(RevocationReason::parse("bored").is_err());
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(r.as_str()).unwrap(), r);
        }
    }
}

//! How long each kind of certificate lives, how far it is backdated, and when it is due for
//! renewal: the one home of these numbers.
use time::{Duration, OffsetDateTime};

/// A service certificate's lifetime when the request names none, days.
pub const LEAF_DEFAULT_DAYS: u32 = 365;
/// The longest a service certificate may live, days (CA/B Forum's former 825-day limit).
pub const LEAF_MAX_DAYS: u32 = 825;
/// notBefore of a service, OCSP responder or server TLS certificate lies this far in the past,
/// for relying parties whose clocks lag.
pub const LEAF_BACKDATE: Duration = Duration::minutes(1);
/// The furthest in the past a client may ask a certificate's notBefore to lie (ACME newOrder):
/// room for a client's clock, no real backdating.
pub const REQUESTED_BACKDATE: Duration = Duration::hours(1);
/// notBefore of a CA certificate lies this far in the past.
pub const CA_BACKDATE: Duration = Duration::minutes(5);
/// The server's own TLS certificate, issued by the intermediate, lives this long.
pub const SERVER_TLS_DAYS: u32 = 90;
/// The self-signed TLS certificate the server uses until a CA exists.
pub const BOOTSTRAP_TLS_DAYS: i64 = 30;
/// A delegated OCSP responder certificate lives this long; it is replaced at half-life, so every
/// response it signed (one day at most) expires before it does.
pub const OCSP_RESPONDER_LIFETIME: Duration = Duration::days(4);

/// nextUpdate − thisUpdate of a CRL; it is rebuilt when two thirds of this have passed.
pub const CRL_LIFETIME: Duration = Duration::hours(24);
/// nextUpdate − thisUpdate of an OCSP response; cached responses are re-signed at half of it.
pub const OCSP_RESPONSE_LIFETIME: Duration = Duration::days(1);

/// notBefore and notAfter of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// A leaf issued at `now` for `days`, backdated by [`LEAF_BACKDATE`].
    pub fn leaf(now: OffsetDateTime, days: u32) -> Self {
        Self {
            not_before: now - LEAF_BACKDATE,
            not_after: now + Duration::days(i64::from(days)),
        }
    }

    /// A leaf window a client chose (an ACME order's notBefore/notAfter, RFC 8555 §7.4), as it
    /// would be issued at `now`: an absent notBefore is `now` backdated by [`LEAF_BACKDATE`], an
    /// absent notAfter lies `days` after notBefore. notBefore lies at most
    /// [`REQUESTED_BACKDATE`] in the past and no later than `latest_start`; the window is
    /// non-empty and at most `days` long. Checked when the order is made and again when it is
    /// finalized (the clock has moved on).
    pub fn requested_leaf(
        now: OffsetDateTime,
        not_before: Option<OffsetDateTime>,
        not_after: Option<OffsetDateTime>,
        days: u32,
        latest_start: OffsetDateTime,
    ) -> Result<Self, String> {
        let longest = Duration::days(i64::from(days));
        // Whole seconds, as X.509 and the store keep them, rounded inwards: never longer.
        let floor = |t: OffsetDateTime| t - Duration::nanoseconds(i64::from(t.nanosecond()));
        let ceil = |t: OffsetDateTime| {
            if t.nanosecond() == 0 {
                Some(t)
            } else {
                floor(t).checked_add(Duration::SECOND)
            }
        };
        let not_before = not_before.unwrap_or(now - LEAF_BACKDATE);
        // Range checks before any arithmetic on client times (far-future times would overflow).
        if not_before > latest_start {
            return Err("notBefore lies after the order expires".into());
        }
        if not_before < now - REQUESTED_BACKDATE {
            return Err(format!(
                "notBefore may lie at most {} minutes in the past",
                REQUESTED_BACKDATE.whole_minutes()
            ));
        }
        let out_of_range = || String::from("notBefore/notAfter out of range");
        let not_before = ceil(not_before).ok_or_else(out_of_range)?;
        let not_after = match not_after {
            Some(t) => floor(t),
            None => not_before.checked_add(longest).ok_or_else(out_of_range)?,
        };
        if not_after <= not_before {
            return Err("notAfter must lie after notBefore".into());
        }
        if not_after - not_before > longest {
            return Err(format!(
                "the profile allows at most {days} days between notBefore and notAfter"
            ));
        }
        Ok(Self {
            not_before,
            not_after,
        })
    }

    /// A CA certificate issued at `now` for `years`, backdated by [`CA_BACKDATE`].
    pub fn ca(now: OffsetDateTime, years: u32) -> Self {
        Self {
            not_before: now - CA_BACKDATE,
            not_after: now + Duration::days(365 * i64::from(years)),
        }
    }

    /// A delegated OCSP responder certificate issued at `now`, backdated by [`LEAF_BACKDATE`].
    pub fn ocsp_responder(now: OffsetDateTime) -> Self {
        Self {
            not_before: now - LEAF_BACKDATE,
            not_after: now + OCSP_RESPONDER_LIFETIME,
        }
    }

    /// Never past the issuer's own notAfter (a certificate cannot outlive its issuer).
    pub fn clamped_to(self, issuer_not_after: OffsetDateTime) -> Self {
        Self {
            not_before: self.not_before,
            not_after: self.not_after.min(issuer_not_after),
        }
    }

    /// When renewal is due: see [`renewal_due`].
    pub fn renewal_due(&self) -> OffsetDateTime {
        renewal_due(self.not_before, self.not_after)
    }
}

/// Renewal is due two thirds into a certificate's lifetime, when a third of it is left. One rule
/// for the rotation schedule in the store and the server's own TLS certificate.
pub fn renewal_due(not_before: OffsetDateTime, not_after: OffsetDateTime) -> OffsetDateTime {
    not_before + (not_after - not_before) * 2 / 3
}

/// The URLs a certificate names when the CA has a public base URL: the CRL distribution point
/// (a shard's CRL, or the complete one), the OCSP responder and the issuer's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributionUrls {
    pub crl: String,
    pub ocsp: String,
    pub ca_issuers: String,
}

impl DistributionUrls {
    pub fn new(public_url: &str, crl_shard: Option<i64>) -> Self {
        let base = public_url.trim_end_matches('/');
        Self {
            crl: crl_url(base, crl_shard),
            ocsp: format!("{base}/ocsp"),
            ca_issuers: format!("{base}/ca/intermediate.crt"),
        }
    }
}

/// `/crl` for the complete CRL, `/crl/{shard}` for a partition.
pub fn crl_url(public_url: &str, shard: Option<i64>) -> String {
    let base = public_url.trim_end_matches('/');
    match shard {
        Some(k) => format!("{base}/crl/{k}"),
        None => format!("{base}/crl"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn leaf_is_backdated_and_clamped_to_its_issuer() {
        let v = Validity::leaf(t0(), 10);
        assert_eq!(v.not_before, t0() - Duration::minutes(1));
        assert_eq!(v.not_after, t0() + Duration::days(10));
        let issuer_end = t0() + Duration::days(3);
        assert_eq!(v.clamped_to(issuer_end).not_after, issuer_end);
        assert_eq!(v.clamped_to(t0() + Duration::days(30)), v);
    }

    #[test]
    fn a_requested_window_is_kept_within_the_profile() {
        let end = t0() + Duration::days(7);
        let only_after =
            Validity::requested_leaf(t0(), None, Some(t0() + Duration::days(2)), 10, end).unwrap();
        assert_eq!(only_after.not_before, t0() - LEAF_BACKDATE);
        assert_eq!(only_after.not_after, t0() + Duration::days(2));
        let later = t0() + Duration::days(1);
        let only_before = Validity::requested_leaf(t0(), Some(later), None, 10, end).unwrap();
        assert_eq!(only_before.not_after, later + Duration::days(10));
        for (nb, na) in [
            (Some(t0() - Duration::hours(2)), None),
            (Some(t0() + Duration::days(8)), None),
            (Some(later), Some(later)),
            (None, Some(t0() + Duration::days(11))),
            // Far in the future: refused, not an arithmetic overflow.
            (
                Some(OffsetDateTime::new_utc(
                    time::Date::MAX,
                    time::Time::MIDNIGHT,
                )),
                None,
            ),
            (
                None,
                Some(OffsetDateTime::new_utc(
                    time::Date::MAX,
                    time::Time::MIDNIGHT,
                )),
            ),
        ] {
            assert!(
                Validity::requested_leaf(t0(), nb, na, 10, end).is_err(),
                "{nb:?} {na:?}"
            );
        }
    }

    #[test]
    fn renewal_is_due_with_a_third_left() {
        let v = Validity {
            not_before: t0(),
            not_after: t0() + Duration::days(90),
        };
        assert_eq!(v.renewal_due(), t0() + Duration::days(60));
    }

    #[test]
    fn urls_name_the_shard() {
        let u = DistributionUrls::new("http://pki.example/", Some(7));
        assert_eq!(u.crl, "http://pki.example/crl/7");
        assert_eq!(u.ocsp, "http://pki.example/ocsp");
        assert_eq!(u.ca_issuers, "http://pki.example/ca/intermediate.crt");
        assert_eq!(
            crl_url("http://pki.example", None),
            "http://pki.example/crl"
        );
    }
}

//! External Account Binding (RFC 8555 §7.3.4): newAccount carries a JWS over the account key,
//! MAC'd (HS256/384/512) with a key an admin made (`vcc-pki acme eab create`). The key's policy
//! then binds every order of the account.
use crate::jws::thumbprint;
use crate::problem::{AcmeErrorType, AcmeProblem};
use crate::Acme;
use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use vcc_pki_store::{AcmeIdentifier, EabKeyRecord};

#[derive(Deserialize)]
struct Binding {
    protected: String,
    payload: String,
    signature: String,
}

#[derive(Deserialize)]
struct BindingHeader {
    alg: String,
    kid: String,
    url: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    jwk: Option<Value>,
}

fn refused(detail: impl Into<String>) -> AcmeProblem {
    AcmeProblem::unauthorized(detail)
}

/// Check the binding of newAccount (`url`) for the account key `account_jwk`; the key it names.
pub(crate) async fn verify_binding(
    acme: &Acme,
    binding: &Value,
    account_jwk: &Value,
    url: &str,
) -> Result<EabKeyRecord, AcmeProblem> {
    let binding: Binding = serde_json::from_value(binding.clone()).map_err(|e| {
        AcmeProblem::malformed(format!(
            "externalAccountBinding is not a flattened JWS: {e}"
        ))
    })?;
    let header: BindingHeader = B64
        .decode(binding.protected.as_bytes())
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| {
            AcmeProblem::malformed("externalAccountBinding: the protected header does not parse")
        })?;
    let algorithm = match header.alg.as_str() {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        other => {
            return Err(AcmeProblem::new(
                AcmeErrorType::BadSignatureAlgorithm,
                format!("externalAccountBinding alg '{other}': use HS256, HS384 or HS512"),
            ))
        }
    };
    if header.nonce.is_some() || header.jwk.is_some() {
        return Err(AcmeProblem::malformed(
            "externalAccountBinding must carry neither a nonce nor a jwk (RFC 8555 §7.3.4)",
        ));
    }
    if header.url != url {
        return Err(refused(
            "externalAccountBinding url is not the newAccount URL",
        ));
    }
    let key = acme
        .store
        .eab_key(&header.kid)
        .await?
        .ok_or_else(|| refused(format!("unknown external account key '{}'", header.kid)))?;
    let now = acme.authority.now();
    if key.revoked_at.is_some() {
        return Err(refused("the external account key is revoked"));
    }
    if key.expires_at.is_some_and(|t| t <= now) {
        return Err(refused("the external account key has expired"));
    }
    if !key.reusable && key.used_at.is_some() {
        return Err(refused("the external account key was used already"));
    }
    let secret = B64
        .decode(key.hmac_key.as_bytes())
        .map_err(|_| AcmeProblem::internal())?;
    let signature = B64
        .decode(binding.signature.as_bytes())
        .map_err(|_| AcmeProblem::malformed("externalAccountBinding signature is not base64url"))?;
    let message = format!("{}.{}", binding.protected, binding.payload);
    hmac::verify(
        &hmac::Key::new(algorithm, &secret),
        message.as_bytes(),
        &signature,
    )
    .map_err(|_| refused("the externalAccountBinding MAC does not verify"))?;
    let bound: Value = B64
        .decode(binding.payload.as_bytes())
        .ok()
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or_else(|| AcmeProblem::malformed("externalAccountBinding payload is not a JWK"))?;
    if thumbprint(&bound)? != thumbprint(account_jwk)? {
        return Err(refused(
            "externalAccountBinding binds another key than the account's",
        ));
    }
    Ok(key)
}

/// The EAB key's policy for an order: every identifier under its allow lists (when it has
/// any), and the profile among its profiles (when it names any).
pub(crate) fn check_order(
    key: &EabKeyRecord,
    identifiers: &[AcmeIdentifier],
    profile: &str,
) -> Result<(), AcmeProblem> {
    // Revoking a key (a leak, a team gone) stops its accounts too; expiry only ends its use for
    // new accounts.
    if key.revoked_at.is_some() {
        return Err(AcmeProblem::unauthorized(
            "this account's external account key is revoked",
        ));
    }
    if !key.profiles.is_empty() && !key.profiles.iter().any(|p| p == profile) {
        return Err(AcmeProblem::new(
            AcmeErrorType::InvalidProfile,
            format!(
                "this account's external account key allows the profiles [{}] only",
                key.profiles.join(", ")
            ),
        ));
    }
    crate::limits::refuse_outside(
        crate::limits::outside_allow_lists(&key.allowed_dns, &key.allowed_ip, identifiers),
        "not allowed for this account's external account key",
        "outside the external account key's allowed DNS suffixes and IP ranges",
    )
}

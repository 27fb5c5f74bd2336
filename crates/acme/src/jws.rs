//! JWS as ACME uses it (RFC 7515 flattened JSON, RFC 8555 §6.2): the protected header is parsed
//! here (alg, nonce, url, jwk or kid), the signature checked by `jsonwebtoken` against a key
//! whose type matches `alg`. Thumbprints are RFC 7638's.
use crate::problem::{AcmeErrorType, AcmeProblem};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The algorithms accepted for account keys.
pub const ALGORITHMS: [&str; 4] = ["ES256", "ES384", "RS256", "EdDSA"];
/// Smallest RSA modulus accepted, bits.
pub const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, Deserialize)]
struct Flattened {
    protected: String,
    #[serde(default)]
    payload: String,
    signature: String,
}

/// The protected header of a request.
#[derive(Debug, Clone, Deserialize)]
pub struct Protected {
    pub alg: String,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub jwk: Option<Value>,
}

/// A parsed, not yet verified, JWS.
#[derive(Debug)]
pub struct Jws {
    pub protected: Protected,
    protected_b64: String,
    payload_b64: String,
    signature_b64: String,
}

impl Jws {
    pub fn parse(body: &[u8]) -> Result<Self, AcmeProblem> {
        let flat: Flattened = serde_json::from_slice(body).map_err(|e| {
            AcmeProblem::malformed(format!(
                "the body is not a flattened JWS (RFC 7515 §7.2.2): {e}"
            ))
        })?;
        let header = B64
            .decode(flat.protected.as_bytes())
            .map_err(|_| AcmeProblem::malformed("the protected header is not base64url"))?;
        let protected: Protected = serde_json::from_slice(&header)
            .map_err(|e| AcmeProblem::malformed(format!("the protected header: {e}")))?;
        if !ALGORITHMS.contains(&protected.alg.as_str()) {
            return Err(AcmeProblem::new(
                AcmeErrorType::BadSignatureAlgorithm,
                format!(
                    "alg '{}' is not accepted; use one of {}",
                    protected.alg,
                    ALGORITHMS.join(", ")
                ),
            ));
        }
        if protected.jwk.is_some() == protected.kid.is_some() {
            return Err(AcmeProblem::malformed(
                "the protected header must carry exactly one of jwk and kid",
            ));
        }
        Ok(Self {
            protected,
            protected_b64: flat.protected,
            payload_b64: flat.payload,
            signature_b64: flat.signature,
        })
    }

    /// Check the signature with `jwk` (which must suit `alg`); the payload bytes on success
    /// (empty for POST-as-GET).
    pub fn verify(&self, jwk: &Value) -> Result<Vec<u8>, AcmeProblem> {
        let alg = check_key(&self.protected.alg, jwk)?;
        let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone())
            .map_err(|e| AcmeProblem::new(AcmeErrorType::BadPublicKey, format!("jwk: {e}")))?;
        let key = DecodingKey::from_jwk(&parsed)
            .map_err(|e| AcmeProblem::new(AcmeErrorType::BadPublicKey, format!("jwk: {e}")))?;
        let message = format!("{}.{}", self.protected_b64, self.payload_b64);
        let ok = jsonwebtoken::crypto::verify(&self.signature_b64, message.as_bytes(), &key, alg)
            .unwrap_or(false);
        if !ok {
            return Err(AcmeProblem::malformed("the JWS signature does not verify"));
        }
        B64.decode(self.payload_b64.as_bytes())
            .map_err(|_| AcmeProblem::malformed("the payload is not base64url"))
    }
}

/// The jsonwebtoken algorithm for `alg`, if `jwk` is a key of the matching type and size.
fn check_key(alg: &str, jwk: &Value) -> Result<Algorithm, AcmeProblem> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str).unwrap_or_default();
    let mismatch = |want: &str| {
        Err(AcmeProblem::new(
            AcmeErrorType::BadSignatureAlgorithm,
            format!("alg '{alg}' needs {want}"),
        ))
    };
    match alg {
        "ES256" if field("kty") == "EC" && field("crv") == "P-256" => Ok(Algorithm::ES256),
        "ES256" => mismatch("an EC P-256 key"),
        "ES384" if field("kty") == "EC" && field("crv") == "P-384" => Ok(Algorithm::ES384),
        "ES384" => mismatch("an EC P-384 key"),
        "EdDSA" if field("kty") == "OKP" && field("crv") == "Ed25519" => Ok(Algorithm::EdDSA),
        "EdDSA" => mismatch("an OKP Ed25519 key"),
        "RS256" if field("kty") == "RSA" => {
            let n = B64.decode(field("n")).unwrap_or_default();
            let significant: Vec<u8> = n.iter().skip_while(|b| **b == 0).copied().collect();
            let bits = significant
                .first()
                .map(|top| (significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize))
                .unwrap_or(0);
            if bits < MIN_RSA_BITS {
                return Err(AcmeProblem::new(
                    AcmeErrorType::BadPublicKey,
                    format!("RSA account keys need at least {MIN_RSA_BITS} bits"),
                ));
            }
            Ok(Algorithm::RS256)
        }
        "RS256" => mismatch("an RSA key"),
        _ => Err(AcmeProblem::new(
            AcmeErrorType::BadSignatureAlgorithm,
            format!("alg '{alg}' is not accepted"),
        )),
    }
}

/// RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: the required members only, in
/// lexicographic order, no whitespace.
pub fn thumbprint(jwk: &Value) -> Result<String, AcmeProblem> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => {
            return Err(AcmeProblem::new(
                AcmeErrorType::BadPublicKey,
                "jwk kty must be EC, RSA or OKP",
            ))
        }
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name).and_then(Value::as_str).ok_or_else(|| {
            AcmeProblem::new(AcmeErrorType::BadPublicKey, format!("jwk lacks '{name}'"))
        })?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&serde_json::to_string(name).unwrap_or_default());
        canonical.push(':');
        canonical.push_str(&serde_json::to_string(value).unwrap_or_default());
    }
    canonical.push('}');
    Ok(B64.encode(Sha256::digest(canonical.as_bytes())))
}

/// The public members of a JWK only (a client might send `d`; it is never stored).
pub fn public_jwk(jwk: &Value) -> Value {
    let keep = ["kty", "crv", "x", "y", "n", "e"];
    let mut out = serde_json::Map::new();
    if let Some(map) = jwk.as_object() {
        for (k, v) in map {
            if keep.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn alg_must_match_the_key() {
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "a", "y": "b"});
        assert!(check_key("ES256", &ec).is_ok());
        let err = check_key("ES384", &ec).unwrap_err();
        assert_eq!(err.error_type(), Some(AcmeErrorType::BadSignatureAlgorithm));
        let err = check_key("RS256", &ec).unwrap_err();
        assert_eq!(err.error_type(), Some(AcmeErrorType::BadSignatureAlgorithm));
        let small_rsa =
            serde_json::json!({"kty": "RSA", "n": B64.encode([0xffu8; 128]), "e": "AQAB"});
        assert_eq!(
            check_key("RS256", &small_rsa).unwrap_err().error_type(),
            Some(AcmeErrorType::BadPublicKey)
        );
    }

    #[test]
    fn none_and_hmac_algorithms_are_refused() {
        for alg in ["none", "HS256"] {
            let header = B64.encode(format!(
                r#"{{"alg":"{alg}","kid":"x","nonce":"n","url":"u"}}"#
            ));
            let body = format!(r#"{{"protected":"{header}","payload":"","signature":""}}"#);
            let err = Jws::parse(body.as_bytes()).unwrap_err();
            assert_eq!(err.error_type(), Some(AcmeErrorType::BadSignatureAlgorithm));
        }
    }
}

//! The crypto floor: how many of the per-request cryptographic operations this machine can do per
//! second on all cores, measured in-process with aws-lc-rs (the library the server signs with),
//! in the same run as the load test and while the server is idle.
use anyhow::{anyhow, Context};
use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rcgen::{PublicKeyData, SigningKey};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vcc_pki_core::KeyType;

/// A stand-in for a to-be-signed certificate: the size of a typical leaf TBSCertificate.
const MESSAGE_LEN: usize = 700;

/// Rates on all cores (one thread per core), operations per second.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    pub cores: usize,
    /// The CA (intermediate) key type that signs every certificate.
    pub sign_key_type: String,
    pub sign_per_second: f64,
    /// What made those signatures: "aws-lc-rs" in process, or "PKCS#11 <module>" (a token).
    pub sign_provider: String,
    /// Key type of the CSRs whose signature the server checks (issue-csr only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_key_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_per_second: Option<f64>,
    /// Key type the server generates per request (issue-keygen only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keygen_key_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keygen_per_second: Option<f64>,
    /// 1 / (sum of 1/rate): certificates per second if the cores did nothing but this crypto.
    pub floor_per_second: f64,
}

/// What one request costs in crypto.
pub struct Work {
    pub sign: KeyType,
    /// The CA key is in this PKCS#11 token: measure the token's signing rate (through the same
    /// module the server loads) instead of aws-lc-rs's.
    pub sign_uri: Option<String>,
    pub verify: Option<KeyType>,
    pub keygen: Option<KeyType>,
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Measure each operation for `secs` on all cores and combine them.
pub fn measure(work: &Work, secs: f64) -> anyhow::Result<Floor> {
    let cores = cores();
    let window = Duration::from_secs_f64(secs.max(0.1));
    let message = vec![0x5au8; MESSAGE_LEN];

    let (sign_per_second, sign_provider) = match &work.sign_uri {
        None => {
            let signer = work.sign.generate().map_err(|e| anyhow!("{e}"))?;
            let rate = on_all_cores(cores, window, || {
                signer
                    .sign(&message)
                    .map(|_| ())
                    .map_err(|e| anyhow!("sign: {e}"))
            })?;
            (rate, "aws-lc-rs".to_string())
        }
        Some(uri) => {
            let uri = vcc_pki_pkcs11::KeyUri::parse(uri).map_err(|e| anyhow!("{e}"))?;
            let key = vcc_pki_pkcs11::Pkcs11Key::open(&uri).map_err(|e| anyhow!("{e}"))?;
            let rate = on_all_cores(cores, window, || {
                key.sign_message(&message)
                    .map(|_| ())
                    .map_err(|e| anyhow!("token sign: {e}"))
            })?;
            (rate, format!("PKCS#11 {}", uri.module_path.display()))
        }
    };
    let mut inverse = 1.0 / sign_per_second;

    let verify_per_second = match work.verify {
        Some(kt) => {
            let key = kt.generate().map_err(|e| anyhow!("{e}"))?;
            let signature = key.sign(&message).map_err(|e| anyhow!("sign: {e}"))?;
            let algorithm = verification_algorithm(kt);
            let public = key.der_bytes().to_vec();
            // Check once outside the timed loop that it really verifies.
            UnparsedPublicKey::new(algorithm, &public)
                .verify(&message, &signature)
                .map_err(|_| {
                    anyhow!(
                        "self-check: a fresh {} signature does not verify",
                        kt.as_str()
                    )
                })?;
            let rate = on_all_cores(cores, window, || {
                UnparsedPublicKey::new(algorithm, &public)
                    .verify(&message, &signature)
                    .map_err(|_| anyhow!("verify failed"))
            })?;
            inverse += 1.0 / rate;
            Some(rate)
        }
        None => None,
    };

    let keygen_per_second = match work.keygen {
        Some(kt) => {
            let rate = on_all_cores(cores, window, || {
                kt.generate().map(|_| ()).map_err(|e| anyhow!("{e}"))
            })?;
            inverse += 1.0 / rate;
            Some(rate)
        }
        None => None,
    };

    Ok(Floor {
        cores,
        sign_key_type: work.sign.as_str().into(),
        sign_per_second,
        sign_provider,
        verify_key_type: work.verify.map(|k| k.as_str().into()),
        verify_per_second,
        keygen_key_type: work.keygen.map(|k| k.as_str().into()),
        keygen_per_second,
        floor_per_second: 1.0 / inverse,
    })
}

/// The algorithm the server's CSR check (x509-parser with aws-lc-rs) uses for a key type.
fn verification_algorithm(kt: KeyType) -> &'static dyn VerificationAlgorithm {
    match kt {
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        KeyType::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeyType::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeyType::Ed25519 => &signature::ED25519,
    }
}

/// Run `op` in a loop on one thread per core for `window`; total operations per second.
fn on_all_cores<F>(cores: usize, window: Duration, op: F) -> anyhow::Result<f64>
where
    F: Fn() -> anyhow::Result<()> + Sync,
{
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let counts: Vec<anyhow::Result<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<u64> {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        op()?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        std::thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow!("a floor measurement thread panicked"))?
            })
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let total: u64 = counts
        .into_iter()
        .collect::<anyhow::Result<Vec<u64>>>()
        .context("measuring the crypto floor")?
        .into_iter()
        .sum();
    if total == 0 {
        return Err(anyhow!("no operation completed while measuring the floor"));
    }
    Ok(total as f64 / elapsed)
}

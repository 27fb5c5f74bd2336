//! A CA key inside a PKCS#11 token, used through rcgen's `SigningKey`.
use crate::module::context;
use crate::{describe, KeyUri, Pkcs11Error};
use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::asn1::{ObjectIdentifier, OctetString, UintRef};
use der::{Decode, Encode};
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use sha2::Digest;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use vcc_pki_core::KeyType;

const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// Sessions kept open per key: signatures on different sessions run in parallel in the token.
const SESSIONS: usize = 4;

#[derive(der::Sequence)]
struct EcdsaSignature<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

#[derive(der::Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// The token's own account of how a private key is guarded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeyProtection {
    pub sensitive: bool,
    pub extractable: bool,
    pub never_extractable: bool,
    /// True if the token handed out the private value when asked.
    pub value_readable: bool,
}

/// A logged-in session and the private key's handle in it.
struct Live {
    session: Session,
    key: ObjectHandle,
}

/// A private key that never leaves its token. Signing opens (and after a failure reopens)
/// sessions, so a token that was removed works again once it is back.
pub struct Pkcs11Key {
    uri: KeyUri,
    key_type: KeyType,
    /// The public key as rcgen wants it: the EC point, or the PKCS#1 RSAPublicKey DER.
    public_key: Vec<u8>,
    ctx: Pkcs11,
    sessions: Vec<Mutex<Option<Live>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("uri", &self.uri.as_str())
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Key {
    /// Generate a new key pair inside the token: private half sensitive and non-extractable.
    /// Refuses when the token already holds a private key with this label.
    pub fn generate(uri: &KeyUri, key_type: KeyType) -> Result<Self, Pkcs11Error> {
        let ctx = context(&uri.module_path)?;
        let slot = find_slot(&ctx, uri)?;
        let session = ctx
            .open_rw_session(slot)
            .map_err(|e| token_error(uri, &e))?;
        login(&session, uri)?;
        if !find(&session, &private_template(uri), uri)?.is_empty() {
            return Err(key_error(uri, "the token already holds a private key with this label; choose another object= or delete it"));
        }
        let id = match &uri.id {
            Some(id) => id.clone(),
            None => rand::random::<[u8; 16]>().to_vec(),
        };
        let label = uri.object.as_bytes().to_vec();
        let mut public = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Label(label.clone()),
            Attribute::Id(id.clone()),
        ];
        let private = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            // A CA key signs and does nothing else.
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(label),
            Attribute::Id(id),
        ];
        let mechanism = match key_type {
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                let curve = if key_type == KeyType::EcdsaP256 {
                    P256
                } else {
                    P384
                };
                let params = curve
                    .to_der()
                    .map_err(|e| key_error(uri, &format!("curve parameters: {e}")))?;
                public.push(Attribute::EcParams(params));
                Mechanism::EccKeyPairGen
            }
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                let bits: u64 = match key_type {
                    KeyType::Rsa2048 => 2048,
                    KeyType::Rsa3072 => 3072,
                    _ => 4096,
                };
                public.push(Attribute::ModulusBits(bits.into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
            KeyType::Ed25519 => return Err(Pkcs11Error::Unsupported(
                "ed25519 CA keys in a token are not supported: use ecdsa-p256, ecdsa-p384 or rsa-*"
                    .into(),
            )),
        };
        let (public_handle, _) = session
            .generate_key_pair(&mechanism, &public, &private)
            .map_err(|e| key_error(uri, &format!("generating the key pair: {}", describe(&e))))?;
        let (key_type, public_key) = read_public_key(&session, public_handle, uri)?;
        tracing::info!(uri = %uri, key_type = %key_type, "generated a CA key inside the token");
        Ok(Self::new(uri.clone(), key_type, public_key, ctx))
    }

    /// Open an existing key: the private key labelled `object=` (and `id=`, if given) and its
    /// public half (same id). Logs in with the PIN from the URI's pin-source.
    pub fn open(uri: &KeyUri) -> Result<Self, Pkcs11Error> {
        let ctx = context(&uri.module_path)?;
        let slot = find_slot(&ctx, uri)?;
        let session = ctx
            .open_ro_session(slot)
            .map_err(|e| token_error(uri, &e))?;
        login(&session, uri)?;
        let private = one(&session, &private_template(uri), uri)?;
        let id = match session.get_attributes(private, &[AttributeType::Id]) {
            Ok(attrs) => attrs.into_iter().find_map(|a| match a {
                Attribute::Id(id) => Some(id),
                _ => None,
            }),
            Err(e) => return Err(key_error(uri, &describe(&e))),
        }
        .ok_or_else(|| key_error(uri, "the private key has no CKA_ID"))?;
        let public = one(
            &session,
            &[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(id)],
            uri,
        )?;
        let (key_type, public_key) = read_public_key(&session, public, uri)?;
        let key = Self::new(uri.clone(), key_type, public_key, ctx);
        // The session that found the key is the first of the pool.
        if let Some(first) = key.sessions.first() {
            if let Ok(mut slot) = first.lock() {
                *slot = Some(Live {
                    session,
                    key: private,
                });
            }
        }
        Ok(key)
    }

    fn new(uri: KeyUri, key_type: KeyType, public_key: Vec<u8>, ctx: Pkcs11) -> Self {
        Self {
            uri,
            key_type,
            public_key,
            ctx,
            sessions: (0..SESSIONS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub fn uri(&self) -> &KeyUri {
        &self.uri
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// How the token guards the private key, as the token itself reports it.
    pub fn protection(&self) -> Result<KeyProtection, Pkcs11Error> {
        let live = self.connect()?;
        let attrs = live
            .session
            .get_attributes(
                live.key,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                ],
            )
            .map_err(|e| key_error(&self.uri, &describe(&e)))?;
        let mut p = KeyProtection::default();
        for a in attrs {
            match a {
                Attribute::Sensitive(v) => p.sensitive = v,
                Attribute::Extractable(v) => p.extractable = v,
                Attribute::NeverExtractable(v) => p.never_extractable = v,
                _ => {}
            }
        }
        // Asking for the secret itself: a sensitive key's value is not returned.
        let value_type = if self.key_type.is_rsa() {
            AttributeType::PrivateExponent
        } else {
            AttributeType::Value
        };
        p.value_readable = matches!(
            live.session.get_attributes(live.key, &[value_type]),
            Ok(v) if !v.is_empty()
        );
        Ok(p)
    }

    /// A fresh logged-in session with the private key found in it.
    fn connect(&self) -> Result<Live, Pkcs11Error> {
        let slot = find_slot(&self.ctx, &self.uri)?;
        let session = self
            .ctx
            .open_ro_session(slot)
            .map_err(|e| token_error(&self.uri, &e))?;
        login(&session, &self.uri)?;
        let key = one(&session, &private_template(&self.uri), &self.uri)?;
        Ok(Live { session, key })
    }

    /// The token's signature over `msg` in the form X.509 wants (DER for ECDSA).
    pub fn sign_message(&self, msg: &[u8]) -> Result<Vec<u8>, Pkcs11Error> {
        let (mechanism, input): (Mechanism, Vec<u8>) = match self.key_type {
            KeyType::EcdsaP256 => (Mechanism::Ecdsa, sha2::Sha256::digest(msg).to_vec()),
            KeyType::EcdsaP384 => (Mechanism::Ecdsa, sha2::Sha384::digest(msg).to_vec()),
            // SoftHSM and real HSMs hash and pad for RSA; ECDSA is hashed here because SoftHSM
            // has no CKM_ECDSA_SHA256.
            _ => (Mechanism::Sha256RsaPkcs, msg.to_vec()),
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.sessions.len();
        // A free session if there is one, else wait for ours.
        let mut guard = (0..n)
            .find_map(|i| self.sessions[(start + i) % n].try_lock().ok())
            .map(Ok)
            .unwrap_or_else(|| self.sessions[start % n].lock())
            .map_err(|_| key_error(&self.uri, "session lock poisoned"))?;
        // Once with the session we have, then with a fresh one (the session may have closed
        // under us), then after the module looked for its tokens again (the token may have been
        // removed and put back).
        let mut last = None;
        for _ in 0..3 {
            if guard.is_none() {
                match self.connect() {
                    Ok(live) => *guard = Some(live),
                    Err(e) => {
                        if matches!(e, Pkcs11Error::Token { .. }) {
                            crate::module::rescan(&self.uri.module_path);
                        }
                        last = Some(e);
                        continue;
                    }
                }
            }
            let Some(live) = guard.as_ref() else { continue };
            match live.session.sign(&mechanism, live.key, &input) {
                Ok(sig) => return self.encode_signature(sig),
                Err(e) => {
                    last = Some(key_error(&self.uri, &format!("signing: {}", describe(&e))));
                    *guard = None;
                }
            }
        }
        Err(last.unwrap_or_else(|| key_error(&self.uri, "signing failed")))
    }

    fn encode_signature(&self, raw: Vec<u8>) -> Result<Vec<u8>, Pkcs11Error> {
        if self.key_type.is_rsa() {
            return Ok(raw);
        }
        let half = raw.len() / 2;
        let (r, s) = raw.split_at(half);
        let bad = |e: der::Error| key_error(&self.uri, &format!("ECDSA signature: {e}"));
        EcdsaSignature {
            r: UintRef::new(r).map_err(bad)?,
            s: UintRef::new(s).map_err(bad)?,
        }
        .to_der()
        .map_err(bad)
    }
}

impl PublicKeyData for Pkcs11Key {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.key_type.signature_algorithm()
    }
}

impl vcc_pki_core::CaSigner for Pkcs11Key {
    fn signs_in_process(&self) -> bool {
        false
    }
}

impl SigningKey for Pkcs11Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_message(msg).map_err(|e| {
            tracing::warn!(error = %e, "the token did not sign");
            rcgen::Error::RemoteKeyError
        })
    }
}

fn private_template(uri: &KeyUri) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Label(uri.object.as_bytes().to_vec()),
    ];
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

fn find_slot(ctx: &Pkcs11, uri: &KeyUri) -> Result<Slot, Pkcs11Error> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| token_error(uri, &e))?;
    for slot in slots {
        if let Ok(info) = ctx.get_token_info(slot) {
            if info.label().trim_end() == uri.token {
                return Ok(slot);
            }
        }
    }
    Err(Pkcs11Error::Token {
        token: uri.token.clone(),
        reason: format!("no token with this label in {}", uri.module_path.display()),
    })
}

fn login(session: &Session, uri: &KeyUri) -> Result<(), Pkcs11Error> {
    let pin = uri.read_pin()?;
    match session.login(UserType::User, Some(&AuthPin::from(pin.as_str()))) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(Error::Pkcs11(RvError::PinIncorrect, _)) => Err(Pkcs11Error::Pin(format!(
            "the token '{}' refused the PIN",
            uri.token
        ))),
        Err(Error::Pkcs11(RvError::PinLocked, _)) => Err(Pkcs11Error::Pin(format!(
            "the PIN of token '{}' is locked",
            uri.token
        ))),
        Err(e) => Err(token_error(uri, &e)),
    }
}

fn find(
    session: &Session,
    template: &[Attribute],
    uri: &KeyUri,
) -> Result<Vec<ObjectHandle>, Pkcs11Error> {
    session
        .find_objects(template)
        .map_err(|e| key_error(uri, &describe(&e)))
}

fn one(
    session: &Session,
    template: &[Attribute],
    uri: &KeyUri,
) -> Result<ObjectHandle, Pkcs11Error> {
    let found = find(session, template, uri)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(key_error(uri, "not found in the token")),
        _ => Err(key_error(
            uri,
            "more than one key matches: add id= to the URI",
        )),
    }
}

/// The key type and rcgen's public key bytes of a public key object.
fn read_public_key(
    session: &Session,
    handle: ObjectHandle,
    uri: &KeyUri,
) -> Result<(KeyType, Vec<u8>), Pkcs11Error> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(|e| key_error(uri, &describe(&e)))?;
    let (mut kind, mut params, mut point, mut modulus, mut exponent) =
        (None, None, None, None, None);
    for a in attrs {
        match a {
            Attribute::KeyType(k) => kind = Some(k),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            Attribute::Modulus(m) => modulus = Some(m),
            Attribute::PublicExponent(e) => exponent = Some(e),
            _ => {}
        }
    }
    match kind {
        Some(k) if k == CkKeyType::EC => {
            let params = params.ok_or_else(|| key_error(uri, "EC key without parameters"))?;
            let oid = ObjectIdentifier::from_der(&params)
                .map_err(|_| key_error(uri, "EC parameters are not a named curve"))?;
            let (key_type, coordinate) = match oid {
                o if o == P256 => (KeyType::EcdsaP256, 32),
                o if o == P384 => (KeyType::EcdsaP384, 48),
                o => return Err(key_error(uri, &format!("unsupported curve {o}"))),
            };
            let point = point.ok_or_else(|| key_error(uri, "EC key without a point"))?;
            // PKCS#11 says DER OCTET STRING; some modules return the bare point.
            let raw = if point.len() == 2 * coordinate + 1 {
                point
            } else {
                OctetString::from_der(&point)
                    .map_err(|_| key_error(uri, "EC point is not an OCTET STRING"))?
                    .into_bytes()
            };
            if raw.len() != 2 * coordinate + 1 || raw[0] != 0x04 {
                return Err(key_error(uri, "EC point is not an uncompressed point"));
            }
            Ok((key_type, raw))
        }
        Some(k) if k == CkKeyType::RSA => {
            let modulus = modulus.ok_or_else(|| key_error(uri, "RSA key without a modulus"))?;
            let exponent = exponent.ok_or_else(|| key_error(uri, "RSA key without an exponent"))?;
            let bad = |e: der::Error| key_error(uri, &format!("RSA public key: {e}"));
            let m = UintRef::new(&modulus).map_err(bad)?;
            let key_type = match m.as_bytes().len() * 8 {
                2048 => KeyType::Rsa2048,
                3072 => KeyType::Rsa3072,
                4096 => KeyType::Rsa4096,
                bits => return Err(key_error(uri, &format!("unsupported RSA size {bits}"))),
            };
            let der = RsaPublicKey {
                modulus: m,
                public_exponent: UintRef::new(&exponent).map_err(bad)?,
            }
            .to_der()
            .map_err(bad)?;
            Ok((key_type, der))
        }
        _ => Err(key_error(uri, "neither an EC nor an RSA key")),
    }
}

fn token_error(uri: &KeyUri, e: &Error) -> Pkcs11Error {
    Pkcs11Error::Token {
        token: uri.token.clone(),
        reason: describe(e),
    }
}

fn key_error(uri: &KeyUri, reason: &str) -> Pkcs11Error {
    Pkcs11Error::Key {
        object: uri.object.clone(),
        reason: reason.to_string(),
    }
}

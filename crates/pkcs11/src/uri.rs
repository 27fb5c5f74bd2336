//! RFC 7512 PKCS#11 URIs, as far as a CA key needs them.
use crate::Pkcs11Error;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Where the user PIN comes from. Never the URI itself: the URI is stored in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// `pin-source=file:/run/pin` (or a bare absolute path): the file's first line.
    File(PathBuf),
    /// `pin-source=env:VCC_HSM_PIN`: an environment variable of the server process.
    Env(String),
}

/// A parsed `pkcs11:` URI naming one key in one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUri {
    /// The token label (`token=`).
    pub token: String,
    /// The key label (`object=`), given to both halves of the key pair.
    pub object: String,
    /// `id=` (percent-encoded bytes), when the operator names the key by id as well.
    pub id: Option<Vec<u8>>,
    /// `module-path=`: the PKCS#11 library to load.
    pub module_path: PathBuf,
    pub pin: PinSource,
    /// The URI as written, kept in the store.
    text: String,
}

impl KeyUri {
    pub fn parse(text: &str) -> Result<Self, Pkcs11Error> {
        let bad = |m: &str| Pkcs11Error::Uri(m.to_string());
        let rest = text
            .trim()
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("must start with 'pkcs11:'"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut token, mut object, mut id) = (None, None, None);
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| bad(&format!("'{attr}' is not name=value")))?;
            let v = percent_decode(v)?;
            match k {
                "token" => token = Some(utf8(v, "token")?),
                "object" => object = Some(utf8(v, "object")?),
                "id" => id = Some(v),
                "type" => {
                    if !matches!(v.as_slice(), b"private" | b"public") {
                        return Err(bad("type must be 'private' (the CA key)"));
                    }
                }
                "pin-value" => {
                    return Err(bad(
                        "a PIN in the URI would be stored with it: use pin-source=file:… or env:…",
                    ))
                }
                // Accepted and not needed to find a key by token and label.
                "manufacturer"
                | "model"
                | "serial"
                | "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer"
                | "slot-id" => {}
                other => return Err(bad(&format!("unknown path attribute '{other}'"))),
            }
        }
        let (mut module_path, mut pin) = (None, None);
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| bad(&format!("'{attr}' is not name=value")))?;
            let v = utf8(percent_decode(v)?, k)?;
            match k {
                "module-path" => module_path = Some(PathBuf::from(v)),
                "pin-source" => pin = Some(pin_source(&v)?),
                "pin-value" => {
                    return Err(bad(
                        "a PIN in the URI would be stored with it: use pin-source=file:… or env:…",
                    ))
                }
                "module-name" => {}
                other => return Err(bad(&format!("unknown query attribute '{other}'"))),
            }
        }
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("token= is required"))?;
        let object = object
            .filter(|o| !o.is_empty())
            .ok_or_else(|| bad("object= (the key's label) is required"))?;
        let module_path = module_path
            .or_else(|| std::env::var_os("VCC_PKCS11_MODULE").map(PathBuf::from))
            .ok_or_else(|| bad("module-path= is required (or set VCC_PKCS11_MODULE)"))?;
        let pin = pin.ok_or_else(|| bad("pin-source= is required (file:/path or env:NAME)"))?;
        Ok(Self {
            token,
            object,
            id,
            module_path,
            pin,
            text: text.trim().to_string(),
        })
    }

    /// The URI as the operator wrote it (it holds no secret: pin-value is refused).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Read the user PIN from its source.
    pub fn read_pin(&self) -> Result<Zeroizing<String>, Pkcs11Error> {
        let pin = match &self.pin {
            PinSource::File(path) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    Pkcs11Error::Pin(format!("cannot read {}: {e}", path.display()))
                })?);
                Zeroizing::new(text.lines().next().unwrap_or_default().to_string())
            }
            PinSource::Env(name) => Zeroizing::new(std::env::var(name).map_err(|_| {
                Pkcs11Error::Pin(format!("environment variable {name} is not set"))
            })?),
        };
        if pin.is_empty() {
            return Err(Pkcs11Error::Pin("the PIN source is empty".into()));
        }
        Ok(pin)
    }
}

impl std::fmt::Display for KeyUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn pin_source(v: &str) -> Result<PinSource, Pkcs11Error> {
    if let Some(name) = v.strip_prefix("env:") {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Pkcs11Error::Uri(format!(
                "pin-source env:{name}: not a variable name"
            )));
        }
        return Ok(PinSource::Env(name.to_string()));
    }
    let path = v
        .strip_prefix("file://")
        .or_else(|| v.strip_prefix("file:"))
        .unwrap_or(v);
    if !path.starts_with('/') {
        return Err(Pkcs11Error::Uri(
            "pin-source must be file:/absolute/path or env:NAME".into(),
        ));
    }
    Ok(PinSource::File(PathBuf::from(path)))
}

fn utf8(v: Vec<u8>, what: &str) -> Result<String, Pkcs11Error> {
    String::from_utf8(v).map_err(|_| Pkcs11Error::Uri(format!("{what}: not UTF-8")))
}

fn percent_decode(s: &str) -> Result<Vec<u8>, Pkcs11Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Pkcs11Error::Uri(format!("bad percent-encoding in '{s}'")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        let u = KeyUri::parse("pkcs11:token=vcc-ca;object=intermediate?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin").unwrap();
        assert_eq!(u.token, "vcc-ca");
        assert_eq!(u.object, "intermediate");
        assert_eq!(
            u.module_path,
            PathBuf::from("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(u.pin, PinSource::File("/run/pin".into()));
        assert_eq!(u.id, None);
    }

    #[test]
    fn percent_decoding_and_env_pin() {
        let u = KeyUri::parse(
            "pkcs11:token=my%20ca;object=k1;id=%01%02?module-path=/m.so&pin-source=env:HSM_PIN",
        )
        .unwrap();
        assert_eq!(u.token, "my ca");
        assert_eq!(u.id, Some(vec![1, 2]));
        assert_eq!(u.pin, PinSource::Env("HSM_PIN".into()));
    }

    #[test]
    fn refuses_a_pin_in_the_uri_and_missing_parts() {
        for bad in [
            "pkcs11:token=t;object=o?module-path=/m.so&pin-value=1234",
            "pkcs11:token=t;object=o;pin-value=1234?module-path=/m.so",
            "pkcs11:object=o?module-path=/m.so&pin-source=env:P",
            "pkcs11:token=t?module-path=/m.so&pin-source=env:P",
            "pkcs11:token=t;object=o?module-path=/m.so",
            "pkcs11:token=t;object=o?module-path=/m.so&pin-source=relative/pin",
            "pkcs11:token=t;object=o;bogus=1?module-path=/m.so&pin-source=env:P",
            "file:/etc/passwd",
            "pkcs11:token=%zz;object=o?module-path=/m.so&pin-source=env:P",
        ] {
            assert!(KeyUri::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn reads_the_first_line_of_a_pin_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "123456\n").unwrap();
        let u = KeyUri::parse(&format!(
            "pkcs11:token=t;object=o?module-path=/m.so&pin-source=file:{}",
            path.display()
        ))
        .unwrap();
        assert_eq!(u.read_pin().unwrap().as_str(), "123456");
        std::fs::write(&path, "").unwrap();
        assert!(u.read_pin().is_err());
    }
}

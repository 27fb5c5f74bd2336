use rand::RngCore;
use std::fmt;

/// A certificate serial number. New ones are 16 bytes: `0x40`, the issuing second (32 bits, big
/// endian), then 88 bits from the OS CSPRNG — positive, without a leading zero byte, unpredictable
/// (CA/B Forum asks for ≥ 64 random bits; RFC 5280 allows up to 20 octets). The time prefix makes
/// serials of one second neighbours in the database's serial index, so an issuance appends near
/// the index's end instead of dirtying a random page of it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    pub fn random() -> Self {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        let mut bytes = [0u8; 16];
        bytes[0] = 0x40;
        bytes[1..5].copy_from_slice(&seconds.to_be_bytes());
        rand::rng().fill_bytes(&mut bytes[5..]);
        Serial(bytes.to_vec())
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        Serial(if trimmed.is_empty() { vec![0] } else { trimmed })
    }

    /// Parse lower- or upper-case hex, with or without colons.
    pub fn from_hex(s: &str) -> Option<Self> {
        let clean: String = s.chars().filter(|c| *c != ':').collect();
        if clean.is_empty() || clean.len() > 40 {
            return None;
        }
        let padded = if clean.len() % 2 == 1 {
            format!("0{clean}")
        } else {
            clean
        };
        hex::decode(padded).ok().map(|b| Serial::from_bytes(&b))
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lower-case hex without colons: the form used on the wire and in the database.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

/// Hex text, as the wire and the database carry serials.
impl TryFrom<String> for Serial {
    type Error = crate::CoreError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Serial::from_hex(&s).ok_or(crate::CoreError::InvalidSerial(s))
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_minimal_and_distinct() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let s = Serial::random();
            assert!(s.as_bytes()[0] & 0x80 == 0 && s.as_bytes()[0] != 0);
            assert!(s.as_bytes().len() == 16);
            assert!(seen.insert(s.to_hex()));
        }
        // The issuing second follows the marker byte; 88 random bits follow it.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let s = Serial::random();
        let second = u32::from_be_bytes(s.as_bytes()[1..5].try_into().unwrap()) as i64;
        assert!((second - now).abs() <= 2, "{second} vs {now}");
        let tails: std::collections::HashSet<Vec<u8>> = (0..100)
            .map(|_| Serial::random().as_bytes()[5..].to_vec())
            .collect();
        assert_eq!(tails.len(), 100);
    }

    #[test]
    fn hex_round_trip_accepts_colons() {
        let s = Serial::from_hex("0A:bc:01").unwrap();
        assert_eq!(s.to_hex(), "0abc01");
        assert!(Serial::from_hex("zz").is_none());
        assert!(Serial::from_hex("").is_none());
    }
}

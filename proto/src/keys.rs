//! Keys and the identities derived from them.
//!
//! - A **node key** (ed25519) signs every event the node writes; its public half is the
//!   [`NodeId`], which the roster admits and TLS presents.
//! - The **admin key** (ed25519) signs the roster.
//! - A **unit key** (X25519) opens bodies sealed to a unit; every node of the unit holds it.
//!
//! Secret keys have a one-line text form for key files (`reservnod-<kind>-key-v1:…`); the
//! daemon writes those files with owner-only permissions. Randomness is a parameter: this
//! crate never reaches for the OS itself.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::hsa::HsaId;

/// Why a key or a key file could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum KeyError {
    /// The text is not a key file of the expected kind.
    #[error("not a {expected} key file (expected a line starting with `{prefix}`)")]
    WrongKind {
        /// What was expected, in words.
        expected: &'static str,
        /// The prefix that was looked for.
        prefix: &'static str,
    },
    /// The key material is not the right number of hex digits.
    #[error("key material must be 64 hex digits")]
    BadKeyMaterial,
    /// The unit named in a unit key file is not a valid HSA-id.
    #[error("unit key file names an invalid unit id: {0}")]
    BadUnit(String),
    /// 32 bytes that are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key")]
    InvalidPublicKey,
    /// A node id in text form could not be read.
    #[error("node id: {0}")]
    NodeIdText(String),
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// Characters of a node id in its grouped text form, check characters included.
const NODE_ID_TEXT_CHARS: usize = 56;

/// A node's identity: its ed25519 public key.
///
/// Shown as 56 base32 characters in eight groups of seven (`ABCDEFG-HIJKLMN-…`): the 52
/// characters of the key in four runs of 13, each followed by a Luhn mod 32 check character,
/// so a digit misheard over the phone is caught (Syncthing's device-ID scheme).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The ed25519 verifying key, if these bytes are a valid point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::InvalidPublicKey)
    }

    /// The first group (seven characters) of the text form: enough to tell nodes apart in a log.
    pub fn short(&self) -> String {
        self.to_string().chars().take(7).collect()
    }
}

fn base32_nopad(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

fn luhn32_check(chunk: &[u8]) -> Option<u8> {
    let mut factor = 1u32;
    let mut sum = 0u32;
    for &c in chunk {
        let code = BASE32_ALPHABET.iter().position(|&a| a == c)? as u32;
        let addend = factor * code;
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / 32 + addend % 32;
    }
    let check = (32 - sum % 32) % 32;
    Some(BASE32_ALPHABET[check as usize])
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = base32_nopad(&self.0);
        debug_assert_eq!(plain.len(), 52);
        let mut with_checks = Vec::with_capacity(NODE_ID_TEXT_CHARS);
        for chunk in plain.as_bytes().chunks(13) {
            with_checks.extend_from_slice(chunk);
            with_checks.push(luhn32_check(chunk).expect("base32 output uses the alphabet"));
        }
        for (i, group) in with_checks.chunks(7).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(group).expect("base32 is ASCII"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = KeyError;

    /// Reads the grouped form; dashes and spaces are optional, case does not matter, and the
    /// digits people confuse with letters (0, 1, 8) are read as O, I, B.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = Vec::with_capacity(NODE_ID_TEXT_CHARS);
        for c in s.trim().chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                '0' => 'O',
                '1' => 'I',
                '8' => 'B',
                c => c,
            };
            if !c.is_ascii() || !BASE32_ALPHABET.contains(&(c as u8)) {
                return Err(KeyError::NodeIdText(format!(
                    "character '{c}' is not base32"
                )));
            }
            chars.push(c as u8);
            if chars.len() > NODE_ID_TEXT_CHARS {
                break;
            }
        }
        if chars.len() != NODE_ID_TEXT_CHARS {
            return Err(KeyError::NodeIdText(format!(
                "expected {NODE_ID_TEXT_CHARS} characters (8 groups of 7), got {}",
                chars.len()
            )));
        }
        let mut plain = Vec::with_capacity(52);
        for (group, chunk) in chars.chunks(14).enumerate() {
            let (body, check) = chunk.split_at(13);
            if luhn32_check(body) != Some(check[0]) {
                return Err(KeyError::NodeIdText(format!(
                    "check character of part {} of 4 is wrong: a character was misread",
                    group + 1
                )));
            }
            plain.extend_from_slice(body);
        }
        let bytes = data_encoding::BASE32_NOPAD
            .decode(&plain)
            .map_err(|e| KeyError::NodeIdText(e.to_string()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::NodeIdText("wrong key length".into()))?;
        Ok(NodeId(bytes))
    }
}

fn parse_hex32(hex: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let decoded = Zeroizing::new(
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.trim().as_bytes())
            .map_err(|_| KeyError::BadKeyMaterial)?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if decoded.len() != 32 {
        return Err(KeyError::BadKeyMaterial);
    }
    out.copy_from_slice(&decoded);
    Ok(out)
}

/// The first line of `text` that is not blank or a `#` comment.
fn key_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("")
}

const NODE_KEY_PREFIX: &str = "reservnod-node-key-v1:";
const ADMIN_KEY_PREFIX: &str = "reservnod-admin-key-v1:";
const UNIT_KEY_PREFIX: &str = "reservnod-unit-key-v1:";

/// A node's secret signing key.
pub struct NodeKey(SigningKey);

impl NodeKey {
    /// A new random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        NodeKey(SigningKey::generate(rng))
    }
    /// The key for a 32-byte secret seed (tests and golden vectors).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        NodeKey(SigningKey::from_bytes(seed))
    }
    /// This node's id.
    pub fn id(&self) -> NodeId {
        NodeId(self.0.verifying_key().to_bytes())
    }
    /// Signs `message` (ed25519, deterministic).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
    /// The secret seed, for TLS certificate generation in the daemon.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }
    /// The key file text.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# reservnod node key: secret, keep it on this node only\n# node id {}\n{NODE_KEY_PREFIX}{}\n",
            self.id(),
            data_encoding::HEXLOWER.encode(self.0.as_bytes())
        ))
    }
    /// Reads a key file's text.
    pub fn from_file_text(text: &str) -> Result<Self, KeyError> {
        let line = key_line(text);
        let hex = line
            .strip_prefix(NODE_KEY_PREFIX)
            .ok_or(KeyError::WrongKind {
                expected: "node",
                prefix: NODE_KEY_PREFIX,
            })?;
        Ok(NodeKey::from_seed(&*parse_hex32(hex)?))
    }
}

/// The public half of the admin key: the roster's trust anchor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AdminPublicKey(pub [u8; 32]);

impl AdminPublicKey {
    /// The ed25519 verifying key, if these bytes are a valid point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::InvalidPublicKey)
    }
}

impl fmt::Display for AdminPublicKey {
    /// Same read-aloud form as a node id, so IT can compare it over the phone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        NodeId(self.0).fmt(f)
    }
}

impl fmt::Debug for AdminPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminPublicKey({self})")
    }
}

/// The regional admin's secret key, which signs the roster.
pub struct AdminKey(SigningKey);

impl AdminKey {
    /// A new random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        AdminKey(SigningKey::generate(rng))
    }
    /// The key for a 32-byte secret seed (tests and golden vectors).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        AdminKey(SigningKey::from_bytes(seed))
    }
    /// The public half.
    pub fn public(&self) -> AdminPublicKey {
        AdminPublicKey(self.0.verifying_key().to_bytes())
    }
    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
    /// The key file text.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# reservnod admin key: secret, signs the region's roster; keep it offline\n# admin public key {}\n{ADMIN_KEY_PREFIX}{}\n",
            self.public(),
            data_encoding::HEXLOWER.encode(self.0.as_bytes())
        ))
    }
    /// Reads a key file's text.
    pub fn from_file_text(text: &str) -> Result<Self, KeyError> {
        let line = key_line(text);
        let hex = line
            .strip_prefix(ADMIN_KEY_PREFIX)
            .ok_or(KeyError::WrongKind {
                expected: "admin",
                prefix: ADMIN_KEY_PREFIX,
            })?;
        Ok(AdminKey::from_seed(&*parse_hex32(hex)?))
    }
}

/// A unit's X25519 public key: bodies are sealed to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitPublicKey(pub [u8; 32]);

impl fmt::Debug for UnitPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UnitPublicKey({})",
            data_encoding::HEXLOWER.encode(&self.0)
        )
    }
}

/// A unit's X25519 secret key, held by every node of the unit, with the unit it belongs to.
pub struct UnitSecretKey {
    unit: HsaId,
    secret: x25519_dalek::StaticSecret,
}

impl UnitSecretKey {
    /// A new random key for `unit`.
    pub fn generate(unit: HsaId, rng: &mut impl CryptoRngCore) -> Self {
        UnitSecretKey {
            unit,
            secret: x25519_dalek::StaticSecret::random_from_rng(rng),
        }
    }
    /// The key for `unit` from a 32-byte secret (tests and golden vectors).
    pub fn from_bytes(unit: HsaId, bytes: [u8; 32]) -> Self {
        UnitSecretKey {
            unit,
            secret: x25519_dalek::StaticSecret::from(bytes),
        }
    }
    /// The unit this key opens bodies for.
    pub fn unit(&self) -> &HsaId {
        &self.unit
    }
    /// The public half, which goes into the roster.
    pub fn public(&self) -> UnitPublicKey {
        UnitPublicKey(x25519_dalek::PublicKey::from(&self.secret).to_bytes())
    }
    pub(crate) fn diffie_hellman(&self, their: &[u8; 32]) -> x25519_dalek::SharedSecret {
        self.secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(*their))
    }
    /// The key file text that the admin hands to the unit's nodes.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "# reservnod unit key for {}: secret, opens the unit's sealed messages\n# give it only to this unit's nodes\n{UNIT_KEY_PREFIX}{}:{}\n",
            self.unit,
            self.unit,
            data_encoding::HEXLOWER.encode(self.secret.as_bytes())
        ))
    }
    /// Reads a unit key file's text.
    pub fn from_file_text(text: &str) -> Result<Self, KeyError> {
        let line = key_line(text);
        let rest = line
            .strip_prefix(UNIT_KEY_PREFIX)
            .ok_or(KeyError::WrongKind {
                expected: "unit",
                prefix: UNIT_KEY_PREFIX,
            })?;
        let (unit, hex) = rest.rsplit_once(':').ok_or(KeyError::BadKeyMaterial)?;
        let unit: HsaId = unit
            .parse()
            .map_err(|e| KeyError::BadUnit(format!("{e}")))?;
        Ok(UnitSecretKey::from_bytes(unit, *parse_hex32(hex)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_text_round_trips_and_catches_typos() {
        let id = NodeKey::from_seed(&[7u8; 32]).id();
        let text = id.to_string();
        assert_eq!(text.len(), 56 + 7);
        assert_eq!(text.split('-').count(), 8);
        assert_eq!(text.parse::<NodeId>(), Ok(id));
        assert_eq!(
            text.to_lowercase().replace('-', " ").parse::<NodeId>(),
            Ok(id)
        );
        // One character changed in the first group must be caught by its check character.
        let mut bad: Vec<char> = text.chars().collect();
        bad[0] = if bad[0] == 'A' { 'B' } else { 'A' };
        let bad: String = bad.into_iter().collect();
        let err = bad.parse::<NodeId>().expect_err("typo must be caught");
        assert!(err.to_string().contains("part 1"), "{err}");
        assert!("ABC".parse::<NodeId>().is_err());
        assert!("Ä".repeat(56).parse::<NodeId>().is_err());
    }

    #[test]
    fn key_files_round_trip_and_refuse_the_wrong_kind() {
        let mut rng = rand_core::OsRng;
        let node = NodeKey::generate(&mut rng);
        let back = NodeKey::from_file_text(&node.to_file_text()).expect("own text");
        assert_eq!(back.id(), node.id());
        let admin = AdminKey::generate(&mut rng);
        assert_eq!(
            AdminKey::from_file_text(&admin.to_file_text())
                .expect("own text")
                .public(),
            admin.public()
        );
        assert!(matches!(
            AdminKey::from_file_text(&node.to_file_text()),
            Err(KeyError::WrongKind { .. })
        ));
        let unit: HsaId = "SE2321000081-AVD1".parse().expect("valid");
        let key = UnitSecretKey::generate(unit.clone(), &mut rng);
        let back = UnitSecretKey::from_file_text(&key.to_file_text()).expect("own text");
        assert_eq!(back.unit(), &unit);
        assert_eq!(back.public(), key.public());
        assert_eq!(
            NodeKey::from_file_text("reservnod-node-key-v1:abcd").err(),
            Some(KeyError::BadKeyMaterial)
        );
    }
}

//! Sealing a body so that only the units involved can read it, bound to the event header it
//! was sealed for.
//!
//! The plaintext is encrypted once with a fresh random content key (ChaCha20-Poly1305).
//! The content key is then wrapped for each recipient unit's X25519 public key: a fresh
//! ephemeral X25519 key per event, a key-encryption key derived with BLAKE3 from the shared
//! secret and both public keys, and ChaCha20-Poly1305 again. Every node can carry a sealed
//! event; only holders of a recipient unit's key open it.
//!
//! Both the content and every wrapped key carry the [`Binding`] of the event header (a BLAKE3
//! hash of everything of the event but its body) as associated data, so a body lifted into
//! another header, even one that keeps the ephemeral key, the slots and the ciphertext, does
//! not open. A [`Binding`] is made only from a header ([`crate::event::Header`]), so a body
//! cannot be sealed before its header exists.
//!
//! Both AEAD nonces are zero: each key (content key, key-encryption key) is used exactly once.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::hsa::HsaId;
use crate::keys::{UnitPublicKey, UnitSecretKey};
use crate::limits::RECIPIENTS_MAX;

const KEK_CONTEXT: &str = "reservnod 2026-11 sealed body key wrap v2";
const BINDING_CONTEXT: &str = "reservnod 2026-11 sealed body header binding v2";
/// Bytes of a wrapped content key: 32 key bytes plus the 16-byte tag.
pub const WRAPPED_KEY_BYTES: usize = 48;

/// What a sealed body is bound to: the BLAKE3 hash (derive-key mode) of the canonical
/// encoding of its event's header. Only [`crate::event::Header::binding`] and
/// [`crate::event::Event::binding`] make one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Binding([u8; 32]);

impl Binding {
    /// The binding of these encoded header bytes.
    pub(crate) fn of_header_bytes(header: &[u8]) -> Binding {
        let mut hasher = blake3::Hasher::new_derive_key(BINDING_CONTEXT);
        hasher.update(header);
        Binding(*hasher.finalize().as_bytes())
    }

    /// The 32 bytes, as they enter the associated data.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn wrap_aad(&self, unit: &HsaId) -> Vec<u8> {
        let mut aad = Vec::with_capacity(32 + unit.as_str().len());
        aad.extend_from_slice(&self.0);
        aad.extend_from_slice(unit.as_str().as_bytes());
        aad
    }
}

/// Why a body could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum SealError {
    /// Sealing needs at least one unit.
    #[error("no recipient units")]
    NoRecipients,
    /// A unit was named twice.
    #[error("unit {0} is named twice")]
    DuplicateRecipient(HsaId),
    /// More units than an event may carry.
    #[error("{0} recipient units is more than the limit of {RECIPIENTS_MAX}")]
    TooManyRecipients(usize),
    /// A unit to seal to has no known public key.
    #[error("no encryption key is known for unit {0}")]
    UnknownUnit(HsaId),
    /// The header the body is bound to cannot be encoded.
    #[error("the event header cannot be encoded: {0}")]
    Header(String),
    /// This unit has no wrapped key in the body.
    #[error("the body is not sealed to unit {0}")]
    NotARecipient(HsaId),
    /// A public key that yields no shared secret (a low-order point).
    #[error("a unit public key is weak (low order)")]
    WeakKey,
    /// Authentication failed: wrong key, a body sealed for another header, or tampering.
    #[error(
        "the sealed body does not open with this unit's key (wrong key, sealed for another header, or tampered)"
    )]
    Decrypt,
}

/// One recipient unit's copy of the content key.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The unit whose key wraps this copy.
    pub unit: HsaId,
    /// The wrapped content key ([`WRAPPED_KEY_BYTES`] bytes).
    #[serde(with = "serde_bytes")]
    pub wrapped: Vec<u8>,
}

/// A sealed body.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Sealed {
    /// The ephemeral X25519 public key of this body.
    pub ephemeral: [u8; 32],
    /// The content key, wrapped once per unit.
    pub keys: Vec<WrappedKey>,
    /// The encrypted plaintext with its tag.
    #[serde(with = "serde_bytes")]
    pub ciphertext: Vec<u8>,
}

fn key_encryption_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    unit_public: &[u8; 32],
    unit: &HsaId,
) -> Zeroizing<[u8; 32]> {
    let mut hasher = blake3::Hasher::new_derive_key(KEK_CONTEXT);
    hasher.update(shared);
    hasher.update(ephemeral);
    hasher.update(unit_public);
    hasher.update(unit.as_str().as_bytes());
    Zeroizing::new(*hasher.finalize().as_bytes())
}

fn zero_nonce() -> Nonce {
    Nonce::default()
}

/// Seals `plaintext` to every unit in `recipients`, bound to `binding`. Units must be
/// distinct. Callers seal through [`crate::event::Header::seal`], which takes the units and
/// the binding from the header.
pub(crate) fn seal(
    rng: &mut impl CryptoRngCore,
    plaintext: &[u8],
    recipients: &[(&HsaId, &UnitPublicKey)],
    binding: &Binding,
) -> Result<Sealed, SealError> {
    if recipients.is_empty() {
        return Err(SealError::NoRecipients);
    }
    if recipients.len() > RECIPIENTS_MAX {
        return Err(SealError::TooManyRecipients(recipients.len()));
    }
    for (i, (unit, _)) in recipients.iter().enumerate() {
        if recipients[..i].iter().any(|(u, _)| u == unit) {
            return Err(SealError::DuplicateRecipient((*unit).clone()));
        }
    }
    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(content_key.as_mut());
    let ciphertext = ChaCha20Poly1305::new(Key::from_slice(content_key.as_ref()))
        .encrypt(
            &zero_nonce(),
            Payload {
                msg: plaintext,
                aad: binding.as_bytes(),
            },
        )
        .map_err(|_| SealError::Decrypt)?;

    let ephemeral_secret = x25519_dalek::StaticSecret::random_from_rng(&mut *rng);
    let ephemeral = x25519_dalek::PublicKey::from(&ephemeral_secret).to_bytes();
    let mut keys = Vec::with_capacity(recipients.len());
    for (unit, public) in recipients {
        let shared = ephemeral_secret.diffie_hellman(&x25519_dalek::PublicKey::from(public.0));
        if !shared.was_contributory() {
            return Err(SealError::WeakKey);
        }
        let kek = key_encryption_key(shared.as_bytes(), &ephemeral, &public.0, unit);
        let wrapped = ChaCha20Poly1305::new(Key::from_slice(kek.as_ref()))
            .encrypt(
                &zero_nonce(),
                Payload {
                    msg: content_key.as_ref(),
                    aad: &binding.wrap_aad(unit),
                },
            )
            .map_err(|_| SealError::Decrypt)?;
        debug_assert_eq!(wrapped.len(), WRAPPED_KEY_BYTES);
        keys.push(WrappedKey {
            unit: (*unit).clone(),
            wrapped,
        });
    }
    Ok(Sealed {
        ephemeral,
        keys,
        ciphertext,
    })
}

impl Sealed {
    /// The units this body is sealed to.
    pub fn units(&self) -> impl Iterator<Item = &HsaId> {
        self.keys.iter().map(|k| &k.unit)
    }

    /// Opens the body with a unit's secret key, for the header whose binding is given.
    pub fn open(
        &self,
        key: &UnitSecretKey,
        binding: &Binding,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let slot = self
            .keys
            .iter()
            .find(|k| &k.unit == key.unit())
            .ok_or_else(|| SealError::NotARecipient(key.unit().clone()))?;
        if slot.wrapped.len() != WRAPPED_KEY_BYTES {
            return Err(SealError::Decrypt);
        }
        let shared = key.diffie_hellman(&self.ephemeral);
        if !shared.was_contributory() {
            return Err(SealError::WeakKey);
        }
        let kek = key_encryption_key(
            shared.as_bytes(),
            &self.ephemeral,
            &key.public().0,
            key.unit(),
        );
        let content_key = Zeroizing::new(
            ChaCha20Poly1305::new(Key::from_slice(kek.as_ref()))
                .decrypt(
                    &zero_nonce(),
                    Payload {
                        msg: &slot.wrapped,
                        aad: &binding.wrap_aad(key.unit()),
                    },
                )
                .map_err(|_| SealError::Decrypt)?,
        );
        if content_key.len() != 32 {
            return Err(SealError::Decrypt);
        }
        let plaintext = ChaCha20Poly1305::new(Key::from_slice(&content_key))
            .decrypt(
                &zero_nonce(),
                Payload {
                    msg: &self.ciphertext,
                    aad: binding.as_bytes(),
                },
            )
            .map_err(|_| SealError::Decrypt)?;
        Ok(Zeroizing::new(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{OsRng, RngCore};

    fn unit(local: &str) -> HsaId {
        format!("SE2321000081-{local}")
            .parse()
            .expect("valid test HSA-id")
    }

    fn binding(header: &[u8]) -> Binding {
        Binding::of_header_bytes(header)
    }

    #[test]
    fn every_recipient_opens_and_no_one_else() {
        let mut rng = OsRng;
        let ward = UnitSecretKey::generate(unit("AVD1"), &mut rng);
        let kommun = UnitSecretKey::generate(unit("KOM1"), &mut rng);
        let vc = UnitSecretKey::generate(unit("VC1"), &mut rng);
        let outsider = UnitSecretKey::generate(unit("AVD2"), &mut rng);
        let text = b"Patient 19121212-1212 utskrivningsklar";
        let b = binding(b"header");
        let sealed = seal(
            &mut rng,
            text,
            &[
                (ward.unit(), &ward.public()),
                (kommun.unit(), &kommun.public()),
                (vc.unit(), &vc.public()),
            ],
            &b,
        )
        .expect("seal");
        for k in [&ward, &kommun, &vc] {
            assert_eq!(
                sealed.open(k, &b).expect("recipient opens").as_slice(),
                text
            );
        }
        assert_eq!(
            sealed.open(&outsider, &b),
            Err(SealError::NotARecipient(unit("AVD2")))
        );
        // An outsider who claims a recipient's slot with its own key still cannot open it.
        let impostor = UnitSecretKey::generate(unit("KOM1"), &mut rng);
        assert_eq!(sealed.open(&impostor, &b), Err(SealError::Decrypt));
        // The patient id is nowhere in the sealed bytes.
        let bytes = crate::codec::encode::<_, { usize::MAX }>(&sealed).expect("encode");
        assert!(!bytes.windows(8).any(|w| w == b"19121212"));
    }

    #[test]
    fn a_body_opens_only_for_the_header_it_was_sealed_for() {
        let mut rng = OsRng;
        let ward = UnitSecretKey::generate(unit("AVD1"), &mut rng);
        let kommun = UnitSecretKey::generate(unit("KOM1"), &mut rng);
        let lifter = UnitSecretKey::generate(unit("VC1"), &mut rng);
        let sealed = seal(
            &mut rng,
            b"inskrivningsmeddelande",
            &[
                (kommun.unit(), &kommun.public()),
                (ward.unit(), &ward.public()),
            ],
            &binding(b"the ward's header"),
        )
        .expect("seal");
        // The whole body under another header: every unit's slot refuses.
        for k in [&ward, &kommun] {
            assert_eq!(
                sealed.open(k, &binding(b"another header")),
                Err(SealError::Decrypt)
            );
        }
        // The lift of the incident: ephemeral key, the municipality's slot and the
        // ciphertext kept, the lifter's own slot of 48 random bytes added.
        let mut slot = vec![0u8; WRAPPED_KEY_BYTES];
        rng.fill_bytes(&mut slot);
        let lifted = Sealed {
            ephemeral: sealed.ephemeral,
            keys: vec![
                sealed.keys[0].clone(),
                WrappedKey {
                    unit: lifter.unit().clone(),
                    wrapped: slot,
                },
            ],
            ciphertext: sealed.ciphertext.clone(),
        };
        assert_eq!(
            lifted.open(&kommun, &binding(b"the lifter's header")),
            Err(SealError::Decrypt)
        );
    }

    #[test]
    fn tampering_is_detected() {
        let mut rng = OsRng;
        let ward = UnitSecretKey::generate(unit("AVD1"), &mut rng);
        let b = binding(b"h");
        let mut sealed =
            seal(&mut rng, b"hello", &[(ward.unit(), &ward.public())], &b).expect("seal");
        sealed.ciphertext[0] ^= 1;
        assert_eq!(sealed.open(&ward, &b), Err(SealError::Decrypt));
    }

    #[test]
    fn duplicate_and_missing_recipients_are_refused() {
        let mut rng = OsRng;
        let ward = UnitSecretKey::generate(unit("AVD1"), &mut rng);
        let b = binding(b"h");
        assert_eq!(seal(&mut rng, b"x", &[], &b), Err(SealError::NoRecipients));
        assert_eq!(
            seal(
                &mut rng,
                b"x",
                &[(ward.unit(), &ward.public()), (ward.unit(), &ward.public())],
                &b
            ),
            Err(SealError::DuplicateRecipient(unit("AVD1")))
        );
        assert_eq!(
            seal(
                &mut rng,
                b"x",
                &[(ward.unit(), &UnitPublicKey([0u8; 32]))],
                &b
            ),
            Err(SealError::WeakKey)
        );
    }
}

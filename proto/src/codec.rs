//! The one place that knows the byte encoding.
//!
//! Everything that is signed, hashed, stored or sent is encoded here with bincode 2 (pinned
//! `=2.0.1`: later releases are deliberately broken) in its standard configuration
//! (little-endian, variable-length integers). Decoding always runs under a hard byte limit
//! and rejects trailing bytes, so no hostile length or element count can make it allocate
//! beyond that limit. Replace bincode here, and only here, if it must ever go.

use bincode::config::{self, Configuration, Limit};
use serde::{de::DeserializeOwned, Serialize};

use crate::limits::FRAME_BYTES_MAX;

/// Why bytes could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum CodecError {
    /// The input (or the encoding) is larger than the limit for its kind.
    #[error("{len} bytes is more than the limit of {max}")]
    TooLarge {
        /// Bytes given or produced.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes do not decode as the expected type.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The value decoded but bytes were left over.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// The value could not be encoded (a bug in the caller's type).
    #[error("cannot encode: {0}")]
    Encode(String),
}

/// bincode's limit counts what a decode *claims* (the in-memory size of each value: 8 bytes
/// for every varint length or u64, however short its encoding), not the bytes read. A value
/// claims at most 8 times its encoded size, so with inputs checked against their own limit
/// first, this one bound lets every legal encoding decode and still caps what a hostile one
/// can make the decoder reserve.
const CLAIM_BYTES_MAX: usize = 8 * FRAME_BYTES_MAX;

fn limited() -> Configuration<config::LittleEndian, config::Varint, Limit<CLAIM_BYTES_MAX>> {
    config::standard().with_limit::<CLAIM_BYTES_MAX>()
}

/// Encodes `value`, failing if the encoding is larger than `MAX` bytes.
pub fn encode<T: Serialize, const MAX: usize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let bytes = bincode::serde::encode_to_vec(value, config::standard())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() > MAX {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: MAX,
        });
    }
    Ok(bytes)
}

/// Decodes exactly one `T` from all of `bytes`, never reading or allocating past `MAX`.
pub fn decode<T: DeserializeOwned, const MAX: usize>(bytes: &[u8]) -> Result<T, CodecError> {
    const { assert!(MAX <= FRAME_BYTES_MAX, "no input is larger than a frame") };
    if bytes.len() > MAX {
        return Err(CodecError::TooLarge {
            len: bytes.len(),
            max: MAX,
        });
    }
    let (value, read) = bincode::serde::decode_from_slice::<T, _>(bytes, limited())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes(bytes.len() - read));
    }
    Ok(value)
}

/// Decodes a `T` from the start of `bytes`, ignoring what follows: for reading a format
/// number before deciding how to read the rest.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let head = &bytes[..bytes.len().min(16)];
    bincode::serde::decode_from_slice::<T, _>(head, limited())
        .map(|(v, _)| v)
        .map_err(|e| CodecError::Malformed(e.to_string()))
}

/// Decodes a `T` from at most the first `max` bytes of `bytes`, ignoring what follows: for
/// reading a few cheap leading fields before deciding whether the rest is worth checking.
pub fn decode_head<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, CodecError> {
    let head = &bytes[..bytes.len().min(max)];
    bincode::serde::decode_from_slice::<T, _>(head, limited())
        .map(|(v, _)| v)
        .map_err(|e| CodecError::Malformed(e.to_string()))
}

/// Serde helpers for fixed-size byte arrays that serde does not derive (signatures).
pub(crate) mod bytes64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let v: serde_bytes::ByteBuf = Deserialize::deserialize(d)?;
        <[u8; 64]>::try_from(v.as_slice())
            .map_err(|_| serde::de::Error::invalid_length(v.len(), &"64 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode::<_, 64>(&(1u32, 2u8)).expect("small value");
        bytes.push(0);
        assert_eq!(
            decode::<(u32, u8), 64>(&bytes),
            Err(CodecError::TrailingBytes(1))
        );
    }

    #[test]
    fn hostile_length_does_not_allocate() {
        // A varint length of u64::MAX followed by nothing: must fail, not reserve terabytes.
        let bytes = [0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(decode::<Vec<u8>, 1024>(&bytes).is_err());
        assert!(decode::<String, 1024>(&bytes).is_err());
        assert!(decode::<Vec<Vec<u8>>, 1024>(&bytes).is_err());
    }

    #[test]
    fn over_limit_input_is_rejected_before_decoding() {
        let bytes = vec![0u8; 65];
        assert_eq!(
            decode::<Vec<u8>, 64>(&bytes),
            Err(CodecError::TooLarge { len: 65, max: 64 })
        );
        assert!(matches!(
            encode::<_, 4>(&vec![0u8; 10]),
            Err(CodecError::TooLarge { .. })
        ));
    }
}

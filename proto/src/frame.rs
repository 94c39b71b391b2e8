//! Wire frames between nodes.
//!
//! On a stream each frame is `length: u32 big-endian` then `length` bytes: one version byte
//! ([`FRAME_VERSION`]) and the encoded [`Frame`]. A length of zero or above
//! [`FRAME_BYTES_MAX`] is refused as soon as the four length bytes arrive, before anything
//! is buffered, and [`FrameDecoder`] never holds more than one frame's worth of bytes: a
//! hostile peer cannot make a node allocate beyond that bound.

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::event::{EventId, SignedEvent};
use crate::hlc::Hlc;
use crate::keys::NodeId;
use crate::limits::{
    FRAME_BYTES_MAX, FRAME_EVENTS_MAX, FRAME_HEADER_BYTES, GOODBYE_REASON_BYTES_MAX,
};
use crate::reconcile;
use crate::roster::SignedRoster;

/// The frame encoding version this code writes and reads.
pub const FRAME_VERSION: u8 = 1;
/// The protocol version a node announces in its hello. 2 added reconciliation (`Reconcile`,
/// `Want`, `Pending`); 3 roster format 2 (revocations with a cut-off, accepted only by a
/// carrier). A node of another version is refused with a goodbye that says so.
pub const PROTOCOL_VERSION: u16 = 3;
/// Most ids one `Want` may ask for.
pub const WANT_IDS_MAX: usize = 4096;
/// Most bytes the decoder ever buffers: one whole frame and its length prefix.
pub const DECODER_BUFFER_MAX: usize = FRAME_HEADER_BYTES + FRAME_BYTES_MAX;

/// The first frame each side sends on a connection.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol_version: u16,
    /// The sender's roster version, so the older side can ask for the newer roster.
    pub roster_version: u64,
    /// The sender's node id (must match its TLS key).
    pub node: NodeId,
    /// The sender's clock, to measure the offset between the two.
    pub hlc: Hlc,
}

/// Everything nodes say to each other.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Frame {
    /// Opens a connection.
    Hello(Hello),
    /// Events, pushed or sent on request; at most [`FRAME_EVENTS_MAX`].
    Events(Vec<SignedEvent>),
    /// A roster, sent to a peer whose hello showed an older version.
    Roster(SignedRoster),
    /// Keep-alive and round-trip measurement.
    Ping {
        /// Echoed in the pong.
        nonce: u64,
        /// The sender's clock.
        hlc: Hlc,
    },
    /// Answer to a ping.
    Pong {
        /// The ping's nonce.
        nonce: u64,
        /// The sender's clock.
        hlc: Hlc,
    },
    /// Closing with a reason for the peer's log.
    Goodbye {
        /// Why, at most [`GOODBYE_REASON_BYTES_MAX`] bytes.
        reason: String,
    },
    /// One round of a reconciliation session.
    Reconcile {
        /// Which set is being reconciled.
        scope: Scope,
        /// Which session of the dialler's (a new number starts a new session).
        session: u64,
        /// The round's message.
        message: reconcile::Message,
    },
    /// Asks the peer for these events.
    Want {
        /// Whether they belong to the urgent set (sent before the bulk).
        urgent: bool,
        /// The events, at most [`WANT_IDS_MAX`].
        ids: Vec<EventId>,
    },
    /// How many events the sender is about to send in reply to reconciliation, so the
    /// receiver can show how many are left to come.
    Pending {
        /// Events queued for the receiver.
        events: u64,
    },
}

/// Which set of events a reconciliation session covers. Urgent events are reconciled (and
/// sent) before the bulk after a partition.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Scope {
    /// Events with urgent priority.
    Urgent,
    /// Every event.
    All,
}

/// Why a frame could not be read or written. Any of these closes the connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum FrameError {
    /// The length prefix announces more than the limit.
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// Announced (or produced) length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A length prefix of zero.
    #[error("empty frame")]
    Empty,
    /// A version byte this node does not speak.
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    /// The payload does not decode.
    #[error("malformed frame: {0}")]
    Malformed(CodecError),
    /// Decodes but breaks a rule of its kind.
    #[error("invalid frame: {0}")]
    Invalid(&'static str),
}

impl Frame {
    /// The kind's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Events(_) => "events",
            Frame::Roster(_) => "roster",
            Frame::Ping { .. } => "ping",
            Frame::Pong { .. } => "pong",
            Frame::Goodbye { .. } => "goodbye",
            Frame::Reconcile { .. } => "reconcile",
            Frame::Want { .. } => "want",
            Frame::Pending { .. } => "pending",
        }
    }

    /// Checks the per-kind bounds that the encoding alone does not.
    pub fn check(&self) -> Result<(), FrameError> {
        match self {
            Frame::Events(events) if events.len() > FRAME_EVENTS_MAX => {
                Err(FrameError::Invalid("too many events in one frame"))
            }
            Frame::Goodbye { reason } if reason.len() > GOODBYE_REASON_BYTES_MAX => {
                Err(FrameError::Invalid("goodbye reason too long"))
            }
            Frame::Want { ids, .. } if ids.len() > WANT_IDS_MAX => {
                Err(FrameError::Invalid("too many ids in one want"))
            }
            Frame::Reconcile { message, .. } if message.ranges.len() > reconcile::RANGES_MAX => {
                Err(FrameError::Invalid("too many ranges"))
            }
            _ => Ok(()),
        }
    }

    /// The frame's bytes on the wire, length prefix included.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        self.check()?;
        let payload = codec::encode::<_, { FRAME_BYTES_MAX - 1 }>(self).map_err(|e| match e {
            CodecError::TooLarge { len, .. } => FrameError::TooLarge {
                len: len + 1,
                max: FRAME_BYTES_MAX,
            },
            other => FrameError::Malformed(other),
        })?;
        let len = payload.len() + 1;
        let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + len);
        out.extend_from_slice(
            &u32::try_from(len)
                .expect("bounded by FRAME_BYTES_MAX")
                .to_be_bytes(),
        );
        out.push(FRAME_VERSION);
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decodes one frame body (version byte and payload, without the length prefix).
    pub fn decode_body(body: &[u8]) -> Result<Frame, FrameError> {
        let (&version, payload) = body.split_first().ok_or(FrameError::Empty)?;
        if version != FRAME_VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let frame: Frame =
            codec::decode::<_, { FRAME_BYTES_MAX - 1 }>(payload).map_err(FrameError::Malformed)?;
        frame.check()?;
        Ok(frame)
    }
}

/// Turns a byte stream into frames without unbounded buffering (sans-io).
///
/// Feed bytes with [`FrameDecoder::push`], which takes only what fits, and take frames with
/// [`FrameDecoder::poll`] until it returns `Ok(None)` (more bytes needed). After an error
/// the stream is out of step and must be closed.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    failed: bool,
}

impl FrameDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        FrameDecoder::default()
    }

    /// Bytes currently buffered (never more than [`DECODER_BUFFER_MAX`]).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// How many bytes the next push may take: the rest of the current frame, or of its
    /// length prefix. Never zero before an error.
    fn room(&self) -> usize {
        if self.buf.len() < FRAME_HEADER_BYTES {
            return FRAME_HEADER_BYTES - self.buf.len();
        }
        match self.announced() {
            Ok(len) => (FRAME_HEADER_BYTES + len).saturating_sub(self.buf.len()),
            Err(_) => 0,
        }
    }

    fn announced(&self) -> Result<usize, FrameError> {
        let prefix: [u8; 4] = self.buf[..FRAME_HEADER_BYTES].try_into().expect("4 bytes");
        let len = u32::from_be_bytes(prefix) as usize;
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if len > FRAME_BYTES_MAX {
            return Err(FrameError::TooLarge {
                len,
                max: FRAME_BYTES_MAX,
            });
        }
        Ok(len)
    }

    /// Takes bytes from `input` up to the end of the current frame; returns how many it
    /// took. Call [`FrameDecoder::poll`] and push the rest.
    pub fn push(&mut self, input: &[u8]) -> usize {
        if self.failed {
            return 0;
        }
        let take = self.room().min(input.len());
        self.buf.extend_from_slice(&input[..take]);
        debug_assert!(self.buf.len() <= DECODER_BUFFER_MAX);
        take
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or the error that ends
    /// the stream.
    pub fn poll(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.failed {
            return Err(FrameError::Invalid("stream already failed"));
        }
        if self.buf.len() < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        let len = match self.announced() {
            Ok(len) => len,
            Err(e) => {
                self.failed = true;
                self.buf = Vec::new();
                return Err(e);
            }
        };
        if self.buf.len() < FRAME_HEADER_BYTES + len {
            return Ok(None);
        }
        debug_assert_eq!(self.buf.len(), FRAME_HEADER_BYTES + len);
        let result = Frame::decode_body(&self.buf[FRAME_HEADER_BYTES..]);
        // Release a large buffer rather than keep a megabyte per idle connection.
        if self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        if result.is_err() {
            self.failed = true;
        }
        result.map(Some)
    }

    /// Pushes all of `input` and collects every frame in it: a convenience for tests and
    /// for callers that hold a whole chunk anyway.
    pub fn decode_all(&mut self, mut input: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut frames = Vec::new();
        loop {
            let took = self.push(input);
            input = &input[took..];
            match self.poll()? {
                Some(f) => frames.push(f),
                None if input.is_empty() => return Ok(frames),
                None => {}
            }
        }
    }
}

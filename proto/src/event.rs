//! Events: the one thing that replicates.
//!
//! An [`Event`] is encoded once, by its author, into canonical bytes; the author signs those
//! bytes and the [`EventId`] is their BLAKE3 hash. Every node stores and forwards the
//! [`SignedEvent`] as received and verifies it from those very bytes, never re-encoding.
//! Headers carry no patient data: clinical content is always in a [`Sealed`] body, and a
//! sealed body is bound to its header: an event is written as a [`Header`] first, then
//! [`Header::seal`] seals the body for exactly that header (its recipients and its
//! [`Binding`]), so a body copied into another event does not open.
//!
//! [`SignedEvent::verify`] checks everything a node can check alone (size, encoding,
//! structure, signature) and yields a [`VerifiedEvent`], the only thing the store accepts.
//! Whether the author is an admitted node of the roster is checked against the roster
//! ([`crate::roster::Roster::authorize`]).

use std::fmt;

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::codec::{self, CodecError};
use crate::hlc::Hlc;
use crate::hsa::HsaId;
use crate::keys::{NodeId, NodeKey, UnitPublicKey, UnitSecretKey};
use crate::limits::{EVENT_BYTES_MAX, PARENTS_MAX, RECIPIENTS_MAX, USER_BYTES_MAX};
use crate::seal::{self, Binding, SealError, Sealed, WRAPPED_KEY_BYTES};

/// The event encoding this code writes and reads. Format 2 binds sealed bodies to their
/// headers and derives a first version's document id from its author and time; format 1
/// events are refused.
pub const EVENT_FORMAT: u16 = 2;
const DOC_ID_CONTEXT: &str = "reservnod 2026-11 first version document id v2";
/// Signatures are over this prefix plus the event bytes, so an event signature can never be
/// taken for a signature of anything else.
const SIGNING_DOMAIN: &[u8] = b"reservnod/event/v1\0";

/// BLAKE3 hash of an event's signed bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EventId(pub [u8; 32]);

impl EventId {
    /// The id of these signed bytes.
    pub fn of(bytes: &[u8]) -> Self {
        EventId(*blake3::hash(bytes).as_bytes())
    }
    /// The first 12 hex digits, for logs and tables.
    pub fn short(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0[..6])
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.short())
    }
}

impl std::str::FromStr for EventId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.trim().as_bytes())
            .map_err(|_| "an event id is 64 hex digits".to_string())?;
        bytes
            .try_into()
            .map(EventId)
            .map_err(|_| "an event id is 64 hex digits".to_string())
    }
}

/// A document's identity across its versions (a plan, a care report).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocId(pub [u8; 16]);

impl DocId {
    /// The id of the document whose first version `author` writes at `hlc`: the first 16
    /// bytes of a BLAKE3 derive-key hash of both. A node's clock never issues a time twice,
    /// so the id is new, and no other node can write a first version of it
    /// ([`Event::check_structure`] refuses one whose id is not derived so).
    pub fn first_version(author: &NodeId, hlc: Hlc) -> Self {
        let mut hasher = blake3::Hasher::new_derive_key(DOC_ID_CONTEXT);
        hasher.update(&author.0);
        hasher.update(&hlc.to_key_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        DocId(b)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({self})")
    }
}

/// What kind of event this is, which decides how its body is read.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum EventClass {
    /// Carries an admin-signed roster (plain body).
    Roster,
    /// A clinical document or message (always sealed).
    Clinical,
    /// Delivered / Read receipts.
    Receipt,
    /// Operational events: outage declared or ended, re-entry marks.
    Control,
    /// A change to a staff account of the author's unit (always sealed, to that unit alone;
    /// see [`crate::accounts`]).
    Account,
}

impl EventClass {
    /// All classes, in order.
    pub const ALL: [EventClass; 5] = [
        EventClass::Roster,
        EventClass::Clinical,
        EventClass::Receipt,
        EventClass::Control,
        EventClass::Account,
    ];
    /// Lower-case name for tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            EventClass::Roster => "roster",
            EventClass::Clinical => "clinical",
            EventClass::Receipt => "receipt",
            EventClass::Control => "control",
            EventClass::Account => "account",
        }
    }
}

/// How urgently an event must move and be read. Urgent goes first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub enum Priority {
    /// Ordinary.
    Normal,
    /// Urgent (brådskande).
    Urgent,
}

/// The version links of a document.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DocRef {
    /// The document this event is a version of.
    pub doc: DocId,
    /// The versions (heads) it replaces; empty for the first version.
    pub parents: Vec<EventId>,
}

impl DocRef {
    /// The links of a new document's first version, written by `author` at `hlc`.
    pub fn first(author: &NodeId, hlc: Hlc) -> Self {
        DocRef {
            doc: DocId::first_version(author, hlc),
            parents: Vec::new(),
        }
    }
}

/// An event's body.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Body {
    /// Readable by every node; its schema is given by the event class. Never patient data.
    Plain(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Readable only by the units it is sealed to.
    Sealed(Sealed),
}

/// Everything of an event but its body, in encoding order: what a sealed body is bound to.
/// An author builds the header first and then gives it its body ([`Header::seal`],
/// [`Header::plain`]); its encoding is exactly the event's bytes before the body.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Header {
    /// Encoding version ([`EVENT_FORMAT`]).
    pub format: u16,
    /// The node that writes and signs it.
    pub author: NodeId,
    /// The author's unit.
    pub unit: HsaId,
    /// The staff member who writes it, if a person does.
    pub user: Option<String>,
    /// When, on the hybrid logical clock.
    pub hlc: Hlc,
    /// What kind of event.
    pub class: EventClass,
    /// How urgent.
    pub priority: Priority,
    /// Units it is addressed to.
    pub recipients: Vec<HsaId>,
    /// Document version links, for documents.
    pub doc: Option<DocRef>,
}

/// The header fields of an event, borrowed, encoded exactly as [`Header`] is.
#[derive(Serialize)]
struct HeaderFields<'a> {
    format: u16,
    author: &'a NodeId,
    unit: &'a HsaId,
    user: &'a Option<String>,
    hlc: &'a Hlc,
    class: EventClass,
    priority: Priority,
    recipients: &'a [HsaId],
    doc: &'a Option<DocRef>,
}

impl HeaderFields<'_> {
    fn binding(&self) -> Result<Binding, CodecError> {
        codec::encode::<_, EVENT_BYTES_MAX>(self).map(|bytes| Binding::of_header_bytes(&bytes))
    }
}

impl Header {
    fn fields(&self) -> HeaderFields<'_> {
        HeaderFields {
            format: self.format,
            author: &self.author,
            unit: &self.unit,
            user: &self.user,
            hlc: &self.hlc,
            class: self.class,
            priority: self.priority,
            recipients: &self.recipients,
            doc: &self.doc,
        }
    }

    /// What a body sealed for this header is bound to.
    pub fn binding(&self) -> Result<Binding, SealError> {
        self.fields()
            .binding()
            .map_err(|e| SealError::Header(e.to_string()))
    }

    /// The units a body of this header is sealed to: the recipients in order, then the
    /// author's unit if it is not among them.
    pub fn seal_units(&self) -> Vec<&HsaId> {
        let mut units: Vec<&HsaId> = self.recipients.iter().collect();
        if !units.contains(&&self.unit) {
            units.push(&self.unit);
        }
        units
    }

    /// The event with `plaintext` sealed to this header's units, bound to this header.
    /// `key_of` gives each unit's public key (from the roster; for the author's own unit,
    /// its key); a unit without one is refused.
    pub fn seal(
        self,
        rng: &mut impl CryptoRngCore,
        plaintext: &[u8],
        key_of: impl Fn(&HsaId) -> Option<UnitPublicKey>,
    ) -> Result<Event, SealError> {
        let binding = self.binding()?;
        let mut keys: Vec<(&HsaId, UnitPublicKey)> = Vec::new();
        for unit in self.seal_units() {
            let key = key_of(unit).ok_or_else(|| SealError::UnknownUnit(unit.clone()))?;
            keys.push((unit, key));
        }
        let refs: Vec<(&HsaId, &UnitPublicKey)> = keys.iter().map(|(u, k)| (*u, k)).collect();
        let sealed = seal::seal(rng, plaintext, &refs, &binding)?;
        Ok(self.with_body(Body::Sealed(sealed)))
    }

    /// The event with a plain body (never patient data).
    pub fn plain(self, bytes: Vec<u8>) -> Event {
        self.with_body(Body::Plain(bytes))
    }

    fn with_body(self, body: Body) -> Event {
        Event {
            format: self.format,
            author: self.author,
            unit: self.unit,
            user: self.user,
            hlc: self.hlc,
            class: self.class,
            priority: self.priority,
            recipients: self.recipients,
            doc: self.doc,
            body,
        }
    }
}

/// An event as its author wrote it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Event {
    /// Encoding version ([`EVENT_FORMAT`]).
    pub format: u16,
    /// The node that wrote and signed it.
    pub author: NodeId,
    /// The author's unit.
    pub unit: HsaId,
    /// The staff member who wrote it (login or HSA person id), if a person did.
    pub user: Option<String>,
    /// When, on the hybrid logical clock.
    pub hlc: Hlc,
    /// What kind of event.
    pub class: EventClass,
    /// How urgent.
    pub priority: Priority,
    /// Units it is addressed to.
    pub recipients: Vec<HsaId>,
    /// Document version links, for documents.
    pub doc: Option<DocRef>,
    /// The body.
    pub body: Body,
}

/// Why an event (or another signed object) was refused. Every variant is counted and
/// logged by the daemon; none is a panic.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum Reject {
    /// Larger than the limit.
    #[error("event of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes do not decode.
    #[error("malformed event: {0}")]
    Malformed(CodecError),
    /// Written in an encoding this node does not know.
    #[error("{}", unsupported_format(*.0))]
    UnsupportedFormat(u16),
    /// Decodes but breaks a structural rule.
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The author field is not a valid public key.
    #[error("author key is not a valid ed25519 key")]
    InvalidAuthorKey,
    /// The signature does not verify (forged or tampered).
    #[error("bad signature")]
    BadSignature,
    /// The author is not a node of the roster.
    #[error("author {0} is not in the roster")]
    UnknownAuthor(NodeId),
    /// The author was revoked.
    #[error("author {0} is revoked")]
    RevokedAuthor(NodeId),
    /// The author writes for a unit it does not belong to.
    #[error("author {author} belongs to {roster_unit}, not {claimed_unit}")]
    WrongUnit {
        /// The author.
        author: NodeId,
        /// Its unit in the roster.
        roster_unit: HsaId,
        /// The unit the event claims.
        claimed_unit: HsaId,
    },
}

fn unsupported_format(format: u16) -> String {
    if format == 1 {
        "event format 1 is refused: its sealed bodies are not bound to their headers (this node reads format 2)".into()
    } else {
        format!("unsupported event format {format} (this node reads format {EVENT_FORMAT})")
    }
}

fn invalid(msg: impl Into<String>) -> Reject {
    Reject::Invalid(msg.into())
}

fn has_duplicates<T: PartialEq>(items: &[T]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].contains(a))
}

impl Event {
    fn header_fields(&self) -> HeaderFields<'_> {
        HeaderFields {
            format: self.format,
            author: &self.author,
            unit: &self.unit,
            user: &self.user,
            hlc: &self.hlc,
            class: self.class,
            priority: self.priority,
            recipients: &self.recipients,
            doc: &self.doc,
        }
    }

    /// Everything of this event but its body.
    pub fn header(&self) -> Header {
        Header {
            format: self.format,
            author: self.author,
            unit: self.unit.clone(),
            user: self.user.clone(),
            hlc: self.hlc,
            class: self.class,
            priority: self.priority,
            recipients: self.recipients.clone(),
            doc: self.doc.clone(),
        }
    }

    /// What this event's sealed body must be bound to: the binding of its header.
    pub fn binding(&self) -> Result<Binding, SealError> {
        self.header_fields()
            .binding()
            .map_err(|e| SealError::Header(e.to_string()))
    }

    /// Opens a sealed body with a unit key, for this event's header only; a plain body is
    /// returned as is.
    pub fn open(&self, key: &UnitSecretKey) -> Result<Zeroizing<Vec<u8>>, SealError> {
        match &self.body {
            Body::Plain(bytes) => Ok(Zeroizing::new(bytes.clone())),
            Body::Sealed(sealed) => sealed.open(key, &self.binding()?),
        }
    }

    /// Checks the structural rules every event must meet, on author and reader side alike.
    pub fn check_structure(&self) -> Result<(), Reject> {
        if self.format != EVENT_FORMAT {
            return Err(Reject::UnsupportedFormat(self.format));
        }
        if let Some(user) = &self.user {
            if user.trim().is_empty()
                || user.len() > USER_BYTES_MAX
                || user.chars().any(char::is_control)
            {
                return Err(invalid(format!(
                    "user must be 1 to {USER_BYTES_MAX} bytes of printable text"
                )));
            }
        }
        if self.recipients.len() > RECIPIENTS_MAX {
            return Err(invalid(format!("more than {RECIPIENTS_MAX} recipients")));
        }
        if has_duplicates(&self.recipients) {
            return Err(invalid("a recipient unit is named twice"));
        }
        if let Some(doc) = &self.doc {
            if doc.parents.len() > PARENTS_MAX {
                return Err(invalid(format!("more than {PARENTS_MAX} parent versions")));
            }
            if has_duplicates(&doc.parents) {
                return Err(invalid("a parent version is named twice"));
            }
            // Only the author of a document's first version can write one: its id is
            // derived from that author and time.
            if doc.parents.is_empty() && doc.doc != DocId::first_version(&self.author, self.hlc) {
                return Err(invalid(
                    "a first version's document id is not derived from its author and time",
                ));
            }
        }
        match (&self.class, &self.body) {
            (EventClass::Clinical, Body::Plain(_)) => {
                return Err(invalid("clinical events must have a sealed body"))
            }
            (EventClass::Clinical, Body::Sealed(_)) if self.recipients.is_empty() => {
                return Err(invalid("clinical events need at least one recipient unit"))
            }
            (EventClass::Roster, Body::Sealed(_)) => {
                return Err(invalid("roster events are plain"))
            }
            (EventClass::Account, Body::Plain(_)) => {
                return Err(invalid("account events must have a sealed body"))
            }
            (EventClass::Account, Body::Sealed(_))
                if !self.recipients.is_empty() || self.doc.is_some() =>
            {
                return Err(invalid(
                    "account events are sealed to the author's unit alone, with no recipients and no document links",
                ))
            }
            _ => {}
        }
        if let Body::Sealed(sealed) = &self.body {
            // Sealed to exactly the recipients plus the author's unit: no silent extra reader,
            // no recipient left unable to open it.
            let mut expected: Vec<&HsaId> = self.recipients.iter().collect();
            if !expected.contains(&&self.unit) {
                expected.push(&self.unit);
            }
            let units: Vec<&HsaId> = sealed.units().collect();
            if has_duplicates(&units) {
                return Err(invalid("a unit has two wrapped keys"));
            }
            if units.len() != expected.len() || !expected.iter().all(|u| units.contains(u)) {
                return Err(invalid(
                    "sealed to units other than the recipients and the author's unit",
                ));
            }
            if sealed
                .keys
                .iter()
                .any(|k| k.wrapped.len() != WRAPPED_KEY_BYTES)
            {
                return Err(invalid("wrapped key of the wrong size"));
            }
        }
        Ok(())
    }

    /// Encodes and signs this event with the author's key.
    pub fn sign(&self, key: &NodeKey) -> Result<SignedEvent, Reject> {
        if key.id() != self.author {
            return Err(invalid("signing key is not the author's"));
        }
        self.check_structure()?;
        let bytes = codec::encode::<_, EVENT_BYTES_MAX>(self).map_err(|e| match e {
            CodecError::TooLarge { len, max } => Reject::TooLarge { len, max },
            other => Reject::Malformed(other),
        })?;
        let sig = key.sign(&signing_message(&bytes));
        Ok(SignedEvent { bytes, sig })
    }
}

fn signing_message(bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_DOMAIN.len() + bytes.len());
    m.extend_from_slice(SIGNING_DOMAIN);
    m.extend_from_slice(bytes);
    m
}

/// An event's canonical bytes and its author's signature over them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEvent {
    /// The canonical encoding of the [`Event`], exactly as signed.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// ed25519 signature over the signing domain and `bytes`.
    #[serde(with = "crate::codec::bytes64")]
    pub sig: [u8; 64],
}

impl fmt::Debug for SignedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SignedEvent({}, {} bytes)",
            self.id().short(),
            self.bytes.len()
        )
    }
}

impl SignedEvent {
    /// The event id (hash of the signed bytes).
    pub fn id(&self) -> EventId {
        EventId::of(&self.bytes)
    }

    /// Everything one node can check alone: size, encoding, structure, signature.
    ///
    /// Verification is always strict and one by one. ed25519 batch verification is about
    /// twice as fast but can accept signatures that strict verification refuses (torsion
    /// components), and nodes must never disagree on whether an event is valid.
    pub fn verify(&self) -> Result<VerifiedEvent, Reject> {
        let (event, key) = self.decode_checked()?;
        self.verify_signature_strict(&key)?;
        Ok(VerifiedEvent {
            id: self.id(),
            event,
            signed: self.clone(),
        })
    }

    fn decode_checked(&self) -> Result<(Event, ed25519_dalek::VerifyingKey), Reject> {
        if self.bytes.len() > EVENT_BYTES_MAX {
            return Err(Reject::TooLarge {
                len: self.bytes.len(),
                max: EVENT_BYTES_MAX,
            });
        }
        // Read the format first, so a newer layout is reported as such, not as garbage.
        let format: u16 = codec::decode_prefix(&self.bytes).map_err(Reject::Malformed)?;
        if format != EVENT_FORMAT {
            return Err(Reject::UnsupportedFormat(format));
        }
        let event: Event =
            codec::decode::<_, EVENT_BYTES_MAX>(&self.bytes).map_err(Reject::Malformed)?;
        // One event, one byte form: refuse non-minimal encodings, so an author cannot give
        // the same event several ids.
        let canonical = codec::encode::<_, EVENT_BYTES_MAX>(&event).map_err(Reject::Malformed)?;
        if canonical != self.bytes {
            return Err(Reject::Invalid("not in canonical encoding".into()));
        }
        event.check_structure()?;
        let key = event
            .author
            .verifying_key()
            .map_err(|_| Reject::InvalidAuthorKey)?;
        Ok((event, key))
    }

    fn verify_signature_strict(&self, key: &ed25519_dalek::VerifyingKey) -> Result<(), Reject> {
        let sig = ed25519_dalek::Signature::from_bytes(&self.sig);
        key.verify_strict(&signing_message(&self.bytes), &sig)
            .map_err(|_| Reject::BadSignature)
    }
}

/// An event whose size, encoding, structure and signature were checked. Only
/// [`SignedEvent::verify`] makes one, so holding one proves the checks ran.
#[derive(Clone, Debug)]
pub struct VerifiedEvent {
    id: EventId,
    event: Event,
    signed: SignedEvent,
}

impl VerifiedEvent {
    /// Its id.
    pub fn id(&self) -> EventId {
        self.id
    }
    /// The decoded event.
    pub fn event(&self) -> &Event {
        &self.event
    }
    /// The signed bytes, as received.
    pub fn signed(&self) -> &SignedEvent {
        &self.signed
    }
    /// Opens a sealed body with a unit key, for this event's header only; a plain body is
    /// returned as is.
    pub fn open(&self, key: &UnitSecretKey) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.event.open(key)
    }
}

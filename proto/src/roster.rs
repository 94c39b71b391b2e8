//! The roster: the region's admin-signed register.
//!
//! It lists the units (with their encryption keys, kind and municipality), the nodes that
//! may join the mesh and which unit each serves, revoked nodes, the routing rules that
//! suggest the municipal unit for a patient's municipality, phrase templates and the
//! escalation policy. It is versioned: a node replaces its roster only with a newer one
//! signed by the same admin key it already trusts.
//!
//! A revocation names a cut-off: events its node wrote before it stay valid when an
//! admitted node carries them over an authenticated link ([`Roster::authorize_carried`]);
//! nothing of the node's is taken from the node itself or from an unauthenticated file.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};
use crate::event::{Reject, VerifiedEvent};
use crate::hlc::Hlc;
use crate::hsa::HsaId;
use crate::keys::{AdminKey, AdminPublicKey, NodeId, UnitPublicKey};
use crate::limits::{
    PHRASE_KEY_BYTES_MAX, PHRASE_TEXT_BYTES_MAX, ROSTER_BYTES_MAX, ROSTER_NODES_MAX,
    ROSTER_PHRASES_MAX, ROSTER_ROUTES_MAX, ROSTER_TEXT_BYTES_MAX, ROSTER_UNITS_MAX,
};
use crate::retention::{self, PurgeDecision};

/// The roster encoding this code writes. Format 3 adds the purge decisions; a format 2
/// roster (signed before) is still read, as one with none.
pub const ROSTER_FORMAT: u16 = 3;
/// The earlier encoding this code still reads.
const ROSTER_FORMAT_V2: u16 = 2;
const SIGNING_DOMAIN: &[u8] = b"reservnod/roster/v1\0";
/// First bytes of a roster file, so a wrong file is told apart from a damaged one.
const FILE_MAGIC: &[u8; 8] = b"RSVNROS1";

/// Why a roster was refused or could not be changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum RosterError {
    /// Not a roster file at all.
    #[error("not a reservnod roster file")]
    NotARosterFile,
    /// The bytes do not decode.
    #[error("damaged roster: {0}")]
    Malformed(CodecError),
    /// Written in an encoding this node does not know.
    #[error("unsupported roster format {0}")]
    UnsupportedFormat(u16),
    /// The admin signature does not verify.
    #[error("the roster's admin signature is invalid (forged or damaged)")]
    BadSignature,
    /// Signed by a different admin key than the one this node trusts.
    #[error("the roster is signed by admin key {found}, but this node trusts {trusted}")]
    WrongAdmin {
        /// The key this node trusts.
        trusted: AdminPublicKey,
        /// The key that signed the new roster.
        found: AdminPublicKey,
    },
    /// Not newer than the roster this node has.
    #[error("roster version {offered} is not newer than the current version {current}")]
    NotNewer {
        /// The version held.
        current: u64,
        /// The version offered.
        offered: u64,
    },
    /// Breaks a rule of the roster's content.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> RosterError {
    RosterError::Invalid(msg.into())
}

/// What kind of care unit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum UnitKind {
    /// Hospital ward (slutenvård).
    Ward,
    /// Municipal care unit (kommun: hemtjänst, hemsjukvård, SÄBO, biståndshandläggare).
    Municipal,
    /// Primary care centre (vårdcentral).
    PrimaryCare,
    /// Psychiatry (LPT/LRV).
    Psychiatry,
    /// Any other provider.
    Other,
}

impl UnitKind {
    /// All kinds.
    pub const ALL: [UnitKind; 5] = [
        UnitKind::Ward,
        UnitKind::Municipal,
        UnitKind::PrimaryCare,
        UnitKind::Psychiatry,
        UnitKind::Other,
    ];
    /// The command-line and JSON name.
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Ward => "ward",
            UnitKind::Municipal => "municipal",
            UnitKind::PrimaryCare => "primary-care",
            UnitKind::Psychiatry => "psychiatry",
            UnitKind::Other => "other",
        }
    }
    /// The Swedish name shown to staff.
    pub fn name_sv(self) -> &'static str {
        match self {
            UnitKind::Ward => "vårdavdelning",
            UnitKind::Municipal => "kommunal enhet",
            UnitKind::PrimaryCare => "vårdcentral",
            UnitKind::Psychiatry => "psykiatri",
            UnitKind::Other => "annan vårdgivare",
        }
    }
}

impl std::str::FromStr for UnitKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = UnitKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown unit kind '{s}' (one of: {})", names.join(", "))
            })
    }
}

/// A Swedish municipality code (kommunkod): four digits, the first two the county.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MunicipalityCode(String);

impl MunicipalityCode {
    /// The four digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MunicipalityCode {
    type Error = String;
    /// Decoding accepts only the exact stored form (no surrounding spaces).
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let code: MunicipalityCode = s.parse()?;
        if code.0 != s {
            return Err(format!("municipality code '{s}' is not in canonical form"));
        }
        Ok(code)
    }
}

impl From<MunicipalityCode> for String {
    fn from(c: MunicipalityCode) -> String {
        c.0
    }
}

impl std::str::FromStr for MunicipalityCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with("00") {
            Ok(MunicipalityCode(s.to_string()))
        } else {
            Err(format!(
                "municipality code '{s}' must be four digits (kommunkod, e.g. 1080 for Karlskrona)"
            ))
        }
    }
}

impl fmt::Display for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A care unit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Unit {
    /// Its HSA-id (or local id).
    pub id: HsaId,
    /// Its name as staff know it.
    pub name: String,
    /// What kind of unit.
    pub kind: UnitKind,
    /// The municipality it is in.
    pub municipality: MunicipalityCode,
    /// The key bodies are sealed to.
    pub encryption_key: UnitPublicKey,
}

/// A node admitted to the mesh.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Its key.
    pub id: NodeId,
    /// The unit it serves.
    pub unit: HsaId,
    /// A name for people (e.g. "Avd 12 expeditionen").
    pub name: String,
}

/// A node that may no longer take part.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Revocation {
    /// The node.
    pub node: NodeId,
    /// When it was revoked (ms since the epoch, the admin's clock).
    pub at_ms: u64,
    /// Events of the node with an hlc before this stay valid when an admitted node carries
    /// them; from it on, every event of the node is refused. Never after `at_ms`.
    pub cutoff: Hlc,
    /// Why.
    pub reason: String,
}

/// Suggests which municipal unit receives patients living in a municipality.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RoutingRule {
    /// The patient's municipality.
    pub municipality: MunicipalityCode,
    /// The unit that receives.
    pub unit: HsaId,
}

/// A pre-written text (frastext) staff pick and edit.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PhraseTemplate {
    /// Short key (e.g. "recept").
    pub key: String,
    /// Title shown in the list.
    pub title: String,
    /// The text.
    pub text: String,
}

/// How long a message may stay unread before it is escalated.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct EscalationPolicy {
    /// Minutes for urgent messages.
    pub urgent_unread_minutes: u32,
    /// Minutes for normal messages.
    pub normal_unread_minutes: u32,
}

impl EscalationPolicy {
    /// Minutes a message of `priority` may stay unread.
    pub fn minutes(&self, priority: crate::event::Priority) -> u32 {
        match priority {
            crate::event::Priority::Urgent => self.urgent_unread_minutes,
            crate::event::Priority::Normal => self.normal_unread_minutes,
        }
    }
}

impl Default for EscalationPolicy {
    /// Staff are expected to check at least twice a day and acknowledge at once: urgent after
    /// 30 minutes, normal after 4 hours (defaults; the admin sets the region's own).
    fn default() -> Self {
        EscalationPolicy {
            urgent_unread_minutes: 30,
            normal_unread_minutes: 240,
        }
    }
}

/// The region's register.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Roster {
    /// Encoding version ([`ROSTER_FORMAT`]).
    pub format: u16,
    /// The region's name.
    pub region: String,
    /// Increases with every change.
    pub version: u64,
    /// When this version was signed (ms since the epoch, the admin's clock).
    pub issued_at_ms: u64,
    /// The key that signs it.
    pub admin: AdminPublicKey,
    /// Units.
    pub units: Vec<Unit>,
    /// Nodes. Revoked ones stay listed so the events of theirs already stored can still be
    /// attributed; see [`Roster::authorize_carried`] for which of their events still count.
    pub nodes: Vec<NodeEntry>,
    /// Revoked nodes.
    pub revoked: Vec<Revocation>,
    /// Routing rules.
    pub routing: Vec<RoutingRule>,
    /// Phrase templates.
    pub phrases: Vec<PhraseTemplate>,
    /// Escalation policy.
    pub escalation: EscalationPolicy,
    /// Purge decisions (gallringsbeslut), in the order recorded; never withdrawn
    /// ([`Roster::check_successor`]). See [`crate::retention`].
    pub purge_decisions: Vec<PurgeDecision>,
}

/// A format 2 roster: [`Roster`] without the purge decisions, read as one with none.
#[derive(Deserialize)]
struct RosterV2 {
    format: u16,
    region: String,
    version: u64,
    issued_at_ms: u64,
    admin: AdminPublicKey,
    units: Vec<Unit>,
    nodes: Vec<NodeEntry>,
    revoked: Vec<Revocation>,
    routing: Vec<RoutingRule>,
    phrases: Vec<PhraseTemplate>,
    escalation: EscalationPolicy,
}

impl From<RosterV2> for Roster {
    fn from(r: RosterV2) -> Self {
        Roster {
            format: ROSTER_FORMAT,
            region: r.region,
            version: r.version,
            issued_at_ms: r.issued_at_ms,
            admin: r.admin,
            units: r.units,
            nodes: r.nodes,
            revoked: r.revoked,
            routing: r.routing,
            phrases: r.phrases,
            escalation: r.escalation,
            purge_decisions: Vec::new(),
        }
    }
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), RosterError> {
    if s.trim().is_empty() {
        return Err(invalid(format!("{what} is empty")));
    }
    if s.len() > max {
        return Err(invalid(format!("{what} is longer than {max} bytes")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(format!("{what} contains control characters")));
    }
    Ok(())
}

impl Roster {
    /// An empty roster, version 1, for a region.
    pub fn new(region: &str, admin: AdminPublicKey, issued_at_ms: u64) -> Self {
        Roster {
            format: ROSTER_FORMAT,
            region: region.trim().to_string(),
            version: 1,
            issued_at_ms,
            admin,
            units: Vec::new(),
            nodes: Vec::new(),
            revoked: Vec::new(),
            routing: Vec::new(),
            phrases: Vec::new(),
            escalation: EscalationPolicy::default(),
            purge_decisions: Vec::new(),
        }
    }

    /// Checks every rule of the content: bounds, unique ids, references that resolve.
    pub fn validate(&self) -> Result<(), RosterError> {
        if self.format != ROSTER_FORMAT {
            return Err(RosterError::UnsupportedFormat(self.format));
        }
        check_text("region name", &self.region, ROSTER_TEXT_BYTES_MAX)?;
        if self.units.len() > ROSTER_UNITS_MAX
            || self.nodes.len() > ROSTER_NODES_MAX
            || self.revoked.len() > ROSTER_NODES_MAX
            || self.routing.len() > ROSTER_ROUTES_MAX
            || self.phrases.len() > ROSTER_PHRASES_MAX
        {
            return Err(invalid("the roster has more entries than its limits allow"));
        }
        let mut units = HashSet::new();
        for u in &self.units {
            check_text(
                &format!("name of unit {}", u.id),
                &u.name,
                ROSTER_TEXT_BYTES_MAX,
            )?;
            if !units.insert(&u.id) {
                return Err(invalid(format!("unit {} is listed twice", u.id)));
            }
        }
        let mut nodes = HashSet::new();
        for n in &self.nodes {
            check_text(
                &format!("name of node {}", n.id),
                &n.name,
                ROSTER_TEXT_BYTES_MAX,
            )?;
            if !nodes.insert(n.id) {
                return Err(invalid(format!("node {} is listed twice", n.id)));
            }
            if !units.contains(&n.unit) {
                return Err(invalid(format!(
                    "node {} serves unit {}, which is not in the roster",
                    n.id, n.unit
                )));
            }
            // A weak key would let batch and strict signature checks disagree.
            match n.id.verifying_key() {
                Ok(k) if !k.is_weak() => {}
                _ => return Err(invalid(format!("node {} has an invalid or weak key", n.id))),
            }
        }
        let mut revoked = HashSet::new();
        for r in &self.revoked {
            if !nodes.contains(&r.node) {
                return Err(invalid(format!(
                    "revoked node {} is not in the node list",
                    r.node
                )));
            }
            if !revoked.insert(r.node) {
                return Err(invalid(format!("node {} is revoked twice", r.node)));
            }
            if r.cutoff.wall_ms > r.at_ms {
                return Err(invalid(format!(
                    "the cut-off of node {} is after its revocation",
                    r.node
                )));
            }
            check_text(
                &format!("revocation reason of node {}", r.node),
                &r.reason,
                ROSTER_TEXT_BYTES_MAX,
            )?;
        }
        let mut routes = HashSet::new();
        for r in &self.routing {
            if !routes.insert(&r.municipality) {
                return Err(invalid(format!(
                    "municipality {} has two routing rules",
                    r.municipality
                )));
            }
            match self.unit(&r.unit) {
                Some(u) if u.kind == UnitKind::Municipal => {}
                Some(_) => {
                    return Err(invalid(format!(
                        "routing rule for {} points at {}, which is not a municipal unit",
                        r.municipality, r.unit
                    )))
                }
                None => {
                    return Err(invalid(format!(
                        "routing rule for {} points at unknown unit {}",
                        r.municipality, r.unit
                    )))
                }
            }
        }
        let mut phrase_keys = HashSet::new();
        for p in &self.phrases {
            check_text("phrase key", &p.key, PHRASE_KEY_BYTES_MAX)?;
            check_text(
                &format!("title of phrase {}", p.key),
                &p.title,
                ROSTER_TEXT_BYTES_MAX,
            )?;
            check_text(
                &format!("text of phrase {}", p.key),
                &p.text,
                PHRASE_TEXT_BYTES_MAX,
            )?;
            if !phrase_keys.insert(&p.key) {
                return Err(invalid(format!("phrase {} is listed twice", p.key)));
            }
        }
        if self.escalation.urgent_unread_minutes == 0 || self.escalation.normal_unread_minutes == 0
        {
            return Err(invalid("escalation times must be at least one minute"));
        }
        retention::validate_all(&self.purge_decisions).map_err(invalid)?;
        for d in &self.purge_decisions {
            if let Some(unknown) = d.units.iter().find(|u| !units.contains(u)) {
                return Err(invalid(format!(
                    "purge decision {} names unit {unknown}, which is not in the roster",
                    d.reference
                )));
            }
        }
        Ok(())
    }

    /// The unit with this id.
    pub fn unit(&self, id: &HsaId) -> Option<&Unit> {
        self.units.iter().find(|u| &u.id == id)
    }

    /// The node entry for this id (revoked or not).
    pub fn node(&self, id: &NodeId) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| &n.id == id)
    }

    /// Whether this node has been revoked.
    pub fn is_revoked(&self, id: &NodeId) -> bool {
        self.revocation(id).is_some()
    }

    /// The revocation of this node, if it is revoked.
    pub fn revocation(&self, id: &NodeId) -> Option<&Revocation> {
        self.revoked.iter().find(|r| &r.node == id)
    }

    /// Whether this node may take part: listed and not revoked.
    pub fn is_admitted(&self, id: &NodeId) -> bool {
        self.node(id).is_some() && !self.is_revoked(id)
    }

    /// The municipal unit suggested for a patient living in `municipality`.
    pub fn route(&self, municipality: &MunicipalityCode) -> Option<&Unit> {
        let rule = self
            .routing
            .iter()
            .find(|r| &r.municipality == municipality)?;
        self.unit(&rule.unit)
    }

    /// Checks that a verified event's author is an admitted node writing for its own unit,
    /// and that every recipient is a unit of the roster. Every event of a revoked node is
    /// refused: this is the check for what comes from no authenticated carrier (a local
    /// write, a bundle file).
    pub fn authorize(&self, event: &VerifiedEvent) -> Result<(), Reject> {
        self.authorize_carried(event, None)
    }

    /// [`Self::authorize`] for an event handed over by `carrier`, the node at the other end
    /// of an authenticated link. An event of a revoked node with an hlc before the
    /// revocation's cut-off is accepted when the carrier is an admitted node other than its
    /// author: after the revocation no node takes anything from the revoked node itself, so
    /// what an admitted node carries it held from before (or from another node that did).
    /// From the cut-off on, every event of the node is refused, whoever carries it.
    pub fn authorize_carried(
        &self,
        event: &VerifiedEvent,
        carrier: Option<&NodeId>,
    ) -> Result<(), Reject> {
        let e = event.event();
        let node = self
            .node(&e.author)
            .ok_or(Reject::UnknownAuthor(e.author))?;
        if let Some(revocation) = self.revocation(&e.author) {
            let carried = carrier.is_some_and(|c| *c != e.author && self.is_admitted(c));
            if !carried || e.hlc >= revocation.cutoff {
                return Err(Reject::RevokedAuthor(e.author));
            }
        }
        if node.unit != e.unit {
            return Err(Reject::WrongUnit {
                author: e.author,
                roster_unit: node.unit.clone(),
                claimed_unit: e.unit.clone(),
            });
        }
        if let Some(unknown) = e.recipients.iter().find(|r| self.unit(r).is_none()) {
            return Err(Reject::Invalid(format!(
                "recipient unit {unknown} is not in the roster"
            )));
        }
        Ok(())
    }

    /// Encodes and signs this roster with the admin key.
    pub fn sign(&self, key: &AdminKey) -> Result<SignedRoster, RosterError> {
        if key.public() != self.admin {
            return Err(invalid("the signing key is not this roster's admin key"));
        }
        self.validate()?;
        let bytes = codec::encode::<_, ROSTER_BYTES_MAX>(self).map_err(RosterError::Malformed)?;
        let sig = key.sign(&signing_message(&bytes));
        Ok(SignedRoster { bytes, sig })
    }

    /// Checks that `next` may replace this roster: same admin key, higher version, and every
    /// purge decision of this one kept unchanged.
    pub fn check_successor(&self, next: &Roster) -> Result<(), RosterError> {
        if next.admin != self.admin {
            return Err(RosterError::WrongAdmin {
                trusted: self.admin,
                found: next.admin,
            });
        }
        if next.version <= self.version {
            return Err(RosterError::NotNewer {
                current: self.version,
                offered: next.version,
            });
        }
        retention::check_kept(&self.purge_decisions, &next.purge_decisions).map_err(invalid)?;
        Ok(())
    }
}

fn signing_message(bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_DOMAIN.len() + bytes.len());
    m.extend_from_slice(SIGNING_DOMAIN);
    m.extend_from_slice(bytes);
    m
}

/// A roster's canonical bytes and the admin signature over them.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SignedRoster {
    /// The canonical encoding of the [`Roster`], exactly as signed.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// ed25519 signature by the admin key.
    #[serde(with = "crate::codec::bytes64")]
    pub sig: [u8; 64],
}

impl SignedRoster {
    /// Decodes, checks the signature by the admin key named inside, and validates.
    /// Whether that admin key is the trusted one is the caller's check
    /// ([`Self::verify_trusted`]).
    pub fn verify(&self) -> Result<Roster, RosterError> {
        let format: u16 = codec::decode_prefix(&self.bytes).map_err(RosterError::Malformed)?;
        let roster: Roster = match format {
            ROSTER_FORMAT => codec::decode::<Roster, ROSTER_BYTES_MAX>(&self.bytes)
                .map_err(RosterError::Malformed)?,
            ROSTER_FORMAT_V2 => {
                let old = codec::decode::<RosterV2, ROSTER_BYTES_MAX>(&self.bytes)
                    .map_err(RosterError::Malformed)?;
                if old.format != ROSTER_FORMAT_V2 {
                    return Err(RosterError::UnsupportedFormat(old.format));
                }
                old.into()
            }
            other => return Err(RosterError::UnsupportedFormat(other)),
        };
        if roster.format != ROSTER_FORMAT {
            return Err(RosterError::UnsupportedFormat(roster.format));
        }
        let key = roster
            .admin
            .verifying_key()
            .map_err(|_| RosterError::BadSignature)?;
        let sig = ed25519_dalek::Signature::from_bytes(&self.sig);
        key.verify_strict(&signing_message(&self.bytes), &sig)
            .map_err(|_| RosterError::BadSignature)?;
        roster.validate()?;
        Ok(roster)
    }

    /// The version this roster claims, read from its leading fields alone: no signature,
    /// no key is checked, so it costs next to nothing. Only for setting aside a roster that
    /// is not newer than one's own without verifying it; a roster that claims to be newer is
    /// verified in full and its verified version compared.
    pub fn claimed_version(&self) -> Result<u64, RosterError> {
        // format, region (a bounded text), version: the first fields of the encoding.
        let (format, _region, version): (u16, String, u64) =
            codec::decode_head(&self.bytes, ROSTER_TEXT_BYTES_MAX + 32)
                .map_err(RosterError::Malformed)?;
        if format != ROSTER_FORMAT && format != ROSTER_FORMAT_V2 {
            return Err(RosterError::UnsupportedFormat(format));
        }
        Ok(version)
    }

    /// [`Self::verify`], and the signer must be `trusted`.
    pub fn verify_trusted(&self, trusted: &AdminPublicKey) -> Result<Roster, RosterError> {
        let roster = self.verify()?;
        if &roster.admin != trusted {
            return Err(RosterError::WrongAdmin {
                trusted: *trusted,
                found: roster.admin,
            });
        }
        Ok(roster)
    }

    /// The roster file's bytes.
    pub fn to_file_bytes(&self) -> Result<Vec<u8>, RosterError> {
        let body =
            codec::encode::<_, { ROSTER_BYTES_MAX + 128 }>(self).map_err(RosterError::Malformed)?;
        let mut out = Vec::with_capacity(FILE_MAGIC.len() + body.len());
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads a roster file's bytes (the signature is checked by [`Self::verify`]).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, RosterError> {
        let body = bytes
            .strip_prefix(FILE_MAGIC.as_slice())
            .ok_or(RosterError::NotARosterFile)?;
        codec::decode::<_, { ROSTER_BYTES_MAX + 128 }>(body).map_err(RosterError::Malformed)
    }
}

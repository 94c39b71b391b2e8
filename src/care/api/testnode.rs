//! A [`CareNode`] for the operations' unit tests: a temporary store, a unit of proto's
//! synthetic region (ward, municipality, primary care), a clock the test sets and seeded
//! randomness. Written events are verified and authorized as everywhere, stored durably and
//! added to the view (the node's own answers, Delivered receipts, are `node::ingest`'s and
//! not written here).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rand_core::RngCore;
use reservnod_proto::testkit::{region, SeededRng};
use reservnod_proto::{Hlc, HlcClock, NodeKey, Roster, SignedEvent, SignedRoster, UnitSecretKey};

use super::{handle, Account, ApiError, Caller, CareNode, Person, Reply, Request, Role, Via};
use crate::care::view::CareView;
use crate::store::{AuditAction, AuditEntry, Store};

/// Monday 2026-11-23 12:00 UTC (13:00 in Sweden).
pub(super) const NOW: u64 = 1_795_435_200_000;
/// Skatteverket's test personnummer.
pub(super) const PATIENT: &str = "19121212-1212";
/// Another test personnummer.
pub(super) const OTHER_PATIENT: &str = "19821105-9954";

/// Which unit of the region a node serves.
#[derive(Clone, Copy, Debug)]
pub(super) enum Side {
    Ward,
    Kommun,
    Vc,
}

pub(super) struct TestNode {
    store: Store,
    roster: Mutex<Arc<Roster>>,
    node_key: NodeKey,
    unit_key: UnitSecretKey,
    now: AtomicU64,
    /// How long each HLC tick takes (ms): a slow node, to open the window between an
    /// operation's reads and its write.
    tick_delay_ms: AtomicU64,
    clock: Mutex<HlcClock>,
    rng: Mutex<SeededRng>,
    view: Mutex<CareView>,
    write_turn: Mutex<()>,
    /// What the test says the mesh has seen.
    mesh: Mutex<super::MeshSeen>,
    _dir: tempfile::TempDir,
}

impl TestNode {
    pub(super) fn new(side: Side) -> TestNode {
        TestNode::with_roster(side, |_| {})
    }

    /// A node whose roster `change` adjusts (phrase templates, routing).
    pub(super) fn with_roster(side: Side, change: impl FnOnce(&mut Roster)) -> TestNode {
        // The region is the same for every side: its keys come from one seed.
        let r = region("care api unit tests");
        let mut roster = r.roster;
        change(&mut roster);
        let (unit_key, node_key) = match side {
            Side::Ward => r.ward,
            Side::Kommun => r.kommun,
            Side::Vc => r.vc,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let view = CareView::build(&store, &unit_key).expect("view");
        TestNode {
            store,
            roster: Mutex::new(Arc::new(roster)),
            node_key,
            unit_key,
            now: AtomicU64::new(NOW),
            tick_delay_ms: AtomicU64::new(0),
            clock: Mutex::new(HlcClock::new(crate::limits::CLOCK_AHEAD_MAX_MS)),
            rng: Mutex::new(SeededRng::new(&format!("{side:?}"))),
            view: Mutex::new(view),
            write_turn: Mutex::new(()),
            mesh: Mutex::new(super::MeshSeen {
                since_ms: NOW,
                unreachable_after_ms: 300_000,
                clock_skew_warn_ms: 2_000,
                ..super::MeshSeen::default()
            }),
            _dir: dir,
        }
    }

    pub(super) fn set_now(&self, ms: u64) {
        self.now.store(ms, Ordering::Relaxed);
    }

    pub(super) fn set_mesh(&self, mesh: super::MeshSeen) {
        *self.mesh.lock().unwrap_or_else(|p| p.into_inner()) = mesh;
    }

    pub(super) fn set_tick_delay_ms(&self, ms: u64) {
        self.tick_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Answers `request` from the node's own account, naming Sara Sjöberg.
    pub(super) fn ask(&self, request: Request) -> Result<Reply, ApiError> {
        handle(self, &local("Sara Sjöberg"), request)
    }

    /// Answers `request` by `caller`.
    pub(super) fn ask_as(&self, caller: &Caller, request: Request) -> Result<Reply, ApiError> {
        handle(self, caller, request)
    }

    pub(super) fn event_count(&self) -> u64 {
        self.store.stats().expect("stats").events
    }

    pub(super) fn audit_log(&self) -> Vec<AuditEntry> {
        self.store
            .audit_entries(0)
            .map(|e| e.expect("audit entry").1)
            .collect()
    }

    /// Every event this node holds, written into `other` (a network in one call).
    pub(super) fn carry_to(&self, other: &TestNode) {
        let ids: Vec<_> = self
            .store
            .keys(false)
            .expect("keys")
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let events = self.store.get_many(&ids).expect("events");
        let refused = other.take(&events).expect("store");
        assert!(refused.is_empty(), "{refused:?}");
    }

    /// Verifies and authorizes `events`, stores the ones admitted and adds them to the view;
    /// returns why the others were refused.
    fn take(&self, events: &[SignedEvent]) -> Result<Vec<String>, crate::store::StoreError> {
        let roster = self.roster();
        let (mut admitted, mut refused) = (Vec::new(), Vec::new());
        for se in events {
            match se.verify().and_then(|v| roster.authorize(&v).map(|()| v)) {
                Ok(v) => admitted.push(v),
                Err(reason) => refused.push(reason.to_string()),
            }
        }
        let report = self.store.insert(&admitted)?;
        let mut view = self.view();
        for v in admitted.iter().filter(|v| report.new.contains(&v.id())) {
            view.add(v, &self.unit_key);
        }
        Ok(refused)
    }

    /// Asks, and checks the request is refused with a message containing `expect` and
    /// changes nothing: no event, no audit entry.
    pub(super) fn refuses(&self, request: Request, expect: &str) -> String {
        self.refuses_as(&local("Sara Sjöberg"), request, expect)
    }

    /// [`TestNode::refuses`] by `caller`.
    pub(super) fn refuses_as(&self, caller: &Caller, request: Request, expect: &str) -> String {
        let (events, audit) = (self.event_count(), self.audit_log().len());
        let what = format!("{request:?}");
        let message = match self.ask_as(caller, request) {
            Err(ApiError::Refused(m) | ApiError::NotAllowed(m)) => m,
            other => panic!("{what}: expected a refusal, got {other:?}"),
        };
        assert!(
            message.contains(expect),
            "{what}: '{message}' lacks '{expect}'"
        );
        assert!(!message.contains('\n'), "one line: {message}");
        assert_eq!(
            self.event_count(),
            events,
            "a refusal wrote an event: {what}"
        );
        assert_eq!(
            self.audit_log().len(),
            audit,
            "a refusal was audited: {what}"
        );
        message
    }

    /// How many audit entries are writes.
    pub(super) fn audited_writes(&self) -> usize {
        self.audit_log()
            .iter()
            .filter(|e| e.action == AuditAction::Write)
            .count()
    }
}

impl CareNode for TestNode {
    fn store(&self) -> &Store {
        &self.store
    }
    fn roster(&self) -> Arc<Roster> {
        self.roster
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    fn node_key(&self) -> &NodeKey {
        &self.node_key
    }
    fn unit_key(&self) -> &UnitSecretKey {
        &self.unit_key
    }
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
    fn fill_random(&self, buf: &mut [u8]) {
        self.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fill_bytes(buf)
    }
    fn tick(&self) -> Hlc {
        let delay = self.tick_delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(std::time::Duration::from_millis(delay));
        }
        let now = self.now_ms();
        self.clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tick(now)
    }
    fn view(&self) -> MutexGuard<'_, CareView> {
        self.view.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn write_turn(&self) -> MutexGuard<'_, ()> {
        self.write_turn.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self, events: Vec<SignedEvent>) -> Result<(), ApiError> {
        if let Some(reason) = self.take(&events)?.first() {
            return Err(ApiError::Refused(format!("refused by ingest: {reason}")));
        }
        Ok(())
    }
    fn payment_days(&self) -> u32 {
        3
    }
    fn purge_after_days(&self) -> Option<u32> {
        None
    }
    fn install_roster(&self, signed: &SignedRoster) -> Result<u64, ApiError> {
        // As a node does: signed by the admin it trusts, and newer.
        let mut current = self.roster.lock().unwrap_or_else(|p| p.into_inner());
        let new = signed
            .verify_trusted(&current.admin)
            .and_then(|new| current.check_successor(&new).map(|()| new))
            .map_err(|e| ApiError::Refused(format!("rostern installerades inte: {e}")))?;
        let version = new.version;
        *current = Arc::new(new);
        Ok(version)
    }
    fn backup(&self, _with_keys: bool) -> Result<super::BackupMade, ApiError> {
        // No data directory here: backups are tested against a real one (tests/backup.rs).
        Err(ApiError::Refused("testnoden har ingen datakatalog".into()))
    }
    fn mesh(&self) -> super::MeshSeen {
        self.mesh.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub(super) fn person(name: &str) -> Person {
    Person {
        name: name.into(),
        role: "sjuksköterska".into(),
        login: Some("test".into()),
    }
}

/// The node's own account, naming `name`.
pub(super) fn local(name: &str) -> Caller {
    Caller::local(person(name), Via::Cli)
}

/// A logged-in staff account of `node`'s unit.
pub(super) fn staff_at(node: &TestNode, login: &str) -> Caller {
    let mut c = account(Side::Ward, login, &[Role::Staff]);
    if let super::Actor::Account(a) = &mut c.actor {
        a.unit = node.unit_key().unit().clone();
    }
    c
}

/// A logged-in account of `side`'s unit with `roles`.
pub(super) fn account(side: Side, login: &str, roles: &[Role]) -> Caller {
    Caller::account(
        Account {
            login: login.into(),
            name: format!("Konto {login}"),
            title: "sjuksköterska".into(),
            unit: reservnod_proto::HsaId::parse(&unit_of(side)).expect("unit"),
            roles: roles.to_vec(),
        },
        Some("127.0.0.1".into()),
        Via::Web,
    )
}

/// The region's roster with `version`, signed by its admin.
pub(super) fn signed_roster(version: u64) -> SignedRoster {
    let r = region("care api unit tests");
    let mut roster = r.roster;
    roster.version = version;
    roster.sign(&r.admin).expect("sign")
}

/// The HSA-id of one of the region's units, as typed.
pub(super) fn unit_of(side: Side) -> String {
    reservnod_proto::testkit::hsa(match side {
        Side::Ward => "AVD12",
        Side::Kommun => "KOM1080",
        Side::Vc => "VCNH",
    })
    .to_string()
}

/// Sends and returns the reply's `Sent`, or panics with the refusal.
pub(super) fn sent(node: &TestNode, request: Request) -> super::Sent {
    match node.ask(request) {
        Ok(Reply::Sent(s)) => s,
        other => panic!("expected Sent, got {other:?}"),
    }
}

/// A send request of `document` about `patient` to `to` (empty: the roster's suggestion).
pub(super) fn sending(
    patient: Option<&str>,
    to: &[Side],
    document: super::DocumentForm,
) -> super::SendRequest {
    super::SendRequest {
        patient: patient.map(str::to_string),
        to: to.iter().map(|s| unit_of(*s)).collect(),
        ..super::SendRequest::new(document)
    }
}

/// An admission notice form (to the municipality by the routing rule for 1080).
pub(super) fn admission_form() -> super::DocumentForm {
    super::DocumentForm::Admission {
        reason: "Höftfraktur".into(),
        municipality: Some("1080".into()),
        needs: None,
        services: vec![],
        preliminary_discharge: None,
        at: Some("2026-11-20 08:15".into()),
    }
}

/// A question form.
pub(super) fn message_form(subject: &str) -> super::DocumentForm {
    super::DocumentForm::Message {
        subject: subject.into(),
        text: "Text".into(),
        kind: None,
        answer_by: None,
    }
}

/// A new plan form with `goals`.
pub(super) fn plan_form(goals: &str) -> super::DocumentForm {
    super::DocumentForm::Plan {
        kind: Some("sip".into()),
        content: super::PlanPatch {
            goals: Some(goals.into()),
            measures: Some(vec![
                "Hemtjänst; Karlskrona kommun; senast 2026-12-10".into()
            ]),
            patient_view: Some("Vill hem".into()),
            ..super::PlanPatch::default()
        },
    }
}

/// The ward admitted PATIENT and sent it to the municipality; returns the ward, the
/// municipality (holding what the ward sent) and the admission's `Sent`.
pub(super) fn admitted() -> (TestNode, TestNode, super::Sent) {
    let ward = TestNode::new(Side::Ward);
    let kommun = TestNode::new(Side::Kommun);
    let s = sent(
        &ward,
        Request::Send(sending(Some(PATIENT), &[], admission_form())),
    );
    ward.carry_to(&kommun);
    (ward, kommun, s)
}

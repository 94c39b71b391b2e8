//! Staff accounts as a fold over their events: the same state in every order, a disable that
//! a concurrent change on another node does not undo, and the structure an `Account` event
//! must have (sealed to its unit alone).

use proptest::prelude::*;
use reservnod_proto::accounts::{
    fold, AccountChange, AccountPayload, Change, Role, TokenId, ACCOUNT_FORMAT,
};
use reservnod_proto::event::{EventClass, Priority, Reject, EVENT_FORMAT};
use reservnod_proto::testkit::{hsa, region, SeededRng};
use reservnod_proto::{EventId, Header, Hlc};

fn change(id: u8, wall_ms: u64, login: &str, change: AccountChange) -> Change {
    Change {
        hlc: Hlc {
            wall_ms,
            logical: 0,
        },
        id: EventId([id; 32]),
        payload: AccountPayload {
            format: ACCOUNT_FORMAT,
            login: login.into(),
            at_ms: wall_ms,
            change,
        },
    }
}

fn created(id: u8, at: u64, login: &str, password: &str) -> Change {
    change(
        id,
        at,
        login,
        AccountChange::Created {
            name: format!("Namn {login}"),
            title: String::new(),
            roles: vec![Role::Staff],
            password: password.into(),
        },
    )
}

/// Node A disables the account while node B, apart, changes its password and (having seen
/// no disable) enables it: once both have everything, it is disabled, with B's password.
#[test]
fn a_disable_is_not_undone_by_a_concurrent_password_change_or_enable() {
    let made = created(1, 100, "sara", "old");
    let disable_a = change(2, 200, "sara", AccountChange::Disabled);
    let password_b = change(
        3,
        300,
        "sara",
        AccountChange::Password {
            password: "new".into(),
        },
    );
    let enable_b = change(4, 301, "sara", AccountChange::Enabled { lifts: vec![] });
    let all = [made, disable_a.clone(), password_b, enable_b];
    let s = &fold(&all)["sara"];
    assert!(!s.enabled);
    assert_eq!(s.password, "new");
    assert_eq!(s.disables, [disable_a.id]);
    // Same time on two nodes: the event id decides, the same way everywhere.
    let x = change(
        9,
        500,
        "sara",
        AccountChange::Roles {
            roles: vec![Role::UnitAdmin],
        },
    );
    let y = change(
        8,
        500,
        "sara",
        AccountChange::Roles {
            roles: vec![Role::LogReviewer],
        },
    );
    let mut both = all.to_vec();
    both.extend([x.clone(), y.clone()]);
    assert_eq!(
        fold(&both)["sara"].roles,
        [Role::UnitAdmin],
        "the larger id is later"
    );
    both.reverse();
    assert_eq!(fold(&both)["sara"].roles, [Role::UnitAdmin]);
}

fn any_change() -> impl Strategy<Value = (u8, u64, u8, u8)> {
    // (login, time, kind, value)
    (0u8..2, 0u64..6, 0u8..7, 0u8..4)
}

fn build(spec: &[(u8, u64, u8, u8)]) -> Vec<Change> {
    let mut out: Vec<Change> = Vec::new();
    for (i, (login, at, kind, v)) in spec.iter().enumerate() {
        let login = ["sara", "kim"][*login as usize];
        let id = u8::try_from(i + 1).unwrap_or(u8::MAX);
        let disables: Vec<EventId> = out
            .iter()
            .filter(|c| c.payload.login == login && c.payload.change == AccountChange::Disabled)
            .filter(|_| v % 2 == 0)
            .map(|c| c.id)
            .collect();
        let ch = match kind {
            0 => AccountChange::Created {
                name: format!("n{v}"),
                title: format!("t{v}"),
                roles: vec![Role::ALL[*v as usize % 3]],
                password: format!("p{v}"),
            },
            1 => AccountChange::Password {
                password: format!("q{v}"),
            },
            2 => AccountChange::Roles {
                roles: vec![Role::ALL[*v as usize % 3], Role::ALL[(*v as usize + 1) % 3]],
            },
            3 => AccountChange::Disabled,
            4 => AccountChange::Enabled { lifts: disables },
            5 => AccountChange::TokenIssued {
                token: TokenId([*v; 8]),
                hash: [*v; 32],
                label: String::new(),
            },
            _ => AccountChange::TokenRevoked {
                token: TokenId([*v; 8]),
            },
        };
        out.push(change(id, *at, login, ch));
    }
    out
}

proptest! {
    /// The state is the same whatever order the events arrive in, and repeated ones count
    /// once.
    #[test]
    fn the_fold_does_not_depend_on_the_order(
        spec in prop::collection::vec(any_change(), 0..24),
        seed in any::<u64>(),
    ) {
        let changes = build(&spec);
        let expected = fold(&changes);
        let mut shuffled = changes.clone();
        // A deterministic shuffle from the seed, plus a repeat of the first change.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let j = (s >> 33) as usize % (i + 1);
            shuffled.swap(i, j);
        }
        if let Some(first) = changes.first() {
            shuffled.push(first.clone());
        }
        prop_assert_eq!(fold(&shuffled), expected.clone());
        // A disable no enable names keeps its account disabled, whatever else happened.
        for (login, state) in &expected {
            let unlifted = changes.iter().any(|d| {
                &d.payload.login == login
                    && d.payload.change == AccountChange::Disabled
                    && !changes.iter().any(|e| matches!(
                        &e.payload.change,
                        AccountChange::Enabled { lifts } if &e.payload.login == login && lifts.contains(&d.id)
                    ))
            });
            prop_assert_eq!(state.enabled, !unlifted);
        }
    }
}

#[test]
fn an_account_event_is_sealed_to_its_unit_alone() {
    let r = region("accounts");
    let (ward, node) = &r.ward;
    let own = ward.unit().clone();
    let key = ward.public();
    let header = Header {
        format: EVENT_FORMAT,
        author: node.id(),
        unit: own.clone(),
        user: Some("it".into()),
        hlc: Hlc {
            wall_ms: 1_795_435_200_000,
            logical: 0,
        },
        class: EventClass::Account,
        priority: Priority::Normal,
        recipients: vec![],
        doc: None,
    };
    let body = created(1, 1, "sara", "x").payload.encode().expect("encode");
    let ok = header
        .clone()
        .seal(&mut SeededRng::new("a"), &body, |u| {
            (u == &own).then_some(key)
        })
        .expect("seal")
        .sign(node)
        .expect("sign");
    let v = ok.verify().expect("verifies");
    r.roster
        .authorize(&v)
        .expect("the ward's own node may write it");
    assert!(v.open(&r.kommun.0).is_err());
    // With a recipient (so sealed to another unit too), or plain, it is refused.
    let mut to_other = header.clone();
    to_other.recipients = vec![hsa("KOM1080")];
    let e = to_other
        .seal(&mut SeededRng::new("b"), &body, |u| {
            r.roster.unit(u).map(|x| x.encryption_key)
        })
        .expect("seal")
        .sign(node)
        .expect_err("an account event with a recipient");
    assert!(
        matches!(&e, Reject::Invalid(m) if m.contains("alone")),
        "{e:?}"
    );
    let e = header
        .plain(body)
        .sign(node)
        .expect_err("a plain account event");
    assert!(
        matches!(&e, Reject::Invalid(m) if m.contains("sealed")),
        "{e:?}"
    );
}

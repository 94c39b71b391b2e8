//! `install_roster`: a newer roster handed to the node (`node install-roster` while it runs),
//! put in force by the node if the trusted admin signed it.

use reservnod_proto::SignedRoster;
use serde::{Deserialize, Serialize};

use super::caller::Caller;
use super::common::audit;
use super::types::{refused, ApiError, CareNode};
use crate::store::AuditAction;

/// A roster installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterInstalled {
    /// Its version.
    pub version: u64,
    /// Whether it admits this node.
    pub admitted: bool,
}

pub(super) fn install_roster(
    node: &dyn CareNode,
    caller: &Caller,
    text: &str,
) -> Result<RosterInstalled, ApiError> {
    let bytes = data_encoding::BASE64
        .decode(text.trim().as_bytes())
        .map_err(|e| refused(format!("rostern kunde inte läsas (base64): {e}")))?;
    let signed = SignedRoster::from_file_bytes(&bytes)
        .map_err(|e| refused(format!("rostern kunde inte läsas: {e}")))?;
    let version = node.install_roster(&signed)?;
    audit(
        node,
        caller,
        AuditAction::RosterInstalled,
        None,
        None,
        &format!("roster version {version}"),
    )?;
    Ok(RosterInstalled {
        version,
        admitted: node.roster().is_admitted(&node.node_key().id()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testnode::*;
    use super::super::{roster_request, Request};
    use super::super::{CareNode, Reply};
    use super::*;

    #[test]
    fn a_newer_roster_by_the_admin_is_put_in_force_and_audited() {
        let ward = TestNode::new(Side::Ward);
        let version = ward.roster().version;
        let bytes = signed_roster(version + 1).to_file_bytes().expect("file");
        match ward.ask(roster_request(&bytes)) {
            Ok(Reply::RosterInstalled(r)) => {
                assert_eq!(
                    r,
                    RosterInstalled {
                        version: version + 1,
                        admitted: true
                    }
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ward.roster().version, version + 1);
        let log = ward.audit_log();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].action, AuditAction::RosterInstalled);
        assert_eq!(log[0].detail, format!("roster version {}", version + 1));
    }

    #[test]
    fn a_roster_that_does_not_read_or_is_not_newer_is_refused() {
        let ward = TestNode::new(Side::Ward);
        let version = ward.roster().version;
        let same = signed_roster(version).to_file_bytes().expect("file");
        ward.refuses(roster_request(&same), "rostern installerades inte");
        ward.refuses(
            Request::InstallRoster {
                roster: "inte base64!".into(),
            },
            "base64",
        );
        ward.refuses(roster_request(b"not a roster"), "rostern kunde inte läsas");
        assert_eq!(ward.roster().version, version);
    }
}

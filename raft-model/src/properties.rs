//! What the model checks: `always` properties (safety) after every step, and `sometimes`
//! properties showing each feature in the bound is actually reached.

use raftcore::Role;
use stateright::Property;

use crate::state::{is_voter, live_nodes, reached, ModelState, MEMBERSHIP_KIND, NORMAL_KIND};
use crate::{Bounds, RaftModel};

/// The properties checked under `bounds`.
pub(crate) fn properties(bounds: &Bounds) -> Vec<Property<RaftModel>> {
    let mut v = vec![
        Property::always("election safety", |_, s: &ModelState| {
            s.leaders.windows(2).all(|w| w[0].0 != w[1].0)
        }),
        Property::always("state machine safety", |_, s: &ModelState| !s.diverged),
        Property::always("linearizable register", |_, s: &ModelState| {
            s.history.serialized_history().is_some()
        }),
        Property::always("only voters campaign", |_, s: &ModelState| {
            // A node campaigns only as a voter of its configuration, or of the one
            // before while its configuration is uncommitted (thesis section 4.2.2).
            live_nodes(s).all(|st| {
                !matches!(st.role(), Role::Candidate | Role::PreCandidate)
                    || is_voter(st)
                    || st.membership_index() > st.commit()
            })
        }),
        Property::always(
            "a removed leader steps down at its first tick after the removal commits",
            |_, s: &ModelState| !s.removed_leader_stayed,
        ),
        Property::always("the driver contract holds", |_, s: &ModelState| {
            s.broken.is_none()
        }),
        Property::always(
            "a leader transferring leadership accepts no proposal",
            |_, s: &ModelState| !s.accepted_in_transfer,
        ),
    ];
    if !bounds.clients.is_empty() {
        v.push(Property::sometimes(
            "a value is committed",
            |_, s: &ModelState| s.applied.iter().any(|e| e.1 == NORMAL_KIND),
        ));
        v.push(Property::sometimes(
            "a client operation completes",
            |_, s: &ModelState| {
                s.history.len() > s.clients.iter().filter(|c| c.1.is_some()).count()
            },
        ));
    }
    if bounds.changes > 0 {
        v.push(Property::sometimes(
            "a membership change commits",
            |_, s: &ModelState| s.applied.iter().any(|e| e.1 == MEMBERSHIP_KIND),
        ));
    }
    if bounds.snapshots > 0 {
        v.push(Property::sometimes(
            "a follower installs a leader's snapshot",
            |_, s: &ModelState| s.reached & reached::SNAPSHOT_INSTALLED != 0,
        ));
    }
    if bounds.read_index && bounds.clients.iter().any(|c| c.contains(&None)) {
        v.push(Property::sometimes(
            "a read is answered through ReadIndex",
            |_, s: &ModelState| s.reached & reached::READ_INDEX_SERVED != 0,
        ));
    }
    if bounds.pre_vote {
        v.push(Property::sometimes(
            "a pre-candidate wins its PreVote round and campaigns",
            |_, s: &ModelState| s.reached & reached::PRE_VOTE_WON != 0,
        ));
    }
    if bounds.check_quorum {
        v.push(Property::sometimes(
            "a leader steps down by CheckQuorum",
            |_, s: &ModelState| s.reached & reached::CHECK_QUORUM_STEP_DOWN != 0,
        ));
        v.push(Property::sometimes(
            "a vote request is refused inside a leader's lease",
            |_, s: &ModelState| s.reached & reached::VOTE_REFUSED_IN_LEASE != 0,
        ));
    }
    if bounds.transfers > 0 {
        v.push(Property::sometimes(
            "a leadership transfer completes",
            |_, s: &ModelState| s.reached & reached::TRANSFER_DONE != 0,
        ));
    }
    v
}

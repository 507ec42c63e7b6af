//! What came back while a request was tried, and the error that tells a deadline's causes
//! apart: nothing sent, nothing came back, nothing authenticated, or no final answer.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::transport::DropReason;

/// Why a request got no final answer before the deadline (see [`ClientError::Failed`]).
///
/// [`ClientError::Failed`]: super::ClientError::Failed
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The request was never delivered to a node that could apply it: no attempt could be
    /// sent, or every node that answered refused it before proposing it (not the leader,
    /// busy). It was not applied; retrying is safe.
    NotSent,
    /// Attempts were sent and nothing at all came back (the nodes are down, or the addresses
    /// are wrong). A write may have been applied.
    NoReply,
    /// Datagrams came back but none authenticated: the key file differs from the cluster's,
    /// or an address names another node or service.
    NoAuthenticatedReply {
        /// The last node address that refused this client's datagrams with a refusal notice,
        /// and why.
        refused_by: Option<(SocketAddr, DropReason)>,
    },
    /// Nodes answered, but the request's own answer did not come: it may have been applied
    /// (e.g. proposed by a leader that then lost its majority).
    OutcomeUnknown,
}

/// What the attempts of one request met, kept by the client as it tries the nodes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attempts {
    /// Attempts handed to the socket.
    pub(crate) sent: u32,
    /// Sent attempts whose answer never came, or was not final (the request may have been
    /// proposed).
    pub(crate) open: u32,
    /// Datagrams received that authenticated.
    pub(crate) authenticated: u32,
    /// Datagrams received that did not.
    pub(crate) unauthenticated: u32,
    /// The last refusal notice.
    pub(crate) refused_by: Option<(SocketAddr, DropReason)>,
    /// The last thing that went wrong, for the message.
    pub(crate) last: String,
}

impl Attempts {
    /// Starts over for a new request.
    pub(crate) fn reset(&mut self) {
        *self = Attempts {
            last: "no attempt".into(),
            ..Attempts::default()
        };
    }

    /// Why the attempts so far got no final answer.
    pub(crate) fn failure(&self) -> Failure {
        if self.sent == 0 {
            Failure::NotSent
        } else if self.authenticated == 0 && self.unauthenticated == 0 {
            Failure::NoReply
        } else if self.authenticated == 0 {
            Failure::NoAuthenticatedReply {
                refused_by: self.refused_by,
            }
        } else if self.open == 0 {
            Failure::NotSent
        } else {
            Failure::OutcomeUnknown
        }
    }
}

/// [`Failure`] with the time waited and the last problem, as [`ClientError::Failed`] shows it.
///
/// [`ClientError::Failed`]: super::ClientError::Failed
pub(crate) fn describe(
    f: &mut fmt::Formatter<'_>,
    failure: &Failure,
    waited: Duration,
    last: &str,
) -> fmt::Result {
    let secs = waited.as_secs_f64();
    match failure {
        Failure::NotSent => write!(
            f,
            "not sent: no node took the request within {secs:.1} s, so it was not applied \
             (last: {last})"
        ),
        Failure::NoReply => write!(
            f,
            "no reply from any node within {secs:.1} s: are the nodes running at these \
             addresses? A write may have been applied (last: {last})"
        ),
        Failure::NoAuthenticatedReply { refused_by } => {
            write!(
                f,
                "no authenticated reply within {secs:.1} s: check the key file and addresses"
            )?;
            match refused_by {
                Some((addr, reason)) => write!(
                    f,
                    " (the node at {addr} refused this client's datagrams: {reason}, {})",
                    reason.hint()
                ),
                None => write!(f, " (last: {last})"),
            }
        }
        Failure::OutcomeUnknown => write!(
            f,
            "outcome unknown: no answer within {secs:.1} s, the request may have been applied \
             (last: {last})"
        ),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn what_came_back_decides_the_failure() {
        let mut a = Attempts::default();
        a.reset();
        assert_eq!(a.failure(), Failure::NotSent);
        a.sent = 2;
        a.open = 2;
        assert_eq!(a.failure(), Failure::NoReply);
        a.unauthenticated = 1;
        assert!(matches!(a.failure(), Failure::NoAuthenticatedReply { .. }));
        a.authenticated = 1;
        assert_eq!(a.failure(), Failure::OutcomeUnknown);
        a.open = 0;
        assert_eq!(a.failure(), Failure::NotSent);
    }
}

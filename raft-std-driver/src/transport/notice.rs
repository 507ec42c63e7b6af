//! The refusal notice: what a node sends back, unsealed, to an address whose datagram failed
//! authentication, so that a client with the wrong key file (or the wrong addresses) can say
//! so instead of waiting out its deadline as if the cluster were down.
//!
//! ```text
//! [NOTICE_MAGIC u8 = 0xA0][reason u8: index in DropReason::ALL]
//! ```
//!
//! Two bytes: never larger than the datagram it answers (at least [`OVERHEAD`](super::OVERHEAD)
//! bytes), and sent at most once per address per [`REPORT_INTERVAL`](super::REPORT_INTERVAL),
//! so it cannot amplify traffic. A notice is itself refused as `Malformed` and never answered,
//! so two nodes with different keys cannot bounce notices. It is not authenticated: a forged
//! one can only change what a client's error message suggests.

use super::DropReason;

/// First byte of a refusal notice (a sealed datagram starts with
/// [`MAGIC_VERSION`](super::MAGIC_VERSION)).
pub const NOTICE_MAGIC: u8 = 0xA0;

/// The notice for `reason`, if that refusal is one a misconfigured sender would meet: a bad
/// tag (wrong key), an unknown sender id, or a known id from another address.
pub fn notice_for(reason: DropReason) -> Option<[u8; 2]> {
    let index = DropReason::ALL.iter().position(|&r| r == reason)?;
    matches!(
        reason,
        DropReason::BadTag | DropReason::UnknownPeer | DropReason::AddressMismatch
    )
    .then_some([NOTICE_MAGIC, index as u8])
}

/// The reason a datagram that is a refusal notice gives; `None` if it is not one.
pub fn read_notice(datagram: &[u8]) -> Option<DropReason> {
    match datagram {
        [NOTICE_MAGIC, index] => DropReason::ALL.get(usize::from(*index)).copied(),
        _ => None,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn notices_round_trip_and_only_for_misconfiguration() {
        for r in DropReason::ALL {
            match notice_for(r) {
                Some(n) => assert_eq!(read_notice(&n), Some(r)),
                None => assert!(!matches!(r, DropReason::BadTag)),
            }
        }
        assert_eq!(notice_for(DropReason::Replayed), None);
        assert_eq!(notice_for(DropReason::Malformed), None);
        assert_eq!(read_notice(&[NOTICE_MAGIC, 200]), None);
        assert_eq!(read_notice(&[NOTICE_MAGIC, 2, 0]), None);
    }
}

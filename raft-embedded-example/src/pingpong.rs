//! Two tasks exchanging numbered balls over bounded channels, with a delay on each hop.

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::{with_timeout, Duration, Instant, Timer};

/// Capacity of each direction: small on purpose, the exchange is strictly alternating.
pub const MAILBOX_DEPTH: usize = 2;

/// One direction of the exchange.
pub type Mailbox = Channel<CriticalSectionRawMutex, Ball, MAILBOX_DEPTH>;

/// How long the server holds a ball before returning it.
pub const HOLD: Duration = Duration::from_millis(3);

/// How long the client waits for a ball to come back before it calls the run failed.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(200);

/// The message: a sequence number the server increments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ball {
    /// Incremented by one on every hop.
    pub seq: u32,
}

/// Why a ping-pong run failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Failure {
    /// No reply within [`REPLY_TIMEOUT`] for this round.
    Timeout {
        /// The round that timed out.
        round: u32,
    },
    /// A reply carried an unexpected sequence number.
    WrongSeq {
        /// The number the client expected.
        expected: u32,
        /// The number it got.
        got: u32,
    },
    /// The rounds were faster than the server's hold time allows: the timer did not wait.
    TooFast {
        /// Milliseconds the whole run took.
        elapsed_ms: u64,
    },
}

/// What a successful run measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report {
    /// Rounds completed.
    pub rounds: u32,
    /// Milliseconds the run took (at least `rounds * HOLD`).
    pub elapsed_ms: u64,
}

/// The server: returns every ball it receives, incremented, after holding it for [`HOLD`].
pub async fn server(inbox: &Mailbox, outbox: &Mailbox) -> ! {
    loop {
        let ball = inbox.receive().await;
        Timer::after(HOLD).await;
        outbox
            .send(Ball {
                seq: ball.seq.wrapping_add(1),
            })
            .await;
    }
}

/// The client: sends `rounds` balls one at a time and checks each reply and the elapsed time.
pub async fn client(outbox: &Mailbox, inbox: &Mailbox, rounds: u32) -> Result<Report, Failure> {
    let start = Instant::now();
    for round in 0..rounds {
        let seq = round * 2;
        outbox.send(Ball { seq }).await;
        let reply = with_timeout(REPLY_TIMEOUT, inbox.receive())
            .await
            .map_err(|_| Failure::Timeout { round })?;
        if reply.seq != seq + 1 {
            return Err(Failure::WrongSeq {
                expected: seq + 1,
                got: reply.seq,
            });
        }
        debug!("round {} ok", round);
    }
    let elapsed_ms = start.elapsed().as_millis();
    if elapsed_ms < u64::from(rounds) * HOLD.as_millis() {
        return Err(Failure::TooFast { elapsed_ms });
    }
    info!("ping-pong: {} rounds in {} ms", rounds, elapsed_ms);
    Ok(Report { rounds, elapsed_ms })
}

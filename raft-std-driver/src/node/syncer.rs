//! The node's sync thread: it runs the WAL's fdatasyncs ([`SyncJob`]) while the loop goes on
//! receiving, stepping, appending and sending, and wakes the loop when one is done.
//!
//! One job is in flight at a time. The turns that end while it runs leave their appends in the
//! WAL (buffered or written, readable, not durable); the first turn after the job is back finishes it
//! (`Input::Persisted` for what it covered) and hands the next batch, all those turns' appends
//! at once, to the thread. So the loop never waits on the disk, and the disk never idles while
//! appends wait: a leader takes new requests and sends them to the followers during its own
//! fsync, where a sync on the loop thread held them until it was over.
//!
//! That pays only while requests overlap. With one request at a time (one client, or a
//! follower fed one entry per round trip) nothing arrives during the fsync, and the hand-off
//! to the thread and back costs a wake-up each way and a few system calls for nothing. So a
//! batch of at most [`INLINE_MAX_ENTRIES`] new entries is synced on the loop's thread.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::handle::Waker;
use crate::storage::SyncJob;

/// A job for the thread: the engine's persist sequence number it covers, and the fsync.
type Job = (u64, SyncJob);

/// A sync batch of at most this many new entries runs on the loop's thread.
pub(super) const INLINE_MAX_ENTRIES: u64 = 1;

/// The sync thread and the job in flight.
pub(super) struct Syncer {
    jobs: Option<Sender<Job>>,
    done: Receiver<Job>,
    thread: Option<JoinHandle<()>>,
    in_flight: bool,
    /// The log's last index when the previous sync began.
    synced_to: u64,
}

impl Syncer {
    /// Starts node `id`'s sync thread; it wakes the loop through `waker` after each job.
    pub(super) fn start(id: u64, waker: Arc<Waker>) -> io::Result<Syncer> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (tx, done) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name(format!("raft-sync-{id}"))
            .spawn(move || {
                for (seq, mut job) in rx {
                    job.run();
                    if tx.send((seq, job)).is_err() {
                        break;
                    }
                    waker.wake();
                }
            })?;
        Ok(Syncer {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            in_flight: false,
            synced_to: 0,
        })
    }

    /// Whether a job is in flight.
    pub(super) fn busy(&self) -> bool {
        self.in_flight
    }

    /// Hands `job` (covering persists up to `seq`) to the thread. Call only when not
    /// [`busy`](Syncer::busy).
    pub(super) fn submit(&mut self, seq: u64, job: SyncJob) -> io::Result<()> {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|j| j.send((seq, job)).is_ok());
        if !sent {
            return Err(io::Error::other("the sync thread has exited"));
        }
        self.in_flight = true;
        Ok(())
    }

    /// Whether the sync about to begin, the log ending at `last_index`, should run on the
    /// loop's thread (see the module docs).
    pub(super) fn inline(&mut self, last_index: u64) -> bool {
        let batch = last_index.saturating_sub(self.synced_to);
        self.synced_to = last_index;
        batch <= INLINE_MAX_ENTRIES
    }

    /// The job in flight, if it is done (never blocks).
    pub(super) fn try_done(&mut self) -> io::Result<Option<Job>> {
        self.take(false)
    }

    /// The job in flight once it is done, waiting for it; `None` if there is none.
    pub(super) fn wait(&mut self) -> io::Result<Option<Job>> {
        self.take(true)
    }

    /// The job in flight if it is done, waiting for it if `block`.
    fn take(&mut self, block: bool) -> io::Result<Option<Job>> {
        if !self.in_flight {
            return Ok(None);
        }
        let got = if block {
            self.done.recv().map_err(|_| TryRecvError::Disconnected)
        } else {
            self.done.try_recv()
        };
        match got {
            Ok(job) => {
                self.in_flight = false;
                Ok(Some(job))
            }
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(io::Error::other(
                "the sync thread exited with a job in flight",
            )),
        }
    }
}

impl Drop for Syncer {
    /// Closes the job channel and waits for the thread (it finishes a job in flight first).
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! Group commit with the fsync off the caller's thread: [`Wal::begin_sync`] writes the
//! buffered records and their seal, and hands back a [`SyncJob`] holding a second handle to the
//! segment; another thread runs the job's fdatasync ([`SyncJob::run`]) while the caller goes on
//! appending (later records land past the seal, and are not claimed durable); then
//! [`Wal::finish_sync`] takes the job back and records what it made durable.
//!
//! The second handle is the segment opened again, a file description of its own, not a
//! duplicate of the first: Linux reports a failed writeback once per open file description,
//! so with a shared one a synchronous sync on the caller's thread could take the job's error
//! and return success. Each description sees the error.
//!
//! Everything that is not a plain batch keeps the synchronous path ([`Wal::sync`]): a batch
//! that fills the segment (the roll to a new segment must follow the sync of everything in
//! the old one, so that only the last segment can hold unsynced records), and a segment that
//! cannot be opened again. When the job's batch changed the term or vote, the hard-state
//! copies get the hard state of that batch (not a newer one appended since, which is not
//! durable yet) with the offset the job made durable, once the job is finished.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Wal, SEAL};
use crate::storage::record::Record;
use crate::storage::{FileHandle, HardState, StorageError};

/// An fdatasync of one sealed batch of the current segment, to run on another thread.
pub struct SyncJob {
    file: Box<dyn FileHandle>,
    path: PathBuf,
    /// The segment's sequence number.
    segment: u64,
    /// The end of the batch's seal: the job makes the segment durable up to here.
    end: u64,
    /// The hard state as of the batch (the newest the job makes durable).
    hard_state: HardState,
    outcome: Option<io::Result<()>>,
    took: Duration,
}

impl std::fmt::Debug for SyncJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncJob")
            .field("path", &self.path)
            .field("end", &self.end)
            .field("outcome", &self.outcome)
            .finish()
    }
}

impl SyncJob {
    /// Runs the fdatasync (blocking), timing it. Run it once, then hand the job to
    /// [`Wal::finish_sync`].
    pub fn run(&mut self) {
        let start = Instant::now();
        self.outcome = Some(self.file.sync());
        self.took = start.elapsed();
    }

    /// How long [`SyncJob::run`] took.
    pub fn took(&self) -> Duration {
        self.took
    }

    /// The byte of the segment up to which the job makes it durable.
    #[cfg(test)]
    pub(crate) fn end(&self) -> u64 {
        self.end
    }
}

/// What [`Wal::begin_sync`] did.
#[derive(Debug)]
pub enum SyncStart {
    /// Everything appended was durable already: nothing written, nothing synced.
    Clean,
    /// Everything appended was made durable on the caller's thread (the synchronous path,
    /// see the module docs).
    Synced,
    /// The batch is written and sealed; run the job, then [`Wal::finish_sync`] it.
    Begun(SyncJob),
}

impl Wal {
    /// Writes the buffered records and a seal after them, and returns the fdatasync that makes
    /// them durable as a job for another thread; or makes them durable here where a batch
    /// needs the synchronous path (see the module docs). Appends may go on while the job
    /// runs; one job at a time: until it is finished, call [`Wal::sync`] (which syncs
    /// everything) rather than this.
    pub fn begin_sync(&mut self) -> Result<SyncStart, StorageError> {
        self.check()?;
        if self.pending.is_empty() && self.written == self.sealed {
            return Ok(SyncStart::Clean);
        }
        let end = self.written + self.pending.len() as u64 + SEAL;
        if end >= self.opts.segment_bytes {
            self.sync()?;
            return Ok(SyncStart::Synced);
        }
        let segment = self.segments[self.segments.len() - 1].seq;
        let file = match self.sync_file.take() {
            Some((seq, file)) if seq == segment => file,
            _ => match self.io.open(&self.current_path(), false) {
                Ok(file) => file,
                Err(_) => {
                    self.sync()?;
                    return Ok(SyncStart::Synced);
                }
            },
        };
        self.make_room(self.pending.len() as u64)?;
        Record::Seal {
            capacity: self.capacity,
        }
        .encode_framed(&mut self.pending);
        self.flush()?;
        Ok(SyncStart::Begun(SyncJob {
            file,
            path: self.current_path(),
            segment,
            end: self.written,
            hard_state: self.hard_state,
            outcome: None,
            took: Duration::ZERO,
        }))
    }

    /// Takes back a job [`Wal::begin_sync`] returned, after it ran: a failed fdatasync stops
    /// the WAL (fail-stop, as [`Wal::sync`]); otherwise the batch counts as durable, and the
    /// hard-state copies get the batch's hard state if its term or vote changed. A segment
    /// that grew full meanwhile is synced and rolled here.
    pub fn finish_sync(&mut self, job: SyncJob) -> Result<(), StorageError> {
        let current = self.segments[self.segments.len() - 1].seq;
        match job.outcome {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(self.poison(StorageError::io("fsync", job.path, e))),
            None => {
                let e = io::Error::other("the sync job was never run");
                return Err(self.poison(StorageError::io("fsync", job.path, e)));
            }
        }
        self.check()?;
        if self.written >= self.opts.segment_bytes {
            // Full: sync everything and roll (the copies get the newest hard state there).
            return self.sync();
        }
        // A synchronous sync since may have rolled to another segment, or sealed further
        // (and then written the copies with a newer hard state already).
        if job.segment != current || job.end < self.sealed {
            return Ok(());
        }
        self.sealed = job.end;
        self.sync_file = Some((current, job.file));
        if self.differs_from_copies(job.hard_state) {
            self.write_mark_of(job.hard_state)?;
        }
        Ok(())
    }
}

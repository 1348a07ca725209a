//! Reads give way to writes: while a write runs, reads may use every core but one.
//!
//! Writes take turns (one at a time holds the writer connection), and a write is a few dozen
//! statements one after the other (32 for a `device_update` with its change-log row), each a
//! round trip to the writer connection's thread. Beside 32 clients reading, every one of those
//! wake-ups waited for a core behind the readers' threads and tasks, and a writer that managed
//! about 500 writes a second alone managed 27–62. So while a write holds its turn
//! ([`Store::write_running`]), a new read waits at this gate, in the order reads came, until fewer
//! than `cores - 1` (at least one) reads admitted by the gate are loading their answer: the reads
//! already running finish, and a core stays free for the write. Reads never stop (a long bulk
//! write still lets them through), writes that only wait for their turn hold nothing back, and
//! the moment no write runs reads pass freely again: with no writes the gate is one atomic load.
//!
//! Only on SQLite: there the write's statements run on a thread of this process and a read is
//! CPU work here, so a free core is what the write needs. On PostgreSQL and MySQL the database
//! server runs the statements in its own processes and a read mostly waits on round trips; the
//! gate cost reads there about 45 % of their rate and doubled their p99 beside a writer (1,000
//! devices, 32 readers: 1,890–2,300 → 960–1,330 reads/s, p99 30–41 → 78–81 ms) for 2× the writes.

use ferrobot_persistence::{Backend, Store};
use tokio::sync::{Semaphore, SemaphorePermit};

pub(crate) struct Admission {
    /// The reads that may load at once while a write runs.
    reads: Semaphore,
    /// Threads for writes ([`crate::execute`] runs each write on one): writes take turns
    /// anyway, so one runs and one waits ready; the rest wait here as tasks, not as parked
    /// threads. One per server (a process serves one; servers sharing a process, as tests
    /// start them, must not wait for each other's writes).
    write_threads: std::sync::Arc<Semaphore>,
}

/// The threads for writes one server keeps.
pub(crate) const WRITE_THREADS: usize = 2;

/// A thread for a write from `threads` (a server's, [`Admission::write_threads`]), waited for as
/// long as a write waits for its turn (then `BUSY`).
pub(crate) async fn write_thread(
    threads: &std::sync::Arc<Semaphore>,
    store: &Store,
) -> Result<tokio::sync::OwnedSemaphorePermit, ferrobot_persistence::StoreError> {
    match tokio::time::timeout(store.write_wait(), threads.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(e)) => Err(ferrobot_persistence::StoreError::Internal(e.to_string())),
        Err(_) => Err(store.busy()),
    }
}

impl Admission {
    /// Every core but one (at least one) for reads while a write runs.
    pub(crate) fn new() -> Admission {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Admission::with_reads(cores.saturating_sub(1))
    }

    /// The server's threads for writes.
    pub(crate) fn write_threads(&self) -> std::sync::Arc<Semaphore> {
        self.write_threads.clone()
    }

    pub(crate) fn with_reads(reads: usize) -> Admission {
        Admission {
            reads: Semaphore::new(reads.max(1)),
            write_threads: std::sync::Arc::new(Semaphore::new(WRITE_THREADS)),
        }
    }

    /// Waits for a read's turn while a write runs; the permit is held until the answer is
    /// loaded (its rendering is not held back).
    pub(crate) async fn read(&self, store: &Store) -> Option<SemaphorePermit<'_>> {
        if store.backend() != Backend::Sqlite || !store.write_running() {
            return None;
        }
        self.reads.acquire().await.ok()
    }
}

//! The single SQLite writer thread and its group commit.
//!
//! SQLite allows one writer at a time, so every write goes through one
//! thread that owns the write connection. Jobs arrive on a bounded channel;
//! the thread takes whatever is queued (up to `max_batch`), runs each job in
//! its own SAVEPOINT inside one transaction, commits once, and only then
//! tells each job's caller the outcome. One fsync thus covers many writes,
//! and no caller hears "done" before its data is durable.
//!
//! A std thread (not a tokio task) because every call on the connection
//! blocks; the bounded tokio channel lets async callers either wait for room
//! (`send`) or fail fast with `Overloaded` (`try_send`).

use crate::{Result, StorageError};
use lookout_metrics::{Histogram, LATENCY_BUCKETS};
use lookout_model::errors::{EventResult, IngestBatch};
use rusqlite::Connection;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Called once the batch holding the job has committed (or failed to).
pub(crate) type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

/// What a job's body reports: whether its savepoint should be kept, and
/// what to tell its caller after the commit.
pub(crate) struct JobOutcome {
    keep: bool,
    done: Completion,
}

/// One unit of work for the writer thread. It is called with `None` when
/// the writer cannot run it (the transaction failed to begin), so that it
/// can tell its caller.
pub(crate) type Job = Box<dyn FnOnce(Option<&Connection>) -> JobOutcome + Send>;

/// Where an envelope's results go once its commit is durable.
pub(crate) type IngestReply = oneshot::Sender<Result<Vec<EventResult>>>;

/// What the writer thread receives.
pub(crate) enum Msg {
    /// A generic write.
    Job(Job),
    /// An envelope's records. Envelopes of one commit are written together
    /// so their additive counters are aggregated (see `ingest.rs`).
    Ingest(Box<IngestBatch>, IngestReply),
}

/// Wraps a closure returning `Result<T>` into a job plus the receiver its
/// caller awaits.
pub(crate) fn job<T: Send + 'static>(
    f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
) -> (Job, oneshot::Receiver<Result<T>>) {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn| match conn.map(f) {
        None => JobOutcome {
            keep: false,
            done: Box::new(move |why| {
                let why = why.err().unwrap_or_else(|| "write not run".into());
                let _ = tx.send(Err(StorageError::Backend(why)));
            }),
        },
        Some(Ok(v)) => JobOutcome {
            keep: true,
            done: Box::new(move |committed| {
                let _ = tx.send(committed.map(|()| v).map_err(StorageError::Backend));
            }),
        },
        Some(Err(e)) => JobOutcome {
            keep: false,
            done: Box::new(move |_| {
                let _ = tx.send(Err(e));
            }),
        },
    });
    (job, rx)
}

pub(crate) struct WriterMetrics {
    pub commit_seconds: Histogram,
    pub batch_size: Histogram,
}

impl WriterMetrics {
    pub(crate) fn new() -> Self {
        let r = lookout_metrics::global();
        WriterMetrics {
            commit_seconds: r
                .histogram_vec(
                    "lookout_storage_commit_duration_seconds",
                    "Time to run and commit one group of writes.",
                    &["backend"],
                    LATENCY_BUCKETS,
                )
                .with(&["sqlite"]),
            batch_size: r
                .histogram_vec(
                    "lookout_storage_commit_batch_size",
                    "Writes grouped into one commit.",
                    &["backend"],
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                )
                .with(&["sqlite"]),
        }
    }
}

/// Runs the writer loop until every sender is dropped and the queue is
/// drained.
pub(crate) fn run(conn: Connection, mut rx: mpsc::Receiver<Msg>, max_batch: usize) {
    let metrics = WriterMetrics::new();
    let mut jobs: Vec<Job> = Vec::with_capacity(max_batch);
    let mut envelopes: Vec<(Box<IngestBatch>, IngestReply)> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        let mut take = |m: Msg| match m {
            Msg::Job(j) => jobs.push(j),
            Msg::Ingest(b, r) => envelopes.push((b, r)),
        };
        take(first);
        let mut n = 1;
        while n < max_batch {
            match rx.try_recv() {
                Ok(m) => {
                    take(m);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        let started = Instant::now();
        metrics.batch_size.observe(n as f64);
        commit_batch(&conn, &mut jobs, &mut envelopes);
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
    }
    tracing::debug!("storage writer drained and stopped");
}

fn commit_batch(
    conn: &Connection,
    batch: &mut Vec<Job>,
    envelopes: &mut Vec<(Box<IngestBatch>, IngestReply)>,
) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = format!("cannot begin a write transaction: {e}");
        tracing::error!(error = %e, "storage write transaction failed to begin");
        for job in batch.drain(..) {
            let outcome = job(None);
            (outcome.done)(Err(msg.clone()));
        }
        for (_, reply) in envelopes.drain(..) {
            let _ = reply.send(Err(StorageError::Backend(msg.clone())));
        }
        return;
    }
    let mut completions: Vec<Completion> = Vec::with_capacity(batch.len() + 1);
    for job in batch.drain(..) {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            let outcome = job(None);
            let msg = format!("cannot open a savepoint: {e}");
            completions.push(Box::new(move |_| (outcome.done)(Err(msg))));
            continue;
        }
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| job(Some(conn))));
        match outcome {
            Ok(JobOutcome { keep: true, done }) => {
                let _ = conn.execute_batch("RELEASE job");
                completions.push(done);
            }
            Ok(JobOutcome { keep: false, done }) => {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
                completions.push(done);
            }
            Err(_) => {
                tracing::error!("a storage write job panicked; its changes were rolled back");
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
        }
    }
    if !envelopes.is_empty() {
        let (batches, replies): (Vec<Box<IngestBatch>>, Vec<IngestReply>) =
            envelopes.drain(..).unzip();
        let written = conn
            .execute_batch("SAVEPOINT ingest")
            .map_err(StorageError::from)
            .and_then(|()| {
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    super::ingest::write_batches(conn, &batches)
                }))
                .unwrap_or_else(|_| Err(StorageError::Backend("ingest write panicked".into())))
            });
        let results = match written {
            Ok(r) => {
                let _ = conn.execute_batch("RELEASE ingest");
                Ok(r)
            }
            Err(e) => {
                tracing::error!(error = %e, "storing a group of envelopes failed");
                let _ = conn.execute_batch("ROLLBACK TO ingest; RELEASE ingest");
                Err(e.to_string())
            }
        };
        completions.push(Box::new(move |committed: Result<(), String>| {
            match (committed, results) {
                (Ok(()), Ok(results)) => {
                    for (reply, r) in replies.into_iter().zip(results) {
                        let _ = reply.send(r);
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    for reply in replies {
                        let _ = reply.send(Err(StorageError::Backend(e.clone())));
                    }
                }
            }
        }));
    }
    let result = conn.execute_batch("COMMIT").map_err(|e| {
        tracing::error!(error = %e, "storage commit failed");
        let _ = conn.execute_batch("ROLLBACK");
        format!("commit failed: {e}")
    });
    for done in completions {
        done(result.clone());
    }
}

//! WAL checkpoints off the commit path. SQLite's automatic checkpoint runs
//! inside the commit that crosses its threshold, so about one transition in
//! a hundred paid for copying a thousand pages into the database file and
//! syncing it: that was the transitions' p99. Here the writing connection
//! does not checkpoint by itself. A thread with its own connection copies
//! the WAL into the database (a passive checkpoint, which never blocks a
//! writer) every few commits; now and then the writer checkpoints the few
//! frames the thread has not reached, so that its next write starts the
//! WAL over instead of growing it (SQLite restarts the WAL only in a write
//! that begins when every frame is in the database file). SQLite folds in
//! the rest when the last connection closes.

use std::path::Path;
use std::sync::mpsc::{self, SyncSender};
use std::thread::JoinHandle;

use rusqlite::Connection;

/// Commits between two background checkpoints.
const COMMITS_PER_CHECKPOINT: u32 = 32;

/// Commits between two checkpoints by the writer itself: rarer than one in
/// a hundred, and each copies only what the thread has not.
const COMMITS_PER_RESTART: u32 = 128;

pub(crate) struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    commits: u32,
}

impl Checkpointer {
    /// Starts the thread for the database at `path`; `None` if it cannot
    /// (then the writer keeps SQLite's automatic checkpoint).
    pub(crate) fn start(path: &Path) -> Option<Checkpointer> {
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).ok()?;
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                while nudged.recv().is_ok() {
                    // A failed checkpoint is tried again at the next nudge;
                    // the data is safe in the WAL meanwhile.
                    let _ = passive(&conn);
                }
            })
            .ok()?;
        Some(Checkpointer {
            nudge: Some(nudge),
            thread: Some(thread),
            commits: 0,
        })
    }

    /// After a commit of the writer `conn`.
    pub(crate) fn committed(&mut self, conn: &Connection) {
        self.commits = (self.commits + 1) % COMMITS_PER_RESTART;
        if self.commits == 0 {
            // As above: the next nudge or the next restart tries again.
            let _ = passive(conn);
        } else if self.commits.is_multiple_of(COMMITS_PER_CHECKPOINT) {
            if let Some(n) = &self.nudge {
                // Full: a checkpoint is pending already.
                let _ = n.try_send(());
            }
        }
    }
}

fn passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.nudge.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

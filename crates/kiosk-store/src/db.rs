use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use crate::audit_key::{AuditKey, AuditKeyer, KeyState};
use crate::checkpoint::Checkpointer;
use crate::journal::{self, Actor};
use crate::migrations::MIGRATIONS;
use crate::StoreError;

/// The schema version this binary writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An open station database.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    station_id: String,
    pub(crate) key: KeyState,
    checkpointer: Option<Checkpointer>,
    /// Orders' personal-data keys (`personal.rs`).
    pub(crate) personal: crate::personal::Keys,
}

impl Store {
    /// Opens (creating and migrating when needed) the database at `path`.
    /// `now` stamps a newly created station.
    pub fn open(path: &Path, now: DateTime<Utc>) -> Result<Store, StoreError> {
        let open = || -> Result<Store, StoreError> {
            let conn = Connection::open(path)?;
            configure(&conn)?;
            let mut store = Store {
                conn,
                path: path.to_path_buf(),
                station_id: String::new(),
                key: KeyState::Unkeyed,
                checkpointer: None,
                personal: Default::default(),
            };
            store.migrate(now)?;
            store.checkpointer = Checkpointer::start(path);
            if store.checkpointer.is_some() {
                store.conn.execute_batch("PRAGMA wal_autocheckpoint = 0")?;
            }
            store.station_id = store
                .conn
                .query_row("SELECT station_id FROM station", [], |r| r.get(0))?;
            Ok(store)
        };
        open().map_err(|e| e.at(path))
    }

    /// Opens an existing database for reading only; `None` if there is none.
    pub fn open_read_only(path: &Path) -> Result<Option<Store>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let open = |conn: rusqlite::Result<Connection>| -> Result<Store, StoreError> {
            let conn = conn?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            check_version(&conn)?;
            let station_id = conn.query_row("SELECT station_id FROM station", [], |r| r.get(0))?;
            Ok(Store {
                conn,
                path: path.to_path_buf(),
                station_id,
                key: KeyState::Unkeyed,
                checkpointer: None,
                personal: Default::default(),
            })
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        match open(Connection::open_with_flags(path, flags)).map_err(|e| e.at(path)) {
            // A WAL database on a read-only mount cannot make its shared-memory
            // file; nothing can write there either, so it is safe to read it
            // as immutable.
            Err(StoreError::ReadOnly(_)) => {
                let uri = format!("file:{}?immutable=1", uri_escape(path));
                open(Connection::open_with_flags(
                    uri,
                    flags | OpenFlags::SQLITE_OPEN_URI,
                ))
                .map(Some)
                .map_err(|e| e.at(path))
            }
            other => other.map(Some),
        }
    }

    /// `PRAGMA user_version`: the schema this database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Whether SQLite's `PRAGMA integrity_check` finds nothing wrong.
    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let said: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(said == "ok")
    }

    pub fn station_id(&self) -> &str {
        &self.station_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keys the audit rows this store writes from now on (see
    /// [`AuditKey`]): `keyer` is asked once, before the first write.
    pub fn set_audit_keyer(&mut self, keyer: AuditKeyer) {
        self.key = KeyState::NotAsked(keyer);
    }

    /// The epoch of the key this store's rows carry, once asked.
    pub fn audit_epoch(&self) -> Option<&str> {
        match &self.key {
            KeyState::Keyed(k) => Some(k.epoch()),
            _ => None,
        }
    }

    /// Asks the keyer now (when installed and not asked yet) rather than
    /// at the next write.
    pub fn prime_audit_key(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.ask_audit_key(now).map_err(|e| e.at(&self.path))
    }

    /// Asks the keyer, the first time, for this process's epoch key.
    fn ask_audit_key(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        if let KeyState::NotAsked(_) = self.key {
            let KeyState::NotAsked(mut keyer) = std::mem::replace(&mut self.key, KeyState::Unkeyed)
            else {
                unreachable!("matched above")
            };
            let epoch = journal::new_id(now);
            let next_seq = self.audit_head()?.0 + 1;
            match keyer(&epoch, next_seq) {
                Ok(Some(key)) => self.key = KeyState::Keyed(AuditKey::new(epoch, key)),
                // Asked again at the next write: the station token may be
                // set up meanwhile (by another process).
                Ok(None) => self.key = KeyState::NotAsked(keyer),
                Err(refused) => {
                    // Asked again at the next write: the token may be back.
                    self.key = KeyState::NotAsked(keyer);
                    return Err(StoreError::Rejected(refused));
                }
            }
        }
        Ok(())
    }

    /// Runs `f` in one immediate transaction; `f` gets a [`journal::Writer`]
    /// that records outbox and audit rows in the same transaction.
    pub fn write<T>(
        &mut self,
        actor: &Actor,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut journal::Writer<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let run = || -> Result<T, StoreError> {
            self.ask_audit_key(now)?;
            let key = match &self.key {
                KeyState::Keyed(k) => Some(k),
                _ => None,
            };
            let out = {
                let tx = self
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut w = journal::Writer {
                    tx,
                    actor,
                    now,
                    key,
                    station: &self.station_id,
                    personal: &self.personal,
                };
                let out = f(&mut w)?;
                w.tx.commit()?;
                out
            };
            if let Some(c) = &mut self.checkpointer {
                c.committed(&self.conn);
            }
            Ok(out)
        };
        run().map_err(|e| e.at(&path))
    }

    /// Size of the database file and its WAL, in bytes.
    pub fn size_bytes(&self) -> Result<u64, StoreError> {
        let pages: u64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: u64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(pages * size)
    }

    /// Folds the WAL back into the main file.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
        Ok(())
    }

    fn migrate(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        check_version(&self.conn)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Checked again inside the lock: another process may have upgraded.
        check_version(&tx)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 name TEXT PRIMARY KEY, sha256 TEXT NOT NULL, applied_at TEXT NOT NULL)",
        )?;
        for (name, sql) in MIGRATIONS {
            let digest = hex::encode(Sha256::digest(sql.as_bytes()));
            let applied: Option<String> = tx
                .query_row(
                    "SELECT sha256 FROM schema_migrations WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .map(Some)
                .or_else(|e| {
                    if e == rusqlite::Error::QueryReturnedNoRows {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                })?;
            match applied {
                Some(d) if d == digest => {}
                Some(_) => {
                    return Err(StoreError::MigrationChanged {
                        name: name.to_string(),
                    })
                }
                None => {
                    tx.execute_batch(sql)?;
                    tx.execute(
                        "INSERT INTO schema_migrations (name, sha256, applied_at) VALUES (?1, ?2, ?3)",
                        (name, &digest, ts(now)),
                    )?;
                }
            }
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        init_station(&tx, now)?;
        tx.commit()?;
        Ok(())
    }
}

/// Escapes the characters that end a path inside an SQLite URI.
fn uri_escape(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL keeps readers off the writer's back; FULL makes each commit
    // durable across power loss, not only across a crash of the process.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    debug_assert_eq!(mode.to_ascii_lowercase(), "wal");
    // secure_delete: what a purge frees is overwritten, not left in free
    // pages for `strings` to find.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
    )?;
    Ok(())
}

fn check_version(conn: &Connection) -> Result<(), StoreError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn init_station(tx: &Transaction<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    let exists: i64 = tx.query_row("SELECT count(*) FROM station", [], |r| r.get(0))?;
    if exists == 0 {
        tx.execute(
            "INSERT INTO station (id, station_id, created_at) VALUES (1, ?1, ?2)",
            (journal::new_id(now), ts(now)),
        )?;
    }
    Ok(())
}

/// Timestamps are stored as RFC 3339 UTC with microseconds.
/// How the store writes an instant: RFC 3339, UTC, microseconds.
pub fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A consistent copy of the database at `path`, as it stood at one
/// instant, written to the new file `to` while other connections go on
/// writing: SQLite's online backup taken in a single step, so the whole
/// copy is read under one read transaction (a writer committing meanwhile
/// is neither seen nor waited for; in WAL mode readers do not block it).
/// Never a file copy of a live WAL database, which can miss committed
/// pages still in the WAL or catch a checkpoint half done.
pub fn snapshot(path: &Path, to: &Path) -> Result<(), StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let src = Connection::open_with_flags(path, flags).map_err(|e| StoreError::from(e).at(path))?;
    src.busy_timeout(std::time::Duration::from_secs(5))?;
    check_version(&src)?;
    let mut dst = Connection::open(to).map_err(|e| StoreError::from(e).at(to))?;
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                // Only while another connection holds a lock SQLite's
                // backup cannot share; the step starts over.
                _ => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
    // A self-contained file: no WAL beside it.
    dst.pragma_update(None, "journal_mode", "DELETE")?;
    dst.close().map_err(|(_, e)| StoreError::from(e))?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::CannotOpen(format!("{}: {e}", to.display())))?;
    Ok(())
}

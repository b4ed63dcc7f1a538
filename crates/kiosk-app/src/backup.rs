//! Backups: an online, consistent copy of the station in one archive,
//! encrypted to the operator's recipients, and its restore onto a new data
//! directory.
//!
//! - **Consistent while orders are written.** The database is copied with
//!   SQLite's online backup under one read transaction
//!   ([`kiosk_store::snapshot`]), never as a file copy of a live WAL
//!   database. The files are copied after it: scans are stored by their
//!   hash before the row naming them commits, so every file the copy names
//!   is there.
//! - **Encrypted** with age (age-encryption.org/v1, X25519) to the
//!   recipients in `backup-recipients.txt` (public keys, one per line).
//!   The identity that opens a backup is never on the station: the operator
//!   keeps it, and brings it only to restore.
//! - **Not copied:** hidden entries at the top of the data directory
//!   (runtime state, restores and backups in progress), and the token
//!   stores a demo station keeps in its data directory (`softhsm/`,
//!   `sm2-token/`). A token is a device; it moves to
//!   the new machine, or the central re-certifies a new one.
//! - **Checked on restore:** every file against the manifest's SHA-256 and
//!   size, nothing missing or extra, the database's integrity and schema (a
//!   backup of a newer program is refused, so a downgrade is a refusal and
//!   rollback is a restore). Nothing is placed in the data directory until
//!   all of it holds.
//! - **Atomic:** a backup is written as `NAME.partial`, synced, then
//!   renamed; a cut power leaves no file that looks complete.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use kiosk_domain::Rejection;
use kiosk_store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AppError, Station, DB_FILE};

/// The operator's age recipients, in the data directory: one public key
/// (`age1…`) per line; `#` starts a comment.
pub const BACKUP_RECIPIENTS: &str = "backup-recipients.txt";
const MANIFEST: &str = "manifest.json";
const FORMAT: u32 = 1;
/// Left out of a backup: the live database (copied by SQLite's backup
/// instead), the token stores, and backups in progress.
const NOT_COPIED: [&str; 5] = [
    "station.db-wal",
    "station.db-shm",
    "softhsm",
    "sm2-token",
    BACKUP_RECIPIENTS,
];
const TEMP_PREFIX: &str = ".backup-";

/// What a backup holds, stored in it as `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub station_id: String,
    pub created_at: DateTime<Utc>,
    pub program_version: String,
    /// `PRAGMA user_version` of the copied database.
    pub schema_version: i64,
    /// The last outbox record and audit row in the copy.
    pub outbox_head: i64,
    pub audit_head: i64,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Relative to the data directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A backup written.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub file: PathBuf,
    /// Size of the encrypted archive.
    pub bytes: u64,
    pub station_id: String,
    pub created_at: DateTime<Utc>,
    pub outbox_head: i64,
    pub audit_head: i64,
    /// Files in it, the database included.
    pub files: usize,
    /// Bytes of the files before encryption.
    pub content_bytes: u64,
}

/// A backup restored.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreSummary {
    pub data_dir: PathBuf,
    pub station_id: String,
    pub backup_created_at: DateTime<Utc>,
    pub outbox_head: i64,
    pub audit_head: i64,
    pub files: usize,
}

fn refusal(field: &str, label: &str, code: &'static str) -> kiosk_domain::RefusalZh {
    Rejection::field(field, label, code)
}

fn damaged(file: &Path, what: impl std::fmt::Display) -> AppError {
    refusal("backup", "备份文件", "backup_damaged")
        .zh(
            format!("备份文件 {} 已损坏或被改动：{what}", file.display()),
            "请改用另一份备份；本次未写入任何数据",
        )
        .en(
            format!(
                "the backup {} is damaged or was altered: {what}",
                file.display()
            ),
            "restore another backup; nothing was written",
        )
        .into()
}

/// The recipients a backup is encrypted to.
fn recipients(file: &Path) -> Result<Vec<age::x25519::Recipient>, AppError> {
    let text = match fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(AppError::io(file.display(), e)),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let r = line.parse::<age::x25519::Recipient>().map_err(|e| -> AppError {
            refusal("recipients", "备份接收方", "bad_backup_recipient")
                .zh(
                    format!("{} 第 {} 行不是 age 公钥（{e}）", file.display(), i + 1),
                    "每行写一个以 age1 开头的公钥（由运维人员 age-keygen 生成，私钥不放在工作站上）",
                )
                .en(
                    format!("line {} of {} is not an age public key ({e})", i + 1, file.display()),
                    "write one public key starting with age1 per line (made by the operator with age-keygen; the private key stays off the station)",
                )
                .into()
        })?;
        out.push(r);
    }
    if out.is_empty() {
        return Err(refusal("recipients", "备份接收方", "no_backup_recipient")
            .zh(
                format!("未设置备份接收方：{} 中没有公钥", file.display()),
                "请运维人员用 age-keygen 生成密钥，把公钥（age1…）写入该文件；私钥离线保管，恢复时才用",
            )
            .en(
                format!("no backup recipient: {} holds no public key", file.display()),
                "have the operator make a key with age-keygen and put its public key (age1…) in that file; the private key is kept offline and used only to restore",
            )
            .into());
    }
    Ok(out)
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            bytes: 0,
        }
    }
    fn done(self) -> (u64, String) {
        (self.bytes, hex::encode(self.hash.finalize()))
    }
}

/// Every file under `dir` that a backup copies, relative and sorted.
fn files_to_copy(dir: &Path) -> Result<Vec<String>, AppError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = dir.join(&rel);
        for entry in fs::read_dir(&here).map_err(|e| AppError::io(here.display(), e))? {
            let entry = entry.map_err(|e| AppError::io(here.display(), e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if rel.as_os_str().is_empty()
                && (NOT_COPIED.contains(&name) || name == DB_FILE || name.starts_with('.'))
            {
                continue;
            }
            let path = rel.join(name);
            let kind = entry
                .file_type()
                .map_err(|e| AppError::io(path.display(), e))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && !name.ends_with(".partial") {
                out.push(path.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn tar_header(bytes: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes);
    h.set_mode(0o600);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Writes an encrypted backup of the station in `data` into `to_dir`, to
/// the recipients in `recipients_file` (else the data directory's
/// [`BACKUP_RECIPIENTS`]), stamped `now`. Safe while other processes write
/// orders. The station is not opened: its database is copied as it is,
/// never migrated first, so that a newer program's backup before an
/// upgrade holds the database as the older one left it. With `keep`, this
/// station's other backups in `to_dir` beyond the `keep` newest are then
/// removed ([`prune_backups`]); never the one just written, even when the
/// clock was set back and its name sorts first.
pub fn create(
    data: &Path,
    now: DateTime<Utc>,
    to_dir: &Path,
    recipients_file: Option<&Path>,
    keep: Option<usize>,
) -> Result<BackupSummary, AppError> {
    let summary = write_backup(data, now, to_dir, recipients_file)?;
    if let Some(keep) = keep {
        prune_backups(to_dir, &summary.station_id, keep, &summary.file)?;
    }
    Ok(summary)
}

impl Station {
    /// [`create`] for this station, now.
    pub fn backup(
        &self,
        to_dir: &Path,
        recipients_file: Option<&Path>,
        keep: Option<usize>,
    ) -> Result<BackupSummary, AppError> {
        create(self.data_dir(), self.now(), to_dir, recipients_file, keep)
    }
}

fn write_backup(
    data: &Path,
    now: DateTime<Utc>,
    to_dir: &Path,
    recipients_file: Option<&Path>,
) -> Result<BackupSummary, AppError> {
    let data = data.to_path_buf();
    let default_file = data.join(BACKUP_RECIPIENTS);
    let recipients = recipients(recipients_file.unwrap_or(&default_file))?;

    let temp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(&data)
        .map_err(|e| AppError::io(data.display(), e))?;
    let db_copy = temp.path().join(DB_FILE);
    kiosk_store::snapshot(&data.join(DB_FILE), &db_copy)?;
    let (station_id, schema_version, outbox_head, audit_head) = {
        let copy = Store::open_read_only(&db_copy)?
            .ok_or_else(|| AppError::Corrupt("the database copy vanished".into()))?;
        (
            copy.station_id().to_string(),
            copy.schema_version()?,
            copy.outbox_head()?,
            copy.audit_head()?.0,
        )
    };

    fs::create_dir_all(to_dir).map_err(|e| AppError::io(to_dir.display(), e))?;
    let name = format!(
        "{}{}{BACKUP_SUFFIX}",
        backup_prefix(&station_id),
        now.format("%Y%m%dT%H%M%S%.3fZ")
    );
    let file = to_dir.join(&name);
    let partial = to_dir.join(format!("{name}.partial"));
    let out = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(|e| AppError::io(partial.display(), e))?
    };
    // A backup that fails part-way leaves no part of itself behind.
    let written = write_archive(out, &partial, &recipients, &db_copy, &data, |files| {
        Manifest {
            format: FORMAT,
            station_id: station_id.clone(),
            created_at: now,
            program_version: env!("CARGO_PKG_VERSION").into(),
            schema_version,
            outbox_head,
            audit_head,
            files,
        }
    });
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e);
        }
    };
    fs::rename(&partial, &file).map_err(|e| AppError::io(file.display(), e))?;
    if let Ok(d) = File::open(to_dir) {
        let _ = d.sync_all();
    }
    let bytes = fs::metadata(&file)
        .map_err(|e| AppError::io(file.display(), e))?
        .len();
    Ok(BackupSummary {
        file,
        bytes,
        station_id,
        created_at: now,
        outbox_head,
        audit_head,
        files: manifest.files.len(),
        content_bytes: manifest.files.iter().map(|f| f.bytes).sum(),
    })
}

/// The archive written into `out` (the `.partial` file): the database copy
/// first, then every other file, then the manifest `manifest` makes of
/// their list; encrypted, synced. Returns the manifest.
fn write_archive(
    out: File,
    partial: &Path,
    recipients: &[age::x25519::Recipient],
    db_copy: &Path,
    data: &Path,
    manifest: impl FnOnce(Vec<ManifestFile>) -> Manifest,
) -> Result<Manifest, AppError> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| AppError::Corrupt(format!("backup encryption: {e}")))?;
    let io_err = |e: io::Error| AppError::io(partial.display(), e);
    let sealed = encryptor.wrap_output(BufWriter::new(out)).map_err(io_err)?;
    // Encrypting and writing run on a thread of their own, beside reading
    // and hashing the files, as `tar | age` runs on two processes.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> io::Result<()> {
            let mut sealed = sealed;
            for chunk in rx {
                sealed.write_all(&chunk)?;
            }
            let out = sealed.finish()?;
            let out = out.into_inner().map_err(|e| e.into_error())?;
            out.sync_all()
        });
        let archived = archive(
            ToThread {
                buf: Vec::with_capacity(CHUNK),
                tx,
            },
            &io_err,
            db_copy,
            data,
            manifest,
        );
        // The sender is gone with the archive, so the thread ends.
        let written = writer
            .join()
            .map_err(|_| AppError::Corrupt("the backup's encrypting thread failed".into()))
            .and_then(|r| r.map_err(io_err));
        // A failed write (a full disk) is the cause when both failed.
        written?;
        archived
    })
}

/// Bytes handed to another thread a chunk at a time.
struct ToThread {
    buf: Vec<u8>,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
}

const CHUNK: usize = 1 << 20;

impl ToThread {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::other("the backup's encrypting thread stopped"))
    }
}

impl Write for ToThread {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The tar stream into `to`: the database copy first, then every other
/// file, then the manifest; returns the manifest once all was handed on.
fn archive(
    to: ToThread,
    io_err: &dyn Fn(io::Error) -> AppError,
    db_copy: &Path,
    data: &Path,
    manifest: impl FnOnce(Vec<ManifestFile>) -> Manifest,
) -> Result<Manifest, AppError> {
    let mut tar = tar::Builder::new(to);

    let mut files = Vec::new();
    // The database first, streamed from the private copy.
    {
        let bytes = fs::metadata(db_copy)
            .map_err(|e| AppError::io(db_copy.display(), e))?
            .len();
        let mut src = Hashing::new(
            File::open(db_copy)
                .map_err(|e| AppError::io(db_copy.display(), e))?
                .take(bytes),
        );
        tar.append_data(&mut tar_header(bytes), DB_FILE, &mut src)
            .map_err(io_err)?;
        let (n, sha256) = src.done();
        if n != bytes {
            return Err(AppError::Corrupt(
                "the database copy changed while it was read".into(),
            ));
        }
        files.push(ManifestFile {
            path: DB_FILE.into(),
            bytes,
            sha256,
        });
    }
    // Then every other file, each read whole so that what is hashed is
    // what is stored even if a document is rewritten meanwhile.
    for rel in files_to_copy(data)? {
        let path = data.join(&rel);
        let content = match fs::read(&path) {
            Ok(c) => c,
            // Removed since the listing (a tidied seal, a report).
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(AppError::io(path.display(), e)),
        };
        tar.append_data(
            &mut tar_header(content.len() as u64),
            &rel,
            content.as_slice(),
        )
        .map_err(io_err)?;
        files.push(ManifestFile {
            path: rel,
            bytes: content.len() as u64,
            sha256: hex::encode(Sha256::digest(&content)),
        });
    }
    let manifest = manifest(files);
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| AppError::Corrupt(format!("manifest: {e}")))?;
    tar.append_data(
        &mut tar_header(json.len() as u64),
        MANIFEST,
        json.as_slice(),
    )
    .map_err(io_err)?;
    let mut to = tar.into_inner().map_err(io_err)?;
    to.send().map_err(io_err)?;
    Ok(manifest)
}

/// Removes station `station_id`'s backups in `dir` beyond the `keep`
/// newest (by the time in their names) and never `just_written`, which
/// counts as one of them; other files are left alone. Returns the files
/// removed.
pub fn prune_backups(
    dir: &Path,
    station_id: &str,
    keep: usize,
    just_written: &Path,
) -> Result<Vec<PathBuf>, AppError> {
    let prefix = backup_prefix(station_id);
    let mut mine: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| AppError::io(dir.display(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p != just_written)
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(BACKUP_SUFFIX))
        })
        .collect();
    mine.sort();
    let excess = mine.len().saturating_sub(keep.max(1) - 1);
    let old: Vec<PathBuf> = mine.into_iter().take(excess).collect();
    for p in &old {
        fs::remove_file(p).map_err(|e| AppError::io(p.display(), e))?;
    }
    Ok(old)
}

/// How this station's backups are named: this prefix, the UTC time, then
/// [`BACKUP_SUFFIX`].
fn backup_prefix(station_id: &str) -> String {
    format!("kiosk-station-{station_id}-")
}
const BACKUP_SUFFIX: &str = ".tar.age";

/// A path inside a backup, refused unless it is plainly relative.
fn inside(rel: &Path) -> bool {
    !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Restores the backup `file` into `data_dir`, which must hold no station
/// (it may hold the station's token store, moved to the new machine),
/// opening it with the age identity in `identity_file`. Nothing is placed
/// in `data_dir` unless every check holds.
pub fn restore(
    file: &Path,
    identity_file: &Path,
    data_dir: &Path,
) -> Result<RestoreSummary, AppError> {
    if data_dir.join(DB_FILE).exists() {
        return Err(refusal("data_dir", "数据目录", "restore_over_station")
            .zh(
                format!("{} 中已有工作站数据库，恢复不会覆盖它", data_dir.display()),
                "请恢复到新的（空的）数据目录；要回到备份时的状态，先把现有目录改名保存",
            )
            .en(
                format!("{} already holds a station database; a restore never overwrites one", data_dir.display()),
                "restore into a new, empty data directory; to go back to the backup, rename the present one first",
            )
            .into());
    }
    let identities = age::IdentityFile::from_file(identity_file.display().to_string())
        .and_then(|f| {
            f.into_identities()
                .map_err(|e| io::Error::other(e.to_string()))
        })
        .map_err(|e| -> AppError {
            refusal("identity", "备份私钥", "bad_backup_identity")
                .zh(
                    format!("无法读取备份私钥文件 {}（{e}）", identity_file.display()),
                    "请使用运维人员保管的 age 私钥文件（AGE-SECRET-KEY-…）",
                )
                .en(
                    format!(
                        "the backup identity {} cannot be read ({e})",
                        identity_file.display()
                    ),
                    "use the age identity file (AGE-SECRET-KEY-…) the operator keeps",
                )
                .into()
        })?;
    let input = File::open(file).map_err(|e| AppError::io(file.display(), e))?;
    let decryptor = age::Decryptor::new(BufReader::new(input)).map_err(|e| damaged(file, e))?;
    let reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => refusal("identity", "备份私钥", "backup_not_for_this_identity")
                .zh(
                    format!("备份 {} 不是用这把私钥对应的公钥加密的", file.display()),
                    "请使用备份时 backup-recipients.txt 中公钥对应的私钥",
                )
                .en(
                    format!("the backup {} was not encrypted to this identity", file.display()),
                    "use the identity whose public key was in backup-recipients.txt when the backup was made",
                )
                .into(),
            other => damaged(file, other),
        })?;

    // Staged inside the target (a hidden directory, on the same file
    // system, so that the files move in by rename even when the data
    // directory is a mount of its own); the target is removed again if
    // this restore made it and fails.
    let created = !data_dir.exists();
    fs::create_dir_all(data_dir).map_err(|e| AppError::io(data_dir.display(), e))?;
    let restored = unpack_checked(reader, file, data_dir);
    if restored.is_err() && created {
        let _ = fs::remove_dir_all(data_dir);
    }
    restored
}

/// Unpacks the decrypted archive into a staging directory in `data_dir`,
/// checks it, and moves it into place (see [`restore`]).
fn unpack_checked(
    reader: impl Read,
    file: &Path,
    data_dir: &Path,
) -> Result<RestoreSummary, AppError> {
    let staging = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempdir_in(data_dir)
        .map_err(|e| AppError::io(data_dir.display(), e))?;

    let mut archive = tar::Archive::new(reader);
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    {
        let entries = archive.entries().map_err(|e| damaged(file, e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| damaged(file, e))?;
            let rel = entry.path().map_err(|e| damaged(file, e))?.into_owned();
            if entry.header().entry_type() != tar::EntryType::Regular || !inside(&rel) {
                return Err(damaged(
                    file,
                    format!(
                        "entry {} is not a plain file inside the archive",
                        rel.display()
                    ),
                ));
            }
            let name = rel.to_string_lossy().replace('\\', "/");
            if name == MANIFEST {
                let mut json = Vec::new();
                entry.read_to_end(&mut json).map_err(|e| damaged(file, e))?;
                manifest = Some(serde_json::from_slice(&json).map_err(|e| damaged(file, e))?);
                continue;
            }
            let dest = staging.path().join(&rel);
            if let Some(d) = dest.parent() {
                fs::create_dir_all(d).map_err(|e| AppError::io(d.display(), e))?;
            }
            let mut out = File::create(&dest).map_err(|e| AppError::io(dest.display(), e))?;
            let mut src = Hashing::new(&mut entry);
            io::copy(&mut src, &mut out).map_err(|e| damaged(file, e))?;
            out.sync_all()
                .map_err(|e| AppError::io(dest.display(), e))?;
            if seen.insert(name.clone(), src.done()).is_some() {
                return Err(damaged(file, format!("{name} appears twice")));
            }
        }
    }
    // Read to the end so that the last encrypted chunk is checked too: a
    // cut-off backup is refused, not half restored.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| damaged(file, e))?;

    let manifest = manifest.ok_or_else(|| damaged(file, "it has no manifest"))?;
    let listed: BTreeMap<String, (u64, String)> = manifest
        .files
        .iter()
        .map(|f| (f.path.clone(), (f.bytes, f.sha256.clone())))
        .collect();
    if listed != seen {
        let differ: Vec<&String> = listed
            .keys()
            .chain(seen.keys())
            .filter(|k| listed.get(*k) != seen.get(*k))
            .collect();
        return Err(damaged(
            file,
            format!("files differ from its manifest: {differ:?}"),
        ));
    }
    let db = staging.path().join(DB_FILE);
    {
        // A newer program's database is refused here (StoreError::NewerSchema).
        let store =
            Store::open_read_only(&db)?.ok_or_else(|| damaged(file, "it holds no database"))?;
        if store.station_id() != manifest.station_id {
            return Err(damaged(file, "its database is another station's"));
        }
        if !store.integrity_ok()? {
            return Err(damaged(file, "its database fails SQLite's integrity check"));
        }
    }

    // Everything holds: move it into place.
    let top: Vec<_> = fs::read_dir(staging.path())
        .map_err(|e| AppError::io(staging.path().display(), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| AppError::io(staging.path().display(), e))?;
    for e in &top {
        let dest = data_dir.join(e.file_name());
        if dest.exists() {
            return Err(refusal("data_dir", "数据目录", "restore_over_station")
                .zh(
                    format!("{} 已存在，恢复不会覆盖它", dest.display()),
                    "请恢复到新的（空的）数据目录，只放入工作站的令牌",
                )
                .en(
                    format!("{} exists; a restore never overwrites it", dest.display()),
                    "restore into a new, empty data directory holding only the station's token store",
                )
                .into());
        }
    }
    // The database last: a directory with station.db is a restored station.
    let mut ordered: Vec<_> = top.iter().filter(|e| e.file_name() != DB_FILE).collect();
    ordered.extend(top.iter().filter(|e| e.file_name() == DB_FILE));
    for e in ordered {
        let dest = data_dir.join(e.file_name());
        fs::rename(e.path(), &dest).map_err(|err| AppError::io(dest.display(), err))?;
    }
    if let Ok(d) = File::open(data_dir) {
        let _ = d.sync_all();
    }
    Ok(RestoreSummary {
        data_dir: data_dir.to_path_buf(),
        station_id: manifest.station_id,
        backup_created_at: manifest.created_at,
        outbox_head: manifest.outbox_head,
        audit_head: manifest.audit_head,
        files: manifest.files.len(),
    })
}

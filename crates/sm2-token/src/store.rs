//! Token directories and their files.
//!
//! ```text
//! <tokendir>/<serial>/token.json        label, serial, PIN hashes, wrong-PIN counters
//! <tokendir>/<serial>/obj-<id>.json     one token object
//! <tokendir>/<serial>/.lock             flock(2)ed by the writer
//! ```
//!
//! Every write is: write a temporary file in the same directory, fsync it,
//! rename it over the target, fsync the directory. A reader sees the old or
//! the new file, never a part, and a `kill -9` at any instant leaves every
//! committed token and object in place. A new token directory is built under
//! a temporary name and renamed into place the same way. Writers take the
//! token's lock (so counters and objects are read-modified-written by one
//! process at a time); readers take none.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use cryptoki_sys::CK_ATTRIBUTE_TYPE;
use serde::{Deserialize, Serialize};

use crate::object::Attrs;
use crate::pin::PinHash;

const RECORD: &str = "token.json";
const TEMP_PREFIX: &str = ".tmp-";

/// What `token.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenRecord {
    pub label: String,
    pub serial: String,
    pub so_pin: PinHash,
    pub user_pin: Option<PinHash>,
    pub so_failures: u32,
    pub user_failures: u32,
}

/// The directory of all tokens.
#[derive(Debug)]
pub struct TokenDir(PathBuf);

/// One token's directory.
#[derive(Debug)]
pub struct TokenFiles(PathBuf);

/// The token's write lock; released when dropped (the file is closed).
pub struct Lock {
    _file: File,
}

impl TokenDir {
    pub fn new(root: PathBuf) -> TokenDir {
        TokenDir(root)
    }

    /// Serials of the tokens present, sorted.
    pub fn serials(&self) -> io::Result<Vec<String>> {
        let mut serials = Vec::new();
        for entry in fs::read_dir(&self.0)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && self.0.join(&name).join(RECORD).is_file() {
                serials.push(name);
            }
        }
        serials.sort();
        Ok(serials)
    }

    pub fn token(&self, serial: &str) -> TokenFiles {
        TokenFiles(self.0.join(serial))
    }

    /// Creates the directory of a new token holding `record`, atomically.
    pub fn create(&self, record: &TokenRecord) -> io::Result<TokenFiles> {
        let temp = self.0.join(format!(
            "{TEMP_PREFIX}{}-{}",
            std::process::id(),
            record.serial
        ));
        fs::create_dir(&temp)?;
        write_file(&temp, RECORD, &serde_json::to_vec_pretty(record)?)?;
        let target = self.0.join(&record.serial);
        fs::rename(&temp, &target)?;
        sync_dir(&self.0)?;
        Ok(TokenFiles(target))
    }
}

impl TokenFiles {
    pub fn lock(&self) -> io::Result<Lock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.0.join(".lock"))?;
        // SAFETY: flock on a descriptor we own; it is released on close.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // Temporary files left by a writer that was killed are garbage now.
        for entry in fs::read_dir(&self.0)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(Lock { _file: file })
    }

    pub fn read_record(&self) -> io::Result<TokenRecord> {
        Ok(serde_json::from_slice(&fs::read(self.0.join(RECORD))?)?)
    }

    pub fn write_record(&self, record: &TokenRecord, _lock: &Lock) -> io::Result<()> {
        write_file(&self.0, RECORD, &serde_json::to_vec_pretty(record)?)
    }

    /// Ids of the objects on the token, sorted.
    pub fn object_ids(&self) -> io::Result<Vec<u64>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.0)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(id) = name
                .strip_prefix("obj-")
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| u64::from_str_radix(n, 16).ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The object `id`, or `None` if it is not (or no longer) there.
    pub fn read_object(&self, id: u64) -> io::Result<Option<Attrs>> {
        let bytes = match fs::read(self.0.join(object_name(id))) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let file: ObjectFile = serde_json::from_slice(&bytes)?;
        file.attrs
            .iter()
            .map(|(t, v)| {
                let t = CK_ATTRIBUTE_TYPE::from_str_radix(t.trim_start_matches("0x"), 16).ok();
                t.zip(crate::unhex(v))
            })
            .collect::<Option<Attrs>>()
            .map(Some)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad object file"))
    }

    pub fn write_object(&self, id: u64, attrs: &Attrs, _lock: &Lock) -> io::Result<()> {
        let file = ObjectFile {
            attrs: attrs
                .iter()
                .map(|(t, v)| (format!("0x{t:08x}"), crate::hex(v)))
                .collect(),
        };
        write_file(
            &self.0,
            &object_name(id),
            &serde_json::to_vec_pretty(&file)?,
        )
    }

    pub fn remove_object(&self, id: u64, _lock: &Lock) -> io::Result<()> {
        match fs::remove_file(self.0.join(object_name(id))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        sync_dir(&self.0)
    }
}

#[derive(Serialize, Deserialize)]
struct ObjectFile {
    /// Attribute type (hex) to value (hex).
    attrs: std::collections::BTreeMap<String, String>,
}

fn object_name(id: u64) -> String {
    format!("obj-{id:016x}.json")
}

/// Replaces `dir/name` by `bytes`: temporary file, fsync, rename, fsync(dir).
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(io::Error::other)?;
    let temp = dir.join(format!("{TEMP_PREFIX}{}", crate::hex(&suffix)));
    let mut file = File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, dir.join(name))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

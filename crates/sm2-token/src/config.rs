//! The configuration file, named by the environment variable
//! `KIOSK_SM2_TOKEN_CONF` (as `SOFTHSM2_CONF` names SoftHSM2's).
//!
//! One `key = value` per line; `#` starts a comment. Keys:
//!
//! | key | value | default |
//! | --- | --- | --- |
//! | `directories.tokendir` | directory of the tokens (must exist); relative to the file's directory | required |
//! | `vendor` | `sansec` or `tass`: the mechanism set | `sansec` |
//! | `signature` | `raw` (r \|\| s, 64 bytes) or `der` (SEQUENCE of two INTEGERs) | the vendor's |
//! | `max_pin_tries` | wrong PINs before the PIN locks (user and SO alike) | 6 |
//! | `pin_kdf_iterations` | PBKDF2-HMAC-SHA256 iterations for new PIN hashes (at least 1000) | 100000 |

use std::path::{Path, PathBuf};

use crate::sm2ops::SigFormat;
use crate::vendor::{Vendor, SANSEC};

pub const ENV_VAR: &str = "KIOSK_SM2_TOKEN_CONF";

#[derive(Debug)]
pub struct Config {
    pub tokendir: PathBuf,
    pub vendor: &'static Vendor,
    pub signature: SigFormat,
    pub max_pin_tries: u32,
    pub pin_kdf_iterations: u32,
    /// Bytes of object storage each token has, as a USB key's chip has a
    /// few tens of kilobytes: the attribute values of its token objects
    /// must fit in it (`CKR_DEVICE_MEMORY` otherwise), and the token
    /// reports it as its public memory.
    pub memory: u64,
}

/// Object storage of a token unless the configuration says otherwise.
pub const DEFAULT_MEMORY: u64 = 64 * 1024;

impl Config {
    /// Reads the file named by `KIOSK_SM2_TOKEN_CONF`.
    pub fn from_env() -> Result<Config, String> {
        let path = std::env::var_os(ENV_VAR).ok_or_else(|| format!("{ENV_VAR} is not set"))?;
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Config::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the text of a configuration file; relative paths are taken
    /// from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
        let mut tokendir = None;
        let mut vendor = &SANSEC;
        let mut signature = None;
        let mut max_pin_tries = 6;
        let mut pin_kdf_iterations = 100_000;
        let mut memory = DEFAULT_MEMORY;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| format!("line {}: expected `key = value`", n + 1))?;
            let bad = || format!("line {}: bad value for {key}: {value:?}", n + 1);
            match key {
                "directories.tokendir" => tokendir = Some(base.join(value)),
                "vendor" => vendor = Vendor::by_name(value).ok_or_else(bad)?,
                "signature" => {
                    signature = Some(match value {
                        "raw" => SigFormat::Raw,
                        "der" => SigFormat::Der,
                        _ => return Err(bad()),
                    })
                }
                "max_pin_tries" => {
                    max_pin_tries = value.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?
                }
                "pin_kdf_iterations" => {
                    pin_kdf_iterations =
                        value.parse().ok().filter(|&n| n >= 1000).ok_or_else(bad)?
                }
                "memory" => memory = value.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?,
                _ => return Err(format!("line {}: unknown key {key:?}", n + 1)),
            }
        }
        let tokendir = tokendir.ok_or("directories.tokendir is missing")?;
        if !tokendir.is_dir() {
            return Err(format!(
                "token directory {} does not exist",
                tokendir.display()
            ));
        }
        Ok(Config {
            tokendir,
            vendor,
            signature: signature.unwrap_or(vendor.default_signature),
            max_pin_tries,
            pin_kdf_iterations,
            memory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key() {
        let dir = std::env::temp_dir();
        let c = Config::parse(
            "# test\ndirectories.tokendir = .\nvendor = tass\nsignature = raw\nmax_pin_tries = 3\npin_kdf_iterations = 2000\n",
            &dir,
        )
        .unwrap();
        assert_eq!(c.vendor.name, "tass");
        assert_eq!(c.signature, SigFormat::Raw);
        assert_eq!((c.max_pin_tries, c.pin_kdf_iterations), (3, 2000));
        let c = Config::parse("directories.tokendir = .\nvendor = tass\n", &dir).unwrap();
        assert_eq!(c.signature, SigFormat::Der, "the TASS default");
        assert!(Config::parse("directories.tokendir = .\nfoo = 1\n", &dir).is_err());
        assert!(Config::parse("vendor = sansec\n", &dir).is_err());
    }
}

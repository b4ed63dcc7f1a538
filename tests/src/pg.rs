//! A throwaway PostgreSQL: `initdb` into a temporary directory and
//! `pg_ctl` on a free loopback port, stopped when dropped. As root, the
//! server runs as the `postgres` user (PostgreSQL refuses root).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::output_ok;

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The newest `/usr/lib/postgresql/<major>/bin`.
fn bin_dir() -> PathBuf {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server is installed (scripts/deps)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            Some((major, e.path().join("bin")))
        })
        .filter(|(_, p)| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("an initdb under /usr/lib/postgresql").1
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::Builder::new()
            .prefix("kiosk-pg")
            .tempdir()
            .unwrap();
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "chown to postgres");
        }
        let pg = Postgres {
            bin: bin_dir(),
            port: free_port(),
            dir,
        };
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "kiosk",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50",
            pg.port,
            pg.dir.path().display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                pg.dir.path().join("log").to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
        pg.psql_db("postgres", "CREATE DATABASE central");
        pg
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        output_ok(
            self.command(program)
                .args(args)
                .current_dir(self.dir.path()),
            &format!("{program} {args:?}"),
        );
    }

    /// The libpq connection string of the `central` database.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=kiosk dbname=central",
            self.port
        )
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn psql_db(&self, db: &str, sql: &str) -> String {
        let out = output_ok(
            self.command("psql")
                .args([
                    "-X",
                    "-q",
                    "-At",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "kiosk",
                ])
                .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
                .current_dir(self.dir.path()),
            &format!("psql {sql}"),
        );
        String::from_utf8_lossy(&out).trim_end().to_string()
    }

    /// Runs SQL on the `central` database; rows as `|`-separated lines.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("central", sql)
    }

    /// A file the server user can read, for `\copy`.
    pub fn readable_copy(&self, from: &Path) -> PathBuf {
        let to = self.dir.path().join(from.file_name().unwrap());
        std::fs::copy(from, &to).unwrap();
        if is_root() {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&to)
                .status()
                .unwrap();
        }
        to
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

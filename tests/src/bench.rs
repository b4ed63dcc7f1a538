//! What the benchmarks share: a station on SoftHSM2 with its demo CA, and
//! a loopback central on a throwaway PostgreSQL that knows it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kiosk_app::keys::{KeyConfig, Module};
use kiosk_app::{Session, Station, SyncConfig, SystemClock};

use crate::central::{self, Central};
use crate::pg::Postgres;

pub struct BenchStation {
    pub work: tempfile::TempDir,
    pub data: PathBuf,
    pub station: Station,
    pub clerk: Session,
    pub keys: KeyConfig,
    pub module: Module,
}

impl BenchStation {
    /// A fresh station with its demo CA in SoftHSM2, and a clerk's session.
    pub fn new() -> BenchStation {
        let work = tempfile::tempdir().unwrap();
        let conf = crate::softhsm_conf(work.path());
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var(
            "KIOSK_STATION_PIN_FILE",
            crate::secret_file(work.path(), "station-pin", "bench-pin-1"),
        );
        let data = work.path().join("data");
        let keys = KeyConfig::from_env().unwrap();
        let module = Module::load(&keys.module).unwrap();
        let mut station = Station::open(&data, Arc::new(SystemClock)).unwrap();
        let clerk = kiosk_app::demo::scratch_session(&mut station).expect("scratch session");
        station.ca_init_demo(&module, &keys, &clerk).unwrap();
        BenchStation {
            work,
            data,
            station,
            clerk,
            keys,
            module,
        }
    }

    /// A central on a fresh PostgreSQL with this station registered, and
    /// the sync settings that reach it.
    pub fn central(&self) -> (Postgres, Central, SyncConfig) {
        let pg = Postgres::start();
        let tls = central::tls_init(&pg.dir().join("tls"));
        let srv = Central::start(&pg.url(), &tls, "127.0.0.1:0", 300);
        central::admin(
            &pg.url(),
            &[
                "station",
                "add",
                "--id",
                self.station.station_id(),
                "--cert",
                self.data.join("ca/station-ca.pem").to_str().unwrap(),
            ],
        );
        let cfg = SyncConfig {
            url: format!("https://{}", srv.addr),
            central_ca: Some(tls.0.clone()),
            batch: 2000,
            timeout: Duration::from_secs(60),
            attempts: 1,
            trace_dir: None,
        };
        (pg, srv, cfg)
    }
}

impl Default for BenchStation {
    fn default() -> Self {
        Self::new()
    }
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

pub fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The `p`th percentile (0..=100) of the samples.
pub fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p / 100.0).round() as usize]
}

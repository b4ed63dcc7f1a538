//! `central`: the reference central CA sync server and its admin commands.
//!
//! The database comes from `CENTRAL_DATABASE_URL` (a libpq URL or
//! key=value string). `central serve` applies the migrations, then serves
//! protocol v1 over TLS, and with `--public-listen` the stations' CRLs and
//! sub-CA certificates over plain HTTP for relying parties.
//!
//! Every time the central reads or stores comes from one clock (see
//! [`clock`]): the system clock, or with `--clock-offset-secs` (for tests)
//! the system clock shifted by a fixed offset chosen at start.

mod admin;
mod clock;
mod db;
mod directory;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// About a hundred years, so that the shifted time stays representable.
const MAX_CLOCK_OFFSET_SECS: i64 = 100 * 366 * 24 * 3600;

#[derive(Parser)]
#[command(name = "central", version, about = "Reference central CA sync server")]
struct Cli {
    /// PostgreSQL connection string.
    #[arg(long, env = "CENTRAL_DATABASE_URL", global = true, default_value = "")]
    database_url: String,
    /// For tests: runs the central's clock this many seconds ahead of the
    /// system clock (behind if negative), for the life of the process. No
    /// request can move it; see the `clock` module.
    #[arg(
        long,
        global = true,
        default_value_t = 0,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(-MAX_CLOCK_OFFSET_SECS..=MAX_CLOCK_OFFSET_SECS)
    )]
    clock_offset_secs: i64,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Applies the migrations and serves protocol v1 over TLS.
    Serve {
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// TLS certificate chain (PEM).
        #[arg(long, env = "CENTRAL_TLS_CERT")]
        tls_cert: PathBuf,
        /// TLS private key (PEM).
        #[arg(long, env = "CENTRAL_TLS_KEY")]
        tls_key: PathBuf,
        /// Seconds a signed request's time may differ from the central's.
        #[arg(long, env = "CENTRAL_MAX_SKEW_SECS", default_value_t = 300)]
        max_skew_secs: u64,
        /// Also serves, over plain HTTP on this address, what relying
        /// parties fetch unsigned: `/crl/{station}.crl` and
        /// `/ca/{station}.cer`, the URLs the stations' certificates name.
        #[arg(long, env = "CENTRAL_PUBLIC_LISTEN")]
        public_listen: Option<SocketAddr>,
        /// The certificate chain (PEM, signer first) and key that sign what
        /// stations download; the TLS certificate and key unless given. It
        /// must chain to the CA the stations pin (`KIOSK_CENTRAL_CA`).
        #[arg(long, env = "CENTRAL_PUBLICATION_CERT")]
        publication_cert: Option<PathBuf>,
        #[arg(long, env = "CENTRAL_PUBLICATION_KEY")]
        publication_key: Option<PathBuf>,
        /// Serves the operator's status page (`/status`, `/v1/status`) over
        /// plain HTTP on this loopback address; nowhere else.
        #[arg(long, env = "CENTRAL_STATUS_LISTEN", default_value = "127.0.0.1:8480")]
        status_listen: SocketAddr,
    },
    /// Applies the migrations only.
    Migrate,
    /// Makes a self-signed TLS certificate and key for the central's host
    /// names (for tests and a first set-up; use the CA's own in production).
    TlsInit {
        #[arg(long, required = true)]
        host: Vec<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Stations allowed to sync.
    #[command(subcommand)]
    Station(StationCmd),
    /// Publishes a catalog (TOML) to every station.
    CatalogPublish {
        file: PathBuf,
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// Imports certificates the provider's own systems issued into the
    /// directory stations sync: a PEM bundle, or the CA's CSV export
    /// (serial,issuer,name,uscc,not_before,not_after,status). Any bad entry
    /// refuses the whole file.
    CertificatesImport {
        #[arg(long)]
        provider: String,
        file: PathBuf,
    },
    /// Decides an order a station sent for central review.
    Decide {
        /// The station the order belongs to: order numbers are per station.
        #[arg(long)]
        station: String,
        /// Order id or number (at that station).
        #[arg(long)]
        order: String,
        #[arg(long, conflicts_with = "return_reason")]
        approve: bool,
        /// Returns the order for correction, with the reason shown to the clerk.
        #[arg(long = "return")]
        return_reason: Option<String>,
        #[arg(long, default_value = "central")]
        by: String,
    },
    /// An order as the station last sent it whole, with the personal
    /// values its disclosures give (the CA's record of the applicant),
    /// and whether the station has purged its own copy.
    Order {
        #[arg(long)]
        station: String,
        /// Order id or number (at that station).
        #[arg(long)]
        order: String,
    },
    /// Stations, last sync and backlog, as JSON.
    Status,
}

#[derive(Subcommand)]
enum StationCmd {
    /// Registers a station by its sub-CA certificate (PEM, first block).
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        cert: PathBuf,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Adds a renewed sub-CA certificate (PEM chain) for a station; the
    /// station fetches it at its next sync.
    Certificate {
        #[arg(long)]
        id: String,
        #[arg(long)]
        chain: PathBuf,
    },
    /// Revokes a station: every request it makes is refused from now on.
    Revoke {
        #[arg(long)]
        id: String,
    },
    /// The station's master secret (made on first use), wrapped for the
    /// station token that made REQUEST (`kioskctl ca master-request`); the
    /// answer, printed as JSON, goes to `kioskctl ca master-import`.
    Master {
        #[arg(long)]
        request: PathBuf,
    },
}

fn main() {
    if let Err(e) = run() {
        eprintln!("central: {e:#}");
        std::process::exit(1);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn run() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    if let Cmd::TlsInit { host, out } = &cli.command {
        return admin::tls_init(host, out);
    }
    anyhow::ensure!(
        !cli.database_url.is_empty(),
        "set CENTRAL_DATABASE_URL (or --database-url) to the PostgreSQL database"
    );
    let clock = match cli.clock_offset_secs {
        0 => clock::Clock::system(),
        secs => {
            eprintln!(
                "central: the clock runs {secs} s off the system clock (--clock-offset-secs)"
            );
            clock::Clock::offset(chrono::TimeDelta::seconds(secs))
        }
    };
    let pool = db::pool(&cli.database_url, 8)?;
    db::migrate(&pool, &clock).await?;
    let out = match cli.command {
        Cmd::Serve {
            listen,
            tls_cert,
            tls_key,
            max_skew_secs,
            public_listen,
            status_listen,
            publication_cert,
            publication_key,
        } => {
            let cert_path = publication_cert.unwrap_or_else(|| tls_cert.clone());
            let key_path = publication_key.unwrap_or_else(|| tls_key.clone());
            let publisher = server::Publisher::from_pem(
                &std::fs::read_to_string(&key_path)
                    .with_context(|| format!("cannot read {}", key_path.display()))?,
                &std::fs::read(&cert_path)
                    .with_context(|| format!("cannot read {}", cert_path.display()))?,
            )
            .context("the publication key and certificate")?;
            anyhow::ensure!(
                status_listen.ip().is_loopback(),
                "--status-listen {status_listen}: the status page is served on a loopback address only"
            );
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls_cert, &tls_key)
                .await
                .context("cannot load the TLS certificate and key")?;
            let listener = std::net::TcpListener::bind(listen)
                .with_context(|| format!("cannot listen on {listen}"))?;
            listener.set_nonblocking(true)?;
            let addr = listener.local_addr()?;
            let central = Arc::new(server::Central {
                pool,
                publisher: Some(publisher),
                max_skew: Duration::from_secs(max_skew_secs),
                clock,
            });
            let public = match public_listen {
                Some(at) => Some(
                    tokio::net::TcpListener::bind(at)
                        .await
                        .with_context(|| format!("cannot listen on {at}"))?,
                ),
                None => None,
            };
            let status = tokio::net::TcpListener::bind(status_listen)
                .await
                .with_context(|| format!("cannot listen on {status_listen}"))?;
            let plain = match &public {
                Some(l) => format!("public CRLs on http://{}, ", l.local_addr()?),
                None => String::new(),
            };
            let plain = format!("{plain}status on http://{}, ", status.local_addr()?);
            // The one line tests and service managers wait for; the TLS
            // address comes last.
            println!("central {plain}listening on https://{addr}");
            let api = axum_server::from_tcp_rustls(listener, tls)?
                .serve(server::router(central.clone()).into_make_service());
            let status = axum::serve(status, server::status_router(central.clone()));
            match public {
                Some(l) => {
                    let public = axum::serve(l, server::public_router(central));
                    tokio::try_join!(api, async { public.await }, async { status.await })?;
                }
                None => {
                    tokio::try_join!(api, async { status.await })?;
                }
            }
            return Ok(());
        }
        Cmd::Migrate => serde_json::json!({ "ok": true }),
        Cmd::TlsInit { .. } => unreachable!(),
        Cmd::Station(StationCmd::Add { id, cert, name }) => {
            admin::station_add(&pool, &clock, &id, &cert, &name).await?
        }
        Cmd::Station(StationCmd::Certificate { id, chain }) => {
            admin::station_certificate(&pool, &clock, &id, &chain).await?
        }
        Cmd::Station(StationCmd::Revoke { id }) => {
            admin::station_revoke(&pool, &clock, &id).await?
        }
        Cmd::Station(StationCmd::Master { request }) => {
            admin::station_master(&pool, &clock, &request).await?
        }
        Cmd::CatalogPublish { file, by } => {
            admin::catalog_publish(&pool, &clock, &file, &by).await?
        }
        Cmd::CertificatesImport { provider, file } => {
            directory::import(&pool, &file, &provider).await?
        }
        Cmd::Decide {
            station,
            order,
            approve,
            return_reason,
            by,
        } => {
            anyhow::ensure!(
                approve || return_reason.is_some(),
                "say --approve or --return <reason>"
            );
            admin::decide(
                &pool,
                &clock,
                &station,
                &order,
                return_reason.as_deref(),
                &by,
            )
            .await?
        }
        Cmd::Order { station, order } => admin::order(&pool, &station, &order).await?,
        Cmd::Status => server::station_status(&pool)
            .await
            .map_err(|_| anyhow::anyhow!("cannot read the status"))?,
    };
    println!("{out}");
    Ok(())
}

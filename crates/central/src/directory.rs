//! The directory of every certificate of the providers the stations serve:
//! those the stations issued (taken from their records as they arrive) and
//! those imported from the CAs' own systems, as a PEM bundle or the CA's
//! CSV export. Stations keep a copy of the facts (see
//! `kiosk_sync::DirectoryEntry`) so that a lost key is replaced offline.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Pool};
use kiosk_domain::certificate::{attributes, holder, serial_text};
use serde_json::{json, Value};

/// One directory row before the central numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub issuer: String,
    pub serial: String,
    pub provider: String,
    pub name: String,
    pub uscc: String,
    pub not_before: String,
    pub not_after: String,
    pub status: &'static str,
    pub source: String,
}

/// The columns of the CA's CSV export, in order, as its header names them.
pub const CSV_HEADER: [&str; 7] = [
    "serial",
    "issuer",
    "name",
    "uscc",
    "not_before",
    "not_after",
    "status",
];

/// The station date (UTC+8) of an X.509 time.
fn station_date(t: x509_parser::time::ASN1Time) -> Result<String> {
    let at = DateTime::<Utc>::from_timestamp(t.timestamp(), 0).context("bad time")?;
    Ok(kiosk_domain::calendar::local_date(at).to_string())
}

/// The entry of a certificate (DER).
pub fn of_certificate(der: &[u8], provider: &str, source: &str) -> Result<Entry> {
    let (_, c) = x509_parser::parse_x509_certificate(der).context("unreadable certificate")?;
    let h = holder(&attributes(c.subject()));
    Ok(Entry {
        issuer: c.issuer().to_string(),
        serial: serial_text(c.raw_serial()),
        provider: provider.to_string(),
        name: h.name,
        uscc: h.uscc,
        not_before: station_date(c.validity().not_before)?,
        not_after: station_date(c.validity().not_after)?,
        status: "valid",
        source: source.to_string(),
    })
}

/// Checks what every entry must hold, whatever its source: a hex serial, a
/// valid USCC, dates in order.
fn check(e: &Entry, at: &str) -> Result<()> {
    if e.serial.is_empty() || !e.serial.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("{at}: serial {:?} is not hexadecimal", e.serial);
    }
    kiosk_domain::validate::uscc(&e.uscc)
        .map_err(|r| anyhow::anyhow!("{at}: USCC {:?}: {}", e.uscc, r.message_en()))?;
    if e.name.trim().is_empty() || e.issuer.trim().is_empty() {
        bail!("{at}: the company name and the issuer are required");
    }
    let day = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .with_context(|| format!("{at}: {s:?} is not YYYY-MM-DD"))
    };
    if day(&e.not_before)? > day(&e.not_after)? {
        bail!("{at}: not_before is after not_after");
    }
    Ok(())
}

/// The entries of a PEM bundle or of the CA's CSV export (with
/// [`CSV_HEADER`]); any bad one refuses the whole file.
pub fn read(file: &Path, provider: &str) -> Result<Vec<Entry>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let entries = if bytes.starts_with(b"-----BEGIN") {
        let mut out = Vec::new();
        for (i, pem) in x509_parser::pem::Pem::iter_from_buffer(&bytes).enumerate() {
            let pem = pem.with_context(|| format!("PEM block {}", i + 1))?;
            if pem.label != "CERTIFICATE" {
                continue;
            }
            let e = of_certificate(&pem.contents, provider, "import")
                .with_context(|| format!("certificate {}", i + 1))?;
            check(&e, &format!("certificate {}", i + 1))?;
            out.push(e);
        }
        out
    } else {
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
        if header != CSV_HEADER {
            bail!("the CSV header must be {}", CSV_HEADER.join(","));
        }
        let mut out = Vec::new();
        for (i, row) in reader.records().enumerate() {
            let at = format!("line {}", i + 2);
            let row = row.with_context(|| at.clone())?;
            let field = |n: usize| row.get(n).unwrap_or_default().trim().to_string();
            let status = match field(6).as_str() {
                "valid" => "valid",
                "revoked" => "revoked",
                other => bail!("{at}: status {other:?} is neither valid nor revoked"),
            };
            let e = Entry {
                serial: field(0).to_ascii_lowercase(),
                issuer: field(1),
                provider: provider.to_string(),
                name: field(2),
                uscc: field(3).to_ascii_uppercase(),
                not_before: field(4),
                not_after: field(5),
                status,
                source: "import".into(),
            };
            check(&e, &at)?;
            out.push(e);
        }
        out
    };
    if entries.is_empty() {
        bail!("{} holds no certificate", file.display());
    }
    Ok(entries)
}

/// Writes entries; an entry whose facts changed takes the next version (so
/// that stations fetch it again), an unchanged one keeps its own. A
/// revocation is never undone by an import. Returns (new, changed).
pub async fn upsert(
    client: &impl GenericClient,
    entries: &[Entry],
) -> Result<(u64, u64), tokio_postgres::Error> {
    let col = |f: fn(&Entry) -> &str| entries.iter().map(f).collect::<Vec<&str>>();
    let row = client
        .query_one(
            "WITH input AS (
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::text[], $8::text[], $9::text[])
                 AS u(issuer, serial, provider, name, uscc, not_before, not_after, status, source)
             ), written AS (
               INSERT INTO directory AS d
                 (issuer, serial, provider, name, uscc, not_before, not_after, status, source)
               SELECT DISTINCT ON (issuer, serial) * FROM input
               ON CONFLICT (issuer, serial) DO UPDATE SET
                 provider = excluded.provider, name = excluded.name, uscc = excluded.uscc,
                 not_before = excluded.not_before, not_after = excluded.not_after,
                 status = CASE WHEN d.status = 'revoked' THEN 'revoked' ELSE excluded.status END,
                 version = nextval('directory_version')
               WHERE (d.provider, d.name, d.uscc, d.not_before, d.not_after)
                       IS DISTINCT FROM
                     (excluded.provider, excluded.name, excluded.uscc, excluded.not_before, excluded.not_after)
                  OR (d.status = 'valid' AND excluded.status = 'revoked')
               RETURNING (xmax = 0) AS inserted
             )
             SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written",
            &[
                &col(|e| &e.issuer),
                &col(|e| &e.serial),
                &col(|e| &e.provider),
                &col(|e| &e.name),
                &col(|e| &e.uscc),
                &col(|e| &e.not_before),
                &col(|e| &e.not_after),
                &col(|e| e.status),
                &col(|e| &e.source),
            ],
        )
        .await?;
    Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
}

/// `central certificates-import --provider P FILE`.
pub async fn import(pool: &Pool, file: &Path, provider: &str) -> Result<Value> {
    if provider.trim().is_empty() {
        bail!("--provider is required");
    }
    let entries = read(file, provider)?;
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut new = 0;
    let mut changed = 0;
    for chunk in entries.chunks(50_000) {
        let (n, c) = upsert(&tx, chunk).await?;
        new += n;
        changed += c;
    }
    tx.commit().await?;
    Ok(json!({
        "ok": true,
        "read": entries.len(),
        "new": new,
        "changed": changed,
        "unchanged": entries.len() as u64 - new - changed,
    }))
}

//! The operator's commands at the central.

use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use serde_json::{json, Value};

use crate::clock::Clock;

/// Certificates of a PEM file, in order.
fn pem_certificates(path: &Path) -> Result<(Vec<Vec<u8>>, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certs: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
        .filter_map(|p| p.ok())
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect();
    if certs.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok((certs, text))
}

fn not_after(der: &[u8]) -> Result<DateTime<Utc>> {
    let (_, c) = x509_parser::parse_x509_certificate(der).context("unreadable certificate")?;
    DateTime::from_timestamp(c.validity().not_after.timestamp(), 0).context("bad notAfter")
}

async fn add_certificate(
    tx: &deadpool_postgres::Transaction<'_>,
    clock: &Clock,
    id: &str,
    path: &Path,
) -> Result<String> {
    let (certs, text) = pem_certificates(path)?;
    let der = &certs[0];
    let sha = kiosk_sync::fingerprint(der);
    tx.execute(
        "INSERT INTO station_certs (sha256, station_id, der, chain_pem, not_after, added_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING",
        &[&sha, &id, der, &text, &not_after(der)?, &clock.now()],
    )
    .await?;
    Ok(sha)
}

pub async fn station_add(
    pool: &Pool,
    clock: &Clock,
    id: &str,
    cert: &Path,
    name: &str,
) -> Result<Value> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO stations (id, name, registered_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING",
        &[&id, &name, &clock.now()],
    )
    .await?;
    let sha = add_certificate(&tx, clock, id, cert).await?;
    tx.commit().await?;
    Ok(json!({ "ok": true, "station": id, "certificate_sha256": sha }))
}

pub async fn station_certificate(
    pool: &Pool,
    clock: &Clock,
    id: &str,
    chain: &Path,
) -> Result<Value> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    if tx
        .query_opt("SELECT 1 FROM stations WHERE id = $1", &[&id])
        .await?
        .is_none()
    {
        bail!("station {id} is not registered");
    }
    let sha = add_certificate(&tx, clock, id, chain).await?;
    tx.commit().await?;
    Ok(json!({ "ok": true, "station": id, "certificate_sha256": sha }))
}

pub async fn station_revoke(pool: &Pool, clock: &Clock, id: &str) -> Result<Value> {
    let client = pool.get().await?;
    let n = client
        .execute(
            "UPDATE stations SET status = 'revoked', revoked_at = $2 WHERE id = $1",
            &[&id, &clock.now()],
        )
        .await?;
    if n == 0 {
        bail!("station {id} is not registered");
    }
    Ok(json!({ "ok": true, "station": id, "status": "revoked" }))
}

pub async fn catalog_publish(pool: &Pool, clock: &Clock, file: &Path, by: &str) -> Result<Value> {
    let body =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    if body.len() > kiosk_sync::MAX_CATALOG_BYTES {
        bail!(
            "the catalog is {} bytes; stations take catalogs of at most {} bytes",
            body.len(),
            kiosk_sync::MAX_CATALOG_BYTES
        );
    }
    let catalog = kiosk_domain::Catalog::from_toml(&body)
        .map_err(|r| anyhow::anyhow!("the catalog is refused: {}", r.message_en()))?;
    let version = catalog.version as i64;
    let client = pool.get().await?;
    let newest: Option<i64> = client
        .query_one("SELECT max(version) FROM catalogs", &[])
        .await?
        .get(0);
    if newest.is_some_and(|n| n >= version) {
        bail!(
            "catalog version {version} is not newer than the published {}",
            newest.unwrap_or(0)
        );
    }
    client
        .execute(
            "INSERT INTO catalogs (version, body, published_by, published_at)
             VALUES ($1, $2, $3, $4)",
            &[&version, &body, &by, &clock.now()],
        )
        .await?;
    Ok(json!({ "ok": true, "version": version }))
}

pub async fn decide(
    pool: &Pool,
    clock: &Clock,
    station: &str,
    order: &str,
    returned: Option<&str>,
    by: &str,
) -> Result<Value> {
    let client = pool.get().await?;
    // The order's newest step at that station, found by id or number
    // (two stations number their orders alike).
    let row = client
        .query_opt(
            "SELECT station_id, payload->>'subject', coalesce(payload->'data'->>'to', '')
             FROM records
             WHERE station_id = $2 AND kind LIKE 'order.%'
               AND (payload->>'subject' = $1 OR payload->'data'->>'number' = $1
                    OR payload->'data'->'order'->>'number' = $1)
             ORDER BY seq DESC LIMIT 1",
            &[&order, &station],
        )
        .await?;
    let Some(row) = row else {
        bail!("order {order} of station {station} is not known at the central (not synced yet?)");
    };
    let (station, order_id, state): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    if state != "central-review" {
        bail!("order {order} is not awaiting central review (its state is '{state}')");
    }
    let decision = if returned.is_some() {
        "returned"
    } else {
        "approved"
    };
    let cursor: i64 = client
        .query_one(
            "INSERT INTO decisions (station_id, order_id, decision, reason, decided_by, decided_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING cursor",
            &[&station, &order_id, &decision, &returned, &by, &clock.now()],
        )
        .await?
        .get(0);
    Ok(
        json!({ "ok": true, "order_id": order_id, "station": station, "decision": decision, "cursor": cursor }),
    )
}

/// The newest whole copy of an order the station sent (its creation, an
/// amendment or its end), with its disclosures put back in place of the
/// digests, and when the station purged its own copy.
pub async fn order(pool: &Pool, station: &str, order: &str) -> Result<Value> {
    let client = pool.get().await?;
    let rows = client
        .query(
            "SELECT kind, payload, disclosures, created_at::text FROM records
             WHERE station_id = $2 AND kind LIKE 'order.%'
               AND (payload->>'subject' = $1 OR payload->'data'->>'number' = $1
                    OR payload->'data'->'order'->>'number' = $1)
             ORDER BY seq DESC",
            &[&order, &station],
        )
        .await?;
    let purged_at = rows
        .iter()
        .find(|r| r.get::<_, String>(0) == "order.purged")
        .map(|r| r.get::<_, String>(3));
    let Some(whole) = rows.iter().find(|r| {
        r.get::<_, Value>(1)["data"]
            .get("order")
            .is_some_and(Value::is_object)
    }) else {
        bail!("order {order} of station {station} is not known at the central (not synced yet?)");
    };
    let mut body = whole.get::<_, Value>(1)["data"]["order"].clone();
    let disclosures: Vec<kiosk_sync::personal::Disclosure> = whole
        .get::<_, Option<Value>>(2)
        .map(serde_json::from_value)
        .transpose()?
        .unwrap_or_default();
    // Checked on arrival; a marker without its disclosure stays visible.
    kiosk_sync::personal::restore(&mut body, &disclosures, "（未披露）");
    Ok(
        json!({ "station": station, "order": body, "from_record": whole.get::<_, String>(0),
               "purged_at_station": purged_at }),
    )
}

/// Writes `central-tls.pem` and `central-tls.key` into `out`.
pub fn tls_init(hosts: &[String], out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(hosts.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "central sync server");
    let cert = params.self_signed(&key)?;
    std::fs::write(out.join("central-tls.pem"), cert.pem())?;
    let key_path = out.join("central-tls.key");
    std::fs::write(&key_path, key.serialize_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
    }
    println!(
        "{}",
        json!({ "ok": true, "cert": out.join("central-tls.pem"), "key": key_path })
    );
    Ok(())
}

/// The station's master (made on first use, then always the same), wrapped
/// for the station token that asked: `request` is the station's
/// `ca/master-request.json`. Each wrap is recorded.
pub async fn station_master(pool: &Pool, clock: &Clock, request: &Path) -> Result<Value> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let text =
        std::fs::read(request).with_context(|| format!("cannot read {}", request.display()))?;
    let req: kiosk_sync::master::MasterRequest =
        serde_json::from_slice(&text).context("the master request is not one")?;
    let (station, serial) = (req.station_id, req.token_serial);
    let key_der = b64
        .decode(req.unwrap_key.trim())
        .context("the request's unwrap_key is not base64")?;
    let rsa = openssl::rsa::Rsa::public_key_from_der_pkcs1(&key_der)
        .context("the request's unwrap_key is not an RSA public key")?;
    anyhow::ensure!(
        rsa.size() >= 384,
        "the token's unwrapping key has {} bits; at least 3072 are required",
        rsa.size() * 8
    );
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut fresh = [0u8; 32];
    openssl::rand::rand_bytes(&mut fresh)?;
    tx.execute(
        "INSERT INTO station_masters (station_id, master, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (station_id) DO NOTHING",
        &[&station, &fresh.as_slice(), &clock.now()],
    )
    .await?;
    let master: Vec<u8> = tx
        .query_one(
            "SELECT master FROM station_masters WHERE station_id = $1",
            &[&station],
        )
        .await?
        .get(0);
    fresh.fill(0);
    let mut wrapped = vec![0u8; rsa.size() as usize];
    let n = rsa.public_encrypt(&master, &mut wrapped, openssl::rsa::Padding::PKCS1_OAEP)?;
    wrapped.truncate(n);
    let hmac_key = openssl::pkey::PKey::hmac(&master)?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &hmac_key)?;
    signer.update(kiosk_sync::master::check_text(&station).as_bytes())?;
    let check = hex::encode(signer.sign_to_vec()?);
    let key_sha = hex::encode(openssl::sha::sha256(&key_der));
    tx.execute(
        "INSERT INTO station_master_wraps (station_id, token_serial, key_sha256, at) VALUES ($1, $2, $3, $4)",
        &[&station, &serial, &key_sha, &clock.now()],
    )
    .await?;
    tx.commit().await?;
    Ok(serde_json::to_value(kiosk_sync::master::WrappedMaster {
        station_id: station,
        wrapped: b64.encode(wrapped),
        check,
    })?)
}

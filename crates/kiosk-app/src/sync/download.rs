//! Fetching what the central publishes: catalog, revocations, review
//! decisions and a renewed station certificate.

use super::*;

impl Station {
    pub(super) fn download(
        &mut self,
        client: &Client<'_>,
        cfg: &SyncConfig,
        current_ca: &[u8],
        summary: &mut SyncSummary,
    ) -> Result<Option<PathBuf>, AppError> {
        let mut retries = summary.retries;
        let mut renewed = None;
        // Revocations anywhere in the network.
        loop {
            let state = self.store().sync_state()?;
            let path = format!("/v1/revocations?after={}", state.revocations_cursor);
            let Some(r): Option<Revocations> =
                client.published(cfg.attempts, &mut retries, &path, "revocations")?
            else {
                break;
            };
            if r.revocations.is_empty() {
                break;
            }
            let list: Vec<CentralRevocation> = r
                .revocations
                .into_iter()
                .map(|v| CentralRevocation {
                    issuer: v.issuer,
                    serial: v.serial,
                    reason: v.reason,
                    revoked_at: v.revoked_at,
                    station_id: v.station_id,
                })
                .collect();
            summary.revocations += list.len();
            let now = self.now();
            self.store_mut()
                .add_central_revocations(&list, r.cursor, now)?;
        }

        // The directory of every certificate of the providers, a page at a
        // time: facts for a lost-key replacement, taken offline.
        loop {
            let after = self.store().sync_state()?.directory_cursor;
            let path = format!("/v1/directory?after={after}");
            let Some(d): Option<kiosk_sync::Directory> =
                client.published(cfg.attempts, &mut retries, &path, "directory")?
            else {
                break;
            };
            if d.entries.is_empty() || d.cursor <= after {
                break;
            }
            summary.directory_entries += d.entries.len();
            self.store_mut().add_directory(&d.entries, d.cursor)?;
        }

        // Decisions on orders sent for central review.
        loop {
            let state = self.store().sync_state()?;
            let path = format!(
                "/v1/stations/{}/decisions?after={}",
                client.station, state.decisions_cursor
            );
            let Some(d): Option<Decisions> =
                client.published(cfg.attempts, &mut retries, &path, "decisions")?
            else {
                break;
            };
            if d.decisions.is_empty() {
                break;
            }
            for decision in &d.decisions {
                let cmd = match decision.decision.as_str() {
                    "approved" => Command::CentralApprove,
                    _ => Command::CentralReturn {
                        reason: decision
                            .reason
                            .clone()
                            .unwrap_or_else(|| "中心审核退回".into()),
                    },
                };
                match self.order_command_as(&decision.order_id, cmd, &Actor::central()) {
                    Ok(_) => summary.decisions_applied += 1,
                    // Already applied by an interrupted run, or the order
                    // moved on: nothing to do.
                    Err(AppError::Rejected(_)) | Err(AppError::NotFound { .. }) => {
                        summary.decisions_skipped += 1
                    }
                    Err(e) => return Err(e),
                }
            }
            self.store_mut().set_decisions_cursor(d.cursor)?;
        }

        // Catalog: imported through the same path as an operator's import,
        // versioned and atomic, within the operator's allow-list. After the
        // revocations and decisions, so that a catalog refused stops no
        // revocation from arriving.
        let newest = self
            .store()
            .catalogs()?
            .iter()
            .map(|c| c.version)
            .max()
            .unwrap_or(0);
        let update: Option<CatalogUpdate> = client.published(
            cfg.attempts,
            &mut retries,
            &format!("/v1/catalog?after={newest}"),
            "catalog",
        )?;
        if let Some(u) = update.filter(|u| u.version > newest) {
            let catalog = Catalog::from_toml(&u.body)?;
            crate::check_catalog(&catalog)?;
            let now = self.now();
            self.store_mut()
                .import_catalog(&Actor::central(), now, &catalog, "central")?;
            summary.catalog_version = Some(catalog.version);
        }

        // A renewed station sub-CA certificate.
        let path = format!("/v1/stations/{}/certificate", client.station);
        let offered: Option<StationCertificate> =
            client.published(cfg.attempts, &mut retries, &path, "certificate")?;
        if let Some(c) = offered {
            if c.sha256 != kiosk_sync::fingerprint(current_ca) && newer_than(&c, current_ca) {
                let dir = self.data_dir().join("ca");
                fs::create_dir_all(&dir).map_err(|e| AppError::io(dir.display(), e))?;
                let file = dir.join("renewed-from-central.pem");
                fs::write(&file, &c.chain_pem).map_err(|e| AppError::io(file.display(), e))?;
                renewed = Some(file);
            }
        }
        summary.retries = retries;
        Ok(renewed)
    }
}

/// Whether the offered certificate ends later than the current one.
fn newer_than(offered: &StationCertificate, current_der: &[u8]) -> bool {
    let current = kiosk_keys::certificate_info(current_der)
        .map(|i| i.not_after.unix_timestamp())
        .unwrap_or(0);
    chrono::DateTime::parse_from_rfc3339(&offered.not_after)
        .map(|t| t.timestamp() > current)
        .unwrap_or(false)
}

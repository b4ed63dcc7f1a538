//! Sending the outbox in consecutive batches, and the newest CRL.

use super::*;

/// The request body of a batch, as the protocol's `Batch`. The payloads
/// are the stored JSON text, carried as raw JSON (checked, not rewritten).
fn batch_body(records: &[kiosk_store::RawRecord]) -> Result<Vec<u8>, SyncError> {
    let records = records
        .iter()
        .map(|r| {
            Ok(kiosk_sync::Record {
                seq: r.seq,
                id: &r.id,
                kind: &r.kind,
                payload_version: r.payload_version,
                created_at: &r.created_at,
                payload: serde_json::from_str(&r.payload)?,
                disclosures: r.disclosures.clone(),
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()
        .map_err(|e| SyncError::Protocol(format!("a stored payload is not JSON: {e}")))?;
    serde_json::to_vec(&kiosk_sync::Batch { records })
        .map_err(|e| SyncError::Protocol(format!("the batch cannot be written: {e}")))
}

/// The first records that fit in half of the central's request limit
/// (the rest is left for the JSON around them), at least one.
fn within_request_limit(mut records: Vec<kiosk_store::RawRecord>) -> Vec<kiosk_store::RawRecord> {
    const BUDGET: usize = kiosk_sync::request_limit::RECORDS / 2;
    let mut total = 0;
    let fit = records
        .iter()
        .position(|r| {
            total += r.payload.len()
                + r.id.len()
                + r.kind.len()
                + r.created_at.len()
                + r.disclosures
                    .iter()
                    .map(|d| d.salt.len() + d.field.len() + d.value.len() + 40)
                    .sum::<usize>();
            total > BUDGET
        })
        .unwrap_or(records.len())
        .max(1);
    records.truncate(fit);
    records
}

impl Station {
    pub(super) fn upload(
        &mut self,
        client: &Client<'_>,
        cfg: &SyncConfig,
        summary: &mut SyncSummary,
        progress: &mut dyn FnMut(SyncProgress),
    ) -> Result<(), AppError> {
        let local_head = self.store().outbox_head()?;
        let mut failures = 0;
        let mut announced = false;
        'resume: loop {
            let head_path = format!(
                "/v1/stations/{}/head?outbox_head={local_head}",
                client.station
            );
            let head: Head = match client.json("GET", &head_path, b"") {
                Ok(Some(h)) => h,
                Ok(None) => return Err(SyncError::Protocol("empty head".into()).into()),
                Err(e) if try_again(&e, &mut failures, cfg.attempts, &mut summary.retries) => {
                    continue 'resume;
                }
                Err(e) => return Err(e.into()),
            };
            if head.committed_seq > local_head {
                return Err(SyncError::CentralAhead {
                    central: head.committed_seq,
                    local: local_head,
                }
                .into());
            }
            let now = self.now();
            self.store_mut().mark_acked(head.committed_seq, now)?;
            summary.committed_seq = head.committed_seq;
            if !announced {
                progress(SyncProgress::Pending(
                    (local_head - head.committed_seq).max(0) as u64,
                ));
                announced = true;
            }
            let mut after = head.committed_seq;
            let path = format!("/v1/stations/{}/records", client.station);
            loop {
                let records = within_request_limit(self.store().outbox_after(after, cfg.batch)?);
                if records.is_empty() {
                    return Ok(());
                }
                let body = batch_body(&records)?;
                let ack: BatchAck = match client.json("POST", &path, &body) {
                    Ok(Some(a)) => a,
                    Ok(None) => return Err(SyncError::Protocol("empty batch answer".into()).into()),
                    Err(SyncError::Refused(r)) if r.code == refusal::GAP => {
                        // The central is elsewhere than thought: ask again.
                        if failures + 1 >= cfg.attempts {
                            return Err(SyncError::Refused(r).into());
                        }
                        failures += 1;
                        continue 'resume;
                    }
                    Err(e) if try_again(&e, &mut failures, cfg.attempts, &mut summary.retries) => {
                        continue 'resume;
                    }
                    Err(e) => return Err(e.into()),
                };
                let last = records[records.len() - 1].seq;
                if ack.committed_seq < last || ack.committed_seq > local_head {
                    return Err(SyncError::Protocol(format!(
                        "the central acknowledged {} after a batch ending at {last}",
                        ack.committed_seq
                    ))
                    .into());
                }
                let now = self.now();
                self.store_mut().mark_acked(ack.committed_seq, now)?;
                summary.sent += ack.inserted;
                summary.duplicates += ack.duplicates;
                summary.newer_payload_versions += ack.newer_payload_versions;
                summary.batches += 1;
                summary.bytes_sent += body.len() as u64;
                summary.committed_seq = ack.committed_seq;
                progress(SyncProgress::Committed(summary.sent + summary.duplicates));
                after = ack.committed_seq;
            }
        }
    }

    /// Uploads the newest CRL not yet delivered and marks it and all older
    /// ones delivered. Only the newest: a CRL lists every unexpired
    /// revocation, relying parties get only the newest, and the central
    /// refuses an older one after it; so a backlog costs one request, and a
    /// CRL refused for good stops the runs only until the next is signed.
    /// `crl_not_newer`: the central has it (an answer lost) or a newer one.
    pub(super) fn upload_crl(
        &mut self,
        client: &Client<'_>,
        cfg: &SyncConfig,
        summary: &mut SyncSummary,
    ) -> Result<(), AppError> {
        let waiting = self.store().crls_to_upload()?;
        let Some(newest) = waiting.last() else {
            return Ok(());
        };
        let path = format!("/v1/stations/{}/crl", client.station);
        let mut failures = 0;
        let stored = loop {
            match client.call("POST", &path, &newest.der, kiosk_sync::CRL_CONTENT_TYPE) {
                Ok(Answer::Body(b, _)) => match serde_json::from_slice::<CrlAck>(&b) {
                    Ok(ack) if ack.number == newest.number => break Some(ack.number),
                    _ => return Err(SyncError::Protocol(format!("{path}: bad answer")).into()),
                },
                Ok(Answer::NoContent) => {
                    return Err(SyncError::Protocol(format!("{path}: empty answer")).into())
                }
                Err(SyncError::Refused(r)) if r.code == refusal::CRL_NOT_NEWER => break None,
                Err(e) if try_again(&e, &mut failures, cfg.attempts, &mut summary.retries) => {}
                Err(e) => return Err(e.into()),
            }
        };
        let numbers: Vec<i64> = waiting.iter().map(|c| c.number).collect();
        let now = self.now();
        self.store_mut()
            .write(&Actor::system(), now, |w| w.crls_uploaded(&numbers))?;
        summary.crl_uploaded = stored;
        Ok(())
    }

    /// Sends the audit rows the central does not hold yet, each upload
    /// ending at a sealed row, until it holds the newest seal. The central
    /// checks that they chain from what it holds and that the seal is the
    /// station's; a history that no longer leads there is refused
    /// (`history_diverged`) and the run stops.
    pub(super) fn upload_audit(
        &mut self,
        client: &Client<'_>,
        cfg: &SyncConfig,
        summary: &mut SyncSummary,
    ) -> Result<(), AppError> {
        use kiosk_sync::audit::{AuditAck, AuditUpload, MAX_AUDIT_ROWS};
        let seals = self.store().audit_seals()?;
        let Some(newest) = seals.last() else {
            return Ok(());
        };
        let head_path = format!("/v1/stations/{}/head", client.station);
        let path = format!("/v1/stations/{}/audit", client.station);
        let reach = MAX_AUDIT_ROWS as i64;
        let mut failures = 0;
        loop {
            let head: Head = match client.json("GET", &head_path, b"") {
                Ok(Some(h)) => h,
                Ok(None) => return Err(SyncError::Protocol("empty head".into()).into()),
                Err(e) if try_again(&e, &mut failures, cfg.attempts, &mut summary.retries) => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            summary.audit_sealed_at_central = head.audit_seq;
            if head.audit_seq >= newest.seq {
                return Ok(());
            }
            // The furthest seal one upload reaches (a first upload: the
            // newest, with the rows before it up to the limit).
            let (from, seal) = if head.audit_seq == 0 {
                ((newest.seq - reach).max(0), newest)
            } else {
                let ahead = seals.iter().filter(|s| s.seq > head.audit_seq);
                let seal = ahead
                    .clone()
                    .rev()
                    .find(|s| s.seq - head.audit_seq <= reach)
                    .or_else(|| ahead.clone().next())
                    .unwrap_or(newest);
                (head.audit_seq, seal)
            };
            let body = serde_json::to_vec(&AuditUpload {
                rows: self.store().audit_rows(from, seal.seq)?,
                seal: seal.clone(),
            })
            .map_err(|e| SyncError::Protocol(format!("the audit upload cannot be written: {e}")))?;
            match client.json::<AuditAck>("POST", &path, &body) {
                Ok(Some(ack)) if ack.audit_seq >= seal.seq => {
                    summary.audit_sealed_at_central = ack.audit_seq;
                }
                Ok(Some(ack)) => {
                    return Err(SyncError::Protocol(format!(
                        "the central acknowledged audit row {} for a seal of row {}",
                        ack.audit_seq, seal.seq
                    ))
                    .into())
                }
                Ok(None) => return Err(SyncError::Protocol(format!("{path}: empty answer")).into()),
                Err(e) if try_again(&e, &mut failures, cfg.attempts, &mut summary.retries) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_body_carries_payloads_untouched() {
        let r = kiosk_store::RawRecord {
            seq: 7,
            id: "0190-x".into(),
            kind: "order.created".into(),
            payload_version: 1,
            payload: r#"{"a": "甲\"b"}"#.into(),
            created_at: "2026-11-21T00:00:00.000000Z".into(),
            disclosures: Vec::new(),
        };
        let body = batch_body(&[r.clone(), kiosk_store::RawRecord { seq: 8, ..r }]).unwrap();
        let b: kiosk_sync::Batch = serde_json::from_slice(&body).unwrap();
        assert_eq!(b.records.len(), 2);
        assert_eq!(b.records[1].seq, 8);
        assert_eq!(b.records[0].payload.get(), r#"{"a": "甲\"b"}"#);
    }

    #[test]
    fn a_batch_stops_before_the_central_s_request_limit_but_holds_at_least_one_record() {
        let big = kiosk_sync::request_limit::RECORDS / 5;
        let record = |seq: i64, len: usize| kiosk_store::RawRecord {
            seq,
            id: format!("id-{seq}"),
            kind: "seal.extracted".into(),
            payload_version: 1,
            payload: "x".repeat(len),
            created_at: "2026-11-21T00:00:00.000000Z".into(),
            disclosures: Vec::new(),
        };
        let batch = within_request_limit((1..=5).map(|s| record(s, big)).collect());
        assert_eq!(batch.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
        let small = within_request_limit((1..=100).map(|s| record(s, 100)).collect());
        assert_eq!(small.len(), 100);
        let alone = within_request_limit(vec![record(1, 2 * kiosk_sync::request_limit::RECORDS)]);
        assert_eq!(
            alone.len(),
            1,
            "too large for any batch: sent, and refused by the central"
        );
        assert!(within_request_limit(Vec::new()).is_empty());
    }
}

//! The signed-request client of one sync run: every request signed by the
//! station token's key, transient failures retried with backoff.

use super::*;

/// A signed-request client for one run. The signing key stays in the
/// station token.
pub(super) struct Client<'a> {
    pub(super) agent: ureq::Agent,
    pub(super) base: String,
    pub(super) station: String,
    pub(super) certificate_sha256: String,
    pub(super) signer: TokenSigner<'a>,
    pub(super) trace_dir: Option<PathBuf>,
    pub(super) clock: std::sync::Arc<dyn crate::Clock>,
    /// The certificates pinned for the central (`KIOSK_CENTRAL_CA`, DER):
    /// what a publication's chain must end at.
    pub(super) anchors: Vec<Vec<u8>>,
    /// Answer bytes read in this run.
    pub(super) received: std::cell::Cell<u64>,
}

pub(super) enum Answer {
    /// The body, and the publication signature headers when present.
    Body(Vec<u8>, Option<(String, String)>),
    NoContent,
}

impl Client<'_> {
    pub(super) fn call(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        content_type: &str,
    ) -> Result<Answer, SyncError> {
        let now = self.clock.now();
        let time = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let nonce = kiosk_store::new_id(now);
        let signed = kiosk_sync::Signed {
            method,
            path_and_query: path,
            station: &self.station,
            certificate_sha256: &self.certificate_sha256,
            time: &time,
            nonce: &nonce,
            body,
        };
        let signature = self
            .signer
            .sign_der(&signed.message())
            .map_err(|e| SyncError::Protocol(format!("the station token cannot sign: {e}")))?;
        let signature = base64::engine::general_purpose::STANDARD.encode(signature);
        let url = format!("{}{path}", self.base);
        let headers = [
            (header::STATION, self.station.as_str()),
            (header::CERTIFICATE, self.certificate_sha256.as_str()),
            (header::TIME, time.as_str()),
            (header::NONCE, nonce.as_str()),
            (header::SIGNATURE, signature.as_str()),
        ];
        if let Some(dir) = &self.trace_dir {
            let head: String = std::iter::once(format!("{method} {path}\n"))
                .chain(headers.iter().map(|(k, v)| format!("{k}: {v}\n")))
                .collect();
            let _ = fs::create_dir_all(dir);
            let _ = fs::write(dir.join(format!("{nonce}.head")), head);
            let _ = fs::write(dir.join(format!("{nonce}.body")), body);
        }
        fn with<B>(
            mut rb: ureq::RequestBuilder<B>,
            headers: &[(&str, &str)],
        ) -> ureq::RequestBuilder<B> {
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            rb
        }
        let response = if method == "POST" {
            with(self.agent.post(&url), &headers)
                .content_type(content_type)
                .send(body)
        } else {
            with(self.agent.get(&url), &headers).call()
        };
        let mut response = response.map_err(|e| SyncError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| match e {
                // Not the network: the central sent more than any answer
                // may hold. Nothing of it is taken, and trying again would
                // only fetch it again.
                ureq::Error::BodyExceedsLimit(_) => SyncError::Protocol(format!(
                    "{path}: the answer is larger than {} MiB; nothing of it was taken",
                    MAX_ANSWER_BYTES / (1024 * 1024)
                )),
                e => SyncError::Unreachable(e.to_string()),
            })?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        self.received.set(self.received.get() + bytes.len() as u64);
        let signature = header(kiosk_sync::publication::SIGNATURE_HEADER)
            .zip(header(kiosk_sync::publication::CHAIN_HEADER));
        match status {
            200 => Ok(Answer::Body(bytes, signature)),
            204 => Ok(Answer::NoContent),
            _ => Err(match serde_json::from_slice::<Refusal>(&bytes) {
                Ok(r) => SyncError::Refused(r),
                Err(_) => SyncError::Protocol(format!("HTTP {status}")),
            }),
        }
    }

    pub(super) fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Option<T>, SyncError> {
        match self.call(method, path, body, "application/json")? {
            Answer::NoContent => Ok(None),
            Answer::Body(b, _) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| SyncError::Protocol(format!("{path}: {e}"))),
        }
    }
}

impl Client<'_> {
    /// A publication of `kind` (see `kiosk_sync::publication`): fetched
    /// like [`Client::json`] (tried again on a transient failure), and taken only when the central
    /// signed it for this station with a certificate that chains to the
    /// pinned CA and is valid now.
    pub(super) fn published<T: serde::de::DeserializeOwned>(
        &self,
        attempts: u32,
        retries: &mut u32,
        path: &str,
        kind: &str,
    ) -> Result<Option<T>, SyncError> {
        let mut failures = 0;
        let answer = loop {
            match self.call("GET", path, b"", "application/json") {
                Err(e) if try_again(&e, &mut failures, attempts, retries) => {}
                other => break other?,
            }
        };
        let (body, signature) = match answer {
            Answer::NoContent => return Ok(None),
            Answer::Body(b, s) => (b, s),
        };
        self.check_publication(kind, &body, signature)?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| SyncError::Protocol(format!("{path}: {e}")))
    }

    fn check_publication(
        &self,
        kind: &str,
        body: &[u8],
        signature: Option<(String, String)>,
    ) -> Result<(), SyncError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let bad = |why: &str| SyncError::BadPublication {
            kind: kind.to_string(),
            why: why.to_string(),
        };
        let (signature, chain) = signature.ok_or_else(|| bad("unsigned"))?;
        let signature = b64
            .decode(signature)
            .map_err(|_| bad("unreadable signature"))?;
        let chain: Vec<Vec<u8>> = chain
            .split(',')
            .map(|c| b64.decode(c.trim()))
            .collect::<Result<_, _>>()
            .map_err(|_| bad("unreadable certificate chain"))?;
        let signer = chain.first().ok_or_else(|| bad("no certificate"))?;
        let anchored = self.anchors.iter().any(|anchor| {
            let mut full = chain.clone();
            if full.last() != Some(anchor) {
                full.push(anchor.clone());
            }
            kiosk_keys::verify_chain(&full).is_ok()
        });
        if !anchored {
            return Err(bad(
                "the signer's certificate does not chain to the pinned central CA",
            ));
        }
        let now = crate::clock::x509_time(self.clock.now());
        let info =
            kiosk_keys::certificate_info(signer).map_err(|_| bad("unreadable certificate"))?;
        if info.not_after <= now || info.not_before > now {
            return Err(bad("the signer's certificate is not valid now"));
        }
        kiosk_sync::verify(
            signer,
            &kiosk_sync::publication::message(kind, &self.station, body),
            &signature,
        )
        .map_err(|_| bad("the signature does not match (changed, or meant for another station)"))
    }
}

/// The wait before try `attempt + 1`: doubling from 400 ms, with up to
/// half of it again at random, so stations cut off together (a central
/// restarting) do not all come back in the same instant.
fn backoff(attempt: u32) -> Duration {
    let base = 200 * 2u64.pow(attempt.min(5));
    let mut r = [0u8; 2];
    let _ = getrandom::fill(&mut r);
    let jitter = u64::from(u16::from_le_bytes(r)) * (base / 2) / u64::from(u16::MAX);
    Duration::from_millis(base + jitter)
}

/// Whether to try again after `e`: a transient failure with tries left.
/// Counts the failure and waits before saying yes.
pub(super) fn try_again(
    e: &SyncError,
    failures: &mut u32,
    attempts: u32,
    retries: &mut u32,
) -> bool {
    if !e.transient() || *failures + 1 >= attempts {
        return false;
    }
    *failures += 1;
    *retries += 1;
    std::thread::sleep(backoff(*failures));
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_with_jitter_of_up_to_half() {
        for attempt in 1..=7 {
            let base = 200 * 2u64.pow(attempt.min(5));
            let waits: Vec<u64> = (0..50)
                .map(|_| super::backoff(attempt).as_millis() as u64)
                .collect();
            assert!(waits.iter().all(|w| (base..=base + base / 2).contains(w)));
            assert!(waits.iter().any(|w| *w != waits[0]), "the waits differ");
        }
    }
}

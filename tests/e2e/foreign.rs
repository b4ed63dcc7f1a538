//! Keys that come to the counter with a certificate this station never
//! issued: a "legacy" provider CA made with `openssl` (its own root), key
//! pairs generated on SoftHSM2 keys with `pkcs11-tool`, certificates issued
//! for them with `openssl` and written onto the keys with `pkcs11-tool`, as
//! the CA's own systems would. The station reads them and says whether
//! they chain to the provider's anchors in the catalog; `openssl verify`
//! says the same.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::keys::Hsm;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub(crate) const HOLDER_PIN: &str = "246813";
const HOLDER: &str = "/CN=重庆某某科技有限公司/serialNumber=91500000202800001X";

fn sh(c: &mut Command) -> Vec<u8> {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    sh(Command::new("openssl").current_dir(dir).args(args))
}

/// A CA made with openssl: a root and an issuing CA under it, P-256 or
/// SM2 (SM3withSM2 with the default ID, as Chinese CAs sign).
pub(crate) struct LegacyCa {
    dir: PathBuf,
    sm2: bool,
}

/// OpenSSL's options for SM3withSM2 with the default distinguishing ID.
const SM2_SIGN: [&str; 3] = ["-sm3", "-sigopt", "distid:1234567812345678"];
const SM2_VERIFY: [&str; 2] = ["-vfyopt", "distid:1234567812345678"];

impl LegacyCa {
    pub(crate) fn new(dir: &Path, name: &str) -> LegacyCa {
        LegacyCa::make(dir, name, false)
    }

    /// The same, in SM2.
    pub(crate) fn new_sm2(dir: &Path, name: &str) -> LegacyCa {
        LegacyCa::make(dir, name, true)
    }

    /// `args` then, for an SM2 CA, the signing options (and, when `csr`,
    /// those that verify the request's SM2 signature).
    fn signed<'a>(&self, args: &[&'a str], csr: bool) -> Vec<&'a str> {
        let mut v = args.to_vec();
        if self.sm2 {
            v.extend(SM2_SIGN);
            if csr {
                v.extend(SM2_VERIFY);
            }
        }
        v
    }

    fn make(dir: &Path, name: &str, sm2: bool) -> LegacyCa {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = LegacyCa { dir, sm2 };
        let d = &ca.dir;
        for key in ["root.key", "issuing.key", "scratch.key"] {
            if sm2 {
                openssl(
                    d,
                    &[
                        "genpkey",
                        "-algorithm",
                        "EC",
                        "-pkeyopt",
                        "ec_paramgen_curve:SM2",
                        "-out",
                        key,
                    ],
                );
                continue;
            }
            openssl(
                d,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    key,
                ],
            );
        }
        std::fs::write(
            d.join("ca.ext"),
            "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
        )
        .unwrap();
        openssl(
            d,
            &ca.signed(
                &[
                    "req",
                    "-x509",
                    "-new",
                    "-key",
                    "root.key",
                    "-subj",
                    &format!("/O={name}/CN={name} Root CA"),
                    "-days",
                    "7300",
                    "-out",
                    "root.pem",
                    "-addext",
                    "basicConstraints=critical,CA:true",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
                false,
            ),
        );
        openssl(
            d,
            &ca.signed(
                &[
                    "req",
                    "-new",
                    "-key",
                    "issuing.key",
                    "-subj",
                    &format!("/O={name}/CN={name} Issuing CA"),
                    "-out",
                    "issuing.csr",
                ],
                false,
            ),
        );
        openssl(
            d,
            &ca.signed(
                &[
                    "x509",
                    "-req",
                    "-in",
                    "issuing.csr",
                    "-CA",
                    "root.pem",
                    "-CAkey",
                    "root.key",
                    "-days",
                    "3650",
                    "-set_serial",
                    "0x1001",
                    "-extfile",
                    "ca.ext",
                    "-out",
                    "issuing.pem",
                ],
                true,
            ),
        );
        ca
    }

    /// Makes `h`'s station trust this CA for `provider`: its root and
    /// issuing CA as the provider's anchors, in catalog version 6.
    pub(crate) fn trusted_by(&self, h: &Hsm, provider: &str) {
        self.trusted_by_with(h, provider, |t| t);
    }

    /// [`LegacyCa::trusted_by`] in a catalog that `edit` changes further.
    pub(crate) fn trusted_by_with(&self, h: &Hsm, provider: &str, edit: impl Fn(String) -> String) {
        let anchors = [self.pem("root.pem"), self.pem("issuing.pem")];
        let file = write(
            h.dir.path(),
            "anchors.toml",
            edit(catalog_with_anchors(6, provider, &anchors)).as_bytes(),
        );
        h.privileged(&["catalog", "import", file.to_str().unwrap()])
            .ok();
    }

    /// A new holder key (`label`) carrying this CA's certificate for the
    /// demo company, as the CA's systems leave it; what `key show` says of
    /// it, and the station date its certificate ends on.
    pub(crate) fn key_for_demo_company(
        &self,
        h: &Hsm,
        label: &str,
        serial: &str,
    ) -> (HolderKey, Value, chrono::NaiveDate) {
        let holder = HolderKey::new(h, label);
        let cert = self.issue(&holder.public_pem, DEMO_COMPANY, serial);
        holder.write_certificate(h, &cert);
        let shown = h.ctl(&["key", "show", &holder.serial]).ok();
        let end = station_date(shown["not_after"].as_str().unwrap());
        (holder, shown, end)
    }

    pub(crate) fn pem(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }

    /// A certificate for `public` (PEM), subject `subject`, issued by the
    /// issuing CA (as openssl does it: a request carries the subject, the
    /// key is forced to the one on the token). DER.
    pub(crate) fn issue(&self, public: &Path, subject: &str, serial: &str) -> Vec<u8> {
        let d = &self.dir;
        std::fs::write(
            d.join("leaf.ext"),
            "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
        .unwrap();
        openssl(
            d,
            &self.signed(
                &[
                    "req",
                    "-new",
                    "-utf8",
                    "-key",
                    "scratch.key",
                    "-subj",
                    subject,
                    "-out",
                    "leaf.csr",
                ],
                false,
            ),
        );
        openssl(
            d,
            &self.signed(
                &[
                    "x509",
                    "-req",
                    "-in",
                    "leaf.csr",
                    "-force_pubkey",
                    public.to_str().unwrap(),
                    "-CA",
                    "issuing.pem",
                    "-CAkey",
                    "issuing.key",
                    "-days",
                    "365",
                    "-set_serial",
                    serial,
                    "-extfile",
                    "leaf.ext",
                    "-outform",
                    "DER",
                    "-out",
                    "leaf.der",
                ],
                true,
            ),
        );
        std::fs::read(d.join("leaf.der")).unwrap()
    }
}

/// A key as the CA's own systems leave it: a token with a P-256 key pair
/// generated on it by pkcs11-tool, and (once written) its certificate.
pub(crate) struct HolderKey {
    pub(crate) serial: String,
    label: String,
    pub(crate) public_pem: PathBuf,
}

impl HolderKey {
    pub(crate) fn new(h: &Hsm, label: &str) -> HolderKey {
        let before = token_serials(h);
        sh(h.plain("softhsm2-util").args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            "13572468",
            "--pin",
            HOLDER_PIN,
        ]));
        let serial = token_serials(h)
            .into_iter()
            .find(|s| !before.contains(s))
            .expect("a new token");
        sh(h.plain("pkcs11-tool").args([
            "--module",
            MODULE,
            "--token-label",
            label,
            "--login",
            "--pin",
            HOLDER_PIN,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--id",
            "01",
            "--label",
            "holder",
        ]));
        let der = h.dir.path().join(format!("{label}-pub.der"));
        sh(h.plain("pkcs11-tool")
            .args([
                "--module",
                MODULE,
                "--token-label",
                label,
                "--read-object",
                "--type",
                "pubkey",
                "--id",
                "01",
                "-o",
            ])
            .arg(&der));
        let public_pem = public_pem(h, label, &der);
        HolderKey {
            serial,
            label: label.to_string(),
            public_pem,
        }
    }

    pub(crate) fn write_certificate(&self, h: &Hsm, der: &[u8]) {
        let file = h.dir.path().join(format!("{}-cert.der", self.label));
        std::fs::write(&file, der).unwrap();
        sh(h.plain("pkcs11-tool")
            .args([
                "--module",
                MODULE,
                "--token-label",
                &self.label,
                "--login",
                "--pin",
                HOLDER_PIN,
                "--write-object",
            ])
            .arg(&file)
            .args(["--type", "cert", "--id", "01", "--label", "holder"]));
    }
}

fn token_serials(h: &Hsm) -> Vec<String> {
    String::from_utf8(sh(h.plain("softhsm2-util").arg("--show-slots")))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial number:"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `openssl verify` of `der` against `root`, with `untrusted` as the
/// intermediate: whether it verifies.
fn openssl_verifies(dir: &Path, der: &[u8], root: &str, untrusted: &str) -> bool {
    let der = write(dir, "verify-leaf.der", der);
    let leaf = dir.join("verify-leaf.pem");
    openssl(
        dir,
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            der.to_str().unwrap(),
            "-out",
            leaf.to_str().unwrap(),
        ],
    );
    Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(write(dir, "verify-root.pem", root.as_bytes()))
        .arg("-untrusted")
        .arg(write(dir, "verify-untrusted.pem", untrusted.as_bytes()))
        .arg(&leaf)
        .output()
        .unwrap()
        .status
        .success()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The shipped catalog, one version up, with `anchors` for `provider`.
pub(crate) fn catalog_with_anchors(version: u32, provider: &str, anchors: &[String]) -> String {
    let list: Vec<String> = anchors
        .iter()
        .map(|a| format!("\"\"\"\n{a}\"\"\""))
        .collect();
    kiosk_app::EMBEDDED_CATALOG
        .replacen("version = 5", &format!("version = {version}"), 1)
        .replacen(
            &format!("id = \"{provider}\"\n"),
            &format!("id = \"{provider}\"\nanchors = [{}]\n", list.join(", ")),
            1,
        )
}

fn provenance(h: &Hsm, key: &HolderKey) -> Value {
    h.ctl(&["key", "show", &key.serial]).ok()["provenance"].clone()
}

#[test]
fn a_key_from_the_provider_s_own_systems_is_verified_against_its_anchors_and_forgeries_are_named() {
    let h = Hsm::new();
    let legacy = LegacyCa::new(h.dir.path(), "Legacy Sinocert");
    let (root, issuing) = (legacy.pem("root.pem"), legacy.pem("issuing.pem"));

    let good = HolderKey::new(&h, "HOLDER-GOOD");
    let cert = legacy.issue(&good.public_pem, HOLDER, "0x5a01");
    good.write_certificate(&h, &cert);
    assert!(openssl_verifies(h.dir.path(), &cert, &root, &issuing));

    // No provider has anchors yet: read, but not taken.
    let p = provenance(&h, &good);
    assert_eq!(p["verified"], false, "{p}");
    assert_eq!(p["problem"]["code"], "no_anchors", "{p}");

    // A catalog whose anchor is not a certificate is refused whole.
    let bad = write(
        h.dir.path(),
        "bad-anchor.toml",
        catalog_with_anchors(
            6,
            "ezca",
            &["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()],
        )
        .as_bytes(),
    );
    let r = h
        .privileged(&["catalog", "import", bad.to_str().unwrap()])
        .refused("bad_anchor");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("东方中讯"),
        "{r}"
    );
    assert_eq!(h.ctl(&["catalog", "show"]).ok()["active_version"], 5);

    // The provider's root and issuing CA in the catalog: verified, issued
    // by the provider, up to its root.
    legacy.trusted_by(&h, "ezca");
    let p = provenance(&h, &good);
    assert_eq!(p["verified"], true, "{p}");
    assert_eq!(p["issued_by"], "ezca", "{p}");
    assert_eq!(p["issued_by_name"], "东方中讯（East-sinocert）", "{p}");
    let chain: Vec<&str> = p["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(chain.len(), 3, "{p}");
    assert!(chain[1].contains("Legacy Sinocert Issuing CA"), "{p}");
    assert!(chain[2].contains("Legacy Sinocert Root CA"), "{p}");

    // A forgery: the issuing CA's name, another key's signature.
    let forger = LegacyCa::new(&h.dir.path().join("forger"), "Legacy Sinocert");
    let forged_key = HolderKey::new(&h, "HOLDER-FORGED");
    let forged = forger.issue(&forged_key.public_pem, HOLDER, "0x5a02");
    forged_key.write_certificate(&h, &forged);
    assert!(!openssl_verifies(h.dir.path(), &forged, &root, &issuing));
    let p = provenance(&h, &forged_key);
    assert_eq!(p["verified"], false, "{p}");
    assert_eq!(p["problem"]["code"], "forged_certificate", "{p}");
    assert!(
        p["problem"]["problem_zh"]
            .as_str()
            .unwrap()
            .contains("伪造"),
        "{p}"
    );

    // Another CA altogether.
    let stranger = LegacyCa::new(h.dir.path(), "Elsewhere CA");
    let other_key = HolderKey::new(&h, "HOLDER-OTHER");
    let other = stranger.issue(&other_key.public_pem, HOLDER, "0x5a03");
    other_key.write_certificate(&h, &other);
    assert!(!openssl_verifies(h.dir.path(), &other, &root, &issuing));
    let p = provenance(&h, &other_key);
    assert_eq!(p["problem"]["code"], "unknown_issuer", "{p}");
    assert!(
        p["problem"]["problem_en"]
            .as_str()
            .unwrap()
            .contains("Elsewhere CA"),
        "{p}"
    );

    // A genuine certificate on a key that does not hold its key pair.
    let moved = HolderKey::new(&h, "HOLDER-MOVED");
    moved.write_certificate(&h, &cert);
    let p = provenance(&h, &moved);
    assert_eq!(p["verified"], false, "{p}");
    assert_eq!(p["issued_by"], "ezca", "the chain itself holds: {p}");
    assert_eq!(p["problem"]["code"], "key_mismatch", "{p}");

    // Reading writes nothing.
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
}

/// The demo application's company, as a legacy certificate names it.
pub(crate) const DEMO_COMPANY: &str = "/CN=重庆示例建材有限公司/serialNumber=91500000MA5U8K2T0A";

/// The station date (UTC+8) of an RFC 3339 instant.
pub(crate) fn station_date(rfc3339: &str) -> chrono::NaiveDate {
    (chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap() + chrono::Duration::hours(8))
        .date_naive()
}

#[test]
fn a_certificate_issued_elsewhere_is_renewed_or_changed_from_the_key_but_not_unlocked() {
    use crate::keys::application;
    let h = Hsm::new();
    let legacy = LegacyCa::new(h.dir.path(), "Legacy Sinocert");
    legacy.trusted_by(&h, "ezca");
    h.free_revocation();

    let (holder, shown, end) = legacy.key_for_demo_company(&h, "HOLDER-RENEW", "0x6b01");
    assert_eq!(shown["provenance"]["verified"], true, "{shown}");
    let serial = shown["certificate_serial"].as_str().unwrap().to_string();
    let today = (end - chrono::Duration::days(30)).to_string();
    let named = |op: &str| {
        let mut v = application(op, Some(&serial));
        v["certificate"]["not_after"] = end.to_string().into();
        if op == "change" {
            v["change_details"] = "联系人变更".into();
        }
        v
    };
    let counts = || crate::support::counts(&h.data());

    // Only a renewal: a change would revoke a certificate only its own CA
    // can revoke, an unlock needs an SO PIN this station did not set.
    // An unlock needs the key's SO PIN, which this station did not set.
    let order = h.paid(&named("unlock"), Some(&today));
    let (code, _, out) = h.approve(&order);
    assert_eq!(code, Some(0), "{out}");
    let before = counts();
    let pins = [crate::keys::PIN, crate::keys::PIN];
    let (code, j, out) = h.run_op(&order, Some(&holder.serial), &pins, false);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(j["error"]["code"], "issued_elsewhere", "{j}");
    assert_eq!(counts(), before, "nothing written");

    // Another company naming this certificate: refused, nothing written.
    let mut other = named("renew");
    other["organization"]["name"] = "重庆另一家建材有限公司".into();
    other["organization"]["uscc"] = "91500000MA5U8K2U97".into();
    let order = h.paid(&other, Some(&today));
    let before = counts();
    let (_, j, _) = h.run_op(&order, Some(&holder.serial), &[HOLDER_PIN], false);
    assert_eq!(j["error"]["code"], "certificate_of_another_company", "{j}");
    assert_eq!(counts(), before, "nothing written");

    // The renewal: a wrong PIN first (refused, nothing recorded), then the
    // holder's PIN. The new certificate is this station's, for the same
    // key pair, and the old one is recorded as read from the key.
    let order = h.paid(&named("renew"), Some(&today));
    let (_, j, _) = h.run_op(&order, Some(&holder.serial), &["000000"], false);
    assert_eq!(j["error"]["code"], "wrong_pin", "{j}");
    let certs = h.ctl(&["cert", "list", "--key", &holder.serial]).ok();
    assert_eq!(certs["certificates"], serde_json::json!([]), "{certs}");
    let (code, j, out) = h.run_op(&order, Some(&holder.serial), &[HOLDER_PIN], false);
    assert_eq!(code, Some(0), "renew: {out}");
    let renewed = j["certificate_serial"].as_str().unwrap().to_string();
    let certs = h.ctl(&["cert", "list", "--key", &holder.serial]).ok();
    let list = certs["certificates"].as_array().unwrap();
    let old = list
        .iter()
        .find(|c| c["serial"] == serial.as_str())
        .unwrap();
    assert_eq!(old["source"], "read-from-key", "{certs}");
    assert_eq!(old["issued_by"], "ezca", "{certs}");
    assert_eq!(old["state"], "superseded", "{certs}");
    let shown = h.ctl(&["key", "show", &holder.serial]).ok();
    assert_eq!(shown["certificate_serial"], renewed.as_str());
    assert_eq!(shown["provenance"]["issued_by"], "station", "{shown}");
    assert_eq!(shown["provenance"]["verified"], true, "{shown}");
    // openssl: the renewed certificate verifies under the station's chain.
    let (ok, text) = h.verify_chain(&format!("{renewed}.pem"));
    assert!(ok, "{text}");

    // A change of another key's certificate: the new one is this
    // station's, the old one revoked here but not on this station's CRL
    // (its own CA lists it, from the central's word).
    let (other_key, _, end) = legacy.key_for_demo_company(&h, "HOLDER-CHANGE", "0x6b02");
    let mut change = application("change", Some("6b02"));
    change["certificate"]["not_after"] = end.to_string().into();
    change["change_details"] = "联系人变更".into();
    let order = h.paid(&change, None);
    let (code, j, out) = h.run_op(&order, Some(&other_key.serial), &[HOLDER_PIN], false);
    assert_eq!(code, Some(0), "change: {out}");
    let changed = j["certificate_serial"].as_str().unwrap().to_string();
    let (ok, text) = h.verify_chain(&format!("{changed}.pem"));
    assert!(ok, "{text}");
    let certs = h.ctl(&["cert", "list", "--key", &other_key.serial]).ok();
    let old = certs["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == "6b02")
        .cloned()
        .unwrap();
    assert_eq!(
        (old["source"].as_str(), old["state"].as_str()),
        (Some("read-from-key"), Some("revoked")),
        "{old}"
    );
    let crl = crate::integrity::crl_text(&h);
    assert!(!crl.to_uppercase().contains("6B02"), "{crl}");
    assert_eq!(h.ctl(&["audit", "verify"]).ok()["ok"], true);
}

/// A certificate issued by `ca` for a fresh openssl key (the directory
/// needs the certificate, not the key), as PEM.
pub(crate) fn issued_pem(ca: &LegacyCa, dir: &Path, subject: &str, serial: &str) -> String {
    let key = dir.join(format!("k-{serial}.key"));
    let public = dir.join(format!("k-{serial}.pub"));
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            key.to_str().unwrap(),
        ],
    );
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    );
    let der = ca.issue(&public, subject, serial);
    let der_file = write(dir, &format!("c-{serial}.der"), &der);
    String::from_utf8(openssl(
        dir,
        &["x509", "-inform", "DER", "-in", der_file.to_str().unwrap()],
    ))
    .unwrap()
}

#[test]
fn a_certificate_issued_elsewhere_is_upgraded_in_place_with_a_new_key_pair_on_the_key() {
    use crate::keys::application;
    let h = Hsm::new();
    let legacy = LegacyCa::new(h.dir.path(), "Legacy CQC");
    // A P-256 upgrade on the SoftHSM2 key (the SM2 one is in `sm2.rs`).
    legacy.trusted_by_with(&h, "cqc", crate::keys::cqc_p256);
    let (holder, shown, end) = legacy.key_for_demo_company(&h, "HOLDER-UPGRADE", "0x6c01");
    assert_eq!(shown["provenance"]["issued_by"], "cqc", "{shown}");
    let mut upgrade = application("upgrade", Some("6c01"));
    upgrade["provider"] = "cqc".into();
    upgrade["project"] = "energy-saving-procurement".into();
    upgrade["certificate"]["not_after"] = end.to_string().into();
    let order = h.paid(&upgrade, None);
    let (code, j, out) = h.run_op(&order, Some(&holder.serial), &[HOLDER_PIN], false);
    assert_eq!(code, Some(0), "upgrade: {out}");
    // A new key pair on the key, validity unchanged, the station's chain.
    let new = j["certificate_serial"].as_str().unwrap().to_string();
    assert_eq!(j["not_after"], end.to_string(), "{j}");
    let (ok, text) = h.verify_chain(&format!("{new}.pem"));
    assert!(ok, "{text}");
    let shown = h.ctl(&["key", "show", &holder.serial]).ok();
    assert_eq!(shown["provenance"]["issued_by"], "station", "{shown}");
    assert_eq!(
        shown["provenance"]["verified"], true,
        "the key holds the new pair: {shown}"
    );
    let mut pem = std::process::Command::new("openssl");
    pem.args(["x509", "-noout", "-pubkey", "-in"])
        .arg(h.data().join("ca").join(format!("{new}.pem")));
    let new_public = String::from_utf8(sh(&mut pem)).unwrap();
    assert_ne!(
        new_public,
        std::fs::read_to_string(&holder.public_pem).unwrap(),
        "a new key pair"
    );
    let certs = h.ctl(&["cert", "list", "--key", &holder.serial]).ok();
    let old = certs["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == "6c01")
        .cloned()
        .unwrap();
    assert_eq!(
        (
            old["source"].as_str(),
            old["issued_by"].as_str(),
            old["state"].as_str()
        ),
        (Some("read-from-key"), Some("cqc"), Some("revoked")),
        "{old}"
    );
}

/// SubjectPublicKeyInfo DER of an SM2 point: id-ecPublicKey on the SM2
/// curve (1.2.156.10197.1.301), then the uncompressed point.
fn sm2_spki(point: &[u8; 65]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x03, 0x42, 0x00,
    ];
    der.extend(point);
    der
}

/// An SM2 key on an SM2 token (the project's test token, as a vendor's key
/// would be), carrying the certificate `ca` issues for it.
fn sm2_holder(h: &Hsm, ca: &LegacyCa, label: &str, serial: &str) -> String {
    let s = crate::support::sm2_new_token(label, HOLDER_PIN);
    let set = kiosk_keys::Sm2Mechanisms::by_id("sansec").unwrap();
    let (_, point) = s.generate_sm2(set, &[1], "holder").unwrap();
    let der = write(h.dir.path(), &format!("{label}-pub.der"), &sm2_spki(&point));
    let pem = public_pem(h, label, &der);
    let cert = ca.issue(&pem, DEMO_COMPANY, serial);
    let subject = kiosk_keys::subject_der(&cert).unwrap();
    s.put_certificate(&[1], "holder", &cert, &subject).unwrap();
    s.serial().to_string()
}

/// The PEM of a public key in DER (SubjectPublicKeyInfo), by openssl.
fn public_pem(h: &Hsm, label: &str, der: &Path) -> PathBuf {
    let pem = h.dir.path().join(format!("{label}-pub.pem"));
    openssl(
        h.dir.path(),
        &[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            der.to_str().unwrap(),
            "-out",
            pem.to_str().unwrap(),
        ],
    );
    pem
}

/// `key show` with the SM2 test token's module as the keys' module.
fn sm2_key_show(h: &Hsm, serial: &str) -> Value {
    let (_, conf, library) = crate::support::sm2_token();
    let mut c = h.command(kiosk_e2e::kioskctl().to_str().unwrap());
    c.env("KIOSK_PKCS11_MODULE", library)
        .env("KIOSK_SM2_TOKEN_CONF", conf)
        .arg("--json")
        .arg("--data-dir")
        .arg(h.data())
        .args(["key", "show", serial]);
    crate::support::run(c).ok()
}

#[test]
fn a_key_with_an_sm2_certificate_openssl_issued_for_a_provider_is_recognised_and_a_forged_one_named(
) {
    let h = Hsm::new();
    // CQC signs in SM2 (guide 000): its root and issuing CA, made by
    // OpenSSL, are the provider's anchors.
    let cqc = LegacyCa::new_sm2(h.dir.path(), "CQC SM2");
    cqc.trusted_by(&h, "cqc");
    let serial = sm2_holder(&h, &cqc, "HOLDER-SM2", "0x5301");
    let shown = sm2_key_show(&h, &serial);
    assert_eq!(shown["certificate_serial"], "5301", "{shown}");
    assert_eq!(shown["provenance"]["verified"], true, "{shown}");
    assert_eq!(shown["provenance"]["issued_by"], "cqc", "{shown}");
    assert!(
        shown["subject"]
            .as_str()
            .unwrap()
            .contains("91500000MA5U8K2T0A"),
        "{shown}"
    );

    // The same names, another CA's SM2 keys: named a forgery.
    let rogue = LegacyCa::new_sm2(&h.dir.path().join("rogue"), "CQC SM2");
    let forged = sm2_holder(&h, &rogue, "HOLDER-SM2-FORGED", "0x5302");
    let shown = sm2_key_show(&h, &forged);
    assert_eq!(shown["provenance"]["verified"], false, "{shown}");
    assert_eq!(
        shown["provenance"]["problem"]["code"], "forged_certificate",
        "{shown}"
    );
}

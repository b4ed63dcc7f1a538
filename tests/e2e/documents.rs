//! Printed documents, printing through a real CUPS, scans and the
//! electronic seal, all through the real `kioskctl`.

use std::path::{Path, PathBuf};
use std::process::Command;

use kiosk_forms::synthetic::{stamped_sheet, unsealed_page};
use serde_json::{json, Value};

use crate::cupsd::{cups_pdf_outputs, Cupsd, QUEUE};
use crate::support::{application_with, ctl, file, run, tool, Run};

/// `kioskctl --json --data-dir DIR ARGS` as clerk t01, printing through `cups`.
fn ctl_cups(dir: &Path, cups: &str, args: &[&str]) -> Run {
    let base = || {
        let mut c = Command::new(kiosk_e2e::kioskctl());
        c.env_remove("KIOSK_DATA_DIR");
        c
    };
    let mut cmd = base();
    cmd.arg("--json")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("XDG_RUNTIME_DIR", crate::support::signed_in(&base, dir))
        .env("CUPS_SERVER", cups)
        .env_remove("KIOSK_DATA_DIR");
    run(cmd)
}

/// A bjca order (it has a seal sample sheet and takes mail-in orders).
fn bjca_application(channel: &str) -> String {
    let mut v: Value = serde_json::from_str(&application_with("/provider", json!("bjca"))).unwrap();
    v["project"] = json!("zzjg-supplier");
    v["channel"] = json!(channel);
    v.to_string()
}

fn create(dir: &Path, application: &str) -> Value {
    let f = file(dir, "application.json", application);
    ctl(dir, &["order", "create", f.to_str().unwrap()]).ok()
}

fn jpeg(img: &image::RgbImage, q: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
        .encode_image(img)
        .unwrap();
    out
}

fn counts(dir: &Path) -> (i64, i64, i64) {
    let c = rusqlite::Connection::open(dir.join("station.db")).unwrap();
    let n = |t: &str| {
        c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    (n("attachments"), n("outbox"), n("audit"))
}

#[test]
fn every_document_carries_the_order_and_passes_the_pdf_tools() {
    let d = tempfile::tempdir().unwrap();
    let order = create(d.path(), &bjca_application("mail"));
    let number = order["number"].as_str().unwrap();
    let app: Value = serde_json::from_str(kiosk_app::demo::APPLICATION_JSON).unwrap();
    let o = &app["organization"];
    let h = &app["handler"];
    let want_application = [
        o["name"].as_str().unwrap(),
        o["uscc"].as_str().unwrap(),
        o["legal_representative"].as_str().unwrap(),
        o["legal_rep_id"].as_str().unwrap(),
        o["phone"].as_str().unwrap(),
        o["office_phone"].as_str().unwrap(),
        o["website"].as_str().unwrap(),
        h["name"].as_str().unwrap(),
        h["id_number"].as_str().unwrap(),
        h["mobile"].as_str().unwrap(),
        h["email"].as_str().unwrap(),
        h["mailing_address"].as_str().unwrap(),
        "中直机关采购管理系统 · 供应商",
        "北京",
        "政府采购",
        number,
        "经办人签名",
        "单位公章",
    ];
    let cases: [(&str, &[&str]); 4] = [
        ("application", &want_application),
        (
            "seal-sheet",
            &[
                o["name"].as_str().unwrap(),
                o["uscc"].as_str().unwrap(),
                number,
                "公章采样一",
            ],
        ),
        (
            "authorization",
            &[
                o["name"].as_str().unwrap(),
                h["name"].as_str().unwrap(),
                h["id_number"].as_str().unwrap(),
                number,
            ],
        ),
        (
            "receipt",
            &[o["name"].as_str().unwrap(), number, "260", "证书新办"],
        ),
    ];
    for (doc, wanted) in cases {
        let j = ctl(d.path(), &["form", number, doc]).ok();
        let path = j["path"].as_str().unwrap();
        assert!(j["truncated"].as_array().unwrap().is_empty(), "{doc}: {j}");
        let text = tool("pdftotext", &[path, "-"]);
        // pdftotext may break a line between label and value; compare without spaces.
        let flat: String = text.split_whitespace().collect();
        for w in wanted {
            let w: String = w.split_whitespace().collect();
            assert!(flat.contains(&w), "{doc}: {w} not in\n{text}");
        }
        let fonts = tool("pdffonts", &[path]);
        let row = fonts.lines().nth(2).unwrap();
        assert!(row.contains('+') && row.contains("NotoSansCJK"), "{fonts}");
        assert_eq!(
            row.matches("yes").count(),
            3,
            "embedded, subset, unicode: {fonts}"
        );
        tool("qpdf", &["--check", path]);
        let size = std::fs::metadata(path).unwrap().len();
        assert!(size <= 150 * 1024, "{doc}: {size} bytes");
    }
    // The application form ticks 证书申请 only: look at the rendered page.
    let png = d.path().join("page");
    let app_pdf = d.path().join(format!("documents/{number}/application.pdf"));
    tool(
        "pdftoppm",
        &[
            "-r",
            "150",
            "-png",
            "-singlefile",
            app_pdf.to_str().unwrap(),
            png.to_str().unwrap(),
        ],
    );
    let page = png.with_extension("png");
    // The picture of the form opens the order through its QR code.
    let j = ctl(d.path(), &["scan", "qr", page.to_str().unwrap()]).ok();
    assert_eq!(j["number"], number);
    // So does what a keyboard-wedge scanner types.
    let code = format!("KIOSK-ORDER:{}", order["id"].as_str().unwrap());
    assert_eq!(
        ctl(d.path(), &["scan", "code", &code]).ok()["number"],
        number
    );
    // The form's code is no business licence: it names no USCC.
    ctl(
        d.path(),
        &["scan", "licence", "--file", page.to_str().unwrap()],
    )
    .refused("licence_code_without_uscc");
    // A counter order has no letter of authorisation.
    let d2 = tempfile::tempdir().unwrap();
    let counter = create(d2.path(), &bjca_application("counter"));
    ctl(
        d2.path(),
        &["form", counter["number"].as_str().unwrap(), "authorization"],
    )
    .refused("not_needed");
}

#[test]
fn a_long_value_is_fitted_not_overflowed() {
    let d = tempfile::tempdir().unwrap();
    let address = "重庆市渝北区金开大道一百六十号示例科技园区三期二十八号楼二十八层二八零八室（请转交财务部李小明收）";
    let order = create(
        d.path(),
        &application_with("/handler/mailing_address", json!(address)),
    );
    let j = ctl(
        d.path(),
        &["form", order["number"].as_str().unwrap(), "application"],
    )
    .ok();
    let text = tool("pdftotext", &[j["path"].as_str().unwrap(), "-"]);
    let flat: String = text.split_whitespace().collect();
    assert!(
        flat.contains(address),
        "wrapped, all of it printed:\n{text}"
    );
}

#[test]
fn scans_are_checked_stored_and_the_seal_is_cut_out() {
    let d = tempfile::tempdir().unwrap();
    let order = create(d.path(), &bjca_application("counter"));
    let number = order["number"].as_str().unwrap();
    let scans = d.path().join("in");
    std::fs::create_dir_all(&scans).unwrap();
    let put = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = scans.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // Refusals first: nothing attached, no file stored.
    let (sheet, _) = stamped_sheet(1240, 1754, 21);
    let good = jpeg(&sheet, 88);
    let bad_cases: Vec<(PathBuf, &str)> = vec![
        (put("truncated.jpg", &good[..good.len() / 2]), "undecodable"),
        (put("big.png", &vec![0x89; 10 * 1024 * 1024]), "too_large"),
        (
            put("notes.png", "这是一个文本文件，不是图片".as_bytes()),
            "not_an_image",
        ),
    ];
    let before = counts(d.path());
    for (path, code) in &bad_cases {
        let j = ctl(
            d.path(),
            &[
                "scan",
                "attach",
                number,
                "seal-sample-sheet",
                path.to_str().unwrap(),
            ],
        )
        .refused(code);
        let msg = j["error"]["message"].as_str().unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(msg.contains(name), "names the file: {msg}");
        assert!(msg.contains("未作改动"), "says nothing was attached: {msg}");
    }
    assert_eq!(counts(d.path()), before, "nothing written");
    assert!(!d.path().join("files").exists(), "no file stored");

    // A page with no seal on an item that must be sealed: kept, with a warning.
    let plain = put(
        "application-scan.jpg",
        &jpeg(&unsealed_page(1240, 1754, 4), 85),
    );
    let j = ctl(
        d.path(),
        &[
            "scan",
            "attach",
            number,
            "application-form",
            plain.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(j["seal_found"], false);
    assert!(
        j["warnings"][0]
            .as_str()
            .unwrap()
            .contains("未在扫描件上发现红色公章"),
        "{j}"
    );

    // The stamped seal sample sheet.
    let stamped = put("seal-sheet.jpg", &good);
    let j = ctl(
        d.path(),
        &[
            "scan",
            "attach",
            number,
            "seal-sample-sheet",
            stamped.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(j["seal_found"], true);
    assert!(j["warnings"].as_array().unwrap().is_empty());
    for k in ["path", "thumbnail", "original"] {
        assert!(Path::new(j[k].as_str().unwrap()).exists(), "{k}: {j}");
    }
    // Each attachment appended one outbox record and one audit row.
    let after = counts(d.path());
    assert_eq!(
        (after.0 - before.0, after.1 - before.1, after.2 - before.2),
        (2, 2, 2)
    );

    let seal = ctl(d.path(), &["seal", "extract", number]).ok();
    assert_eq!(seal["status"], "proposed");
    let png = image::open(seal["path"].as_str().unwrap())
        .unwrap()
        .to_rgba8();
    assert_eq!(png.get_pixel(0, 0).0[3], 0, "transparent background");
    assert!(png.pixels().filter(|p| p.0[3] > 0).count() > 1000);
    let id = seal["id"].as_str().unwrap();
    let approved = ctl(d.path(), &["seal", "approve", id]).ok();
    assert_eq!(approved["status"], "approved");
    ctl(d.path(), &["seal", "approve", id]).refused("already_decided");
    // A sheet with no seal on it cannot give one.
    let j = ctl(
        d.path(),
        &[
            "seal",
            "extract",
            number,
            "--attachment",
            {
                let list = ctl(d.path(), &["scan", "list", number]).ok();
                list["attachments"][0]["id"].as_str().unwrap().to_string()
            }
            .as_str(),
        ],
    )
    .refused("no_seal_found");
    assert!(j["error"]["message"].as_str().unwrap().contains("重新盖章"));
    assert_eq!(ctl(d.path(), &["audit", "verify"]).code, 0);
}

#[test]
fn printing_through_cups_completes_and_printer_trouble_is_told() {
    let cups = Cupsd::start();
    let d = tempfile::tempdir().unwrap();
    let order = create(d.path(), &application_with("/agreed_to_terms", json!(true)));
    let number = order["number"].as_str().unwrap();
    // cups-pdf names its files by job title and overwrites an older one, so
    // what this test printed is what was written since it started.
    let started = std::time::SystemTime::now() - std::time::Duration::from_secs(1);

    let j = ctl_cups(d.path(), &cups.server(), &["print", "--list"]).ok();
    assert_eq!(j["printers"][0]["name"], QUEUE, "{j}");

    let j = ctl_cups(
        d.path(),
        &cups.server(),
        &["print", number, "application", "--printer", QUEUE],
    )
    .ok();
    assert_eq!(j["state"], "completed", "{j}\n{}", cups.log());
    assert_eq!(j["printer"], QUEUE);
    assert!(j["cups_job_id"].as_i64().unwrap() > 0);
    // cups-pdf wrote the page it was sent (its output is re-rendered, so
    // count pages there and read text from our own PDF).
    let new: Vec<PathBuf> = cups_pdf_outputs()
        .into_iter()
        .filter(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= started)
        })
        .collect();
    assert_eq!(new.len(), 1, "{new:?}\n{}", cups.log());
    let info = tool("pdfinfo", &[new[0].to_str().unwrap()]);
    assert!(info.contains("Pages:           1"), "{info}");
    let _ = std::fs::remove_file(&new[0]);

    // The printer is stopped: the clerk is told, the job recorded, the order intact.
    cups.tool("cupsdisable", &["-r", "out of paper", QUEUE]);
    let j = ctl_cups(d.path(), &cups.server(), &["print", number, "receipt"])
        .refused("printer_stopped");
    let msg = j["error"]["message"].as_str().unwrap();
    assert!(msg.contains(QUEUE) && msg.contains("重新打印"), "{msg}");
    cups.tool("cupsenable", &[QUEUE]);
    // No print service at all: the PDF is saved instead.
    let j = ctl_cups(
        d.path(),
        "/nonexistent/cups.sock",
        &["print", number, "receipt"],
    )
    .ok();
    assert_eq!(j["state"], "saved");
    assert!(Path::new(j["path"].as_str().unwrap()).exists());
    // ...unless a printer was asked for by name.
    ctl_cups(
        d.path(),
        "/nonexistent/cups.sock",
        &["print", number, "receipt", "--printer", "x"],
    )
    .refused("print_system_down");
    // Every attempt is on record for the central CA.
    let c = rusqlite::Connection::open(d.path().join("station.db")).unwrap();
    let states: Vec<String> = c
        .prepare("SELECT state FROM print_jobs ORDER BY created_at")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(states, ["completed", "not-printed", "saved", "failed"]);
    let printed: i64 = c
        .query_row(
            "SELECT count(*) FROM outbox WHERE kind LIKE 'document.%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        printed, 5,
        "one record per attempt, one more when the job finished"
    );
    assert_eq!(
        ctl(d.path(), &["order", "show", number]).ok()["state"],
        "pending-review"
    );
}

/// A picture of `text`'s QR code as libqrencode draws it, photographed:
/// turned a little and saved as a JPEG by netpbm.
fn licence_photo(dir: &Path, text: &str) -> PathBuf {
    let png = dir.join("licence-code.png");
    tool(
        "qrencode",
        &["-s", "8", "-m", "6", "-o", png.to_str().unwrap(), text],
    );
    let jpg = dir.join("licence-photo.jpg");
    let script = format!(
        "pngtopnm {} | pnmrotate 7 | pnmtojpeg --quality=85 > {}",
        png.display(),
        jpg.display()
    );
    tool("sh", &["-c", &script]);
    jpg
}

#[test]
fn a_business_licence_qr_code_gives_its_uscc_scanned_or_photographed() {
    let d = tempfile::tempdir().unwrap();
    let uscc = "91500000MA5U8K2T0A";
    // The electronic licence's link, as on the licence's QR code.
    let link = format!(
        "https://zzlz.gsxt.gov.cn/businessCheck/verifKey.do?showType=p&serial={uscc}-SAIC_SHOW_100000{uscc}1710919400712&signData=MEUCIQDEkCd8cK7"
    );
    // Typed by the counter's scanner, in lower case as some scanners send it.
    let j = ctl(d.path(), &["scan", "licence", &link.to_ascii_lowercase()]).ok();
    assert_eq!(j["uscc"], uscc);
    // Photographed.
    let photo = licence_photo(d.path(), &link);
    let j = ctl(
        d.path(),
        &["scan", "licence", "--file", photo.to_str().unwrap()],
    )
    .ok();
    assert_eq!(j["uscc"], uscc);
    // A code that is only a link to the publicity system names no USCC.
    let opaque = "http://sx.gsxt.gov.cn/index.jspx/EntInfo.jspx?id=YmZrbG9xcXVyd3Fzc21zZW9n";
    let r = ctl(d.path(), &["scan", "licence", opaque]).refused("licence_code_without_uscc");
    let said = r["error"].to_string();
    assert!(
        said.contains("organization.uscc") && said.contains("手动输入"),
        "{said}"
    );
    // A mistyped check character is not a USCC either.
    ctl(d.path(), &["scan", "licence", "uniscid=91500000MA5U8K2T0B"])
        .refused("licence_code_without_uscc");
    // A picture with no code at all.
    let blank = d.path().join("blank.jpg");
    tool(
        "sh",
        &[
            "-c",
            &format!("pbmmake -white 400 300 | pnmtojpeg > {}", blank.display()),
        ],
    );
    ctl(
        d.path(),
        &["scan", "licence", "--file", blank.to_str().unwrap()],
    )
    .refused("no_licence_code");
    // Nothing was written: reading a licence keeps no database.
    assert!(!d.path().join("station.db").exists());
}

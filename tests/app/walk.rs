//! The kiosk app walk-through: applicant and clerk through the real window,
//! at 1920×1080 and on a 1280×800 touch panel. Shared by the end-to-end
//! test and the app benchmark.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cupsd;
use crate::driver::{Desktop, Ui};
use kiosk_app::{Station, SystemClock};
use serde_json::json;

const CLERK: (&str, &str) = ("clerk", "clerk-2468");
const SUPER: (&str, &str) = ("super", "super-1357");
const FIRST_PIN: &str = "246810";
const UNLOCK_PIN: &str = "135790";
/// The touch panel's idle timeout: long enough for every step of the
/// walk-through, short enough to wait out once.
const IDLE_SECONDS: u64 = 20;

const USCC: &str = "91500000MA5U8K2T0A";
/// A business licence's QR code that is only a link to the publicity
/// system: it names no USCC.
const OPAQUE_LICENCE: &str =
    "http://sx.gsxt.gov.cn/index.jspx/EntInfo.jspx?id=YmZrbG9xcXVyd3Fzc21zZW9n";

/// The electronic business licence's link, as its QR code holds it.
fn licence_link(uscc: &str) -> String {
    format!("https://zzlz.gsxt.gov.cn/businessCheck/verifKey.do?showType=p&serial={uscc}-SAIC_SHOW_100000{uscc}1710919400712&signData=MEUCIQDEkCd8cK7")
}

/// A photo of the licence's QR code: drawn by libqrencode, turned a
/// little and saved as a JPEG by netpbm.
fn licence_photo(dir: &Path, uscc: &str) -> std::path::PathBuf {
    let png = dir.join("licence-code.png");
    let jpg = dir.join("licence-photo.jpg");
    let ok = std::process::Command::new("qrencode")
        .args(["-s", "8", "-m", "6", "-o"])
        .arg(&png)
        .arg(licence_link(uscc))
        .status()
        .expect("qrencode")
        .success()
        && std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "pngtopnm {} | pnmrotate 7 | pnmtojpeg --quality=85 > {}",
                png.display(),
                jpg.display()
            ))
            .status()
            .expect("netpbm")
            .success();
    assert!(ok, "the licence photo");
    jpg
}

/// The demo application's values, typed into the touchscreen form.
const FORM: [(&str, &str); 11] = [
    ("organization.name", "重庆示例建材有限公司"),
    ("organization.uscc", USCC),
    ("organization.legal_representative", "张德前"),
    ("organization.legal_rep_id", "500103197806114328"),
    ("organization.phone", "023-63788888"),
    ("organization.office_phone", "023-63788889"),
    ("handler.name", "李小明"),
    ("handler.id_number", "500101198502030055"),
    ("handler.mobile", "13883088888"),
    ("handler.email", "li.xiaoming@example.com.cn"),
    ("handler.mailing_address", "重庆市渝北区金开大道160号"),
];

async fn applicant_fills(ui: &Ui, operation: &str, shots: bool) -> String {
    ui.click("[data-provider=ezca]").await;
    if shots {
        ui.shot("applicant-2-operations").await;
    }
    ui.click(&format!("[data-operation={operation}]")).await;
    ui.wait("#fee-total").await;
    if operation == "renew" {
        ui.wait("#bid-warning").await;
        ui.click("#read-key").await;
        ui.wait("#key-renewal[data-mode=self-service]").await;
        // The demo key was issued here: its chain and key pair hold.
        ui.wait("#key-issued-by[data-verified=true]").await;
        let issued_by = ui.text("#key-issued-by").await;
        assert!(issued_by.contains("本站签发CA"), "{issued_by}");
    } else if operation != "new" {
        // The certificate on the applicant's key goes into the application.
        ui.click("#read-key").await;
        ui.wait("#key-renewal").await;
    }
    if shots {
        ui.shot(&format!("applicant-3-info-{operation}")).await;
    }
    ui.click("#to-form").await;
    if operation != "new" {
        // The company the certificate on the key names is offered, with the
        // legal representative and address of its last order here.
        ui.wait("#prefill-offer[data-source=certificate]").await;
        for (k, name) in [
            ("uscc", "organization.uscc"),
            ("name", "organization.name"),
            ("legal_representative", "organization.legal_representative"),
            ("mailing_address", "handler.mailing_address"),
        ] {
            let want = FORM.iter().find(|(n, _)| *n == name).unwrap().1;
            assert_eq!(ui.text(&format!("[data-prefill={k}]")).await, want, "{k}");
        }
        if shots {
            ui.shot("applicant-renewal-prefill").await;
            // This applicant fills every field by taps all the same.
            ui.click("#prefill-decline").await;
        } else {
            ui.click("#prefill-accept").await;
            assert_eq!(ui.value("organization.uscc").await, USCC);
            assert_eq!(ui.value("organization.name").await, FORM[0].1);
        }
    }
    if shots {
        // The first applicant has no keyboard: every field by taps.
        tap_fill(ui).await;
    } else {
        for (name, value) in FORM {
            ui.fill(name, value).await;
        }
    }
    ui.click("input[name=agreed]").await;
    if shots {
        ui.shot("applicant-4-form").await;
    }
    ui.click("#submit").await;
    ui.wait("#ticket").await;
    if shots {
        ui.shot("applicant-5-ticket").await;
    }
    ui.text("#order-number").await
}

/// What the applicant taps for a value: keys as they are, or a pinyin
/// and then the candidate it should give.
enum Tap {
    Keys(&'static str),
    Pinyin(&'static str, &'static str),
}

/// [`FORM`] as it is tapped in: names and addresses on the keyboard in
/// pinyin, codes and numbers on the field's keypad.
const TAPS: [(&str, &[Tap]); 11] = {
    use Tap::*;
    [
        (
            "organization.name",
            &[
                Pinyin("chongqing", "重庆"),
                Pinyin("shi", "示"),
                Pinyin("li", "例"),
                Pinyin("jiancai", "建材"),
                Pinyin("youxiangongsi", "有限公司"),
            ],
        ),
        ("organization.uscc", &[Keys("91500000MA5U8K2T0A")]),
        (
            "organization.legal_representative",
            &[
                Pinyin("zhang", "张"),
                Pinyin("de", "德"),
                Pinyin("qian", "前"),
            ],
        ),
        ("organization.legal_rep_id", &[Keys("500103197806114328")]),
        ("organization.phone", &[Keys("023-63788888")]),
        ("organization.office_phone", &[Keys("023-63788889")]),
        (
            "handler.name",
            &[
                Pinyin("li", "李"),
                Pinyin("xiao", "小"),
                Pinyin("ming", "明"),
            ],
        ),
        ("handler.id_number", &[Keys("500101198502030055")]),
        ("handler.mobile", &[Keys("13883088888")]),
        ("handler.email", &[Keys("li.xiaoming@example.com.cn")]),
        (
            "handler.mailing_address",
            &[
                Pinyin("chongqing", "重庆"),
                Pinyin("shi", "市"),
                Pinyin("yubei", "渝北"),
                Pinyin("qu", "区"),
                Pinyin("jin", "金"),
                Pinyin("kai", "开"),
                Pinyin("dadao", "大道"),
                Keys("160"),
                Pinyin("hao", "号"),
            ],
        ),
    ]
};

/// Fills the form by tapping on-screen keys only: no typing into fields.
async fn tap_fill(ui: &Ui) {
    let mut shot = false;
    for (name, taps) in TAPS {
        ui.click(&format!("input[name='{name}']")).await;
        let keypad = ui.count(".keypad").await > 0;
        for tap in taps {
            let (keys, want) = match tap {
                Tap::Keys(k) => (*k, None),
                Tap::Pinyin(p, c) => (*p, Some(*c)),
            };
            for c in keys.chars() {
                if keypad {
                    ui.click(&format!(".keypad [data-key='{c}']")).await;
                } else {
                    ui.click(&format!(".text-keyboard [data-skbtn='{c}']"))
                        .await;
                }
            }
            let Some(want) = want else { continue };
            ui.wait(".text-keyboard .hg-candidate-box-list-item").await;
            if !shot {
                ui.shot("applicant-keyboard-candidates").await;
                shot = true;
            }
            // The candidate, on the bar's first page or a later one.
            let item = ".text-keyboard .hg-candidate-box-list-item";
            let mut pages = 0;
            loop {
                if let Some(k) = ui.position_of(item, want).await {
                    ui.click(&format!("{item}:nth-child({k})")).await;
                    break;
                }
                pages += 1;
                assert!(pages < 12, "{want} is not among the candidates of {keys}");
                ui.click(".text-keyboard .hg-candidate-box-next").await;
            }
        }
        if keypad {
            ui.click(".keypad [data-key=done]").await;
        } else {
            ui.click(".text-keyboard [data-skbtn='{done}']").await;
        }
        let expected = FORM.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(ui.value(name).await, expected, "{name}, tapped");
    }
}

/// From the touchscreen's start, the empty application form of an ezca
/// new issue.
async fn open_new_form(ui: &Ui) {
    ui.click("[data-provider=ezca]").await;
    ui.click("[data-operation=new]").await;
    ui.click("#to-form").await;
}

/// Logs in at the console, switching to it from the touchscreen if need be.
async fn clerk_login(ui: &Ui, who: (&str, &str)) {
    if ui.count("#to-clerk").await > 0 {
        ui.click("#to-clerk").await;
    }
    ui.fill("clerk_id", who.0).await;
    ui.fill("secret", who.1).await;
    ui.click("#login").await;
    ui.wait("#queue").await;
}

/// Opens the order by what the clerk types or the QR scanner sends, ticks
/// its checklist (first attaching `scan` to the first item), approves it
/// and takes payment (with `receipt` when the operation is charged).
async fn clerk_intake(ui: &Ui, code: &str, receipt: Option<&str>, scan: Option<&Path>) {
    ui.fill("code", code).await;
    ui.click("#open").await;
    ui.wait("#order[data-state=pending-review]").await;
    if let Some(file) = scan {
        let before = ui.count(".attachment").await;
        ui.upload("li:first-child input[type=file]", file).await;
        ui.wait_count(".attachment", before + 1).await;
    }
    for _ in 0..ui.count("[data-check=ok]").await {
        let before = ui.count("li[data-status=ok]").await;
        ui.click("li[data-status='']:not([data-status=ok]) [data-check=ok]")
            .await;
        ui.wait_count("li[data-status=ok]", before + 1).await;
    }
    ui.click("#approve").await;
    ui.wait("#order[data-state=awaiting-payment]").await;
    if let Some(r) = receipt {
        ui.fill("receipt", r).await;
    }
    ui.click("#pay").await;
    ui.wait("#order[data-state=awaiting-production]").await;
}

/// The station the app runs, opened as every front end opens it: with its
/// token, which personal data needs to be read.
fn station(dir: &Path) -> Station {
    let mut st = Station::open(dir, Arc::new(SystemClock)).expect("station");
    if let Ok(cfg) = st.key_config() {
        st.key_audit(&cfg);
    }
    st
}

/// The whole walk-through; `probe` is called with the app still open at
/// the end (the memory benchmark reads the app's processes there).
pub async fn walk_through(probe: impl FnOnce(&Desktop)) {
    let cups = cupsd::Cupsd::start();
    let data = tempfile::tempdir().expect("data dir");
    let started = std::time::SystemTime::now();
    // cups-pdf names files by job title, so count what it wrote since.
    let fresh_pdfs = || {
        cupsd::cups_pdf_outputs()
            .iter()
            .filter(|p| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= started)
            })
            .count()
    };

    // The stamped seal sample sheet, as the counter's scanner saves it.
    let sheet = data.path().join("stamped-sheet.jpg");
    kiosk_forms::synthetic::stamped_sheet(1240, 1754, 2026)
        .0
        .save(&sheet)
        .expect("stamped sheet");

    // ---- 1920×1080: new issue, bad input, unlock with approval, report.
    let desk = Desktop::start(1920, 1080, data.path(), &cups.server(), &[]);
    let ui = desk.session("1920x1080").await;
    ui.wait("[data-provider=ezca]").await;
    ui.shot("applicant-1-providers").await;

    // Kiosk hardening, from the page itself: console commands without a
    // clerk's session are refused by the backend, commands outside the
    // capability list do not run, and remote pages are not opened.
    for (cmd, args) in [
        ("queue", json!({ "args": { "token": "" } })),
        ("day_report", json!({ "args": { "token": "forged-token" } })),
        (
            "run_key",
            json!({ "args": { "token": "", "order": "20000101-0001" } }),
        ),
        ("export_day_report", json!({ "args": { "token": "" } })),
    ] {
        assert_eq!(
            ui.invoke_from_page(cmd, args).await,
            "not_logged_in",
            "{cmd}"
        );
    }
    let outside = ui
        .invoke_from_page(
            "plugin:window|set_fullscreen",
            json!({ "label": "main", "value": false }),
        )
        .await;
    assert!(outside.contains("not allowed"), "{outside}");
    let home = ui.url().await;
    ui.run_script("window.location.href = 'https://example.com/';")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ui.url().await, home);
    ui.wait("[data-provider=ezca]").await;

    // English on request: the page's words and the backend's reasons.
    ui.click("#lang").await;
    ui.click("[data-provider=ezca]").await;
    assert_eq!(ui.text("[data-operation=new]").await, "New certificate");
    ui.click("[data-operation=new]").await;
    ui.wait("#fee-total").await;
    let reason = ui.text("table.fee tr.reason").await;
    assert!(
        !reason.is_empty() && reason.is_ascii(),
        "fee reason in English: {reason}"
    );
    ui.shot("applicant-3-info-new-en").await;
    ui.click("#lang").await;
    ui.wait("#to-form").await;
    assert!(ui.text("#to-form").await.contains("填写申请表"));
    ui.click(".restart").await;

    // Bad input: a wrong check character and a short mobile stay on the
    // form with the reason at the field, and nothing typed is lost.
    open_new_form(&ui).await;
    ui.fill("organization.uscc", "91500000MA5U8K2T0B").await;
    ui.fill("handler.mobile", "1388308").await;
    ui.wait("[data-error-for='organization.uscc']").await;
    ui.wait("[data-error-for='handler.mobile']").await;
    let uscc_error = ui.text("[data-error-for='organization.uscc']").await;
    assert!(uscc_error.contains("统一社会信用代码"), "{uscc_error}");
    ui.click("#submit").await;
    ui.wait("#form-error").await;
    assert_eq!(ui.value("organization.uscc").await, "91500000MA5U8K2T0B");
    ui.shot("applicant-bad-input").await;
    // The keypad types into the USCC field.
    ui.click("input[name='organization.uscc']").await;
    ui.wait(".keypad").await;
    ui.click(".keypad [data-key=back]").await;
    ui.click(".keypad [data-key=A]").await;
    ui.shot("applicant-keypad").await;
    assert_eq!(ui.value("organization.uscc").await, "91500000MA5U8K2T0A");
    ui.click(".keypad [data-key=done]").await;
    // Start over wipes the form.
    ui.click(".restart").await;
    ui.wait("[data-provider=ezca]").await;

    let number = applicant_fills(&ui, "new", true).await;
    ui.click("#print-application").await;
    ui.wait("[data-printed=application][data-state=completed]")
        .await;
    ui.click("#print-seal-sheet").await;
    ui.wait("[data-printed=seal-sheet][data-state=completed]")
        .await;
    assert!(
        fresh_pdfs() >= 2,
        "cups-pdf wrote the application and the seal sheet"
    );

    // Clerk: a wrong password first.
    ui.click("#to-clerk").await;
    ui.shot("clerk-1-login").await;
    ui.fill("clerk_id", CLERK.0).await;
    ui.fill("secret", "not-the-password").await;
    ui.click("#login").await;
    ui.wait(".login .error").await;
    ui.click("#to-applicant").await;
    clerk_login(&ui, CLERK).await;
    ui.shot("clerk-2-queue").await;
    // An unknown number is refused in Chinese.
    ui.fill("code", "20000101-9999").await;
    ui.click("#open").await;
    ui.wait("#clerk-error").await;
    assert!(ui.text("#clerk-error").await.contains("找不到订单"));
    clerk_intake(&ui, &number, Some(&format!("R-{number}")), Some(&sheet)).await;
    ui.shot("clerk-3-order-paid").await;
    // No key work for a new company before its seal is approved.
    ui.wait("#seal-needed").await;
    // The seal is cut out of the stamped sheet's scan, looked at, approved.
    ui.click("#extract-seal").await;
    ui.wait("#seal-card[data-status=proposed] #seal-image")
        .await;
    ui.shot("clerk-3b-seal").await;
    ui.click("#seal-approve").await;
    ui.wait("#seal-card[data-status=approved]").await;
    assert_eq!(ui.count("#seal-needed").await, 0);
    ui.fill("pin", FIRST_PIN).await;
    ui.fill("pin_again", FIRST_PIN).await;
    ui.click("#run-key").await;
    ui.wait_long("#order[data-state=completed]").await;
    ui.wait("#steps li[data-step=complete]").await;
    ui.shot("clerk-4-completed").await;
    ui.click("#hand-over").await;
    ui.wait("#printed[data-state=completed]").await;
    {
        let st = station(data.path());
        let o = st.order(&number).expect("order").order;
        assert_eq!(o.state.as_str(), "completed");
        let sync = st.sync_status().expect("sync");
        assert!(sync.pending > 0, "the order's records are queued for sync");
        // Read from the file as it is: the payloads name the order, and
        // hold no personal value in clear.
        let db =
            rusqlite::Connection::open(data.path().join(kiosk_app::DB_FILE)).expect("database");
        let (records, in_clear): (i64, i64) = db
            .query_row(
                "SELECT count(*), count(*) FILTER (WHERE payload LIKE '%' || ?2 || '%')
                 FROM outbox WHERE payload LIKE '%' || ?1 || '%'",
                [&o.id, &o.application.handler.id_number],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("outbox");
        assert!(records > 0);
        assert_eq!(in_clear, 0, "the handler's ID number is in no payload");
    }

    ui.click("#to-applicant").await;
    // A returning company: its USCC, here from the business licence's QR
    // code as the counter's scanner types it, brings the offer of what its
    // completed order said (name, legal representative, address), filled
    // in only on the applicant's word; ID numbers and phones stay empty.
    open_new_form(&ui).await;
    ui.click("#scan-licence").await;
    // A licence whose code is only a link to the publicity system.
    ui.fill("licence_code", &format!("{OPAQUE_LICENCE}\u{E007}"))
        .await;
    ui.wait("#licence-error").await;
    assert!(ui.text("#licence-error").await.contains("手动输入"));
    ui.shot("applicant-licence-scan").await;
    ui.fill("licence_code", &format!("{}\u{E007}", licence_link(USCC)))
        .await;
    ui.wait("#prefill-offer[data-source=last-order]").await;
    assert_eq!(ui.count("#licence-scan").await, 0);
    assert_eq!(ui.value("organization.uscc").await, USCC);
    assert_eq!(ui.value("organization.name").await, "");
    ui.shot("applicant-prefill").await;
    ui.click("#prefill-accept").await;
    let form = |name: &str| FORM.iter().find(|(n, _)| *n == name).unwrap().1;
    for name in [
        "organization.name",
        "organization.legal_representative",
        "handler.mailing_address",
    ] {
        assert_eq!(ui.value(name).await, form(name), "{name}");
    }
    for name in [
        "organization.legal_rep_id",
        "organization.phone",
        "handler.id_number",
        "handler.mobile",
    ] {
        assert_eq!(ui.value(name).await, "", "{name} is asked again");
    }
    assert_eq!(ui.count("#prefill-offer").await, 0);
    ui.click(".restart").await;
    // The same from a photo of the licence's code at the camera.
    open_new_form(&ui).await;
    ui.upload(
        "input[name=licence_photo]",
        &licence_photo(data.path(), USCC),
    )
    .await;
    ui.wait("#prefill-offer[data-source=last-order]").await;
    assert_eq!(ui.value("organization.uscc").await, USCC);
    ui.click(".restart").await;
    ui.wait("[data-provider=ezca]").await;

    // Unlock: the run waits for a supervisor; the clerk cannot approve.
    let unlock = applicant_fills(&ui, "unlock", false).await;
    // Leaving the console logged the clerk out.
    clerk_login(&ui, CLERK).await;
    clerk_intake(&ui, &unlock, None, None).await;
    ui.wait("#approval").await;
    assert_eq!(ui.count("#run-key").await, 0);
    ui.fill("supervisor_id", CLERK.0).await;
    ui.fill("supervisor_secret", CLERK.1).await;
    ui.click("#supervisor-approve").await;
    ui.wait("#clerk-error").await;
    assert!(ui.text("#clerk-error").await.contains("主管"));
    ui.shot("clerk-5-approval").await;
    ui.fill("supervisor_id", SUPER.0).await;
    ui.fill("supervisor_secret", SUPER.1).await;
    ui.click("#supervisor-approve").await;
    ui.wait("#run-key").await;
    ui.fill("pin", UNLOCK_PIN).await;
    ui.fill("pin_again", UNLOCK_PIN).await;
    ui.click("#run-key").await;
    ui.wait_long("#order[data-state=completed]").await;

    // Day report; the CSV is the supervisor's.
    ui.click("#nav-report").await;
    ui.wait("#report").await;
    ui.shot("clerk-6-report").await;
    ui.click("#export-csv").await;
    ui.wait("#clerk-error").await;
    ui.click("#logout").await;
    clerk_login(&ui, SUPER).await;
    ui.click("#nav-report").await;
    ui.click("#export-csv").await;
    ui.wait("#csv-path").await;
    let csv = std::fs::read_to_string(
        data.path()
            .join("reports")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert!(csv.contains("证书新办,new,1,1,0,1,480.00"), "{csv}");
    ui.close().await;
    drop(desk);

    // ---- 1280×800 touch panel, eleven months on: a renewal read from the key.
    let later = (chrono::Local::now().date_naive() + chrono::Duration::days(330)).to_string();
    let idle = IDLE_SECONDS.to_string();
    let desk = Desktop::start(
        1280,
        800,
        data.path(),
        &cups.server(),
        &[("KIOSK_TODAY", &later), ("KIOSK_IDLE_SECONDS", &idle)],
    );
    let ui = desk.session("1280x800").await;
    ui.wait("[data-provider=ezca]").await;
    ui.shot("applicant-1-providers").await;
    let renewal = applicant_fills(&ui, "renew", true).await;
    clerk_login(&ui, CLERK).await;
    ui.shot("clerk-2-queue").await;
    // Opened as the QR scanner types it from the printed form.
    let id = station(data.path())
        .order(&renewal)
        .expect("order")
        .order
        .id;
    clerk_intake(
        &ui,
        &format!("KIOSK-ORDER:{id}"),
        Some(&format!("R-{renewal}")),
        None,
    )
    .await;
    assert_eq!(
        ui.text("#order h2").await.split(' ').next(),
        Some(renewal.as_str())
    );
    ui.shot("clerk-3-order-paid").await;
    // Key work runs on the station clock alone: with "today" pinned it is
    // refused, and the console says why.
    ui.fill("pin", UNLOCK_PIN).await;
    ui.click("#run-key").await;
    ui.wait("#clerk-error").await;
    assert!(
        ui.text("#clerk-error").await.contains("工作站时钟"),
        "{}",
        ui.text("#clerk-error").await
    );
    ui.close().await;
    drop(desk);
    // The same counter on its true clock carries the renewal out.
    let desk = Desktop::start(
        1280,
        800,
        data.path(),
        &cups.server(),
        &[("KIOSK_IDLE_SECONDS", &idle)],
    );
    let ui = desk.session("1280x800").await;
    ui.wait("[data-provider=ezca]").await;
    clerk_login(&ui, CLERK).await;
    ui.fill("code", &renewal).await;
    ui.click("#open").await;
    ui.wait("#order[data-state=awaiting-production]").await;
    ui.fill("pin", UNLOCK_PIN).await;
    ui.click("#run-key").await;
    ui.wait_long("#order[data-state=completed]").await;
    ui.shot("clerk-4-completed").await;
    ui.click("#nav-report").await;
    ui.wait("#report").await;
    ui.shot("clerk-6-report").await;

    // A new issue at the touch panel too, every field by taps (the offer
    // for the returning company stays unanswered).
    ui.click("#to-applicant").await;
    open_new_form(&ui).await;
    tap_fill(&ui).await;
    ui.click("input[name=agreed]").await;
    ui.click("#submit").await;
    ui.wait("#ticket").await;
    ui.shot("applicant-5-ticket-new").await;
    ui.click("#restart").await;

    // Left alone on the touchscreen, a half-filled form starts over and
    // forgets what was typed.
    open_new_form(&ui).await;
    ui.fill("organization.name", FORM[0].1).await;
    let left = std::time::Instant::now();
    ui.wait("[data-provider=ezca]").await;
    assert!(
        left.elapsed() >= Duration::from_secs(IDLE_SECONDS - 1),
        "started over after {:?}, before the idle timeout",
        left.elapsed()
    );
    open_new_form(&ui).await;
    assert_eq!(ui.value("organization.name").await, "");
    probe(&desk);
    ui.close().await;
    drop(desk);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

//! Commands through the mock runtime: the contract and the role checks.

use std::sync::Arc;

use kiosk_app::keys::SecretString;
use kiosk_app::{FixedClock, KeyConfig, Role, Station};
use serde_json::json;
use tauri::Manager;

use crate::commands::*;
use crate::ipc::ErrorCode;

/// Arguments as the page sends them (JSON), through the same
/// deserialization the IPC uses.
fn args<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("the page's arguments")
}

/// A mock app over a fresh data directory, with one clerk (`wang`) and two
/// supervisor accounts (`zhao`, `qian`), made as a station's first
/// supervisors make the rest: the two supervisors at the start, the clerk
/// by one of them with the other's approval.
fn app(dir: &tempfile::TempDir) -> tauri::App<tauri::test::MockRuntime> {
    let noon = "2026-11-21T04:00:00Z".parse().expect("instant");
    let clock = Arc::new(FixedClock(noon));
    let mut st = Station::open(dir.path(), clock.clone()).expect("station");
    let secret = |s: &str| SecretString::from(s.to_string());
    for (id, name, pw) in [
        ("zhao", "赵强", "zhao-pass-2"),
        ("qian", "钱敏", "qian-pass-3"),
    ] {
        st.put_clerk(id, name, Role::Supervisor, &secret(pw), None, None)
            .expect("supervisor");
    }
    let (token, _) = st.cli_login("zhao", &secret("zhao-pass-2")).expect("login");
    let session = st
        .cli_session(kiosk_app::keys::ExposeSecret::expose_secret(&token))
        .expect("session");
    let by = st
        .second_account(&session, "qian", &secret("qian-pass-3"))
        .expect("approval");
    st.put_clerk(
        "wang",
        "王丽",
        Role::Clerk,
        &secret("wang-pass-1"),
        None,
        Some(&by),
    )
    .expect("clerk");
    drop(st);
    let app = tauri::test::mock_app();
    let desk = Desk::new(
        dir.path().to_path_buf(),
        clock,
        None,
        KeyConfig::from_env().expect("key settings"),
        None,
        90,
    )
    .expect("desk");
    app.manage(desk);
    app
}

#[test]
fn unknown_provider_is_an_invalid_field_in_chinese() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let err = fee(
        app.state(),
        args(json!({ "provider": "nope", "operation": "new" })),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid);
    assert_eq!(err.fields.len(), 1);
    assert!(
        err.message
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{}",
        err.message
    );
}

fn log_in(id: &str, secret: &str) -> crate::args::LoginArgs {
    args(json!({ "clerk_id": id, "secret": secret }))
}

#[test]
fn applicant_mode_cannot_reach_console_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    // No token, a made-up token: refused by the backend.
    for token in ["", "0123456789abcdef"] {
        let err = queue(app.state(), args(json!({ "token": token }))).unwrap_err();
        assert_eq!(err.code, ErrorCode::NotLoggedIn);
        let err = day_report(app.state(), args(json!({ "token": token }))).unwrap_err();
        assert_eq!(err.code, ErrorCode::NotLoggedIn);
    }
    let err = login(app.state(), log_in("wang", "wrong-one")).unwrap_err();
    assert_eq!(err.code, ErrorCode::BadCredentials);
    let clerk = login(app.state(), log_in("wang", "wang-pass-1")).expect("login");
    assert_eq!(clerk.clerk.role, "clerk");
    let token = || -> crate::args::TokenArgs { args(json!({ "token": clerk.token })) };
    assert!(queue(app.state(), token()).expect("queue").is_empty());
    // The CSV with the takings is a supervisor's.
    let err = export_day_report(app.state(), args(json!({ "token": clerk.token }))).unwrap_err();
    assert_eq!(err.code, ErrorCode::Forbidden);
    let sup = login(app.state(), log_in("zhao", "zhao-pass-2")).expect("login");
    let path = export_day_report(app.state(), args(json!({ "token": sup.token }))).expect("csv");
    assert!(std::fs::read_to_string(path).expect("csv").contains("合计"));
    logout(app.state(), token());
    assert_eq!(
        queue(app.state(), token()).unwrap_err().code,
        ErrorCode::NotLoggedIn
    );
}

#[test]
fn a_bad_application_names_every_field_and_a_good_one_gets_a_ticket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let mut form: serde_json::Value =
        serde_json::from_str(kiosk_app::demo::APPLICATION_JSON).expect("fixture");
    form["organization"]["uscc"] = "91500000MA5U8K2T0B".into();
    form["handler"]["mobile"] = "2388308888".into();
    let err = submit_application(app.state(), args(json!({ "application": form }))).unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid);
    let fields: Vec<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
    assert!(fields.iter().any(|f| f.contains("uscc")), "{fields:?}");
    assert!(fields.iter().any(|f| f.contains("mobile")), "{fields:?}");
    let good: serde_json::Value =
        serde_json::from_str(kiosk_app::demo::APPLICATION_JSON).expect("fixture");
    let t = submit_application(app.state(), args(json!({ "application": good }))).expect("ticket");
    assert_eq!(t.order_number, "20261121-0001");
    assert_eq!(t.queue_no, "0001");
    assert!(t.fee.total_fen > 0);
}

#[test]
fn live_field_check_explains_in_chinese() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    let check = |kind: &str, value: &str| {
        check_field(app.state(), args(json!({ "kind": kind, "value": value })))
    };
    let ok = check("uscc", "91500000MA5U8K2T0A");
    assert!(ok.valid);
    let bad = check("id", "500101198502030056");
    assert!(!bad.valid);
    assert!(bad.message.contains("【"), "{}", bad.message);
}

#[test]
fn wrong_secrets_pause_login_and_approval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(&dir);
    for _ in 0..kiosk_app::accounts::MAX_FAILURES {
        let err = login(app.state(), log_in("wang", "000000")).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadCredentials);
    }
    let err = login(app.state(), log_in("wang", "wang-pass-1")).unwrap_err();
    assert_eq!(err.code, ErrorCode::LockedOut);
    assert!(err.message.contains("分钟后再试"), "{}", err.message);

    // The supervisor's secret, typed at the approval, counts the same.
    let clerk = login(app.state(), log_in("zhao", "zhao-pass-2")).expect("login");
    let unlock = kiosk_app::demo::APPLICATION_JSON
        .replace("\"operation\": \"new\"", "\"operation\": \"unlock\"");
    let unlock: serde_json::Value = serde_json::from_str(&unlock).expect("json");
    let ticket =
        submit_application(app.state(), args(json!({ "application": unlock }))).expect("ticket");
    let approve = || {
        supervisor_approve(
            app.state(),
            args(json!({ "token": clerk.token, "order": ticket.order_id,
                         "supervisor_id": "li", "supervisor_secret": "999999" })),
        )
    };
    for _ in 0..kiosk_app::accounts::MAX_FAILURES {
        let err = approve().unwrap_err();
        assert_eq!(err.code, ErrorCode::BadCredentials);
    }
    let err = approve().unwrap_err();
    assert_eq!(err.code, ErrorCode::LockedOut);
}

/// The command list is written in four places that must agree: the
/// permissions `build.rs` declares, the capability file that allows them,
/// the handler list, and the page's typed `Commands`. A command added to
/// one and not the others fails here, not at the counter.
#[test]
fn the_command_list_agrees_everywhere() {
    use std::collections::BTreeSet;
    fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
        let a = text.find(start).expect(start) + start.len();
        let b = a + text[a..].find(end).expect(end);
        &text[a..b]
    }
    let build = between(
        include_str!("../build.rs"),
        "const COMMANDS: &[&str] = &[",
        "];",
    );
    let declared: BTreeSet<String> = build
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let handlers: BTreeSet<String> =
        between(include_str!("lib.rs"), "tauri::generate_handler![", "]")
            .split(',')
            .filter_map(|s| s.trim().strip_prefix("commands::"))
            .map(str::to_string)
            .collect();
    let capability: serde_json::Value =
        serde_json::from_str(include_str!("../capabilities/default.json")).expect("capability");
    let allowed: BTreeSet<String> = capability["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    let page: BTreeSet<String> = between(
        include_str!("../../ui/src/lib/ipc.ts"),
        "interface Commands {",
        "\n}",
    )
    .lines()
    .filter_map(|l| l.trim().split_once(": [").map(|(name, _)| name.to_string()))
    .collect();
    assert!(declared.len() > 20, "{declared:?}");
    assert_eq!(handlers, declared, "generate_handler! vs build.rs");
    assert_eq!(allowed, declared, "capabilities/default.json vs build.rs");
    assert_eq!(page, declared, "ui/src/lib/ipc.ts vs build.rs");
}

//! The app's commands are declared here so that each gets a permission and
//! the capability file can allow exactly those the window may call.

const COMMANDS: &[&str] = &[
    "kiosk_config",
    "providers",
    "checklist",
    "fee",
    "renewal",
    "read_key_renewal",
    "check_field",
    "returning_company",
    "licence_code",
    "licence_photo",
    "submit_application",
    "print_for_applicant",
    "login",
    "logout",
    "queue",
    "open_order",
    "check_item",
    "attach_scan",
    "extract_seal",
    "decide_seal",
    "advance",
    "pay",
    "present_keys",
    "supervisor_approve",
    "run_key",
    "print_document",
    "hand_over",
    "day_report",
    "export_day_report",
    "sync_status",
    "ui_ready",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build");
}

//! A bare Tauri window with the kiosk window's settings and a one-line
//! page: the baseline the app's memory is measured against
//! (`cargo bench -p kiosk-e2e --bench app`).

const PAGE: &str = "<!doctype html><meta charset=utf-8><title>bare</title><h1>bare</h1>";

fn main() {
    let mut context = tauri::generate_context!();
    // Not the kiosk's page: the window is made below with the one above.
    context.config_mut().app.windows.clear();
    tauri::Builder::default()
        .register_uri_scheme_protocol("bare", |_, _| {
            tauri::http::Response::builder()
                .header("Content-Type", "text/html; charset=utf-8")
                .body(PAGE.as_bytes().to_vec())
                .expect("response")
        })
        .setup(|app| {
            let url = tauri::WebviewUrl::CustomProtocol("bare://localhost/".parse()?);
            tauri::WebviewWindowBuilder::new(app, "main", url)
                .title("bare")
                .fullscreen(true)
                .decorations(false)
                .build()?;
            Ok(())
        })
        .run(context)
        .expect("the Tauri runtime failed to start");
}

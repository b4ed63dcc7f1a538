//! The application-form benchmark: renders `forms/application.toml` with
//! sample values and prints the median time and size, or writes the same
//! form as a flat ODT for the LibreOffice comparison (scripts/bench-libreoffice).

use std::time::Instant;

use kiosk_forms::template::Item;
use kiosk_forms::{render, CjkFont, FormData, Template};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let template_text = include_str!("../../../forms/application.toml");
    let t = Template::from_toml("application", template_text).expect("template");
    let mut data = FormData::default();
    let mut labelled = Vec::new();
    for item in &t.items {
        match item {
            Item::Check { bind, label, .. } => {
                data.flag(bind, bind == "operation.apply");
                labelled.push((
                    label.clone(),
                    if bind == "operation.apply" {
                        "☑"
                    } else {
                        "☐"
                    }
                    .to_string(),
                ));
            }
            Item::Cell {
                label,
                bind: Some(b),
                ..
            } => {
                data.field(b, sample(b));
                labelled.push((label.clone(), sample(b)));
            }
            Item::Cell {
                label, bind: None, ..
            } => labelled.push((label.clone(), String::new())),
            Item::Field { bind, .. } | Item::Qr { bind, .. } => {
                data.field(bind, sample(bind));
            }
            _ => {}
        }
    }
    if let Some(i) = args.iter().position(|a| a == "--fodt") {
        std::fs::write(&args[i + 1], fodt(&t.title, &labelled)).expect("write fodt");
        return;
    }
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(51);
    let load = Instant::now();
    let font = CjkFont::system().expect("fonts-noto-cjk");
    let load = load.elapsed();
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        size = render(&t, &data, &font).expect("render").pdf.len();
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!("font_load_us {}", load.as_micros());
    println!("median_us {}", median.as_micros());
    println!("bytes {size}");
}

fn sample(bind: &str) -> String {
    match bind {
        "order.qr" => "KIOSK-ORDER:01937C1E-8F00-7000-8000-000000000001".into(),
        "order.number" => "20261121-0001".into(),
        "organization.name" => "重庆示例建材有限公司".into(),
        "handler.mailing_address" => "重庆市渝北区金开大道160号".into(),
        other => format!("示例{}", other.rsplit('.').next().unwrap_or(other)),
    }
}

/// The same labels and values as a flat ODT table: what a counter fills in
/// a word processor today.
fn fodt(title: &str, rows: &[(String, String)]) -> String {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
    let mut body = String::new();
    for (label, value) in rows {
        body.push_str(&format!(
            "<table:table-row><table:table-cell><text:p>{}</text:p></table:table-cell><table:table-cell><text:p>{}</text:p></table:table-cell></table:table-row>\n",
            esc(label),
            esc(value)
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">
<office:font-face-decls><style:font-face style:name="Noto Sans CJK SC" svg:font-family="'Noto Sans CJK SC'" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"/></office:font-face-decls>
<office:styles><style:default-style style:family="paragraph"><style:text-properties style:font-name="Noto Sans CJK SC" style:font-name-asian="Noto Sans CJK SC" fo:font-size="10pt" style:font-size-asian="10pt"/></style:default-style></office:styles>
<office:body><office:text>
<text:h text:outline-level="1">{}</text:h>
<table:table table:name="form"><table:table-column table:number-columns-repeated="2"/>
{}</table:table>
</office:text></office:body></office:document>
"#,
        esc(title),
        body
    )
}

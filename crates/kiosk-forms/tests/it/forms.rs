use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kiosk_forms::render::Rendered;
use kiosk_forms::template::Item;
use kiosk_forms::{render, CjkFont, FormData, Template};

fn forms_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../forms")
}

fn template(name: &str) -> Template {
    let text = std::fs::read_to_string(forms_dir().join(format!("{name}.toml"))).unwrap();
    Template::from_toml(name, &text).unwrap()
}

/// A value for every binding of the template: distinct, recognisable text.
fn filled(t: &Template) -> FormData {
    let mut d = FormData::default();
    for item in &t.items {
        match item {
            Item::Check { bind, .. } => {
                d.flag(bind, bind.ends_with("apply"));
            }
            Item::Rows { bind, columns, .. } => {
                let rows = (0..2)
                    .map(|i| {
                        columns
                            .iter()
                            .map(|c| (c.key.clone(), format!("{}{i}", &c.key[..2].to_uppercase())))
                            .collect::<BTreeMap<_, _>>()
                    })
                    .collect();
                d.rows.insert(bind.clone(), rows);
            }
            Item::Qr { bind, .. } => {
                d.field(bind, "KIOSK-ORDER:01937c1e-8f00-7000-8000-000000000001");
            }
            Item::Field { bind, .. }
            | Item::Cell {
                bind: Some(bind), ..
            } => {
                d.field(bind, format!("值{}", bind.replace('.', "-")));
            }
            _ => {}
        }
    }
    d
}

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} not installed (scripts/deps): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, name: &str, r: &Rendered) -> String {
    let p = dir.join(name);
    std::fs::write(&p, &r.pdf).unwrap();
    p.display().to_string()
}

#[test]
fn every_template_renders_every_value_with_an_embedded_subset_font() {
    let font = CjkFont::system().expect("fonts-noto-cjk (scripts/deps)");
    let dir = tempfile::tempdir().unwrap();
    for name in ["application", "seal-sheet", "authorization", "receipt"] {
        let t = template(name);
        let data = filled(&t);
        let r = render(&t, &data, &font).unwrap();
        assert!(r.truncated.is_empty(), "{name}: {:?}", r.truncated);
        let path = write(dir.path(), &format!("{name}.pdf"), &r);
        let text = tool("pdftotext", &[&path, "-"]);
        assert!(
            text.contains(&t.title) || name == "receipt",
            "{name}: title"
        );
        for (k, v) in &data.fields {
            if k.ends_with(".qr") {
                continue;
            }
            assert!(
                text.contains(v.as_str()),
                "{name}: {k} = {v} not in\n{text}"
            );
        }
        for rows in data.rows.values() {
            for row in rows {
                for v in row.values() {
                    assert!(text.contains(v.as_str()), "{name}: row value {v}");
                }
            }
        }
        let fonts = tool("pdffonts", &[&path]);
        let line = fonts.lines().nth(2).unwrap_or_default();
        assert!(line.contains("NotoSansCJK"), "{name}: {fonts}");
        // name+subset prefix, and the emb / sub / uni columns all "yes".
        assert!(
            line.split_whitespace().next().unwrap().contains('+'),
            "{fonts}"
        );
        assert_eq!(line.matches("yes").count(), 3, "{name}: {fonts}");
        tool("qpdf", &["--check", &path]);
        let info = tool("pdfinfo", &[&path]);
        assert!(info.contains("Pages:           1"), "{info}");
        assert!(info.contains("595.") && info.contains("841."), "A4: {info}");
    }
}

#[test]
fn the_qr_code_on_the_page_reads_back() {
    let font = CjkFont::system().unwrap();
    let t = template("application");
    let data = filled(&t);
    let r = render(&t, &data, &font).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.pdf", &r);
    let prefix = dir.path().join("page").display().to_string();
    tool(
        "pdftoppm",
        &["-r", "150", "-png", "-singlefile", &path, &prefix],
    );
    let page = image::open(format!("{prefix}.png")).unwrap();
    assert_eq!(
        kiosk_forms::qr::decode(&page),
        vec![data.fields["order.qr"].clone()]
    );
}

#[test]
fn a_long_value_stays_inside_its_box() {
    let font = CjkFont::system().unwrap();
    let t = template("application");
    let mut data = filled(&t);
    let long = "重庆市渝北区金开大道一百六十号示例科技园区三期二十八号楼二十八层二八零八室（请转交财务部李小明收）".repeat(2);
    data.field("handler.mailing_address", long.clone());
    let r = render(&t, &data, &font).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "long.pdf", &r);
    // Word boxes from poppler, in points from the top left.
    let xhtml = tool("pdftotext", &["-bbox", &path, "-"]);
    let cell = t
        .items
        .iter()
        .find_map(|i| match i {
            Item::Cell {
                x,
                y,
                w,
                h,
                label_w,
                bind: Some(b),
                ..
            } if b == "handler.mailing_address" => Some((x + label_w, *y, x + w, y + h)),
            _ => None,
        })
        .unwrap();
    let mm = 72.0 / 25.4;
    let (x0, y0, x1, y1) = (cell.0 * mm, cell.1 * mm, cell.2 * mm, cell.3 * mm);
    let mut seen = String::new();
    for line in xhtml.lines().filter(|l| l.contains("<word")) {
        let attr = |name: &str| -> f32 {
            let at = line.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            line[at..].split('"').next().unwrap().parse().unwrap()
        };
        let word = line.split('>').nth(1).unwrap().split('<').next().unwrap();
        let (wx0, wy0, wx1, wy1) = (attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax"));
        if wx0 >= x0 - 1.0 && wy0 >= y0 - 2.0 && wy0 < y1 && wx0 < x1 {
            assert!(
                wx1 <= x1 + 0.5 && wy1 <= y1 + 0.5,
                "{word} at {wx0},{wy0}-{wx1},{wy1} leaves box {x0},{y0}-{x1},{y1}"
            );
            seen.push_str(word);
        }
    }
    // Wrapped or cut, what is printed is the start of the address.
    assert!(seen.len() > 30, "{seen}");
    assert!(long.starts_with(seen.trim_end_matches('…')), "{seen}");
}

#[test]
fn application_form_generation_is_fast_and_small() {
    let font = CjkFont::system().unwrap();
    let t = template("application");
    let data = filled(&t);
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..21 {
        let start = Instant::now();
        let r = render(&t, &data, &font).unwrap();
        times.push(start.elapsed());
        size = r.pdf.len();
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!("application form: median {median:?}, {size} bytes");
    assert!(size <= 150 * 1024, "{size} bytes");
    if !cfg!(debug_assertions) {
        assert!(median.as_millis() <= 20, "median {median:?}");
    }
}

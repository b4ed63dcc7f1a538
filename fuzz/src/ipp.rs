//! Target `ipp`: the print client's reading of the scheduler's answer, as
//! `Server::post` and its callers do it: the HTTP/1.1 answer to its body
//! (plain, Content-Length or chunked, `fuzz_http_body` behind kiosk-forms'
//! `fuzzing` feature), then that body, and the raw input as well, as an
//! IPP response (`ipp::parse`), then every attribute lookup on it.
//!
//! What must hold: no panic, and a body is never longer than the answer
//! it came from.

use kiosk_forms::ipp::{self, Response};

pub fn run(data: &[u8]) {
    if let Ok(body) = ipp::fuzz_http_body(data) {
        assert!(body.len() <= data.len(), "a body longer than its answer");
        read(&body);
    }
    read(data);
}

fn read(body: &[u8]) {
    let Ok(r) = ipp::parse(body) else {
        return;
    };
    look_up(&r);
}

fn look_up(r: &Response) {
    let _ = r.ok();
    let _ = r.message();
    let _ = r.first(ipp::TAG_PRINTER);
    for g in &r.groups {
        for name in g.attrs.keys() {
            let _ = g.int(name);
            let _ = g.text(name);
            let _ = g.texts(name);
            let _ = g.bool(name);
        }
    }
}

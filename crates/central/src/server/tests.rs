//! The refusals the server makes before it needs its database, through a
//! real socket: what is refused, in which order, with which status and
//! body. (The refusals that need a registered station — unknown station or
//! certificate, revoked, clock skew, bad signature, replay — are covered
//! end to end by `tests/e2e/sync.rs`.)

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kiosk_sync::header;
use serde_json::Value;

use super::{router, Central};
use crate::clock::Clock;

/// A server whose database cannot be reached, on a free port.
async fn serve(clock: Clock) -> std::net::SocketAddr {
    let central = Central {
        pool: crate::db::pool("host=127.0.0.1 port=1 user=nobody dbname=none", 1).unwrap(),
        publisher: None,
        max_skew: Duration::from_secs(300),
        clock,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(Arc::new(central)))
            .await
            .unwrap()
    });
    addr
}

/// Sends one HTTP/1.1 request; (status, body).
async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: central\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    })
    .await
    .unwrap()
}

/// A refusal's (status, code, message).
fn refusal((status, body): (u16, String)) -> (u16, String, String) {
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    assert!(
        v["message_zh"].as_str().is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    (
        status,
        v["code"].as_str().unwrap().to_string(),
        v["message"].as_str().unwrap().to_string(),
    )
}

/// Signed headers, well formed, for station `s`.
fn signed<'a>(station: &'a str, nonce: &'a str, signature: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (header::STATION, station),
        (header::CERTIFICATE, "ab12"),
        (header::TIME, "2026-11-21T08:00:00Z"),
        (header::NONCE, nonce),
        (header::SIGNATURE, signature),
    ]
}

fn malformed(message: &str) -> (u16, String, String) {
    (400, "malformed".into(), message.into())
}

#[tokio::test]
async fn hello_tells_the_central_clock() {
    let at: DateTime<Utc> = "2031-02-03T04:05:06Z".parse().unwrap();
    let clock = Clock::manual(at);
    clock.advance(chrono::TimeDelta::seconds(4));
    let addr = serve(clock).await;
    let (status, body) = send(addr, "GET", "/v1/hello", &[], "").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["time"], "2031-02-03T04:05:10+00:00");
    assert_eq!(v["protocol"], kiosk_sync::PROTOCOL);
}

#[tokio::test]
async fn every_station_route_needs_each_signed_header() {
    let addr = serve(Clock::system()).await;
    for (method, path) in [
        ("GET", "/v1/catalog"),
        ("GET", "/v1/revocations?after=3"),
        ("GET", "/v1/stations/s/head?outbox_head=7"),
        ("GET", "/v1/stations/s/decisions"),
        ("GET", "/v1/stations/s/certificate"),
        ("HEAD", "/v1/stations/s/certificate"),
        ("POST", "/v1/stations/s/records"),
        ("POST", "/v1/stations/s/audit"),
        ("POST", "/v1/stations/s/crl"),
    ] {
        let all = signed("s", "n1", "AAAA");
        for missing in 0..all.len() {
            let headers: Vec<_> = all[..missing].to_vec();
            let r = send(addr, method, path, &headers, "not json").await;
            if method == "HEAD" {
                assert_eq!(r.0, 400, "{method} {path}");
                continue;
            }
            assert_eq!(
                refusal(r),
                malformed(&format!("header {} is missing", all[missing].0)),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_signed_headers_are_refused_before_the_database() {
    let addr = serve(Clock::system()).await;
    let path = "/v1/stations/s/head";
    let r = send(addr, "GET", path, &signed("s", "n1", "not base64!"), "").await;
    assert_eq!(refusal(r), malformed("the signature is not base64"));
    let another = "the signed headers are malformed or name another station";
    let r = send(addr, "GET", path, &signed("t", "n1", "AAAA"), "").await;
    assert_eq!(refusal(r), malformed(another));
    let long = "n".repeat(65);
    let r = send(addr, "GET", path, &signed("s", &long, "AAAA"), "").await;
    assert_eq!(refusal(r), malformed(another));
    for path in ["/v1/stations/t/records", "/v1/stations/t/crl"] {
        let r = send(addr, "POST", path, &signed("s", "n1", "AAAA"), "{}").await;
        assert_eq!(refusal(r), malformed(another), "{path}");
    }
}

#[tokio::test]
async fn public_files_name_a_station_or_are_not_found_before_the_database() {
    // Both listeners serve them, unsigned.
    let addr = serve(Clock::system()).await;
    let plain = {
        let central = Central {
            publisher: None,
            pool: crate::db::pool("host=127.0.0.1 port=1 user=nobody dbname=none", 1).unwrap(),
            max_skew: Duration::from_secs(300),
            clock: Clock::system(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, super::public_router(Arc::new(central)))
                .await
                .unwrap()
        });
        addr
    };
    for at in [addr, plain] {
        for path in ["/crl/0193a2b4-7c1d-7e2f-8a3b-4c5d6e7f8091.crl", "/ca/s.cer"] {
            let r = refusal(send(at, "GET", path, &[], "").await);
            assert_eq!((r.0, r.1.as_str()), (503, "unavailable"), "{path}");
        }
        for path in [
            "/crl/s.cer",
            "/ca/s.crl",
            "/crl/s",
            "/crl/.crl",
            "/crl/..%2Fs.crl",
            "/crl/s%2F..%2F..%2Fetc.crl",
            "/ca/s%00.cer",
            "/crl/s%20t.crl",
        ] {
            let r = refusal(send(at, "GET", path, &[], "").await);
            assert_eq!((r.0, r.1.as_str()), (404, "not_found"), "{path}");
        }
        let (status, _) = send(at, "GET", "/crl/a/b.crl", &[], "").await;
        assert_eq!(status, 404);
    }
    // The plain listener serves nothing else.
    for (method, path) in [
        ("GET", "/v1/hello"),
        ("GET", "/status"),
        ("GET", "/v1/status"),
        ("POST", "/v1/stations/s/crl"),
    ] {
        let (status, _) = send(plain, method, path, &signed("s", "n1", "AAAA"), "").await;
        assert_eq!(status, 404, "{method} {path}");
    }
}

#[tokio::test]
async fn a_well_formed_request_reaches_the_database_then_its_contents() {
    let addr = serve(Clock::system()).await;
    for (method, path, body) in [
        ("GET", "/v1/catalog", ""),
        ("GET", "/v1/stations/s/head", ""),
        ("GET", "/v1/stations/s/certificate", ""),
        ("POST", "/v1/stations/s/records", "not json"),
        ("POST", "/v1/stations/s/crl", "not a CRL"),
    ] {
        let r = refusal(send(addr, method, path, &signed("s", "n1", "AAAA"), body).await);
        assert_eq!(
            (r.0, r.1.as_str()),
            (503, "unavailable"),
            "{method} {path}: {r:?}"
        );
    }
}

#[tokio::test]
async fn path_then_query_are_refused_before_the_signature() {
    let addr = serve(Clock::system()).await;
    let (status, body) = send(addr, "GET", "/v1/catalog?after=x", &[], "").await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("Failed to deserialize query string"),
        "{body}"
    );
    let (status, body) = send(addr, "GET", "/v1/stations/s/decisions?after=x", &[], "").await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("Failed to deserialize query string"),
        "{body}"
    );
    let (status, body) = send(addr, "GET", "/v1/stations/%FF/head?outbox_head=x", &[], "").await;
    assert_eq!(status, 400);
    assert!(body.starts_with("Invalid URL"), "{body}");
    let (status, body) = send(addr, "POST", "/v1/stations/%FF/records", &[], "").await;
    assert_eq!(status, 400);
    assert!(body.starts_with("Invalid URL"), "{body}");
}

#[tokio::test]
async fn an_upload_is_checked_by_its_signed_headers_before_its_body_is_read() {
    // A POST that announces 100 MiB and sends none of it: the headers are
    // checked first (here they reach the unreachable database), the body
    // is never waited for, nor refused for its size.
    let addr = serve(Clock::system()).await;
    for path in [
        "/v1/stations/s/records",
        "/v1/stations/s/audit",
        "/v1/stations/s/crl",
    ] {
        let mut req = format!("POST {path} HTTP/1.1\r\nhost: central\r\nconnection: close\r\n");
        for (k, v) in signed("s", "n1", "AAAA") {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("content-length: {}\r\n\r\n", 100 * 1024 * 1024));
        let (status, body) = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            let (head, body) = out.split_once("\r\n\r\n").unwrap();
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            (status, body.to_string())
        })
        .await
        .unwrap();
        let r = refusal((status, body));
        assert_eq!((r.0, r.1.as_str()), (503, "unavailable"), "{path}: {r:?}");
    }
}

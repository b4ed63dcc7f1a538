//! Just enough of IPP/1.1 (RFC 8010) over HTTP to print a PDF on CUPS and
//! follow the job: requests with one operation group (and optionally a job
//! group), responses parsed into attribute groups.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

pub const PRINT_JOB: u16 = 0x0002;
pub const CANCEL_JOB: u16 = 0x0008;
pub const GET_JOB_ATTRIBUTES: u16 = 0x0009;
pub const GET_PRINTER_ATTRIBUTES: u16 = 0x000B;
pub const CUPS_GET_DEFAULT: u16 = 0x4001;
pub const CUPS_GET_PRINTERS: u16 = 0x4002;

const TAG_OPERATION: u8 = 0x01;
const TAG_JOB: u8 = 0x02;
const TAG_END: u8 = 0x03;
pub const TAG_PRINTER: u8 = 0x04;

/// An attribute value as read from a response.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i32),
    Bool(bool),
    Text(String),
    Other(Vec<u8>),
}

impl Value {
    pub fn as_int(&self) -> Option<i32> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// One group of a response (operation, job or printer attributes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    pub tag: u8,
    pub attrs: BTreeMap<String, Vec<Value>>,
}

impl Group {
    pub fn int(&self, name: &str) -> Option<i32> {
        self.attrs.get(name)?.first()?.as_int()
    }
    pub fn text(&self, name: &str) -> Option<&str> {
        self.attrs.get(name)?.first()?.as_text()
    }
    pub fn texts(&self, name: &str) -> Vec<String> {
        self.attrs
            .get(name)
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_text().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.attrs.get(name)?.first()? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub groups: Vec<Group>,
}

impl Response {
    /// Successful, possibly with ignored or substituted attributes.
    pub fn ok(&self) -> bool {
        self.status < 0x0100
    }
    pub fn first(&self, tag: u8) -> Option<&Group> {
        self.groups.iter().find(|g| g.tag == tag)
    }
    pub fn message(&self) -> String {
        self.first(TAG_OPERATION)
            .and_then(|g| g.text("status-message"))
            .unwrap_or_default()
            .to_string()
    }
}

/// A request under construction.
pub struct Request {
    buf: Vec<u8>,
    in_job_group: bool,
}

impl Request {
    pub fn new(operation: u16, request_id: u32) -> Request {
        let mut buf = vec![2, 0];
        buf.extend_from_slice(&operation.to_be_bytes());
        buf.extend_from_slice(&request_id.to_be_bytes());
        buf.push(TAG_OPERATION);
        let mut r = Request {
            buf,
            in_job_group: false,
        };
        r.attr(0x47, "attributes-charset", b"utf-8");
        r.attr(0x48, "attributes-natural-language", b"zh-cn");
        r
    }

    fn attr(&mut self, tag: u8, name: &str, value: &[u8]) -> &mut Self {
        self.buf.push(tag);
        self.buf
            .extend_from_slice(&(name.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(name.as_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        self
    }

    pub fn uri(&mut self, name: &str, v: &str) -> &mut Self {
        self.attr(0x45, name, v.as_bytes())
    }
    pub fn name(&mut self, name: &str, v: &str) -> &mut Self {
        self.attr(0x42, name, v.as_bytes())
    }
    pub fn keyword(&mut self, name: &str, v: &str) -> &mut Self {
        self.attr(0x44, name, v.as_bytes())
    }
    pub fn mime(&mut self, name: &str, v: &str) -> &mut Self {
        self.attr(0x49, name, v.as_bytes())
    }
    pub fn integer(&mut self, name: &str, v: i32) -> &mut Self {
        self.attr(0x21, name, &v.to_be_bytes())
    }
    /// Further values of the attribute just added.
    pub fn also_keyword(&mut self, v: &str) -> &mut Self {
        self.attr(0x44, "", v.as_bytes())
    }
    /// Starts the job-attributes group.
    pub fn job_group(&mut self) -> &mut Self {
        if !self.in_job_group {
            self.buf.push(TAG_JOB);
            self.in_job_group = true;
        }
        self
    }

    /// The encoded request with `document` appended.
    pub fn finish(&self, document: &[u8]) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.push(TAG_END);
        out.extend_from_slice(document);
        out
    }
}

/// Parses an IPP response body.
///
/// The bytes come from another process, so every read is bounds-checked: a
/// cut or malformed response is an `Err`, never a panic.
pub fn parse(body: &[u8]) -> Result<Response, String> {
    let short = || "IPP response cut short".to_string();
    let Some(&[_, _, s0, s1, _, _, _, _]) = body.get(..8) else {
        return Err(short());
    };
    let status = u16::from_be_bytes([s0, s1]);
    let mut i = 8;
    let mut groups: Vec<Group> = Vec::new();
    let mut last_name = String::new();
    // A two-byte length and that many bytes, starting at `*i`.
    let take = |i: &mut usize| -> Result<&[u8], String> {
        let Some(&[hi, lo]) = body.get(*i..).and_then(|rest| rest.get(..2)) else {
            return Err(short());
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let v = body
            .get(*i + 2..)
            .and_then(|rest| rest.get(..len))
            .ok_or_else(short)?;
        *i += 2 + len;
        Ok(v)
    };
    loop {
        let tag = *body.get(i).ok_or_else(short)?;
        i += 1;
        if tag == TAG_END {
            break;
        }
        if tag < 0x10 {
            groups.push(Group {
                tag,
                attrs: BTreeMap::new(),
            });
            continue;
        }
        let name = String::from_utf8_lossy(take(&mut i)?).into_owned();
        let raw = take(&mut i)?;
        let value = match (tag, raw) {
            (0x21 | 0x23, &[a, b, c, d]) => Value::Int(i32::from_be_bytes([a, b, c, d])),
            (0x22, &[b]) => Value::Bool(b != 0),
            (0x41..=0x49, _) => Value::Text(String::from_utf8_lossy(raw).into_owned()),
            _ => Value::Other(raw.to_vec()),
        };
        if !name.is_empty() {
            last_name = name;
        }
        let group = groups.last_mut().ok_or("IPP attribute outside a group")?;
        group
            .attrs
            .entry(last_name.clone())
            .or_default()
            .push(value);
    }
    Ok(Response { status, groups })
}

/// Where the CUPS scheduler listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    Tcp(String),
    Unix(PathBuf),
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Server::Tcp(a) => write!(f, "{a}"),
            Server::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Server {
    /// Parses the `CUPS_SERVER` convention: a socket path, or host[:port].
    pub fn parse(s: &str) -> Server {
        if s.starts_with('/') {
            Server::Unix(PathBuf::from(s))
        } else if s.contains(':') {
            Server::Tcp(s.to_string())
        } else {
            Server::Tcp(format!("{s}:631"))
        }
    }

    /// Posts one IPP request to `path` (`/`, `/printers/NAME`, `/jobs`).
    pub fn post(&self, path: &str, body: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/ipp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut raw = Vec::new();
        match self {
            Server::Tcp(addr) => {
                let mut s = std::net::TcpStream::connect(addr)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                s.write_all(head.as_bytes())?;
                s.write_all(body)?;
                s.read_to_end(&mut raw)?;
            }
            Server::Unix(path) => {
                let mut s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                s.write_all(head.as_bytes())?;
                s.write_all(body)?;
                s.read_to_end(&mut raw)?;
            }
        }
        http_body(&raw)
    }
}

/// The body of an HTTP/1.1 response read to its end (plain or chunked).
///
/// The answer comes over a socket from another process and may be cut
/// anywhere (a scheduler restarting, a timeout), so every malformed or
/// truncated answer is an `InvalidData` error and nothing here can panic:
/// no unchecked slicing, and no arithmetic on sizes read from the wire.
fn http_body(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let split = find(raw, b"\r\n\r\n")
        .ok_or_else(|| bad("no end of the HTTP header in the answer (cut short?)".into()))?;
    let (head, body) = raw.split_at(split);
    let body = body.get(4..).unwrap_or_default();
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if code != 200 {
        return Err(bad(format!(
            "the print service answered {}",
            clip(status_line.as_bytes())
        )));
    }
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("transfer-encoding") {
            // Only chunked is ever applied to an IPP answer; anything else
            // (gzip) would hand the parser bytes it cannot read.
            if !value.eq_ignore_ascii_case("chunked") {
                return Err(bad(format!(
                    "unsupported Transfer-Encoding {}",
                    shown(value.as_bytes())
                )));
            }
            chunked = true;
        } else if name.trim().eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| bad(format!("bad Content-Length {}", shown(value.as_bytes()))))?;
            length = Some(n);
        }
    }
    if chunked {
        return dechunk(body);
    }
    match length {
        Some(n) => body.get(..n).map(<[u8]>::to_vec).ok_or_else(|| {
            bad(format!(
                "HTTP body cut short: {} of {n} bytes (Content-Length)",
                body.len()
            ))
        }),
        // Connection: close, so the body runs to the end of the stream.
        None => Ok(body.to_vec()),
    }
}

/// [`http_body`] for the fuzz targets in `fuzz/`: the answer to a request,
/// as read from the socket, to its body.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_http_body(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    http_body(raw)
}

/// Joins the chunks of a chunked body (RFC 9112 §7.1). Chunk extensions are
/// ignored; the last chunk and the (possibly empty) trailer section must be
/// there, so an answer cut between two chunks is not taken for a whole one.
fn dechunk(mut rest: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let (line, after) = split_line(rest).ok_or_else(|| {
            bad(format!(
                "chunked HTTP body cut short after {} bytes: no chunk-size line",
                out.len()
            ))
        })?;
        rest = after;
        let size_field = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = chunk_size(size_field.trim_ascii())
            .ok_or_else(|| bad(format!("bad chunk size {}", shown(line))))?;
        if size == 0 {
            // The trailer section: header lines up to an empty one.
            loop {
                let (field, after) = split_line(rest).ok_or_else(|| {
                    bad("chunked HTTP body cut short after its last chunk".into())
                })?;
                rest = after;
                if field.is_empty() {
                    return Ok(out);
                }
            }
        }
        let (data, after) = rest.split_at_checked(size).ok_or_else(|| {
            bad(format!(
                "chunk of {size} bytes cut short after {} bytes",
                rest.len()
            ))
        })?;
        rest = after.strip_prefix(b"\r\n").ok_or_else(|| {
            bad(if after.len() < 2 {
                format!("chunked HTTP body cut short after a chunk of {size} bytes")
            } else {
                format!("chunk of {size} bytes not followed by CRLF")
            })
        })?;
        out.extend_from_slice(data);
    }
}

/// A chunk size: 1 to 16 hex digits and nothing else (no sign, no `0x`), so
/// it fits a u64; `from_str_radix` refuses what does not fit a usize.
fn chunk_size(field: &[u8]) -> Option<usize> {
    if field.is_empty() || field.len() > 16 || !field.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    usize::from_str_radix(std::str::from_utf8(field).ok()?, 16).ok()
}

fn bad(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// Where `needle` first starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The bytes before the first CRLF, and those after it.
fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let eol = find(bytes, b"\r\n")?;
    Some((bytes.get(..eol)?, bytes.get(eol + 2..)?))
}

/// Bytes from the wire for an error message: at most 40 characters.
fn clip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// [`clip`], quoted, for values that may hold invisible characters.
fn shown(bytes: &[u8]) -> String {
    format!("{:?}", clip(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_response_round_trip() {
        let mut r = Request::new(GET_JOB_ATTRIBUTES, 7);
        r.uri("printer-uri", "ipp://localhost/printers/pdf")
            .integer("job-id", 12)
            .keyword("requested-attributes", "job-state")
            .also_keyword("job-state-reasons");
        let mut bytes = r.finish(&[]);
        // Reads back as if it were a response (same encoding).
        bytes[2] = 0;
        bytes[3] = 0;
        let parsed = parse(&bytes).unwrap();
        let g = parsed.first(TAG_OPERATION).unwrap();
        assert_eq!(g.int("job-id"), Some(12));
        assert_eq!(
            g.texts("requested-attributes"),
            vec!["job-state", "job-state-reasons"]
        );
        assert!(parsed.ok());
    }

    #[test]
    fn chunked_http_bodies_are_joined() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(http_body(raw).unwrap(), b"abcde");
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nxy";
        assert_eq!(http_body(raw).unwrap(), b"xy");
        assert!(http_body(b"HTTP/1.1 401 Unauthorized\r\n\r\n").is_err());
    }

    /// Runs `f` and turns a panic into a test failure that names the case.
    fn no_panic<T>(case: &str, f: impl FnOnce() -> T + std::panic::UnwindSafe) -> T {
        std::panic::catch_unwind(f).unwrap_or_else(|_| panic!("{case}: panicked"))
    }

    #[test]
    fn malformed_http_answers_are_invalid_data() {
        const CHUNKED: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        // (case, answer, a word the error message must contain)
        let chunked = |body: &str| format!("{CHUNKED}{body}");
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "cut right after a chunk",
                chunked("3\r\nabc\r\n"),
                "chunk-size line",
            ),
            (
                "cut inside chunk data",
                chunked("3\r\nab"),
                "cut short after 2 bytes",
            ),
            (
                "chunk without its CRLF",
                chunked("3\r\nabc"),
                "cut short after a chunk",
            ),
            (
                "chunk with half its CRLF",
                chunked("3\r\nabc\r"),
                "cut short after a chunk",
            ),
            (
                "chunk longer than its size",
                chunked("3\r\nabcd\r\n0\r\n\r\n"),
                "not followed by CRLF",
            ),
            (
                "cut after the last chunk",
                chunked("3\r\nabc\r\n0\r\n"),
                "after its last chunk",
            ),
            (
                "cut inside the trailer",
                chunked("3\r\nabc\r\n0\r\nX-A: 1\r\n"),
                "after its last chunk",
            ),
            ("cut inside a size line", chunked("3"), "chunk-size line"),
            ("no chunk at all", chunked(""), "chunk-size line"),
            (
                "size not hex",
                chunked("xyz\r\nabc\r\n0\r\n\r\n"),
                "bad chunk size",
            ),
            (
                "size with a sign",
                chunked("+3\r\nabc\r\n0\r\n\r\n"),
                "bad chunk size",
            ),
            (
                "size missing",
                chunked("\r\nabc\r\n0\r\n\r\n"),
                "bad chunk size",
            ),
            (
                "size in 17 hex digits",
                chunked("1ffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
                "bad chunk size",
            ),
            (
                "size of u64::MAX",
                chunked("ffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
                "cut short",
            ),
            (
                "size of u64::MAX - 1",
                chunked("fffffffffffffffe\r\nabc\r\n0\r\n\r\n"),
                "cut short",
            ),
            (
                "size over what is left",
                chunked("10\r\nabc\r\n0\r\n\r\n"),
                "cut short",
            ),
            (
                "chunk-extension, cut short",
                chunked("3;name=value\r\nab"),
                "cut short",
            ),
            (
                "chunk-extension without a size",
                chunked(";name=value\r\nabc\r\n0\r\n\r\n"),
                "bad chunk size",
            ),
            (
                "chunk-extension, no CRLF after data",
                chunked("3;x\r\nabc0\r\n\r\n"),
                "not followed by CRLF",
            ),
            (
                "missing header end",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n3\r\nabc\r\n".into(),
                "no end of the HTTP header",
            ),
            (
                "header ended by bare LFs",
                "HTTP/1.1 200 OK\n\nabc".into(),
                "no end of the HTTP header",
            ),
            ("empty answer", String::new(), "no end of the HTTP header"),
            (
                "401",
                "HTTP/1.1 401 Unauthorized\r\n\r\n".into(),
                "401 Unauthorized",
            ),
            (
                "500 with a body",
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno".into(),
                "500",
            ),
            ("no status code", "garbage\r\n\r\n".into(), "garbage"),
            (
                "Content-Length cut short",
                "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".into(),
                "3 of 10 bytes",
            ),
            (
                "bad Content-Length",
                "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc".into(),
                "bad Content-Length",
            ),
            (
                "gzip",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc".into(),
                "unsupported Transfer-Encoding",
            ),
        ];
        for (case, raw, word) in cases {
            let raw = raw.into_bytes();
            let e = no_panic(case, || http_body(&raw)).expect_err(case);
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{case}");
            assert!(e.to_string().contains(word), "{case}: {e}");
        }
    }

    #[test]
    fn well_formed_http_variants_are_read() {
        let cases: [(&[u8], &[u8]); 5] = [
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value\r\nabc\r\n0\r\n\r\n",
                b"abc",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding:Chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
                b"0123456789",
            ),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b""),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef", b"abc"),
            (b"HTTP/1.1 200 OK\r\n\r\n", b""),
        ];
        for (raw, want) in cases {
            assert_eq!(
                http_body(raw).unwrap(),
                want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn truncated_ipp_responses_are_refused() {
        let mut r = Request::new(GET_JOB_ATTRIBUTES, 1);
        r.integer("job-id", 3)
            .job_group()
            .keyword("job-state-reasons", "none");
        let bytes = r.finish(&[]);
        for n in 0..bytes.len() {
            let cut = &bytes[..n];
            assert!(no_panic("truncated", || parse(cut)).is_err(), "cut at {n}");
        }
        // A length that runs past the end, and an attribute before any group.
        let mut long = bytes[..bytes.len() - 1].to_vec();
        long.extend_from_slice(&[0x21, 0xFF, 0xFF, b'x']);
        assert!(parse(&long).is_err());
        let orphan = [
            2, 0, 0, 0, 0, 0, 0, 1, 0x21, 0, 1, b'a', 0, 4, 0, 0, 0, 1, TAG_END,
        ];
        assert_eq!(
            parse(&orphan),
            Err("IPP attribute outside a group".to_string())
        );
    }

    mod prop {
        use super::super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        fn chunked_answer(chunks: &[Vec<u8>], extension: bool) -> Vec<u8> {
            let mut raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for c in chunks {
                raw.extend_from_slice(format!("{:x}", c.len()).as_bytes());
                if extension {
                    raw.extend_from_slice(b";ext=1");
                }
                raw.extend_from_slice(b"\r\n");
                raw.extend_from_slice(c);
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(b"0\r\n\r\n");
            raw
        }

        /// An IPP response: the request encoding with a status code.
        fn ipp_response(status: u16, attrs: &[(u8, String, i32)]) -> Vec<u8> {
            let mut r = Request::new(GET_PRINTER_ATTRIBUTES, 9);
            for (kind, name, n) in attrs {
                match kind % 5 {
                    0 => r.integer(name, *n),
                    1 => r.keyword(name, &n.to_string()),
                    2 => r.also_keyword(name),
                    3 => r.uri(name, "ipp://localhost/printers/a"),
                    _ => r.job_group(),
                };
            }
            let mut bytes = r.finish(&[]);
            bytes[2..4].copy_from_slice(&status.to_be_bytes());
            bytes
        }

        /// Replaces, inserts or deletes bytes at the given places.
        fn mutate(bytes: &mut Vec<u8>, edits: &[(usize, u8, u8)]) {
            for &(at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let at = at % bytes.len();
                match op % 3 {
                    0 => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
        }

        fn chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
            vec(vec(any::<u8>(), 1..40), 0..6)
        }

        fn attrs() -> impl Strategy<Value = Vec<(u8, String, i32)>> {
            vec((any::<u8>(), "[a-z-]{0,12}", any::<i32>()), 0..10)
        }

        proptest! {
            #[test]
            fn every_truncation_of_a_chunked_answer_is_an_error(
                chunks in chunks(),
                extension in any::<bool>(),
            ) {
                let raw = chunked_answer(&chunks, extension);
                prop_assert_eq!(http_body(&raw).unwrap(), chunks.concat());
                for n in 0..raw.len() {
                    prop_assert!(http_body(&raw[..n]).is_err(), "cut at {}", n);
                }
            }

            #[test]
            fn every_truncation_of_an_ipp_response_is_an_error(
                status in any::<u16>(),
                attrs in attrs(),
            ) {
                let bytes = ipp_response(status, &attrs);
                let whole = parse(&bytes).unwrap();
                prop_assert_eq!(whole.status, status);
                for n in 0..bytes.len() {
                    prop_assert!(parse(&bytes[..n]).is_err(), "cut at {}", n);
                }
                // The same response, chunked, cut anywhere.
                let raw = chunked_answer(std::slice::from_ref(&bytes), false);
                for n in 0..raw.len() {
                    let _ = http_body(&raw[..n]).map(|b| parse(&b));
                }
            }

            #[test]
            fn mutated_answers_never_panic(
                chunks in chunks(),
                status in any::<u16>(),
                attrs in attrs(),
                edits in vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
            ) {
                let mut ipp = ipp_response(status, &attrs);
                let mut raw = chunked_answer(&chunks, false);
                let mut wrapped = chunked_answer(&[ipp.clone()], true);
                mutate(&mut ipp, &edits);
                mutate(&mut raw, &edits);
                mutate(&mut wrapped, &edits);
                let _ = parse(&ipp);
                let _ = http_body(&raw);
                if let Ok(body) = http_body(&wrapped) {
                    let _ = parse(&body);
                }
                // Every truncation of the mutated bytes, too.
                for n in 0..=ipp.len() {
                    let _ = parse(&ipp[..n]);
                }
                for n in 0..=raw.len() {
                    let _ = http_body(&raw[..n]);
                }
            }

            #[test]
            fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
                let _ = parse(&bytes);
                let _ = http_body(&bytes);
                let mut raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                raw.extend_from_slice(&bytes);
                let _ = http_body(&raw);
            }
        }
    }
}

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
pub fn parse(body: &[u8]) -> Result<Response, String> {
    let short = || "IPP response cut short".to_string();
    if body.len() < 8 {
        return Err(short());
    }
    let status = u16::from_be_bytes([body[2], body[3]]);
    let mut i = 8;
    let mut groups: Vec<Group> = Vec::new();
    let mut last_name = String::new();
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
        let take = |i: &mut usize| -> Result<&[u8], String> {
            let len = body.get(*i..*i + 2).ok_or_else(short)?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let v = body.get(*i + 2..*i + 2 + len).ok_or_else(short)?;
            *i += 2 + len;
            Ok(v)
        };
        let name = String::from_utf8_lossy(take(&mut i)?).into_owned();
        let raw = take(&mut i)?;
        let value = match tag {
            0x21 | 0x23 if raw.len() == 4 => {
                Value::Int(i32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]))
            }
            0x22 if raw.len() == 1 => Value::Bool(raw[0] != 0),
            0x41..=0x49 => Value::Text(String::from_utf8_lossy(raw).into_owned()),
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
fn http_body(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no HTTP header in the answer".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status_line = head.lines().next().unwrap_or_default().to_string();
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if code != 200 {
        return Err(bad(format!("HTTP {status_line}")));
    }
    let body = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let eol = body[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("bad chunk".into()))?;
        let size_text = String::from_utf8_lossy(&body[i..i + eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        i += eol + 2;
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(
            body.get(i..i + size)
                .ok_or_else(|| bad("chunk cut short".into()))?,
        );
        i += size + 2;
    }
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
}

//! For tests only: the checkers the project did not write, behind small
//! calls. gmssl 3.2.2 (pure Python, its own SM2 and SM3, pinned in the venv
//! `scripts/deps` makes) verifies SM3withSM2 signatures; [`signed_parts`]
//! finds the signed bytes and the signature in a certificate, CRL or
//! GB/T 38540 seal without the project's own parsers.

use std::path::PathBuf;
use std::process::Command;

/// The signed part and the signature of a certificate or CRL (`at` 2) or
/// a GB/T 38540 seal (`at` 3): the first and the `at`-th elements of its
/// outer SEQUENCE, read by hand.
pub fn signed_parts(der: &[u8], at: usize) -> (Vec<u8>, Vec<u8>) {
    // (header length, content length) of the TLV at the start of `b`.
    fn tlv(b: &[u8]) -> (usize, usize) {
        match b[1] {
            n if n < 0x80 => (2, n as usize),
            n => {
                let k = (n & 0x7f) as usize;
                let len = b[2..2 + k].iter().fold(0, |a, x| (a << 8) | *x as usize);
                (2 + k, len)
            }
        }
    }
    let (h, _) = tlv(der);
    let body = &der[h..];
    let (th, tl) = tlv(body);
    let tbs = body[..th + tl].to_vec();
    let mut sig = &body[th + tl..];
    for _ in 1..at {
        let (h, l) = tlv(sig);
        sig = &sig[h + l..];
    }
    let (sh, sl) = tlv(sig);
    assert_eq!(sig[0], 0x03, "a BIT STRING");
    // Skip the unused-bits octet.
    (tbs, sig[sh + 1..sh + sl].to_vec())
}

/// The Python of the venv `scripts/deps` makes for gmssl (pinned, as it
/// does for pkilint).
pub fn gmssl_python() -> PathBuf {
    let python =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/gmssl-3.2.2/bin/python3");
    assert!(
        python.exists(),
        "{} missing: run scripts/deps",
        python.display()
    );
    python
}

/// gmssl's SM3withSM2 verification (default ID) of a DER signature by the
/// uncompressed point: "True" or "False", as gmssl prints it.
pub fn gmssl_verify(point: &[u8], msg: &[u8], der_sig: &[u8]) -> String {
    assert_eq!(
        (point.len(), point[0]),
        (65, 4),
        "an uncompressed SM2 point"
    );
    let script = r#"
import sys
from gmssl import sm2
point, msg, sig = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
# DER SEQUENCE { r INTEGER, s INTEGER } to r || s.
def ints(b):
    assert b[0] == 0x30
    i, out = 2, []
    while i < len(b):
        assert b[i] == 0x02
        n = b[i + 1]
        out.append(int.from_bytes(b[i + 2:i + 2 + n], 'big'))
        i += 2 + n
    return out
r, s = ints(sig)
c = sm2.CryptSM2(private_key='', public_key=point)
# gmssl's constructor strips a leading "04" (and any 0s and 4s after it)
# from the key it is given, taking it for the uncompressed-point prefix:
# an x coordinate starting 0x04 loses its first digits. The key is set
# again as it is, x || y.
c.public_key = point
print(c.verify_with_sm3('%064x%064x' % (r, s), msg))
"#;
    let out = Command::new(gmssl_python())
        .args(["-c", script])
        .arg(hex(&point[1..]))
        .arg(hex(msg))
        .arg(hex(der_sig))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

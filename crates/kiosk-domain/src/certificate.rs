//! How a company certificate names its holder and how a serial is written:
//! the same rule for the certificates this station signs, those read from a
//! key, and the central's directory.

/// Subject attributes that carry the USCC, in the order they are looked
/// for: serialNumber (2.5.4.5), then stateOrProvinceName (2.5.4.8).
pub const USCC_ATTRIBUTES: [&str; 2] = ["2.5.4.5", "2.5.4.8"];
/// commonName: the company's name.
pub const COMMON_NAME: &str = "2.5.4.3";

/// Who a certificate names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Holder {
    pub name: String,
    pub uscc: String,
}

/// A name's attributes as (dotted OID, value), in order; a value that is
/// not a string type is taken as (lossy) UTF-8.
pub fn attributes(name: &x509_parser::x509::X509Name<'_>) -> Vec<(String, String)> {
    name.iter_attributes()
        .map(|a| {
            let value = a
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| String::from_utf8_lossy(a.attr_value().data).into_owned());
            (a.attr_type().to_id_string(), value)
        })
        .collect()
}

/// The holder, from the subject's attributes as (dotted OID, value).
pub fn holder(attributes: &[(String, String)]) -> Holder {
    let first = |oid: &str| {
        attributes
            .iter()
            .find(|(o, _)| o == oid)
            .map(|(_, v)| v.clone())
    };
    Holder {
        name: first(COMMON_NAME).unwrap_or_default(),
        uscc: USCC_ATTRIBUTES
            .iter()
            .find_map(|oid| first(oid))
            .unwrap_or_default(),
    }
}

/// A certificate serial as the station writes it: lowercase hex of the
/// DER integer's bytes, without the leading zero bytes.
pub fn serial_text(raw: &[u8]) -> String {
    hex_lower(raw).trim_start_matches("00").to_string()
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_lose_their_leading_zero_bytes_only() {
        assert_eq!(serial_text(&[0x00, 0x5a, 0x01]), "5a01");
        assert_eq!(serial_text(&[0x0a, 0x00]), "0a00");
    }

    #[test]
    fn the_uscc_is_taken_from_serial_number_before_state() {
        let attrs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let h = holder(&attrs(&[
            ("2.5.4.8", "重庆"),
            ("2.5.4.3", "某公司"),
            ("2.5.4.5", "91500000MA5U8K2T0A"),
        ]));
        assert_eq!(h.uscc, "91500000MA5U8K2T0A");
        assert_eq!(h.name, "某公司");
        assert_eq!(holder(&attrs(&[("2.5.4.8", "X1")])).uscc, "X1");
    }
}

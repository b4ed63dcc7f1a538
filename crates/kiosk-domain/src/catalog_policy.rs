//! What a catalog may ask of the certificates a station issues, as the
//! station's operator allows it: the extended key usages, and the
//! addresses (CRL distribution point, caIssuers) written into every
//! certificate. A catalog that asks for more is refused whole, whoever
//! signed it: the central's key alone must not be able to make the
//! stations issue code-signing certificates, or certificates that send
//! relying parties elsewhere.

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, ExtendedKeyUsage};
use crate::Rejection;

/// The operator's allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogPolicy {
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// Every address a profile names must begin with one of these
    /// (scheme, host and a path prefix, e.g. `http://crl.ca.example/`).
    pub url_prefixes: Vec<String>,
}

impl CatalogPolicy {
    /// What `catalog` itself uses: the default allow-list is the shipped
    /// catalog's.
    pub fn of(catalog: &Catalog) -> CatalogPolicy {
        let mut eku = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        for p in &catalog.profiles {
            for e in &p.extended_key_usage {
                if !eku.contains(e) {
                    eku.push(*e);
                }
            }
            for url in std::iter::once(&p.crl_url).chain(p.ca_issuers_url.as_ref()) {
                let prefix = origin(url);
                if !prefixes.contains(&prefix) {
                    prefixes.push(prefix);
                }
            }
        }
        CatalogPolicy {
            extended_key_usage: eku,
            url_prefixes: prefixes,
        }
    }

    /// Refuses a catalog that asks for an extended key usage or names an
    /// address outside the allow-list, naming each.
    pub fn check(&self, catalog: &Catalog) -> Result<(), Rejection> {
        for p in &catalog.profiles {
            if let Some(e) = p
                .extended_key_usage
                .iter()
                .find(|e| !self.extended_key_usage.contains(e))
            {
                return Err(Rejection::field("profiles", "签发模板", "not_allowed")
                    .zh(
                        format!("目录要求 {} 的证书带有运营方未允许的扩展密钥用法 {e:?}", p.provider),
                        "目录未导入。如确需此用途，请运营方先在目录策略（KIOSK_CATALOG_POLICY）中允许",
                    )
                    .en(
                        format!("the catalog asks {}'s certificates for extended key usage {e:?}, which the operator does not allow", p.provider),
                        "the catalog was not imported; the operator must allow it in the catalog policy (KIOSK_CATALOG_POLICY) first",
                    ));
            }
            for url in std::iter::once(&p.crl_url).chain(p.ca_issuers_url.as_ref()) {
                if !self
                    .url_prefixes
                    .iter()
                    .any(|pre| url.starts_with(pre.as_str()))
                {
                    return Err(Rejection::field("profiles", "签发模板", "not_allowed")
                        .zh(
                            format!("目录为 {} 的证书写入的地址 {url} 不在运营方允许的地址之内", p.provider),
                            "目录未导入。如地址确已变更，请运营方先在目录策略（KIOSK_CATALOG_POLICY）中允许",
                        )
                        .en(
                            format!("the catalog writes the address {url} into {}'s certificates, outside the operator's allowed addresses", p.provider),
                            "the catalog was not imported; the operator must allow the address in the catalog policy (KIOSK_CATALOG_POLICY) first",
                        ));
                }
            }
        }
        Ok(())
    }
}

/// `scheme://host/` of an address (the whole address if it has no path).
fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i + 1].to_string(),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn shipped() -> Catalog {
        Catalog::from_toml(include_str!("../../../catalog/catalog.toml")).unwrap()
    }

    #[test]
    fn the_shipped_catalog_passes_its_own_policy() {
        let c = shipped();
        let p = CatalogPolicy::of(&c);
        assert_eq!(p.url_prefixes, ["http://crl.kiosk-station.invalid/"]);
        p.check(&c).unwrap();
    }

    #[test]
    fn code_signing_or_another_host_is_refused() {
        let policy = CatalogPolicy::of(&shipped());
        let mut c = shipped();
        c.profiles[0]
            .extended_key_usage
            .push(ExtendedKeyUsage::CodeSigning);
        let e = policy.check(&c).unwrap_err();
        assert_eq!(e.code, "not_allowed");
        assert!(e.message_zh().contains("CodeSigning"), "{}", e.message_zh());
        let mut c = shipped();
        c.profiles[1].crl_url =
            "http://crl.kiosk-station.invalid.evil.example/{station}.crl".into();
        let e = policy.check(&c).unwrap_err();
        assert!(e.message_en().contains("evil"), "{}", e.message_en());
    }
}

//! Contact details: mobile and landline numbers, e-mail, passport numbers.

use super::{fullwidth_to_ascii, normalise, quote_en, quote_zh};
use crate::Rejection;

/// Validates a mainland mobile number (手机号码): 11 digits, `1[3-9]` then
/// nine more.
///
/// Normalisation: [`super::normalise`] (trim, remove inner ASCII and
/// ideographic spaces, full-width digits to ASCII), then every `-` is removed,
/// then one leading `+86` or `0086` country prefix. Returns the bare 11
/// digits. Rejections are addressed to field `mobile`.
pub fn mobile(input: &str) -> Result<String, Rejection> {
    let reject = |code, pz: String, az: &str, pe: String, ae: &str| {
        Rejection::field("mobile", "手机号码", code)
            .zh(pz, az)
            .en(pe, ae)
    };
    let cleaned: String = normalise(input).chars().filter(|c| *c != '-').collect();
    let digits = cleaned
        .strip_prefix("+86")
        .or_else(|| cleaned.strip_prefix("0086"))
        .unwrap_or(&cleaned);
    if digits.is_empty() {
        return Err(reject(
            "empty",
            "未填写".into(),
            "请输入 11 位手机号码",
            "is empty".into(),
            "enter the 11-digit mobile number",
        ));
    }
    if let Some((i, c)) = digits
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_digit())
    {
        return Err(reject(
            "charset",
            format!(
                "手机号第 {} 位是{}，手机号只能由数字组成",
                i + 1,
                quote_zh(c)
            ),
            "请去掉多余的符号，重新输入 11 位手机号码",
            format!(
                "character {} of the mobile number is {}; only digits are allowed",
                i + 1,
                quote_en(c)
            ),
            "remove the extra symbols and enter the 11-digit mobile number",
        ));
    }
    let n = digits.len();
    if n != 11 {
        return Err(reject(
            "length",
            format!("手机号应为 11 位数字，实际输入了 {n} 位"),
            "请核对后重新输入 11 位手机号码",
            format!("a mobile number has 11 digits, {n} were given"),
            "check it and enter the 11-digit mobile number",
        ));
    }
    let second = digits.as_bytes()[1];
    if !digits.starts_with('1') || !(b'3'..=b'9').contains(&second) {
        return Err(reject(
            "format",
            format!("手机号应以 13 至 19 开头，实际以 {} 开头", &digits[..2]),
            "请核对后重新输入；固定电话请填写在联系电话一栏",
            format!(
                "a mobile number starts with 13 to 19, this one starts with {}",
                &digits[..2]
            ),
            "check it and enter it again; put a landline in the phone field",
        ));
    }
    Ok(digits.to_string())
}

/// Validates a contact phone (联系电话): a mobile number as in [`mobile`], or
/// a landline with area code.
///
/// A landline is an area code (`0` and 2 or 3 digits), an optional `-`, a
/// 7- or 8-digit number, and an optional extension written `-123` or `转123`.
/// Without a `-`, the area code is taken as 3 characters when it starts `01`
/// or `02` (the only two-digit codes, 010 and 020–029) and 4 otherwise.
/// Normalisation is [`super::normalise`]; input starting with `1`, `+` or
/// `0086` is treated as a mobile number. Returns
/// `0AA-NNNNNNNN`, `0AA-NNNNNNNN-EXT` or the bare mobile number. Rejections
/// are addressed to field `phone`.
/// What a landline number is written with: digits, "-" after the area
/// code and "转" before an extension (a mobile number is digits only).
pub const PHONE_CHARACTERS: &str = "0123456789-转";

pub fn phone(input: &str) -> Result<String, Rejection> {
    let s = normalise(input);
    if s.is_empty() {
        return Err(phone_reject("empty", "未填写".into(), "is empty".into()));
    }
    if s.starts_with('+') || s.starts_with("0086") || s.starts_with('1') {
        return mobile(&s).map_err(|r| r.at("phone", "联系电话"));
    }
    if let Some((i, c)) = s
        .chars()
        .enumerate()
        .find(|(_, c)| !PHONE_CHARACTERS.contains(*c))
    {
        return Err(phone_reject(
            "charset",
            format!(
                "第 {} 位是{}，电话号码只能由数字、“-”和“转”组成",
                i + 1,
                quote_zh(c)
            ),
            format!(
                "character {} is {}; only digits, '-' and '转' are allowed",
                i + 1,
                quote_en(c)
            ),
        ));
    }
    if !s.starts_with('0') {
        return Err(phone_reject(
            "format",
            "固定电话需要带区号（以 0 开头），手机号应以 1 开头".into(),
            "a landline needs its area code (starting with 0); a mobile number starts with 1"
                .into(),
        ));
    }
    let (main, ext) = match s.split_once('转') {
        Some((main, ext)) => (main, Some(ext)),
        None => (s.as_str(), None),
    };
    let parts: Vec<&str> = main.split('-').collect();
    let (area, local, ext) = match (parts.as_slice(), ext) {
        ([all], ext) => {
            let (area, local) = split_area(all);
            (area, local, ext)
        }
        // Area code and number together are at least 10 digits, so a
        // shorter first part is the area code, not the number.
        ([area, local], ext) if area.len() < 10 => (*area, *local, ext),
        ([all, ext], None) => {
            let (area, local) = split_area(all);
            (area, local, Some(*ext))
        }
        ([area, local, ext], None) => (*area, *local, Some(*ext)),
        _ => {
            return Err(phone_reject(
                "format",
                "“-”或“转”的位置不对".into(),
                "'-' or '转' is in the wrong place".into(),
            ))
        }
    };
    if !(3..=4).contains(&area.len()) {
        return Err(phone_reject(
            "area_code",
            format!("区号应为 0 开头的 3 至 4 位数字，实际为 {area}"),
            format!("the area code must be 3 or 4 digits starting with 0, got {area}"),
        ));
    }
    if !(7..=8).contains(&local.len()) {
        return Err(phone_reject(
            "length",
            format!("区号后的电话号码应为 7 至 8 位，实际为 {} 位", local.len()),
            format!(
                "the number after the area code must be 7 or 8 digits, {} were given",
                local.len()
            ),
        ));
    }
    match ext {
        Some(ext)
            if ext.is_empty() || ext.len() > 6 || !ext.chars().all(|c| c.is_ascii_digit()) =>
        {
            Err(phone_reject(
                "format",
                format!("分机号应为 1 至 6 位数字，实际为“{ext}”"),
                format!("the extension must be 1 to 6 digits, got '{ext}'"),
            ))
        }
        Some(ext) => Ok(format!("{area}-{local}-{ext}")),
        None => Ok(format!("{area}-{local}")),
    }
}

/// Splits a landline written without `-` into area code and number.
fn split_area(all: &str) -> (&str, &str) {
    let at = if all.starts_with("01") || all.starts_with("02") {
        3
    } else {
        4
    };
    // Only ASCII digits reach here, so any index is a character boundary.
    all.split_at(at.min(all.len()))
}

fn phone_reject(code: &'static str, problem_zh: String, problem_en: String) -> Rejection {
    Rejection::field("phone", "联系电话", code)
        .zh(
            problem_zh,
            "请输入 11 位手机号码，或带区号的固定电话，如 0755-12345678",
        )
        .en(
            problem_en,
            "enter an 11-digit mobile number or a landline with area code, e.g. 0755-12345678",
        )
}

/// Validates an e-mail address (邮箱).
///
/// Normalisation: surrounding whitespace trimmed, full-width digits and
/// letters made ASCII, a full-width `＠` made `@`, and the domain lower-cased.
/// The local part keeps its case and inner spaces are not removed. Then: at
/// most 254 characters, exactly one `@`, a local part of letters, digits and
/// ``.!#$%&'*+/=?^_`{|}~-`` with no leading, trailing or double dot, and a
/// domain of at least two dot-separated labels of `[a-z0-9-]` (not starting
/// or ending with `-`) whose last label is 2 or more letters.
pub fn email(input: &str) -> Result<String, Rejection> {
    let reject = |code, problem_zh: String, problem_en: String| {
        Rejection::field("email", "邮箱", code)
            .zh(problem_zh, "请核对后重新输入邮箱地址，如 name@example.com")
            .en(
                problem_en,
                "check it and enter the address again, e.g. name@example.com",
            )
    };
    let s: String = input
        .trim()
        .chars()
        .map(|c| {
            if c == '＠' {
                '@'
            } else {
                fullwidth_to_ascii(c)
            }
        })
        .collect();
    if s.is_empty() {
        return Err(reject("empty", "未填写".into(), "is empty".into()));
    }
    let n = s.chars().count();
    if n > 254 {
        return Err(reject(
            "length",
            format!("邮箱地址最长 254 个字符，实际为 {n} 个"),
            format!("an address has at most 254 characters, this one has {n}"),
        ));
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err(reject(
            "at_sign",
            "缺少“@”".into(),
            "the '@' is missing".into(),
        ));
    };
    let k = s.matches('@').count();
    if k > 1 {
        return Err(reject(
            "at_sign",
            format!("含有 {k} 个“@”，只能有一个"),
            format!("there are {k} '@' signs; there must be exactly one"),
        ));
    }
    const LOCAL_SYMBOLS: &str = ".!#$%&'*+/=?^_`{|}~-";
    if let Some(c) = local
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !LOCAL_SYMBOLS.contains(*c))
    {
        return Err(reject(
            "charset",
            format!("“@”前面含有不允许的字符{}", quote_zh(c)),
            format!(
                "the part before '@' contains {}, which is not allowed",
                quote_en(c)
            ),
        ));
    }
    if local.is_empty() || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(reject(
            "local_part",
            "“@”前面的用户名为空，或以点开头、结尾或含有连续的点".into(),
            "the part before '@' is empty, or starts, ends or has two dots in a row".into(),
        ));
    }
    let domain = domain.to_ascii_lowercase();
    if let Some(c) = domain
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-' && *c != '.')
    {
        return Err(reject(
            "charset",
            format!("“@”后面的域名含有不允许的字符{}", quote_zh(c)),
            format!(
                "the domain after '@' contains {}, which is not allowed",
                quote_en(c)
            ),
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let bad_label = labels
        .iter()
        .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'));
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    if labels.len() < 2 || bad_label || !tld_ok {
        return Err(reject(
            "domain",
            format!("“@”后面的域名“{domain}”不完整或格式不对，应类似 example.com"),
            format!("the domain '{domain}' after '@' is incomplete or malformed; it should look like example.com"),
        ));
    }
    Ok(format!("{local}@{domain}"))
}

/// Validates a passport number (护照号码): 5 to 17 characters of `A-Z0-9`
/// after [`super::normalise`] (trim, remove inner ASCII and ideographic
/// spaces, full-width to ASCII, upper-case). Rejections are addressed to
/// field `passport`.
pub fn passport(input: &str) -> Result<String, Rejection> {
    let reject = |code, problem_zh: String, problem_en: String| {
        Rejection::field("passport", "护照号码", code)
            .zh(problem_zh, "请对照护照资料页上的号码重新输入")
            .en(
                problem_en,
                "enter the number as printed on the passport's data page",
            )
    };
    let s = normalise(input);
    if s.is_empty() {
        return Err(reject("empty", "未填写".into(), "is empty".into()));
    }
    if let Some((i, c)) = s
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
    {
        return Err(reject(
            "charset",
            format!(
                "第 {} 位是{}，护照号码只能由字母和数字组成",
                i + 1,
                quote_zh(c)
            ),
            format!(
                "character {} is {}; only letters and digits are allowed",
                i + 1,
                quote_en(c)
            ),
        ));
    }
    let n = s.len();
    if !(5..=17).contains(&n) {
        return Err(reject(
            "length",
            format!("应为 5 至 17 位，实际输入了 {n} 位"),
            format!("must be 5 to 17 characters, {n} were given"),
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_table() {
        let ok = [
            ("13800138000", "13800138000"),
            (" 138 0013 8000 ", "13800138000"),
            ("138-0013-8000", "13800138000"),
            ("+86 138 0013 8000", "13800138000"),
            ("+86-13800138000", "13800138000"),
            ("008613800138000", "13800138000"),
            ("１９９１２３４５６７８", "19912345678"),
        ];
        for (input, want) in ok {
            assert_eq!(mobile(input).as_deref(), Ok(want), "{input:?}");
        }
        let bad = [
            ("", "empty"),
            ("+86", "empty"),
            ("1380013800", "length"),
            ("138001380001", "length"),
            ("8613800138000", "length"),
            ("12800138000", "format"),
            ("23800138000", "format"),
            ("138.0013.8000", "charset"),
            ("138－0013－8000", "charset"),
        ];
        for (input, code) in bad {
            let r = mobile(input).expect_err(input);
            assert_eq!(
                (r.code, r.field.as_str()),
                (code, "mobile"),
                "{input:?}: {r}"
            );
        }
        let r = mobile("1380013800").expect_err("10 digits");
        assert!(r.problem_zh.contains("实际输入了 10 位"), "{r}");
    }

    #[test]
    fn phone_table() {
        let ok = [
            ("13800138000", "13800138000"),
            ("+86 138 0013 8000", "13800138000"),
            ("010-12345678", "010-12345678"),
            ("01012345678", "010-12345678"),
            ("0755-1234567", "0755-1234567"),
            ("075512345678", "0755-12345678"),
            ("0571 8888 6666", "0571-88886666"),
            ("0755-12345678-123", "0755-12345678-123"),
            ("0755-12345678转123", "0755-12345678-123"),
            ("075512345678-8", "0755-12345678-8"),
            ("０２１-１２３４５６７８", "021-12345678"),
        ];
        for (input, want) in ok {
            assert_eq!(phone(input).as_deref(), Ok(want), "{input:?}");
        }
        let bad = [
            ("", "empty"),
            ("1380013800", "length"),
            ("88886666", "format"),
            ("0755-123456", "length"),
            ("0755-123456789", "length"),
            ("07-12345678", "area_code"),
            ("07555-1234567", "area_code"),
            ("0755-1234-5678-9", "format"),
            ("0755-12345678转", "format"),
            ("0755-12345678转1转2", "format"),
            ("008613800138", "length"),
            ("(0755)12345678", "charset"),
            // A full-width hyphen is punctuation, which normalisation leaves.
            ("021－12345678", "charset"),
        ];
        for (input, code) in bad {
            let r = phone(input).expect_err(input);
            assert_eq!(
                (r.code, r.field.as_str()),
                (code, "phone"),
                "{input:?}: {r}"
            );
        }
    }

    #[test]
    fn email_table() {
        let ok = [
            ("name@example.com", "name@example.com"),
            ("  Name.Surname@Example.COM ", "Name.Surname@example.com"),
            ("a+b_c@mail.qq.com", "a+b_c@mail.qq.com"),
            ("zhang＠ｅｘａｍｐｌｅ.cn", "zhang@example.cn"),
            ("ＺＨＡＮＧ@example.cn", "ZHANG@example.cn"),
            (
                "o'brien@sub-domain.example.org",
                "o'brien@sub-domain.example.org",
            ),
        ];
        for (input, want) in ok {
            assert_eq!(email(input).as_deref(), Ok(want), "{input:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        let bad = [
            ("", "empty"),
            ("name.example.com", "at_sign"),
            ("a@b@example.com", "at_sign"),
            ("@example.com", "local_part"),
            (".name@example.com", "local_part"),
            ("name.@example.com", "local_part"),
            ("na..me@example.com", "local_part"),
            ("na me@example.com", "charset"),
            ("张三@example.com", "charset"),
            ("name@qq,com", "charset"),
            // A full-width dot is punctuation, not a letter or digit.
            ("zhang@example．cn", "charset"),
            ("name@localhost", "domain"),
            ("name@example.c", "domain"),
            ("name@example.123", "domain"),
            ("name@-example.com", "domain"),
            ("name@example-.com", "domain"),
            ("name@example..com", "domain"),
            ("name@", "domain"),
            (long.as_str(), "length"),
        ];
        for (input, code) in bad {
            let r = email(input).expect_err(input);
            assert_eq!(
                (r.code, r.field.as_str()),
                (code, "email"),
                "{input:?}: {r}"
            );
        }
    }

    #[test]
    fn passport_table() {
        let ok = [
            ("E12345678", "E12345678"),
            (" e1234 5678 ", "E12345678"),
            ("ｇ１２３４５６７８", "G12345678"),
            ("AB123", "AB123"),
            ("A2345678901234567", "A2345678901234567"),
        ];
        for (input, want) in ok {
            assert_eq!(passport(input).as_deref(), Ok(want), "{input:?}");
        }
        let bad = [
            ("", "empty"),
            ("E123", "length"),
            ("A23456789012345678", "length"),
            ("E1234-5678", "charset"),
            ("护照E12345678", "charset"),
        ];
        for (input, code) in bad {
            let r = passport(input).expect_err(input);
            assert_eq!(
                (r.code, r.field.as_str()),
                (code, "passport"),
                "{input:?}: {r}"
            );
        }
    }
}

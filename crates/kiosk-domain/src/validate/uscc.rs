//! 统一社会信用代码 (unified social credit code), GB 32100-2015.

use super::{normalise, quote_en, quote_zh};
use crate::Rejection;
use serde::Serialize;
use std::fmt;

const FIELD: &str = "uscc";
const LABEL: &str = "统一社会信用代码";

/// The 31 characters the standard uses; I, O, Z, S and V are left out
/// because they are easily mistaken for digits or for each other.
pub const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const ALPHABET: &[u8] = USCC_ALPHABET.as_bytes();

/// Weights of the first 17 characters (3^i mod 31).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

const ACTION_ZH: &str = "请核对营业执照上的代码后重新输入";
const ACTION_EN: &str = "check the code on the business licence and enter it again";

/// A unified social credit code that passed [`uscc`]: 18 upper-case
/// characters with a correct check character. Serializes as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Uscc(String);

impl Uscc {
    /// The canonical 18-character code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Characters 9 to 17 (1-based): the nine-character organisation code
    /// (组织机构代码) embedded in every unified code.
    pub fn organization_code(&self) -> &str {
        // Only ASCII codes of 18 characters are ever built, so this slice is
        // always on character boundaries.
        &self.0[8..17]
    }
}

impl fmt::Display for Uscc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Uscc {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn value(c: char) -> Option<u32> {
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == c)
        .map(|i| i as u32)
}

fn check_char(values: &[u32]) -> char {
    let sum: u32 = values.iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    char::from(ALPHABET[((31 - sum % 31) % 31) as usize])
}

/// The check character for the first 17 characters of a code, or `None`
/// unless `first17` is exactly 17 characters of the standard's alphabet (no
/// normalisation is applied here).
pub fn uscc_check_char(first17: &str) -> Option<char> {
    let values: Option<Vec<u32>> = first17.chars().map(value).collect();
    let values = values?;
    (values.len() == 17).then(|| check_char(&values))
}

/// Validates a unified social credit code (统一社会信用代码).
///
/// The input is first passed through [`super::normalise`]: surrounding
/// whitespace trimmed, inner ASCII and ideographic spaces removed, full-width
/// digits and letters made ASCII, letters upper-cased. Then it must be 18
/// characters of `0-9 A-H J-N P-R T U W-Y` whose last character is the
/// GB 32100-2015 check character. Rejections are addressed to field `uscc`;
/// use [`Rejection::at`] to move them.
pub fn uscc(input: &str) -> Result<Uscc, Rejection> {
    let code = normalise(input);
    if code.is_empty() {
        return Err(reject(
            "empty",
            "未填写",
            "请输入营业执照上的 18 位统一社会信用代码",
            "is empty",
            "enter the 18-character code printed on the business licence",
        ));
    }
    let mut values = Vec::with_capacity(18);
    for (i, c) in code.chars().enumerate() {
        match value(c) {
            Some(v) => values.push(v),
            None => return Err(forbidden(i + 1, c)),
        }
    }
    if values.len() != 18 {
        return Err(wrong_length(values.len()));
    }
    let expected = check_char(&values[..17]);
    let given = char::from(ALPHABET[values[17] as usize]);
    if expected != given {
        return Err(reject(
            "check_digit",
            format!("校验位不正确：按国家标准应为 {expected}，实际为 {given}，说明代码中有字符输错"),
            ACTION_ZH,
            format!("the check character should be {expected} by the national standard, but is {given}, so a character is mistyped"),
            ACTION_EN,
        ));
    }
    Ok(Uscc(code))
}

/// The USCC a business licence's QR code carries, from the text a
/// keyboard-wedge scanner typed or a picture decoded.
///
/// What the code holds depends on the licence: the electronic licence's
/// link names it in its `serial` parameter
/// (`…/businessCheck/verifKey.do?…&serial=<USCC>-SAIC_SHOW_…`), older
/// provincial links carry `uniscid=<USCC>`, some print it as text
/// (`统一社会信用代码：<USCC>`), and others hold only an opaque link to the
/// publicity system, which names no code. So the rule is: the code is a
/// run of exactly 18 characters of the standard's alphabet, standing on
/// its own (not inside a longer run of letters and digits), with a
/// correct check character; one such code, perhaps repeated, is the
/// answer. None, or two different ones, is refused and the applicant
/// types the code instead.
pub fn uscc_in_licence_code(text: &str) -> Result<Uscc, Rejection> {
    let upper = text.to_ascii_uppercase();
    let mut found: Vec<Uscc> = Vec::new();
    for run in upper.split(|c: char| !c.is_ascii_alphanumeric()) {
        if run.len() != 18 {
            continue;
        }
        if let Ok(u) = uscc(run) {
            if !found.contains(&u) {
                found.push(u);
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(reject(
            "licence_code_without_uscc",
            "营业执照二维码中没有统一社会信用代码（部分执照的二维码只是公示系统的链接）",
            "请按营业执照上印的 18 位统一社会信用代码手动输入",
            "the licence's QR code holds no unified social credit code (on some licences it is only a link to the publicity system)",
            "type the 18-character code printed on the licence",
        )),
        _ => Err(reject(
            "licence_code_ambiguous",
            format!(
                "二维码中有 {} 个不同的统一社会信用代码：{}",
                found.len(),
                found.iter().map(Uscc::as_str).collect::<Vec<_>>().join("、")
            ),
            "请只扫描申请单位营业执照上的二维码，或手动输入代码",
            format!(
                "the QR code holds {} different unified social credit codes: {}",
                found.len(),
                found.iter().map(Uscc::as_str).collect::<Vec<_>>().join(", ")
            ),
            "scan only the QR code on the applicant's licence, or type the code",
        )),
    }
}

fn reject(
    code: &'static str,
    problem_zh: impl Into<String>,
    action_zh: impl Into<String>,
    problem_en: impl Into<String>,
    action_en: impl Into<String>,
) -> Rejection {
    Rejection::field(FIELD, LABEL, code)
        .zh(problem_zh, action_zh)
        .en(problem_en, action_en)
}

fn wrong_length(n: usize) -> Rejection {
    // Fifteen digits is the old business registration number (注册号), a
    // common mix-up worth naming.
    let (hint_zh, hint_en) = if n == 15 {
        (
            "；15 位的是旧版营业执照的注册号",
            "; 15 characters is the old registration number",
        )
    } else {
        ("", "")
    };
    reject(
        "length",
        format!("应为 18 位，实际输入了 {n} 位{hint_zh}"),
        "请输入营业执照上的 18 位统一社会信用代码",
        format!("must be 18 characters, {n} were given{hint_en}"),
        "enter the 18-character code printed on the business licence",
    )
}

fn forbidden(pos: usize, c: char) -> Rejection {
    let guess = match c {
        'O' => Some('0'),
        'I' => Some('1'),
        'Z' => Some('2'),
        'S' => Some('5'),
        _ => None,
    };
    if matches!(c, 'I' | 'O' | 'Z' | 'S' | 'V') {
        let (action_zh, action_en) = match guess {
            Some(d) => (
                format!("这里很可能是数字 {d}，请核对营业执照后重新输入"),
                format!(
                    "it is probably the digit {d}; check the business licence and enter it again"
                ),
            ),
            None => (ACTION_ZH.to_string(), ACTION_EN.to_string()),
        };
        return reject(
            "charset",
            format!("第 {pos} 位是字母 {c}，统一社会信用代码不使用字母 I、O、Z、S、V"),
            action_zh,
            format!("character {pos} is the letter {c}, which the standard never uses (no I, O, Z, S, V)"),
            action_en,
        );
    }
    reject(
        "charset",
        format!(
            "第 {pos} 位是{}，代码只能由数字和大写字母（不含 I、O、Z、S、V）组成",
            quote_zh(c)
        ),
        ACTION_ZH,
        format!(
            "character {pos} is {}; only digits and capital letters except I, O, Z, S, V are allowed",
            quote_en(c)
        ),
        ACTION_EN,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = "91350100M000100Y43";

    #[test]
    fn a_licence_code_gives_its_uscc_in_each_known_shape() {
        let shapes = [
            // The electronic licence's link: the code, then its own serial.
            format!("https://zzlz.gsxt.gov.cn/businessCheck/verifKey.do?showType=p&serial={VALID}-SAIC_SHOW_100000{VALID}1710919400712&signData=MEUCIQDEkCd8"),
            format!("http://www.gsxt.gov.cn/index.html?uniscid={}", VALID.to_ascii_lowercase()),
            format!("统一社会信用代码：{VALID}\n名称：福州示例有限公司"),
            format!("{VALID}"),
        ];
        for text in shapes {
            assert_eq!(
                uscc_in_licence_code(&text).unwrap().as_str(),
                VALID,
                "{text}"
            );
        }
    }

    #[test]
    fn a_licence_code_without_one_uscc_is_refused_in_both_languages() {
        let wrong_check = format!("uniscid={}", &VALID.replace("Y43", "Y44"));
        let opaque = "http://sx.gsxt.gov.cn/index.jspx/EntInfo.jspx?id=YmZrbG9xcXVyd3Fzc21zZW9n";
        let inside = format!("serial=X{VALID}");
        for text in [opaque, &wrong_check, &inside, ""] {
            let r = uscc_in_licence_code(text).unwrap_err();
            assert_eq!(r.code, "licence_code_without_uscc", "{text}");
            assert!(r.problem_en.contains("no unified social credit code"));
            assert!(r.action_zh.contains("手动输入"));
        }
        let two = format!("{VALID} 91500000MA5U8K2T0A");
        let r = uscc_in_licence_code(&two).unwrap_err();
        assert_eq!(r.code, "licence_code_ambiguous");
        assert!(
            r.problem_zh.contains("91500000MA5U8K2T0A"),
            "{}",
            r.problem_zh
        );
    }

    #[test]
    fn valid_codes_normalise_to_canonical_form() {
        let cases = [
            VALID,
            " 91350100M000100Y43 ",
            "9135 0100 M000 100Y 43",
            "91350100m000100y43",
            "９１３５０１００Ｍ０００１００Ｙ４３",
            "91350100\u{3000}M000100Y43",
        ];
        for input in cases {
            let got = uscc(input).unwrap_or_else(|r| panic!("{input:?}: {r}"));
            assert_eq!(got.as_str(), VALID);
        }
    }

    #[test]
    fn invalid_codes_give_specific_codes() {
        let cases = [
            ("", "empty"),
            ("  \u{3000} ", "empty"),
            ("91350100M000100Y4", "length"),
            ("91350100M000100Y433", "length"),
            ("9135O100M000100Y43", "charset"),
            ("91350100M000100Y4-", "charset"),
            ("91350100M000100Y44", "check_digit"),
            ("91350100M000100Y34", "check_digit"),
        ];
        for (input, code) in cases {
            let r = uscc(input).expect_err(input);
            assert_eq!(r.code, code, "{input:?}: {r}");
            assert_eq!(r.field, "uscc");
            assert_eq!(r.field_zh, "统一社会信用代码");
        }
    }

    #[test]
    fn length_message_says_how_many() {
        let r = uscc("913501001234567").expect_err("15 characters");
        assert!(r.problem_zh.contains("实际输入了 15 位"), "{r}");
        assert!(r.problem_zh.contains("注册号"), "{r}");
        assert!(r.problem_en.contains("15 were given"), "{r}");
    }

    #[test]
    fn forbidden_letters_are_named_with_a_probable_digit() {
        let r = uscc("9135O100M000100Y43").expect_err("O");
        assert!(r.problem_zh.contains("第 5 位是字母 O"), "{r}");
        assert!(r.problem_zh.contains("不使用字母 I、O、Z、S、V"), "{r}");
        assert!(r.action_zh.contains("数字 0"), "{r}");
        for (c, digit) in [('I', "1"), ('Z', "2"), ('S', "5")] {
            let input = format!("9{c}350100M000100Y43");
            let r = uscc(&input).expect_err(&input);
            assert!(r.problem_zh.contains(&format!("第 2 位是字母 {c}")), "{r}");
            assert!(r.action_zh.contains(&format!("数字 {digit}")), "{r}");
        }
        let r = uscc("91350100M000100V43").expect_err("V");
        assert!(r.problem_zh.contains("第 16 位是字母 V"), "{r}");
        assert_eq!(r.action_zh, ACTION_ZH);
    }

    #[test]
    fn other_characters_are_named_with_position() {
        let r = uscc("91350100M000100Y4，").expect_err("comma");
        assert_eq!(r.code, "charset");
        assert!(r.problem_zh.contains("第 18 位是“，”（U+FF0C）"), "{r}");
    }

    #[test]
    fn check_digit_message_gives_expected_and_given() {
        let r = uscc("91350100M000100Y44").expect_err("bad check");
        assert!(
            r.problem_zh
                .starts_with("校验位不正确：按国家标准应为 3，实际为 4"),
            "{r}"
        );
        assert_eq!(r.action_zh, "请核对营业执照上的代码后重新输入");
    }

    #[test]
    fn organization_code_is_characters_9_to_17() {
        let code = uscc(VALID).expect("valid");
        assert_eq!(code.organization_code(), "M000100Y4");
        assert_eq!(code.organization_code().len(), 9);
    }

    #[test]
    fn serializes_as_a_string() {
        let code = uscc(VALID).expect("valid");
        assert_eq!(
            serde_json::to_string(&code).ok().as_deref(),
            Some("\"91350100M000100Y43\"")
        );
        assert_eq!(code.to_string(), VALID);
    }

    #[test]
    fn check_char_helper() {
        assert_eq!(uscc_check_char("91350100M000100Y4"), Some('3'));
        assert_eq!(uscc_check_char("91350100M000100Y"), None);
        assert_eq!(uscc_check_char("91350100M000100Y4X"), None);
        assert_eq!(uscc_check_char("91350100m000100Y4"), None);
    }

    fn alphabet_char() -> impl Strategy<Value = char> {
        (0..ALPHABET.len()).prop_map(|i| char::from(ALPHABET[i]))
    }

    fn valid_code() -> impl Strategy<Value = String> {
        proptest::collection::vec(alphabet_char(), 17).prop_map(|chars| {
            let first17: String = chars.into_iter().collect();
            let check = uscc_check_char(&first17).expect("17 alphabet characters");
            format!("{first17}{check}")
        })
    }

    fn replacement() -> impl Strategy<Value = char> {
        prop_oneof![alphabet_char(), any::<char>()]
    }

    proptest! {
        #[test]
        fn generated_codes_validate(code in valid_code()) {
            let got = uscc(&code);
            prop_assert_eq!(got.map(|u| u.as_str().to_string()), Ok(code));
        }

        #[test]
        fn any_single_change_is_rejected(
            code in valid_code(),
            pos in 0usize..18,
            c in replacement(),
        ) {
            let original: Vec<char> = code.chars().collect();
            // A replacement that normalises back to the same character (its
            // lower-case or full-width form) is not a change.
            prop_assume!(normalise(&c.to_string()) != original[pos].to_string());
            let mut chars = original;
            chars[pos] = c;
            let changed: String = chars.into_iter().collect();
            prop_assert!(uscc(&changed).is_err(), "{:?} accepted", changed);
        }

        #[test]
        fn spaces_and_lower_case_keep_the_value(
            code in valid_code(),
            spaces in proptest::collection::vec((0usize..=18, prop_oneof![Just(' '), Just('\u{3000}')]), 0..6),
        ) {
            let mut chars: Vec<char> = code.to_lowercase().chars().collect();
            for (at, space) in spaces {
                chars.insert(at.min(chars.len()), space);
            }
            let messy: String = chars.into_iter().collect();
            let got = uscc(&messy).map(|u| u.as_str().to_string());
            prop_assert_eq!(got, Ok(code));
        }
    }
}

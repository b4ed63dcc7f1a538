//! 居民身份证号码 (resident identity card number), GB 11643-1999.

use super::{normalise, quote_en, quote_zh};
use crate::Rejection;
use chrono::{Datelike, NaiveDate};
use serde::{Serialize, Serializer};
use std::fmt;

const FIELD: &str = "id_number";
const LABEL: &str = "身份证号码";

/// ISO 7064 MOD 11-2 weights (2^(17-i) mod 11) of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character, indexed by the weighted sum mod 11.
const CHECK: &[u8; 11] = b"10X98765432";
/// Every character a resident ID number may hold: digits, and X as the
/// check character.
pub const RESIDENT_ID_CHARACTERS: &str = "0123456789X";

const ACTION_ZH: &str = "请对照身份证逐位核对号码后重新输入";
const ACTION_EN: &str = "compare the number with the ID card digit by digit and enter it again";

/// An 18-character resident ID number that passed [`resident_id`].
/// Serializes as the number string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResidentId {
    number: String,
    // Kept alongside the number so reading it back never has to re-parse.
    birth_date: NaiveDate,
}

impl ResidentId {
    /// The canonical number: 17 digits then a digit or `X`.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// The date of birth, characters 7 to 14 of the number.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }
}

impl fmt::Display for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.number)
    }
}

impl AsRef<str> for ResidentId {
    fn as_ref(&self) -> &str {
        &self.number
    }
}

impl Serialize for ResidentId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.number)
    }
}

fn check_char(digits: &[u32]) -> char {
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    char::from(CHECK[(sum % 11) as usize])
}

/// The check character for the first 17 digits of a number, or `None`
/// unless `first17` is exactly 17 ASCII digits.
pub fn resident_id_check_char(first17: &str) -> Option<char> {
    let digits: Option<Vec<u32>> = first17.chars().map(|c| c.to_digit(10)).collect();
    let digits = digits?;
    (digits.len() == 17).then(|| check_char(&digits))
}

/// Validates an 18-digit resident ID number (居民身份证号码).
///
/// The input is first passed through [`super::normalise`]: surrounding
/// whitespace trimmed, inner ASCII and ideographic spaces removed, full-width
/// digits and letters made ASCII, and a lower-case `x` made `X`. Then it must
/// be 17 digits and a digit or `X`; characters 7 to 14 must be a real birth
/// date from 1900-01-01 to `today`; the last character must be the
/// ISO 7064 MOD 11-2 check character. Rejections are addressed to field
/// `id_number`; use [`Rejection::at`] to move them.
pub fn resident_id(input: &str, today: NaiveDate) -> Result<ResidentId, Rejection> {
    let number = normalise(input);
    if number.is_empty() {
        return Err(reject(
            "empty",
            "未填写",
            "请输入第二代居民身份证上的 18 位号码",
            "is empty",
            "enter the 18-digit number on the second-generation ID card",
        ));
    }
    let chars: Vec<char> = number.chars().collect();
    if let Some(pos) = chars.iter().position(|c| !c.is_ascii_digit() && *c != 'X') {
        let c = chars[pos];
        return Err(reject(
            "charset",
            format!(
                "第 {} 位是{}，身份证号码只能由数字和最后一位的 X 组成",
                pos + 1,
                quote_zh(c)
            ),
            ACTION_ZH,
            format!(
                "character {} is {}; only digits and a final X are allowed",
                pos + 1,
                quote_en(c)
            ),
            ACTION_EN,
        ));
    }
    if chars.len() != 18 {
        return Err(wrong_length(chars.len()));
    }
    if let Some(pos) = chars[..17].iter().position(|c| *c == 'X') {
        return Err(reject(
            "charset",
            format!("第 {} 位是 X，X 只能出现在最后一位（校验位）", pos + 1),
            ACTION_ZH,
            format!(
                "character {} is X, but X may only be the last character (the check digit)",
                pos + 1
            ),
            ACTION_EN,
        ));
    }
    // Every character but the last is now an ASCII digit.
    let digits: Vec<u32> = chars[..17].iter().filter_map(|c| c.to_digit(10)).collect();
    let birth_date = birth_date(&digits, today)?;
    let expected = check_char(&digits);
    let given = chars[17];
    if expected != given {
        return Err(reject(
            "check_digit",
            format!("校验位不正确：按国家标准最后一位应为 {expected}，实际为 {given}，该号码不是有效的身份证号"),
            "请对照身份证逐位核对号码，看是否有数字输错或前后颠倒",
            format!("the check digit should be {expected} by the national standard, but is {given}; this is not a valid ID number"),
            "compare the number with the ID card digit by digit, looking for a mistyped or swapped digit",
        ));
    }
    Ok(ResidentId { number, birth_date })
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
    let (problem_zh, problem_en) = if n == 15 {
        (
            "应为 18 位，实际输入了 15 位；15 位的是第一代身份证号码，已不再受理".to_string(),
            "must be 18 characters, 15 were given; 15-digit first-generation numbers are no longer accepted".to_string(),
        )
    } else {
        (
            format!("应为 18 位，实际输入了 {n} 位（不受理 15 位的第一代身份证号码）"),
            format!("must be 18 characters, {n} were given (15-digit first-generation numbers are not accepted)"),
        )
    };
    reject(
        "length",
        problem_zh,
        "请输入第二代居民身份证上的 18 位号码",
        problem_en,
        "enter the 18-digit number on the second-generation ID card",
    )
}

fn decimal(digits: &[u32]) -> u32 {
    digits.iter().fold(0, |acc, d| acc * 10 + d)
}

/// Reads characters 7 to 14 (YYYYMMDD) and checks they are a real date in
/// the accepted range.
fn birth_date(digits: &[u32], today: NaiveDate) -> Result<NaiveDate, Rejection> {
    let (y, m, d) = (
        decimal(&digits[6..10]),
        decimal(&digits[10..12]),
        decimal(&digits[12..14]),
    );
    let read_zh = format!("第 7 至 14 位的出生日期读作 {y:04} 年 {m:02} 月 {d:02} 日");
    let read_en = format!("characters 7 to 14 read as birth date {y:04}-{m:02}-{d:02}");
    let bad = |why_zh: String, why_en: String| {
        reject(
            "birth_date",
            format!("{read_zh}，{why_zh}"),
            ACTION_ZH,
            format!("{read_en}, {why_en}"),
            ACTION_EN,
        )
    };
    if !(1..=12).contains(&m) {
        return Err(bad(
            format!("没有 {m} 月"),
            format!("there is no month {m}"),
        ));
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d == 0 || d > days {
        let (why_zh, why_en) = if m == 2 && d == 29 {
            (
                format!("{y} 年不是闰年，2 月只有 28 天"),
                format!("{y} is not a leap year, so February has 28 days"),
            )
        } else if d == 0 {
            ("没有 0 日".to_string(), "there is no day 0".to_string())
        } else {
            (
                format!("{m} 月只有 {days} 天"),
                format!("month {m} has only {days} days"),
            )
        };
        return Err(bad(
            format!("这一天不存在：{why_zh}"),
            format!("a day that does not exist: {why_en}"),
        ));
    }
    let date = NaiveDate::from_ymd_opt(y as i32, m, d);
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1);
    match (date, earliest) {
        (Some(date), Some(earliest)) if date < earliest => Err(bad(
            "早于 1900 年 1 月 1 日".into(),
            "which is before 1900-01-01".into(),
        )),
        (Some(date), _) if date > today => Err(bad(
            format!(
                "晚于今天（{} 年 {} 月 {} 日）",
                today.year(),
                today.month(),
                today.day()
            ),
            format!("which is after today ({today})"),
        )),
        (Some(date), _) => Ok(date),
        // The checks above leave no date chrono cannot represent; refuse
        // rather than guess if that ever changes.
        (None, _) => Err(bad(
            "不是有效日期".into(),
            "which is not a valid date".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = "11010519491231002X";

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 1).expect("fixed date")
    }

    /// Builds a number with a correct check character around the given parts.
    fn with_check(first17: &str) -> String {
        let check = resident_id_check_char(first17).expect("17 digits");
        format!("{first17}{check}")
    }

    #[test]
    fn valid_numbers_normalise_to_canonical_form() {
        let cases = [
            VALID,
            "11010519491231002x",
            " 110105 19491231 002X ",
            "１１０１０５１９４９１２３１００２ｘ",
            "110105\u{3000}19491231002X",
        ];
        for input in cases {
            let id = resident_id(input, today()).unwrap_or_else(|r| panic!("{input:?}: {r}"));
            assert_eq!(id.as_str(), VALID);
            assert_eq!(
                id.birth_date(),
                NaiveDate::from_ymd_opt(1949, 12, 31).expect("date")
            );
        }
        let leap_day = with_check("11010520000229123");
        assert!(resident_id(&leap_day, today()).is_ok());
        let born_today = with_check("11010520250601123");
        assert!(resident_id(&born_today, today()).is_ok());
    }

    #[test]
    fn invalid_numbers_give_specific_codes() {
        let cases = [
            ("".to_string(), "empty"),
            ("110105194912310".to_string(), "length"),
            ("1101051949123100".to_string(), "length"),
            ("11010519491231002X1".to_string(), "length"),
            ("1101051949123100-X".to_string(), "charset"),
            ("11010519491231X023".to_string(), "charset"),
            ("11010519491231002Y".to_string(), "charset"),
            (with_check("11010519900230123"), "birth_date"),
            (with_check("11010520230229123"), "birth_date"),
            (with_check("11010519901301123"), "birth_date"),
            (with_check("11010519900400123"), "birth_date"),
            (with_check("11010518991231123"), "birth_date"),
            (with_check("11010520250602123"), "birth_date"),
            ("110105194912310021".to_string(), "check_digit"),
        ];
        for (input, code) in cases {
            let r = resident_id(&input, today()).expect_err(&input);
            assert_eq!(r.code, code, "{input:?}: {r}");
            assert_eq!(r.field, "id_number");
            assert_eq!(r.field_zh, "身份证号码");
        }
    }

    #[test]
    fn provider_guide_samples_fail_the_check_digit() {
        // These appear as examples in a provider's guide but are not valid.
        for sample in ["512210198502030054", "512301198005021100"] {
            let r = resident_id(sample, today()).expect_err(sample);
            assert_eq!(r.code, "check_digit", "{sample}: {r}");
            assert!(r.problem_zh.contains("该号码不是有效的身份证号"), "{r}");
        }
    }

    #[test]
    fn fifteen_digit_numbers_ask_for_the_second_generation_card() {
        let r = resident_id("110105491231002", today()).expect_err("15 digits");
        assert!(r.problem_zh.contains("第一代身份证"), "{r}");
        assert!(r.problem_zh.contains("实际输入了 15 位"), "{r}");
        assert!(r.action_zh.contains("第二代居民身份证"), "{r}");
    }

    #[test]
    fn birth_date_messages_say_what_was_read_and_why() {
        let r = resident_id(&with_check("11010519900230123"), today()).expect_err("30 Feb");
        assert!(r.problem_zh.contains("读作 1990 年 02 月 30 日"), "{r}");
        assert!(r.problem_zh.contains("2 月只有 28 天"), "{r}");
        let r = resident_id(&with_check("11010520230229123"), today()).expect_err("29 Feb");
        assert!(r.problem_zh.contains("2023 年不是闰年"), "{r}");
        let r = resident_id(&with_check("11010520300101123"), today()).expect_err("future");
        assert!(
            r.problem_zh.contains("晚于今天（2025 年 6 月 1 日）"),
            "{r}"
        );
    }

    #[test]
    fn check_digit_message_gives_expected_and_given() {
        let r = resident_id("110105194912310021", today()).expect_err("bad check");
        assert!(
            r.problem_zh
                .starts_with("校验位不正确：按国家标准最后一位应为 X，实际为 1"),
            "{r}"
        );
    }

    #[test]
    fn serializes_as_a_string() {
        let id = resident_id(VALID, today()).expect("valid");
        assert_eq!(
            serde_json::to_string(&id).ok().as_deref(),
            Some("\"11010519491231002X\"")
        );
    }

    #[test]
    fn check_char_helper() {
        assert_eq!(resident_id_check_char("11010519491231002"), Some('X'));
        assert_eq!(resident_id_check_char("1101051949123100"), None);
        assert_eq!(resident_id_check_char("1101051949123100X"), None);
    }

    fn valid_number() -> impl Strategy<Value = String> {
        let first = NaiveDate::from_ymd_opt(1900, 1, 1).expect("date");
        let last = NaiveDate::from_ymd_opt(2010, 12, 31).expect("date");
        let span = (last - first).num_days();
        (0u32..1_000_000, 0..=span, 0u32..1000).prop_map(move |(region, offset, seq)| {
            let born = first + chrono::Days::new(offset as u64);
            with_check(&format!("{region:06}{}{seq:03}", born.format("%Y%m%d")))
        })
    }

    proptest! {
        #[test]
        fn generated_numbers_validate(number in valid_number()) {
            let got = resident_id(&number, today()).map(|id| id.as_str().to_string());
            prop_assert_eq!(got, Ok(number));
        }

        #[test]
        fn any_single_change_is_rejected(
            number in valid_number(),
            pos in 0usize..18,
            c in prop_oneof![proptest::char::range('0', '9'), Just('X'), any::<char>()],
        ) {
            let original: Vec<char> = number.chars().collect();
            // A replacement that normalises back to the same character (x for
            // X, a full-width digit) is not a change.
            prop_assume!(normalise(&c.to_string()) != original[pos].to_string());
            let mut chars = original;
            chars[pos] = c;
            let changed: String = chars.into_iter().collect();
            prop_assert!(resident_id(&changed, today()).is_err(), "{:?} accepted", changed);
        }
    }
}

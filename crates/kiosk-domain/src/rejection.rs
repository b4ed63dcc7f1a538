//! A refusal by the rules, addressed to an applicant or a clerk.
//!
//! Every refusal names the field, says what is wrong and what to do, in
//! Chinese first and English second. Front ends show `zh`; logs and scripts
//! may use `en`; code switches on `code`, never on the text.

use serde::Serialize;
use std::fmt;

/// Why the rules refused an input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// Stable machine name of the field (`uscc`, `handler.mobile`, ...).
    pub field: String,
    /// Stable machine code of the problem (`check_digit`, `too_large`, ...).
    pub code: &'static str,
    /// Chinese name of the field as the form prints it.
    pub field_zh: String,
    /// What is wrong, in Chinese.
    pub problem_zh: String,
    /// What to do about it, in Chinese.
    pub action_zh: String,
    /// What is wrong, in English.
    pub problem_en: String,
    /// What to do about it, in English.
    pub action_en: String,
}

impl Rejection {
    /// Starts a refusal of `field` (`field_zh`: its label as the form prints
    /// it) for the reason `code`. It is complete only once it says what is
    /// wrong and what to do in Chinese ([`RefusalZh::zh`]) and then in
    /// English ([`RefusalEn::en`]), each a sentence for the person at the
    /// counter:
    ///
    /// ```
    /// # use kiosk_domain::Rejection;
    /// let r = Rejection::field("pin", "PIN码", "pin_mismatch")
    ///     .zh("两次输入的PIN码不一致", "请重新输入两次相同的PIN码")
    ///     .en("The two PINs differ", "Type the same PIN twice");
    /// assert_eq!(r.message_en(), "pin: The two PINs differ. Type the same PIN twice.");
    /// ```
    pub fn field(
        field: impl Into<String>,
        field_zh: impl Into<String>,
        code: &'static str,
    ) -> RefusalZh {
        RefusalZh {
            field: field.into(),
            field_zh: field_zh.into(),
            code,
        }
    }

    /// The same refusal, addressed to another field (a validator knows the
    /// kind of value; the caller knows where on the form it sits).
    pub fn at(mut self, field: impl Into<String>, field_zh: impl Into<String>) -> Self {
        self.field = field.into();
        self.field_zh = field_zh.into();
        self
    }

    /// The Chinese sentence shown at the counter.
    pub fn message_zh(&self) -> String {
        format!(
            "【{}】{}。{}。",
            self.field_zh, self.problem_zh, self.action_zh
        )
    }

    /// The English sentence, second.
    pub fn message_en(&self) -> String {
        let stop = |s: &str| s.trim_end_matches('.').to_string();
        format!(
            "{}: {}. {}.",
            self.field,
            stop(&self.problem_en),
            stop(&self.action_en)
        )
    }
}

/// A refusal that still needs its Chinese problem and action.
#[must_use = "a refusal needs .zh(problem, action).en(problem, action)"]
pub struct RefusalZh {
    field: String,
    field_zh: String,
    code: &'static str,
}

impl RefusalZh {
    /// What is wrong and what to do, in Chinese.
    pub fn zh(self, problem: impl Into<String>, action: impl Into<String>) -> RefusalEn {
        RefusalEn {
            head: self,
            problem_zh: problem.into(),
            action_zh: action.into(),
        }
    }
}

/// A refusal that still needs its English problem and action.
#[must_use = "a refusal needs .en(problem, action)"]
pub struct RefusalEn {
    head: RefusalZh,
    problem_zh: String,
    action_zh: String,
}

impl RefusalEn {
    /// What is wrong and what to do, in English.
    pub fn en(self, problem: impl Into<String>, action: impl Into<String>) -> Rejection {
        Rejection {
            field: self.head.field,
            code: self.head.code,
            field_zh: self.head.field_zh,
            problem_zh: self.problem_zh,
            action_zh: self.action_zh,
            problem_en: problem.into(),
            action_en: action.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {}", self.message_zh(), self.message_en())
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_field_problem_and_action() {
        let r = Rejection::field("handler.mobile", "手机号码", "format")
            .zh("应为以 1 开头的 11 位数字", "请重新输入")
            .en("must be 11 digits starting with 1", "enter it again");
        assert_eq!(
            r.message_zh(),
            "【手机号码】应为以 1 开头的 11 位数字。请重新输入。"
        );
        assert!(r.to_string().contains("handler.mobile: must be 11 digits"));
    }
}

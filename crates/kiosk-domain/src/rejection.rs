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
    /// Builds a rejection. Arguments go field, code, Chinese label, then the
    /// problem and the action in Chinese, then both in English.
    pub fn new(
        field: impl Into<String>,
        code: &'static str,
        field_zh: impl Into<String>,
        problem_zh: impl Into<String>,
        action_zh: impl Into<String>,
        problem_en: impl Into<String>,
        action_en: impl Into<String>,
    ) -> Self {
        Rejection {
            field: field.into(),
            code,
            field_zh: field_zh.into(),
            problem_zh: problem_zh.into(),
            action_zh: action_zh.into(),
            problem_en: problem_en.into(),
            action_en: action_en.into(),
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
        format!("{}: {}. {}.", self.field, self.problem_en, self.action_en)
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
        let r = Rejection::new(
            "handler.mobile",
            "format",
            "手机号码",
            "应为以 1 开头的 11 位数字",
            "请重新输入",
            "must be 11 digits starting with 1",
            "enter it again",
        );
        assert_eq!(
            r.message_zh(),
            "【手机号码】应为以 1 开头的 11 位数字。请重新输入。"
        );
        assert!(r.to_string().contains("handler.mobile: must be 11 digits"));
    }
}

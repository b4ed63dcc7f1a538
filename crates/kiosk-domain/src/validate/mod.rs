// placeholder until the validators land
use crate::Rejection;
use chrono::NaiveDate;
pub struct Uscc(String);
impl Uscc { pub fn as_str(&self) -> &str { &self.0 } pub fn organization_code(&self) -> &str { &self.0[8..17] } }
pub struct ResidentId(String);
impl ResidentId { pub fn as_str(&self) -> &str { &self.0 } }
pub fn uscc(i: &str) -> Result<Uscc, Rejection> { Ok(Uscc(i.to_string())) }
pub fn resident_id(i: &str, _t: NaiveDate) -> Result<ResidentId, Rejection> { Ok(ResidentId(i.to_string())) }
pub fn mobile(i: &str) -> Result<String, Rejection> { Ok(i.to_string()) }
pub fn phone(i: &str) -> Result<String, Rejection> { Ok(i.to_string()) }
pub fn email(i: &str) -> Result<String, Rejection> { Ok(i.to_string()) }
pub fn passport(i: &str) -> Result<String, Rejection> { Ok(i.to_string()) }

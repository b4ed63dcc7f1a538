//! Blank keys from the vendor: registering them, reading a key, and whether an order may write one.

use chrono::NaiveDate;
use kiosk_domain::order::Order;
use kiosk_domain::Rejection;
use kiosk_keys::certificate_info;
use kiosk_keys::Module;
use kiosk_store::{Actor, StockKey};

use super::*;
use crate::{AppError, Session, Station};
use kiosk_store::StockState;

impl Station {
    /// Registers a blank key received from the vendor.
    pub fn stock_add(
        &mut self,
        serial: &str,
        model: &str,
        batch: &str,
        received_on: NaiveDate,
        by: &Session,
    ) -> Result<StockKey, AppError> {
        let serial = serial.trim().to_ascii_lowercase();
        if serial.is_empty() || !serial.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Rejection::field("serial", "介质序列号", "format")
                .zh(
                    format!("“{serial}”不是有效的介质序列号"),
                    "请按介质外壳或读卡工具显示的序列号填写（字母和数字）",
                )
                .en(
                    "not a valid key serial",
                    "use the serial printed on the key",
                )
                .into());
        }
        let key = StockKey {
            serial,
            model: model.trim().to_string(),
            batch: batch.trim().to_string(),
            received_on: received_on.to_string(),
            state: StockState::InStock,
            order_id: None,
            first_issued_on: None,
            updated_at: String::new(),
        };
        let now = self.now();
        self.store_mut()
            .write(&Actor::clerk(by.clerk_id()), now, |w| w.stock_add(&key))?;
        Ok(self.store().stock_key(&key.serial)?.unwrap_or(key))
    }

    /// Reads a key the way the seeds' 读取证书 does, in the station's
    /// module or its SM2 module.
    pub fn key_show(&self, m: &Module, cfg: &KeyConfig, serial: &str) -> Result<KeyView, AppError> {
        let m = &self.key_module(m, cfg, serial)?;
        let t = m.by_serial(serial)?;
        let s = m.open(&t)?;
        let certs = s.certificates()?;
        let info = certs
            .first()
            .map(|c| certificate_info(&c.der))
            .transpose()?;
        let provenance = match certs.first() {
            Some(c) => {
                let on_key = s.public_key(&c.id)?.map(|(point, _)| point);
                Some(self.provenance(&c.der, on_key.as_deref())?)
            }
            None => None,
        };
        Ok(KeyView {
            key_serial: t.serial.clone(),
            token_label: t.label.clone(),
            model: t.model.clone(),
            lock: lock_status(&t, self.store().wrong_pins(&t.serial.to_ascii_lowercase())?),
            certificate_serial: info.as_ref().map(|i| i.serial.clone()),
            subject: info.as_ref().map(|i| i.subject.clone()),
            holder: info.as_ref().map(super::existing::holder),
            issuer: info.as_ref().map(|i| i.issuer.clone()),
            not_before: info.as_ref().map(|i| crate::clock::from_x509(i.not_before)),
            not_after: info.as_ref().map(|i| crate::clock::from_x509(i.not_after)),
            provenance,
            objects: s
                .objects()?
                .into_iter()
                .map(|o| format!("{} {} {}", o.class, o.label, o.id))
                .collect(),
            stock: self.store().stock_key(&t.serial)?,
        })
    }

    /// Checks the GB/T 38540 seal on a key (in the station's module or its
    /// SM2 module) as [`crate::Rules::verify_electronic_seal`] checks a
    /// file, trusting `trusted` (PEM) or else the station's SM2 chain, which
    /// made the seals it writes. Reads only.
    pub fn verify_seal_on_key(
        &self,
        m: &Module,
        cfg: &KeyConfig,
        serial: &str,
        trusted: Option<&str>,
    ) -> Result<super::SealReport, AppError> {
        let serial = serial.trim().to_ascii_lowercase();
        let m = &self.key_module(m, cfg, &serial)?;
        let s = m.open(&m.by_serial(&serial)?)?;
        let seal = s
            .values(kiosk_keys::ObjectClass::DATA, Some(SES_FILE))?
            .into_iter()
            .next()
            .ok_or_else(|| {
                Rejection::field("key_serial", "介质", "no_seal_on_key")
                    .zh(
                        format!("介质 {serial} 上没有 GB/T 38540 电子印章"),
                        "国密（SM2）证书的介质才带有电子印章；请确认插入的介质",
                    )
                    .en(
                        format!("key {serial} holds no GB/T 38540 seal"),
                        "keys with an SM2 certificate carry one; check the key",
                    )
            })?;
        let own = self
            .store()
            .station_ca_of(kiosk_store::CaAlgorithm::Sm2)?
            .and_then(|c| c.chain_pem);
        let trusted = trusted.or(own.as_deref());
        self.rules()?
            .verify_electronic_seal(&seal, trusted, self.now())
    }

    pub(super) fn check_stock(
        &self,
        order: &Order,
        key_serial: &str,
    ) -> Result<StockKey, AppError> {
        let refuse = |code, problem: String, action: &str| -> AppError {
            Rejection::field("key_serial", "介质", code)
                .zh(problem, action)
                .en(
                    match code {
                        "not_in_stock" => format!("key {key_serial} is not registered in stock"),
                        "key_of_other_order" => {
                            format!("key {key_serial} is assigned to another order")
                        }
                        _ => format!("key {key_serial} is not a blank key in stock"),
                    },
                    "use another blank key from stock",
                )
                .into()
        };
        let stock = self.store().stock_key(key_serial)?.ok_or_else(|| {
            refuse(
                "not_in_stock",
                format!("介质 {key_serial} 未登记入库"),
                "请使用已入库的空白介质，或先用 kioskctl stock add 登记",
            )
        })?;
        match (stock.state, stock.order_id.as_deref()) {
            (StockState::InStock, _) => Ok(stock),
            (StockState::Assigned, Some(o)) if o == order.id => Ok(stock),
            (StockState::Assigned, Some(_)) => Err(refuse(
                "key_of_other_order",
                format!("介质 {key_serial} 已分配给其他订单"),
                "请换一支空白介质",
            )),
            (state, _) => Err(refuse(
                "key_not_available",
                format!("介质 {key_serial} 当前状态为“{state}”，不是空白库存"),
                "请换一支空白介质",
            )),
        }
    }
}

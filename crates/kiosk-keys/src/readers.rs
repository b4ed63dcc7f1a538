//! Card readers through PC/SC: which keys are inserted, and when they come
//! and go. The ATR says which model a key is; the PKCS#11 token behind it is
//! then found by serial or label.

use std::ffi::CString;
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, Scope, State, PNP_NOTIFICATION};

use crate::KeyError;

/// A reader and what is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    pub name: String,
    pub card_present: bool,
    /// Answer-to-reset of the card, as lower-case hex.
    pub atr: Option<String>,
}

/// A key inserted into or removed from a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardEvent {
    Inserted { reader: String, atr: String },
    Removed { reader: String },
}

/// A connection to the PC/SC daemon (pcscd).
pub struct Readers {
    ctx: Context,
}

fn pcsc_err(function: &'static str) -> impl FnOnce(pcsc::Error) -> KeyError {
    move |e| KeyError::Pcsc {
        function,
        message: e.to_string(),
    }
}

impl Readers {
    pub fn connect() -> Result<Readers, KeyError> {
        Ok(Readers {
            ctx: Context::establish(Scope::User).map_err(pcsc_err("SCardEstablishContext"))?,
        })
    }

    /// Every reader with its card, if any.
    pub fn list(&self) -> Result<Vec<Reader>, KeyError> {
        let names = match self.ctx.list_readers_owned() {
            Ok(n) => n,
            Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
            Err(e) => return Err(pcsc_err("SCardListReaders")(e)),
        };
        let mut states: Vec<ReaderState> = names
            .into_iter()
            .map(|n| ReaderState::new(n, State::UNAWARE))
            .collect();
        if !states.is_empty() {
            self.ctx
                .get_status_change(Duration::ZERO, &mut states)
                .map_err(pcsc_err("SCardGetStatusChange"))?;
        }
        Ok(states.iter().map(reader).collect())
    }

    /// Waits up to `timeout` for `want` insert/remove events and returns
    /// what happened, in order (fewer when the time runs out).
    pub fn watch(&self, want: usize, timeout: Duration) -> Result<Vec<CardEvent>, KeyError> {
        let deadline = Instant::now() + timeout;
        let mut known: Vec<Reader> = self.list()?;
        let mut events = Vec::new();
        let pnp = CString::from(PNP_NOTIFICATION());
        while events.len() < want {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut states: Vec<ReaderState> = known
                .iter()
                .map(|r| {
                    let current = if r.card_present {
                        State::PRESENT
                    } else {
                        State::EMPTY
                    };
                    ReaderState::new(CString::new(r.name.clone()).unwrap_or_default(), current)
                })
                .collect();
            states.push(ReaderState::new(pnp.clone(), State::UNAWARE));
            match self
                .ctx
                .get_status_change(left.min(Duration::from_millis(500)), &mut states)
            {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => return Err(pcsc_err("SCardGetStatusChange")(e)),
            }
            let now = self.list()?;
            for r in &now {
                let before = known.iter().find(|k| k.name == r.name);
                match (
                    before.map(|b| b.card_present).unwrap_or(false),
                    r.card_present,
                ) {
                    (false, true) => events.push(CardEvent::Inserted {
                        reader: r.name.clone(),
                        atr: r.atr.clone().unwrap_or_default(),
                    }),
                    (true, false) => events.push(CardEvent::Removed {
                        reader: r.name.clone(),
                    }),
                    _ => {}
                }
            }
            for k in &known {
                if k.card_present && !now.iter().any(|r| r.name == k.name) {
                    events.push(CardEvent::Removed {
                        reader: k.name.clone(),
                    });
                }
            }
            known = now;
        }
        events.truncate(want);
        Ok(events)
    }
}

fn reader(s: &ReaderState) -> Reader {
    let present = s.event_state().contains(State::PRESENT);
    Reader {
        name: s.name().to_string_lossy().into_owned(),
        card_present: present,
        atr: present.then(|| hex::encode(s.atr())),
    }
}

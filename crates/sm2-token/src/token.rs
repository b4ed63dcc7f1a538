//! Slots, sessions, login and PIN rules, and access to objects: the state
//! of the module in one process (one "application" in PKCS#11 terms).
//!
//! Like SoftHSM2, there is one slot per initialised token plus one slot with
//! a blank token; `C_InitToken` on that slot creates a token and a new blank
//! slot appears. Token state lives in files ([`crate::store`]) and is read
//! again at each use, so that several processes share the tokens. Login
//! state is per process and token, as the standard says.

use std::collections::HashMap;
use std::io;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::object::{flag, ulong, Attrs, Object, Shape};
use crate::ops::{CipherOp, DigestOp, SignOp};
use crate::pin::PinHash;
use crate::sm2ops::{self, SM2_EC_PARAMS};
use crate::store::{Lock, TokenDir, TokenFiles, TokenRecord};
use crate::vendor::{Kind, Mech};
use crate::Rv;

pub const MIN_PIN_LEN: usize = 4;
pub const MAX_PIN_LEN: usize = 255;
const MANUFACTURER: &str = "kiosk-sm2-token (TEST)";
/// The largest generic secret, in bytes.
const MAX_SECRET_LEN: CK_ULONG = 512;

/// Maps a file-system error to the `CK_RV` the caller sees.
fn io_error(e: io::Error) -> CK_RV {
    if e.kind() == io::ErrorKind::NotFound {
        CKR_TOKEN_NOT_PRESENT
    } else {
        CKR_DEVICE_ERROR
    }
}

/// Whose PIN.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    So,
    User,
}

/// Where an object lives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Loc {
    /// In the token's directory, file `obj-<id>.json`.
    Token { serial: String, id: u64 },
    /// In memory, until the session that made it closes.
    Session {
        serial: String,
        owner: CK_SESSION_HANDLE,
    },
}

impl Loc {
    fn serial(&self) -> &str {
        match self {
            Loc::Token { serial, .. } | Loc::Session { serial, .. } => serial,
        }
    }
}

pub struct Session {
    slot: CK_SLOT_ID,
    serial: String,
    rw: bool,
    find: Option<Vec<CK_OBJECT_HANDLE>>,
    pub sign: Option<SignOp>,
    pub verify: Option<SignOp>,
    pub encrypt: Option<CipherOp>,
    pub decrypt: Option<CipherOp>,
    pub digest: Option<DigestOp>,
}

impl Session {
    pub fn slot_id(&self) -> CK_SLOT_ID {
        self.slot
    }
}

pub struct Module {
    cfg: Config,
    store: TokenDir,
    /// Slot id = index; `None` is the blank token's slot (always one, after
    /// the tokens found at the first `C_GetSlotList`).
    slots: Vec<Option<String>>,
    sessions: HashMap<CK_SESSION_HANDLE, Session>,
    /// Who is logged in to each token (by serial) in this process.
    logins: HashMap<String, CK_USER_TYPE>,
    objects: HashMap<CK_OBJECT_HANDLE, Loc>,
    session_objects: HashMap<CK_OBJECT_HANDLE, Object>,
    /// The last handle given out (sessions and objects count apart).
    last_session: CK_SESSION_HANDLE,
    last_object: CK_OBJECT_HANDLE,
}

/// Pads `s` with blanks to a fixed-size PKCS#11 text field.
pub(crate) fn padded<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut end = s.len().min(N);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&s.as_bytes()[..end]);
    out
}

/// PIN state flags for `failures` wrong tries: [count low, final try, locked].
fn pin_flags(failures: u32, max: u32, [low, last, locked]: [CK_FLAGS; 3]) -> CK_FLAGS {
    if failures >= max {
        locked
    } else if failures == 0 {
        0
    } else if failures + 1 == max {
        low | last
    } else {
        low
    }
}

fn check_pin_len(pin: &[u8]) -> Rv<()> {
    if (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.len()) {
        Ok(())
    } else {
        Err(CKR_PIN_LEN_RANGE)
    }
}

impl Module {
    pub fn new(cfg: Config) -> Module {
        Module {
            store: TokenDir::new(cfg.tokendir.clone()),
            cfg,
            slots: Vec::new(),
            sessions: HashMap::new(),
            logins: HashMap::new(),
            objects: HashMap::new(),
            session_objects: HashMap::new(),
            last_session: 0,
            last_object: 0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    // ----- slots and tokens -----

    /// The slots, after looking for tokens made by other processes.
    pub fn slot_list(&mut self) -> Rv<Vec<CK_SLOT_ID>> {
        for serial in self.store.serials().map_err(io_error)? {
            if !self.slots.iter().any(|s| s.as_deref() == Some(&serial)) {
                self.slots.push(Some(serial));
            }
        }
        if !self.slots.contains(&None) {
            self.slots.push(None);
        }
        Ok((0..self.slots.len() as CK_SLOT_ID)
            .filter(|&id| self.record_of_slot(id).is_ok())
            .collect())
    }

    /// The serial of the token in `slot` (`None` for the blank token).
    fn slot_serial(&self, slot: CK_SLOT_ID) -> Rv<Option<&str>> {
        usize::try_from(slot)
            .ok()
            .and_then(|i| self.slots.get(i))
            .map(Option::as_deref)
            .ok_or(CKR_SLOT_ID_INVALID)
    }

    fn files(&self, serial: &str) -> TokenFiles {
        self.store.token(serial)
    }

    /// The bytes the token's objects take: their attribute values.
    fn used_memory(&self, serial: &str) -> Rv<u64> {
        let files = self.files(serial);
        let mut used = 0;
        for id in files.object_ids().map_err(io_error)? {
            if let Some(attrs) = files.read_object(id).map_err(io_error)? {
                used += size(&Object(attrs));
            }
        }
        Ok(used)
    }

    fn record_of_slot(&self, slot: CK_SLOT_ID) -> Rv<Option<TokenRecord>> {
        match self.slot_serial(slot)? {
            None => Ok(None),
            Some(serial) => self.files(serial).read_record().map(Some).map_err(io_error),
        }
    }

    pub fn slot_info(&self, slot: CK_SLOT_ID) -> Rv<CK_SLOT_INFO> {
        self.slot_serial(slot)?;
        Ok(CK_SLOT_INFO {
            slotDescription: padded(&format!("kiosk-sm2-token test slot {slot}")),
            manufacturerID: padded(MANUFACTURER),
            flags: CKF_TOKEN_PRESENT,
            hardwareVersion: CK_VERSION { major: 0, minor: 1 },
            firmwareVersion: CK_VERSION { major: 0, minor: 1 },
        })
    }

    pub fn token_info(&self, slot: CK_SLOT_ID) -> Rv<CK_TOKEN_INFO> {
        let record = self.record_of_slot(slot)?;
        let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED;
        let (label, serial) = match &record {
            None => ("", ""),
            Some(r) => {
                let max = self.cfg.max_pin_tries;
                flags |= CKF_TOKEN_INITIALIZED;
                if r.user_pin.is_some() {
                    flags |= CKF_USER_PIN_INITIALIZED;
                }
                flags |= pin_flags(
                    r.user_failures,
                    max,
                    [
                        CKF_USER_PIN_COUNT_LOW,
                        CKF_USER_PIN_FINAL_TRY,
                        CKF_USER_PIN_LOCKED,
                    ],
                );
                flags |= pin_flags(
                    r.so_failures,
                    max,
                    [
                        CKF_SO_PIN_COUNT_LOW,
                        CKF_SO_PIN_FINAL_TRY,
                        CKF_SO_PIN_LOCKED,
                    ],
                );
                (r.label.as_str(), r.serial.as_str())
            }
        };
        let free = match serial {
            "" => CK_UNAVAILABLE_INFORMATION,
            s => self.cfg.memory.saturating_sub(self.used_memory(s)?) as CK_ULONG,
        };
        let on_token = |rw_only: bool| {
            self.sessions
                .values()
                .filter(|s| s.slot == slot && (s.rw || !rw_only))
                .count() as CK_ULONG
        };
        Ok(CK_TOKEN_INFO {
            label: padded(label),
            manufacturerID: padded(MANUFACTURER),
            model: padded(&format!("SM2 TEST {}", self.cfg.vendor.name)),
            serialNumber: padded(serial),
            flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: on_token(false),
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: on_token(true),
            ulMaxPinLen: MAX_PIN_LEN as CK_ULONG,
            ulMinPinLen: MIN_PIN_LEN as CK_ULONG,
            ulTotalPublicMemory: self.cfg.memory as CK_ULONG,
            ulFreePublicMemory: free,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: CK_VERSION { major: 0, minor: 1 },
            firmwareVersion: CK_VERSION { major: 0, minor: 1 },
            utcTime: [b' '; 16],
        })
    }

    pub fn mechanism(&self, slot: CK_SLOT_ID, mech: CK_MECHANISM_TYPE) -> Rv<&'static Mech> {
        self.slot_serial(slot)?;
        self.cfg.vendor.find(mech).ok_or(CKR_MECHANISM_INVALID)
    }

    /// `C_InitToken`: creates a token on the blank slot, or wipes the
    /// token of an initialised slot (its SO PIN must match).
    pub fn init_token(&mut self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) -> Rv<()> {
        check_pin_len(so_pin)?;
        let label = label.trim_end_matches(' ').to_string();
        match self.slot_serial(slot)?.map(str::to_string) {
            None => {
                let mut serial = [0u8; 8];
                crate::random(&mut serial)?;
                let record = TokenRecord {
                    label,
                    serial: crate::hex(&serial),
                    so_pin: PinHash::new(so_pin, self.cfg.pin_kdf_iterations)?,
                    user_pin: None,
                    so_failures: 0,
                    user_failures: 0,
                };
                self.store.create(&record).map_err(io_error)?;
                self.slots[slot as usize] = Some(record.serial);
                self.slots.push(None);
                Ok(())
            }
            Some(serial) => {
                if self.sessions.values().any(|s| s.serial == serial) {
                    return Err(CKR_SESSION_EXISTS);
                }
                let files = self.files(&serial);
                let (lock, mut record) = self.check_pin(&files, Who::So, so_pin)?;
                record.label = label;
                record.user_pin = None;
                record.user_failures = 0;
                files.write_record(&record, &lock).map_err(io_error)?;
                for id in files.object_ids().map_err(io_error)? {
                    files.remove_object(id, &lock).map_err(io_error)?;
                }
                Ok(())
            }
        }
    }

    // ----- PINs and login -----

    /// Checks a PIN under the token's lock, counting a wrong one; the
    /// record is written only when a counter changes. On success returns
    /// the lock (still held) and the record, for the caller to update.
    fn check_pin(&self, files: &TokenFiles, who: Who, pin: &[u8]) -> Rv<(Lock, TokenRecord)> {
        let lock = files.lock().map_err(io_error)?;
        let mut record = files.read_record().map_err(io_error)?;
        let (hash, failures) = match who {
            Who::So => (Some(&record.so_pin), record.so_failures),
            Who::User => (record.user_pin.as_ref(), record.user_failures),
        };
        let hash = hash.ok_or(CKR_USER_PIN_NOT_INITIALIZED)?;
        if failures >= self.cfg.max_pin_tries {
            return Err(CKR_PIN_LOCKED);
        }
        let right = hash.verify(pin);
        let counter = match who {
            Who::So => &mut record.so_failures,
            Who::User => &mut record.user_failures,
        };
        let before = *counter;
        *counter = if right { 0 } else { before + 1 };
        if *counter != before {
            files.write_record(&record, &lock).map_err(io_error)?;
        }
        if right {
            Ok((lock, record))
        } else {
            Err(CKR_PIN_INCORRECT)
        }
    }

    pub fn login(&mut self, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> Rv<()> {
        let serial = self.session(h)?.serial.clone();
        let who = match user {
            CKU_SO => {
                if self.sessions.values().any(|s| s.serial == serial && !s.rw) {
                    return Err(CKR_SESSION_READ_ONLY_EXISTS);
                }
                Who::So
            }
            CKU_USER => Who::User,
            // No object here needs CKA_ALWAYS_AUTHENTICATE.
            CKU_CONTEXT_SPECIFIC => return Err(CKR_OPERATION_NOT_INITIALIZED),
            _ => return Err(CKR_USER_TYPE_INVALID),
        };
        match self.logins.get(&serial) {
            Some(&u) if u == user => return Err(CKR_USER_ALREADY_LOGGED_IN),
            Some(_) => return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
            None => {}
        }
        self.check_pin(&self.files(&serial), who, pin)?;
        self.logins.insert(serial, user);
        Ok(())
    }

    pub fn logout(&mut self, h: CK_SESSION_HANDLE) -> Rv<()> {
        let serial = self.session(h)?.serial.clone();
        self.logins.remove(&serial).ok_or(CKR_USER_NOT_LOGGED_IN)?;
        // Private session objects go with the login.
        let gone: Vec<_> = self
            .session_objects
            .iter()
            .filter(|(oh, o)| {
                o.is_private() && self.objects.get(oh).is_some_and(|l| l.serial() == serial)
            })
            .map(|(oh, _)| *oh)
            .collect();
        for oh in gone {
            self.forget(oh);
        }
        Ok(())
    }

    /// `C_InitPIN`: the SO sets the user PIN and clears its counter.
    pub fn init_pin(&mut self, h: CK_SESSION_HANDLE, pin: &[u8]) -> Rv<()> {
        let s = self.session(h)?;
        if self.logins.get(&s.serial) != Some(&CKU_SO) {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        if !s.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        check_pin_len(pin)?;
        let files = self.files(&s.serial);
        let lock = files.lock().map_err(io_error)?;
        let mut record = files.read_record().map_err(io_error)?;
        record.user_pin = Some(PinHash::new(pin, self.cfg.pin_kdf_iterations)?);
        record.user_failures = 0;
        files.write_record(&record, &lock).map_err(io_error)
    }

    /// `C_SetPIN`: changes the PIN of whoever is logged in (the user's if
    /// nobody is).
    pub fn set_pin(&mut self, h: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Rv<()> {
        let s = self.session(h)?;
        if !s.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        check_pin_len(new)?;
        let who = if self.logins.get(&s.serial) == Some(&CKU_SO) {
            Who::So
        } else {
            Who::User
        };
        let files = self.files(&s.serial);
        let (lock, mut record) = self.check_pin(&files, who, old)?;
        let hash = PinHash::new(new, self.cfg.pin_kdf_iterations)?;
        match who {
            Who::So => record.so_pin = hash,
            Who::User => record.user_pin = Some(hash),
        }
        files.write_record(&record, &lock).map_err(io_error)
    }

    // ----- sessions -----

    pub fn open_session(&mut self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> Rv<CK_SESSION_HANDLE> {
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        let record = self.record_of_slot(slot)?.ok_or(CKR_TOKEN_NOT_RECOGNIZED)?;
        let rw = flags & CKF_RW_SESSION != 0;
        if !rw && self.logins.get(&record.serial) == Some(&CKU_SO) {
            return Err(CKR_SESSION_READ_WRITE_SO_EXISTS);
        }
        self.last_session += 1;
        self.sessions.insert(
            self.last_session,
            Session {
                slot,
                serial: record.serial,
                rw,
                find: None,
                sign: None,
                verify: None,
                encrypt: None,
                decrypt: None,
                digest: None,
            },
        );
        Ok(self.last_session)
    }

    pub fn close_session(&mut self, h: CK_SESSION_HANDLE) -> Rv<()> {
        let s = self.sessions.remove(&h).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let owned: Vec<_> = self
            .objects
            .iter()
            .filter(|(_, l)| matches!(l, Loc::Session { owner, .. } if *owner == h))
            .map(|(oh, _)| *oh)
            .collect();
        for oh in owned {
            self.forget(oh);
        }
        if !self.sessions.values().any(|o| o.serial == s.serial) {
            self.logins.remove(&s.serial);
        }
        Ok(())
    }

    pub fn close_all_sessions(&mut self, slot: CK_SLOT_ID) -> Rv<()> {
        self.slot_serial(slot)?;
        let on_slot: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.slot == slot)
            .map(|(h, _)| *h)
            .collect();
        on_slot.into_iter().try_for_each(|h| self.close_session(h))
    }

    pub fn session(&self, h: CK_SESSION_HANDLE) -> Rv<&Session> {
        self.sessions.get(&h).ok_or(CKR_SESSION_HANDLE_INVALID)
    }

    pub fn session_mut(&mut self, h: CK_SESSION_HANDLE) -> Rv<&mut Session> {
        self.sessions.get_mut(&h).ok_or(CKR_SESSION_HANDLE_INVALID)
    }

    pub fn session_info(&self, h: CK_SESSION_HANDLE) -> Rv<CK_SESSION_INFO> {
        let s = self.session(h)?;
        let state = match (self.logins.get(&s.serial), s.rw) {
            (Some(&CKU_SO), _) => CKS_RW_SO_FUNCTIONS,
            (Some(_), true) => CKS_RW_USER_FUNCTIONS,
            (Some(_), false) => CKS_RO_USER_FUNCTIONS,
            (None, true) => CKS_RW_PUBLIC_SESSION,
            (None, false) => CKS_RO_PUBLIC_SESSION,
        };
        Ok(CK_SESSION_INFO {
            slotID: s.slot,
            state,
            flags: CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 },
            ulDeviceError: 0,
        })
    }

    // ----- objects -----

    fn user_logged_in(&self, serial: &str) -> bool {
        self.logins.get(serial) == Some(&CKU_USER)
    }

    fn visible(&self, serial: &str, o: &Object) -> bool {
        !o.is_private() || self.user_logged_in(serial)
    }

    fn forget(&mut self, oh: CK_OBJECT_HANDLE) {
        self.objects.remove(&oh);
        self.session_objects.remove(&oh);
    }

    /// The handle of token object `id` (the same one each time).
    fn token_handle(&mut self, serial: &str, id: u64) -> CK_OBJECT_HANDLE {
        let loc = Loc::Token {
            serial: serial.to_string(),
            id,
        };
        if let Some((oh, _)) = self.objects.iter().find(|(_, l)| **l == loc) {
            return *oh;
        }
        self.last_object += 1;
        self.objects.insert(self.last_object, loc);
        self.last_object
    }

    /// The object `oh` as the session `h` may see it.
    fn load(&self, h: CK_SESSION_HANDLE, oh: CK_OBJECT_HANDLE) -> Rv<(Loc, Object)> {
        let serial = &self.session(h)?.serial;
        let loc = self
            .objects
            .get(&oh)
            .filter(|l| l.serial() == serial)
            .ok_or(CKR_OBJECT_HANDLE_INVALID)?;
        let object = match loc {
            Loc::Token { id, .. } => self
                .files(serial)
                .read_object(*id)
                .map_err(io_error)?
                .map(Object),
            Loc::Session { .. } => self.session_objects.get(&oh).cloned(),
        }
        .filter(|o| self.visible(serial, o))
        .ok_or(CKR_OBJECT_HANDLE_INVALID)?;
        Ok((loc.clone(), object))
    }

    /// Checks that the session `h` may create or change `o`.
    fn may_write(&self, h: CK_SESSION_HANDLE, o: &Object) -> Rv<()> {
        let s = self.session(h)?;
        if o.flag(CKA_TOKEN) && !s.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        if o.is_private() && !self.user_logged_in(&s.serial) {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        Ok(())
    }

    /// Stores a new object (checked with [`Self::may_write`] first).
    fn store(&mut self, h: CK_SESSION_HANDLE, o: Object) -> Rv<CK_OBJECT_HANDLE> {
        let serial = self.session(h)?.serial.clone();
        if !o.flag(CKA_TOKEN) {
            self.last_object += 1;
            self.objects
                .insert(self.last_object, Loc::Session { serial, owner: h });
            self.session_objects.insert(self.last_object, o);
            return Ok(self.last_object);
        }
        let files = self.files(&serial);
        let lock = files.lock().map_err(io_error)?;
        if self.used_memory(&serial)? + size(&o) > self.cfg.memory {
            return Err(CKR_DEVICE_MEMORY);
        }
        let existing = files.object_ids().map_err(io_error)?;
        let mut id = [0u8; 8];
        let id = loop {
            crate::random(&mut id)?;
            let candidate = u64::from_be_bytes(id);
            if !existing.contains(&candidate) {
                break candidate;
            }
        };
        files.write_object(id, &o.0, &lock).map_err(io_error)?;
        Ok(self.token_handle(&serial, id))
    }

    /// The SM2 key type of a template: the vendor's (the default) or
    /// `CKK_EC` with the SM2 curve in `CKA_EC_PARAMS`.
    fn sm2_key_type(&self, template: &Attrs) -> Rv<CK_KEY_TYPE> {
        let vendor = self.cfg.vendor.key_type;
        match Object(template.clone()).ulong(CKA_KEY_TYPE) {
            None => Ok(vendor),
            Some(t) if t == vendor => Ok(vendor),
            Some(CKK_EC) => match template.get(&CKA_EC_PARAMS) {
                None => Err(CKR_TEMPLATE_INCOMPLETE),
                Some(p) if p.as_slice() == SM2_EC_PARAMS => Ok(CKK_EC),
                Some(_) => Err(CKR_CURVE_NOT_SUPPORTED),
            },
            Some(_) => Err(CKR_ATTRIBUTE_VALUE_INVALID),
        }
    }

    pub fn create_object(
        &mut self,
        h: CK_SESSION_HANDLE,
        template: &Attrs,
    ) -> Rv<CK_OBJECT_HANDLE> {
        let t = Object(template.clone());
        let class = t.class().ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        let value = t.get(CKA_VALUE).unwrap_or_default();
        let mut fixed: Attrs = [(CKA_CLASS, ulong(class))].into();
        let shape = match class {
            CKO_DATA => Shape::Data,
            CKO_CERTIFICATE => {
                match t.ulong(CKA_CERTIFICATE_TYPE) {
                    None => return Err(CKR_TEMPLATE_INCOMPLETE),
                    Some(CKC_X_509) => {}
                    Some(_) => return Err(CKR_ATTRIBUTE_VALUE_INVALID),
                }
                if value.is_empty() {
                    return Err(CKR_TEMPLATE_INCOMPLETE);
                }
                Shape::Certificate
            }
            CKO_SECRET_KEY => {
                if t.ulong(CKA_KEY_TYPE) != Some(CKK_GENERIC_SECRET) {
                    return Err(CKR_TEMPLATE_INCONSISTENT);
                }
                if value.is_empty() || value.len() as CK_ULONG > MAX_SECRET_LEN {
                    return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                }
                fixed.insert(CKA_VALUE_LEN, ulong(value.len() as CK_ULONG));
                Shape::SecretKey
            }
            CKO_PUBLIC_KEY => {
                let key_type = self.sm2_key_type(template)?;
                t.get(CKA_EC_POINT)
                    .and_then(sm2ops::point_of_attribute)
                    .ok_or(CKR_ATTRIBUTE_VALUE_INVALID)?;
                fixed.insert(CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec());
                Shape::PublicKey(key_type)
            }
            CKO_PRIVATE_KEY => {
                let key_type = self.sm2_key_type(template)?;
                if !sm2ops::valid_secret(value) {
                    return Err(CKR_ATTRIBUTE_VALUE_INVALID);
                }
                fixed.insert(CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec());
                Shape::PrivateKey(key_type)
            }
            _ => return Err(CKR_ATTRIBUTE_VALUE_INVALID),
        };
        let object = shape.build(template, fixed)?;
        self.may_write(h, &object)?;
        self.store(h, object)
    }

    pub fn destroy_object(&mut self, h: CK_SESSION_HANDLE, oh: CK_OBJECT_HANDLE) -> Rv<()> {
        let (loc, object) = self.load(h, oh)?;
        self.may_write(h, &object)?;
        if let Loc::Token { serial, id } = &loc {
            let files = self.files(serial);
            let lock = files.lock().map_err(io_error)?;
            files.remove_object(*id, &lock).map_err(io_error)?;
        }
        self.forget(oh);
        Ok(())
    }

    /// The object as `C_GetAttributeValue` sees it.
    pub fn object(&self, h: CK_SESSION_HANDLE, oh: CK_OBJECT_HANDLE) -> Rv<Object> {
        Ok(self.load(h, oh)?.1)
    }

    pub fn set_attributes(
        &mut self,
        h: CK_SESSION_HANDLE,
        oh: CK_OBJECT_HANDLE,
        changes: &Attrs,
    ) -> Rv<()> {
        let (loc, object) = self.load(h, oh)?;
        self.may_write(h, &object)?;
        match loc {
            Loc::Token { serial, id } => {
                let files = self.files(&serial);
                let lock = files.lock().map_err(io_error)?;
                // Read again under the lock: another process may have changed it.
                let mut current = files
                    .read_object(id)
                    .map_err(io_error)?
                    .map(Object)
                    .ok_or(CKR_OBJECT_HANDLE_INVALID)?;
                current.set(changes)?;
                files.write_object(id, &current.0, &lock).map_err(io_error)
            }
            Loc::Session { .. } => {
                let current = self
                    .session_objects
                    .get_mut(&oh)
                    .ok_or(CKR_OBJECT_HANDLE_INVALID)?;
                current.set(changes)
            }
        }
    }

    pub fn find_init(&mut self, h: CK_SESSION_HANDLE, template: &Attrs) -> Rv<()> {
        let serial = self.session(h)?.serial.clone();
        if self.session(h)?.find.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let files = self.files(&serial);
        let mut found = Vec::new();
        for id in files.object_ids().map_err(io_error)? {
            if let Some(o) = files.read_object(id).map_err(io_error)?.map(Object) {
                if self.visible(&serial, &o) && o.matches(template) {
                    found.push(self.token_handle(&serial, id));
                }
            }
        }
        for (oh, o) in &self.session_objects {
            let here = self.objects.get(oh).is_some_and(|l| l.serial() == serial);
            if here && self.visible(&serial, o) && o.matches(template) {
                found.push(*oh);
            }
        }
        found.sort_unstable();
        found.reverse(); // handed out from the end
        self.session_mut(h)?.find = Some(found);
        Ok(())
    }

    pub fn find_next(&mut self, h: CK_SESSION_HANDLE, max: usize) -> Rv<Vec<CK_OBJECT_HANDLE>> {
        let found = self
            .session_mut(h)?
            .find
            .as_mut()
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let n = max.min(found.len());
        Ok((0..n).filter_map(|_| found.pop()).collect())
    }

    pub fn find_final(&mut self, h: CK_SESSION_HANDLE) -> Rv<()> {
        self.session_mut(h)?
            .find
            .take()
            .map(|_| ())
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)
    }

    // ----- key generation -----

    /// `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` of a key made on
    /// the token.
    fn mark_local(o: &mut Object) {
        let sensitive = o.flag(CKA_SENSITIVE);
        let extractable = o.flag(CKA_EXTRACTABLE);
        o.0.insert(CKA_ALWAYS_SENSITIVE, flag(sensitive));
        o.0.insert(CKA_NEVER_EXTRACTABLE, flag(!extractable));
    }

    pub fn generate_key_pair(
        &mut self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        param: &[u8],
        public: &Attrs,
        private: &Attrs,
    ) -> Rv<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        self.session(h)?;
        if !param.is_empty() {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        let key_type = match mech.kind {
            Kind::Sm2KeyPairGen => self.cfg.vendor.key_type,
            Kind::EcKeyPairGen => match public.get(&CKA_EC_PARAMS) {
                None => return Err(CKR_TEMPLATE_INCOMPLETE),
                Some(p) if p.as_slice() == SM2_EC_PARAMS => CKK_EC,
                Some(_) => return Err(CKR_CURVE_NOT_SUPPORTED),
            },
            _ => return Err(CKR_MECHANISM_INVALID),
        };
        let (d, q) = sm2ops::generate()?;
        let common = |class| -> Attrs {
            [
                (CKA_CLASS, ulong(class)),
                (CKA_KEY_TYPE, ulong(key_type)),
                (CKA_EC_PARAMS, SM2_EC_PARAMS.to_vec()),
                (CKA_LOCAL, flag(true)),
                (CKA_KEY_GEN_MECHANISM, ulong(mech.value)),
            ]
            .into()
        };
        let mut fixed = common(CKO_PUBLIC_KEY);
        fixed.insert(CKA_EC_POINT, sm2ops::ec_point_attribute(&q));
        let public = Shape::PublicKey(key_type).build(public, fixed)?;
        let mut fixed = common(CKO_PRIVATE_KEY);
        fixed.insert(CKA_VALUE, d.to_vec());
        let mut private = Shape::PrivateKey(key_type).build(private, fixed)?;
        Self::mark_local(&mut private);
        self.may_write(h, &public)?;
        self.may_write(h, &private)?;
        let private = self.store(h, private)?;
        Ok((self.store(h, public)?, private))
    }

    pub fn generate_key(
        &mut self,
        h: CK_SESSION_HANDLE,
        mech: &Mech,
        param: &[u8],
        template: &Attrs,
    ) -> Rv<CK_OBJECT_HANDLE> {
        self.session(h)?;
        if mech.kind != Kind::GenericSecretGen {
            return Err(CKR_MECHANISM_INVALID);
        }
        if !param.is_empty() {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        crate::object::check_sizes(template)?;
        let len = Object(template.clone())
            .ulong(CKA_VALUE_LEN)
            .ok_or(CKR_TEMPLATE_INCOMPLETE)?;
        if !(1..=MAX_SECRET_LEN).contains(&len) {
            return Err(CKR_ATTRIBUTE_VALUE_INVALID);
        }
        let mut value = Zeroizing::new(vec![0u8; len as usize]);
        crate::random(&mut value)?;
        let fixed: Attrs = [
            (CKA_CLASS, ulong(CKO_SECRET_KEY)),
            (CKA_KEY_TYPE, ulong(CKK_GENERIC_SECRET)),
            (CKA_VALUE, value.to_vec()),
            (CKA_VALUE_LEN, ulong(len)),
            (CKA_LOCAL, flag(true)),
            (CKA_KEY_GEN_MECHANISM, ulong(mech.value)),
        ]
        .into();
        let mut key = Shape::SecretKey.build(template, fixed)?;
        Self::mark_local(&mut key);
        self.may_write(h, &key)?;
        self.store(h, key)
    }

    // ----- starting operations -----

    /// The key `oh` for an operation of session `h`.
    pub fn key(&self, h: CK_SESSION_HANDLE, oh: CK_OBJECT_HANDLE) -> Rv<Object> {
        match self.load(h, oh) {
            Ok((_, o)) => Ok(o),
            Err(CKR_OBJECT_HANDLE_INVALID) => {
                let serial = &self.session(h)?.serial;
                let known = self.objects.get(&oh).is_some_and(|l| l.serial() == serial);
                Err(if known && !self.user_logged_in(serial) {
                    CKR_USER_NOT_LOGGED_IN
                } else {
                    CKR_KEY_HANDLE_INVALID
                })
            }
            Err(e) => Err(e),
        }
    }
}

/// The bytes an object takes on a token: its attribute values.
fn size(o: &Object) -> u64 {
    o.0.values().map(|v| v.len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_flags_follow_the_counter() {
        let f = [1, 2, 4];
        assert_eq!(pin_flags(0, 6, f), 0);
        assert_eq!(pin_flags(1, 6, f), 1);
        assert_eq!(pin_flags(5, 6, f), 3);
        assert_eq!(pin_flags(6, 6, f), 4);
    }

    #[test]
    fn labels_are_padded_on_char_boundaries() {
        let p: [u8; 4] = padded("añb");
        assert_eq!(&p, "añb".as_bytes());
        let p: [u8; 2] = padded("añ");
        assert_eq!(&p, b"a ");
    }
}

//! The exported PKCS#11 v2.40 functions and the `CK_FUNCTION_LIST`.
//!
//! Every function runs its body under `catch_unwind`: a panic becomes
//! `CKR_GENERAL_ERROR` and never crosses into the caller. Functions this
//! token does not offer return `CKR_FUNCTION_NOT_SUPPORTED`.
//!
//! # Safety
//!
//! These functions are called from C with the pointers the PKCS#11 standard
//! describes; each must be valid for the length given with it (or null where
//! the standard allows). That is the contract of every `unsafe fn` here.
#![allow(non_snake_case, clippy::missing_safety_doc)]

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, PoisonError};

use cryptoki_sys::*;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::object::Attrs;
use crate::ops::{CipherOp, DigestOp, SignOp};
use crate::token::{padded, Module};
use crate::Rv;

static MODULE: Mutex<Option<Module>> = Mutex::new(None);

/// Runs `f`, turning its result (or a panic) into a `CK_RV`.
fn guard(f: impl FnOnce() -> Rv<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(rv)) => rv,
        Err(_) => CKR_GENERAL_ERROR,
    }
}

/// Runs `f` on the initialised module.
fn with(f: impl FnOnce(&mut Module) -> Rv<()>) -> CK_RV {
    guard(|| {
        let mut module = MODULE.lock().unwrap_or_else(PoisonError::into_inner);
        f(module.as_mut().ok_or(CKR_CRYPTOKI_NOT_INITIALIZED)?)
    })
}

// ----- pointers -----

unsafe fn bytes<'a>(p: *const u8, len: CK_ULONG) -> Rv<&'a [u8]> {
    match (p.is_null(), len) {
        (_, 0) => Ok(&[]),
        (true, _) => Err(CKR_ARGUMENTS_BAD),
        (false, n) => Ok(std::slice::from_raw_parts(p, n as usize)),
    }
}

unsafe fn pin(p: *const u8, len: CK_ULONG) -> Rv<Zeroizing<Vec<u8>>> {
    Ok(Zeroizing::new(bytes(p, len)?.to_vec()))
}

unsafe fn attributes<'a>(p: *mut CK_ATTRIBUTE, n: CK_ULONG) -> Rv<&'a mut [CK_ATTRIBUTE]> {
    match (p.is_null(), n) {
        (_, 0) => Ok(&mut []),
        (true, _) => Err(CKR_ARGUMENTS_BAD),
        (false, n) => Ok(std::slice::from_raw_parts_mut(p, n as usize)),
    }
}

unsafe fn template(p: *mut CK_ATTRIBUTE, n: CK_ULONG) -> Rv<Attrs> {
    attributes(p, n)?
        .iter()
        .map(|a| {
            Ok((
                a.type_,
                bytes(a.pValue as *const u8, a.ulValueLen)?.to_vec(),
            ))
        })
        .collect()
}

unsafe fn mechanism<'a>(m: *const CK_MECHANISM) -> Rv<(CK_MECHANISM_TYPE, &'a [u8])> {
    let m = m.as_ref().ok_or(CKR_ARGUMENTS_BAD)?;
    Ok((
        m.mechanism,
        bytes(m.pParameter as *const u8, m.ulParameterLen)?,
    ))
}

unsafe fn put<T>(p: *mut T, value: T) -> Rv<()> {
    if p.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    p.write(value);
    Ok(())
}

/// Returns `items` by the PKCS#11 convention: with a null `p` only their
/// number; with too small a buffer `CKR_BUFFER_TOO_SMALL` and the number
/// needed. `Ok(true)` when the items were delivered.
unsafe fn deliver<T: Copy>(items: &[T], p: *mut T, count: *mut CK_ULONG) -> Rv<bool> {
    let room = count.as_mut().ok_or(CKR_ARGUMENTS_BAD)?;
    let available = *room as usize;
    *room = items.len() as CK_ULONG;
    if p.is_null() {
        return Ok(false);
    }
    if available < items.len() {
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len());
    Ok(true)
}

/// Ends the operation in `slot` unless the caller only asked for the
/// size, or must retry with a larger buffer.
fn settle<T>(slot: &mut Option<T>, delivered: Rv<bool>) -> Rv<()> {
    match delivered {
        Ok(false) => Ok(()),
        Err(CKR_BUFFER_TOO_SMALL) => Err(CKR_BUFFER_TOO_SMALL),
        other => {
            *slot = None;
            other.map(|_| ())
        }
    }
}

// ----- general -----

#[no_mangle]
pub unsafe extern "C" fn C_Initialize(args: *mut c_void) -> CK_RV {
    guard(|| {
        if let Some(a) = (args as *const CK_C_INITIALIZE_ARGS).as_ref() {
            if !a.pReserved.is_null() {
                return Err(CKR_ARGUMENTS_BAD);
            }
            let given = [
                a.CreateMutex.is_some(),
                a.DestroyMutex.is_some(),
                a.LockMutex.is_some(),
                a.UnlockMutex.is_some(),
            ];
            if given.contains(&true) && given.contains(&false) {
                return Err(CKR_ARGUMENTS_BAD);
            }
            if given[0] && a.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(CKR_CANT_LOCK);
            }
        }
        let mut module = MODULE.lock().unwrap_or_else(PoisonError::into_inner);
        if module.is_some() {
            return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED);
        }
        let cfg = Config::from_env().map_err(|e| {
            eprintln!("kiosk-sm2-token: {e}");
            CKR_GENERAL_ERROR
        })?;
        *module = Some(Module::new(cfg));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Finalize(reserved: *mut c_void) -> CK_RV {
    guard(|| {
        if !reserved.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let mut module = MODULE.lock().unwrap_or_else(PoisonError::into_inner);
        module.take().map(drop).ok_or(CKR_CRYPTOKI_NOT_INITIALIZED)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetInfo(info: *mut CK_INFO) -> CK_RV {
    with(|_| {
        put(
            info,
            CK_INFO {
                cryptokiVersion: CK_VERSION {
                    major: 2,
                    minor: 40,
                },
                manufacturerID: padded("kiosk-sm2-token (TEST)"),
                flags: 0,
                libraryDescription: padded("SM2 test token - not an HSM"),
                libraryVersion: CK_VERSION { major: 0, minor: 1 },
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard(|| {
        put(
            list,
            &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST,
        )
    })
}

// ----- slots and tokens -----

#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(
    _present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    with(|m| deliver(&m.slot_list()?, list, count).map(drop))
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) -> CK_RV {
    with(|m| put(info, m.slot_info(slot)?))
}

#[no_mangle]
pub unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    with(|m| put(info, m.token_info(slot)?))
}

#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    with(|m| {
        m.slot_info(slot)?;
        let all: Vec<_> = m.config().vendor.all().map(|x| x.value).collect();
        deliver(&all, list, count).map(drop)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    mech: CK_MECHANISM_TYPE,
    info: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    use crate::vendor::Kind::*;
    with(|m| {
        let (min, max, flags) = match m.mechanism(slot, mech)?.kind {
            Sm2KeyPairGen => (256, 256, CKF_GENERATE_KEY_PAIR),
            EcKeyPairGen => (
                256,
                256,
                CKF_GENERATE_KEY_PAIR | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS,
            ),
            Sm3WithSm2 { .. } | Sm2Raw { .. } => (256, 256, CKF_SIGN | CKF_VERIFY),
            Sm2Encrypt => (256, 256, CKF_ENCRYPT | CKF_DECRYPT),
            Sm3 => (0, 0, CKF_DIGEST),
            GenericSecretGen => (1, 512, CKF_GENERATE),
            HmacSha256 => (1, 512, CKF_SIGN | CKF_VERIFY),
        };
        put(
            info,
            CK_MECHANISM_INFO {
                ulMinKeySize: min,
                ulMaxKeySize: max,
                flags,
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_InitToken(
    slot: CK_SLOT_ID,
    so_pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
    label: *mut CK_UTF8CHAR,
) -> CK_RV {
    with(|m| {
        let label = bytes(label, 32)?;
        let label = std::str::from_utf8(label).map_err(|_| CKR_ARGUMENTS_BAD)?;
        m.init_token(slot, &pin(so_pin, len)?, label)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_InitPIN(
    h: CK_SESSION_HANDLE,
    p: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    with(|m| m.init_pin(h, &pin(p, len)?))
}

#[no_mangle]
pub unsafe extern "C" fn C_SetPIN(
    h: CK_SESSION_HANDLE,
    old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    with(|m| m.set_pin(h, &pin(old, old_len)?, &pin(new, new_len)?))
}

// ----- sessions -----

#[no_mangle]
pub unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _app: *mut c_void,
    _notify: CK_NOTIFY,
    session: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    with(|m| {
        if session.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        put(session, m.open_session(slot, flags)?)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_CloseSession(h: CK_SESSION_HANDLE) -> CK_RV {
    with(|m| m.close_session(h))
}

#[no_mangle]
pub unsafe extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    with(|m| m.close_all_sessions(slot))
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSessionInfo(
    h: CK_SESSION_HANDLE,
    info: *mut CK_SESSION_INFO,
) -> CK_RV {
    with(|m| put(info, m.session_info(h)?))
}

#[no_mangle]
pub unsafe extern "C" fn C_Login(
    h: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    p: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    with(|m| m.login(h, user, &pin(p, len)?))
}

#[no_mangle]
pub unsafe extern "C" fn C_Logout(h: CK_SESSION_HANDLE) -> CK_RV {
    with(|m| m.logout(h))
}

// ----- objects -----

#[no_mangle]
pub unsafe extern "C" fn C_CreateObject(
    h: CK_SESSION_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    object: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with(|m| {
        if object.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        put(object, m.create_object(h, &template(t, n)?)?)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DestroyObject(h: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> CK_RV {
    with(|m| m.destroy_object(h, object))
}

#[no_mangle]
pub unsafe extern "C" fn C_GetAttributeValue(
    h: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    with(|m| {
        let o = m.object(h, object)?;
        let mut rv = CKR_OK;
        for a in attributes(t, n)? {
            let value = if o.is_secret_attribute(a.type_) {
                rv = CKR_ATTRIBUTE_SENSITIVE;
                None
            } else {
                let v = o.get(a.type_);
                if v.is_none() {
                    rv = CKR_ATTRIBUTE_TYPE_INVALID;
                }
                v
            };
            match value {
                None => a.ulValueLen = CK_UNAVAILABLE_INFORMATION,
                Some(v) if a.pValue.is_null() => a.ulValueLen = v.len() as CK_ULONG,
                Some(v) if a.ulValueLen as usize >= v.len() => {
                    std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len());
                    a.ulValueLen = v.len() as CK_ULONG;
                }
                Some(_) => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    rv = CKR_BUFFER_TOO_SMALL;
                }
            }
        }
        if rv == CKR_OK {
            Ok(())
        } else {
            Err(rv)
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SetAttributeValue(
    h: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    with(|m| m.set_attributes(h, object, &template(t, n)?))
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsInit(
    h: CK_SESSION_HANDLE,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> CK_RV {
    with(|m| m.find_init(h, &template(t, n)?))
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjects(
    h: CK_SESSION_HANDLE,
    out: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    count: *mut CK_ULONG,
) -> CK_RV {
    with(|m| {
        if count.is_null() || (out.is_null() && max > 0) {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let found = m.find_next(h, max as usize)?;
        if !found.is_empty() {
            std::ptr::copy_nonoverlapping(found.as_ptr(), out, found.len());
        }
        put(count, found.len() as CK_ULONG)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) -> CK_RV {
    with(|m| m.find_final(h))
}

// ----- key generation and random numbers -----

#[no_mangle]
pub unsafe extern "C" fn C_GenerateKey(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    t: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with(|m| {
        let (mt, param) = mechanism(mech)?;
        if key.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let mech = m.mechanism(m.session(h)?.slot_id(), mt)?;
        put(key, m.generate_key(h, mech, param, &template(t, n)?)?)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GenerateKeyPair(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    public_t: *mut CK_ATTRIBUTE,
    public_n: CK_ULONG,
    private_t: *mut CK_ATTRIBUTE,
    private_n: CK_ULONG,
    public: *mut CK_OBJECT_HANDLE,
    private: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with(|m| {
        let (mt, param) = mechanism(mech)?;
        if public.is_null() || private.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let mech = m.mechanism(m.session(h)?.slot_id(), mt)?;
        let (pu, pr) = m.generate_key_pair(
            h,
            mech,
            param,
            &template(public_t, public_n)?,
            &template(private_t, private_n)?,
        )?;
        put(public, pu)?;
        put(private, pr)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SeedRandom(
    h: CK_SESSION_HANDLE,
    seed: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    // Accepted and ignored: the operating system's generator needs no seed.
    with(|m| m.session(h).and(bytes(seed, len)).map(drop))
}

#[no_mangle]
pub unsafe extern "C" fn C_GenerateRandom(
    h: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    with(|m| {
        m.session(h)?;
        if len == 0 {
            return Ok(());
        }
        if out.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        crate::random(std::slice::from_raw_parts_mut(out, len as usize))
    })
}

// ----- signatures and MACs -----

unsafe fn sign_or_verify_init(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    verify: bool,
) -> CK_RV {
    with(|m| {
        let (mt, param) = mechanism(mech)?;
        let s = m.session(h)?;
        let busy = if verify {
            s.verify.is_some()
        } else {
            s.sign.is_some()
        };
        if busy {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let mech = m.mechanism(s.slot_id(), mt)?;
        let key = m.key(h, key)?;
        let cfg = m.config();
        let op = SignOp::new(
            mech,
            param,
            &key,
            verify,
            cfg.vendor.key_type,
            cfg.signature,
        )?;
        let s = m.session_mut(h)?;
        *(if verify { &mut s.verify } else { &mut s.sign }) = Some(op);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SignInit(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    sign_or_verify_init(h, mech, key, false)
}

#[no_mangle]
pub unsafe extern "C" fn C_Sign(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    sig: *mut CK_BYTE,
    sig_len: *mut CK_ULONG,
) -> CK_RV {
    with(|m| {
        let data = bytes(data, len)?;
        let s = m.session_mut(h)?;
        let op = s.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if op.output.is_none() {
            op.update(data);
        }
        let delivered = op.sign().and_then(|out| deliver(out, sig, sig_len));
        settle(&mut s.sign, delivered)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    with(|m| {
        let data = bytes(data, len)?;
        let s = m.session_mut(h)?;
        s.sign
            .as_mut()
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)?
            .update(data);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(
    h: CK_SESSION_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: *mut CK_ULONG,
) -> CK_RV {
    with(|m| {
        let s = m.session_mut(h)?;
        let op = s.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let delivered = op.sign().and_then(|out| deliver(out, sig, sig_len));
        settle(&mut s.sign, delivered)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifyInit(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    sign_or_verify_init(h, mech, key, true)
}

#[no_mangle]
pub unsafe extern "C" fn C_Verify(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    with(|m| {
        let (data, sig) = (bytes(data, len)?, bytes(sig, sig_len)?);
        let s = m.session_mut(h)?;
        let mut op = s.verify.take().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        op.update(data);
        op.verify(sig)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifyUpdate(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    with(|m| {
        let data = bytes(data, len)?;
        let s = m.session_mut(h)?;
        s.verify
            .as_mut()
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)?
            .update(data);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_VerifyFinal(
    h: CK_SESSION_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    with(|m| {
        let sig = bytes(sig, sig_len)?;
        let s = m.session_mut(h)?;
        s.verify
            .take()
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)?
            .verify(sig)
    })
}

// ----- encryption -----

unsafe fn cipher_init(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    decrypt: bool,
) -> CK_RV {
    with(|m| {
        let (mt, param) = mechanism(mech)?;
        let s = m.session(h)?;
        let busy = if decrypt {
            s.decrypt.is_some()
        } else {
            s.encrypt.is_some()
        };
        if busy {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let mech = m.mechanism(s.slot_id(), mt)?;
        let key = m.key(h, key)?;
        let op = CipherOp::new(mech, param, &key, decrypt, m.config().vendor.key_type)?;
        let s = m.session_mut(h)?;
        *(if decrypt {
            &mut s.decrypt
        } else {
            &mut s.encrypt
        }) = Some(op);
        Ok(())
    })
}

unsafe fn cipher(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
    decrypt: bool,
) -> CK_RV {
    with(|m| {
        let data = bytes(data, len)?;
        let s = m.session_mut(h)?;
        let slot = if decrypt {
            &mut s.decrypt
        } else {
            &mut s.encrypt
        };
        let op = slot.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let delivered = op.run(data).and_then(|o| deliver(o, out, out_len));
        settle(slot, delivered)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_EncryptInit(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    cipher_init(h, mech, key, false)
}

#[no_mangle]
pub unsafe extern "C" fn C_Encrypt(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    cipher(h, data, len, out, out_len, false)
}

#[no_mangle]
pub unsafe extern "C" fn C_DecryptInit(
    h: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    cipher_init(h, mech, key, true)
}

#[no_mangle]
pub unsafe extern "C" fn C_Decrypt(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    cipher(h, data, len, out, out_len, true)
}

// ----- digests -----

#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(h: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM) -> CK_RV {
    with(|m| {
        let (mt, param) = mechanism(mech)?;
        let s = m.session(h)?;
        if s.digest.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let op = DigestOp::new(m.mechanism(s.slot_id(), mt)?, param)?;
        m.session_mut(h)?.digest = Some(op);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Digest(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    with(|m| {
        let data = bytes(data, len)?;
        let s = m.session_mut(h)?;
        let op = s.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if op.output.is_none() {
            op.update(data)?;
        }
        let delivered = deliver(op.finish(), out, out_len);
        settle(&mut s.digest, delivered)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(
    h: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    with(|m| {
        let data = bytes(data, len)?;
        let s = m.session_mut(h)?;
        s.digest
            .as_mut()
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)?
            .update(data)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(
    h: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    with(|m| {
        let s = m.session_mut(h)?;
        let op = s.digest.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let delivered = deliver(op.finish(), out, out_len);
        settle(&mut s.digest, delivered)
    })
}

// ----- not offered -----

macro_rules! not_supported {
    ($($name:ident($($arg:ty),*);)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name($(_: $arg),*) -> CK_RV {
            CKR_FUNCTION_NOT_SUPPORTED
        }
    )*};
}

type Bytes = *mut CK_BYTE;
type Len = *mut CK_ULONG;
type Mech = *mut CK_MECHANISM;
type Handle = CK_OBJECT_HANDLE;
type Session = CK_SESSION_HANDLE;

not_supported! {
    C_GetOperationState(Session, Bytes, Len);
    C_SetOperationState(Session, Bytes, CK_ULONG, Handle, Handle);
    C_CopyObject(Session, Handle, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_GetObjectSize(Session, Handle, Len);
    C_EncryptUpdate(Session, Bytes, CK_ULONG, Bytes, Len);
    C_EncryptFinal(Session, Bytes, Len);
    C_DecryptUpdate(Session, Bytes, CK_ULONG, Bytes, Len);
    C_DecryptFinal(Session, Bytes, Len);
    C_DigestKey(Session, Handle);
    C_SignRecoverInit(Session, Mech, Handle);
    C_SignRecover(Session, Bytes, CK_ULONG, Bytes, Len);
    C_VerifyRecoverInit(Session, Mech, Handle);
    C_VerifyRecover(Session, Bytes, CK_ULONG, Bytes, Len);
    C_DigestEncryptUpdate(Session, Bytes, CK_ULONG, Bytes, Len);
    C_DecryptDigestUpdate(Session, Bytes, CK_ULONG, Bytes, Len);
    C_SignEncryptUpdate(Session, Bytes, CK_ULONG, Bytes, Len);
    C_DecryptVerifyUpdate(Session, Bytes, CK_ULONG, Bytes, Len);
    C_WrapKey(Session, Mech, Handle, Handle, Bytes, Len);
    C_UnwrapKey(Session, Mech, Handle, Bytes, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_DeriveKey(Session, Mech, Handle, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_WaitForSlotEvent(CK_FLAGS, *mut CK_SLOT_ID, *mut c_void);
}

/// Legacy functions: the standard has them return `CKR_FUNCTION_NOT_PARALLEL`.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionStatus(_: Session) -> CK_RV {
    CKR_FUNCTION_NOT_PARALLEL
}

#[no_mangle]
pub unsafe extern "C" fn C_CancelFunction(_: Session) -> CK_RV {
    CKR_FUNCTION_NOT_PARALLEL
}

static FUNCTION_LIST: CK_FUNCTION_LIST = CK_FUNCTION_LIST {
    version: CK_VERSION {
        major: 2,
        minor: 40,
    },
    C_Initialize: Some(C_Initialize),
    C_Finalize: Some(C_Finalize),
    C_GetInfo: Some(C_GetInfo),
    C_GetFunctionList: Some(C_GetFunctionList),
    C_GetSlotList: Some(C_GetSlotList),
    C_GetSlotInfo: Some(C_GetSlotInfo),
    C_GetTokenInfo: Some(C_GetTokenInfo),
    C_GetMechanismList: Some(C_GetMechanismList),
    C_GetMechanismInfo: Some(C_GetMechanismInfo),
    C_InitToken: Some(C_InitToken),
    C_InitPIN: Some(C_InitPIN),
    C_SetPIN: Some(C_SetPIN),
    C_OpenSession: Some(C_OpenSession),
    C_CloseSession: Some(C_CloseSession),
    C_CloseAllSessions: Some(C_CloseAllSessions),
    C_GetSessionInfo: Some(C_GetSessionInfo),
    C_GetOperationState: Some(C_GetOperationState),
    C_SetOperationState: Some(C_SetOperationState),
    C_Login: Some(C_Login),
    C_Logout: Some(C_Logout),
    C_CreateObject: Some(C_CreateObject),
    C_CopyObject: Some(C_CopyObject),
    C_DestroyObject: Some(C_DestroyObject),
    C_GetObjectSize: Some(C_GetObjectSize),
    C_GetAttributeValue: Some(C_GetAttributeValue),
    C_SetAttributeValue: Some(C_SetAttributeValue),
    C_FindObjectsInit: Some(C_FindObjectsInit),
    C_FindObjects: Some(C_FindObjects),
    C_FindObjectsFinal: Some(C_FindObjectsFinal),
    C_EncryptInit: Some(C_EncryptInit),
    C_Encrypt: Some(C_Encrypt),
    C_EncryptUpdate: Some(C_EncryptUpdate),
    C_EncryptFinal: Some(C_EncryptFinal),
    C_DecryptInit: Some(C_DecryptInit),
    C_Decrypt: Some(C_Decrypt),
    C_DecryptUpdate: Some(C_DecryptUpdate),
    C_DecryptFinal: Some(C_DecryptFinal),
    C_DigestInit: Some(C_DigestInit),
    C_Digest: Some(C_Digest),
    C_DigestUpdate: Some(C_DigestUpdate),
    C_DigestKey: Some(C_DigestKey),
    C_DigestFinal: Some(C_DigestFinal),
    C_SignInit: Some(C_SignInit),
    C_Sign: Some(C_Sign),
    C_SignUpdate: Some(C_SignUpdate),
    C_SignFinal: Some(C_SignFinal),
    C_SignRecoverInit: Some(C_SignRecoverInit),
    C_SignRecover: Some(C_SignRecover),
    C_VerifyInit: Some(C_VerifyInit),
    C_Verify: Some(C_Verify),
    C_VerifyUpdate: Some(C_VerifyUpdate),
    C_VerifyFinal: Some(C_VerifyFinal),
    C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
    C_VerifyRecover: Some(C_VerifyRecover),
    C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
    C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
    C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
    C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
    C_GenerateKey: Some(C_GenerateKey),
    C_GenerateKeyPair: Some(C_GenerateKeyPair),
    C_WrapKey: Some(C_WrapKey),
    C_UnwrapKey: Some(C_UnwrapKey),
    C_DeriveKey: Some(C_DeriveKey),
    C_SeedRandom: Some(C_SeedRandom),
    C_GenerateRandom: Some(C_GenerateRandom),
    C_GetFunctionStatus: Some(C_GetFunctionStatus),
    C_CancelFunction: Some(C_CancelFunction),
    C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
};

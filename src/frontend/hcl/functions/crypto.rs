//! Hash, crypto and uuid functions.

use super::{int_arg, str_arg, FnEnv, FnError, FR};
use crate::value::Value;
use sha1::Digest;

pub fn md5(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::String(hex::encode(md5::Md5::digest(
        str_arg(&a, 0)?.as_bytes(),
    ))))
}
pub fn sha1(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::String(hex::encode(sha1::Sha1::digest(
        str_arg(&a, 0)?.as_bytes(),
    ))))
}
pub fn sha256(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::String(hex::encode(sha2::Sha256::digest(
        str_arg(&a, 0)?.as_bytes(),
    ))))
}
pub fn sha512(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::String(hex::encode(sha2::Sha512::digest(
        str_arg(&a, 0)?.as_bytes(),
    ))))
}

/// The highest `bcrypt` cost kiln computes.
pub const MAX_BCRYPT_COST: i64 = 16;

pub fn bcrypt(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let cost = if a.len() > 1 { int_arg(&a, 1)? } else { 10 };
    if !(4..=31).contains(&cost) {
        return Err(FnError::Arg(
            1,
            format!("crypto/bcrypt: cost {cost} is outside allowed range (4,31)."),
        ));
    }
    // Each step of cost doubles the work: cty takes up to 31, which is
    // months of hashing; no template waits that long for a password hash.
    if cost > MAX_BCRYPT_COST {
        return Err(FnError::Arg(
            1,
            format!("cost {cost} is past kiln's limit of {MAX_BCRYPT_COST} (each step doubles the time: {MAX_BCRYPT_COST} takes seconds, 31 would take months)."),
        ));
    }
    let h = bcrypt::hash_with_result(s, cost as u32).map_err(|e| FnError::Failed(e.to_string()))?;
    Ok(Value::String(h.format_for_version(bcrypt::Version::TwoA)))
}

pub fn rsadecrypt(_: &FnEnv, a: Vec<Value>) -> FR {
    use base64::Engine;
    use rsa::pkcs1::DecodeRsaPrivateKey;
    let ct = str_arg(&a, 0)?;
    let key = str_arg(&a, 1)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(ct.as_bytes())
        .map_err(|_| FnError::Failed("failed to decode input: invalid base64".into()))?;
    let pk = rsa::RsaPrivateKey::from_pkcs1_pem(&key)
        .map_err(|e| FnError::Failed(format!("invalid private key: {e}")))?;
    let plain = pk
        .decrypt(rsa::Pkcs1v15Encrypt, &bytes)
        .map_err(|e| FnError::Failed(format!("failed to decrypt: {e}")))?;
    String::from_utf8(plain)
        .map(Value::String)
        .map_err(|_| FnError::Failed("the decrypted text is not valid UTF-8".into()))
}

pub fn uuidv4(_: &FnEnv, _: Vec<Value>) -> FR {
    Ok(Value::String(uuid::Uuid::new_v4().to_string()))
}

pub fn uuidv5(_: &FnEnv, a: Vec<Value>) -> FR {
    let ns = str_arg(&a, 0)?;
    let name = str_arg(&a, 1)?;
    let nsu = match ns.as_str() {
        "dns" => uuid::Uuid::NAMESPACE_DNS,
        "url" => uuid::Uuid::NAMESPACE_URL,
        "oid" => uuid::Uuid::NAMESPACE_OID,
        "x500" => uuid::Uuid::NAMESPACE_X500,
        other => uuid::Uuid::parse_str(other)
            .map_err(|_| FnError::Arg(0, format!("uuidv5() doesn't support namespace {other}.")))?,
    };
    Ok(Value::String(
        uuid::Uuid::new_v5(&nsu, name.as_bytes()).to_string(),
    ))
}

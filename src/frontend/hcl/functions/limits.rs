//! How large one value may grow. A template can double a string in each of
//! a chain of locals, or ask `setproduct` for a billion rows: past these
//! bounds the expression fails with a diagnostic naming the limit, instead
//! of kiln running out of memory (an allocation failure aborts the
//! process) or working for hours.

use super::FnError;
use crate::value::Value;

/// The longest string one call may return: 64 MiB.
pub const MAX_STRING: usize = 64 << 20;

/// The most elements one collection a call returns may have.
pub const MAX_ELEMENTS: usize = 1 << 18;

/// An error unless a string of `len` bytes is within [`MAX_STRING`].
pub fn string_len(len: usize) -> Result<(), FnError> {
    if len > MAX_STRING {
        return Err(FnError::Failed(format!(
            "the result would be a string of more than {} MiB, kiln's limit for one value",
            MAX_STRING >> 20
        )));
    }
    Ok(())
}

/// An error unless `v`'s top level is within the limits. Checked on every
/// call's result: a value grows one call at a time, so none can get past
/// twice the limit before this stops it.
pub fn check(v: &Value) -> Result<(), FnError> {
    match v {
        Value::String(s) => string_len(s.len()),
        other => match other.as_seq().map(<[Value]>::len) {
            Some(n) if n > MAX_ELEMENTS => Err(FnError::Failed(format!(
                "the result would have more than {MAX_ELEMENTS} elements, kiln's limit for one value"
            ))),
            _ => Ok(()),
        },
    }
}

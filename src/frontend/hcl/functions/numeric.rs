//! Numeric functions.

use super::{int_arg, num_arg, str_arg, FnEnv, FnError, FR};
use crate::value::{Number, Value};
use num_bigint::BigInt;

pub fn abs(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::Number(num_arg(&a, 0)?.abs()))
}
pub fn ceil(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::Number(num_arg(&a, 0)?.ceil()))
}
pub fn floor(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::Number(num_arg(&a, 0)?.floor()))
}
fn from_f64(f: f64) -> FR {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| FnError::Failed("the result is not a number (NaN)".into()))
}
pub fn log(_: &FnEnv, a: Vec<Value>) -> FR {
    let x = num_arg(&a, 0)?.to_f64();
    let b = num_arg(&a, 1)?.to_f64();
    from_f64(x.ln() / b.ln())
}
pub fn pow(_: &FnEnv, a: Vec<Value>) -> FR {
    let x = num_arg(&a, 0)?;
    let y = num_arg(&a, 1)?;
    // Exact for whole exponents, like big.Float would be for these.
    if let Some(e) = y.to_i64().filter(|e| (0..=1024).contains(e)) {
        let mut r = Number::from(1);
        for _ in 0..e {
            r = r.mul(&x).map_err(|e| FnError::Failed(e.into()))?;
        }
        return Ok(Value::Number(r));
    }
    from_f64(x.to_f64().powf(y.to_f64()))
}
pub fn signum(_: &FnEnv, a: Vec<Value>) -> FR {
    let x = num_arg(&a, 0)?;
    Ok(Value::int(if x.is_zero() {
        0
    } else if x.is_negative() {
        -1
    } else {
        1
    }))
}
pub fn max(_: &FnEnv, a: Vec<Value>) -> FR {
    let mut best = num_arg(&a, 0)?;
    for i in 1..a.len() {
        let n = num_arg(&a, i)?;
        if n > best {
            best = n;
        }
    }
    Ok(Value::Number(best))
}
pub fn min(_: &FnEnv, a: Vec<Value>) -> FR {
    let mut best = num_arg(&a, 0)?;
    for i in 1..a.len() {
        let n = num_arg(&a, i)?;
        if n < best {
            best = n;
        }
    }
    Ok(Value::Number(best))
}
pub fn parseint(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let base = int_arg(&a, 1)?;
    if !(2..=62).contains(&base) {
        return Err(FnError::Arg(
            1,
            "base must be a whole number between 2 and 62 inclusive.".into(),
        ));
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    // Go's big.Int digits: 0-9, then a-z; up to base 36 letters of either
    // case, past it A-Z are the digits 36-61.
    let digit = |c: char| -> Option<u32> {
        match c {
            '0'..='9' => Some(c as u32 - '0' as u32),
            'a'..='z' => Some(c as u32 - 'a' as u32 + 10),
            'A'..='Z' if base <= 36 => Some(c as u32 - 'A' as u32 + 10),
            'A'..='Z' => Some(c as u32 - 'A' as u32 + 36),
            _ => None,
        }
        .filter(|d| i64::from(*d) < base)
    };
    let parsed = digits.chars().try_fold(BigInt::from(0), |acc, c| {
        digit(c).map(|d| acc * BigInt::from(base) + BigInt::from(d))
    });
    match parsed {
        Some(n) if !digits.is_empty() => {
            let n = if neg { -n } else { n };
            Ok(Value::Number(
                Number::parse(&n.to_string()).unwrap_or_else(|| Number::from(0)),
            ))
        }
        _ => Err(FnError::Failed(format!(
            "cannot parse {s:?} as a base {base} integer"
        ))),
    }
}

//! Arbitrary-precision numbers with cty's observable behaviour: integers stay
//! exact however large, fractions print as the shortest float that round-trips.

use bigdecimal::{BigDecimal, RoundingMode, ToPrimitive, Zero};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number(BigDecimal);

/// Significant digits kept by division and other inexact operations
/// (cty computes with 512-bit floats, ~154 decimal digits).
const PRECISION: u64 = 154;

/// The largest decimal exponent a number may have (either sign).
pub const MAX_EXPONENT: u64 = 100_000;

impl Number {
    pub fn parse(s: &str) -> Option<Number> {
        let s = s.trim();
        if s.is_empty() || s.starts_with('+') {
            return None;
        }
        let d = BigDecimal::from_str(s).ok()?.normalized();
        // Exponents past this take unbounded time and memory to print or
        // compare exactly (1e999999999 has a billion digits): not a number
        // kiln takes.
        let (_, scale) = d.as_bigint_and_exponent();
        if scale.unsigned_abs() > MAX_EXPONENT {
            return None;
        }
        Some(Number(d))
    }

    pub fn from_f64(f: f64) -> Option<Number> {
        if !f.is_finite() {
            return None;
        }
        // Shortest representation that round-trips, as Go's strconv does.
        Number::parse(&format!("{f:?}"))
    }

    /// The float64 nearest to the number (correctly rounded: parsed from
    /// its decimal digits, which the crate's own conversion is not).
    pub fn to_f64(&self) -> f64 {
        self.0
            .to_scientific_notation()
            .parse()
            .unwrap_or_else(|_| self.0.to_f64().unwrap_or(f64::NAN))
    }

    pub fn is_integer(&self) -> bool {
        self.0.is_integer()
    }

    pub fn to_i64(&self) -> Option<i64> {
        if self.is_integer() {
            self.0.to_i64()
        } else {
            None
        }
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    pub fn is_negative(&self) -> bool {
        self.0 < BigDecimal::zero()
    }

    pub fn add(&self, o: &Number) -> Number {
        Number((&self.0 + &o.0).normalized())
    }
    pub fn sub(&self, o: &Number) -> Number {
        Number((&self.0 - &o.0).normalized())
    }
    pub fn mul(&self, o: &Number) -> Number {
        Number((&self.0 * &o.0).normalized())
    }
    /// `None` on division by zero.
    pub fn div(&self, o: &Number) -> Option<Number> {
        if o.is_zero() {
            return None;
        }
        let q = (&self.0 / &o.0).with_prec(PRECISION);
        Some(Number(q.normalized()))
    }
    /// Remainder with the sign of the dividend, as Go's big.Int/Float do for `%`.
    pub fn rem(&self, o: &Number) -> Option<Number> {
        if o.is_zero() {
            return None;
        }
        Some(Number((&self.0 % &o.0).normalized()))
    }
    pub fn neg(&self) -> Number {
        Number((-&self.0).normalized())
    }
    pub fn abs(&self) -> Number {
        Number(self.0.abs())
    }
    pub fn floor(&self) -> Number {
        Number(self.0.with_scale_round(0, RoundingMode::Floor).normalized())
    }
    pub fn ceil(&self) -> Number {
        Number(
            self.0
                .with_scale_round(0, RoundingMode::Ceiling)
                .normalized(),
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        // arbitrary_precision keeps every digit.
        serde_json::from_str::<serde_json::Value>(&self.to_string())
            .unwrap_or(serde_json::Value::Null)
    }

    /// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: what Packer 1.6.6's console
    /// prints for a number.
    pub fn go_g(&self) -> String {
        go_format_g(self.to_f64())
    }
}

/// Go's `%g` with shortest precision.
pub fn go_format_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return "0".into();
    }
    // Shortest round-trip digits and decimal exponent via Rust's {:e}.
    let e = format!("{:e}", f.abs());
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if f < 0.0 { "-" } else { "" };
    // Go: with the shortest precision the %e/%f decision uses precision 6.
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        let mut m = digits[..1].to_string();
        if nd > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    // %f form
    if dp <= 0 {
        format!("{sign}0.{}{}", "0".repeat((-dp) as usize), digits)
    } else if dp >= nd {
        format!("{sign}{}{}", digits, "0".repeat((dp - nd) as usize))
    } else {
        format!(
            "{sign}{}.{}",
            &digits[..dp as usize],
            &digits[dp as usize..]
        )
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number(BigDecimal::from(i))
    }
}
impl From<i32> for Number {
    fn from(i: i32) -> Self {
        Number(BigDecimal::from(i))
    }
}
impl From<usize> for Number {
    fn from(i: usize) -> Self {
        Number(BigDecimal::from(i as u64))
    }
}

impl fmt::Display for Number {
    /// cty's number-to-string conversion: integers exactly, fractions as the
    /// shortest decimal that identifies the float64 nearest to them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_integer() {
            let s = self.0.with_scale(0).to_string();
            return f.write_str(&s);
        }
        let x = self.to_f64();
        let s = format!("{x:?}");
        // Rust prints 1e-7 as "1e-7"; cty (Text('f', -1)) never uses exponents.
        if s.contains('e') {
            let d = BigDecimal::from_str(&s).unwrap_or_default().normalized();
            return f.write_str(&d.to_plain_string());
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn go_g_matches_go() {
        assert_eq!(go_format_g(1e22), "1e+22");
        assert_eq!(go_format_g(2e30), "2e+30");
        assert_eq!(go_format_g(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(go_format_g(1.5), "1.5");
        assert_eq!(go_format_g(100000.0), "100000");
        assert_eq!(go_format_g(1000000.0), "1e+06");
        assert_eq!(go_format_g(123456789.0), "1.23456789e+08");
        assert_eq!(go_format_g(0.0001), "0.0001");
        assert_eq!(go_format_g(0.00001), "1e-05");
        assert_eq!(go_format_g(-2.5), "-2.5");
    }
    #[test]
    fn exact_integers() {
        let a = Number::parse("10000000000000000000000").unwrap();
        assert_eq!(
            a.add(&Number::from(1)).to_string(),
            "10000000000000000000001"
        );
        assert_eq!(Number::parse("1.50").unwrap().to_string(), "1.5");
        assert_eq!(
            Number::from(1).div(&Number::from(3)).unwrap().to_string(),
            "0.3333333333333333"
        );
    }
}

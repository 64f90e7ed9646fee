//! Arbitrary-precision numbers with cty's observable behaviour: integers stay
//! exact however large, fractions print as the shortest float that
//! round-trips, and division by zero gives an infinity (cty's numbers are
//! big.Floats, which have them: `1/0` is `+Inf`, `log(0, 10)` is `-Inf`).

use bigdecimal::{BigDecimal, RoundingMode, ToPrimitive, Zero};
use std::fmt;
use std::str::FromStr;

/// A cty number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number(Repr);

/// In this order, so that the derived ordering is the numbers' own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Repr {
    NegInf,
    Finite(BigDecimal),
    PosInf,
}

/// Significant digits kept by division and other inexact operations
/// (cty computes with 512-bit floats, ~154 decimal digits).
const PRECISION: u64 = 154;

/// The largest decimal exponent a number may have (either sign).
pub const MAX_EXPONENT: u64 = 100_000;

/// Why an operation on infinities has no result (cty's words).
pub type NaN = &'static str;

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
        Some(Number(Repr::Finite(d)))
    }

    pub fn infinity(negative: bool) -> Number {
        Number(if negative { Repr::NegInf } else { Repr::PosInf })
    }

    pub fn is_infinite(&self) -> bool {
        !matches!(self.0, Repr::Finite(_))
    }

    fn finite(&self) -> Option<&BigDecimal> {
        match &self.0 {
            Repr::Finite(d) => Some(d),
            _ => None,
        }
    }

    fn of(d: BigDecimal) -> Number {
        Number(Repr::Finite(d.normalized()))
    }

    /// `None` for NaN; an infinite float is an infinity.
    pub fn from_f64(f: f64) -> Option<Number> {
        if f.is_nan() {
            return None;
        }
        if f.is_infinite() {
            return Some(Number::infinity(f < 0.0));
        }
        // Shortest representation that round-trips, as Go's strconv does.
        Number::parse(&format!("{f:?}"))
    }

    /// The float64 nearest to the number (correctly rounded: parsed from
    /// its decimal digits, which the crate's own conversion is not).
    pub fn to_f64(&self) -> f64 {
        match &self.0 {
            Repr::NegInf => f64::NEG_INFINITY,
            Repr::PosInf => f64::INFINITY,
            Repr::Finite(d) => d
                .to_scientific_notation()
                .parse()
                .unwrap_or_else(|_| d.to_f64().unwrap_or(f64::NAN)),
        }
    }

    /// An infinity is no integer (big.Float.IsInt says so too).
    pub fn is_integer(&self) -> bool {
        self.finite().is_some_and(BigDecimal::is_integer)
    }

    pub fn to_i64(&self) -> Option<i64> {
        if self.is_integer() {
            self.finite()?.to_i64()
        } else {
            None
        }
    }

    pub fn is_zero(&self) -> bool {
        self.finite().is_some_and(BigDecimal::is_zero)
    }

    pub fn is_negative(&self) -> bool {
        match &self.0 {
            Repr::NegInf => true,
            Repr::PosInf => false,
            Repr::Finite(d) => *d < BigDecimal::zero(),
        }
    }

    /// `Err` for +Inf plus -Inf.
    pub fn add(&self, o: &Number) -> Result<Number, NaN> {
        match (&self.0, &o.0) {
            (Repr::Finite(a), Repr::Finite(b)) => Ok(Number::of(a + b)),
            (Repr::PosInf, Repr::NegInf) | (Repr::NegInf, Repr::PosInf) => {
                Err("can't compute sum of opposing infinities")
            }
            (Repr::Finite(_), _) => Ok(o.clone()),
            _ => Ok(self.clone()),
        }
    }

    /// `Err` for an infinity minus itself.
    pub fn sub(&self, o: &Number) -> Result<Number, NaN> {
        match (&self.0, &o.0) {
            (Repr::Finite(a), Repr::Finite(b)) => Ok(Number::of(a - b)),
            (Repr::PosInf, Repr::PosInf) | (Repr::NegInf, Repr::NegInf) => {
                Err("can't subtract infinity from itself")
            }
            (Repr::Finite(_), _) => Ok(o.neg()),
            _ => Ok(self.clone()),
        }
    }

    /// `Err` for zero times an infinity.
    pub fn mul(&self, o: &Number) -> Result<Number, NaN> {
        match (&self.0, &o.0) {
            (Repr::Finite(a), Repr::Finite(b)) => Ok(Number::of(a * b)),
            _ if self.is_zero() || o.is_zero() => Err("can't multiply zero by infinity"),
            _ => Ok(Number::infinity(self.is_negative() != o.is_negative())),
        }
    }

    /// A number over zero is an infinity of its sign; `Err` for zero over
    /// zero and an infinity over an infinity.
    pub fn div(&self, o: &Number) -> Result<Number, NaN> {
        const NAN: NaN = "can't divide zero by zero or infinity by infinity";
        match (&self.0, &o.0) {
            _ if self.is_zero() && o.is_zero() => Err(NAN),
            (Repr::Finite(_), Repr::Finite(_)) if o.is_zero() => {
                Ok(Number::infinity(self.is_negative()))
            }
            (Repr::Finite(a), Repr::Finite(b)) => Ok(Number::of((a / b).with_prec(PRECISION))),
            (Repr::Finite(_), _) => Ok(Number::from(0)),
            (_, Repr::Finite(_)) => Ok(Number::infinity(self.is_negative() != o.is_negative())),
            _ => Err(NAN),
        }
    }

    /// cty's modulo: the remainder with the sign of the dividend; modulo
    /// zero is the dividend itself, and an infinity on either side gives
    /// the product's infinity (cty's own shortcut).
    pub fn rem(&self, o: &Number) -> Result<Number, NaN> {
        match (&self.0, &o.0) {
            (Repr::Finite(a), Repr::Finite(b)) => Ok(if o.is_zero() {
                self.clone()
            } else {
                Number::of(a % b)
            }),
            _ => self
                .mul(o)
                .map_err(|_| "can't use modulo with zero and infinity"),
        }
    }

    pub fn neg(&self) -> Number {
        match &self.0 {
            Repr::NegInf => Number(Repr::PosInf),
            Repr::PosInf => Number(Repr::NegInf),
            Repr::Finite(d) => Number::of(-d),
        }
    }
    pub fn abs(&self) -> Number {
        match &self.0 {
            Repr::Finite(d) => Number(Repr::Finite(d.abs())),
            _ => Number(Repr::PosInf),
        }
    }
    pub fn floor(&self) -> Number {
        match &self.0 {
            Repr::Finite(d) => Number::of(d.with_scale_round(0, RoundingMode::Floor)),
            _ => self.clone(),
        }
    }
    pub fn ceil(&self) -> Number {
        match &self.0 {
            Repr::Finite(d) => Number::of(d.with_scale_round(0, RoundingMode::Ceiling)),
            _ => self.clone(),
        }
    }

    /// `null` for an infinity (JSON has none: callers that must refuse it
    /// check [`Number::is_infinite`]).
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
        Number(Repr::Finite(BigDecimal::from(i)))
    }
}
impl From<i32> for Number {
    fn from(i: i32) -> Self {
        Number(Repr::Finite(BigDecimal::from(i)))
    }
}
impl From<usize> for Number {
    fn from(i: usize) -> Self {
        Number(Repr::Finite(BigDecimal::from(i as u64)))
    }
}

impl fmt::Display for Number {
    /// cty's number-to-string conversion: integers exactly, fractions as the
    /// shortest decimal that identifies the float64 nearest to them, and
    /// the infinities as big.Float writes them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match &self.0 {
            Repr::NegInf => return f.write_str("-Inf"),
            Repr::PosInf => return f.write_str("+Inf"),
            Repr::Finite(d) => d,
        };
        if d.is_integer() {
            let s = d.with_scale(0).to_string();
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
            a.add(&Number::from(1)).unwrap().to_string(),
            "10000000000000000000001"
        );
        assert_eq!(Number::parse("1.50").unwrap().to_string(), "1.5");
        assert_eq!(
            Number::from(1).div(&Number::from(3)).unwrap().to_string(),
            "0.3333333333333333"
        );
    }

    /// cty's number operations with infinities (go-cty's value_ops tests
    /// and stdlib number_test, translated).
    #[test]
    fn infinities_as_cty() {
        let n = |i: i64| Number::from(i);
        let inf = Number::infinity(false);
        let ninf = Number::infinity(true);
        assert_eq!(n(1).div(&n(0)), Ok(inf.clone()));
        assert_eq!(n(-1).div(&n(0)), Ok(ninf.clone()));
        assert!(n(0).div(&n(0)).is_err());
        assert!(inf.div(&inf).is_err());
        assert_eq!(n(5).div(&inf), Ok(n(0)));
        assert_eq!(inf.div(&n(-2)), Ok(ninf.clone()));
        assert!(inf.add(&ninf).is_err());
        assert_eq!(inf.add(&n(1)), Ok(inf.clone()));
        assert!(inf.sub(&inf).is_err());
        assert_eq!(n(1).sub(&inf), Ok(ninf.clone()));
        assert!(n(0).mul(&inf).is_err());
        assert_eq!(n(-3).mul(&inf), Ok(ninf.clone()));
        assert_eq!(n(5).rem(&n(0)), Ok(n(5)));
        assert_eq!(n(-7).rem(&n(2)), Ok(n(-1)));
        assert_eq!(inf.rem(&n(2)), Ok(inf.clone()));
        assert!(n(0).rem(&inf).is_err());
        assert!(ninf < n(-1000) && n(1000) < inf);
        assert_eq!(inf.to_string(), "+Inf");
        assert_eq!(ninf.to_string(), "-Inf");
        assert!(!inf.is_integer() && inf.to_i64().is_none());
        assert_eq!(inf.floor(), inf);
        assert_eq!(ninf.abs(), inf);
        assert_eq!(Number::from_f64(f64::NEG_INFINITY), Some(ninf));
    }
}

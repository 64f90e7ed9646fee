//! Date and time functions.

use super::{str_arg, FnEnv, FnError, FR};
use crate::util::{duration, gotime};
use crate::value::Value;
use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Timelike, Utc};

fn now() -> DateTime<FixedOffset> {
    Utc::now().fixed_offset()
}

fn parse_ts(s: &str, i: usize) -> Result<DateTime<FixedOffset>, FnError> {
    DateTime::parse_from_rfc3339(s).map_err(|_| {
        FnError::Arg(
            i,
            format!("not a valid RFC3339 timestamp: cannot use {s:?} as year."),
        )
    })
}

pub fn timestamp(_: &FnEnv, _: Vec<Value>) -> FR {
    Ok(Value::String(
        Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    ))
}

pub fn timeadd(_: &FnEnv, a: Vec<Value>) -> FR {
    let t = parse_ts(&str_arg(&a, 0)?, 0)?;
    let d = str_arg(&a, 1)?;
    let (neg, body) = match d.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, d.clone()),
    };
    let dur = duration::parse(&body).map_err(|e| FnError::Arg(1, e))?;
    let cd = chrono::Duration::from_std(dur).map_err(|e| FnError::Arg(1, e.to_string()))?;
    let r = if neg {
        t.checked_sub_signed(cd)
    } else {
        t.checked_add_signed(cd)
    }
    .ok_or_else(|| {
        FnError::Failed(format!(
            "the time {d} from {} is out of range",
            str_arg(&a, 0).unwrap_or_default()
        ))
    })?;
    Ok(Value::String(
        r.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    ))
}

pub fn legacy_isotime(_: &FnEnv, a: Vec<Value>) -> FR {
    let layout = if a.is_empty() {
        "2006-01-02T15:04:05Z07:00".to_string()
    } else {
        str_arg(&a, 0)?
    };
    Ok(Value::String(gotime::format(&now(), &layout)))
}

pub fn legacy_strftime(_: &FnEnv, a: Vec<Value>) -> FR {
    use chrono::format::{Item, StrftimeItems};
    let f = str_arg(&a, 0)?;
    let items: Vec<Item> = StrftimeItems::new(&f).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(FnError::Arg(0, format!("invalid strftime format {f:?}.")));
    }
    Ok(Value::String(
        Utc::now().format_with_items(items.into_iter()).to_string(),
    ))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// cty's `formatdate` specification language.
pub fn formatdate(_: &FnEnv, a: Vec<Value>) -> FR {
    let spec = str_arg(&a, 0)?;
    let t = parse_ts(&str_arg(&a, 1)?, 1)?;
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let off = t.offset().local_minus_utc();
    let tz = |colon: bool| {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        if colon {
            format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
        } else {
            format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60)
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // quoted literal; '' is a literal quote
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            let mut j = i + 1;
            loop {
                if j >= chars.len() {
                    return Err(FnError::Arg(0, "unterminated literal '".into()));
                }
                if chars[j] == '\'' {
                    if chars.get(j + 1) == Some(&'\'') {
                        out.push('\'');
                        j += 2;
                        continue;
                    }
                    break;
                }
                out.push(chars[j]);
                j += 1;
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && chars[j] == c {
            j += 1;
        }
        let verb: String = chars[i..j].iter().collect();
        let h12 = |h: u32| if h % 12 == 0 { 12 } else { h % 12 };
        let s = match verb.as_str() {
            "YYYY" => format!("{:04}", t.year()),
            "YY" => format!("{:02}", t.year().rem_euclid(100)),
            "MMMM" => MONTHS[t.month0() as usize].to_string(),
            "MMM" => MONTHS[t.month0() as usize][..3].to_string(),
            "MM" => format!("{:02}", t.month()),
            "M" => t.month().to_string(),
            "DD" => format!("{:02}", t.day()),
            "D" => t.day().to_string(),
            "EEEE" => DAYS[t.weekday().num_days_from_sunday() as usize].to_string(),
            "EEE" => DAYS[t.weekday().num_days_from_sunday() as usize][..3].to_string(),
            "hh" => format!("{:02}", t.hour()),
            "h" => t.hour().to_string(),
            "HH" => format!("{:02}", h12(t.hour())),
            "H" => h12(t.hour()).to_string(),
            "AA" => if t.hour() >= 12 { "PM" } else { "AM" }.to_string(),
            "aa" => if t.hour() >= 12 { "pm" } else { "am" }.to_string(),
            "mm" => format!("{:02}", t.minute()),
            "m" => t.minute().to_string(),
            "ss" => format!("{:02}", t.second()),
            "s" => t.second().to_string(),
            "ZZZZZ" => tz(true),
            "ZZZZ" => tz(false),
            "ZZZ" => {
                if off == 0 {
                    "UTC".into()
                } else {
                    tz(false)
                }
            }
            "Z" => {
                if off == 0 {
                    "Z".into()
                } else {
                    tz(true)
                }
            }
            other => {
                return Err(FnError::Arg(
                    0,
                    format!(
                        "invalid date format verb {other:?}: unrecognized sequence of characters"
                    ),
                ))
            }
        };
        out.push_str(&s);
        i = j;
    }
    Ok(Value::String(out))
}

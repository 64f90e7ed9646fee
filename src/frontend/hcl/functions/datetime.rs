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

/// The parts of a time both `rfc3339_parse` and `unix_timestamp_parse`
/// give, in the time's own offset (weekday 0 is Sunday; the ISO week-year).
fn time_parts<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> crate::value::Attrs {
    let int = |n: i64| Value::Number(n.into());
    let iso = t.iso_week();
    [
        ("year", int(t.year().into())),
        ("year_day", int(t.ordinal().into())),
        ("day", int(t.day().into())),
        ("month", int(t.month().into())),
        (
            "month_name",
            Value::string(
                chrono::Month::try_from(t.month() as u8)
                    .map(|m| m.name())
                    .unwrap_or_default(),
            ),
        ),
        ("weekday", int(t.weekday().num_days_from_sunday().into())),
        ("weekday_name", Value::string(weekday_name(t.weekday()))),
        ("hour", int(t.hour().into())),
        ("minute", int(t.minute().into())),
        ("second", int(t.second().into())),
        ("iso_year", int(iso.year().into())),
        ("iso_week", int(iso.week().into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn weekday_name(d: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match d {
        Sun => "Sunday",
        Mon => "Monday",
        Tue => "Tuesday",
        Wed => "Wednesday",
        Thu => "Thursday",
        Fri => "Friday",
        Sat => "Saturday",
    }
}

/// `rfc3339_parse(timestamp)`: an RFC 3339 timestamp ("T" or a space
/// between date and time, optional fraction) as an object of its parts
/// and its Unix time. Go's layouts are strict: an upper-case "T" and "Z".
pub fn rfc3339_parse(_: &FnEnv, a: Vec<Value>) -> FR {
    let ts = str_arg(&a, 0)?;
    let invalid = || FnError::Arg(0, format!("{ts:?} is not a valid RFC3339 timestamp"));
    let b = ts.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b' ') || ts.contains(['t', 'z']) {
        return Err(invalid());
    }
    let t = DateTime::parse_from_rfc3339(&format!("{}T{}", &ts[..10], &ts[11..]))
        .map_err(|_| invalid())?;
    if t.second() > 59 || t.nanosecond() >= 1_000_000_000 {
        return Err(invalid());
    }
    let mut parts = time_parts(&t);
    parts.insert("unix".into(), Value::Number(t.timestamp().into()));
    Ok(Value::Object(parts))
}

/// `unix_timestamp_parse(unix_timestamp)`: whole seconds since the epoch as
/// an object of the UTC time's parts and its RFC 3339 form.
pub fn unix_timestamp_parse(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = super::num_arg(&a, 0)?;
    let secs = n.to_i64().filter(|_| n.is_integer()).ok_or_else(|| {
        FnError::Arg(0, "unix_timestamp must be a whole number of seconds representable as a 64-bit integer: value must be a whole number, between -9223372036854775808 and 9223372036854775807".into())
    })?;
    let t = DateTime::from_timestamp(secs, 0).ok_or_else(|| {
        FnError::Arg(
            0,
            format!("unix_timestamp {secs} is outside the years kiln can represent (±262143)"),
        )
    })?;
    let mut parts = time_parts(&t);
    parts.insert(
        "rfc3339".into(),
        Value::string(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    Ok(Value::Object(parts))
}

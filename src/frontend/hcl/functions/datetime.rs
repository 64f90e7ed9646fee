//! Date and time functions.

use super::{str_arg, FnEnv, FnError, FR};
use crate::util::{duration, gotime};
use crate::value::Value;
use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Timelike, Utc};

fn now() -> DateTime<FixedOffset> {
    Utc::now().fixed_offset()
}

fn parse_ts(s: &str, i: usize) -> Result<DateTime<FixedOffset>, FnError> {
    if let Some(e) = timestamp_error(s) {
        return Err(FnError::Arg(
            i,
            format!("not a valid RFC3339 timestamp: {e}."),
        ));
    }
    DateTime::parse_from_rfc3339(s).map_err(|_| {
        FnError::Arg(
            i,
            format!("not a valid RFC3339 timestamp: cannot use {s:?} as year."),
        )
    })
}

/// Why cty v1.13 refuses a timestamp, in its words, or `None` when it
/// takes it: Go's `time.Parse` with the RFC 3339 layout, which names the
/// layout element it stopped at and the text left there, then cty's
/// stricter checks of what Go lets through (one-digit hours, a comma
/// before the fraction, zone offsets of 24 hours or 60 minutes).
fn timestamp_error(s: &str) -> Option<String> {
    let (elem, rest) = match go_parse_rfc3339(s) {
        Err(e) => e,
        Ok(()) => {
            let b = s.as_bytes();
            if b.get(12) == Some(&b':') {
                ("15", s.get(11..12).unwrap_or_default().to_string())
            } else if b.get(19) == Some(&b',') {
                (".", ",".to_string())
            } else if !s.ends_with('Z') {
                let n = |x: &str| x.parse::<u32>().unwrap_or(0);
                let tz = s.get(s.len().saturating_sub(6)..).unwrap_or_default();
                if n(tz.get(1..3).unwrap_or("0")) >= 24 || n(tz.get(4..6).unwrap_or("0")) >= 60 {
                    ("Z07:00", tz.to_string())
                } else {
                    return None;
                }
            } else {
                return None;
            }
        }
    };
    let what = match elem {
        "" => return Some(rest),
        "2006" => "year",
        "01" => "month",
        "02" => "day of month",
        "15" => "hour",
        "04" => "minute",
        "05" => "second",
        "Z07:00" => "UTC offset",
        "T" => return Some("missing required time introducer 'T'".into()),
        ":" | "-" if rest.is_empty() => {
            return Some(format!("end of string where {elem:?} is expected"))
        }
        ":" | "-" => return Some(format!("found {rest:?} where {elem:?} is expected")),
        _ => "timestamp segment",
    };
    Some(if rest.is_empty() {
        format!("end of string before {what}")
    } else if what == "hour" && rest.contains(':') {
        "hour must be between 0 and 23 inclusive".into()
    } else if what == "hour" && rest.len() != 2 {
        "hour must have exactly two digits".into()
    } else if what == "minute" && rest.len() != 2 {
        "minute must have exactly two digits".into()
    } else {
        format!("cannot use {rest:?} as {what}")
    })
}

/// Go's `time.Parse(time.RFC3339, s)`: `Err((layout element, text left))`
/// where it stops (`("", message)` for the checks after the walk).
fn go_parse_rfc3339(s: &str) -> Result<(), (&'static str, String)> {
    let digit = |v: &str, i: usize| v.as_bytes().get(i).is_some_and(u8::is_ascii_digit);
    // Go's getnum: one or two digits (two when fixed).
    let getnum = |v: &str, fixed: bool| -> Option<(u32, usize)> {
        if !digit(v, 0) {
            return None;
        }
        if !digit(v, 1) {
            return (!fixed).then(|| ((v.as_bytes()[0] - b'0') as u32, 1));
        }
        Some((v[..2].parse().ok()?, 2))
    };
    let skip = |v: &str, lit: &'static str| -> Result<usize, (&'static str, String)> {
        if v.starts_with(lit) {
            Ok(lit.len())
        } else {
            Err((lit, v.to_string()))
        }
    };
    let mut v = s;
    // 2006
    if v.len() < 4 || !digit(v, 0) || !v.is_char_boundary(4) || v[..4].parse::<u32>().is_err() {
        return Err(("2006", v.to_string()));
    }
    let year: i32 = v[..4].parse().unwrap_or(0);
    v = &v[4..];
    v = &v[skip(v, "-")?..];
    let (month, n) = getnum(v, true).ok_or(("01", v.to_string()))?;
    v = &v[n..];
    if !(1..=12).contains(&month) {
        return Err(("01", v.to_string()));
    }
    v = &v[skip(v, "-")?..];
    let (day, n) = getnum(v, true).ok_or(("02", v.to_string()))?;
    v = &v[n..];
    v = &v[skip(v, "T")?..];
    let (hour, n) = getnum(v, false).ok_or(("15", v.to_string()))?;
    v = &v[n..];
    if hour >= 24 {
        return Err(("15", v.to_string()));
    }
    v = &v[skip(v, ":")?..];
    let (minute, n) = getnum(v, true).ok_or(("04", v.to_string()))?;
    v = &v[n..];
    if minute >= 60 {
        return Err(("04", v.to_string()));
    }
    v = &v[skip(v, ":")?..];
    let (second, n) = getnum(v, true).ok_or(("05", v.to_string()))?;
    v = &v[n..];
    if second >= 60 {
        return Err(("05", v.to_string()));
    }
    // A fraction the layout does not name is taken all the same.
    if v.len() >= 2 && matches!(v.as_bytes()[0], b'.' | b',') && digit(v, 1) {
        let n = 1 + v[1..].bytes().take_while(u8::is_ascii_digit).count();
        v = &v[n..];
    }
    // Z07:00
    if let Some(rest) = v.strip_prefix('Z') {
        v = rest;
    } else {
        let bad = || ("Z07:00", v.to_string());
        let b = v.as_bytes();
        if b.len() < 6 || b[3] != b':' || !matches!(b[0], b'+' | b'-') {
            return Err(bad());
        }
        let (hr, _) = getnum(&v[1..3], true).ok_or_else(bad)?;
        let (mm, _) = getnum(&v[4..6], true).ok_or_else(bad)?;
        if hr > 24 || mm > 60 {
            return Err(("Z07:00", v[6..].to_string()));
        }
        v = &v[6..];
    }
    if !v.is_empty() {
        return Err(("", format!("cannot use {v:?} as timestamp segment")));
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < 1 || day > days {
        return Err(("", "day out of range".into()));
    }
    Ok(())
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

//! Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`), used by
//! `legacy_isotime` and the legacy `{{isotime}}` template function.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

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

/// Format `t` with a Go layout string.
pub fn format(t: &DateTime<FixedOffset>, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (tok, len) = next_token(rest);
        match tok {
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            }
            Some(tok) => {
                out.push_str(&render(t, tok, &rest[..len]));
                rest = &rest[len..];
            }
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Tok {
    LongYear,
    Year,
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    PM,
    Pm,
    TZ,
    Iso8601ColonTZ,
    Iso8601TZ,
    Iso8601ShortTZ,
    NumColonTZ,
    NumTZ,
    NumShortTZ,
    FracZero(usize),
    FracNine(usize),
}

fn next_token(s: &str) -> (Option<Tok>, usize) {
    use Tok::*;
    const TABLE: &[(&str, Tok)] = &[
        ("January", LongMonth),
        ("Jan", Month),
        ("Monday", LongWeekDay),
        ("Mon", WeekDay),
        ("MST", TZ),
        ("2006", LongYear),
        ("Z07:00", Iso8601ColonTZ),
        ("Z0700", Iso8601TZ),
        ("Z07", Iso8601ShortTZ),
        ("-07:00", NumColonTZ),
        ("-0700", NumTZ),
        ("-07", NumShortTZ),
        ("002", ZeroYearDay),
        ("01", ZeroMonth),
        ("02", ZeroDay),
        ("03", ZeroHour12),
        ("04", ZeroMinute),
        ("05", ZeroSecond),
        ("06", Year),
        ("15", Hour),
        ("_2", UnderDay),
        ("PM", PM),
        ("pm", Pm),
        ("1", NumMonth),
        ("2", Day),
        ("3", Hour12),
        ("4", Minute),
        ("5", Second),
    ];
    // Fractional seconds: ".000" or ".999" (also with ',').
    if (s.starts_with(".0") || s.starts_with(".9") || s.starts_with(",0") || s.starts_with(",9"))
        && s.len() > 1
    {
        let d = s.as_bytes()[1];
        let n = s[1..].bytes().take_while(|&b| b == d).count();
        let after = s.as_bytes().get(1 + n);
        if !after.is_some_and(|b| b.is_ascii_digit()) {
            return (
                Some(if d == b'0' { FracZero(n) } else { FracNine(n) }),
                1 + n,
            );
        }
    }
    for (pat, tok) in TABLE {
        if s.starts_with(pat) {
            // Go: "Jan"/"Mon" etc. match anywhere; digits too.
            return (Some(*tok), pat.len());
        }
    }
    (None, 0)
}

fn render(t: &DateTime<FixedOffset>, tok: Tok, raw: &str) -> String {
    use Tok::*;
    let off = t.offset().local_minus_utc();
    let tz = |colon: bool, short: bool, z: bool| -> String {
        if z && off == 0 {
            return "Z".into();
        }
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        let (h, m) = (a / 3600, (a % 3600) / 60);
        if short {
            format!("{sign}{h:02}")
        } else if colon {
            format!("{sign}{h:02}:{m:02}")
        } else {
            format!("{sign}{h:02}{m:02}")
        }
    };
    let h12 = |h: u32| if h % 12 == 0 { 12 } else { h % 12 };
    match tok {
        LongYear => format!("{:04}", t.year()),
        Year => format!("{:02}", t.year().rem_euclid(100)),
        LongMonth => MONTHS[t.month0() as usize].to_string(),
        Month => MONTHS[t.month0() as usize][..3].to_string(),
        NumMonth => t.month().to_string(),
        ZeroMonth => format!("{:02}", t.month()),
        LongWeekDay => DAYS[t.weekday().num_days_from_sunday() as usize].to_string(),
        WeekDay => DAYS[t.weekday().num_days_from_sunday() as usize][..3].to_string(),
        Day => t.day().to_string(),
        UnderDay => format!("{:>2}", t.day()),
        ZeroDay => format!("{:02}", t.day()),
        ZeroYearDay => format!("{:03}", t.ordinal()),
        Hour => format!("{:02}", t.hour()),
        Hour12 => h12(t.hour()).to_string(),
        ZeroHour12 => format!("{:02}", h12(t.hour())),
        Minute => t.minute().to_string(),
        ZeroMinute => format!("{:02}", t.minute()),
        Second => t.second().to_string(),
        ZeroSecond => format!("{:02}", t.second()),
        PM => if t.hour() >= 12 { "PM" } else { "AM" }.into(),
        Pm => if t.hour() >= 12 { "pm" } else { "am" }.into(),
        TZ => {
            if off == 0 {
                "UTC".into()
            } else {
                tz(false, false, false)
            }
        }
        Iso8601ColonTZ => tz(true, false, true),
        Iso8601TZ => tz(false, false, true),
        Iso8601ShortTZ => tz(false, true, true),
        NumColonTZ => tz(true, false, false),
        NumTZ => tz(false, false, false),
        NumShortTZ => tz(false, true, false),
        FracZero(n) => {
            let ns = format!("{:09}", t.nanosecond() % 1_000_000_000);
            format!("{}{}", &raw[..1], &ns[..n.min(9)])
        }
        FracNine(n) => {
            let ns = format!("{:09}", t.nanosecond() % 1_000_000_000);
            let s = ns[..n.min(9)].trim_end_matches('0');
            if s.is_empty() {
                String::new()
            } else {
                format!("{}{s}", &raw[..1])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn reference_layouts() {
        let t = DateTime::parse_from_rfc3339("2021-03-04T05:06:07Z").unwrap();
        assert_eq!(
            format(&t, "2006-01-02T15:04:05Z07:00"),
            "2021-03-04T05:06:07Z"
        );
        assert_eq!(
            format(&t, "Jan 2, 2006 at 3:04pm (MST)"),
            "Mar 4, 2021 at 5:06am (UTC)"
        );
        assert_eq!(format(&t, "20060102150405"), "20210304050607");
        assert_eq!(format(&t, "Monday"), "Thursday");
    }
}

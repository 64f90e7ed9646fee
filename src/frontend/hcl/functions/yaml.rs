//! `yamldecode` as go-cty-yaml v1.0.1 (what Packer 1.9 ships) reads YAML:
//! YAML 1.1 scalars (`yes`, `y`, `on` are booleans, `~` is null, `.inf` an
//! infinity, `2001-12-14` a timestamp written as RFC 3339), `!!` tags,
//! anchors and aliases, `<<` merge keys, one document only; a sequence is
//! a tuple and a mapping an object, with cty-yaml's errors ("on line L,
//! column C: …", its lines counted from 0 as libyaml's marks are).
//!
//! The events come from yaml-rust2's parser (it keeps each scalar's style
//! and tag, which YAML 1.1 resolution needs; serde_yaml does not).

use super::{FnError, FR};
use crate::value::{Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

const STR: &str = "tag:yaml.org,2002:str";
const BINARY: &str = "tag:yaml.org,2002:binary";
const BOOL: &str = "tag:yaml.org,2002:bool";
const INT: &str = "tag:yaml.org,2002:int";
const FLOAT: &str = "tag:yaml.org,2002:float";
const NULL: &str = "tag:yaml.org,2002:null";
const TIMESTAMP: &str = "tag:yaml.org,2002:timestamp";
const MAP: &str = "tag:yaml.org,2002:map";
const SEQ: &str = "tag:yaml.org,2002:seq";

/// A resolved scalar: a value, or the `<<` of a merge.
enum Scalar {
    Value(Value),
    Merge,
}

struct Decoder<'a> {
    src: &'a str,
    parser: Parser<std::str::Chars<'a>>,
    /// Events read ahead (see [`Decoder::ends_at_eof`]).
    ahead: std::collections::VecDeque<(Event, Marker)>,
    /// Anchor id → its value once complete (`None` while it is defined).
    anchors: HashMap<usize, Option<Value>>,
    /// Values and string bytes made so far, aliases counted in full: a few
    /// lines of nested aliases ("billion laughs") expand to more than any
    /// memory holds.
    made: Size,
}

/// How much of a document has been made.
#[derive(Default, Clone, Copy)]
struct Size {
    values: usize,
    bytes: usize,
}

/// The most values (and string bytes) one document may expand to.
const MAX_VALUES: usize = 1 << 20;

fn size(v: &Value) -> Size {
    let mut s = Size {
        values: 1,
        bytes: 0,
    };
    match v {
        Value::String(t) => s.bytes = t.len(),
        Value::Map(m) | Value::Object(m) => {
            for (k, v) in m {
                let c = size(v);
                s.values += c.values;
                s.bytes += c.bytes + k.len();
            }
        }
        other => {
            for v in other.as_seq().unwrap_or(&[]) {
                let c = size(v);
                s.values += c.values;
                s.bytes += c.bytes;
            }
        }
    }
    s
}

/// cty-yaml's error: "on line L, column C: …" with libyaml's 0-based line,
/// and no position on the first line.
fn at(mark: &Marker, msg: impl std::fmt::Display) -> FnError {
    let line = mark.line().saturating_sub(1);
    if line == 0 {
        return FnError::Failed(msg.to_string());
    }
    FnError::Failed(format!("on line {line}, column {}: {msg}", mark.col() + 1))
}

fn tag_name(tag: &Option<Tag>) -> String {
    tag.as_ref()
        .map(|t| format!("{}{}", t.handle, t.suffix))
        .unwrap_or_default()
}

pub fn yamldecode(src: &str) -> FR {
    let mut d = Decoder {
        src,
        parser: Parser::new_from_str(src),
        ahead: Default::default(),
        anchors: HashMap::new(),
        made: Size::default(),
    };
    let (ev, mark) = d.next()?;
    if !matches!(ev, Event::StreamStart) {
        return Err(at(&mark, "missing stream start token"));
    }
    let (ev, mark) = d.next()?;
    match ev {
        Event::DocumentStart => {}
        // No document at all (an empty or blank source): cty-yaml's type
        // inference refuses it with this position.
        _ => {
            let _ = mark;
            return Err(FnError::Failed(
                "on line 1, column 1: missing start of document".into(),
            ));
        }
    }
    let v = d.value()?;
    let (ev, mark) = d.next()?;
    match ev {
        Event::DocumentEnd => {}
        Event::DocumentStart => return Err(at(&mark, "only a single document is allowed")),
        _ => return Err(at(&mark, "unexpected extra content after value")),
    }
    let (ev, mark) = d.next()?;
    match ev {
        Event::StreamEnd => Ok(v),
        Event::DocumentStart => Err(at(&mark, "only a single document is allowed")),
        _ => Err(at(&mark, "unexpected extra content after value")),
    }
}

impl Decoder<'_> {
    fn next(&mut self) -> Result<(Event, Marker), FnError> {
        if let Some(e) = self.ahead.pop_front() {
            return Ok(e);
        }
        self.read()
    }

    fn read(&mut self) -> Result<(Event, Marker), FnError> {
        self.parser.next_token().map_err(|e| {
            let m = e.marker();
            FnError::Failed(format!(
                "on line {}, column {}: {}",
                m.line(),
                m.col() + 1,
                e.info()
            ))
        })
    }

    /// Whether the block scalar whose header is at `mark` keeps its final
    /// line breaks (`|+`, `>+`, `|2+`).
    fn header_keeps(&self, mark: &Marker) -> bool {
        self.src
            .get(mark.index()..)
            .and_then(|rest| rest.lines().next())
            .is_some_and(|header| {
                header
                    .trim_start_matches(['|', '>'])
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .any(|c| c == '+')
            })
    }

    /// Whether nothing but the ends of collections and of the document
    /// follow (reading them ahead).
    fn ends_at_eof(&mut self) -> Result<bool, FnError> {
        loop {
            let e = self.read()?;
            let end = matches!(
                e.0,
                Event::MappingEnd | Event::SequenceEnd | Event::DocumentEnd
            );
            let stream_end = matches!(e.0, Event::StreamEnd);
            self.ahead.push_back(e);
            if stream_end {
                return Ok(true);
            }
            if !end {
                return Ok(false);
            }
        }
    }

    fn value(&mut self) -> Result<Value, FnError> {
        let (ev, mark) = self.next()?;
        self.value_from(ev, mark)
    }

    /// Count `s` more made, failing past the limits.
    fn grow(&mut self, s: Size) -> Result<(), FnError> {
        self.made.values = self.made.values.saturating_add(s.values);
        self.made.bytes = self.made.bytes.saturating_add(s.bytes);
        if self.made.values > MAX_VALUES || self.made.bytes > super::limits::MAX_STRING {
            return Err(FnError::Failed(format!(
                "the document expands to more than {MAX_VALUES} values or {} MiB of strings (through its aliases), kiln's limit",
                super::limits::MAX_STRING >> 20
            )));
        }
        Ok(())
    }

    fn value_from(&mut self, ev: Event, mark: Marker) -> Result<Value, FnError> {
        self.grow(Size {
            values: 1,
            bytes: 0,
        })?;
        match ev {
            Event::Scalar(src, style, anchor, tag) => {
                if anchor > 0 {
                    self.anchors.insert(anchor, None);
                }
                let mut src = src;
                // yaml-rust2 ends a block scalar that runs to the end of a
                // source without a final newline with one; libyaml (and so
                // cty-yaml) does not, unless the header keeps them (`|+`).
                if matches!(style, TScalarStyle::Literal | TScalarStyle::Folded)
                    && !self.src.ends_with('\n')
                    && src.ends_with('\n')
                    && !self.header_keeps(&mark)
                    && self.ends_at_eof()?
                {
                    src.pop();
                }
                let v = match resolve(&tag_name(&tag), &src, style).map_err(|e| at(&mark, e))? {
                    Scalar::Value(v) => v,
                    Scalar::Merge => Value::string("<<"),
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, Some(v.clone()));
                }
                Ok(v)
            }
            Event::Alias(id) => {
                let made = match self.anchors.get(&id) {
                    Some(Some(v)) => size(v),
                    Some(None) => {
                        return Err(at(
                            &mark,
                            "cannot refer to an anchor from inside its own definition",
                        ))
                    }
                    None => return Err(at(&mark, "reference to undefined anchor")),
                };
                // Counted before it is copied.
                self.grow(made)?;
                Ok(self
                    .anchors
                    .get(&id)
                    .and_then(Option::clone)
                    .unwrap_or(Value::Null))
            }
            Event::MappingStart(anchor, tag) => self.mapping(anchor, &tag, mark),
            Event::SequenceStart(anchor, tag) => self.sequence(anchor, &tag, mark),
            Event::DocumentStart => Err(at(&mark, "only a single document is allowed")),
            Event::StreamEnd => Err(at(&mark, "expecting value but found end of stream")),
            other => Err(at(&mark, format!("unexpected parser event {other:?}"))),
        }
    }

    fn mapping(&mut self, anchor: usize, tag: &Option<Tag>, mark: Marker) -> FR {
        let tag = tag_name(tag);
        if !tag.is_empty() && tag != MAP {
            return Err(at(&mark, format!("can't interpret mapping as {tag}")));
        }
        if anchor > 0 {
            self.anchors.insert(anchor, None);
        }
        let mut vals: crate::value::Attrs = Default::default();
        loop {
            let (ev, kmark) = self.next()?;
            let (src, style, ktag) = match ev {
                Event::MappingEnd => break,
                Event::Scalar(src, style, _, ktag) => (src, style, ktag),
                _ => return Err(at(&kmark, "only strings are allowed as mapping keys")),
            };
            let key = match resolve(&tag_name(&ktag), &src, style).map_err(FnError::Failed)? {
                Scalar::Merge => {
                    match self.value()? {
                        Value::Object(m) | Value::Map(m) => {
                            for (k, v) in m {
                                vals.insert(k, v);
                            }
                        }
                        other => {
                            return Err(at(
                                &kmark,
                                format!("cannot merge {} into mapping", other.friendly_kind()),
                            ))
                        }
                    }
                    continue;
                }
                Scalar::Value(Value::Null) => return Err(at(&kmark, "mapping key cannot be null")),
                Scalar::Value(v) => match crate::value::convert(&v, &crate::value::Type::String) {
                    Ok(Value::String(s)) => s,
                    _ => return Err(at(&kmark, "only strings are allowed as mapping keys")),
                },
            };
            let v = self.value()?;
            vals.insert(key, v);
        }
        let v = Value::Object(vals);
        if anchor > 0 {
            self.anchors.insert(anchor, Some(v.clone()));
        }
        Ok(v)
    }

    fn sequence(&mut self, anchor: usize, tag: &Option<Tag>, mark: Marker) -> FR {
        let tag = tag_name(tag);
        if !tag.is_empty() && tag != SEQ {
            return Err(at(&mark, format!("can't interpret sequence as {tag}")));
        }
        if anchor > 0 {
            self.anchors.insert(anchor, None);
        }
        let mut vals = Vec::new();
        loop {
            let (ev, m) = self.next()?;
            if matches!(ev, Event::SequenceEnd) {
                break;
            }
            vals.push(self.value_from(ev, m)?);
        }
        let v = Value::Tuple(vals);
        if anchor > 0 {
            self.anchors.insert(anchor, Some(v.clone()));
        }
        Ok(v)
    }
}

/// YAML 1.1's words for booleans and nulls, and the infinities.
fn resolve_map(src: &str) -> Option<(Value, &'static str)> {
    Some(match src {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            (Value::Bool(true), BOOL)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            (Value::Bool(false), BOOL)
        }
        "" | "~" | "null" | "Null" | "NULL" => (Value::Null, NULL),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            (Value::Number(Number::infinity(false)), FLOAT)
        }
        "-.inf" | "-.Inf" | "-.INF" => (Value::Number(Number::infinity(true)), FLOAT),
        _ => return None,
    })
}

/// cty's `ParseNumberVal` (Go's big.ParseFloat, base 10): a decimal with
/// an optional sign, fraction and exponent.
fn parse_number(s: &str) -> Option<Number> {
    let body = s.strip_prefix('+').unwrap_or(s);
    let digits = body.strip_prefix('-').unwrap_or(body);
    let ok = !digits.is_empty()
        && digits
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '.')
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !ok {
        return None;
    }
    let body = if body.starts_with('.') {
        format!("0{body}")
    } else if let Some(rest) = body.strip_prefix("-.") {
        format!("-0.{rest}")
    } else {
        body.to_string()
    };
    Number::parse(&body)
}

/// Go's strconv.ParseInt/ParseUint with base 0 (0x, 0o, 0b, a leading 0
/// for octal), for `!!int`.
fn parse_go_int(s: &str) -> Option<Number> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, h)
    } else if let Some(b) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, b)
    } else if let Some(o) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, o)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    let n = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        let i = i64::try_from(n)
            .ok()
            .map(|i| -i)
            .or((n == 1 << 63).then_some(i64::MIN))?;
        Some(Number::from(i))
    } else {
        Number::parse(&n.to_string())
    }
}

/// go-cty-yaml's resolveScalar: what a scalar of this tag, text and style is.
fn resolve(tag: &str, src: &str, style: TScalarStyle) -> Result<Scalar, String> {
    if !matches!(
        tag,
        "" | STR | BOOL | INT | FLOAT | NULL | TIMESTAMP | BINARY
    ) {
        return Err(format!("unsupported tag {tag:?}"));
    }
    let mut tag = tag;
    let hint = match src.as_bytes().first() {
        None => Some('N'),
        Some(b'+' | b'-') => Some('S'),
        Some(b'0'..=b'9') => Some('D'),
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => {
            Some('M')
        }
        Some(b'.') => Some('.'),
        _ => None,
    };
    if let (Some(hint), false) = (hint, tag == STR || tag == BINARY) {
        if matches!(
            style,
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
        ) {
            return Ok(Scalar::Value(Value::string(src)));
        }
        if let Some((v, _)) = resolve_map(src) {
            return Ok(Scalar::Value(v));
        }
        if tag.is_empty() && matches!(src, ".nan" | ".NaN" | ".NAN") {
            return Err("floating point NaN is not supported".into());
        }
        match hint {
            '.' => {
                if let Some(n) = parse_number(src) {
                    return Ok(Scalar::Value(Value::Number(n)));
                }
            }
            'D' | 'S' => {
                if tag.is_empty() || tag == TIMESTAMP {
                    if let Some(t) = parse_timestamp(src) {
                        return Ok(Scalar::Value(Value::String(t)));
                    }
                }
                let plain = src.replace('_', "");
                if let Some(n) = parse_number(&plain) {
                    return Ok(Scalar::Value(Value::Number(n)));
                }
                if plain.starts_with("0b") || plain.starts_with("-0b") {
                    tag = INT;
                }
            }
            _ => {}
        }
    }
    if tag.is_empty() && src == "<<" {
        return Ok(Scalar::Merge);
    }
    let v = match tag {
        STR => Value::string(src),
        BINARY => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(src)
                .map_err(|_| format!("cannot parse {src:?} as {tag}: not valid base64"))?;
            Value::string(src)
        }
        BOOL => match resolve_map(src) {
            Some((v, BOOL)) => v,
            _ => return Err(format!("cannot parse {src:?} as {tag}")),
        },
        FLOAT | INT => {
            let plain = src.replace('_', "");
            match parse_number(&plain).or_else(|| parse_go_int(&plain)) {
                Some(n) => Value::Number(n),
                None => return Err(format!("cannot parse {src:?} as {tag}")),
            }
        }
        TIMESTAMP => match parse_timestamp(src) {
            Some(t) => Value::String(t),
            None => return Err(format!("cannot parse {src:?} as {tag}")),
        },
        NULL => Value::Null,
        _ => Value::string(src),
    };
    Ok(Scalar::Value(v))
}

/// go-yaml's timestamps (`2006-1-2T15:4:5.999999999Z07:00`, with a lower
/// `t` too, `2006-1-2 15:4:5.999999999`, `2006-1-2`), written as Go's
/// RFC 3339 (fractions dropped, `Z` for UTC).
fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let num = |t: &str, min: usize, max: usize| -> Option<u32> {
        (t.len() >= min && t.len() <= max && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some((&s[i..i + 1], &s[i + 1..]))),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let (y, mo, d) = (
        num(dp.next()?, 4, 4)?,
        num(dp.next()?, 1, 2)?,
        num(dp.next()?, 1, 2)?,
    );
    if dp.next().is_some() {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(y as i32, mo, d)?;
    let Some((sep, rest)) = rest else {
        return Some(format!("{}T00:00:00Z", date.format("%Y-%m-%d")));
    };
    // The zone: `Z` or ±hh:mm, required after T/t and absent after a space.
    let (clock, zone) = if sep == " " {
        (rest, None)
    } else if let Some(c) = rest.strip_suffix('Z') {
        (c, Some(0i32))
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (c, z) = rest.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (hh, mm) = z[1..].split_once(':')?;
        (
            c,
            Some(sign * (num(hh, 2, 2)? as i32 * 3600 + num(mm, 2, 2)? as i32 * 60)),
        )
    };
    let (hms, _frac) = match clock.split_once('.') {
        Some((h, f)) if num(f, 1, 9).is_some() => (h, f),
        Some(_) => return None,
        None => (clock, ""),
    };
    let mut cp = hms.split(':');
    let (h, mi, se) = (
        num(cp.next()?, 1, 2)?,
        num(cp.next()?, 1, 2)?,
        num(cp.next()?, 1, 2)?,
    );
    if cp.next().is_some() {
        return None;
    }
    let t = date.and_hms_opt(h, mi, se)?;
    Some(match zone {
        None | Some(0) => format!("{}Z", t.format("%Y-%m-%dT%H:%M:%S")),
        Some(off) => {
            let sign = if off < 0 { '-' } else { '+' };
            let off = off.abs();
            format!(
                "{}{sign}{:02}:{:02}",
                t.format("%Y-%m-%dT%H:%M:%S"),
                off / 3600,
                off % 3600 / 60
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(src: &str) -> Value {
        yamldecode(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"))
    }
    fn s(x: &str) -> Value {
        Value::string(x)
    }
    fn n(x: &str) -> Value {
        Value::Number(Number::parse(x).expect("number"))
    }
    fn err(src: &str) -> String {
        match yamldecode(src) {
            Err(FnError::Failed(m)) => m,
            other => panic!("{src:?}: {other:?}"),
        }
    }

    /// go-cty-yaml v1.0.1's decode_test.go and implied_type_test.go cases,
    /// translated (types as kiln's values show them).
    #[test]
    fn decode_as_go_cty_yaml() {
        assert!(err("").contains("missing start of document"));
        assert_eq!(ok("~"), Value::Null);
        assert_eq!(ok("null"), Value::Null);
        assert_eq!(ok("\"hello\""), s("hello"));
        assert_eq!(ok("\".INF\""), s(".INF"));
        assert_eq!(ok("'False'"), s("False"));
        assert_eq!(ok("'NULL'"), s("NULL"));
        assert_eq!(ok("|\n  hello\n  world"), s("hello\nworld"));
        assert_eq!(ok(">\n  hello\n  world"), s("hello world"));
        assert_eq!(ok("hello"), s("hello"));
        assert_eq!(ok("<<"), s("<<"));
        assert_eq!(ok("!!str true"), s("true"));
        assert_eq!(ok("!<tag:yaml.org,2002:str> true"), s("true"));
        assert_eq!(ok("true"), Value::Bool(true));
        assert_eq!(ok("yes"), Value::Bool(true));
        assert_eq!(ok("y"), Value::Bool(true));
        assert_eq!(ok("off"), Value::Bool(false));
        assert_eq!(ok("!!bool true"), Value::Bool(true));
        assert_eq!(
            err("!!bool bananas"),
            "cannot parse \"bananas\" as tag:yaml.org,2002:bool"
        );
        assert_eq!(ok(".5"), n("0.5"));
        assert_eq!(ok("1.5"), n("1.5"));
        assert_eq!(ok("12"), n("12"));
        assert_eq!(ok("1_000"), n("1000"));
        assert_eq!(ok("-12"), n("-12"));
        assert_eq!(ok("1e3"), n("1000"));
        assert_eq!(ok("!!int 0x1F"), n("31"));
        assert_eq!(ok("!!int 0b101"), n("5"));
        assert_eq!(ok("0b101"), n("5"));
        assert_eq!(ok("0x1F"), s("0x1F"));
        assert_eq!(ok("017"), n("17"));
        assert_eq!(ok(".inf"), Value::Number(Number::infinity(false)));
        assert_eq!(ok("-.Inf"), Value::Number(Number::infinity(true)));
        assert_eq!(err(".nan"), "floating point NaN is not supported");
        assert_eq!(ok("2001-12-14"), s("2001-12-14T00:00:00Z"));
        assert_eq!(
            ok("2001-12-14t21:59:43.10-05:00"),
            s("2001-12-14T21:59:43-05:00")
        );
        assert_eq!(ok("2001-12-14 21:59:43.10"), s("2001-12-14T21:59:43Z"));
        assert_eq!(ok("'2001-12-14'"), s("2001-12-14"));
        assert_eq!(ok("!!binary aGVsbG8="), s("aGVsbG8="));
        assert_eq!(
            err("!!binary 'no base64!'"),
            "cannot parse \"no base64!\" as tag:yaml.org,2002:binary: not valid base64"
        );
        assert_eq!(
            err("!!foo bar"),
            "unsupported tag \"tag:yaml.org,2002:foo\""
        );
        assert_eq!(ok("[]"), Value::Tuple(vec![]));
        assert_eq!(ok("- a\n- 1"), Value::Tuple(vec![s("a"), n("1")]));
        let obj = |kv: &[(&str, Value)]| {
            Value::Object(kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
        };
        assert_eq!(ok("{}"), obj(&[]));
        assert_eq!(
            ok("a: yes\nb: 'no'"),
            obj(&[("a", Value::Bool(true)), ("b", s("no"))])
        );
        assert_eq!(ok("yes: 1\n2: b"), obj(&[("true", n("1")), ("2", s("b"))]));
        assert_eq!(
            ok("base: &b {a: 1, b: 2}\nderived:\n  <<: *b\n  b: 3"),
            obj(&[
                ("base", obj(&[("a", n("1")), ("b", n("2"))])),
                ("derived", obj(&[("a", n("1")), ("b", n("3"))])),
            ])
        );
        assert_eq!(
            ok("a: &x hello\nb: *x"),
            obj(&[("a", s("hello")), ("b", s("hello"))])
        );
        assert!(err("a: 1\n---\nb: 2\n").contains("only a single document is allowed"));
        assert!(err("x:\n  <<: [1]\n").contains("cannot merge tuple into mapping"));
        assert!(err("x: 1\n~: 2\n").contains("mapping key cannot be null"));
        let e = err("a: *nope\n");
        assert!(e.contains("anchor"), "{e}");
    }
}

/// `yamlencode` as go-cty-yaml v1.0.1 writes YAML (libyaml's emitter in
/// block style): every string double-quoted (keys too) or, with a line
/// break in it, a literal block (`|-`, `|`, `|+`, with an indentation
/// indicator when it starts with a space); numbers, booleans and null
/// plain, and a plain scalar alone in the document ended with `...`; long
/// quoted strings folded at column 80 as libyaml folds them; empty
/// collections in flow style (`[]`, `{}`).
pub fn yamlencode(v: &Value) -> Result<String, FnError> {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
    };
    e.node(v, -1, Context::Root)?;
    if !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    if matches!(v, Value::Null | Value::Bool(_) | Value::Number(_)) {
        e.out.push_str("...\n");
    }
    Ok(e.out)
}

/// What a node is written as part of.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    Root,
    /// A block sequence's item, right after `- `.
    Item,
    /// A block mapping's value, right after `:`.
    Value,
    /// A block mapping's simple key.
    Key,
}

/// libyaml's emitter state, as far as these documents need it.
struct Emitter {
    out: String,
    /// Characters on the current line.
    column: usize,
    /// The last thing written was whitespace.
    whitespace: bool,
    /// Only indentation on the current line so far.
    indention: bool,
}

const BEST_WIDTH: usize = 80;
const BEST_INDENT: i64 = 2;

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_str(&mut self, s: &str) {
        for c in s.chars() {
            self.put(c);
        }
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// libyaml's `yaml_emitter_write_indent`.
    fn write_indent(&mut self, indent: i64) {
        let indent = indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// libyaml's `yaml_emitter_write_indicator`.
    fn indicator(
        &mut self,
        s: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.put_str(s);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, v: &Value, indent: i64, ctx: Context) -> Result<(), FnError> {
        match v {
            Value::Unknown => Err(FnError::Failed(
                "cannot serialize unknown value as YAML".into(),
            )),
            Value::Null => {
                self.plain("null");
                Ok(())
            }
            Value::Bool(b) => {
                self.plain(if *b { "true" } else { "false" });
                Ok(())
            }
            Value::Number(n) => {
                self.plain(&n.to_string());
                Ok(())
            }
            Value::String(s) => {
                // A scalar's lines are indented one step past its parent's.
                let indent = if indent < 0 {
                    BEST_INDENT
                } else {
                    indent + BEST_INDENT
                };
                if s.contains('\n') {
                    self.literal(s, indent);
                } else {
                    self.double_quoted(s, indent, ctx != Context::Key);
                }
                Ok(())
            }
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                if items.is_empty() {
                    self.indicator("[", true, true, false);
                    self.indicator("]", false, false, false);
                    return Ok(());
                }
                // In a mapping, a sequence is not indented past its key.
                let indent = match ctx {
                    Context::Value => indent.max(0),
                    _ if indent < 0 => 0,
                    _ => indent + BEST_INDENT,
                };
                for item in items {
                    self.write_indent(indent);
                    self.indicator("-", true, false, true);
                    self.node(item, indent, Context::Item)?;
                }
                Ok(())
            }
            Value::Map(m) | Value::Object(m) => {
                if m.is_empty() {
                    self.indicator("{", true, true, false);
                    self.indicator("}", false, false, false);
                    return Ok(());
                }
                let indent = if indent < 0 { 0 } else { indent + BEST_INDENT };
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                for k in keys {
                    let key = Value::String(k.clone());
                    if k.contains('\n') {
                        // Not a simple key: `? key` then `: value`.
                        self.write_indent(indent);
                        self.indicator("?", true, false, true);
                        self.node(&key, indent, Context::Item)?;
                        self.write_indent(indent);
                        self.indicator(":", true, false, true);
                    } else {
                        self.write_indent(indent);
                        self.node(&key, indent, Context::Key)?;
                        self.indicator(":", false, false, false);
                    }
                    self.node(&m[k.as_str()], indent, Context::Value)?;
                }
                Ok(())
            }
        }
    }

    fn plain(&mut self, s: &str) {
        if !self.whitespace {
            self.put(' ');
        }
        self.put_str(s);
        self.whitespace = false;
        self.indention = false;
    }

    /// libyaml's `yaml_emitter_write_double_quoted_scalar`.
    fn double_quoted(&mut self, s: &str, indent: i64, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            // libyaml's is_printable: nothing beyond the BMP.
            let printable = c == '\n'
                || ('\u{20}'..='\u{7E}').contains(&c)
                || ('\u{A0}'..='\u{D7FF}').contains(&c)
                || ('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}';
            let is_break = matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
            if !printable || c == '\u{FEFF}' || is_break || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{7}' => self.put('a'),
                    '\u{8}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{b}' => self.put('v'),
                    '\u{c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{A0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    c if (c as u32) <= 0xFF => self.put_str(&format!("x{:02X}", c as u32)),
                    c if (c as u32) <= 0xFFFF => self.put_str(&format!("u{:04X}", c as u32)),
                    c => self.put_str(&format!("U{:08X}", c as u32)),
                }
                spaces = false;
                i += 1;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < chars.len() - 1
                {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(' ');
                }
                spaces = true;
                i += 1;
            } else {
                self.put(c);
                spaces = false;
                i += 1;
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// libyaml's block scalar hints and `yaml_emitter_write_literal_scalar`.
    fn literal(&mut self, s: &str, indent: i64) {
        let mut hints = String::new();
        if s.starts_with([' ', '\n']) {
            hints.push_str(&BEST_INDENT.to_string());
        }
        if !s.ends_with('\n') {
            hints.push('-');
        } else if s == "\n" || s.ends_with("\n\n") {
            hints.push('+');
        }
        self.indicator(&format!("|{hints}"), true, false, false);
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in s.chars() {
            if c == '\n' {
                self.put_break();
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent(indent);
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

//! Encoding functions.

use super::{str_arg, FnEnv, FnError, FR};
use crate::value::Value;
use base64::Engine;

pub fn base64encode(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(str_arg(&a, 0)?),
    ))
}

pub fn base64decode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|_| FnError::Failed(format!("failed to decode base64 data {s:?}")))?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        FnError::Failed("the result of decoding the provided string is not valid UTF-8".into())
    })
}

pub fn csvdecode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let records = go_csv(&s)
        .map_err(|(line, e)| FnError::Failed(format!("CSV parse error on line {line}: {e}")))?;
    let mut records = records.into_iter();
    let Some(headers) = records.next() else {
        return Err(FnError::Failed("missing header line".into()));
    };
    for (i, h) in headers.iter().enumerate() {
        if headers[..i].contains(h) {
            return Err(FnError::Failed(format!("duplicate column name {h:?}")));
        }
    }
    let out = records
        .map(|rec| {
            Value::Object(
                headers
                    .iter()
                    .zip(rec)
                    .map(|(h, v)| (h.clone(), Value::String(v)))
                    .collect(),
            )
        })
        .collect();
    Ok(Value::List(out))
}

/// Records as Go's `encoding/csv` reads them (what cty's csvdecode uses):
/// strict about quotes, empty lines skipped, every record as long as the
/// first. An error is its line and Go's message.
fn go_csv(s: &str) -> Result<Vec<Vec<String>>, (usize, &'static str)> {
    const BARE: &str = "bare \" in non-quoted-field";
    const QUOTE: &str = "extraneous or missing \" in quoted-field";
    let text = s.replace("\r\n", "\n");
    let chars: Vec<char> = text.chars().collect();
    let mut records: Vec<Vec<String>> = Vec::new();
    let (mut i, mut line) = (0usize, 1usize);
    while i < chars.len() {
        if chars[i] == '\n' {
            // An empty line is no record.
            i += 1;
            line += 1;
            continue;
        }
        let start_line = line;
        let mut fields = Vec::new();
        loop {
            let mut field = String::new();
            if chars.get(i) == Some(&'"') {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err((line, QUOTE)),
                        Some('"') if chars.get(i + 1) == Some(&'"') => {
                            field.push('"');
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            if *c == '\n' {
                                line += 1;
                            }
                            field.push(*c);
                            i += 1;
                        }
                    }
                }
                match chars.get(i) {
                    None | Some(',') | Some('\n') => {}
                    Some(_) => return Err((line, QUOTE)),
                }
            } else {
                while let Some(&c) = chars.get(i) {
                    if c == ',' || c == '\n' {
                        break;
                    }
                    if c == '"' {
                        return Err((line, BARE));
                    }
                    field.push(c);
                    i += 1;
                }
            }
            fields.push(field);
            match chars.get(i) {
                Some(',') => i += 1,
                Some('\n') => {
                    i += 1;
                    line += 1;
                    break;
                }
                _ => break,
            }
        }
        if let Some(first) = records.first() {
            if fields.len() != first.len() {
                return Err((start_line, "wrong number of fields"));
            }
        }
        records.push(fields);
    }
    Ok(records)
}

pub fn jsondecode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let j: serde_json::Value =
        serde_json::from_str(&s).map_err(|e| FnError::Arg(0, format!("{e}.")))?;
    Ok(Value::from_json(&j))
}

/// JSON as Go's `json.Marshal` writes it (HTML-safe escapes).
pub fn go_json(v: &Value) -> String {
    let s = v.to_json().to_string();
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

pub fn jsonencode(_: &FnEnv, a: Vec<Value>) -> FR {
    fn infinite(v: &Value) -> bool {
        match v {
            Value::Number(n) => n.is_infinite(),
            Value::List(xs) | Value::Set(xs) | Value::Tuple(xs) => xs.iter().any(infinite),
            Value::Map(m) | Value::Object(m) => m.values().any(infinite),
            _ => false,
        }
    }
    if infinite(&a[0]) {
        return Err(FnError::Failed("cannot serialize infinity as JSON".into()));
    }
    Ok(Value::String(go_json(&a[0])))
}

pub fn urlencode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(Value::String(out))
}

pub fn yamldecode(_: &FnEnv, a: Vec<Value>) -> FR {
    super::yaml::yamldecode(&str_arg(&a, 0)?)
}

pub fn yamlencode(_: &FnEnv, a: Vec<Value>) -> FR {
    super::yaml::yamlencode(&a[0]).map(Value::String)
}

/// `base64gzip(str)`: gzip, then base64, as Go's compress/gzip writes it
/// after a Flush and Close (no name, mtime 0, OS "unknown", a sync-flush
/// marker and an empty final stored block before the trailer). The
/// deflate stream in between is miniz's, which may pick other matches
/// than Go's for long inputs; it decompresses to the same bytes.
pub fn base64gzip(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut z = flate2::Compress::new(flate2::Compression::new(6), false);
    let mut body = Vec::with_capacity(s.len() / 2 + 64);
    let mut input = s.as_bytes();
    loop {
        body.reserve(input.len() / 2 + 64);
        let before = z.total_in();
        z.compress_vec(input, &mut body, flate2::FlushCompress::Sync)
            .map_err(|e| FnError::Failed(format!("failed to write gzip raw data: {e}")))?;
        input = &input[(z.total_in() - before) as usize..];
        if input.is_empty() && body.len() < body.capacity() {
            break;
        }
    }
    out.extend_from_slice(&body);
    out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    let mut crc = flate2::Crc::new();
    crc.update(s.as_bytes());
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(out),
    ))
}

/// A character set by IANA name or alias, as Go's x/text ianaindex finds
/// it: its canonical name and the codec.
enum Charset {
    Utf8,
    Utf16 { big_endian: bool, bom: bool },
    Latin1,
    Ascii,
    Other(&'static encoding_rs::Encoding),
}

fn charset(label: &str) -> Option<(Charset, String)> {
    let l = label.trim().to_ascii_lowercase();
    let (c, name) = match l.as_str() {
        "utf-8" | "utf8" | "csutf8" => (Charset::Utf8, "UTF-8"),
        "utf-16le" | "csutf16le" => (
            Charset::Utf16 {
                big_endian: false,
                bom: false,
            },
            "UTF-16LE",
        ),
        "utf-16be" | "csutf16be" => (
            Charset::Utf16 {
                big_endian: true,
                bom: false,
            },
            "UTF-16BE",
        ),
        "utf-16" | "csutf16" => (
            Charset::Utf16 {
                big_endian: true,
                bom: true,
            },
            "UTF-16",
        ),
        "iso-8859-1" | "iso_8859-1" | "iso_8859-1:1987" | "latin1" | "l1" | "ibm819" | "cp819"
        | "csisolatin1" | "iso-ir-100" => (Charset::Latin1, "ISO-8859-1"),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" | "ibm367" | "cp367"
        | "csascii" | "iso-ir-6" => (Charset::Ascii, "US-ASCII"),
        _ => {
            let e = encoding_rs::Encoding::for_label_no_replacement(l.as_bytes())?;
            if e == encoding_rs::UTF_8 || e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE {
                return None;
            }
            let name = match e.name() {
                "gbk" => "GBK".to_string(),
                n => n.to_string(),
            };
            return Some((Charset::Other(e), name));
        }
    };
    Some((c, name.to_string()))
}

fn unsupported_charset(label: &str) -> FnError {
    FnError::Arg(
        1,
        format!("{label:?} is not a supported IANA encoding name or alias"),
    )
}

/// `textencodebase64(string, encoding)`: the string in another character
/// set, base64-encoded.
pub fn textencodebase64(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let label = str_arg(&a, 1)?;
    let (cs, name) = charset(&label).ok_or_else(|| unsupported_charset(&label))?;
    let cannot = || {
        FnError::Arg(
            0,
            format!("the given string contains characters that cannot be represented in {name}"),
        )
    };
    let bytes = match cs {
        Charset::Utf8 => s.into_bytes(),
        Charset::Utf16 { big_endian, bom } => {
            let mut out = Vec::with_capacity(s.len() * 2 + 2);
            let units = bom.then_some(0xfeffu16).into_iter().chain(s.encode_utf16());
            for u in units {
                out.extend_from_slice(&if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                });
            }
            out
        }
        Charset::Latin1 | Charset::Ascii => {
            let max = if matches!(cs, Charset::Ascii) {
                0x7f
            } else {
                0xff
            };
            s.chars()
                .map(|c| u8::try_from(u32::from(c)).ok().filter(|b| *b <= max))
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(cannot)?
        }
        Charset::Other(e) => {
            let (bytes, _, unmappable) = e.encode(&s);
            if unmappable {
                return Err(cannot());
            }
            bytes.into_owned()
        }
    };
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}

/// `textdecodebase64(source, encoding)`: base64-decoded bytes read in the
/// given character set.
pub fn textdecodebase64(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let label = str_arg(&a, 1)?;
    let (cs, name) = charset(&label).ok_or_else(|| unsupported_charset(&label))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => FnError::Arg(
                0,
                format!("the given value is has an invalid base64 symbol at offset {at}"),
            ),
            other => FnError::Arg(0, format!("invalid source string: {other}")),
        })?;
    let undefined = || {
        FnError::Arg(
            0,
            format!("the given string contains symbols that are not defined for {name}"),
        )
    };
    let text = match cs {
        Charset::Utf8 => String::from_utf8(bytes).map_err(|_| undefined())?,
        Charset::Utf16 { big_endian, bom } => {
            if bytes.len() % 2 != 0 {
                return Err(undefined());
            }
            let mut units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| {
                    let p = [p[0], p[1]];
                    if big_endian {
                        u16::from_be_bytes(p)
                    } else {
                        u16::from_le_bytes(p)
                    }
                })
                .collect();
            if bom {
                match units.first() {
                    Some(0xfeff) => {
                        units.remove(0);
                    }
                    Some(0xfffe) => {
                        units.remove(0);
                        units.iter_mut().for_each(|u| *u = u.swap_bytes());
                    }
                    _ => {}
                }
            }
            String::from_utf16(&units).map_err(|_| undefined())?
        }
        Charset::Latin1 => bytes.iter().map(|b| char::from(*b)).collect(),
        Charset::Ascii => {
            if bytes.iter().any(|b| *b > 0x7f) {
                return Err(undefined());
            }
            bytes.iter().map(|b| char::from(*b)).collect()
        }
        Charset::Other(e) => e
            .decode_without_bom_handling_and_without_replacement(&bytes)
            .ok_or_else(undefined)?
            .into_owned(),
    };
    if text.contains('\u{fffd}') {
        return Err(undefined());
    }
    Ok(Value::String(text))
}

//! String functions, including Go's `fmt` verbs for `format`.

use super::{int_arg, seq_arg, str_arg, string_list, FnEnv, FnError, FR};

use crate::value::{display::go_quote, Number, Value};
use unicode_segmentation::UnicodeSegmentation;

/// The widest field or longest precision `format` makes (Go's fmt has
/// the same bound).
const MAX_WIDTH: usize = 1_000_000;

pub fn chomp(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    Ok(Value::String(s.trim_end_matches(['\n', '\r']).to_string()))
}
/// Go's `unicode.ToLower`/`ToUpper`, rune by rune with the simple (one
/// character to one) mappings cty uses: `upper("ß")` is `ß`, not Rust's
/// `SS`. Where Rust's full mapping gives several characters, the simple
/// lower case is the first of them, and the upper case the character
/// itself.
pub fn lower(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    Ok(Value::String(
        s.chars()
            .map(|c| c.to_lowercase().next().unwrap_or(c))
            .collect(),
    ))
}
pub fn upper(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    Ok(Value::String(s.chars().map(simple_upper).collect()))
}

fn simple_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}
pub fn title(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.push(simple_upper(c));
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    Ok(Value::String(out))
}
pub fn strrev(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    Ok(Value::String(s.graphemes(true).rev().collect()))
}
pub fn trimspace(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::String(str_arg(&a, 0)?.trim().to_string()))
}
pub fn trim(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let cut: Vec<char> = str_arg(&a, 1)?.chars().collect();
    Ok(Value::String(
        s.trim_matches(|c| cut.contains(&c)).to_string(),
    ))
}
pub fn trimprefix(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let p = str_arg(&a, 1)?;
    Ok(Value::String(
        s.strip_prefix(p.as_str()).unwrap_or(&s).to_string(),
    ))
}
pub fn trimsuffix(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let p = str_arg(&a, 1)?;
    Ok(Value::String(
        s.strip_suffix(p.as_str()).unwrap_or(&s).to_string(),
    ))
}
pub fn indent(_: &FnEnv, a: Vec<Value>) -> FR {
    let n = int_arg(&a, 0)?.max(0) as usize;
    let s = str_arg(&a, 1)?;
    let lines = s.matches('\n').count();
    super::limits::string_len(n.saturating_mul(lines).saturating_add(s.len()))?;
    let pad = " ".repeat(n);
    let mut lines = s.split('\n');
    let mut out = lines.next().unwrap_or("").to_string();
    for l in lines {
        out.push('\n');
        out.push_str(&pad);
        out.push_str(l);
    }
    Ok(Value::String(out))
}
pub fn join(_: &FnEnv, a: Vec<Value>) -> FR {
    let sep = str_arg(&a, 0)?;
    let mut parts = Vec::new();
    for i in 1..a.len() {
        for (j, v) in seq_arg(&a, i)?.iter().enumerate() {
            match v {
                Value::Null => {
                    return Err(FnError::Arg(
                        i,
                        format!("element {j} is null; cannot concatenate null values."),
                    ))
                }
                other => match crate::value::to_display_string(other) {
                    Some(s) => parts.push(s),
                    None => return Err(FnError::Arg(i, "list of string required.".into())),
                },
            }
        }
    }
    Ok(Value::String(parts.join(&sep)))
}
pub fn split(_: &FnEnv, a: Vec<Value>) -> FR {
    let sep = str_arg(&a, 0)?;
    let s = str_arg(&a, 1)?;
    if s.is_empty() {
        return Ok(Value::List(vec![Value::string("")]));
    }
    if sep.is_empty() {
        return Ok(string_list(s.chars().map(|c| c.to_string())));
    }
    Ok(string_list(s.split(sep.as_str()).map(str::to_string)))
}
pub fn replace(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let sub = str_arg(&a, 1)?;
    let rep = str_arg(&a, 2)?;
    // Literal, as cty's (Packer 1.9): `regex_replace` is the one that takes
    // a pattern; Packer 1.6.6's Terraform-derived `replace` read "/x/" as one.
    Ok(Value::String(s.replace(&sub, &rep)))
}
pub fn regex_replace(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let re = compile(&str_arg(&a, 1)?, 1)?;
    let rep = str_arg(&a, 2)?;
    Ok(Value::String(
        re.replace_all(&s, go_replacement(&rep).as_str())
            .into_owned(),
    ))
}

/// Go's `$1`/`${name}` replacement syntax matches the regex crate's, except
/// that Go treats `$1x` as the group named `1x`; keep it as is.
fn go_replacement(r: &str) -> String {
    r.to_string()
}

fn compile(pat: &str, idx: usize) -> Result<regex::Regex, FnError> {
    regex::Regex::new(pat)
        .map_err(|e| FnError::Arg(idx, format!("invalid regular expression pattern: {e}")))
}

fn captures_value(re: &regex::Regex, caps: &regex::Captures) -> Value {
    let names: Vec<Option<&str>> = re.capture_names().collect();
    let named = names.iter().skip(1).any(Option::is_some);
    if named {
        let mut m = crate::value::Attrs::new();
        for (i, n) in names.iter().enumerate().skip(1) {
            if let Some(n) = n {
                m.insert(
                    n.to_string(),
                    caps.get(i)
                        .map(|x| Value::string(x.as_str()))
                        .unwrap_or(Value::Null),
                );
            }
        }
        Value::Object(m)
    } else if names.len() > 1 {
        Value::Tuple(
            (1..names.len())
                .map(|i| {
                    caps.get(i)
                        .map(|x| Value::string(x.as_str()))
                        .unwrap_or(Value::Null)
                })
                .collect(),
        )
    } else {
        Value::String(
            caps.get(0)
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        )
    }
}

pub fn regex(_: &FnEnv, a: Vec<Value>) -> FR {
    let re = compile(&str_arg(&a, 0)?, 0)?;
    let s = str_arg(&a, 1)?;
    match re.captures(&s) {
        Some(c) => Ok(captures_value(&re, &c)),
        None => Err(FnError::Failed(
            "pattern did not match any part of the given string".into(),
        )),
    }
}
pub fn regexall(_: &FnEnv, a: Vec<Value>) -> FR {
    let re = compile(&str_arg(&a, 0)?, 0)?;
    let s = str_arg(&a, 1)?;
    Ok(Value::List(
        re.captures_iter(&s)
            .map(|c| captures_value(&re, &c))
            .collect(),
    ))
}
pub fn substr(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let offset = int_arg(&a, 1)?;
    let length = int_arg(&a, 2)?;
    let g: Vec<&str> = s.graphemes(true).collect();
    let n = g.len() as i64;
    let mut start = if offset < 0 { n + offset } else { offset };
    if start < 0 {
        start = 0;
    }
    if start > n {
        return Ok(Value::string(""));
    }
    let end = if length < 0 {
        n
    } else {
        (start + length).min(n)
    };
    Ok(Value::String(
        g[start as usize..end.max(start) as usize].concat(),
    ))
}

pub fn format(_: &FnEnv, a: Vec<Value>) -> FR {
    let f = str_arg(&a, 0)?;
    Ok(Value::String(go_sprintf(&f, &a[1..])?))
}

pub fn formatlist(_: &FnEnv, a: Vec<Value>) -> FR {
    let f = str_arg(&a, 0)?;
    let args = &a[1..];
    let mut n: Option<usize> = None;
    for (i, v) in args.iter().enumerate() {
        if let Some(s) = v.as_seq() {
            match n {
                None => n = Some(s.len()),
                Some(m) if m != s.len() => return Err(FnError::Arg(i + 1, format!("argument {} has length {}, which is inconsistent with argument 1 of length {m}.", i + 2, s.len()))),
                _ => {}
            }
        }
    }
    let n = n.unwrap_or(1);
    let mut out = Vec::with_capacity(n);
    for row in 0..n {
        let row_args: Vec<Value> = args
            .iter()
            .map(|v| match v.as_seq() {
                Some(s) => s[row].clone(),
                None => v.clone(),
            })
            .collect();
        out.push(Value::String(go_sprintf(&f, &row_args)?));
    }
    Ok(Value::List(out))
}

/// Go's `fmt.Sprintf` subset that cty's `format` supports.
pub fn go_sprintf(f: &str, args: &[Value]) -> Result<String, FnError> {
    let mut out = String::new();
    let chars: Vec<char> = f.chars().collect();
    let mut i = 0;
    let mut argi = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if i >= chars.len() {
            return Err(FnError::Failed(
                "unterminated format verb at end of string".into(),
            ));
        }
        if chars[i] == '%' {
            out.push('%');
            i += 1;
            continue;
        }
        let (mut minus, mut plus, mut sharp, mut zero, mut space) =
            (false, false, false, false, false);
        while i < chars.len() && "-+#0 ".contains(chars[i]) {
            match chars[i] {
                '-' => minus = true,
                '+' => plus = true,
                '#' => sharp = true,
                '0' => zero = true,
                _ => space = true,
            }
            i += 1;
        }
        if i < chars.len() && chars[i] == '[' {
            let close = chars[i..]
                .iter()
                .position(|&c| c == ']')
                .ok_or_else(|| FnError::Failed("unterminated argument index".into()))?;
            let idx: String = chars[i + 1..i + close].iter().collect();
            argi = idx
                .parse::<usize>()
                .map_err(|_| FnError::Failed(format!("invalid argument index {idx:?}")))?
                .saturating_sub(1);
            i += close + 1;
        }
        let mut width: Option<usize> = None;
        let ws = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        // Digits that do not fit a usize are as much "too wide" as any.
        let width_too_large = i > ws && {
            width = chars[ws..i].iter().collect::<String>().parse().ok();
            width.is_none_or(|w| w > MAX_WIDTH)
        };
        let mut prec: Option<usize> = None;
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            let ps = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            // "%.f" is precision 0, as in Go.
            prec = Some(if i == ps {
                0
            } else {
                chars[ps..i]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(usize::MAX)
            });
        }
        // Go's fmt refuses widths and precisions over a million; so does
        // kiln, rather than building a string of gigabytes.
        if width_too_large {
            return Err(FnError::Failed(format!(
                "a format width is over the limit of {MAX_WIDTH}"
            )));
        }
        if prec.is_some_and(|p| p > MAX_WIDTH) {
            return Err(FnError::Failed(format!(
                "a format precision is over the limit of {MAX_WIDTH}"
            )));
        }
        if i >= chars.len() {
            return Err(FnError::Failed(
                "unterminated format verb at end of string".into(),
            ));
        }
        let verb = chars[i];
        i += 1;
        let arg = args.get(argi).ok_or_else(|| {
            FnError::Failed(format!("not enough arguments for %{verb} at {}", i - 1))
        })?;
        argi += 1;
        let num = |v: &Value| -> Result<Number, FnError> {
            match crate::value::convert(v, &crate::value::Type::Number) {
                Ok(Value::Number(n)) => Ok(n),
                _ => Err(FnError::Failed(format!(
                    "unsupported value for %{verb}: number required"
                ))),
            }
        };
        let mut s = match verb {
            'v' => {
                if sharp {
                    arg.to_json().to_string()
                } else {
                    match arg {
                        Value::Null => "null".into(),
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => other.to_json().to_string(),
                    }
                }
            }
            's' => match crate::value::to_display_string(arg) {
                Some(s) => match prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                },
                None => {
                    return Err(FnError::Failed(
                        "unsupported value for %s: string required".to_string(),
                    ))
                }
            },
            'q' => {
                let s = crate::value::to_display_string(arg).ok_or_else(|| {
                    FnError::Failed("unsupported value for %q: string required".into())
                })?;
                // Go's fmt cuts the string to the precision before quoting.
                match prec {
                    Some(p) => go_quote(&s.chars().take(p).collect::<String>()),
                    None => go_quote(&s),
                }
            }
            't' => match crate::value::convert(arg, &crate::value::Type::Bool) {
                Ok(Value::Bool(b)) => b.to_string(),
                _ => {
                    return Err(FnError::Failed(
                        "unsupported value for %t: bool required".into(),
                    ))
                }
            },
            'd' | 'b' | 'o' | 'x' | 'X' => {
                let n = num(arg)?;
                if !n.is_integer() {
                    return Err(FnError::Failed(format!(
                        "unsupported value for %{verb}: an integer is required"
                    )));
                }
                let bi: num_bigint::BigInt = n.to_string().parse().unwrap_or_default();
                let neg = bi.sign() == num_bigint::Sign::Minus;
                let mag = if neg { -bi.clone() } else { bi.clone() };
                let body = match verb {
                    'd' => mag.to_str_radix(10),
                    'b' => mag.to_str_radix(2),
                    'o' => format!("{}{}", if sharp { "0" } else { "" }, mag.to_str_radix(8)),
                    'x' => format!("{}{}", if sharp { "0x" } else { "" }, mag.to_str_radix(16)),
                    _ => format!(
                        "{}{}",
                        if sharp { "0X" } else { "" },
                        mag.to_str_radix(16).to_uppercase()
                    ),
                };
                let sign = if neg {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                };
                format!("{sign}{body}")
            }
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
                let x = num(arg)?.to_f64();
                let body = match verb {
                    'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), x),
                    'e' | 'E' => {
                        let s = go_exp(x, prec.unwrap_or(6));
                        if verb == 'E' {
                            s.to_uppercase()
                        } else {
                            s
                        }
                    }
                    _ => {
                        let s = crate::value::number::go_format_g(x);
                        if verb == 'G' {
                            s.to_uppercase()
                        } else {
                            s
                        }
                    }
                };
                if plus && x >= 0.0 {
                    format!("+{body}")
                } else {
                    body
                }
            }
            other => return Err(FnError::Failed(format!("unsupported format verb %{other}"))),
        };
        if let Some(w) = width {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                if minus {
                    s.push_str(&" ".repeat(pad));
                } else if zero && !matches!(verb, 's' | 'q' | 'v' | 't') {
                    let (sign, rest) = if s.starts_with(['-', '+']) {
                        s.split_at(1)
                    } else {
                        ("", s.as_str())
                    };
                    s = format!("{sign}{}{rest}", "0".repeat(pad));
                } else {
                    s = format!("{}{s}", " ".repeat(pad));
                }
            }
        }
        out.push_str(&s);
    }
    if argi < args.len() {
        return Err(FnError::Failed(format!(
            "too many arguments; only {argi} used by format string"
        )));
    }
    Ok(out)
}

fn go_exp(x: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, x);
    match s.split_once('e') {
        Some((m, e)) => {
            let ev: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if ev < 0 { '-' } else { '+' }, ev.abs())
        }
        None => s,
    }
}

/// `startswith(str, prefix)`.
pub fn startswith(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::Bool(str_arg(&a, 0)?.starts_with(&str_arg(&a, 1)?)))
}

/// `endswith(str, suffix)`.
pub fn endswith(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::Bool(str_arg(&a, 0)?.ends_with(&str_arg(&a, 1)?)))
}

/// `strcontains(str, substr)`.
pub fn strcontains(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::Bool(str_arg(&a, 0)?.contains(&str_arg(&a, 1)?)))
}

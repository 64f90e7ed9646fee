//! `boot_command`: Packer's boot command language, typed into the guest's
//! keyboard through QMP's `input-send-event` (where Packer types over VNC).
//!
//! Plain characters are typed as they are (shifted where the US layout
//! needs it); `<enter>`, `<f1>`, `<leftCtrl>`… are keys, case-insensitive;
//! `<leftShiftOn>` … `<leftShiftOff>` hold and release a key; `<wait>`,
//! `<wait5>`, `<wait10>` and `<wait1m30s>` pause (a bare number is
//! seconds). Anything else between `<` and `>` is typed as text, as in
//! Packer.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Press and release a key, with these modifiers held around it.
    Tap {
        modifiers: Vec<&'static str>,
        key: &'static str,
    },
    /// Hold a key down (`<leftShiftOn>`) or let it go (`<leftShiftOff>`).
    Key {
        key: &'static str,
        down: bool,
    },
    Wait(Duration),
}

/// Named keys and their QEMU qcodes.
const KEYS: &[(&str, &str)] = &[
    ("bs", "backspace"),
    ("del", "delete"),
    ("enter", "ret"),
    ("return", "ret"),
    ("esc", "esc"),
    ("tab", "tab"),
    ("spacebar", "spc"),
    ("insert", "insert"),
    ("home", "home"),
    ("end", "end"),
    ("pageup", "pgup"),
    ("pagedown", "pgdn"),
    ("up", "up"),
    ("down", "down"),
    ("left", "left"),
    ("right", "right"),
    ("menu", "menu"),
    ("leftalt", "alt"),
    ("rightalt", "alt_r"),
    ("leftctrl", "ctrl"),
    ("rightctrl", "ctrl_r"),
    ("leftshift", "shift"),
    ("rightshift", "shift_r"),
    ("leftsuper", "meta_l"),
    ("rightsuper", "meta_r"),
    ("f1", "f1"),
    ("f2", "f2"),
    ("f3", "f3"),
    ("f4", "f4"),
    ("f5", "f5"),
    ("f6", "f6"),
    ("f7", "f7"),
    ("f8", "f8"),
    ("f9", "f9"),
    ("f10", "f10"),
    ("f11", "f11"),
    ("f12", "f12"),
];

/// The US-layout key for a character, and whether it needs shift.
fn char_key(c: char) -> Option<(&'static str, bool)> {
    const LETTERS: [&str; 26] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z",
    ];
    const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    const SHIFTED_DIGITS: &str = ")!@#$%^&*(";
    const PUNCT: &[(char, char, &str)] = &[
        ('-', '_', "minus"),
        ('=', '+', "equal"),
        ('[', '{', "bracket_left"),
        (']', '}', "bracket_right"),
        ('\\', '|', "backslash"),
        (';', ':', "semicolon"),
        ('\'', '"', "apostrophe"),
        ('`', '~', "grave_accent"),
        (',', '<', "comma"),
        ('.', '>', "dot"),
        ('/', '?', "slash"),
    ];
    if c.is_ascii_lowercase() {
        return Some((LETTERS[(c as u8 - b'a') as usize], false));
    }
    if c.is_ascii_uppercase() {
        return Some((LETTERS[(c as u8 - b'A') as usize], true));
    }
    if c.is_ascii_digit() {
        return Some((DIGITS[(c as u8 - b'0') as usize], false));
    }
    if let Some(i) = SHIFTED_DIGITS.find(c) {
        return Some((DIGITS[i], true));
    }
    match c {
        ' ' => return Some(("spc", false)),
        '\n' | '\r' => return Some(("ret", false)),
        '\t' => return Some(("tab", false)),
        _ => {}
    }
    PUNCT.iter().find_map(|(plain, shifted, key)| {
        if c == *plain {
            Some((*key, false))
        } else if c == *shifted {
            Some((*key, true))
        } else {
            None
        }
    })
}

fn key_named(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, q)| *q)
}

/// `<wait…>`'s pause: nothing is 1 s, a bare number is seconds, else a
/// duration such as `300ms` or `1m30s`.
fn wait_of(rest: &str) -> Option<Duration> {
    if rest.is_empty() {
        return Some(Duration::from_secs(1));
    }
    if let Ok(n) = rest.parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    crate::util::duration::parse(rest).ok()
}

/// Parse one string of the boot command. Errors name what cannot be typed.
pub fn parse(s: &str) -> Result<Vec<Action>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                let name = &rest[1..end];
                if let Some(a) = special(name) {
                    out.push(a);
                    rest = &rest[end + 1..];
                    continue;
                }
            }
        }
        let (key, shift) = char_key(c)
            .ok_or_else(|| format!("boot_command: {c:?} cannot be typed on a US keyboard"))?;
        out.push(Action::Tap {
            modifiers: if shift { vec!["shift"] } else { Vec::new() },
            key,
        });
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

fn special(name: &str) -> Option<Action> {
    let lower = name.to_ascii_lowercase();
    if let Some(w) = lower.strip_prefix("wait") {
        return wait_of(w).map(Action::Wait);
    }
    if let Some(key) = key_named(name) {
        return Some(Action::Tap {
            modifiers: Vec::new(),
            key,
        });
    }
    for (suffix, down) in [("on", true), ("off", false)] {
        if let Some(base) = lower.strip_suffix(suffix) {
            if let Some(key) = key_named(base) {
                return Some(Action::Key { key, down });
            }
        }
    }
    None
}

/// The QMP `input-send-event` commands of one action (empty for a wait).
pub fn events(a: &Action) -> Vec<String> {
    let ev = |key: &str, down: bool| {
        format!(
            r#"{{"type":"key","data":{{"down":{down},"key":{{"type":"qcode","data":"{key}"}}}}}}"#
        )
    };
    let send = |evs: Vec<String>| {
        format!(
            r#"{{"execute":"input-send-event","arguments":{{"events":[{}]}}}}"#,
            evs.join(",")
        )
    };
    match a {
        Action::Wait(_) => Vec::new(),
        Action::Key { key, down } => vec![send(vec![ev(key, *down)])],
        Action::Tap { modifiers, key } => {
            let mut down: Vec<String> = modifiers.iter().map(|m| ev(m, true)).collect();
            down.push(ev(key, true));
            let mut up = vec![ev(key, false)];
            up.extend(modifiers.iter().rev().map(|m| ev(m, false)));
            vec![send(down), send(up)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(key: &'static str) -> Action {
        Action::Tap {
            modifiers: Vec::new(),
            key,
        }
    }

    #[test]
    fn characters_specials_holds_and_waits() {
        let a = parse("aB <enter><wait><wait5><wait1m30s><LeftCtrlOn>c<leftCtrlOff><F12>")
            .expect("parse");
        assert_eq!(
            a,
            vec![
                tap("a"),
                Action::Tap {
                    modifiers: vec!["shift"],
                    key: "b"
                },
                tap("spc"),
                tap("ret"),
                Action::Wait(Duration::from_secs(1)),
                Action::Wait(Duration::from_secs(5)),
                Action::Wait(Duration::from_secs(90)),
                Action::Key {
                    key: "ctrl",
                    down: true
                },
                tap("c"),
                Action::Key {
                    key: "ctrl",
                    down: false
                },
                tap("f12"),
            ]
        );
    }

    #[test]
    fn shifted_symbols_and_unknown_brackets_are_typed() {
        let a = parse("$(<foo>)").expect("parse");
        let keys: Vec<(&str, bool)> = a
            .iter()
            .map(|x| {
                if let Action::Tap { modifiers, key } = x {
                    (*key, !modifiers.is_empty())
                } else {
                    ("?", false)
                }
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("4", true),
                ("9", true),
                ("comma", true),
                ("f", false),
                ("o", false),
                ("o", false),
                ("dot", true),
                ("0", true)
            ]
        );
        assert!(parse("é").is_err());
    }

    #[test]
    fn a_tap_presses_modifiers_first_and_releases_them_last() {
        let e = events(&Action::Tap {
            modifiers: vec!["shift"],
            key: "a",
        });
        assert_eq!(e.len(), 2);
        assert!(e[0].find("\"shift\"") < e[0].find("\"a\"") && e[0].contains("\"down\":true"));
        assert!(e[1].find("\"a\"") < e[1].find("\"shift\"") && e[1].contains("\"down\":false"));
    }
}

//! Where each key and value of a JSON document is, by JSON pointer
//! (`/builders/1/ssh_port`), so diagnostics about JSON templates point at the
//! exact key even when the same key appears in several objects.

use std::collections::HashMap;
use std::ops::Range;

use jsonc_parser::ast::Value as J;
use jsonc_parser::common::Ranged;

#[derive(Default)]
pub struct Spans {
    /// pointer → (the key's range when it is an object member, the value's range)
    map: HashMap<String, (Option<Range<usize>>, Range<usize>)>,
    /// Each key that its object has already (name, the later key's range).
    duplicates: Vec<(String, Range<usize>)>,
}

/// One JSON-pointer segment (RFC 6901 escaping).
pub fn segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl Spans {
    /// The index of `text`. Callers check the syntax strictly first (with
    /// serde_json, for its messages); this lenient parser only adds where
    /// each piece is, and gives an empty index when it cannot.
    pub fn new(text: &str) -> Spans {
        let mut spans = Spans::default();
        if let Ok(ast) = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default())
        {
            if let Some(v) = &ast.value {
                spans.walk(String::new(), None, v);
            }
        }
        spans
    }

    fn walk(&mut self, ptr: String, key: Option<Range<usize>>, v: &J) {
        let r = v.range();
        match v {
            J::Object(o) => {
                let mut seen = std::collections::HashSet::new();
                for p in &o.properties {
                    let k = p.name.range();
                    if !seen.insert(p.name.as_str()) {
                        self.duplicates
                            .push((p.name.as_str().to_string(), k.start..k.end));
                    }
                    self.walk(
                        format!("{ptr}/{}", segment(p.name.as_str())),
                        Some(k.start..k.end),
                        &p.value,
                    );
                }
            }
            J::Array(a) => {
                for (i, e) in a.elements.iter().enumerate() {
                    self.walk(format!("{ptr}/{i}"), None, e);
                }
            }
            _ => {}
        }
        // The first of duplicate keys wins, as it is the one shown first.
        self.map.entry(ptr).or_insert((key, r.start..r.end));
    }

    /// The key at `ptr` (its value's range for an array element).
    pub fn key(&self, ptr: &str) -> Option<Range<usize>> {
        self.map
            .get(ptr)
            .map(|(k, v)| k.clone().unwrap_or_else(|| v.clone()))
    }

    /// Keys that appear twice in one object, in document order: JSON
    /// parsers keep one of them silently, Packer refuses the template.
    pub fn duplicates(&self) -> &[(String, Range<usize>)] {
        &self.duplicates
    }

    /// The value at `ptr`.
    pub fn value(&self, ptr: &str) -> Option<Range<usize>> {
        self.map.get(ptr).map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_in_two_objects_has_two_places() {
        let text = r#"{"builders": [{"ssh_port": 1}, {"ssh_port": [2]}], "a/b": {"~": true}}"#;
        let s = Spans::new(text);
        let first = s.key("/builders/0/ssh_port").expect("first");
        let second = s.key("/builders/1/ssh_port").expect("second");
        assert_ne!(first, second);
        assert_eq!(&text[second.clone()], "\"ssh_port\"");
        assert_eq!(
            &text[s.value("/builders/1/ssh_port").expect("value")],
            "[2]"
        );
        assert_eq!(
            &text[s.key("/builders/1").expect("element")],
            "{\"ssh_port\": [2]}"
        );
        assert_eq!(&text[s.key("/a~1b/~0").expect("escaped")], "\"~\"");
        assert!(Spans::new("{,").key("").is_none());
    }
}

//! The `http` data source (Packer core's): a GET of `url`, with
//! `request_headers`; its outputs are the response's `body` and
//! `response_headers`. Anything but `200 OK` is an error, as in Packer.

use crate::graph::Config;
use crate::plugin::{Field, Options, StringMap};
use crate::value::{Attrs, Value};
use std::time::Duration;

/// The http data source's options (Packer's names).
#[derive(Options)]
pub struct HttpOptions {
    /// The URL to GET (http:// or https://).
    url: String,
    /// Headers sent with the request.
    request_headers: StringMap,
}

pub const FIELDS: &[Field] = HttpOptions::FIELDS;

pub fn validate(c: &Config) -> Vec<String> {
    match HttpOptions::from_config(c) {
        Ok(o) => check(&o),
        Err(e) => vec![e],
    }
}

fn check(o: &HttpOptions) -> Vec<String> {
    let u = &o.url;
    if u.is_empty() {
        vec!["the `url` must be specified".into()]
    } else if !(u.starts_with("http://")
        || u.starts_with("https://")
        || u.contains(crate::plugin::UNKNOWN))
    {
        vec![format!("url {u:?} must be an http:// or https:// URL")]
    } else {
        Vec::new()
    }
}

/// Whether a Content-Type is text Packer hands on without a warning.
fn is_text(content_type: &str) -> bool {
    let t = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    t.starts_with("text/")
        || t == "application/json"
        || t.ends_with("+json")
        || t == "application/xml"
        || t.ends_with("+xml")
        || t == "application/x-yaml"
        || t == "application/yaml"
}

pub fn execute(c: &Config) -> Result<Value, String> {
    let HttpOptions {
        url,
        request_headers: headers,
    } = HttpOptions::from_config(c)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(&url);
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let mut resp = req
        .call()
        .map_err(|e| format!("HTTP request error: {url}: {e}"))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(format!(
            "HTTP request error. Response code: {status} ({url})"
        ));
    }
    let mut response_headers = Attrs::new();
    for (name, value) in resp.headers() {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let key = canonical(name.as_str());
        // Repeated headers are joined, as Go's Header map holds them.
        match response_headers.get_mut(&key) {
            Some(Value::String(s)) => {
                s.push_str(", ");
                s.push_str(&v);
            }
            _ => {
                response_headers.insert(key, Value::String(v));
            }
        }
    }
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if !is_text(&content_type) {
        crate::ui::warn(&format!("data \"http\": Content-Type is not recognized as a text type, got {content_type:?} ({url}); if the content is binary data, it may not be handled properly"));
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| format!("HTTP request error: {url}: reading the body: {e}"))?;
    let mut out: Attrs = c.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    out.insert("url".into(), Value::String(url));
    out.insert(
        "request_headers".into(),
        Value::Map(
            headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        ),
    );
    out.insert("body".into(), Value::String(body));
    out.insert("response_headers".into(), Value::Map(response_headers));
    Ok(Value::Object(out))
}

/// A header name as Go's `http.CanonicalHeaderKey` writes it
/// (`content-type` → `Content-Type`), the keys Packer's map has.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_and_text_types() {
        assert_eq!(super::canonical("content-type"), "Content-Type");
        assert_eq!(super::canonical("x-request-id"), "X-Request-Id");
        assert!(super::is_text("text/plain; charset=utf-8"));
        assert!(super::is_text("application/json"));
        assert!(!super::is_text("application/octet-stream"));
        assert!(!super::is_text(""));
    }
}

//! JSON answers written as Orthanc writes them: keys sorted, 3-space indentation,
//! `"key" : value`, and every non-ASCII character escaped as `\uXXXX`.

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A JSON answer (`application/json; charset=utf-8`).
pub struct Json(pub Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        let mut body = String::new();
        write_pretty(&self.0, 0, &mut body);
        body.push('\n');
        let mut r = body.into_response();
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        r
    }
}

fn escape_into(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Compact JSON with non-ASCII characters escaped.
pub fn to_ascii_json(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::String(s) => escape_into(s, &mut out),
        other => out.push_str(&other.to_string()),
    }
    out
}

fn indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str("   ");
    }
}

fn write_pretty(v: &Value, level: usize, out: &mut String) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                indent(level + 1, out);
                escape_into(k, out);
                out.push_str(" : ");
                let child = &map[k.as_str()];
                if matches!(child, Value::Object(m) if !m.is_empty())
                    || matches!(child, Value::Array(a) if !a.is_empty())
                {
                    out.push('\n');
                    indent(level + 1, out);
                }
                write_pretty(child, level + 1, out);
                if i + 1 < keys.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(level, out);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(level + 1, out);
                write_pretty(item, level + 1, out);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(level, out);
            out.push(']');
        }
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
        Value::String(s) => escape_into(s, out),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthanc_style() {
        let v = serde_json::json!({"b": [1, "é"], "a": {"x": null}, "c": []});
        let mut s = String::new();
        write_pretty(&v, 0, &mut s);
        assert_eq!(
            s,
            "{\n   \"a\" : \n   {\n      \"x\" : null\n   },\n   \"b\" : \n   [\n      1,\n      \"\\u00e9\"\n   ],\n   \"c\" : []\n}"
        );
        let back: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}

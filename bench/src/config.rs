//! `config`: turns an Orthanc-style configuration (JSON with `//` and `/* */`
//! comments, as written by `Orthanc --config=FILE`) into plain JSON with some
//! keys set, e.g. `config IN OUT HttpPort=8043 RemoteAccessAllowed=true`.

use serde_json::Value;

/// Removes comments outside of strings.
pub fn strip_comments(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1]);
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
        } else if c == b'"' {
            in_str = true;
            out.push(c);
            i += 1;
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn run(pos: &[String]) -> Result<(), String> {
    let [input, output, sets @ ..] = pos else {
        return Err("usage: stowage-bench config IN OUT [KEY=VALUE]...".into());
    };
    let text = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
    let mut v: Value = serde_json::from_str(&strip_comments(&text))
        .map_err(|e| format!("{input}: not JSON after removing comments: {e}"))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| format!("{input}: not a JSON object"))?;
    for s in sets {
        let (k, val) = s
            .split_once('=')
            .ok_or_else(|| format!("expected KEY=VALUE, got {s}"))?;
        let val = serde_json::from_str(val).unwrap_or_else(|_| Value::String(val.to_string()));
        obj.insert(k.to_string(), val);
    }
    let pretty = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
    std::fs::write(output, pretty + "\n").map_err(|e| format!("{output}: {e}"))
}

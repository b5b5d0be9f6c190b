//! HTTP: the client of the tests (one connection per request), the requests of [`Server`],
//! the answers ([`Resp`]) and small readers of their JSON.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Duration;

use serde_json::{json, Value};

use super::corpus::Sample;
use super::server::Server;

pub(super) fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .max_idle_connections(0)
        .timeout(Duration::from_secs(60))
        .build()
}

impl Server {
    /// POST that returns `None` on a transport error (server gone).
    pub fn try_post(&self, path: &str, body: &[u8]) -> Option<Resp> {
        let mut req = agent().post(&self.url(path));
        if let Some(a) = &self.auth {
            req = req.set("Authorization", a);
        }
        match req.send_bytes(body) {
            Ok(r) => Some(Resp::from_ureq("POST", path, Ok(r))),
            Err(ureq::Error::Status(c, r)) => Some(Resp::from_ureq(
                "POST",
                path,
                Err(ureq::Error::Status(c, r)),
            )),
            Err(_) => None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
        self.request_with(method, path, body, &[])
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        // ureq's error type is large; it is only passed along once here.
        #[allow(clippy::result_large_err)]
        let send = || {
            let mut req = agent().request(method, &self.url(path));
            if let Some(a) = &self.auth {
                req = req.set("Authorization", a);
            }
            for (k, v) in headers {
                req = req.set(k, v);
            }
            match body {
                Some(b) => req.send_bytes(b),
                None => req.call(),
            }
        };
        let mut r = send();
        // A connection closed before any answer (seen once in CI on a loaded machine) is retried
        // once, if the server is still running: every request of these tests may be repeated.
        // A crashed server still fails the test (the retry cannot connect).
        if matches!(&r, Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::Io) {
            eprintln!("{method} {path}: connection closed without an answer, retrying once");
            r = send();
        }
        Resp::from_ureq(method, path, r)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None)
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, None)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Resp {
        self.request("POST", path, Some(body))
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.request_with(
            "POST",
            path,
            Some(body.to_string().as_bytes()),
            &[("Content-Type", "application/json")],
        )
    }

    /// GET that must answer 200 with JSON.
    pub fn get_json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        r.json()
    }

    /// Uploads a DICOM file, expects 200 and returns the answer.
    pub fn upload(&self, bytes: &[u8]) -> Value {
        let r = self.post("/instances", bytes);
        assert_eq!(r.status, 200, "upload: {}", r.text());
        r.json()
    }

    pub fn upload_all(&self, corpus: &[Sample]) {
        for s in corpus {
            let a = self.upload(&s.bytes);
            assert_eq!(a["ID"], s.instance_id(), "{}", s.name);
            assert_eq!(a["Status"], "Success", "{}", s.name);
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    fn from_ureq(method: &str, path: &str, r: Result<ureq::Response, ureq::Error>) -> Resp {
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: transport error {e}"),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or("").to_owned();
                (n, v)
            })
            .collect();
        let mut body = Vec::new();
        resp.into_reader()
            .read_to_end(&mut body)
            .expect("read body");
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    /// Checks Orthanc's JSON error body.
    pub fn assert_orthanc_error(
        &self,
        http: u16,
        orthanc_status: i64,
        message: &str,
        method: &str,
        uri: &str,
    ) {
        assert_eq!(self.status, http, "body: {}", self.text());
        let j = self.json();
        assert_eq!(j["HttpStatus"], json!(http), "{j}");
        assert_eq!(j["OrthancStatus"], json!(orthanc_status), "{j}");
        assert_eq!(j["Message"], json!(message), "{j}");
        assert_eq!(j["OrthancError"], json!(message), "{j}");
        assert_eq!(j["Method"], json!(method), "{j}");
        assert_eq!(j["Uri"], json!(uri), "{j}");
        assert!(j["HttpError"].is_string(), "{j}");
    }
}

pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

pub fn set_of(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

pub fn to_set<I: IntoIterator<Item = String>>(i: I) -> BTreeSet<String> {
    i.into_iter().collect()
}

/// Stats JSON numbers come as strings ("123") for sizes.
pub fn size_field(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        Value::Number(n) => n.as_u64().unwrap(),
        other => panic!("bad size field {other}"),
    }
}

//! Shared helpers: argument parsing, HTTP client, statistics, output.

use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

/// `--key value` options and `--flag` switches.
pub struct Args {
    map: HashMap<String, String>,
    pub positional: Vec<String>,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut map = HashMap::new();
        let mut positional = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if let Some(k) = a.strip_prefix("--") {
                if let Some((k, v)) = k.split_once('=') {
                    map.insert(k.to_string(), v.to_string());
                } else if i + 1 < args.len() && !args[i + 1].starts_with("--") {
                    map.insert(k.to_string(), args[i + 1].clone());
                    i += 1;
                } else {
                    map.insert(k.to_string(), "true".to_string());
                }
            } else {
                positional.push(a.clone());
            }
            i += 1;
        }
        Ok(Args { map, positional })
    }

    pub fn str(&self, k: &str, default: &str) -> String {
        self.map
            .get(k)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    pub fn opt(&self, k: &str) -> Option<String> {
        self.map.get(k).cloned()
    }

    pub fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        match self.map.get(k) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{k}: not a valid number: {v}")),
        }
    }

    pub fn flag(&self, k: &str) -> bool {
        self.map.get(k).is_some_and(|v| v != "false")
    }
}

/// One HTTP client shared by all worker threads (keep-alive connections).
pub fn agent(concurrency: usize) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(300))
        .max_idle_connections(concurrency.max(1) * 2)
        .max_idle_connections_per_host(concurrency.max(1) * 2)
        .build()
}

/// Outcome of one request: HTTP status (0 for transport errors) and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn finish(r: Result<ureq::Response, ureq::Error>) -> Reply {
    let resp = match r {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => {
            return Reply {
                status: 0,
                body: e.to_string().into_bytes(),
            }
        }
    };
    let status = resp.status();
    let mut body = Vec::new();
    // Reading the whole body lets ureq reuse the connection.
    if let Err(e) = resp.into_reader().read_to_end(&mut body) {
        return Reply {
            status: 0,
            body: e.to_string().into_bytes(),
        };
    }
    Reply { status, body }
}

pub fn get(agent: &ureq::Agent, url: &str) -> Reply {
    finish(agent.get(url).call())
}

pub fn post(agent: &ureq::Agent, url: &str, content_type: &str, body: &[u8]) -> Reply {
    finish(
        agent
            .post(url)
            .set("Content-Type", content_type)
            .send_bytes(body),
    )
}

pub fn put(agent: &ureq::Agent, url: &str, body: &[u8]) -> Reply {
    finish(agent.put(url).send_bytes(body))
}

pub fn post_json(agent: &ureq::Agent, url: &str, body: &Value) -> Reply {
    post(agent, url, "application/json", body.to_string().as_bytes())
}

/// Latency summary, in milliseconds, of samples given in microseconds.
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn summarize(samples_us: &mut [u64]) -> Summary {
    samples_us.sort_unstable();
    let n = samples_us.len();
    let pct = |p: f64| -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        // Nearest-rank percentile.
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        samples_us[rank.clamp(1, n) - 1] as f64 / 1000.0
    };
    Summary {
        count: n,
        mean: if n == 0 {
            f64::NAN
        } else {
            samples_us.iter().sum::<u64>() as f64 / n as f64 / 1000.0
        },
        p50: pct(50.0),
        p95: pct(95.0),
        p99: pct(99.0),
        max: pct(100.0),
    }
}

impl Summary {
    pub fn json(&self) -> Value {
        serde_json::json!({
            "count": self.count,
            "mean_ms": round3(self.mean),
            "p50_ms": round3(self.p50),
            "p95_ms": round3(self.p95),
            "p99_ms": round3(self.p99),
            "max_ms": round3(self.max),
        })
    }
}

pub fn round3(x: f64) -> Value {
    if x.is_finite() {
        serde_json::json!((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// Prints the machine-readable result: one line of JSON, starting with `{`.
/// `table` rows (metric, value) feed the side-by-side `report` subcommand.
pub fn emit(bench: &str, label: &str, url: &str, detail: Value, table: Vec<(String, String)>) {
    let rows: Vec<Value> = table
        .into_iter()
        .map(|(k, v)| Value::Array(vec![Value::String(k), Value::String(v)]))
        .collect();
    let line = serde_json::json!({
        "bench": bench,
        "label": label,
        "url": url,
        "detail": detail,
        "table": rows,
    });
    println!("{line}");
}

pub fn trim_url(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

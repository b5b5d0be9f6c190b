//! CPU accounting from /proc (Linux): the server's, this client's and the rest
//! of the machine's CPU time over a timed window, to tell how busy the machine
//! was with other work during a measurement.

use serde_json::{json, Value};

const TICK: f64 = 100.0; // USER_HZ on Linux

fn proc_ticks(path: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle, total))
}

#[derive(Clone, Copy)]
pub struct Snap {
    server: Option<u64>,
    db: Option<u64>,
    client: Option<u64>,
    machine: Option<(u64, u64)>,
}

pub fn snap(server_pid: Option<u32>) -> Snap {
    snap_many(&server_pid.into_iter().collect::<Vec<_>>(), None)
}

/// CPU ticks of all live processes whose command name is `comm` (e.g. "postgres").
fn comm_ticks(comm: &str) -> Option<u64> {
    let mut total = 0;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let c = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if c.trim_end() == comm {
            total += proc_ticks(&format!("/proc/{pid}/stat")).unwrap_or(0);
        }
    }
    Some(total)
}

/// Like `snap`, with several server processes (their CPU time is summed) and
/// optionally a database whose processes are named `db_comm`, counted apart
/// from "other processes" (processes that exit in between are not counted).
pub fn snap_many(server_pids: &[u32], db_comm: Option<&str>) -> Snap {
    let server = if server_pids.is_empty() {
        None
    } else {
        server_pids
            .iter()
            .map(|p| proc_ticks(&format!("/proc/{p}/stat")))
            .sum::<Option<u64>>()
    };
    Snap {
        server,
        db: db_comm.and_then(comm_ticks),
        client: proc_ticks("/proc/self/stat"),
        machine: machine_ticks(),
    }
}

pub struct Usage {
    pub server_s: Option<f64>,
    pub db_s: Option<f64>,
    pub client_s: Option<f64>,
    pub other_s: Option<f64>,
    pub capacity_s: Option<f64>,
}

pub fn usage(a: Snap, b: Snap) -> Usage {
    let d = |x: Option<u64>, y: Option<u64>| Some((y? as f64 - x? as f64) / TICK);
    let server_s = d(a.server, b.server);
    let client_s = d(a.client, b.client);
    let db_s = d(a.db, b.db).map(|x| x.max(0.0));
    let (busy, total) = match (a.machine, b.machine) {
        (Some(x), Some(y)) => (
            Some((y.0 - x.0) as f64 / TICK),
            Some((y.1 - x.1) as f64 / TICK),
        ),
        _ => (None, None),
    };
    let other_s = busy.map(|b| {
        (b - server_s.unwrap_or(0.0) - client_s.unwrap_or(0.0) - db_s.unwrap_or(0.0)).max(0.0)
    });
    Usage {
        server_s,
        db_s,
        client_s,
        other_s,
        capacity_s: total,
    }
}

impl Usage {
    pub fn json(&self) -> Value {
        let r = |x: Option<f64>| x.map(crate::util::round3).unwrap_or(Value::Null);
        json!({"server_cpu_s": r(self.server_s), "db_cpu_s": r(self.db_s), "client_cpu_s": r(self.client_s),
               "other_cpu_s": r(self.other_s), "cpu_capacity_s": r(self.capacity_s)})
    }

    /// One human-readable line.
    pub fn line(&self, wall: f64) -> String {
        let f = |x: Option<f64>| match x {
            Some(v) => format!("{v:.1}s ({:.0}% of a core)", v / wall * 100.0),
            None => "?".into(),
        };
        let db = match self.db_s {
            Some(_) => format!(", database {}", f(self.db_s)),
            None => String::new(),
        };
        format!(
            "cpu over {wall:.1}s: server {}, client {}{db}, other processes {}",
            f(self.server_s),
            f(self.client_s),
            f(self.other_s)
        )
    }

    /// "other processes" share of the machine, for the table.
    pub fn other_pct(&self) -> String {
        match (self.other_s, self.capacity_s) {
            (Some(o), Some(c)) if c > 0.0 => format!("{:.0}%", o / c * 100.0),
            _ => "?".into(),
        }
    }
}

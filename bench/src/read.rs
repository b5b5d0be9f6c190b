//! `read`: GET throughput and latency on stored resources.

use crate::gen::mix;
use crate::util::{self, Args};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

fn ids(agent: &ureq::Agent, url: &str, level: &str) -> Result<Vec<String>, String> {
    let r = util::post_json(
        agent,
        &format!("{url}/tools/find"),
        &json!({"Level": level, "Query": {}, "Limit": 2000}),
    );
    let v: Vec<String> = r
        .json()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|x| x.as_str().map(String::from))
        .collect();
    if v.is_empty() {
        return Err(format!(
            "no {level} on the server (HTTP {}); run ingest first",
            r.status
        ));
    }
    Ok(v)
}

pub fn run(args: &Args) -> Result<(), String> {
    let url = util::trim_url(&args.str("url", "http://127.0.0.1:8042"));
    let label = args.str("label", "server");
    let n: usize = args.num("requests", 2000)?;
    let conc: usize = args.num("concurrency", 1)?.max(1);
    let only = args.opt("kinds");
    let agent = util::agent(conc);
    let studies = ids(&agent, &url, "Study")?;
    let instances = ids(&agent, &url, "Instance")?;
    let kinds: Vec<(&str, &Vec<String>, &str, usize)> = vec![
        ("GET /studies/{id}", &studies, "/studies/", n),
        (
            "GET /instances/{id}/tags?simplify",
            &instances,
            "/instances/",
            n,
        ),
        ("GET /instances/{id}/file", &instances, "/instances/", n),
        ("GET /studies?expand", &studies, "", (n / 100).clamp(3, 20)),
    ];
    let name = args.str("name", &format!("read c={conc}"));
    let server_pid: Option<u32> = args.opt("server-pid").and_then(|p| p.parse().ok());
    let cpu0 = crate::cpu::snap(server_pid);
    let all = Instant::now();
    let mut details = Vec::new();
    let mut table = Vec::new();
    for (kind, pool, prefix, count) in kinds {
        if let Some(o) = &only {
            if !o.split(',').any(|w| kind.contains(w.trim())) {
                continue;
            }
        }
        let make = |i: usize| -> String {
            let id = &pool[(mix(i as u64) % pool.len() as u64) as usize];
            match kind {
                "GET /studies/{id}" => format!("{url}{prefix}{id}"),
                "GET /instances/{id}/tags?simplify" => format!("{url}{prefix}{id}/tags?simplify"),
                "GET /instances/{id}/file" => format!("{url}{prefix}{id}/file"),
                _ => format!("{url}/studies?expand"),
            }
        };
        // Warm-up (also fills the OS page cache the same way for both servers).
        for i in 0..3 {
            util::get(&agent, &make(i + 1_000_000));
        }
        let next = AtomicUsize::new(0);
        let acc = Mutex::new((Vec::with_capacity(count), 0usize, 0usize));
        let start = Instant::now();
        std::thread::scope(|sc| {
            for _ in 0..conc {
                sc.spawn(|| {
                    let (mut lat, mut bytes, mut errs) = (Vec::new(), 0usize, 0usize);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let u = make(i);
                        let t = Instant::now();
                        let r = util::get(&agent, &u);
                        lat.push(t.elapsed().as_micros() as u64);
                        if r.ok() {
                            bytes += r.body.len();
                        } else {
                            errs += 1;
                        }
                    }
                    let mut g = acc.lock().unwrap();
                    g.0.extend(lat);
                    g.1 += bytes;
                    g.2 += errs;
                });
            }
        });
        let wall = start.elapsed().as_secs_f64();
        let (mut lat, bytes, errs) = acc.into_inner().unwrap();
        let sum = util::summarize(&mut lat);
        let rps = count as f64 / wall;
        let mbs = bytes as f64 / wall / 1e6;
        println!(
            "[{label}] read c={conc} {kind:<36} {rps:8.0} req/s {mbs:8.1} MB/s; p50 {:.2} p95 {:.2} p99 {:.2} ms; {errs} errors",
            sum.p50, sum.p95, sum.p99
        );
        details.push(json!({
            "kind": kind, "requests": count, "concurrency": conc, "errors": errs,
            "req_per_s": util::round3(rps), "mb_per_s": util::round3(mbs), "latency": sum.json(),
        }));
        table.push((
            format!("{name} {kind}: req/s; p50 / p95 ms"),
            format!(
                "{rps:.0}; {:.2} / {:.2}{}",
                sum.p50,
                sum.p95,
                if errs > 0 {
                    format!(" {errs} ERR")
                } else {
                    String::new()
                }
            ),
        ));
    }
    let wall = all.elapsed().as_secs_f64();
    let cpu = crate::cpu::usage(cpu0, crate::cpu::snap(server_pid));
    println!("[{label}] {}", cpu.line(wall));
    table.push((
        format!("{name}: CPU used by other processes"),
        cpu.other_pct(),
    ));
    util::emit(
        "read",
        &label,
        &url,
        json!({"kinds": details, "cpu": cpu.json()}),
        table,
    );
    Ok(())
}

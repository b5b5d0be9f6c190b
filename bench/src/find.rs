//! `find`: /tools/find latency for several query kinds, on whatever data the
//! server holds (values are sampled from the server first).

use crate::gen::mix;
use crate::util::{self, Args};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

struct Samples {
    patient_ids: Vec<String>,
    name_prefixes: Vec<String>,
    years: Vec<String>,
    study_ids: Vec<String>,
}

fn tag(v: &Value, group: &str, name: &str) -> Option<String> {
    v.get(group)?
        .get(name)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn sample(agent: &ureq::Agent, url: &str) -> Result<Samples, String> {
    let r = util::post_json(
        agent,
        &format!("{url}/tools/find"),
        &json!({"Level": "Study", "Query": {}, "Expand": true, "Limit": 1000}),
    );
    if !r.ok() {
        return Err(format!(
            "sampling studies failed: HTTP {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    let studies = r
        .json()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let mut s = Samples {
        patient_ids: Vec::new(),
        name_prefixes: Vec::new(),
        years: Vec::new(),
        study_ids: Vec::new(),
    };
    for st in &studies {
        if let Some(id) = st.get("ID").and_then(|v| v.as_str()) {
            s.study_ids.push(id.to_string());
        }
        if let Some(id) = tag(st, "PatientMainDicomTags", "PatientID") {
            s.patient_ids.push(id);
        }
        if let Some(n) = tag(st, "PatientMainDicomTags", "PatientName") {
            let p: String = n.chars().take(2).collect();
            if p.len() == 2 {
                s.name_prefixes.push(p);
            }
        }
        if let Some(d) = tag(st, "MainDicomTags", "StudyDate") {
            if d.len() >= 4 {
                s.years.push(d[..4].to_string());
            }
        }
    }
    for v in [&mut s.patient_ids, &mut s.name_prefixes, &mut s.years] {
        v.sort();
        v.dedup();
        if v.is_empty() {
            return Err("the server holds no studies with PatientID, PatientName and StudyDate; run ingest first".into());
        }
    }
    Ok(s)
}

type QueryFn = Box<dyn Fn(u64) -> Value + Sync>;

pub fn run(args: &Args) -> Result<(), String> {
    let url = util::trim_url(&args.str("url", "http://127.0.0.1:8042"));
    let label = args.str("label", "server");
    let n: usize = args.num("requests", 200)?;
    let conc: usize = args.num("concurrency", 1)?.max(1);
    let warmup: usize = args.num("warmup", 5)?;
    let only = args.opt("kinds");
    let agent = util::agent(conc);
    let stats = util::get(&agent, &format!("{url}/statistics"));
    let counts = stats.json().map(|v| {
        format!(
            "{} patients, {} studies, {} series, {} instances",
            v["CountPatients"], v["CountStudies"], v["CountSeries"], v["CountInstances"]
        )
    });
    let s = sample(&agent, &url)?;
    println!(
        "[{label}] find: server holds {}; sampled {} patient ids, {} name prefixes, {} years",
        counts.clone().unwrap_or_else(|| "?".into()),
        s.patient_ids.len(),
        s.name_prefixes.len(),
        s.years.len()
    );
    let pick = |v: &Vec<String>, k: u64| v[(mix(k) % v.len() as u64) as usize].clone();
    let (ids, names, years) = (
        s.patient_ids.clone(),
        s.name_prefixes.clone(),
        s.years.clone(),
    );
    let mut kinds: Vec<(&str, QueryFn)> = Vec::new();
    kinds.push((
        "PatientID exact",
        Box::new(move |k| json!({"Level": "Study", "Query": {"PatientID": pick(&ids, k)}})),
    ));
    kinds.push((
        "PatientName XX*",
        Box::new(move |k| {
            json!({"Level": "Study", "Query": {"PatientName": format!("{}*", pick(&names, k))}})
        }),
    ));
    kinds.push((
        "StudyDate 1-year range",
        Box::new(move |k| {
            let y = pick(&years, k);
            json!({"Level": "Study", "Query": {"StudyDate": format!("{y}0101-{y}1231")}})
        }),
    ));
    kinds.push((
        "ModalitiesInStudy MR\\PT",
        Box::new(|_| json!({"Level": "Study", "Query": {"ModalitiesInStudy": "MR\\PT"}})),
    ));
    kinds.push((
        "Series Modality MR\\PT, Limit 100",
        Box::new(|_| json!({"Level": "Series", "Query": {"Modality": "MR\\PT"}, "Limit": 100})),
    ));

    // Labels (Orthanc >= 1.12 API): opt-in with `--kinds ...,Labels`. Every 10th
    // sampled study gets label bench_a, every 50th bench_b (PUT
    // /studies/{id}/labels/{label}, idempotent), then studies carrying either are
    // looked up with LabelsConstraint Any.
    let want = |k: &str| {
        only.as_ref()
            .is_some_and(|o| o.split(',').any(|w| k.contains(w.trim())))
    };
    if want("Labels Any") {
        let mut put = 0;
        for (k, id) in s.study_ids.iter().enumerate() {
            for (every, lab) in [(10, "bench_a"), (50, "bench_b")] {
                if k % every == 0 {
                    let r = util::put(&agent, &format!("{url}/studies/{id}/labels/{lab}"), b"");
                    if !r.ok() {
                        return Err(format!(
                            "PUT label failed: HTTP {} {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        ));
                    }
                    put += 1;
                }
            }
        }
        println!(
            "[{label}] find: put {put} labels on {} sampled studies",
            s.study_ids.len()
        );
        kinds.push((
            "Labels Any [bench_a, bench_b]",
            Box::new(|_| {
                json!({"Level": "Study", "Query": {}, "Labels": ["bench_a", "bench_b"],
                       "LabelsConstraint": "Any"})
            }),
        ));
    }

    let endpoint = format!("{url}/tools/find");
    let server_pids: Vec<u32> = args
        .opt("server-pid")
        .and_then(|p| p.parse().ok())
        .into_iter()
        .collect();
    let db_comm = args.opt("db-comm");
    let snap = || crate::cpu::snap_many(&server_pids, db_comm.as_deref());
    let cpu0 = snap();
    let all = Instant::now();
    let mut details = Vec::new();
    let mut table = Vec::new();
    let name = args.str("name", "find");
    for (kind, q) in &kinds {
        for expand in [false, true] {
            let full = format!("{kind}{}", if expand { " +Expand" } else { "" });
            if let Some(o) = &only {
                if !o.split(',').any(|w| full.contains(w.trim())) {
                    continue;
                }
            }
            let query = |k: u64| {
                let mut v = q(k);
                v["Expand"] = json!(expand);
                v
            };
            for w in 0..warmup {
                util::post_json(&agent, &endpoint, &query(w as u64 + 1_000_000));
            }
            let next = AtomicUsize::new(0);
            let acc = Mutex::new((Vec::with_capacity(n), 0usize, 0usize, None::<String>));
            let start = Instant::now();
            std::thread::scope(|sc| {
                for _ in 0..conc {
                    sc.spawn(|| {
                        let mut lat = Vec::new();
                        let (mut results, mut errs, mut first) = (0usize, 0usize, None);
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= n {
                                break;
                            }
                            let body = query(i as u64);
                            let t = Instant::now();
                            let r = util::post_json(&agent, &endpoint, &body);
                            lat.push(t.elapsed().as_micros() as u64);
                            match r.json().and_then(|v| v.as_array().map(|a| a.len())) {
                                Some(c) if r.ok() => results += c,
                                _ => {
                                    errs += 1;
                                    if first.is_none() {
                                        first = Some(format!(
                                            "HTTP {}: {}",
                                            r.status,
                                            String::from_utf8_lossy(
                                                &r.body[..r.body.len().min(300)]
                                            )
                                        ));
                                    }
                                }
                            }
                        }
                        let mut g = acc.lock().unwrap();
                        g.0.extend(lat);
                        g.1 += results;
                        g.2 += errs;
                        if g.3.is_none() {
                            g.3 = first;
                        }
                    });
                }
            });
            let wall = start.elapsed().as_secs_f64();
            let (mut lat, results, errs, first) = acc.into_inner().unwrap();
            let sum = util::summarize(&mut lat);
            let mean_results = results as f64 / (n - errs).max(1) as f64;
            println!(
                "[{label}] find {full:<42} p50 {:7.2} p95 {:7.2} p99 {:7.2} max {:7.2} ms; \
                 {:.1} results/query; {:.0} req/s; {errs} errors",
                sum.p50,
                sum.p95,
                sum.p99,
                sum.max,
                mean_results,
                n as f64 / wall
            );
            if let Some(e) = first {
                println!("[{label}]   first error: {e}");
            }
            details.push(json!({
                "kind": full, "expand": expand, "requests": n, "concurrency": conc,
                "errors": errs, "mean_results": util::round3(mean_results),
                "req_per_s": util::round3(n as f64 / wall), "latency": sum.json(),
            }));
            table.push((
                format!("{name} {full}: p50 / p95 / p99 ms (results)"),
                format!(
                    "{:.2} / {:.2} / {:.2} ({:.0}){}",
                    sum.p50,
                    sum.p95,
                    sum.p99,
                    mean_results,
                    if errs > 0 {
                        format!(" {errs} ERR")
                    } else {
                        String::new()
                    }
                ),
            ));
        }
    }
    let wall = all.elapsed().as_secs_f64();
    let cpu = crate::cpu::usage(cpu0, snap());
    println!("[{label}] {}", cpu.line(wall));
    table.push((
        format!("{name}: CPU used by other processes"),
        cpu.other_pct(),
    ));
    util::emit(
        "find",
        &label,
        &url,
        json!({"counts": counts, "kinds": details, "cpu": cpu.json()}),
        table,
    );
    Ok(())
}

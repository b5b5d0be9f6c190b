//! `ingest`: POST synthetic instances to /instances from C threads.

use crate::gen::{self, Layout};
use crate::poster::Poster;
use crate::util::{self, Args};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub fn run(args: &Args) -> Result<(), String> {
    // --url may list several servers (comma-separated, e.g. processes sharing one
    // PostgreSQL index): C threads per server then share one queue of instances.
    let url = args
        .str("url", "http://127.0.0.1:8042")
        .split(',')
        .map(util::trim_url)
        .collect::<Vec<_>>()
        .join(",");
    let label = args.str("label", "server");
    let n: usize = args.num("instances", 2000)?;
    let conc: usize = args.num("concurrency", 1)?.max(1);
    let layout = Layout {
        run_id: args.num("run-id", gen::default_run_id())?,
        instances: n,
        studies_per_patient: args.num("studies-per-patient", 2)?.max(1),
        series_per_study: args.num("series-per-study", 2)?.max(1),
        instances_per_series: args.num("instances-per-series", 10)?.max(1),
        target_bytes: args.num::<usize>("size-kb", 132)? * 1024,
        phantom: match args.str("pixels", "gradient").as_str() {
            "gradient" => false,
            "phantom" | "ct" => true,
            other => return Err(format!("--pixels: gradient or phantom, not {other}")),
        },
    };
    if let Some(p) = args.opt("patients") {
        // --patients P overrides the per-series count so that N fits P patients.
        let p: usize = p.parse().map_err(|_| "--patients: not a number")?;
        let per_patient = n.div_ceil(p.max(1));
        let per_series_group = layout.studies_per_patient * layout.series_per_study;
        let ips = per_patient.div_ceil(per_series_group).max(1);
        return run_with(
            args,
            &url,
            &label,
            conc,
            Layout {
                instances_per_series: ips,
                ..layout
            },
        );
    }
    run_with(args, &url, &label, conc, layout)
}

fn run_with(args: &Args, url: &str, label: &str, conc: usize, l: Layout) -> Result<(), String> {
    let n = l.instances;
    let t0 = Instant::now();
    let (cols, pixels) = gen::pixels_for(&l);
    let files: Vec<Vec<u8>> = (0..n)
        .map(|i| gen::instance(&l, i, cols, &pixels))
        .collect();
    let total_bytes: usize = files.iter().map(|f| f.len()).sum();
    let avg_kb = total_bytes as f64 / n.max(1) as f64 / 1024.0;
    println!(
        "[{label}] ingest: generated {n} instances ({} patients, {} studies, {avg_kb:.1} KiB each, run id {}) in {:.2}s",
        l.patients(),
        n.div_ceil(l.series_per_study * l.instances_per_series),
        l.run_id,
        t0.elapsed().as_secs_f64()
    );

    let urls: Vec<&str> = url.split(',').collect();
    let next = AtomicUsize::new(0);
    let per_url = Mutex::new(vec![0usize; urls.len()]);
    let results = Mutex::new((Vec::<u64>::with_capacity(n), 0usize, 0usize, 0usize, 0usize));
    let first_error = Mutex::new(None::<String>);
    let endpoints: Vec<String> = urls.iter().map(|u| format!("{u}/instances")).collect();
    let server_pids: Vec<u32> = args
        .str("server-pid", "")
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();
    let db_comm = args.opt("db-comm");
    let snap = || crate::cpu::snap_many(&server_pids, db_comm.as_deref());
    let cpu0 = snap();
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..conc * urls.len() {
            let nurl = urls.len();
            let endpoint = &endpoints[t % nurl];
            let (per_url, next, results, first_error, files) =
                (&per_url, &next, &results, &first_error, &files);
            s.spawn(move || {
                let mut poster = match Poster::new(endpoint) {
                    Ok(p) => p,
                    Err(e) => {
                        first_error.lock().unwrap().get_or_insert(e);
                        return;
                    }
                };
                let mut lat = Vec::new();
                let (mut ok, mut already, mut err, mut bytes) = (0, 0, 0, 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let t = Instant::now();
                    let r = poster.post("application/dicom", &files[i]);
                    lat.push(t.elapsed().as_micros() as u64);
                    let status = r
                        .json()
                        .and_then(|v| v.get("Status").and_then(|s| s.as_str().map(String::from)));
                    match (r.ok(), status.as_deref()) {
                        (true, Some("AlreadyStored")) => already += 1,
                        (true, _) => {
                            ok += 1;
                            bytes += files[i].len();
                        }
                        _ => {
                            err += 1;
                            let mut fe = first_error.lock().unwrap();
                            if fe.is_none() {
                                *fe = Some(format!(
                                    "HTTP {}: {}",
                                    r.status,
                                    String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
                                ));
                            }
                        }
                    }
                }
                per_url.lock().unwrap()[t % nurl] += ok;
                let mut g = results.lock().unwrap();
                g.0.extend(lat);
                g.1 += ok;
                g.2 += already;
                g.3 += err;
                g.4 += bytes;
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let cpu = crate::cpu::usage(cpu0, snap());
    let per_url = per_url.into_inner().unwrap();
    let (mut lat, ok, already, err, bytes) = results.into_inner().unwrap();
    let sum = util::summarize(&mut lat);
    let ips = ok as f64 / wall;
    let mbs = bytes as f64 / wall / 1e6;
    println!(
        "[{label}] ingest c={conc}: {ok} stored, {already} already stored, {err} errors in {wall:.2}s \
         => {ips:.1} instances/s, {mbs:.1} MB/s; latency ms p50 {:.2} p95 {:.2} p99 {:.2} max {:.2}",
        sum.p50, sum.p95, sum.p99, sum.max
    );
    if urls.len() > 1 {
        println!(
            "[{label}] {} servers, c={conc} each; stored per server: {per_url:?}",
            urls.len()
        );
    }
    println!("[{label}] {}", cpu.line(wall));
    if let Some(e) = first_error.into_inner().unwrap() {
        println!("[{label}] first error: {e}");
    }
    let detail = json!({
        "instances": n, "concurrency": conc, "stored": ok, "already_stored": already,
        "errors": err, "seconds": util::round3(wall), "instances_per_s": util::round3(ips),
        "mb_per_s": util::round3(mbs), "avg_file_bytes": total_bytes / n.max(1),
        "patients": l.patients(), "run_id": l.run_id, "latency": sum.json(),
        "servers": urls.len(), "stored_per_server": per_url, "pixels": if l.phantom { "phantom" } else { "gradient" },
        "cpu": cpu.json(),
    });
    let default_name = if urls.len() > 1 {
        format!("ingest {} servers x c={conc}", urls.len())
    } else {
        format!("ingest c={conc}")
    };
    let name = args.str("name", &default_name);
    let mut table = vec![
        (format!("{name} (instances/s)"), format!("{ips:.0}")),
        (format!("{name} (MB/s)"), format!("{mbs:.1}")),
        (
            format!("{name} latency p50 / p95 (ms)"),
            format!("{:.2} / {:.2}", sum.p50, sum.p95),
        ),
    ];
    if let Some(sv) = cpu.server_s {
        table.push((
            format!("{name} server CPU per stored instance (ms)"),
            format!("{:.2}", sv * 1000.0 / ok.max(1) as f64),
        ));
    }
    table.push((
        format!("{name} CPU used by other processes"),
        cpu.other_pct(),
    ));
    if err > 0 {
        table.push((format!("{name} errors"), format!("{err}")));
    }
    if let Some(db) = cpu.db_s {
        table.push((
            format!("{name} database CPU per stored instance (ms)"),
            format!("{:.2}", db * 1000.0 / ok.max(1) as f64),
        ));
    }
    util::emit("ingest", label, url, detail, table);
    if err > 0 && args.flag("fail-on-error") {
        return Err(format!("{err} errors"));
    }
    Ok(())
}

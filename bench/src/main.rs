//! stowage-bench: load generators for Stowage or any Orthanc-compatible server.

mod config;
mod cpu;
mod find;
mod gen;
mod ingest;
mod poster;
mod read;
mod report;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
Usage: stowage-bench COMMAND [OPTIONS]

Commands:
  ingest   POST synthetic CT/MR instances (built in memory beforehand) to /instances
           --url URL (http://127.0.0.1:8042)  --instances N (2000)  --concurrency C (1)
           --studies-per-patient S (2)  --series-per-study R (2)  --instances-per-series I (10)
           --patients P (overrides I so that N instances fit P patients)
           --size-kb K (132)  --run-id ID (default: current time in ms)  --fail-on-error
  find     /tools/find latency for several query kinds, with and without Expand,
           on values sampled from the server
           --url URL  --requests N per kind (200)  --concurrency C (1)  --warmup W (5)
           --kinds SUBSTR[,SUBSTR]  (only kinds whose name contains one of them)
  read     GET /studies/{id}, /instances/{id}/tags?simplify, /instances/{id}/file, /studies?expand
           --url URL  --requests N (2000)  --concurrency C (1)  --kinds SUBSTR[,SUBSTR]
  config   IN OUT [KEY=VALUE]...  Orthanc-style config (with comments) -> plain JSON with keys set
           (VALUE parsed as JSON when possible, else taken as a string)
  report   FILE...  side-by-side Markdown table from the JSON lines of the commands above

Common: --label NAME (server name in the output, \"server\")  --name PREFIX (row names)
        --server-pid PID (server's CPU time is then reported; the CPU time of other
        processes on the machine is always reported, to spot a busy machine)
Every command prints human-readable lines and one JSON line (starting with '{').
";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first().cloned() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let args = match util::Args::parse(&argv[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let r = match cmd.as_str() {
        "ingest" => ingest::run(&args),
        "find" => find::run(&args),
        "read" => read::run(&args),
        "report" => report::run(&args.positional),
        "config" => config::run(&args.positional),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other}\n{USAGE}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

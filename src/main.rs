//! Stowage: a lightweight RESTful DICOM server compatible with Orthanc's REST API.

//!
//! Layers, each using only those below it: `main` → `server` (runs the fronts) → `rest` (the
//! HTTP front) → `app` (what the fronts are given) → `services` → `support`, `config`.

mod app;
mod config;
mod rest;
mod server;
mod services;
mod support;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
Usage: stowage [OPTION]... [CONFIGURATION]
Start Stowage, a RESTful DICOM server compatible with Orthanc's REST API.

CONFIGURATION is an Orthanc configuration file (JSON with comments), or a folder
of such files. Without it, Orthanc's defaults are used.

Options:
  --help           show this help and exit
  --version        show the version and exit
  --config=FILE    write a default configuration file (commented) and exit
  --verbose        more logging
  --trace          most verbose logging
";

fn main() -> ExitCode {
    let mut config_path: Option<PathBuf> = None;
    let mut level = tracing::Level::WARN;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--version" => {
                println!(
                    "Stowage {} (Orthanc REST API {})",
                    env!("CARGO_PKG_VERSION"),
                    rest_api_version()
                );
                return ExitCode::SUCCESS;
            }
            "--verbose" => level = tracing::Level::INFO,
            "--trace" => level = tracing::Level::TRACE,
            a if a.starts_with("--config=") => {
                let target = &a["--config=".len()..];
                return match std::fs::write(target, config::DEFAULT_CONFIGURATION) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("cannot write {target}: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            a if a.starts_with("--") => {
                // Orthanc options such as --logdir or --no-jobs are accepted and ignored.
                eprintln!("warning: ignoring unsupported option {a}");
            }
            path => config_path = Some(PathBuf::from(path)),
        }
    }
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();

    let config = match &config_path {
        Some(p) => match config::Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => config::Config::defaults(),
    };
    for option in config.unknown_options() {
        tracing::warn!("unknown configuration option \"{option}\" (kept, ignored)");
    }
    for option in config.not_yet_used_options() {
        tracing::info!("configuration option \"{option}\" is not used by this version of Stowage");
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Opened outside the runtime, and released after it: the PostgreSQL backend runs its own
    // runtime, which must be neither started nor dropped inside an async task.
    let app = match app::open(config) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(server::run(app.clone()));
    drop(runtime);
    drop(app);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn rest_api_version() -> &'static str {
    rest::ORTHANC_API_VERSION
}

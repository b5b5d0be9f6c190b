//! Orthanc's jobs engine: a registry of jobs run by `ConcurrentJobs` worker threads.
//!
//! * Jobs are described by a serializable [`JobSpec`]; running one is a sequence of steps
//!   on a blocking worker thread, which checks between steps whether the job was paused or
//!   canceled, or the server is stopping ([`JobHandle::check`]).
//! * A paused job restarts from scratch when resumed; so does a job interrupted by a stop.
//! * Persistence (`SaveJobs`, default true): the whole registry is serialized as JSON into
//!   the global property [`PROPERTY_JOBS`] of the index, under the server identifier
//!   (`DatabaseServerIdentifier`, else `stowage-<HttpPort>`). It is written by a saver thread
//!   after each state change (progress alone is not saved) and once more at shut-down.
//!   At start-up, finished jobs come back with their state, content and output (an archive
//!   file kept under `<IndexDirectory>/stowage-jobs/`); pending, running and retrying jobs
//!   come back pending and run again from scratch; paused jobs stay paused.
//! * `JobsHistorySize` (default 10) finished jobs are kept; older ones are forgotten and
//!   their output files removed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::Config;
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Global property holding Stowage's job registry (user range of Orthanc's properties).
pub const PROPERTY_JOBS: i32 = 1024;
/// Orthanc's `ErrorCode_CanceledJob`.
const CANCELED_JOB: i32 = 37;

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub enum JobState {
    Pending,
    Running,
    Success,
    Failure,
    Paused,
    Retry,
}

impl JobState {
    fn finished(self) -> bool {
        matches!(self, JobState::Success | JobState::Failure)
    }
}

/// What a job does.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(tag = "Kind")]
pub enum JobSpec {
    Archive {
        resources: Vec<String>,
        media: bool,
        #[serde(default)]
        extended: bool,
    },
    BulkDelete {
        resources: Vec<String>,
    },
}

impl JobSpec {
    pub fn job_type(&self) -> &'static str {
        match self {
            JobSpec::Archive { media: true, .. } => "Media",
            JobSpec::Archive { .. } => "Archive",
            JobSpec::BulkDelete { .. } => "BulkDelete",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
struct JobRecord {
    id: String,
    seq: u64,
    spec: JobSpec,
    priority: i64,
    state: JobState,
    progress: f64,
    creation_time: String,
    completion_time: Option<String>,
    /// Seconds spent running, over all runs.
    runtime: f64,
    error_code: i32,
    error_description: String,
    error_details: Option<String>,
    content: Value,
    output: Option<PathBuf>,
    #[serde(skip)]
    pause_requested: bool,
    #[serde(skip)]
    cancel_requested: bool,
    #[serde(skip)]
    started: Option<Instant>,
}

impl JobRecord {
    fn json(&self) -> Value {
        let runtime = self.runtime
            + self
                .started
                .map(|s| s.elapsed().as_secs_f64())
                .unwrap_or(0.0);
        let mut v = json!({
            "ID": self.id,
            "Type": self.spec.job_type(),
            "State": self.state,
            "Progress": (self.progress * 100.0).floor().clamp(0.0, 100.0) as u64,
            "Priority": self.priority,
            "CreationTime": self.creation_time,
            "EffectiveRuntime": (runtime * 1000.0).round() / 1000.0,
            "ErrorCode": self.error_code,
            "ErrorDescription": self.error_description,
            "Content": self.content,
            "Timestamp": now_precise(),
        });
        if let Some(c) = &self.completion_time {
            v["CompletionTime"] = json!(c);
        }
        if let Some(d) = &self.error_details {
            v["ErrorDetails"] = json!(d);
        }
        v
    }

    fn reset_for_run(&mut self) {
        self.progress = 0.0;
        self.error_code = 0;
        self.error_description = "Success".into();
        self.error_details = None;
        self.completion_time = None;
        self.pause_requested = false;
        self.cancel_requested = false;
    }
}

/// Orthanc's timestamps with microseconds (`20201227T161842.520129`).
fn now_precise() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.{:06}",
        crate::clock::format_timestamp(d.as_secs() as i64),
        d.subsec_micros()
    )
}

#[derive(Default)]
struct Registry {
    jobs: HashMap<String, JobRecord>,
    next_seq: u64,
    stopping: bool,
    dirty: bool,
    running: usize,
}

struct Settings {
    concurrent: usize,
    save: bool,
    history: usize,
    server_id: String,
    dir: PathBuf,
}

pub struct JobsEngine {
    state: Mutex<Registry>,
    cv: Condvar,
    settings: Settings,
    threads: Mutex<Vec<JoinHandle<()>>>,
    ctx: Mutex<Option<Weak<ServerContext>>>,
}

/// Why a job stopped before its end.
#[derive(Debug)]
pub enum JobError {
    Paused,
    Canceled,
    Stopping,
    Failed(ApiError),
}

impl From<ApiError> for JobError {
    fn from(e: ApiError) -> Self {
        JobError::Failed(e)
    }
}

/// The view of a running job given to its code.
pub struct JobHandle<'a> {
    engine: &'a JobsEngine,
    id: String,
}

impl JobHandle<'_> {
    /// Records the progress (0..1) and tells whether the job must stop here.
    pub fn check(&self, progress: f64) -> Result<(), JobError> {
        let mut reg = self.engine.lock();
        let stopping = reg.stopping;
        let Some(job) = reg.jobs.get_mut(&self.id) else {
            return Err(JobError::Canceled);
        };
        job.progress = progress.clamp(0.0, 1.0);
        if job.cancel_requested {
            Err(JobError::Canceled)
        } else if stopping {
            Err(JobError::Stopping)
        } else if job.pause_requested {
            Err(JobError::Paused)
        } else {
            Ok(())
        }
    }

    /// Sets one key of the job's `Content`.
    pub fn set_content(&self, key: &str, value: Value) {
        let mut reg = self.engine.lock();
        if let Some(job) = reg.jobs.get_mut(&self.id) {
            if !job.content.is_object() {
                job.content = json!({});
            }
            job.content[key] = value;
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

fn config_u64(config: &Config, key: &str, default: u64) -> u64 {
    config
        .raw
        .get(key)
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(default)
}

impl JobsEngine {
    pub fn new(config: &Config) -> Arc<JobsEngine> {
        let concurrent = match config_u64(config, "ConcurrentJobs", 2) {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            n => n as usize,
        };
        let save = config
            .raw
            .get("SaveJobs")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let server_id = config
            .raw
            .get("DatabaseServerIdentifier")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("stowage-{}", config.http_port));
        Arc::new(JobsEngine {
            state: Mutex::new(Registry::default()),
            cv: Condvar::new(),
            settings: Settings {
                concurrent,
                save,
                history: config_u64(config, "JobsHistorySize", 10) as usize,
                server_id,
                dir: config.index_directory.join("stowage-jobs"),
            },
            threads: Mutex::new(Vec::new()),
            ctx: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Folder of the jobs' output files.
    pub fn output_dir(&self) -> &std::path::Path {
        &self.settings.dir
    }

    /// Loads the saved registry and starts the workers and the saver. Blocking.
    pub fn start(self: &Arc<Self>, ctx: &Arc<ServerContext>) {
        *self.ctx.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(ctx));
        if self.settings.save {
            match self.load(ctx) {
                Ok(n) if n > 0 => tracing::info!("restored {n} jobs"),
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot restore the jobs: {e:?}"),
            }
        }
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        for n in 0..self.settings.concurrent {
            let engine = self.clone();
            let weak = Arc::downgrade(ctx);
            let t = std::thread::Builder::new()
                .name(format!("job-worker-{n}"))
                .spawn(move || engine.worker(weak));
            match t {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!("cannot start a job worker: {e}"),
            }
        }
        if self.settings.save {
            let engine = self.clone();
            if let Ok(t) = std::thread::Builder::new()
                .name("job-saver".into())
                .spawn(move || engine.saver())
            {
                threads.push(t);
            }
        }
    }

    /// Interrupts the running jobs (they come back pending), joins the threads and saves.
    /// Blocking.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.cv.notify_all();
        let threads: Vec<_> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
        if self.settings.save {
            self.save_now();
        }
    }

    fn load(&self, ctx: &ServerContext) -> ApiResult<usize> {
        let server = self.settings.server_id.clone();
        let saved =
            ctx.read_blocking(|tx| Ok(tx.lookup_global_property(&server, PROPERTY_JOBS)?))?;
        let Some(saved) = saved else { return Ok(0) };
        let jobs: Vec<JobRecord> = serde_json::from_str(&saved)
            .map_err(|e| ApiError::internal(format!("bad saved jobs: {e}")))?;
        let mut reg = self.lock();
        let n = jobs.len();
        for mut job in jobs {
            if matches!(job.state, JobState::Running | JobState::Retry) {
                job.state = JobState::Pending;
            }
            if !job.state.finished() {
                job.progress = 0.0;
            }
            reg.next_seq = reg.next_seq.max(job.seq + 1);
            reg.jobs.insert(job.id.clone(), job);
        }
        Ok(n)
    }

    fn snapshot(reg: &Registry) -> String {
        let mut jobs: Vec<&JobRecord> = reg.jobs.values().collect();
        jobs.sort_by_key(|j| j.seq);
        serde_json::to_string(&jobs).unwrap_or_else(|_| "[]".into())
    }

    fn write_snapshot(&self, snapshot: String) {
        let ctx = self
            .ctx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(Weak::upgrade);
        let Some(ctx) = ctx else { return };
        let server = self.settings.server_id.clone();
        if let Err(e) = ctx
            .write_blocking(|tx| Ok(tx.set_global_property(&server, PROPERTY_JOBS, &snapshot)?))
        {
            tracing::warn!("cannot save the jobs: {e:?}");
        }
    }

    fn save_now(&self) {
        let snapshot = {
            let mut reg = self.lock();
            reg.dirty = false;
            Self::snapshot(&reg)
        };
        self.write_snapshot(snapshot);
    }

    fn saver(&self) {
        loop {
            let snapshot = {
                let mut reg = self.lock();
                while !reg.dirty && !reg.stopping {
                    reg = self.cv.wait(reg).unwrap_or_else(|p| p.into_inner());
                }
                if reg.stopping {
                    return;
                }
                reg.dirty = false;
                Self::snapshot(&reg)
            };
            self.write_snapshot(snapshot);
        }
    }

    fn changed(&self, reg: &mut Registry) {
        reg.dirty = true;
        self.cv.notify_all();
    }

    /// Submits a job; answers its ID.
    pub fn submit(&self, spec: JobSpec, priority: i64) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let mut reg = self.lock();
        let seq = reg.next_seq;
        reg.next_seq += 1;
        reg.jobs.insert(
            id.clone(),
            JobRecord {
                id: id.clone(),
                seq,
                spec,
                priority,
                state: JobState::Pending,
                progress: 0.0,
                creation_time: now_precise(),
                completion_time: None,
                runtime: 0.0,
                error_code: 0,
                error_description: "Success".into(),
                error_details: None,
                content: json!({}),
                output: None,
                pause_requested: false,
                cancel_requested: false,
                started: None,
            },
        );
        self.changed(&mut reg);
        id
    }

    /// Job IDs, oldest first.
    pub fn list(&self) -> Vec<String> {
        let reg = self.lock();
        let mut jobs: Vec<&JobRecord> = reg.jobs.values().collect();
        jobs.sort_by_key(|j| j.seq);
        jobs.into_iter().map(|j| j.id.clone()).collect()
    }

    pub fn info(&self, id: &str) -> Option<Value> {
        self.lock().jobs.get(id).map(JobRecord::json)
    }

    /// The output file of a finished job (`archive`).
    pub fn output(&self, id: &str, key: &str) -> ApiResult<PathBuf> {
        let reg = self.lock();
        let job = reg.jobs.get(id).ok_or_else(unknown_job)?;
        if key != "archive" || !matches!(job.spec, JobSpec::Archive { .. }) {
            return Err(ApiError::with_details(
                ErrorCode::InexistentItem,
                format!("No output \"{key}\" for job {id}"),
            ));
        }
        match (&job.output, job.state) {
            (Some(p), JobState::Success) => Ok(p.clone()),
            _ => Err(ApiError::with_details(
                ErrorCode::InexistentItem,
                "The job has not finished successfully",
            )),
        }
    }

    pub fn pause(&self, id: &str) -> ApiResult<()> {
        let mut reg = self.lock();
        let job = reg.jobs.get_mut(id).ok_or_else(unknown_job)?;
        match job.state {
            JobState::Pending | JobState::Retry => job.state = JobState::Paused,
            JobState::Running => job.pause_requested = true,
            JobState::Paused => {}
            JobState::Success | JobState::Failure => {
                return Err(ApiError::bad_request("Cannot pause a finished job"))
            }
        }
        self.changed(&mut reg);
        Ok(())
    }

    pub fn resume(&self, id: &str) -> ApiResult<()> {
        let mut reg = self.lock();
        let job = reg.jobs.get_mut(id).ok_or_else(unknown_job)?;
        match job.state {
            JobState::Paused => {
                job.state = JobState::Pending;
                job.pause_requested = false;
            }
            JobState::Running => job.pause_requested = false,
            JobState::Pending | JobState::Retry => {}
            JobState::Success | JobState::Failure => {
                return Err(ApiError::bad_request("Cannot resume a finished job"))
            }
        }
        self.changed(&mut reg);
        Ok(())
    }

    pub fn cancel(&self, id: &str) -> ApiResult<()> {
        let mut reg = self.lock();
        let history = self.settings.history;
        let job = reg.jobs.get_mut(id).ok_or_else(unknown_job)?;
        match job.state {
            JobState::Pending | JobState::Paused | JobState::Retry => {
                set_canceled(job);
                trim_history(&mut reg, history);
            }
            JobState::Running => job.cancel_requested = true,
            JobState::Success | JobState::Failure => {}
        }
        self.changed(&mut reg);
        Ok(())
    }

    pub fn resubmit(&self, id: &str) -> ApiResult<()> {
        let mut reg = self.lock();
        let job = reg.jobs.get_mut(id).ok_or_else(unknown_job)?;
        if job.state != JobState::Failure {
            return Err(ApiError::bad_request(
                "Only a failed job can be resubmitted",
            ));
        }
        job.reset_for_run();
        job.state = JobState::Pending;
        self.changed(&mut reg);
        Ok(())
    }

    /// The next job to run: lowest priority value first, then oldest.
    fn take_next(reg: &mut Registry) -> Option<(String, JobSpec)> {
        let job = reg
            .jobs
            .values_mut()
            .filter(|j| j.state == JobState::Pending)
            .min_by_key(|j| (j.priority, j.seq))?;
        job.state = JobState::Running;
        job.reset_for_run();
        job.started = Some(Instant::now());
        Some((job.id.clone(), job.spec.clone()))
    }

    fn worker(&self, ctx: Weak<ServerContext>) {
        loop {
            let (id, spec) = {
                let mut reg = self.lock();
                loop {
                    if reg.stopping {
                        return;
                    }
                    if let Some(next) = Self::take_next(&mut reg) {
                        reg.running += 1;
                        self.changed(&mut reg);
                        break next;
                    }
                    reg = self.cv.wait(reg).unwrap_or_else(|p| p.into_inner());
                }
            };
            let handle = JobHandle {
                engine: self,
                id: id.clone(),
            };
            let result = match ctx.upgrade() {
                Some(ctx) => run_job(&ctx, &handle, &spec),
                None => Err(JobError::Stopping),
            };
            let mut reg = self.lock();
            reg.running -= 1;
            if let Some(job) = reg.jobs.get_mut(&id) {
                if let Some(s) = job.started.take() {
                    job.runtime += s.elapsed().as_secs_f64();
                }
                match result {
                    Ok(output) => {
                        job.state = JobState::Success;
                        job.progress = 1.0;
                        job.output = output;
                        job.completion_time = Some(now_precise());
                    }
                    Err(JobError::Paused) => {
                        job.state = JobState::Paused;
                        job.pause_requested = false;
                        job.progress = 0.0;
                    }
                    Err(JobError::Stopping) => {
                        job.state = JobState::Pending;
                        job.progress = 0.0;
                    }
                    Err(JobError::Canceled) => set_canceled(job),
                    Err(JobError::Failed(e)) => {
                        job.state = JobState::Failure;
                        job.completion_time = Some(now_precise());
                        let (code, details) = match e {
                            ApiError::Json { code, details } => (code, details),
                            ApiError::Bare(s) if s.as_u16() == 404 => {
                                (ErrorCode::UnknownResource, None)
                            }
                            ApiError::Bare(s) => (ErrorCode::InternalError, Some(s.to_string())),
                            ApiError::Conflict(d) => (ErrorCode::Database, Some(d)),
                        };
                        job.error_code = code.status();
                        job.error_description = code.message().into();
                        job.error_details = details;
                    }
                }
            }
            let history = self.settings.history;
            trim_history(&mut reg, history);
            self.changed(&mut reg);
        }
    }
}

fn set_canceled(job: &mut JobRecord) {
    job.state = JobState::Failure;
    job.cancel_requested = false;
    job.error_code = CANCELED_JOB;
    job.error_description = "This job was canceled".into();
    job.completion_time = Some(now_precise());
    if let Some(p) = job.output.take() {
        let _ = std::fs::remove_file(p);
    }
}

/// Forgets the oldest finished jobs beyond `history`.
fn trim_history(reg: &mut Registry, history: usize) {
    let mut finished: Vec<(String, String, u64)> = reg
        .jobs
        .values()
        .filter(|j| j.state.finished())
        .map(|j| {
            (
                j.completion_time.clone().unwrap_or_default(),
                j.id.clone(),
                j.seq,
            )
        })
        .collect();
    if finished.len() <= history {
        return;
    }
    finished.sort();
    let excess = finished.len() - history;
    for (_, id, _) in finished.into_iter().take(excess) {
        if let Some(job) = reg.jobs.remove(&id) {
            if let Some(p) = job.output {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

pub fn unknown_job() -> ApiError {
    ApiError::with_details(ErrorCode::UnknownResource, "Unknown job")
}

/// Runs a job to its end; answers its output file, if any.
fn run_job(
    ctx: &Arc<ServerContext>,
    handle: &JobHandle<'_>,
    spec: &JobSpec,
) -> Result<Option<PathBuf>, JobError> {
    match spec {
        JobSpec::Archive {
            resources, media, ..
        } => run_archive(ctx, handle, resources, *media).map(Some),
        JobSpec::BulkDelete { resources } => {
            let total = resources.len();
            let mut deleted = 0;
            for (i, id) in resources.iter().enumerate() {
                handle.check(i as f64 / total.max(1) as f64)?;
                if delete_any(ctx, id)? {
                    deleted += 1;
                }
            }
            handle.set_content("Description", json!("REST API"));
            handle.set_content("ResourcesCount", json!(total));
            handle.set_content("DeletedCount", json!(deleted));
            Ok(None)
        }
    }
}

/// Deletes a resource of any level; `false` when it is already gone. Blocking.
pub fn delete_any(ctx: &ServerContext, public_id: &str) -> ApiResult<bool> {
    let level = ctx.read_blocking(|tx| Ok(tx.lookup_resource(public_id)?.map(|r| r.level)))?;
    let Some(level) = level else {
        tracing::warn!("bulk delete: unknown resource {public_id}");
        return Ok(false);
    };
    match crate::delete::delete_resource(ctx, public_id, level) {
        Ok(_) => Ok(true),
        Err(ApiError::Bare(s)) if s.as_u16() == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

fn run_archive(
    ctx: &Arc<ServerContext>,
    handle: &JobHandle<'_>,
    resources: &[String],
    media: bool,
) -> Result<PathBuf, JobError> {
    let plan = ctx.read_blocking(|tx| {
        let resolved = crate::archive::resolve_resources(tx, resources)?;
        crate::archive::plan(tx, &resolved, media)
    })?;
    handle.set_content("Description", json!("REST API"));
    handle.set_content("InstancesCount", json!(plan.items.len()));
    handle.set_content(
        "UncompressedSizeMB",
        json!(plan.uncompressed_size / (1024 * 1024)),
    );
    handle.set_content(
        "UncompressedSize",
        json!(plan.uncompressed_size.to_string()),
    );
    let dir = handle.engine.output_dir().to_owned();
    let io = |e: std::io::Error| {
        JobError::Failed(ApiError::with_details(
            ErrorCode::CannotWriteFile,
            e.to_string(),
        ))
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join(format!("{}.zip", handle.id()));
    let file = std::fs::File::create(&path).map_err(io)?;
    let out = std::io::BufWriter::with_capacity(1 << 20, file);
    let result = crate::archive::write_archive(ctx, &plan, media, out, |done, total| {
        handle.check(done as f64 / total.max(1) as f64 * 0.99)
    });
    match result {
        Ok((stats, out)) => {
            let file = out.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            handle.set_content("InstancesCount", json!(stats.instances));
            handle.set_content("ArchiveSizeMB", json!(stats.archive_size / (1024 * 1024)));
            handle.set_content("ArchiveSize", json!(stats.archive_size.to_string()));
            Ok(path)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

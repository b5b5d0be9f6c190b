//! S3 storage area: attachments kept as objects of an S3 bucket (AWS, or any S3-compatible
//! server: Garage, MinIO, Ceph, Scaleway, ...), through the `object_store` crate.
//!
//! # Configuration
//!
//! [`S3Config::from_orthanc_json`] reads the `"AwsS3Storage"` section of an Orthanc
//! configuration file, so that a configuration written for Orthanc's AWS S3 storage plugin
//! works as is:
//!
//! | Orthanc key           | [`S3Config`] field        | default                         |
//! |-----------------------|---------------------------|---------------------------------|
//! | `BucketName`          | `bucket_name`             | required                        |
//! | `Region`              | `region`                  | required                        |
//! | `AccessKey`           | `access_key`              | `""`: the `AWS_*` environment   |
//! | `SecretKey`           | `secret_key`              | `""`: the `AWS_*` environment   |
//! | `Endpoint`            | `endpoint`                | AWS (`s3.<region>.amazonaws.com`) |
//! | `VirtualAddressing`   | `virtual_addressing`      | `true`                          |
//! | `ConnectionTimeout`   | `connection_timeout_secs` | 30                              |
//! | `RequestTimeout`      | `request_timeout_secs`    | 1200                            |
//! | `RootPath`            | `root_path`               | none (objects at the bucket's root) |
//! | `StorageEncryption`   | `storage_encryption`      | `false`; `true` is refused at open |
//!
//! An `Endpoint` without a scheme is taken as `https://`; `http://` endpoints are allowed (a
//! local server). With `VirtualAddressing` the bucket name is prepended to the endpoint's host
//! (`https://bucket.s3.example.com`), except for an IP address or `localhost`, which cannot
//! carry a bucket name and are addressed path-style (`http://127.0.0.1:3900/bucket/key`).
//!
//! # Layout
//!
//! The file `uuid` is the object `[RootPath/]uuid`: the uuid itself, whatever the content type,
//! without the extensions (`.dcm`, `.json`, ...) that some versions of Orthanc's plugin add.
//! [`StorageArea::list_uuids`] lists the objects directly under `RootPath/` (or at the bucket's
//! root): give a bucket shared with other data its own `RootPath`, since orphan reclaiming
//! may remove any uuid-named object it lists.
//!
//! Files larger than [`MULTIPART_THRESHOLD`] are uploaded in parts of [`PART_SIZE`] bytes,
//! [`PART_CONCURRENCY`] at a time (an S3 multipart upload, aborted if a part fails); others
//! with a single PUT. Either way an object only appears once complete. `read_range` is a ranged
//! GET: only the requested bytes travel.
//!
//! # Threads
//!
//! The area owns a small tokio runtime and bridges each call with `block_on`; call it from
//! plain threads or `spawn_blocking` threads, never from an async task.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, PutPayload, RetryConfig};
use serde_json::Value;
use stowage_core::{FileContentType, StorageArea, StorageError};
use tokio::runtime::Runtime;

/// Files strictly larger than this are uploaded with an S3 multipart upload.
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;
/// Size of each part of a multipart upload (S3's minimum is 5 MiB, except for the last part).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one file uploaded at once.
pub const PART_CONCURRENCY: usize = 4;

/// The S3 storage area's settings (Orthanc's `"AwsS3Storage"` section, see the crate docs).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket_name: String,
    pub region: String,
    /// Empty: credentials from the environment (`AWS_ACCESS_KEY_ID`, ...).
    pub access_key: String,
    pub secret_key: String,
    /// `None`: AWS itself. A host (`s3.example.com`, taken as https) or a URL
    /// (`http://127.0.0.1:3900`).
    pub endpoint: Option<String>,
    pub virtual_addressing: bool,
    pub connection_timeout_secs: u64,
    pub request_timeout_secs: u64,
    /// Key prefix of every object (without leading or trailing `/`).
    pub root_path: Option<String>,
    /// Orthanc's client-side encryption: not supported, `open` refuses it.
    pub storage_encryption: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket_name", &self.bucket_name)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<hidden>")
            .field("endpoint", &self.endpoint)
            .field("virtual_addressing", &self.virtual_addressing)
            .field("connection_timeout_secs", &self.connection_timeout_secs)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("root_path", &self.root_path)
            .field("storage_encryption", &self.storage_encryption)
            .finish()
    }
}

impl S3Config {
    /// Settings with Orthanc's defaults for everything but the bucket and region.
    pub fn new(bucket_name: impl Into<String>, region: impl Into<String>) -> Self {
        S3Config {
            bucket_name: bucket_name.into(),
            region: region.into(),
            access_key: String::new(),
            secret_key: String::new(),
            endpoint: None,
            virtual_addressing: true,
            connection_timeout_secs: 30,
            request_timeout_secs: 1200,
            root_path: None,
            storage_encryption: false,
        }
    }

    /// Reads the `"AwsS3Storage"` section of an Orthanc configuration (the whole configuration
    /// object): `Ok(None)` when there is no such section.
    pub fn from_orthanc_json(config: &Value) -> Result<Option<Self>, StorageError> {
        let Some(section) = config.get("AwsS3Storage") else {
            return Ok(None);
        };
        let bad = |msg: String| StorageError::Other(format!("\"AwsS3Storage\": {msg}"));
        let section = section
            .as_object()
            .ok_or_else(|| bad("must be an object".to_owned()))?;
        let string = |key: &str| -> Result<Option<String>, StorageError> {
            match section.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(bad(format!("\"{key}\" must be a string, not {other}"))),
            }
        };
        let required = |key: &str| -> Result<String, StorageError> {
            match string(key)? {
                Some(s) if !s.trim().is_empty() => Ok(s),
                _ => Err(bad(format!("\"{key}\" is required"))),
            }
        };
        let boolean = |key: &str, default: bool| -> Result<bool, StorageError> {
            match section.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
                Some(other) => Err(bad(format!("\"{key}\" must be true or false, not {other}"))),
            }
        };
        let seconds = |key: &str, default: u64| -> Result<u64, StorageError> {
            match section.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(0)),
                Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => {
                    Ok(s.trim().parse().unwrap_or(0))
                }
                Some(other) => Err(bad(format!(
                    "\"{key}\" must be a number of seconds, not {other}"
                ))),
            }
        };
        let mut out = S3Config::new(required("BucketName")?, required("Region")?);
        out.access_key = string("AccessKey")?.unwrap_or_default();
        out.secret_key = string("SecretKey")?.unwrap_or_default();
        out.endpoint = string("Endpoint")?.filter(|s| !s.trim().is_empty());
        out.virtual_addressing = boolean("VirtualAddressing", true)?;
        out.connection_timeout_secs = seconds("ConnectionTimeout", 30)?;
        out.request_timeout_secs = seconds("RequestTimeout", 1200)?;
        out.root_path = string("RootPath")?
            .map(|s| s.trim_matches('/').to_owned())
            .filter(|s| !s.is_empty());
        out.storage_encryption = boolean("StorageEncryption", false)?;
        for ignored in [
            "StorageStructure",
            "HybridMode",
            "EnableLegacyUnknownFiles",
            "UseTransferManager",
        ] {
            if section.contains_key(ignored) {
                tracing::warn!(
                    "\"AwsS3Storage\": \"{ignored}\" is not supported by Stowage and is ignored \
                     (objects are stored as [RootPath/]uuid)"
                );
            }
        }
        Ok(Some(out))
    }

    /// The URL requests go to, the bucket included (`None`: AWS's own, from the region).
    fn bucket_endpoint(&self) -> Result<(Option<String>, bool), StorageError> {
        let Some(endpoint) = &self.endpoint else {
            return Ok((None, self.virtual_addressing));
        };
        let endpoint = endpoint.trim().trim_end_matches('/');
        let url = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("https://{endpoint}")
        };
        let (scheme, rest) = url.split_once("://").unwrap_or(("https", &url));
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(StorageError::Other(format!(
                "\"AwsS3Storage\": \"Endpoint\" {url:?} must be an http:// or https:// URL"
            )));
        }
        let host_port = rest.split('/').next().unwrap_or("");
        let host = if host_port.starts_with('[') {
            host_port
                .split(']')
                .next()
                .unwrap_or("")
                .trim_start_matches('[')
        } else {
            host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
        };
        let ip_or_localhost =
            host.parse::<std::net::IpAddr>().is_ok() || host.eq_ignore_ascii_case("localhost");
        if self.virtual_addressing && !ip_or_localhost {
            Ok((
                Some(format!("{scheme}://{}.{rest}", self.bucket_name)),
                true,
            ))
        } else {
            Ok((Some(url), false))
        }
    }
}

/// The S3 storage area.
pub struct S3Storage {
    store: AmazonS3,
    root: Option<Path>,
    bucket: String,
    downloaded: AtomicU64,
    /// Dropped last, in `Drop`, without blocking.
    runtime: Option<Arc<Runtime>>,
}

/// What S3 says about one object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: SystemTime,
    pub e_tag: Option<String>,
}

/// What went wrong, as far as the caller should know. Some requests (listings) report S3's
/// status only in a generic error, so the error's text is consulted as well.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    NoSuchKey,
    NoSuchBucket,
    AccessDenied,
    Other,
}

fn classify(e: &object_store::Error) -> Failure {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.contains("NoSuchBucket") {
        return Failure::NoSuchBucket;
    }
    match e {
        object_store::Error::NotFound { .. } => Failure::NoSuchKey,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => Failure::AccessDenied,
        _ if [
            "403 Forbidden",
            "401 Unauthorized",
            "AccessDenied",
            "InvalidAccessKeyId",
        ]
        .iter()
        .any(|needle| text.contains(needle)) =>
        {
            Failure::AccessDenied
        }
        _ if text.contains("404 Not Found") => Failure::NoSuchKey,
        _ => Failure::Other,
    }
}

fn valid_uuid(uuid: &str) -> bool {
    !uuid.is_empty()
        && uuid.len() <= 128
        && uuid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl S3Storage {
    /// Connects to the bucket and checks that it can be listed with these credentials (a wrong
    /// key, bucket or endpoint fails here, with a message saying which).
    pub fn open(config: &S3Config) -> Result<Self, StorageError> {
        if config.storage_encryption {
            return Err(StorageError::Other(
                "\"AwsS3Storage\": \"StorageEncryption\" (Orthanc's client-side encryption) is \
                 not supported by Stowage; set it to false, or use the bucket's server-side \
                 encryption"
                    .to_owned(),
            ));
        }
        if config.bucket_name.trim().is_empty() {
            return Err(StorageError::Other(
                "\"AwsS3Storage\": \"BucketName\" is required".to_owned(),
            ));
        }
        let root = match config.root_path.as_deref().map(|r| r.trim_matches('/')) {
            None | Some("") => None,
            Some(r) => Some(Path::parse(r).map_err(|e| {
                StorageError::Other(format!("\"AwsS3Storage\": invalid \"RootPath\" {r:?}: {e}"))
            })?),
        };
        let (endpoint, virtual_hosted) = config.bucket_endpoint()?;

        let request_timeout = Duration::from_secs(config.request_timeout_secs.max(1));
        let mut client = ClientOptions::new()
            .with_allow_http(true)
            .with_timeout(request_timeout);
        if config.connection_timeout_secs > 0 {
            client =
                client.with_connect_timeout(Duration::from_secs(config.connection_timeout_secs));
        }
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: request_timeout,
        };
        let mut builder = if config.access_key.is_empty() {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
                .with_access_key_id(&config.access_key)
                .with_secret_access_key(&config.secret_key)
        };
        builder = builder
            .with_bucket_name(&config.bucket_name)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(virtual_hosted)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(endpoint) = &endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        let store = builder.build().map_err(|e| {
            StorageError::Other(format!("\"AwsS3Storage\": invalid configuration: {e}"))
        })?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stowage-s3")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Other(format!("cannot start the S3 runtime: {e}")))?;
        let area = S3Storage {
            store,
            root,
            bucket: config.bucket_name.clone(),
            downloaded: AtomicU64::new(0),
            runtime: Some(Arc::new(runtime)),
        };

        // One page of a listing: proves the endpoint, the bucket and the credentials.
        let probe = area.block_on(async {
            let mut list = area.store.list(area.root.as_ref());
            list.next().await.transpose()
        });
        if let Err(e) = probe {
            let place = match &endpoint {
                Some(url) => format!("S3 endpoint {url}"),
                None => format!("AWS S3 (region {})", config.region),
            };
            let hint = match classify(&e) {
                Failure::NoSuchBucket | Failure::NoSuchKey => format!(
                    "the bucket {:?} does not exist (or the endpoint is not an S3 server)",
                    config.bucket_name
                ),
                Failure::AccessDenied => format!(
                    "access denied: check \"AccessKey\", \"SecretKey\" and \"Region\", and the \
                     key's permissions on the bucket {:?}",
                    config.bucket_name
                ),
                _ => "cannot reach it, or it failed".to_owned(),
            };
            return Err(StorageError::Other(format!(
                "cannot open the S3 storage area at {place}: {hint} ({e})"
            )));
        }
        Ok(area)
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("runtime present until drop")
            .block_on(f)
    }

    /// The object key of a file.
    pub fn key_of(&self, uuid: &str) -> Result<Path, StorageError> {
        if !valid_uuid(uuid) {
            return Err(StorageError::InvalidUuid(uuid.to_owned()));
        }
        Ok(match &self.root {
            Some(root) => root.child(uuid),
            None => Path::from(uuid),
        })
    }

    /// HEAD of a file's object.
    pub fn stat(&self, uuid: &str) -> Result<ObjectInfo, StorageError> {
        let key = self.key_of(uuid)?;
        let meta = self
            .block_on(self.store.head(&key))
            .map_err(|e| self.error("HEAD", uuid, &key, e))?;
        Ok(ObjectInfo {
            key: meta.location.to_string(),
            size: meta.size,
            last_modified: meta.last_modified.into(),
            e_tag: meta.e_tag,
        })
    }

    /// Bytes received in object bodies by `read` and `read_range` since the area was opened.
    pub fn bytes_downloaded(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    fn error(&self, op: &str, uuid: &str, key: &Path, e: object_store::Error) -> StorageError {
        match classify(&e) {
            Failure::NoSuchKey if op != "PUT" && op != "LIST" => {
                StorageError::NotFound(uuid.to_owned())
            }
            Failure::NoSuchBucket => StorageError::Other(format!(
                "S3 {op} of {key}: the bucket {:?} does not exist ({e})",
                self.bucket
            )),
            Failure::AccessDenied => StorageError::Other(format!(
                "S3 {op} of {key} in bucket {:?}: access denied, check \"AccessKey\" and \
                 \"SecretKey\" ({e})",
                self.bucket
            )),
            _ => StorageError::Other(format!(
                "S3 {op} of {key} in bucket {:?} failed: {e}",
                self.bucket
            )),
        }
    }

    async fn put_multipart(&self, key: &Path, data: &[u8]) -> object_store::Result<()> {
        let mut upload = self.store.put_multipart(key).await?;
        let all = bytes::Bytes::copy_from_slice(data);
        let parts: Vec<_> = (0..data.len())
            .step_by(PART_SIZE)
            .map(|start| {
                let end = (start + PART_SIZE).min(data.len());
                upload.put_part(PutPayload::from(all.slice(start..end)))
            })
            .collect();
        let sent = futures::stream::iter(parts)
            .buffer_unordered(PART_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await;
        let done = match sent {
            Ok(_) => upload.complete().await.map(drop),
            Err(e) => Err(e),
        };
        if done.is_err() {
            if let Err(abort) = upload.abort().await {
                tracing::warn!("cannot abort the S3 multipart upload of {key}: {abort}");
            }
        }
        done
    }

    async fn get_range(&self, key: &Path, range: Range<u64>) -> object_store::Result<Vec<u8>> {
        let bytes = self.store.get_range(key, range).await?;
        self.downloaded
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes.to_vec())
    }
}

impl Drop for S3Storage {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            if let Ok(rt) = Arc::try_unwrap(rt) {
                // Never blocks, so dropping is fine even from within another runtime.
                rt.shutdown_background();
            }
        }
    }
}

impl StorageArea for S3Storage {
    fn create(
        &self,
        uuid: &str,
        _content_type: FileContentType,
        data: &[u8],
    ) -> Result<(), StorageError> {
        let key = self.key_of(uuid)?;
        let result = if data.len() > MULTIPART_THRESHOLD {
            self.block_on(self.put_multipart(&key, data))
        } else {
            self.block_on(self.store.put(&key, PutPayload::from(data.to_vec())))
                .map(drop)
        };
        result.map_err(|e| self.error("PUT", uuid, &key, e))
    }

    fn read(&self, uuid: &str, _content_type: FileContentType) -> Result<Vec<u8>, StorageError> {
        let key = self.key_of(uuid)?;
        self.block_on(async {
            let bytes = self.store.get(&key).await?.bytes().await?;
            self.downloaded
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            Ok(bytes.to_vec())
        })
        .map_err(|e| self.error("GET", uuid, &key, e))
    }

    fn read_range(
        &self,
        uuid: &str,
        _content_type: FileContentType,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, StorageError> {
        let key = self.key_of(uuid)?;
        if end <= start {
            // Nothing to read, but a missing file is still an error.
            self.block_on(self.store.head(&key))
                .map_err(|e| self.error("HEAD", uuid, &key, e))?;
            return Ok(Vec::new());
        }
        self.block_on(async {
            match self.get_range(&key, start..end).await {
                Ok(bytes) => Ok(bytes),
                Err(e) if classify(&e) != Failure::Other => Err(e),
                Err(e) => {
                    // S3 refuses a range starting at or past the end (416), and some servers
                    // answer a range on an empty object with the whole (empty) object.
                    let size = self.store.head(&key).await?.size;
                    if start >= size {
                        Ok(Vec::new())
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .map_err(|e| self.error("GET", uuid, &key, e))
    }

    fn remove(&self, uuid: &str, _content_type: FileContentType) -> Result<(), StorageError> {
        let key = self.key_of(uuid)?;
        match self.block_on(self.store.delete(&key)) {
            Ok(()) => Ok(()),
            Err(e) if classify(&e) == Failure::NoSuchKey => Ok(()),
            Err(e) => Err(self.error("DELETE", uuid, &key, e)),
        }
    }

    fn list_uuids(&self) -> Result<Option<Vec<String>>, StorageError> {
        let listed = self
            .block_on(self.store.list_with_delimiter(self.root.as_ref()))
            .map_err(|e| {
                let key = self.root.clone().unwrap_or_default();
                self.error("LIST", "", &key, e)
            })?;
        Ok(Some(
            listed
                .objects
                .into_iter()
                .filter_map(|o| o.location.filename().map(str::to_owned))
                .filter(|name| valid_uuid(name))
                .collect(),
        ))
    }

    fn modified(&self, uuid: &str) -> Option<SystemTime> {
        self.stat(uuid).ok().map(|info| info.last_modified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn orthanc_section_full() {
        let config = json!({
            "Name": "x",
            "AwsS3Storage": {
                "BucketName": "my-bucket",
                "Region": "eu-west-1",
                "AccessKey": "AKIA",
                "SecretKey": "secret",
                "Endpoint": "http://127.0.0.1:9000",
                "VirtualAddressing": false,
                "ConnectionTimeout": 5,
                "RequestTimeout": "60",
                "RootPath": "/orthanc/files/",
                "StorageEncryption": false
            }
        });
        let c = S3Config::from_orthanc_json(&config).unwrap().unwrap();
        assert_eq!(
            c,
            S3Config {
                bucket_name: "my-bucket".into(),
                region: "eu-west-1".into(),
                access_key: "AKIA".into(),
                secret_key: "secret".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                virtual_addressing: false,
                connection_timeout_secs: 5,
                request_timeout_secs: 60,
                root_path: Some("orthanc/files".into()),
                storage_encryption: false,
            }
        );
        assert!(!format!("{c:?}").contains("\"secret\""), "secret hidden");
    }

    #[test]
    fn orthanc_section_defaults_and_absence() {
        assert_eq!(S3Config::from_orthanc_json(&json!({})).unwrap(), None);
        let c = S3Config::from_orthanc_json(&json!({
            "AwsS3Storage": { "BucketName": "b", "Region": "us-east-1", "Endpoint": "" }
        }))
        .unwrap()
        .unwrap();
        assert_eq!(c, S3Config::new("b", "us-east-1"));
        assert!(c.virtual_addressing);
        assert_eq!(
            (c.connection_timeout_secs, c.request_timeout_secs),
            (30, 1200)
        );
    }

    #[test]
    fn orthanc_section_errors() {
        for (section, needle) in [
            (json!({ "Region": "r" }), "BucketName"),
            (json!({ "BucketName": "b" }), "Region"),
            (
                json!({ "BucketName": "b", "Region": "r", "VirtualAddressing": 3 }),
                "VirtualAddressing",
            ),
            (
                json!({ "BucketName": "b", "Region": "r", "RequestTimeout": -1 }),
                "RequestTimeout",
            ),
            (json!({ "BucketName": 1, "Region": "r" }), "BucketName"),
            (json!([]), "object"),
        ] {
            let err = S3Config::from_orthanc_json(&json!({ "AwsS3Storage": section }))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle}");
        }
    }

    #[test]
    fn storage_encryption_refused_at_open() {
        let c = S3Config::from_orthanc_json(&json!({
            "AwsS3Storage": { "BucketName": "b", "Region": "r", "StorageEncryption": true }
        }))
        .unwrap()
        .unwrap();
        assert!(c.storage_encryption);
        let err = S3Storage::open(&c).err().expect("refused").to_string();
        assert!(
            err.contains("StorageEncryption") && err.contains("not supported"),
            "{err}"
        );
    }

    #[test]
    fn endpoints() {
        let mut c = S3Config::new("bkt", "r");
        assert_eq!(c.bucket_endpoint().unwrap(), (None, true));
        c.endpoint = Some("s3.example.com".into());
        assert_eq!(
            c.bucket_endpoint().unwrap(),
            (Some("https://bkt.s3.example.com".into()), true)
        );
        c.endpoint = Some("http://127.0.0.1:3900/".into());
        assert_eq!(
            c.bucket_endpoint().unwrap(),
            (Some("http://127.0.0.1:3900".into()), false),
            "an IP address cannot carry the bucket: path style"
        );
        c.endpoint = Some("http://localhost:9000".into());
        assert!(!c.bucket_endpoint().unwrap().1);
        c.virtual_addressing = false;
        c.endpoint = Some("https://s3.example.com:8443".into());
        assert_eq!(
            c.bucket_endpoint().unwrap(),
            (Some("https://s3.example.com:8443".into()), false)
        );
        c.endpoint = Some("ftp://x".into());
        assert!(c.bucket_endpoint().is_err());
    }

    #[test]
    fn uuid_validation() {
        for good in ["0a1b2c3d-0000-4000-8000-000000000000", "abcd", "A_b-9"] {
            assert!(valid_uuid(good), "{good}");
        }
        for bad in ["", "../x", "a/b", "a b", ".hidden", "x.dcm"] {
            assert!(!valid_uuid(bad), "{bad}");
        }
    }
}

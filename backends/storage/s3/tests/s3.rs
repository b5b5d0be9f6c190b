//! The S3 storage area against a real S3 server on loopback: Garage.
//!
//! The server is the one named by the `STOWAGE_TEST_S3_*` variables (`eval "$(scripts/garage.sh)"`
//! prints them); when they are absent, the first test starts a throw-away Garage with
//! `scripts/garage.sh --watch-pid <this process>`, which stops it and removes its folder once
//! this test process has exited. No server, no pass: a test never skips.
//!
//! Each test works under its own random `RootPath`, so tests (and test runs sharing a server)
//! never see each other's files, and removes its files when done.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use stowage_core::conformance::storage::new_uuid;
use stowage_core::conformance::Guarded;
use stowage_core::{FileContentType, StorageArea, StorageError};
use stowage_storage_s3::{S3Config, S3Storage, MULTIPART_THRESHOLD};

struct Server {
    endpoint: String,
    access_key: String,
    secret_key: String,
    bucket: String,
    region: String,
}

const HOW: &str = "the S3 tests need a real S3 server: run `eval \"$(scripts/garage.sh)\"` \
                   before `cargo test`, or let the tests start one (scripts/garage.sh needs \
                   `garage`, or installs it with `cargo install garage --locked`)";

fn server() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(find_or_start_server) {
        Ok(s) => s,
        Err(e) => panic!("{e}\n{HOW}"),
    }
}

fn find_or_start_server() -> Result<Server, String> {
    let vars: Vec<(String, String)> = if std::env::var_os("STOWAGE_TEST_S3_ENDPOINT").is_some() {
        std::env::vars()
            .filter(|(k, _)| k.starts_with("STOWAGE_TEST_"))
            .collect()
    } else {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/garage.sh");
        eprintln!(
            "STOWAGE_TEST_S3_ENDPOINT not set: starting Garage with {}",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("--watch-pid")
            .arg(std::process::id().to_string())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} failed ({})", script.display(), out.status));
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect()
    };
    let get = |name: &str| -> Result<String, String> {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("{name} is not set"))
    };
    Ok(Server {
        endpoint: get("STOWAGE_TEST_S3_ENDPOINT")?,
        access_key: get("STOWAGE_TEST_S3_ACCESS_KEY")?,
        secret_key: get("STOWAGE_TEST_S3_SECRET_KEY")?,
        bucket: get("STOWAGE_TEST_S3_BUCKET")?,
        region: get("STOWAGE_TEST_S3_REGION")?,
    })
}

/// Settings for the test server, under a fresh random root path.
fn config() -> S3Config {
    let s = server();
    let mut c = S3Config::new(&s.bucket, &s.region);
    c.access_key = s.access_key.clone();
    c.secret_key = s.secret_key.clone();
    c.endpoint = Some(s.endpoint.clone());
    c.virtual_addressing = false;
    c.connection_timeout_secs = 5;
    c.request_timeout_secs = 60;
    c.root_path = Some(format!("stowage-tests/{}", new_uuid()));
    c
}

/// Removes every file left under a test's root path.
struct Cleanup(S3Storage);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(Some(uuids)) = self.0.list_uuids() {
            for u in uuids {
                let _ = self.0.remove(&u, FileContentType::DICOM);
            }
        }
    }
}

fn open(config: &S3Config) -> Guarded<S3Storage, Cleanup> {
    let area = S3Storage::open(config).expect("open the S3 storage area");
    let cleanup = S3Storage::open(config).expect("open the S3 storage area");
    Guarded::new(area, Cleanup(cleanup))
}

fn fresh_area() -> Guarded<S3Storage, Cleanup> {
    open(&config())
}

mod conformance {
    stowage_core::storage_conformance_tests!(super::fresh_area());
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn etag_parts(area: &S3Storage, uuid: &str) -> Option<u32> {
    let etag = area.stat(uuid).unwrap().e_tag.expect("an ETag");
    etag.trim_matches('"')
        .rsplit_once('-')
        .map(|(_, n)| n.parse().expect("a part count"))
}

#[test]
fn multipart_upload_above_the_threshold() {
    let area = fresh_area();
    let (small, big) = (new_uuid(), new_uuid());
    let at = pattern(MULTIPART_THRESHOLD, 1);
    let above = pattern(MULTIPART_THRESHOLD + 1, 2);
    area.inner
        .create(&small, FileContentType::DICOM, &at)
        .unwrap();
    area.inner
        .create(&big, FileContentType::DICOM, &above)
        .unwrap();
    // S3's ETag of a multipart object is "<md5 of the parts' md5s>-<number of parts>".
    assert_eq!(
        etag_parts(&area.inner, &small),
        None,
        "a single PUT at the threshold"
    );
    assert_eq!(
        etag_parts(&area.inner, &big),
        Some(2),
        "two parts just above it"
    );
    assert_eq!(area.inner.stat(&big).unwrap().size, above.len() as u64);
    assert!(area.inner.read(&small, FileContentType::DICOM).unwrap() == at);
    assert!(area.inner.read(&big, FileContentType::DICOM).unwrap() == above);

    let huge = new_uuid();
    let data = pattern(3 * MULTIPART_THRESHOLD + 12345, 3);
    area.inner
        .create(&huge, FileContentType::DICOM, &data)
        .unwrap();
    assert_eq!(etag_parts(&area.inner, &huge), Some(4));
    assert!(area.inner.read(&huge, FileContentType::DICOM).unwrap() == data);
    let mut listed = area.list_uuids().unwrap().unwrap();
    listed.sort();
    let mut want = vec![small, big, huge];
    want.sort();
    assert_eq!(listed, want, "no leftover of the multipart uploads");
}

#[test]
fn ranged_reads_fetch_only_the_range() {
    let area = fresh_area();
    let uuid = new_uuid();
    let len = 3 * 1024 * 1024 + 17;
    let data = pattern(len, 4);
    area.inner
        .create(&uuid, FileContentType::DICOM, &data)
        .unwrap();
    let before = area.inner.bytes_downloaded();
    let mut expected_bytes = 0u64;
    let mut x = 12345u64;
    for i in 0..150 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let start = (x >> 33) % (len as u64 + 100);
        let size = match i % 3 {
            0 => (x >> 20) % 16,
            1 => (x >> 20) % 5000,
            _ => (x >> 20) % 200_000,
        };
        let end = start + size;
        let got = area
            .inner
            .read_range(&uuid, FileContentType::DICOM, start, end)
            .unwrap();
        let (s, e) = ((start as usize).min(len), (end as usize).min(len));
        let want = &data[s..e.max(s)];
        assert!(
            got == want,
            "read_range({start}..{end}): {} bytes, expected {}",
            got.len(),
            want.len()
        );
        expected_bytes += want.len() as u64;
    }
    assert_eq!(
        area.inner.bytes_downloaded() - before,
        expected_bytes,
        "only the requested bytes travel (150 ranges of a 3 MiB object)"
    );
    assert!(expected_bytes < 150 * len as u64 / 10);
}

#[test]
fn modified_and_stat() {
    let area = fresh_area();
    let uuid = new_uuid();
    assert!(area.inner.modified(&uuid).is_none());
    assert!(matches!(
        area.inner.stat(&uuid),
        Err(StorageError::NotFound(_))
    ));
    area.inner
        .create(&uuid, FileContentType::DICOM, b"12345")
        .unwrap();
    let modified = area
        .inner
        .modified(&uuid)
        .expect("last_modified of a new object");
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_else(|e| e.duration());
    assert!(
        age < Duration::from_secs(120),
        "modified {age:?} away from now"
    );
    let info = area.inner.stat(&uuid).unwrap();
    assert_eq!(info.size, 5);
    assert!(info.key.ends_with(&format!("/{uuid}")), "{}", info.key);
}

#[test]
fn root_paths_isolate_areas_and_keys_are_root_slash_uuid() {
    let (c1, c2) = (config(), config());
    let (a1, a2) = (open(&c1), open(&c2));
    let uuid = new_uuid();
    a1.inner
        .create(&uuid, FileContentType::DICOM, b"one")
        .unwrap();
    assert_eq!(a1.list_uuids().unwrap().unwrap(), vec![uuid.clone()]);
    assert_eq!(a2.list_uuids().unwrap().unwrap(), Vec::<String>::new());
    assert!(matches!(
        a2.read(&uuid, FileContentType::DICOM),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(
        a1.inner.key_of(&uuid).unwrap().to_string(),
        format!("{}/{uuid}", c1.root_path.as_deref().unwrap())
    );
    // A root path with slashes around it is the same root.
    let mut c3 = c1.clone();
    c3.root_path = Some(format!("/{}/", c1.root_path.as_deref().unwrap()));
    let a3 = S3Storage::open(&c3).unwrap();
    assert_eq!(a3.read(&uuid, FileContentType::DICOM).unwrap(), b"one");
    for bad in ["../x", "a/b", "", "x y"] {
        assert!(matches!(
            a1.create(bad, FileContentType::DICOM, b"x"),
            Err(StorageError::InvalidUuid(_))
        ));
    }
}

#[test]
fn orthanc_configuration_end_to_end() {
    let s = server();
    let root = format!("stowage-tests/{}", new_uuid());
    let json = serde_json::json!({
        "StorageDirectory": "/ignored",
        "AwsS3Storage": {
            "BucketName": s.bucket,
            "Region": s.region,
            "AccessKey": s.access_key,
            "SecretKey": s.secret_key,
            "Endpoint": s.endpoint,
            // Orthanc's default; an IP endpoint is addressed path-style all the same.
            "VirtualAddressing": true,
            "ConnectionTimeout": 5,
            "RequestTimeout": 60,
            "RootPath": root,
            "StorageEncryption": false
        }
    });
    let config = S3Config::from_orthanc_json(&json)
        .unwrap()
        .expect("a section");
    let area = open(&config);
    let uuid = new_uuid();
    area.create(
        &uuid,
        FileContentType::DICOM,
        b"from an Orthanc configuration",
    )
    .unwrap();
    assert_eq!(
        area.read(&uuid, FileContentType::DICOM).unwrap(),
        b"from an Orthanc configuration"
    );
    assert_eq!(
        area.inner.stat(&uuid).unwrap().key,
        format!("{root}/{uuid}")
    );
}

#[test]
fn storage_encryption_is_refused() {
    let mut c = config();
    c.storage_encryption = true;
    let err = S3Storage::open(&c).err().expect("refused").to_string();
    assert!(
        err.contains("StorageEncryption") && err.contains("not supported"),
        "{err}"
    );
}

fn open_error(c: &S3Config) -> String {
    match S3Storage::open(c) {
        Ok(_) => panic!("open succeeded with {c:?}"),
        Err(StorageError::Other(msg)) => msg,
        Err(e) => panic!("expected StorageError::Other, got {e:?}"),
    }
}

#[test]
fn wrong_credentials_are_a_clear_error() {
    let mut c = config();
    c.secret_key = "0".repeat(64);
    let msg = open_error(&c);
    assert!(
        msg.contains("access denied") && msg.contains("SecretKey"),
        "{msg}"
    );

    let mut c = config();
    c.access_key = "GK00000000000000000000000".to_owned();
    let msg = open_error(&c);
    assert!(
        msg.contains("access denied") && msg.contains("AccessKey"),
        "{msg}"
    );
}

#[test]
fn missing_bucket_and_unreachable_endpoint_are_clear_errors() {
    let mut c = config();
    c.bucket_name = format!("no-such-bucket-{}", &new_uuid()[..8]);
    let msg = open_error(&c);
    assert!(
        msg.contains("does not exist") && msg.contains(&c.bucket_name),
        "{msg}"
    );

    // A loopback port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = config();
    c.endpoint = Some(format!("http://127.0.0.1:{port}"));
    let msg = open_error(&c);
    assert!(
        msg.contains("cannot reach") && msg.contains(&port.to_string()),
        "{msg}"
    );
}

#[test]
fn usable_from_spawn_blocking_and_plain_threads() {
    let area = std::sync::Arc::new(fresh_area());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let uuid = new_uuid();
    let (a, u) = (area.clone(), uuid.clone());
    rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            a.create(&u, FileContentType::DICOM, b"from spawn_blocking")
                .unwrap();
            a.read(&u, FileContentType::DICOM).unwrap()
        })
        .await
        .unwrap()
    });
    let a = area.clone();
    let got = std::thread::spawn(move || a.read(&uuid, FileContentType::DICOM).unwrap())
        .join()
        .unwrap();
    assert_eq!(got, b"from spawn_blocking");
    drop(rt);
}

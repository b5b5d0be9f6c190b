//! S3 mode: `STOWAGE_TEST_STORAGE=s3` runs every server of the suite on S3 object storage, on
//! the server named by the `STOWAGE_TEST_S3_*` variables (`eval "$(scripts/garage.sh)"`, as
//! scripts/test-all.sh does), each server under a fresh root path.

use std::path::Path;

use serde_json::{json, Value};

use super::server::uuid_like_suffix;

pub struct TestS3 {
    config: stowage_storage_s3::S3Config,
    area: stowage_storage_s3::S3Storage,
}

impl TestS3 {
    pub(super) fn from_env_if_requested() -> Option<TestS3> {
        if !std::env::var("STOWAGE_TEST_STORAGE")
            .ok()?
            .eq_ignore_ascii_case("s3")
        {
            return None;
        }
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("S3 mode needs {name}: run `eval \"$(scripts/garage.sh)\"` first")
            })
        };
        let mut config = stowage_storage_s3::S3Config::new(
            var("STOWAGE_TEST_S3_BUCKET"),
            var("STOWAGE_TEST_S3_REGION"),
        );
        config.access_key = var("STOWAGE_TEST_S3_ACCESS_KEY");
        config.secret_key = var("STOWAGE_TEST_S3_SECRET_KEY");
        config.endpoint = Some(var("STOWAGE_TEST_S3_ENDPOINT"));
        config.virtual_addressing = false;
        config.root_path = Some(format!("rest-tests/{}", uuid_like_suffix()));
        let area = stowage_storage_s3::S3Storage::open(&config).expect("open the test S3 area");
        Some(TestS3 { config, area })
    }

    pub(super) fn section(&self) -> Value {
        let c = &self.config;
        json!({
            "BucketName": c.bucket_name,
            "Region": c.region,
            "AccessKey": c.access_key,
            "SecretKey": c.secret_key,
            "Endpoint": c.endpoint,
            "VirtualAddressing": false,
            "RootPath": c.root_path,
        })
    }

    pub(super) fn list(&self) -> Vec<String> {
        use stowage_core::StorageArea;
        self.area.list_uuids().expect("list S3").unwrap_or_default()
    }

    pub(super) fn read(&self, file: &Path) -> Vec<u8> {
        use stowage_core::StorageArea;
        let uuid = file.to_string_lossy();
        self.area
            .read(&uuid, stowage_core::FileContentType::DICOM)
            .expect("read S3 object")
    }

    pub(super) fn write(&self, file: &Path, bytes: &[u8]) {
        use stowage_core::StorageArea;
        let uuid = file.to_string_lossy();
        self.area
            .create(&uuid, stowage_core::FileContentType::DICOM, bytes)
            .expect("write S3 object")
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        use stowage_core::StorageArea;
        for uuid in self.list() {
            let _ = self
                .area
                .remove(&uuid, stowage_core::FileContentType::DICOM);
        }
    }
}

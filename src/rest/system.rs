//! `/system`, `/statistics`, `/tools/generate-uid`.

use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::sync::Arc;
use stowage_core::ResourceType;

use super::query::QueryArgs;
use super::{text, Ctx};
use crate::context::ServerContext;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::json::Json;

/// The Orthanc version whose REST API Stowage implements (clients enable features by it).
pub const ORTHANC_API_VERSION: &str = "1.10.1";
pub const ORTHANC_API_LEVEL: u32 = 16;
/// Orthanc's database schema version, reported for compatibility.
pub const ORTHANC_DATABASE_VERSION: u32 = 6;

pub fn routes() -> Router<Arc<ServerContext>> {
    Router::new()
        .route("/system", get(system))
        .route("/statistics", get(statistics))
        .route("/tools/generate-uid", get(generate_uid))
        .route(
            "/tools/now",
            get(|| async { text(crate::clock::now_iso()) }),
        )
}

async fn system(ctx: Ctx) -> Json {
    let c = &ctx.config;
    let backend = ctx.index.info();
    Json(json!({
        "ApiVersion": ORTHANC_API_LEVEL,
        "CheckRevisions": c.check_revisions,
        "DatabaseBackendPlugin": null,
        "DatabaseVersion": ORTHANC_DATABASE_VERSION,
        "DicomAet": c.dicom_aet,
        "DicomPort": c.dicom_port,
        "HttpPort": c.http_port,
        "IsHttpServerSecure": false,
        "Name": c.name,
        "PluginsEnabled": true,
        "StorageAreaPlugin": null,
        "Version": ORTHANC_API_VERSION,
        "StowageVersion": env!("CARGO_PKG_VERSION"),
        "StowageIndexBackend": backend.name,
        "StowageIndexSchemaVersion": backend.schema_version,
        "StowageStorageArea": ctx.storage_name,
    }))
}

fn mb(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

async fn statistics(ctx: Ctx) -> ApiResult<Json> {
    ctx.read(|tx| {
        let disk = tx.get_total_compressed_size()?;
        let uncompressed = tx.get_total_uncompressed_size()?;
        Ok(Json(json!({
            "CountPatients": tx.get_resources_count(ResourceType::Patient)?,
            "CountStudies": tx.get_resources_count(ResourceType::Study)?,
            "CountSeries": tx.get_resources_count(ResourceType::Series)?,
            "CountInstances": tx.get_resources_count(ResourceType::Instance)?,
            "TotalDiskSize": disk.to_string(),
            "TotalDiskSizeMB": mb(disk),
            "TotalUncompressedSize": uncompressed.to_string(),
            "TotalUncompressedSizeMB": mb(uncompressed),
        })))
    })
    .await
}

/// A new DICOM UID under Stowage's root (2.25 + a random 128-bit number, per PS3.5 B.2).
pub fn new_dicom_uid() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}

async fn generate_uid(
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> ApiResult<axum::response::Response> {
    let args = QueryArgs::parse(q.as_deref());
    match args.get("level") {
        Some("patient" | "study" | "series" | "instance") => Ok(text(new_dicom_uid())),
        _ => Err(ApiError::with_details(
            ErrorCode::ParameterOutOfRange,
            "Argument \"level\" must be patient, study, series or instance",
        )),
    }
}

pub fn size_statistics(
    size: &stowage_core::ResourceSize,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (key, v) in [
        ("DiskSize", size.disk_size),
        ("UncompressedSize", size.uncompressed_size),
        ("DicomDiskSize", size.dicom_disk_size),
        ("DicomUncompressedSize", size.dicom_uncompressed_size),
    ] {
        m.insert(key.into(), json!(v.to_string()));
        m.insert(format!("{key}MB"), json!(mb(v)));
    }
    m
}

//! `/system`, `/statistics`, `/tools/generate-uid`.

use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::answer::{text, Ctx, Routes};
use super::error::{ApiError, ApiResult, ErrorCode};
use super::json::Json;
use super::query::QueryArgs;
use crate::services::system::{self, new_dicom_uid};
use crate::support::clock::now_iso;

/// The Orthanc version whose REST API Stowage implements (clients enable features by it).
pub const ORTHANC_API_VERSION: &str = "1.10.1";
pub const ORTHANC_API_LEVEL: u32 = 16;
/// Orthanc's database schema version, reported for compatibility.
pub const ORTHANC_DATABASE_VERSION: u32 = 6;

pub fn routes() -> Routes {
    Router::new()
        .route("/system", get(system))
        .route("/statistics", get(statistics))
        .route("/tools/generate-uid", get(generate_uid))
        .route("/tools/now", get(|| async { text(now_iso()) }))
}

async fn system(app: Ctx) -> Json {
    let c = &app.ctx.config;
    let backends = system::backends(&app.ctx);
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
        "StowageIndexBackend": backends.index_name,
        "StowageIndexSchemaVersion": backends.index_schema_version,
        "StowageStorageArea": backends.storage_name,
    }))
}

fn mb(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

async fn statistics(app: Ctx) -> ApiResult<Json> {
    let s = system::statistics(&app.ctx).await?;
    let [patients, studies, series, instances] = s.counts;
    Ok(Json(json!({
        "CountPatients": patients,
        "CountStudies": studies,
        "CountSeries": series,
        "CountInstances": instances,
        "TotalDiskSize": s.disk_size.to_string(),
        "TotalDiskSizeMB": mb(s.disk_size),
        "TotalUncompressedSize": s.uncompressed_size.to_string(),
        "TotalUncompressedSizeMB": mb(s.uncompressed_size),
    })))
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

//! Orthanc-compatible configuration: one JSON file or a folder of them, with `//` and `/* */`
//! comments. Options Stowage does not know yet are kept (and reported) for later features.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration {path} is not valid JSON: {source}")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("configuration {path} must contain a JSON object")]
    NotAnObject { path: String },
    #[error("bad value for configuration option \"{option}\": {reason}")]
    BadValue { option: String, reason: String },
}

/// The options Stowage acts on, with Orthanc's defaults. (`HttpTimeout` and the find limits
/// are read now for the peers and query features that use them.)
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub http_port: u16,
    pub dicom_aet: String,
    pub dicom_port: u16,
    pub storage_directory: PathBuf,
    pub index_directory: PathBuf,
    pub overwrite_instances: bool,
    pub storage_compression: bool,
    /// Bytes; 0 = unlimited.
    pub maximum_storage_size: u64,
    pub maximum_patient_count: u64,
    pub maximum_storage_mode_reject: bool,
    pub stable_age: u64,
    pub check_revisions: bool,
    pub remote_access_allowed: bool,
    pub authentication_enabled: bool,
    pub registered_users: BTreeMap<String, String>,
    pub http_timeout: u64,
    pub http_compression_enabled: bool,
    pub sync_storage_area: bool,
    pub user_metadata: BTreeMap<String, i32>,
    pub user_content_type: BTreeMap<String, (i32, String)>,
    pub limit_find_results: u64,
    pub limit_find_instances: u64,
    /// Largest request body accepted, in bytes (Stowage's `MaximumUploadSize`, in MB; 0 = no limit).
    pub maximum_upload_size: u64,
    /// Orthanc's `"PostgreSQL"` section, when it enables the index.
    pub postgres_index: Option<stowage_index_postgres::PostgresConfig>,
    /// The whole merged configuration, for options handled elsewhere or later.
    pub raw: Map<String, Value>,
}

/// Options Stowage reads itself; any other option produces a warning at start.
const KNOWN: &[&str] = &[
    "Name",
    "HttpPort",
    "DicomAet",
    "DicomPort",
    "StorageDirectory",
    "IndexDirectory",
    "OverwriteInstances",
    "StorageCompression",
    "MaximumStorageSize",
    "MaximumPatientCount",
    "MaximumStorageMode",
    "StableAge",
    "CheckRevisions",
    "RemoteAccessAllowed",
    "AuthenticationEnabled",
    "RegisteredUsers",
    "HttpTimeout",
    "HttpCompressionEnabled",
    "SyncStorageArea",
    "UserMetadata",
    "UserContentType",
    "LimitFindResults",
    "LimitFindInstances",
    "ConcurrentJobs",
    "SaveJobs",
    "JobsHistorySize",
    "SqliteSynchronous",
    "MaximumUploadSize",
];

/// Options of Orthanc's own configuration that Stowage accepts without acting on them yet.
const ORTHANC_OPTIONS_NOT_YET_USED: &[&str] = &[
    "MaximumStorageCacheSize",
    "LuaScripts",
    "Plugins",
    "HttpServerEnabled",
    "OrthancExplorerEnabled",
    "HttpDescribeErrors",
    "WebDavEnabled",
    "WebDavDeleteAllowed",
    "WebDavUploadAllowed",
    "DicomServerEnabled",
    "DicomCheckCalledAet",
    "DefaultEncoding",
    "AcceptedTransferSyntaxes",
    "UnknownSopClassAccepted",
    "DicomScpTimeout",
    "SslEnabled",
    "SslCertificate",
    "SslMinimumProtocolVersion",
    "SslVerifyPeers",
    "SslTrustedClientCertificates",
    "DicomTlsEnabled",
    "DicomTlsRemoteCertificateRequired",
    "DicomAlwaysAllowEcho",
    "DicomAlwaysAllowStore",
    "DicomAlwaysAllowFind",
    "DicomAlwaysAllowFindWorklist",
    "DicomAlwaysAllowGet",
    "DicomAlwaysAllowMove",
    "DicomCheckModalityHost",
    "DicomModalities",
    "DicomModalitiesInDatabase",
    "DicomEchoChecksFind",
    "DicomScuTimeout",
    "DicomScuPreferredTransferSyntax",
    "DicomThreadsCount",
    "OrthancPeers",
    "OrthancPeersInDatabase",
    "HttpProxy",
    "HttpVerbose",
    "HttpsVerifyPeers",
    "HttpsCACertificates",
    "StrictAetComparison",
    "StoreMD5ForAttachments",
    "LogExportedResources",
    "KeepAlive",
    "TcpNoDelay",
    "HttpThreadsCount",
    "StoreDicom",
    "DicomAssociationCloseDelay",
    "QueryRetrieveSize",
    "CaseSensitivePN",
    "LoadPrivateDictionary",
    "Dictionary",
    "SynchronousCMove",
    "MediaArchiveSize",
    "StorageAccessOnFind",
    "MetricsEnabled",
    "ExecuteLuaEnabled",
    "RestApiWriteToFileSystemEnabled",
    "HttpRequestTimeout",
    "DefaultPrivateCreator",
    "StorageCommitmentReportsSize",
    "TranscodeDicomProtocol",
    "BuiltinDecoderTranscoderOrder",
    "IngestTranscodingOfUncompressed",
    "IngestTranscodingOfCompressed",
    "DicomLossyTranscodingQuality",
    "MallocArenaMax",
    "DeidentifyLogs",
    "DeidentifyLogsDicomVersion",
    "MaximumPduLength",
    "SynchronousZipStream",
    "ZipLoaderThreads",
    "PostgreSQL",
    "AwsS3Storage",
];

/// Removes `//` and `/* */` comments outside of JSON strings.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    if n == '\n' {
                        out.push('\n');
                    }
                    prev = n;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn read_json_file(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    match serde_json::from_str(&strip_comments(&text)) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConfigError::NotAnObject {
            path: path.display().to_string(),
        }),
        Err(source) => Err(ConfigError::Parse {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Reads a configuration file, or every `*.json` file of a folder (merged, in name order).
pub fn load_raw(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    if !path.is_dir() {
        return read_json_file(path);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut merged = Map::new();
    for f in files {
        merged.extend(read_json_file(&f)?);
    }
    Ok(merged)
}

fn get_bool(raw: &Map<String, Value>, key: &str, default: bool) -> Result<bool, ConfigError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
        Some(other) => Err(bad(key, format!("expected a Boolean, got {other}"))),
    }
}

fn get_u64(raw: &Map<String, Value>, key: &str, default: u64) -> Result<u64, ConfigError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| bad(key, format!("expected a non-negative integer, got {n}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| bad(key, format!("expected an integer, got \"{s}\""))),
        Some(other) => Err(bad(key, format!("expected an integer, got {other}"))),
    }
}

fn get_string(raw: &Map<String, Value>, key: &str, default: &str) -> Result<String, ConfigError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(bad(key, format!("expected a string, got {other}"))),
    }
}

fn bad(option: &str, reason: String) -> ConfigError {
    ConfigError::BadValue {
        option: option.to_owned(),
        reason,
    }
}

impl Config {
    /// Orthanc's defaults (no configuration file).
    pub fn defaults() -> Config {
        Config::from_raw(Map::new(), Path::new(".")).expect("defaults are valid")
    }

    /// Loads a file or folder; relative paths inside are relative to the working directory,
    /// as in Orthanc.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::from_raw(load_raw(path)?, Path::new("."))
    }

    pub fn from_raw(raw: Map<String, Value>, base: &Path) -> Result<Config, ConfigError> {
        let storage = get_string(&raw, "StorageDirectory", "OrthancStorage")?;
        let index = match raw.get("IndexDirectory") {
            Some(Value::String(s)) => s.clone(),
            _ => storage.clone(),
        };
        let port = |key: &str, default: u64| -> Result<u16, ConfigError> {
            u16::try_from(get_u64(&raw, key, default)?)
                .map_err(|_| bad(key, "not a TCP port".to_owned()))
        };
        let mut registered_users = BTreeMap::new();
        if let Some(users) = raw.get("RegisteredUsers") {
            let obj = users
                .as_object()
                .ok_or_else(|| bad("RegisteredUsers", "expected an object".to_owned()))?;
            for (user, password) in obj {
                let password = password.as_str().ok_or_else(|| {
                    bad(
                        "RegisteredUsers",
                        format!("password of \"{user}\" must be a string"),
                    )
                })?;
                registered_users.insert(user.clone(), password.to_owned());
            }
        }
        let mut user_metadata = BTreeMap::new();
        if let Some(Value::Object(obj)) = raw.get("UserMetadata") {
            for (name, code) in obj {
                let code = code
                    .as_i64()
                    .filter(|c| (1024..=65535).contains(c))
                    .ok_or_else(|| {
                        bad(
                            "UserMetadata",
                            format!("\"{name}\" needs a number in 1024..65535"),
                        )
                    })?;
                user_metadata.insert(name.clone(), code as i32);
            }
        }
        let mut user_content_type = BTreeMap::new();
        if let Some(Value::Object(obj)) = raw.get("UserContentType") {
            for (name, spec) in obj {
                let (code, mime) = match spec {
                    Value::Number(n) => (n.as_i64(), "application/octet-stream".to_owned()),
                    Value::Array(a) => (
                        a.first().and_then(Value::as_i64),
                        a.get(1)
                            .and_then(Value::as_str)
                            .unwrap_or("application/octet-stream")
                            .to_owned(),
                    ),
                    _ => (None, String::new()),
                };
                let code = code.filter(|c| (1024..=65535).contains(c)).ok_or_else(|| {
                    bad(
                        "UserContentType",
                        format!("\"{name}\" needs a number in 1024..65535"),
                    )
                })?;
                user_content_type.insert(name.clone(), (code as i32, mime));
            }
        }
        let mode = get_string(&raw, "MaximumStorageMode", "Recycle")?;
        if mode != "Recycle" && mode != "Reject" {
            return Err(bad(
                "MaximumStorageMode",
                format!("\"{mode}\" is neither Recycle nor Reject"),
            ));
        }
        Ok(Config {
            name: get_string(&raw, "Name", "MyOrthanc")?,
            http_port: port("HttpPort", 8042)?,
            dicom_aet: get_string(&raw, "DicomAet", "ORTHANC")?,
            dicom_port: port("DicomPort", 4242)?,
            storage_directory: base.join(storage),
            index_directory: base.join(index),
            overwrite_instances: get_bool(&raw, "OverwriteInstances", false)?,
            storage_compression: get_bool(&raw, "StorageCompression", false)?,
            maximum_storage_size: get_u64(&raw, "MaximumStorageSize", 0)?
                .saturating_mul(1024 * 1024),
            maximum_patient_count: get_u64(&raw, "MaximumPatientCount", 0)?,
            maximum_storage_mode_reject: mode == "Reject",
            stable_age: get_u64(&raw, "StableAge", 60)?,
            check_revisions: get_bool(&raw, "CheckRevisions", false)?,
            remote_access_allowed: get_bool(&raw, "RemoteAccessAllowed", false)?,
            authentication_enabled: get_bool(&raw, "AuthenticationEnabled", false)?,
            registered_users,
            http_timeout: get_u64(&raw, "HttpTimeout", 60)?,
            http_compression_enabled: get_bool(&raw, "HttpCompressionEnabled", true)?,
            sync_storage_area: get_bool(&raw, "SyncStorageArea", true)?,
            user_metadata,
            user_content_type,
            limit_find_results: get_u64(&raw, "LimitFindResults", 0)?,
            limit_find_instances: get_u64(&raw, "LimitFindInstances", 0)?,
            postgres_index: postgres_section(&raw)?,
            maximum_upload_size: get_u64(&raw, "MaximumUploadSize", 0)?.saturating_mul(1024 * 1024),
            raw,
        })
    }

    /// Options present in the file that Stowage neither uses nor knows from Orthanc.
    pub fn unknown_options(&self) -> Vec<&str> {
        self.raw
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN.contains(k) && !ORTHANC_OPTIONS_NOT_YET_USED.contains(k))
            .collect()
    }

    /// Orthanc options present in the file that this version of Stowage does not act on yet.
    pub fn not_yet_used_options(&self) -> Vec<&str> {
        self.raw
            .keys()
            .map(String::as_str)
            .filter(|k| ORTHANC_OPTIONS_NOT_YET_USED.contains(k))
            .collect()
    }
}

/// Environment variable naming a PostgreSQL index (`postgresql://...`): it overrides the
/// configuration file and enables the PostgreSQL index.
pub const POSTGRES_URL_VARIABLE: &str = "STOWAGE_POSTGRES_URL";

/// Reads the section of Orthanc's PostgreSQL plugin (`"PostgreSQL": {"EnableIndex": true, ...}`).
fn postgres_section(
    raw: &Map<String, Value>,
) -> Result<Option<stowage_index_postgres::PostgresConfig>, ConfigError> {
    let env_uri = std::env::var(POSTGRES_URL_VARIABLE)
        .ok()
        .filter(|u| !u.is_empty());
    let section = match raw.get("PostgreSQL") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad("PostgreSQL", "expected an object".to_owned())),
    };
    if env_uri.is_none() && !get_bool(&section, "EnableIndex", false)? {
        return Ok(None);
    }
    let defaults = stowage_index_postgres::PostgresConfig::default();
    let text = |key: &str, default: &str| {
        get_string(&section, key, default)
            .map_err(|_| bad("PostgreSQL", format!("\"{key}\" must be a string")))
    };
    let number = |key: &str, default: u64| {
        get_u64(&section, key, default)
            .map_err(|_| bad("PostgreSQL", format!("\"{key}\" must be a number")))
    };
    let connection_uri = match env_uri {
        Some(uri) => Some(uri),
        None => match section.get("ConnectionUri") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
    };
    Ok(Some(stowage_index_postgres::PostgresConfig {
        host: text("Host", &defaults.host)?,
        port: u16::try_from(number("Port", defaults.port.into())?)
            .map_err(|_| bad("PostgreSQL", "\"Port\" is not a TCP port".to_owned()))?,
        database: text("Database", &defaults.database)?,
        username: text("Username", &defaults.username)?,
        password: text("Password", &defaults.password)?,
        connection_uri,
        connections: number("IndexConnectionsCount", defaults.connections as u64)?.max(1) as usize,
        lock: get_bool(&section, "Lock", defaults.lock)?,
        max_connection_retries: number(
            "MaximumConnectionRetries",
            defaults.max_connection_retries.into(),
        )? as u32,
        connection_retry_interval_secs: number(
            "ConnectionRetryInterval",
            defaults.connection_retry_interval_secs,
        )?,
    }))
}

/// The commented configuration written by `stowage --config=FILE`.
pub const DEFAULT_CONFIGURATION: &str = include_str!("default-configuration.json");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_stripped_outside_strings() {
        let text = "{ // c1\n \"A\" : \"http://x/*y*/\", /* c2\n */ \"B\": 1 }";
        let v: Value = serde_json::from_str(&strip_comments(text)).unwrap();
        assert_eq!(v["A"], "http://x/*y*/");
        assert_eq!(v["B"], 1);
    }

    #[test]
    fn defaults_are_orthancs() {
        let c = Config::defaults();
        assert_eq!(c.http_port, 8042);
        assert_eq!(c.dicom_aet, "ORTHANC");
        assert_eq!(c.stable_age, 60);
        assert!(!c.remote_access_allowed);
        assert!(c.sync_storage_area);
        assert_eq!(c.storage_directory, Path::new("./OrthancStorage"));
        assert_eq!(c.index_directory, c.storage_directory);
    }

    #[test]
    fn the_default_configuration_file_parses() {
        let raw: Map<String, Value> =
            serde_json::from_str(&strip_comments(DEFAULT_CONFIGURATION)).unwrap();
        let c = Config::from_raw(raw, Path::new(".")).unwrap();
        assert!(c.unknown_options().is_empty(), "{:?}", c.unknown_options());
        assert_eq!(c.http_port, 8042);
    }

    #[test]
    fn postgres_section_is_read() {
        let raw: Map<String, Value> = serde_json::from_str(
            r#"{"PostgreSQL": {"EnableIndex": true, "Host": "db", "Port": 5433, "Lock": false,
                "IndexConnectionsCount": 3, "Database": "idx"}}"#,
        )
        .unwrap();
        let pg = Config::from_raw(raw, Path::new("."))
            .unwrap()
            .postgres_index
            .unwrap();
        assert_eq!(
            (pg.host.as_str(), pg.port, pg.lock, pg.connections),
            ("db", 5433, false, 3)
        );
        assert_eq!(pg.database, "idx");
        let raw: Map<String, Value> =
            serde_json::from_str(r#"{"PostgreSQL": {"EnableIndex": false}}"#).unwrap();
        if std::env::var(POSTGRES_URL_VARIABLE).is_err() {
            assert!(Config::from_raw(raw, Path::new("."))
                .unwrap()
                .postgres_index
                .is_none());
        }
    }

    #[test]
    fn bad_values_are_reported() {
        let raw: Map<String, Value> = serde_json::from_str(r#"{"HttpPort": "abc"}"#).unwrap();
        assert!(matches!(
            Config::from_raw(raw, Path::new(".")),
            Err(ConfigError::BadValue { .. })
        ));
    }
}

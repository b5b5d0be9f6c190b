//! Where an instance came from, recorded in its metadata (`Origin`, `RemoteIP`...).

#[derive(Debug, Clone)]
pub enum Origin {
    RestApi {
        remote_ip: String,
        username: Option<String>,
    },
}

//! URL query strings (`?expand&since=0&limit=2`).

use std::collections::HashMap;

use super::error::{ApiError, ApiResult, ErrorCode};

pub struct QueryArgs(HashMap<String, String>);

impl QueryArgs {
    pub fn parse(query: Option<&str>) -> QueryArgs {
        let mut map = HashMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            map.insert(decode(k), decode(v));
        }
        QueryArgs(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A flag such as `?expand` (present and not `false`/`0`).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v != "false" && v != "0")
    }

    pub fn number(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::with_details(
                    ErrorCode::ParameterOutOfRange,
                    format!("Argument \"{key}\" must be a non-negative integer: {v}"),
                )
            }),
        }
    }
}

//! The labels service (`/{level}/{id}/labels`, `/tools/labels`, as in Orthanc ≥ 1.12).

use std::sync::Arc;

use stowage_core::ResourceType;

use super::context::Context;
use super::error::{tx_plumbing, ErrorCode, ServiceError, TxError, Verdict};
use super::resources::lookup_at_level;

/// Longest label Orthanc accepts.
const MAX_LABEL_LENGTH: usize = 64;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    #[error("A label must be 1 to {MAX_LABEL_LENGTH} characters among letters, digits, '_' and '-': \"{0}\"")]
    BadLabel(String),
    /// The resource does not have the label.
    #[error("no such label")]
    Absent,
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(LabelError);

impl ServiceError for LabelError {
    fn verdict(&self) -> Verdict {
        match self {
            LabelError::BadLabel(_) => Verdict::detailed(ErrorCode::BadRequest, self.to_string()),
            LabelError::Absent => Verdict::NoSuchResource,
            LabelError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            LabelError::Tx(e) => Some(e),
            _ => None,
        }
    }
}

/// A label is 1 to 64 ASCII letters, digits, `_` or `-` (Orthanc's rule).
pub fn check_label(label: &str) -> Result<(), LabelError> {
    let valid = !label.is_empty()
        && label.len() <= MAX_LABEL_LENGTH
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(LabelError::BadLabel(label.to_owned()))
    }
}

/// Every label in use.
pub async fn all_labels(ctx: &Arc<Context>) -> Result<Vec<String>, TxError> {
    ctx.read(|tx| Ok(tx.list_labels(None)?)).await
}

/// The labels of one resource.
pub async fn labels_of(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
) -> Result<Vec<String>, TxError> {
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        Ok(tx.list_labels(Some(id))?)
    })
    .await
}

/// Succeeds if the resource has the label; [`LabelError::Absent`] otherwise.
pub async fn has_label(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    label: String,
) -> Result<(), LabelError> {
    check_label(&label)?;
    let present = ctx
        .read(move |tx| {
            let id = lookup_at_level(tx, &public_id, level)?;
            Ok::<_, LabelError>(tx.list_labels(Some(id))?.contains(&label))
        })
        .await?;
    if present {
        Ok(())
    } else {
        Err(LabelError::Absent)
    }
}

/// Adds (`present`) or removes one label of a resource.
pub async fn set_label(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    label: String,
    present: bool,
) -> Result<(), LabelError> {
    check_label(&label)?;
    ctx.write(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        if present {
            tx.add_label(id, &label)?;
        } else {
            tx.remove_label(id, &label)?;
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_rule() {
        assert!(super::check_label("Research_2024-a").is_ok());
        for bad in ["", "with space", "é", &"x".repeat(65), "a/b"] {
            assert!(super::check_label(bad).is_err(), "{bad}");
        }
    }
}

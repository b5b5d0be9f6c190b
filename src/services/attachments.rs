//! The attachments service: the DICOM file and user attachments of a resource, with
//! revisions. A new file is written first, then recorded; a failed record removes it.

use std::sync::Arc;

use stowage_core::{
    ChangeType, CompressionType, FileContentType, FileInfo, IndexTransaction, InternalId,
    Precondition, ResourceType, StoredAttachment,
};

use super::context::{blocking, Context};
use super::error::{tx_plumbing, ErrorCode, FileError, ServiceError, TxError, Verdict};
use super::file_writer::write_attachment;
use super::files::{read_attachment, remove_files};
use super::resources::{log_change, lookup_at_level};
use super::revision::{self, Etag, RevisionError};
use crate::config::Config;
use crate::support::hashing::md5_hex;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// Not a known attachment name.
    #[error("unknown attachment name")]
    UnknownName,
    /// A system attachment cannot be written or deleted this way.
    #[error("forbidden on this attachment")]
    Forbidden,
    /// The resource has no such attachment.
    #[error("no such attachment")]
    Absent,
    /// The stored content does not match its recorded MD5.
    #[error("the stored file does not match its MD5")]
    Corrupted,
    #[error(transparent)]
    Revision(#[from] RevisionError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Tx(TxError),
}

tx_plumbing!(AttachmentError);

impl ServiceError for AttachmentError {
    fn verdict(&self) -> Verdict {
        match self {
            AttachmentError::UnknownName => Verdict::error(ErrorCode::InexistentItem),
            AttachmentError::Forbidden => Verdict::Forbidden,
            AttachmentError::Absent => Verdict::error(ErrorCode::UnknownResource),
            AttachmentError::Corrupted => Verdict::error(ErrorCode::CorruptedFile),
            AttachmentError::Revision(e) => e.verdict(),
            AttachmentError::File(e) => e.verdict(),
            AttachmentError::Tx(e) => e.verdict(),
        }
    }
    fn tx_error(&self) -> Option<&TxError> {
        match self {
            AttachmentError::Tx(e) => Some(e),
            _ => None,
        }
    }
}

/// An attachment kind from its REST name: built-in name, `UserContentType` name, or number.
pub fn content_type(config: &Config, name: &str) -> Option<FileContentType> {
    match name {
        "dicom" => Some(FileContentType::DICOM),
        "dicom-as-json" => Some(FileContentType::DICOM_AS_JSON),
        "dicom-until-pixel-data" => Some(FileContentType::DICOM_UNTIL_PIXEL_DATA),
        _ => config
            .user_content_type
            .get(name)
            .map(|(c, _)| FileContentType(*c))
            .or_else(|| name.parse::<u16>().ok().map(|n| FileContentType(n.into()))),
    }
}

/// [`content_type`], or [`AttachmentError::UnknownName`].
pub fn resolve(config: &Config, name: &str) -> Result<FileContentType, AttachmentError> {
    content_type(config, name).ok_or(AttachmentError::UnknownName)
}

/// The REST name of an attachment kind.
pub fn content_type_name(config: &Config, ct: FileContentType) -> String {
    if let Some(n) = ct.builtin_name() {
        return n.to_owned();
    }
    config
        .user_content_type
        .iter()
        .find(|(_, (c, _))| *c == ct.0)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| ct.0.to_string())
}

/// The MIME type of an attachment kind (`UserContentType`).
pub fn mime_of(config: &Config, ct: FileContentType) -> String {
    if ct == FileContentType::DICOM {
        return "application/dicom".into();
    }
    config
        .user_content_type
        .values()
        .find(|(c, _)| *c == ct.0)
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| "application/octet-stream".into())
}

fn etag_of(f: &FileInfo, revision: i64) -> Etag {
    Etag {
        revision,
        md5: f.uncompressed_md5.clone(),
    }
}

fn lookup(
    tx: &mut dyn IndexTransaction,
    public_id: &str,
    level: ResourceType,
    ct: FileContentType,
) -> Result<(InternalId, Option<StoredAttachment>), AttachmentError> {
    let id = lookup_at_level(tx, public_id, level)?;
    Ok((id, tx.lookup_attachment(id, ct)?))
}

fn log_update(
    tx: &mut dyn IndexTransaction,
    level: ResourceType,
    public_id: &str,
) -> Result<(), AttachmentError> {
    Ok(log_change(
        tx,
        ChangeType::UpdatedAttachment,
        level,
        public_id,
    )?)
}

/// The attachment kinds of a resource.
pub async fn list(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
) -> Result<Vec<FileContentType>, TxError> {
    ctx.read(move |tx| {
        let id = lookup_at_level(tx, &public_id, level)?;
        Ok(tx.list_available_attachments(id)?)
    })
    .await
}

/// An attachment's record and ETag.
pub async fn fetch(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    ct: FileContentType,
) -> Result<(FileInfo, Etag), AttachmentError> {
    let (_, found) = ctx
        .read(move |tx| lookup(tx, &public_id, level, ct))
        .await?;
    let found = found.ok_or(AttachmentError::Absent)?;
    let etag = etag_of(&found.file, found.revision);
    Ok((found.file, etag))
}

/// The content of an attachment: uncompressed, or as stored (`raw`).
pub async fn read_data(
    ctx: &Arc<Context>,
    info: FileInfo,
    raw: bool,
) -> Result<Vec<u8>, AttachmentError> {
    let c = ctx.clone();
    blocking(move || {
        if raw {
            c.storage
                .read(&info.uuid, info.content_type)
                .map_err(|e| FileError::Read(e).into())
        } else {
            Ok(read_attachment(&c, &info)?)
        }
    })
    .await
}

/// Checks the stored and uncompressed MD5 of an attachment.
pub async fn verify_md5(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    ct: FileContentType,
) -> Result<(), AttachmentError> {
    let (f, _) = fetch(ctx, public_id, level, ct).await?;
    let c = ctx.clone();
    blocking(move || {
        let stored = c
            .storage
            .read(&f.uuid, f.content_type)
            .map_err(FileError::Read)?;
        let data = read_attachment(&c, &f)?;
        if md5_hex(&stored) != f.compressed_md5 || md5_hex(&data) != f.uncompressed_md5 {
            return Err(AttachmentError::Corrupted);
        }
        Ok(())
    })
    .await
}

/// Re-stores an attachment compressed or not. The content, hence its MD5, stays; it takes the
/// next revision (as in Orthanc), and a version replaced meanwhile stays (a revision error).
pub async fn set_compression(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    ct: FileContentType,
    compressed: bool,
) -> Result<(), AttachmentError> {
    let c = ctx.clone();
    blocking(move || {
        let (_, found) = c.read_blocking(|tx| lookup(tx, &public_id, level, ct))?;
        let old = found.ok_or(AttachmentError::Absent)?;
        if (old.file.compression != CompressionType::None) == compressed {
            return Ok(());
        }
        let data = read_attachment(&c, &old.file)?;
        let info = write_attachment(c.storage.as_ref(), &data, ct, compressed)
            .map_err(FileError::Write)?;
        let precondition = Precondition::Matches {
            revision: old.revision,
            md5: old.file.uncompressed_md5.clone(),
        };
        let result = c.write_blocking(|tx| -> Result<_, AttachmentError> {
            let id = lookup_at_level(tx, &public_id, level)?;
            Ok(tx.add_attachment(id, &info, &precondition)?)
        });
        match result {
            Ok(added) => {
                if let Some(replaced) = added.replaced {
                    remove_files(&c, &[replaced]);
                }
                Ok(())
            }
            Err(e) => {
                if !e.commit_outcome_unknown() {
                    remove_files(&c, &[info]);
                }
                Err(e)
            }
        }
    })
    .await
}

/// Writes a user attachment (new, or replacing one as the revision rules allow, checked by the
/// index); answers its ETag.
pub async fn put(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    ct: FileContentType,
    body: Vec<u8>,
    expected: Option<Etag>,
) -> Result<Etag, AttachmentError> {
    if !ct.is_user_defined() {
        return Err(AttachmentError::Forbidden);
    }
    let precondition = revision::write_precondition(expected, ctx.config.check_revisions);
    let c = ctx.clone();
    blocking(move || {
        // Fail early on an unknown resource, before writing any file.
        c.read_blocking(|tx| Ok::<_, AttachmentError>(lookup_at_level(tx, &public_id, level)?))?;
        let info = write_attachment(c.storage.as_ref(), &body, ct, c.config.storage_compression)
            .map_err(FileError::Write)?;
        let result = c.write_blocking(|tx| -> Result<_, AttachmentError> {
            let id = lookup_at_level(tx, &public_id, level)?;
            let added = tx.add_attachment(id, &info, &precondition)?;
            log_update(tx, level, &public_id)?;
            Ok((etag_of(&info, added.revision), added.replaced))
        });
        match result {
            Ok((etag, replaced)) => {
                if let Some(old) = replaced {
                    remove_files(&c, &[old]);
                }
                Ok(etag)
            }
            Err(e) => {
                if !e.commit_outcome_unknown() {
                    remove_files(&c, std::slice::from_ref(&info));
                }
                Err(e)
            }
        }
    })
    .await
}

/// Deletes a user attachment, as the revision rules allow (checked by the index).
pub async fn delete(
    ctx: &Arc<Context>,
    public_id: String,
    level: ResourceType,
    ct: FileContentType,
    expected: Option<Etag>,
) -> Result<(), AttachmentError> {
    if ct == FileContentType::DICOM {
        return Err(AttachmentError::Forbidden);
    }
    let check = ctx.config.check_revisions;
    let removed = ctx
        .write(move |tx| {
            let id = lookup_at_level(tx, &public_id, level)?;
            let precondition = revision::delete_precondition(expected.clone(), check)?;
            let Some(removed) = tx.delete_attachment(id, ct, &precondition)? else {
                return Err(AttachmentError::Absent);
            };
            log_update(tx, level, &public_id)?;
            Ok(removed.file)
        })
        .await?;
    let c = ctx.clone();
    blocking(move || {
        remove_files(&c, &[removed]);
        Ok::<_, AttachmentError>(())
    })
    .await
}

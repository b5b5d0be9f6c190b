//! The changes log and the exports log (`/changes`, `/exports`).

use std::sync::Arc;

use stowage_core::{Change, ExportedResource};

use super::context::Context;
use super::error::TxError;

/// One page of a log.
pub struct Page<T> {
    pub items: Vec<T>,
    /// No entry after these.
    pub done: bool,
    /// The sequence number to ask `since` next.
    pub last: i64,
}

/// Changes after `since` (at most `limit`), or only the last one.
pub async fn changes(
    ctx: &Arc<Context>,
    since: i64,
    limit: u64,
    last_only: bool,
) -> Result<Page<Change>, TxError> {
    ctx.read(move |tx| {
        let (items, done) = if last_only {
            (tx.get_last_change()?.into_iter().collect(), true)
        } else {
            let page = tx.get_changes(since, limit)?;
            (page.changes, page.done)
        };
        let last = match items.last() {
            Some(c) => c.seq,
            None if last_only => 0,
            None => since.max(if since == 0 {
                tx.get_last_change_index()?
            } else {
                since
            }),
        };
        Ok(Page { items, done, last })
    })
    .await
}

pub async fn clear_changes(ctx: &Arc<Context>) -> Result<(), TxError> {
    ctx.write(|tx| Ok(tx.clear_changes()?)).await
}

/// Exported resources after `since` (at most `limit`), or only the last one.
pub async fn exports(
    ctx: &Arc<Context>,
    since: i64,
    limit: u64,
    last_only: bool,
) -> Result<Page<ExportedResource>, TxError> {
    ctx.read(move |tx| {
        let (items, done) = if last_only {
            (tx.get_last_exported_resource()?.into_iter().collect(), true)
        } else {
            let page = tx.get_exported_resources(since, limit)?;
            (page.exports, page.done)
        };
        let last = items.last().map(|e| e.seq).unwrap_or(since);
        Ok(Page { items, done, last })
    })
    .await
}

pub async fn clear_exports(ctx: &Arc<Context>) -> Result<(), TxError> {
    ctx.write(|tx| Ok(tx.clear_exported_resources()?)).await
}

//! The services layer: what Stowage does, whatever front asks (REST today; the DICOM network,
//! plugins and scripts next). Each service takes the [`context::Context`] (configuration, index,
//! storage area), runs index transactions and storage calls, and returns its own error enum
//! (see [`error`]); a front only parses its request, calls one service function and renders
//! the answer.
//!
//! Layers inside: `error` and `stable` know nothing of the others; `context` runs the
//! transactions; `files` / `file_writer` read and write the storage area; `resources` holds
//! the look-ups the other services use; the services proper (`ingest`, `find`, `metadata`,
//! `attachments`, `labels`, `delete`, `changes`, `system`, `archive`, `jobs`, `maintenance`)
//! sit on top of those and never import each other in a circle.

pub mod archive;
pub mod attachments;
pub mod bulk;
pub mod changes;
pub mod context;
pub mod delete;
pub mod error;
pub mod file_writer;
pub mod files;
pub mod find;
pub mod ingest;
pub mod jobs;
pub mod labels;
pub mod maintenance;
pub mod metadata;
pub mod resources;
pub mod revision;
pub mod slices;
pub mod stable;
pub mod system;

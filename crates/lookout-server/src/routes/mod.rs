//! HTTP handlers, one module per area. Handlers parse, admit and hand off:
//! they hold no SQL and no business rules of their own.

pub mod alerts;
pub mod api;
pub mod backups;
pub mod ingest;
pub mod monitors;
pub mod pages_api;
pub mod probes;
pub mod sentry_api;

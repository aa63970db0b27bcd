//! lookout-ingest: turning received Sentry envelopes into stored events and
//! issues. [`Ingestor`] is the entry point; see [`pipeline`] for the path
//! of an envelope.
//!
//! The modules here are pure functions over the event JSON:
//! [`grouping`] (issue hashes), [`normalize`] (message normalisation),
//! [`scrub`] (data scrubbing) and [`summary`] (fields for issue lists).

pub mod dicts;
pub mod error;
pub mod grouping;
pub mod items;
pub mod normalize;
pub mod pipeline;
pub mod projects;
pub mod quota;
pub mod scrub;
pub mod summary;

pub use error::IngestError;
pub use pipeline::{
    Accepted, Endpoint, EventFacts, EventObserver, IngestSettings, Ingestor, Submission,
};

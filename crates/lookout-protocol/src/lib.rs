//! Pure parsers for what Sentry SDKs send to Lookout.
//!
//! Everything here works on untrusted bytes already in memory: there is no
//! I/O, no async and no storage, and every parser returns an error instead of
//! panicking on malformed input.
//!
//! * [`decode`]: decompresses a request body according to its
//!   `Content-Encoding` (`br`, `gzip`, `deflate`, `zstd` or none) while
//!   enforcing a size limit, so decompression bombs stop early.
//! * [`envelope`]: parses the Sentry envelope format (a JSON header line
//!   followed by items) into zero-copy item payloads, applying per-type size
//!   limits and keeping unknown item types for the caller to skip.
//! * [`auth`]: parses the `X-Sentry-Auth` header, `sentry_key` query
//!   parameters and DSNs.
//!
//! A typical ingestion path:
//!
//! ```
//! use bytes::Bytes;
//! use lookout_protocol::{decode_body, parse_envelope, parse_sentry_auth_header, ItemType, Limits};
//!
//! let auth = parse_sentry_auth_header("Sentry sentry_key=abc, sentry_version=7").unwrap();
//! assert_eq!(auth.key, "abc");
//!
//! let raw = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n{\"type\":\"event\"}\n{\"message\":\"hi\"}\n";
//! let body = decode_body(None, raw, 20 * 1024 * 1024).unwrap();
//! let envelope = parse_envelope(Bytes::from(body), &Limits::default()).unwrap();
//! assert_eq!(envelope.items[0].item_type, ItemType::Event);
//! assert_eq!(envelope.event_id().as_deref(), Some("9ec79c33ec9942ab8353589fcb2e04dc"));
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod decode;
pub mod envelope;

pub use auth::{
    Dsn, DsnError, SentryAuth, parse_sentry_auth_header, parse_sentry_auth_query,
    sentry_key_from_query,
};
pub use decode::{DecodeError, decode_body, decode_body_bytes};
pub use envelope::{
    Envelope, EnvelopeError, EnvelopeHeader, Item, ItemType, Limits, normalize_event_id,
    parse_envelope,
};

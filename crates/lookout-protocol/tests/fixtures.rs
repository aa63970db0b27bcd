//! Decodes and parses every request recorded from the Python SDK in
//! `fixtures/sentry-python/`.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::Bytes;
use lookout_protocol::{
    DecodeError, ItemType, Limits, decode_body, decode_body_bytes, normalize_event_id,
    parse_envelope, parse_sentry_auth_header,
};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sentry-python");
const KEY: &str = "0123456789abcdef0123456789abcdef";
const MAX_DECODED: usize = 200 * 1024 * 1024;

struct Recorded {
    name: String,
    path: String,
    headers: serde_json::Map<String, Value>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(FIXTURES)
        .unwrap_or_else(|e| panic!("cannot read {FIXTURES}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("req_") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> Recorded {
    let json: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    let body = base64::engine::general_purpose::STANDARD
        .decode(json["body_b64"].as_str().unwrap())
        .unwrap();
    Recorded {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        path: json["path"].as_str().unwrap().to_owned(),
        headers: json["headers"].as_object().unwrap().clone(),
        body,
    }
}

fn expected_type(name: &str) -> ItemType {
    let n: u32 = name.trim_start_matches("req_").parse().unwrap();
    match n {
        1..=7 => ItemType::Event,
        8 => ItemType::Transaction,
        9 | 10 => ItemType::CheckIn,
        _ => panic!("no expectation for fixture {name}; add one"),
    }
}

#[test]
fn every_recorded_request_decodes_and_parses() {
    let files = fixture_files();
    assert_eq!(files.len(), 10, "expected 10 fixtures in {FIXTURES}");
    for file in files {
        let req = load(&file);
        let name = req.name.as_str();
        assert_eq!(req.path, "/api/42/envelope/", "{name}");
        assert_eq!(req.header("Content-Encoding"), Some("br"), "{name}");

        let auth = parse_sentry_auth_header(req.header("X-Sentry-Auth").unwrap()).unwrap();
        assert_eq!(auth.key, KEY, "{name}");
        assert_eq!(auth.version.as_deref(), Some("7"), "{name}");
        assert_eq!(
            auth.client.as_deref(),
            Some("sentry.python/2.75.0"),
            "{name}"
        );

        let decoded = decode_body(Some("br"), &req.body, MAX_DECODED)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // `Content-Length` is what was recorded on the wire; the fixture
        // bodies were re-compressed after anonymising, so it is not checked.

        let envelope = parse_envelope(Bytes::from(decoded), &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = expected_type(name);
        let known: Vec<_> = envelope
            .items
            .iter()
            .filter(|i| !i.item_type.is_unknown())
            .collect();
        assert_eq!(known.len(), 1, "{name}: {:?}", envelope.items);
        assert_eq!(known[0].item_type, want, "{name}");

        let event_id = envelope
            .event_id()
            .unwrap_or_else(|| panic!("{name}: no event_id"));
        assert!(
            normalize_event_id(&event_id).is_some(),
            "{name}: event_id {event_id:?}"
        );
        if matches!(want, ItemType::Event | ItemType::Transaction) {
            // The payload is a JSON object whose event_id matches the header's.
            let payload: Value = serde_json::from_slice(&known[0].payload).unwrap();
            assert_eq!(
                payload["event_id"].as_str(),
                Some(event_id.as_str()),
                "{name}"
            );
        }
        if let Some(dsn) = &envelope.header.dsn {
            let dsn = lookout_protocol::Dsn::parse(dsn).unwrap();
            assert_eq!(dsn.public_key, KEY, "{name}");
            assert_eq!(dsn.project_id, "42", "{name}");
        }
    }
}

#[test]
fn recorded_bodies_respect_the_limit() {
    for file in fixture_files() {
        let req = load(&file);
        let full = decode_body(Some("br"), &req.body, MAX_DECODED).unwrap();
        // Exactly the decoded size is accepted, one byte less is refused.
        let same =
            decode_body_bytes(Some(" BR "), Bytes::from(req.body.clone()), full.len()).unwrap();
        assert_eq!(same, full);
        assert_eq!(
            decode_body(Some("br"), &req.body, full.len() - 1).unwrap_err(),
            DecodeError::TooLarge {
                limit: full.len() - 1
            },
            "{}",
            req.name
        );
    }
}

#[test]
fn truncated_recordings_are_corrupt_not_panics() {
    for file in fixture_files() {
        let req = load(&file);
        for cut in [
            1,
            req.body.len() / 3,
            req.body.len() / 2,
            req.body.len() - 1,
        ] {
            let err = decode_body(Some("br"), &req.body[..cut], MAX_DECODED).unwrap_err();
            assert!(
                matches!(err, DecodeError::Corrupt { encoding: "br", .. }),
                "{} cut at {cut}: {err:?}",
                req.name
            );
        }
    }
}

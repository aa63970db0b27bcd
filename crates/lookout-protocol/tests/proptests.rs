//! Property tests: the parsers never panic on arbitrary input, and
//! well-formed envelopes and compressed bodies round-trip.

use std::io::Write;

use bytes::Bytes;
use lookout_protocol::{
    DecodeError, Dsn, EnvelopeError, Limits, decode_body, parse_envelope, parse_sentry_auth_header,
    parse_sentry_auth_query, sentry_key_from_query,
};
use proptest::prelude::*;

const ENCODINGS: [&str; 6] = ["identity", "br", "gzip", "x-gzip", "deflate", "zstd"];

fn small_limits() -> Limits {
    Limits {
        max_event_bytes: 64,
        max_attachment_bytes: 256,
        max_check_in_bytes: 16,
        max_session_bytes: 16,
        max_log_bytes: 64,
        max_items: 8,
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// One generated item: its type name, extra header JSON, payload, and how
/// it is framed.
#[derive(Debug, Clone)]
struct GenItem {
    item_type: String,
    extra_header: String,
    payload: Vec<u8>,
    framing: Framing,
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    /// Correct `length`, followed by a newline.
    Length,
    /// Correct `length`, no newline after the payload.
    LengthNoNewline,
    /// No `length`; the payload contains no newline.
    Implicit,
    /// A wrong `length` (payload length plus this delta, may be negative).
    WrongLength(i64),
    /// A malformed header line.
    Garbage,
}

fn item_type_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("event".to_owned()),
        Just("transaction".to_owned()),
        Just("attachment".to_owned()),
        Just("check_in".to_owned()),
        Just("session".to_owned()),
        Just("log".to_owned()),
        Just("replay_recording".to_owned()),
        "[a-z_]{1,12}",
    ]
}

fn extra_header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(",\"filename\":\"a.txt\"".to_owned()),
        Just(",\"content_type\":\"application/json\"".to_owned()),
        Just(",\"length\":null".to_owned()),
        Just(",\"attachment_type\":5".to_owned()),
    ]
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        4 => Just(Framing::Length),
        2 => Just(Framing::LengthNoNewline),
        4 => Just(Framing::Implicit),
        1 => (-3i64..=3).prop_map(Framing::WrongLength),
        1 => Just(Framing::Garbage),
    ]
}

fn gen_item() -> impl Strategy<Value = GenItem> {
    (
        item_type_name(),
        extra_header(),
        prop::collection::vec(any::<u8>(), 0..80),
        framing(),
    )
        .prop_map(|(item_type, extra_header, mut payload, framing)| {
            if matches!(framing, Framing::Implicit) {
                payload.retain(|&b| b != b'\n');
            }
            // `"length":null` in the extra header would be a duplicate key next
            // to a real length; keep it only for implicit framing.
            let extra_header =
                if extra_header.contains("length") && !matches!(framing, Framing::Implicit) {
                    String::new()
                } else {
                    extra_header
                };
            GenItem {
                item_type,
                extra_header,
                payload,
                framing,
            }
        })
}

fn envelope_header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{}".to_owned()),
        "[0-9a-f]{32}".prop_map(|id| format!("{{\"event_id\":\"{id}\"}}")),
        Just("{\"dsn\":\"https://k@h/1\",\"sent_at\":\"2020-02-07T14:16:00Z\"}".to_owned()),
        Just("{\"event_id\":".to_owned()),
    ]
}

fn serialize(header: &str, items: &[GenItem], trailing_newline: bool) -> Vec<u8> {
    let mut out = header.as_bytes().to_vec();
    out.push(b'\n');
    for item in items {
        let (t, extra, payload) = (&item.item_type, &item.extra_header, &item.payload);
        match item.framing {
            Framing::Length | Framing::LengthNoNewline => {
                out.extend(
                    format!("{{\"type\":\"{t}\",\"length\":{}{extra}}}\n", payload.len())
                        .as_bytes(),
                );
                out.extend(payload);
                if matches!(item.framing, Framing::Length) {
                    out.push(b'\n');
                }
            }
            Framing::Implicit => {
                out.extend(format!("{{\"type\":\"{t}\"{extra}}}\n").as_bytes());
                out.extend(payload);
                out.push(b'\n');
            }
            Framing::WrongLength(delta) => {
                let length = payload.len() as i64 + delta;
                out.extend(format!("{{\"type\":\"{t}\",\"length\":{length}{extra}}}\n").as_bytes());
                out.extend(payload);
                out.push(b'\n');
            }
            Framing::Garbage => {
                out.extend(format!("{{\"type\":\"{t}\",{extra}\n").as_bytes());
                out.extend(payload);
                out.push(b'\n');
            }
        }
    }
    let ends_with_separator = items
        .last()
        .is_none_or(|item| !matches!(item.framing, Framing::LengthNoNewline));
    if !trailing_newline && ends_with_separator {
        out.pop();
    }
    out
}

/// Whether the generated envelope is valid, so that it must parse back to
/// exactly the generated items (unless one exceeds its size limit).
fn is_well_formed(header: &str, items: &[GenItem]) -> bool {
    header != "{\"event_id\":"
        && items.iter().all(|i| {
            matches!(
                i.framing,
                Framing::Length | Framing::LengthNoNewline | Framing::Implicit
            )
        })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    // 512 cases by default; `PROPTEST_CASES=N` runs more.
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn parse_envelope_never_panics_on_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_envelope(Bytes::from(data.clone()), &Limits::default());
        let _ = parse_envelope(Bytes::from(data), &small_limits());
    }

    #[test]
    fn parse_envelope_never_panics_on_line_soup(
        lines in prop::collection::vec(
            prop_oneof![
                Just("{}".to_owned()),
                Just("{\"type\":\"event\"}".to_owned()),
                Just("{\"type\":\"attachment\",\"length\":3}".to_owned()),
                (0u64..20).prop_map(|n| format!("{{\"type\":\"x\",\"length\":{n}}}")),
                Just("{\"type\":\"event\",\"length\":18446744073709551615}".to_owned()),
                Just("{\"type\":\"event\",\"length\":-5}".to_owned()),
                Just("{\"length\":1}".to_owned()),
                Just("\r".to_owned()),
                Just(String::new()),
                "[ -~]{0,20}",
            ],
            0..20,
        ),
        trailing in any::<bool>(),
    ) {
        let mut body = lines.join("\n");
        if trailing {
            body.push('\n');
        }
        let _ = parse_envelope(Bytes::from(body.clone()), &Limits::default());
        let _ = parse_envelope(Bytes::from(body), &small_limits());
    }

    #[test]
    fn generated_envelopes_never_panic_and_round_trip(
        header in envelope_header(),
        items in prop::collection::vec(gen_item(), 0..10),
        trailing_newline in any::<bool>(),
    ) {
        let body = serialize(&header, &items, trailing_newline);
        let limits = Limits { max_items: 1000, ..small_limits() };
        let result = parse_envelope(Bytes::from(body.clone()), &limits);
        let _ = parse_envelope(Bytes::from(body.clone()), &Limits::default());

        if is_well_formed(&header, &items) {
            let too_large = items.iter().position(|i| {
                i.payload.len() > limits.limit_for(&lookout_protocol::ItemType::from_name(&i.item_type))
            });
            match too_large {
                Some(index) => {
                    let err = result.unwrap_err();
                    let is_too_large = matches!(err, EnvelopeError::ItemTooLarge { index: i, .. } if i == index);
                    prop_assert!(is_too_large, "{:?}", err);
                }
                None => {
                    let env = result.unwrap();
                    prop_assert_eq!(env.items.len(), items.len());
                    for (got, want) in env.items.iter().zip(&items) {
                        prop_assert_eq!(got.item_type.as_str(), want.item_type.as_str());
                        prop_assert_eq!(&got.payload[..], &want.payload[..]);
                    }
                }
            }
        }
    }

    #[test]
    fn too_many_items_is_reported(count in 0usize..20, max_items in 0usize..10) {
        let mut body = b"{}\n".to_vec();
        for _ in 0..count {
            body.extend_from_slice(b"{\"type\":\"event\"}\n{}\n");
        }
        let limits = Limits { max_items, ..Limits::default() };
        match parse_envelope(Bytes::from(body), &limits) {
            Ok(env) => prop_assert!(count <= max_items && env.items.len() == count),
            Err(err) => {
                prop_assert!(count > max_items);
                prop_assert_eq!(err, EnvelopeError::TooManyItems { limit: max_items });
            }
        }
    }

    #[test]
    fn decode_body_never_panics_on_bytes(
        data in prop::collection::vec(any::<u8>(), 0..512),
        limit in 0usize..4096,
    ) {
        for encoding in ENCODINGS {
            let _ = decode_body(Some(encoding), &data, limit);
        }
        let _ = decode_body(std::str::from_utf8(&data).ok(), &data, limit);
    }

    #[test]
    fn decode_body_never_panics_on_mangled_streams(
        data in prop::collection::vec(any::<u8>(), 0..2048),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let streams = [
            ("gzip", gzip(&data)),
            ("deflate", zlib(&data)),
            ("deflate", raw_deflate(&data)),
            ("zstd", zstd::encode_all(&data[..], 1).unwrap()),
        ];
        for (encoding, mut stream) in streams {
            for (at, value) in &flips {
                let i = at.index(stream.len());
                stream[i] ^= value;
            }
            let end = cut.index(stream.len() + 1);
            match decode_body(Some(encoding), &stream[..end], 4096) {
                Ok(out) => prop_assert!(out.len() <= 4096),
                Err(DecodeError::TooLarge { limit }) => prop_assert_eq!(limit, 4096),
                Err(DecodeError::Corrupt { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn compressed_bodies_round_trip(
        data in prop::collection::vec(any::<u8>(), 0..4096),
        slack in 0usize..16,
    ) {
        let streams = [
            ("gzip", gzip(&data)),
            ("deflate", zlib(&data)),
            ("deflate", raw_deflate(&data)),
            ("zstd", zstd::encode_all(&data[..], 1).unwrap()),
            ("identity", data.clone()),
        ];
        for (encoding, stream) in streams {
            let out = decode_body(Some(encoding), &stream, data.len() + slack).unwrap();
            prop_assert_eq!(&out, &data);
            if !data.is_empty() {
                let err = decode_body(Some(encoding), &stream, data.len() - 1).unwrap_err();
                prop_assert_eq!(err, DecodeError::TooLarge { limit: data.len() - 1 });
            }
        }
    }

    #[test]
    fn auth_parsers_never_panic(s in "\\PC{0,80}", raw in prop::collection::vec(any::<u8>(), 0..80)) {
        let lossy = String::from_utf8_lossy(&raw);
        for input in [s.as_str(), &lossy] {
            if let Some(auth) = parse_sentry_auth_header(input) {
                prop_assert!(!auth.key.is_empty());
            }
            let _ = parse_sentry_auth_query(input);
            let _ = sentry_key_from_query(input);
            if let Ok(dsn) = Dsn::parse(input) {
                // A parsed DSN re-renders to something that parses identically.
                prop_assert_eq!(Dsn::parse(&dsn.to_string()), Ok(dsn));
            }
        }
    }

    #[test]
    fn generated_dsns_round_trip(
        https in any::<bool>(),
        key in "[0-9a-f]{32}",
        host in "[a-z][a-z0-9.-]{0,20}",
        port in proptest::option::of(any::<u16>()),
        prefix in prop::collection::vec("[a-z0-9]{1,5}", 0..3),
        project in "[0-9]{1,6}",
    ) {
        let scheme = if https { "https" } else { "http" };
        let host = match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        let path_prefix: String = prefix.iter().map(|p| format!("/{p}")).collect();
        let text = format!("{scheme}://{key}@{host}{path_prefix}/{project}");
        let dsn = Dsn::parse(&text).unwrap();
        prop_assert_eq!(&dsn.host, &host);
        prop_assert_eq!(&dsn.path_prefix, &path_prefix);
        prop_assert_eq!(&dsn.project_id, &project);
        prop_assert_eq!(dsn.to_string(), text);
    }
}

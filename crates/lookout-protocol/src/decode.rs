//! Capped decompression of request bodies.
//!
//! SDKs compress envelopes with `Content-Encoding: br`, `gzip`, `deflate` or
//! `zstd`. A compressed body is tiny on the wire but may expand without bound
//! (a "decompression bomb"), so [`decode_body`] enforces the caller's limit
//! *while* it streams the decompressor: it reads into an output buffer that
//! never grows past `max_decoded` (plus one bounded read window of
//! [`READ_WINDOW`] bytes) and stops at the first byte beyond the limit.
//!
//! Supported encodings (matched case-insensitively, surrounding whitespace
//! ignored):
//!
//! | header value                 | decoder                                    |
//! |------------------------------|--------------------------------------------|
//! | absent, empty, `identity`    | none, only the length is checked           |
//! | `br`                         | Brotli                                     |
//! | `gzip`, `x-gzip`             | gzip (concatenated members are accepted)   |
//! | `deflate`                    | zlib-wrapped deflate, falling back to raw  |
//! | `zstd`                       | Zstandard (concatenated frames accepted)   |
//!
//! Anything else, including lists such as `gzip, br`, is rejected with
//! [`DecodeError::UnsupportedEncoding`].

use std::io::{self, Read};

use bytes::Bytes;

/// The largest number of bytes handed to the decompressor in a single
/// `read` call. The output buffer is zero-filled at most this far ahead of
/// the decoded data, which bounds both the extra allocation over the limit
/// and the cost of zero-filling.
pub const READ_WINDOW: usize = 64 * 1024;

/// Smallest buffer reserved up front for a compressed body.
const MIN_INITIAL_CAPACITY: usize = 8 * 1024;

/// Assumed expansion ratio used to size the first output allocation.
const EXPECTED_RATIO: usize = 4;

/// Brotli's internal input buffer size.
const BROTLI_BUFFER: usize = 16 * 1024;

/// Smallest `windowLogMax` given to zstd (8 MiB, the window used by the
/// standard compression levels up to 19).
const ZSTD_MIN_WINDOW_LOG: u32 = 23;

/// Largest `windowLogMax` given to zstd (128 MiB, zstd's own default limit).
const ZSTD_MAX_WINDOW_LOG: u32 = 27;

/// Longest unsupported encoding name echoed back in an error.
const MAX_ECHOED_ENCODING: usize = 64;

/// Why a request body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The `Content-Encoding` is not one this server understands. Holds the
    /// trimmed header value (cut to 64 characters).
    #[error("unsupported content encoding {0:?} (supported: identity, br, gzip, deflate, zstd)")]
    UnsupportedEncoding(String),
    /// The decoded body would be larger than the allowed maximum.
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// The body is not valid data for its declared encoding (truncated,
    /// corrupt, or followed by garbage the decoder refuses).
    #[error("corrupt {encoding} body: {reason}")]
    Corrupt {
        /// The canonical name of the encoding: `br`, `gzip`, `deflate` or `zstd`.
        encoding: &'static str,
        /// What the decoder reported.
        reason: String,
    },
}

/// A supported content encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Brotli,
    Gzip,
    Deflate,
    Zstd,
}

impl Encoding {
    fn parse(content_encoding: Option<&str>) -> Result<Self, DecodeError> {
        let Some(value) = content_encoding else {
            return Ok(Self::Identity);
        };
        let value = value.trim();
        let known = [
            ("", Self::Identity),
            ("identity", Self::Identity),
            ("br", Self::Brotli),
            ("gzip", Self::Gzip),
            ("x-gzip", Self::Gzip),
            ("deflate", Self::Deflate),
            ("zstd", Self::Zstd),
        ];
        known
            .iter()
            .find(|(name, _)| value.eq_ignore_ascii_case(name))
            .map(|&(_, encoding)| encoding)
            .ok_or_else(|| {
                DecodeError::UnsupportedEncoding(value.chars().take(MAX_ECHOED_ENCODING).collect())
            })
    }
}

/// Decodes a request body according to its `Content-Encoding` header value,
/// refusing to produce more than `max_decoded` bytes.
///
/// The limit is enforced while decompressing, so a decompression bomb is
/// stopped as soon as it crosses the limit; the output buffer never holds
/// more than `max_decoded` bytes and never reserves more than `max_decoded`
/// plus [`READ_WINDOW`] bytes.
///
/// For the identity encoding the body is copied after a length check; use
/// [`decode_body_bytes`] to avoid that copy.
///
/// # Errors
///
/// * [`DecodeError::UnsupportedEncoding`] for an unknown encoding,
/// * [`DecodeError::TooLarge`] if the decoded body exceeds `max_decoded`,
/// * [`DecodeError::Corrupt`] if the data is invalid for its encoding.
pub fn decode_body(
    content_encoding: Option<&str>,
    body: &[u8],
    max_decoded: usize,
) -> Result<Vec<u8>, DecodeError> {
    match Encoding::parse(content_encoding)? {
        Encoding::Identity => {
            check_identity(body, max_decoded)?;
            Ok(body.to_vec())
        }
        encoding => decompress(encoding, body, max_decoded),
    }
}

/// Like [`decode_body`], but takes and returns [`Bytes`]: an identity body is
/// returned as-is without copying, and a decompressed body is moved into a
/// `Bytes` without copying.
///
/// # Errors
///
/// The same as [`decode_body`].
pub fn decode_body_bytes(
    content_encoding: Option<&str>,
    body: Bytes,
    max_decoded: usize,
) -> Result<Bytes, DecodeError> {
    match Encoding::parse(content_encoding)? {
        Encoding::Identity => {
            check_identity(&body, max_decoded)?;
            Ok(body)
        }
        encoding => decompress(encoding, &body, max_decoded).map(Bytes::from),
    }
}

fn check_identity(body: &[u8], max_decoded: usize) -> Result<(), DecodeError> {
    if body.len() > max_decoded {
        return Err(DecodeError::TooLarge { limit: max_decoded });
    }
    Ok(())
}

fn decompress(encoding: Encoding, body: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    match encoding {
        Encoding::Identity => {
            check_identity(body, max)?;
            Ok(body.to_vec())
        }
        Encoding::Brotli => read_capped(
            brotli_decompressor::Decompressor::new(body, BROTLI_BUFFER),
            body.len(),
            max,
            "br",
        ),
        Encoding::Gzip => read_capped(
            flate2::bufread::MultiGzDecoder::new(body),
            body.len(),
            max,
            "gzip",
        ),
        Encoding::Deflate => {
            if looks_like_zlib(body) {
                let zlib = read_capped(
                    flate2::bufread::ZlibDecoder::new(body),
                    body.len(),
                    max,
                    "deflate",
                );
                match zlib {
                    // A raw deflate stream can start with two bytes that
                    // happen to form a valid zlib header; give it a second
                    // chance before calling the body corrupt.
                    Err(zlib_err @ DecodeError::Corrupt { .. }) => {
                        match read_capped(
                            flate2::bufread::DeflateDecoder::new(body),
                            body.len(),
                            max,
                            "deflate",
                        ) {
                            Err(DecodeError::Corrupt { .. }) => Err(zlib_err),
                            other => other,
                        }
                    }
                    other => other,
                }
            } else {
                read_capped(
                    flate2::bufread::DeflateDecoder::new(body),
                    body.len(),
                    max,
                    "deflate",
                )
            }
        }
        Encoding::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(body).map_err(|e| corrupt("zstd", &e))?;
            decoder
                .window_log_max(zstd_window_log(max))
                .map_err(|e| corrupt("zstd", &e))?;
            read_capped(decoder, body.len(), max, "zstd")
        }
    }
}

/// Whether `body` starts with a valid zlib (RFC 1950) header: compression
/// method 8, a window of at most 32 KiB, and a matching header checksum.
fn looks_like_zlib(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// The largest zstd window (as a power of two) accepted for a body that may
/// decode to at most `max` bytes. A window never needs to be larger than the
/// content, but encoders pick a window by compression level, so the value is
/// kept between 8 MiB and zstd's default limit of 128 MiB.
fn zstd_window_log(max: usize) -> u32 {
    let needed = usize::BITS - max.saturating_sub(1).leading_zeros();
    needed.clamp(ZSTD_MIN_WINDOW_LOG, ZSTD_MAX_WINDOW_LOG)
}

fn corrupt(encoding: &'static str, err: &io::Error) -> DecodeError {
    DecodeError::Corrupt {
        encoding,
        reason: err.to_string(),
    }
}

/// Reads `reader` to the end into a buffer that never grows beyond `max`
/// bytes of content, failing with [`DecodeError::TooLarge`] as soon as the
/// reader produces more.
///
/// The buffer is zero-filled at most [`READ_WINDOW`] bytes ahead of the data
/// and every byte is zero-filled at most once.
fn read_capped<R: Read>(
    mut reader: R,
    compressed_len: usize,
    max: usize,
    encoding: &'static str,
) -> Result<Vec<u8>, DecodeError> {
    let initial = compressed_len
        .saturating_mul(EXPECTED_RATIO)
        .max(MIN_INITIAL_CAPACITY)
        .min(max);
    let mut out: Vec<u8> = Vec::with_capacity(initial);
    // `out[..filled]` is decoded data, `out[filled..]` zeroed space.
    let mut filled = 0;
    loop {
        if filled >= max {
            // The limit is reached: any further byte means the body is too large.
            let mut probe = [0u8; 1];
            return match read_retrying(&mut reader, &mut probe) {
                Ok(0) => {
                    out.truncate(filled);
                    Ok(out)
                }
                Ok(_) => Err(DecodeError::TooLarge { limit: max }),
                Err(e) => Err(corrupt(encoding, &e)),
            };
        }
        if filled == out.len() {
            if out.len() == out.capacity() {
                let target = filled.saturating_mul(2).max(MIN_INITIAL_CAPACITY).min(max);
                out.reserve_exact(target - filled);
            }
            let zeroed_end = out
                .capacity()
                .min(max)
                .min(filled.saturating_add(READ_WINDOW));
            out.resize(zeroed_end, 0);
        }
        match read_retrying(&mut reader, &mut out[filled..]) {
            Ok(0) => {
                out.truncate(filled);
                return Ok(out);
            }
            Ok(n) => filled += n,
            Err(e) => return Err(corrupt(encoding, &e)),
        }
    }
}

fn read_retrying<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, Instant};

    /// "hello\n" compressed with brotli (from brotli-decompressor's own tests).
    const BR_HELLO: &[u8] = b"\x8f\x02\x80\x68\x65\x6c\x6c\x6f\x0a\x03";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        zstd::encode_all(data, 3).unwrap()
    }

    fn sample() -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..5000 {
            v.extend_from_slice(format!("{{\"n\":{i},\"msg\":\"hello world\"}}\n").as_bytes());
        }
        v
    }

    #[test]
    fn identity_variants() {
        for enc in [None, Some("identity"), Some(" IDENTITY "), Some("")] {
            assert_eq!(decode_body(enc, b"abc", 3).unwrap(), b"abc");
        }
    }

    #[test]
    fn identity_too_large() {
        let err = decode_body(None, b"abcd", 3).unwrap_err();
        assert_eq!(err, DecodeError::TooLarge { limit: 3 });
        assert_eq!(
            err.to_string(),
            "decompressed body exceeds the limit of 3 bytes"
        );
    }

    #[test]
    fn identity_bytes_is_zero_copy() {
        let body = Bytes::from_static(b"payload");
        let out = decode_body_bytes(Some("identity"), body.clone(), 100).unwrap();
        assert_eq!(out.as_ptr(), body.as_ptr());
    }

    #[test]
    fn unsupported_encoding() {
        let err = decode_body(Some(" compress "), b"x", 10).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedEncoding("compress".into()));
        assert!(err.to_string().contains("\"compress\""));
        assert!(matches!(
            decode_body(Some("gzip, br"), b"x", 10),
            Err(DecodeError::UnsupportedEncoding(_))
        ));
        let long = "x".repeat(1000);
        match decode_body(Some(&long), b"x", 10) {
            Err(DecodeError::UnsupportedEncoding(s)) => assert_eq!(s.len(), MAX_ECHOED_ENCODING),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn brotli_small() {
        assert_eq!(decode_body(Some("br"), BR_HELLO, 100).unwrap(), b"hello\n");
        assert_eq!(decode_body(Some("BR"), BR_HELLO, 6).unwrap(), b"hello\n");
        assert_eq!(
            decode_body(Some("br"), BR_HELLO, 5).unwrap_err(),
            DecodeError::TooLarge { limit: 5 }
        );
    }

    #[test]
    fn brotli_corrupt_and_truncated() {
        let err = decode_body(Some("br"), &BR_HELLO[..5], 100).unwrap_err();
        assert!(
            matches!(err, DecodeError::Corrupt { encoding: "br", .. }),
            "{err:?}"
        );
        let err = decode_body(Some("br"), b"\xff\xff\xff\xff garbage", 100).unwrap_err();
        assert!(
            matches!(err, DecodeError::Corrupt { encoding: "br", .. }),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("corrupt br body: "));
    }

    #[test]
    fn gzip_round_trip() {
        let data = sample();
        for name in ["gzip", "x-gzip", " GZip "] {
            assert_eq!(
                decode_body(Some(name), &gzip(&data), data.len()).unwrap(),
                data
            );
        }
        assert_eq!(decode_body(Some("gzip"), &gzip(b""), 0).unwrap(), b"");
    }

    #[test]
    fn gzip_concatenated_members() {
        let mut body = gzip(b"hello ");
        body.extend(gzip(b"world"));
        assert_eq!(
            decode_body(Some("gzip"), &body, 100).unwrap(),
            b"hello world"
        );
    }

    #[test]
    fn gzip_exact_limit_and_one_over() {
        let data = sample();
        let body = gzip(&data);
        assert_eq!(decode_body(Some("gzip"), &body, data.len()).unwrap(), data);
        assert_eq!(
            decode_body(Some("gzip"), &body, data.len() - 1).unwrap_err(),
            DecodeError::TooLarge {
                limit: data.len() - 1
            }
        );
    }

    #[test]
    fn gzip_corrupt_and_truncated() {
        let body = gzip(&sample());
        let err = decode_body(Some("gzip"), &body[..body.len() / 2], usize::MAX).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Corrupt {
                    encoding: "gzip",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = decode_body(Some("gzip"), b"definitely not gzip", usize::MAX).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Corrupt {
                    encoding: "gzip",
                    ..
                }
            ),
            "{err:?}"
        );
        let mut flipped = body.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0xff;
        assert!(decode_body(Some("gzip"), &flipped, usize::MAX).is_err());
    }

    #[test]
    fn deflate_zlib_and_raw_round_trip() {
        let data = sample();
        assert_eq!(
            decode_body(Some("deflate"), &zlib(&data), data.len()).unwrap(),
            data
        );
        assert_eq!(
            decode_body(Some("Deflate"), &raw_deflate(&data), data.len()).unwrap(),
            data
        );
        assert_eq!(
            decode_body(Some("deflate"), &raw_deflate(b"x"), 1).unwrap(),
            b"x"
        );
    }

    #[test]
    fn deflate_too_large_and_corrupt() {
        let data = sample();
        assert_eq!(
            decode_body(Some("deflate"), &zlib(&data), 1000).unwrap_err(),
            DecodeError::TooLarge { limit: 1000 }
        );
        assert_eq!(
            decode_body(Some("deflate"), &raw_deflate(&data), 1000).unwrap_err(),
            DecodeError::TooLarge { limit: 1000 }
        );
        let z = zlib(&data);
        let err = decode_body(Some("deflate"), &z[..z.len() / 2], usize::MAX).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Corrupt {
                    encoding: "deflate",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = decode_body(Some("deflate"), b"\xff\xff\xff", usize::MAX).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Corrupt {
                    encoding: "deflate",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn zlib_header_detection() {
        assert!(looks_like_zlib(&zlib(b"abc")));
        assert!(looks_like_zlib(b"\x78\x9c"));
        assert!(looks_like_zlib(b"\x78\x01"));
        assert!(!looks_like_zlib(b"\x78\x9d"));
        assert!(!looks_like_zlib(b"\x78"));
        assert!(!looks_like_zlib(b""));
    }

    #[test]
    fn zstd_round_trip() {
        let data = sample();
        assert_eq!(
            decode_body(Some("zstd"), &zstd(&data), data.len()).unwrap(),
            data
        );
        let mut two = zstd(b"ab");
        two.extend(zstd(b"cd"));
        assert_eq!(decode_body(Some("ZSTD"), &two, 4).unwrap(), b"abcd");
    }

    #[test]
    fn zstd_too_large_and_corrupt() {
        let data = sample();
        assert_eq!(
            decode_body(Some("zstd"), &zstd(&data), 10).unwrap_err(),
            DecodeError::TooLarge { limit: 10 }
        );
        let z = zstd(&data);
        let err = decode_body(Some("zstd"), &z[..z.len() / 2], usize::MAX).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Corrupt {
                    encoding: "zstd",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = decode_body(Some("zstd"), b"not zstd at all", usize::MAX).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Corrupt {
                    encoding: "zstd",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn zstd_window_log_is_clamped() {
        assert_eq!(zstd_window_log(0), ZSTD_MIN_WINDOW_LOG);
        assert_eq!(zstd_window_log(1 << 20), ZSTD_MIN_WINDOW_LOG);
        assert_eq!(zstd_window_log((1 << 25) + 1), 26);
        assert_eq!(zstd_window_log(200 << 20), ZSTD_MAX_WINDOW_LOG);
        assert_eq!(zstd_window_log(usize::MAX), ZSTD_MAX_WINDOW_LOG);
    }

    #[test]
    fn zero_limit() {
        assert_eq!(decode_body(Some("gzip"), &gzip(b""), 0).unwrap(), b"");
        assert_eq!(
            decode_body(Some("gzip"), &gzip(b"a"), 0).unwrap_err(),
            DecodeError::TooLarge { limit: 0 }
        );
    }

    /// 50 MB of zeros compress to ~50 KB; with a 1 MB limit decoding must
    /// stop early, without allocating anywhere near 50 MB.
    #[test]
    fn decompression_bombs_stop_early() {
        let zeros = vec![0u8; 50 * 1024 * 1024];
        let limit = 1024 * 1024;
        for (name, body) in [
            ("gzip", gzip(&zeros)),
            ("deflate", zlib(&zeros)),
            ("zstd", zstd(&zeros)),
        ] {
            assert!(
                body.len() < 1024 * 1024,
                "{name} bomb is {} bytes",
                body.len()
            );
            let started = Instant::now();
            let err = decode_body(Some(name), &body, limit).unwrap_err();
            assert_eq!(err, DecodeError::TooLarge { limit }, "{name}");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{name} took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn capped_reader_never_over_reserves() {
        let data = vec![7u8; 3 * READ_WINDOW + 17];
        let out = read_capped(&data[..], 1, data.len(), "test").unwrap();
        assert_eq!(out, data);
        assert!(out.capacity() <= data.len() + READ_WINDOW);
        let err = read_capped(&data[..], 1, data.len() - 1, "test").unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooLarge {
                limit: data.len() - 1
            }
        );
    }
}

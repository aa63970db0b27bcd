//! Sentry authentication: the `X-Sentry-Auth` header, `sentry_key` query
//! parameters, and DSNs.
//!
//! SDKs identify the project they send to with the DSN's public key, either
//! in a header:
//!
//! ```text
//! X-Sentry-Auth: Sentry sentry_key=abc, sentry_version=7, sentry_client=sentry.python/2.75.0
//! ```
//!
//! or, for browsers that cannot set headers, in the query string
//! (`?sentry_key=abc&sentry_version=7`). The secret part of legacy DSNs
//! (`sentry_secret`) is accepted but ignored.

use std::fmt;
use std::str::FromStr;

/// Longest public key accepted, in bytes. Sentry keys are 32 hex digits.
const MAX_KEY_LEN: usize = 256;

/// Credentials sent by an SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentryAuth {
    /// The DSN's public key (`sentry_key`).
    pub key: String,
    /// The protocol version (`sentry_version`), such as `7`.
    pub version: Option<String>,
    /// The SDK's name and version (`sentry_client`), such as `sentry.python/2.75.0`.
    pub client: Option<String>,
}

/// Parses an `X-Sentry-Auth` (or `Authorization`) header value such as
/// `Sentry sentry_key=abc, sentry_version=7, sentry_client=sentry.python/2.75.0`.
///
/// The `Sentry` prefix is matched case-insensitively and may be missing;
/// pairs are separated by commas with optional spaces; parameter names are
/// matched case-insensitively and unknown ones (such as `sentry_secret` or
/// `sentry_timestamp`) are ignored. Values may be double-quoted.
///
/// Returns `None` if there is no usable `sentry_key` (missing, empty, longer
/// than 256 bytes, or containing whitespace or control characters).
pub fn parse_sentry_auth_header(value: &str) -> Option<SentryAuth> {
    let value = value.trim();
    let params = match value.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sentry") => {
            let rest = &value[6..];
            // `Sentry sentry_key=...`: the prefix must be followed by
            // whitespace; `sentry_key=...` (no prefix) starts with `sentry_`.
            if rest.starts_with(|c: char| c.is_ascii_whitespace()) {
                rest
            } else {
                value
            }
        }
        _ => value,
    };
    auth_from_pairs(params.split(',').map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (name.trim().to_owned(), value.to_owned())
    }))
}

/// Parses the Sentry credentials carried in a URL query string (with or
/// without the leading `?`), such as
/// `sentry_key=abc&sentry_version=7&sentry_client=sentry.javascript.browser%2F8.0.0`.
///
/// Values are percent-decoded (`+` becomes a space). Returns `None` if there
/// is no usable `sentry_key`; see [`parse_sentry_auth_header`].
pub fn parse_sentry_auth_query(query: &str) -> Option<SentryAuth> {
    auth_from_pairs(query_pairs(query))
}

/// Finds the `sentry_key` parameter of a URL query string (with or without
/// the leading `?`), percent-decoded.
///
/// Returns `None` if it is missing or not a usable key (empty, longer than
/// 256 bytes, or containing whitespace or control characters).
pub fn sentry_key_from_query(query: &str) -> Option<String> {
    query_pairs(query)
        .find(|(name, _)| name == "sentry_key")
        .map(|(_, value)| value)
        .filter(|key| valid_key(key))
}

fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    let query = query.strip_prefix('?').unwrap_or(query);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
}

fn auth_from_pairs(pairs: impl Iterator<Item = (String, String)>) -> Option<SentryAuth> {
    let mut key = None;
    let mut version = None;
    let mut client = None;
    for (name, value) in pairs {
        let slot = if name.eq_ignore_ascii_case("sentry_key") {
            &mut key
        } else if name.eq_ignore_ascii_case("sentry_version") {
            &mut version
        } else if name.eq_ignore_ascii_case("sentry_client") {
            &mut client
        } else {
            continue;
        };
        // The first occurrence wins.
        if slot.is_none() && !value.is_empty() {
            *slot = Some(value);
        }
    }
    let key = key.filter(|k| valid_key(k))?;
    Some(SentryAuth {
        key,
        version,
        client,
    })
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

/// Decodes `%XX` escapes and `+` (as a space). Malformed escapes are kept
/// verbatim; invalid UTF-8 is replaced.
fn percent_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    let hi = (h[0] as char).to_digit(16)?;
                    let lo = (h[1] as char).to_digit(16)?;
                    u8::try_from(hi * 16 + lo).ok()
                });
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a DSN could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DsnError {
    /// There is no `scheme://`.
    #[error("DSN has no scheme (expected http:// or https://)")]
    MissingScheme,
    /// The scheme is neither `http` nor `https`.
    #[error("DSN scheme {0:?} is not supported (expected http or https)")]
    UnsupportedScheme(String),
    /// There is no public key before the `@`.
    #[error("DSN has no public key")]
    MissingPublicKey,
    /// The public key contains characters that cannot appear in a key.
    #[error("DSN public key is invalid")]
    InvalidPublicKey,
    /// There is no host after the `@`.
    #[error("DSN has no host")]
    MissingHost,
    /// The port is not a number from 0 to 65535.
    #[error("DSN port {0:?} is invalid")]
    InvalidPort(String),
    /// The path does not end with a project id.
    #[error("DSN has no project id")]
    MissingProjectId,
    /// The project id contains characters other than letters, digits, `-` and `_`.
    #[error("DSN project id {0:?} is invalid")]
    InvalidProjectId(String),
}

/// A Sentry DSN: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]{path_prefix}/{project_id}`.
///
/// The legacy secret is dropped; [`Display`](fmt::Display) renders the DSN
/// without it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dsn {
    /// `http` or `https` (lower case).
    pub scheme: String,
    /// The public key.
    pub public_key: String,
    /// The host, including the port if one was given (`example.com:9000`,
    /// `[::1]:9000`).
    pub host: String,
    /// The path before the project id, without a trailing slash: `""` or
    /// something like `/sub`.
    pub path_prefix: String,
    /// The project id (the last path segment).
    pub project_id: String,
}

impl Dsn {
    /// Parses a DSN. A query string or fragment is ignored, as is a trailing
    /// slash after the project id.
    ///
    /// # Errors
    ///
    /// A [`DsnError`] naming the missing or invalid part.
    pub fn parse(dsn: &str) -> Result<Self, DsnError> {
        let dsn = dsn.trim();
        let (scheme, rest) = dsn.split_once("://").ok_or(DsnError::MissingScheme)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(if scheme.is_empty() {
                DsnError::MissingScheme
            } else {
                DsnError::UnsupportedScheme(scheme)
            });
        }
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (userinfo, host) = authority
            .rsplit_once('@')
            .ok_or(DsnError::MissingPublicKey)?;
        let public_key = userinfo
            .split_once(':')
            .map_or(userinfo, |(key, _secret)| key);
        if public_key.is_empty() {
            return Err(DsnError::MissingPublicKey);
        }
        if !valid_key(public_key) {
            return Err(DsnError::InvalidPublicKey);
        }
        validate_host(host)?;

        let path = path.strip_suffix('/').unwrap_or(path);
        let (path_prefix, project_id) = path.rsplit_once('/').unwrap_or(("", ""));
        if project_id.is_empty() {
            return Err(DsnError::MissingProjectId);
        }
        if !project_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(DsnError::InvalidProjectId(project_id.to_owned()));
        }
        Ok(Self {
            scheme,
            public_key: public_key.to_owned(),
            host: host.to_owned(),
            path_prefix: path_prefix.to_owned(),
            project_id: project_id.to_owned(),
        })
    }
}

fn validate_host(host: &str) -> Result<(), DsnError> {
    // Split off the port, minding bracketed IPv6 addresses.
    let (name, port) = if let Some(bracketed) = host.strip_prefix('[') {
        let (_addr, after) = bracketed.split_once(']').ok_or(DsnError::MissingHost)?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(DsnError::InvalidPort(after.to_owned())),
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() || name == "[]" || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DsnError::MissingHost);
    }
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(DsnError::InvalidPort(port.to_owned()));
    }
    Ok(())
}

impl FromStr for Dsn {
    type Err = DsnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Dsn {
    /// Renders `{scheme}://{public_key}@{host}{path_prefix}/{project_id}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}@{}{}/{}",
            self.scheme, self.public_key, self.host, self.path_prefix, self.project_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn header_from_sentry_python() {
        let auth = parse_sentry_auth_header(
            "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7, sentry_client=sentry.python/2.75.0",
        )
        .unwrap();
        assert_eq!(
            auth,
            SentryAuth {
                key: KEY.into(),
                version: Some("7".into()),
                client: Some("sentry.python/2.75.0".into()),
            }
        );
    }

    #[test]
    fn header_variants() {
        for value in [
            "sentry sentry_key=abc",
            "SENTRY  sentry_key=abc ,sentry_version=7",
            "sentry_key=abc, sentry_version=7",
            "  Sentry sentry_version=7,sentry_key=abc,sentry_secret=shh  ",
            "Sentry sentry_key=\"abc\", sentry_timestamp=1700000000.1",
            "Sentry SENTRY_KEY=abc",
            "Sentry sentry_key=abc, sentry_key=def",
            "Sentry\tsentry_key=abc",
        ] {
            let auth = parse_sentry_auth_header(value).unwrap_or_else(|| panic!("{value}"));
            assert_eq!(auth.key, "abc", "{value}");
        }
        let auth = parse_sentry_auth_header("Sentry sentry_key=abc").unwrap();
        assert_eq!(auth.version, None);
        assert_eq!(auth.client, None);
    }

    #[test]
    fn header_without_usable_key() {
        for value in [
            "",
            "Sentry",
            "Sentry ",
            "Sentry sentry_version=7",
            "Sentry sentry_key=",
            "Sentry sentry_key",
            "Sentry sentry_key=a b",
            "Bearer abc",
            "Sentry key=abc",
            "Sentrysentry_key=abc",
        ] {
            assert_eq!(parse_sentry_auth_header(value), None, "{value}");
        }
        let long = format!("Sentry sentry_key={}", "a".repeat(MAX_KEY_LEN + 1));
        assert_eq!(parse_sentry_auth_header(&long), None);
        // Non-ASCII input must not panic on the prefix check.
        assert_eq!(parse_sentry_auth_header("Séntry sentry_key=é"), None);
        assert_eq!(parse_sentry_auth_header("ééééé"), None);
    }

    #[test]
    fn key_from_query() {
        assert_eq!(
            sentry_key_from_query("sentry_key=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            sentry_key_from_query("?sentry_version=7&sentry_key=abc&x=1").as_deref(),
            Some("abc")
        );
        assert_eq!(
            sentry_key_from_query("sentry_key=ab%63").as_deref(),
            Some("abc")
        );
        assert_eq!(
            sentry_key_from_query("sentry_key=100%").as_deref(),
            Some("100%")
        );
        assert_eq!(
            sentry_key_from_query("sentry_key=%zz").as_deref(),
            Some("%zz")
        );
        assert_eq!(
            sentry_key_from_query("sentry_key=abc#frag").as_deref(),
            Some("abc")
        );
        assert_eq!(sentry_key_from_query("my_sentry_key=abc"), None);
        assert_eq!(sentry_key_from_query("sentry_key="), None);
        assert_eq!(sentry_key_from_query("sentry_key"), None);
        assert_eq!(sentry_key_from_query("sentry_key=a+b"), None);
        assert_eq!(sentry_key_from_query("sentry_key=a%0Ab"), None);
        assert_eq!(sentry_key_from_query(""), None);
        assert_eq!(sentry_key_from_query("&&&"), None);
    }

    #[test]
    fn auth_from_query() {
        let auth = parse_sentry_auth_query(
            "sentry_key=abc&sentry_version=7&sentry_client=sentry.javascript.browser%2F8.0.0",
        )
        .unwrap();
        assert_eq!(auth.key, "abc");
        assert_eq!(auth.version.as_deref(), Some("7"));
        assert_eq!(
            auth.client.as_deref(),
            Some("sentry.javascript.browser/8.0.0")
        );
        assert_eq!(parse_sentry_auth_query("sentry_version=7"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%e9"), "\u{fffd}");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("é%"), "é%");
    }

    #[test]
    fn dsn_simple() {
        let dsn = Dsn::parse("https://0123456789abcdef0123456789abcdef@o1.ingest.example.com/42")
            .unwrap();
        assert_eq!(
            dsn,
            Dsn {
                scheme: "https".into(),
                public_key: KEY.into(),
                host: "o1.ingest.example.com".into(),
                path_prefix: String::new(),
                project_id: "42".into(),
            }
        );
        assert_eq!(
            dsn.to_string(),
            "https://0123456789abcdef0123456789abcdef@o1.ingest.example.com/42"
        );
    }

    #[test]
    fn dsn_with_secret_port_and_prefix() {
        let dsn: Dsn = "HTTP://pub:secret@127.0.0.1:9000/sub/path/7/"
            .parse()
            .unwrap();
        assert_eq!(dsn.scheme, "http");
        assert_eq!(dsn.public_key, "pub");
        assert_eq!(dsn.host, "127.0.0.1:9000");
        assert_eq!(dsn.path_prefix, "/sub/path");
        assert_eq!(dsn.project_id, "7");
        assert_eq!(dsn.to_string(), "http://pub@127.0.0.1:9000/sub/path/7");
        assert_eq!(Dsn::parse(&dsn.to_string()).unwrap(), dsn);
    }

    #[test]
    fn dsn_ipv6_and_query() {
        let dsn = Dsn::parse("http://k@[::1]:8000/3?timeout=5#x").unwrap();
        assert_eq!(dsn.host, "[::1]:8000");
        assert_eq!(dsn.project_id, "3");
        let dsn = Dsn::parse("http://k@[::1]/3").unwrap();
        assert_eq!(dsn.host, "[::1]");
    }

    #[test]
    fn dsn_errors() {
        assert_eq!(Dsn::parse("k@host/1"), Err(DsnError::MissingScheme));
        assert_eq!(Dsn::parse("://k@host/1"), Err(DsnError::MissingScheme));
        assert_eq!(
            Dsn::parse("ftp://k@host/1"),
            Err(DsnError::UnsupportedScheme("ftp".into()))
        );
        assert_eq!(
            Dsn::parse("https://host/1"),
            Err(DsnError::MissingPublicKey)
        );
        assert_eq!(
            Dsn::parse("https://@host/1"),
            Err(DsnError::MissingPublicKey)
        );
        assert_eq!(
            Dsn::parse("https://:secret@host/1"),
            Err(DsnError::MissingPublicKey)
        );
        assert_eq!(
            Dsn::parse("https://k\u{7f}@host/1"),
            Err(DsnError::InvalidPublicKey)
        );
        assert_eq!(Dsn::parse("https://k@/1"), Err(DsnError::MissingHost));
        assert_eq!(Dsn::parse("https://k@:90/1"), Err(DsnError::MissingHost));
        assert_eq!(
            Dsn::parse("https://k@host:/1"),
            Err(DsnError::InvalidPort(String::new()))
        );
        assert_eq!(
            Dsn::parse("https://k@host:99999/1"),
            Err(DsnError::InvalidPort("99999".into()))
        );
        assert_eq!(
            Dsn::parse("https://k@host:+80/1"),
            Err(DsnError::InvalidPort("+80".into()))
        );
        assert_eq!(
            Dsn::parse("https://k@[::1]x/1"),
            Err(DsnError::InvalidPort("x".into()))
        );
        assert_eq!(Dsn::parse("https://k@[::1/1"), Err(DsnError::MissingHost));
        assert_eq!(
            Dsn::parse("https://k@host"),
            Err(DsnError::MissingProjectId)
        );
        assert_eq!(
            Dsn::parse("https://k@host/"),
            Err(DsnError::MissingProjectId)
        );
        assert_eq!(
            Dsn::parse("https://k@host//"),
            Err(DsnError::MissingProjectId)
        );
        assert_eq!(
            Dsn::parse("https://k@host/a%20b"),
            Err(DsnError::InvalidProjectId("a%20b".into()))
        );
        assert_eq!(
            DsnError::UnsupportedScheme("ftp".into()).to_string(),
            "DSN scheme \"ftp\" is not supported (expected http or https)"
        );
    }
}

//! Normalisation of free-text values (exception values, log messages) and
//! symbol names (functions, modules) before they are used for grouping.
//!
//! The goal is that two occurrences of the *same* problem that differ only in
//! variable data (ids, numbers, addresses, timestamps, ...) normalise to the
//! same string, so that they end up in the same issue. See `docs/grouping.md`
//! for the user-facing description; the replacement table there must be kept
//! in sync with this module, and any change to the output of these functions
//! requires bumping [`crate::grouping::GROUPING_VERSION`].

use std::borrow::Cow;
use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::Regex;

/// Maximum length, in characters, of a normalised message.
pub const MAX_NORMALIZED_LEN: usize = 1024;

/// `scheme://anything-up-to-whitespace-or-quote`, not ending in punctuation.
static URL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>`]*[^\s"'<>`.,;:!?)\]}]"#)
        .expect("valid url regex")
});

static EMAIL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b")
        .expect("valid email regex")
});

static UUID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b")
        .expect("valid uuid regex")
});

static IPV4_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b")
        .expect("valid ipv4 regex")
});

/// Candidate IPv6 addresses: hex digits and colons with at least two colons.
/// Every candidate is validated with [`Ipv6Addr`] before being replaced.
static IPV6_CANDIDATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9A-Fa-f]*:[0-9A-Fa-f]*:[0-9A-Fa-f:]*").expect("valid ipv6 regex")
});

/// `0x`-prefixed hex numbers, and bare runs of at least 8 hex digits (which
/// are additionally required to contain both a digit and a letter).
static HEX_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:0[xX][0-9A-Fa-f]+|[0-9A-Fa-f]{8,})\b").expect("valid hex regex")
});

/// ISO-8601 dates with optional time and zone, and bare `HH:MM:SS` times.
static DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+\-][0-9]{2}(?::?[0-9]{2})?)?)?\b|\b[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?\b",
    )
    .expect("valid date regex")
});

/// Java/Kotlin lambda classes: `Foo$$Lambda$123/0x0000000800c0b000` and the
/// newer `Foo$$Lambda/0x...` form.
static JAVA_LAMBDA_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$\$Lambda(?:\$[0-9]+)?(?:/(?:0x)?[0-9A-Fa-f]+)?").expect("valid lambda regex")
});

/// Generated numeric suffixes after `$` (`lambda$main$0`, `Outer$1`).
static DOLLAR_NUM_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$[0-9]+\b").expect("valid dollar regex"));

/// Memory addresses inside symbol names.
static ADDR_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b0[xX][0-9A-Fa-f]+\b").expect("valid address regex"));

/// Normalise a free-text value (exception value, log message) for grouping.
///
/// Replacements are applied in this order:
///
/// 1. URLs (`scheme://...`) → `<url>`
/// 2. e-mail addresses → `<email>`
/// 3. UUIDs (8-4-4-4-12 hex) → `<uuid>`
/// 4. IPv6 and IPv4 addresses → `<ip>`
/// 5. `0x...` hex numbers, and runs of ≥ 8 hex digits that contain at least
///    one digit *and* one letter `a-f` → `<hex>`
/// 6. ISO-8601 dates/timestamps and `HH:MM:SS` times → `<date>`
/// 7. numbers (integers, decimals, exponents, with an optional leading `-`)
///    that do not continue an identifier (`utf8`, `sha256`, `v2` stay as
///    they are) → `<num>`. Integers and decimals share one placeholder so
///    that `Charge 120.50 ...` and `Charge 99 ...` group together.
///
/// Afterwards runs of whitespace are collapsed to one space, the result is
/// trimmed and capped at [`MAX_NORMALIZED_LEN`] characters. Quotes are kept:
/// `'missing-0'` becomes `'missing-<num>'`.
pub fn normalize_message(input: &str) -> String {
    let s: Cow<'_, str> = Cow::Borrowed(input);
    let s = if s.contains("://") {
        replace(s, &URL_RE, "<url>")
    } else {
        s
    };
    let s = if s.contains('@') {
        replace(s, &EMAIL_RE, "<email>")
    } else {
        s
    };
    let s = if s.contains('-') {
        replace(s, &UUID_RE, "<uuid>")
    } else {
        s
    };
    let s = if s.contains("::") || s.matches(':').nth(2).is_some() {
        replace_ipv6(s)
    } else {
        s
    };
    let s = if s.contains('.') { replace_ipv4(s) } else { s };
    let s = replace_hex(s);
    let s = if s.contains('-') || s.contains(':') {
        replace(s, &DATE_RE, "<date>")
    } else {
        s
    };
    let s = replace_numbers(&s);
    collapse_whitespace(&s, MAX_NORMALIZED_LEN)
}

/// Normalise a function or module name for grouping.
///
/// Removes data that differs between builds or runs of the same code:
/// Java lambda class suffixes (`$$Lambda$123/0x...` → `$$Lambda`), numeric
/// suffixes after `$` (`lambda$main$0` → `lambda$main`), and memory
/// addresses (`0x7f...`). Anonymous-function markers such as `?`,
/// `<anonymous>` and `<lambda>` are kept. Whitespace is collapsed and the
/// result trimmed.
pub fn normalize_function_name(name: &str) -> String {
    let s: Cow<'_, str> = Cow::Borrowed(name);
    let s = if s.contains('$') {
        let s = replace(s, &JAVA_LAMBDA_RE, "$$$$Lambda");
        replace(s, &DOLLAR_NUM_RE, "")
    } else {
        s
    };
    let s = if s.contains("0x") || s.contains("0X") {
        replace(s, &ADDR_RE, "")
    } else {
        s
    };
    collapse_whitespace(&s, MAX_NORMALIZED_LEN)
}

fn replace<'a>(s: Cow<'a, str>, re: &Regex, with: &str) -> Cow<'a, str> {
    match re.replace_all(&s, with) {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => Cow::Owned(o),
    }
}

/// Like [`replace`], but only matches accepted by `accept(haystack, start,
/// end)` are replaced.
fn replace_filtered<'a>(
    s: Cow<'a, str>,
    re: &Regex,
    with: &str,
    accept: impl Fn(&str, usize, usize) -> bool,
) -> Cow<'a, str> {
    let mut out = String::new();
    let mut last = 0;
    let mut changed = false;
    for m in re.find_iter(&s) {
        if accept(&s, m.start(), m.end()) {
            if !changed {
                out.reserve(s.len());
                changed = true;
            }
            out.push_str(&s[last..m.start()]);
            out.push_str(with);
            last = m.end();
        }
    }
    if !changed {
        return s;
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

fn char_before(s: &str, at: usize) -> Option<char> {
    s[..at].chars().next_back()
}

fn char_after(s: &str, at: usize) -> Option<char> {
    s[at..].chars().next()
}

fn replace_ipv6(s: Cow<'_, str>) -> Cow<'_, str> {
    replace_filtered(s, &IPV6_CANDIDATE_RE, "<ip>", |h, start, end| {
        let text = &h[start..end];
        char_before(h, start).is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'))
            && char_after(h, end).is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            && text.bytes().any(|b| b.is_ascii_digit())
            && text.parse::<Ipv6Addr>().is_ok()
    })
}

fn replace_ipv4(s: Cow<'_, str>) -> Cow<'_, str> {
    replace_filtered(s, &IPV4_RE, "<ip>", |h, start, end| {
        // Reject pieces of longer dotted numbers such as `1.2.3.4.5`.
        let dotted_after =
            h[end..].starts_with('.') && h.as_bytes().get(end + 1).is_some_and(u8::is_ascii_digit);
        char_before(h, start) != Some('.') && !dotted_after
    })
}

fn replace_hex(s: Cow<'_, str>) -> Cow<'_, str> {
    replace_filtered(s, &HEX_RE, "<hex>", |h, start, end| {
        let text = &h[start..end];
        let prefixed = text.starts_with("0x") || text.starts_with("0X");
        prefixed
            || (text.bytes().any(|b| b.is_ascii_digit())
                && text.bytes().any(|b| b.is_ascii_alphabetic()))
    })
}

/// Replace numbers with `<num>`. A number starts at an ASCII digit (or a `-`
/// directly followed by a digit) that is not preceded by an identifier
/// character (letter, digit or `_`, Unicode-aware); it consists of digits
/// with optional `.digits` groups and an optional exponent. Digits that
/// continue an identifier are copied verbatim.
fn replace_numbers(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(u8::is_ascii_digit) {
        return Cow::Borrowed(s);
    }
    let mut out = String::new();
    let mut copied = 0; // bytes of `s` already copied to `out`
    let mut changed = false;
    let mut prev_ident = false;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let starts_number = !prev_ident
            && (c.is_ascii_digit()
                || (c == '-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)));
        if !starts_number {
            prev_ident = c.is_alphanumeric() || c == '_';
            continue;
        }
        let end = scan_number(bytes, i);
        if !changed {
            out.reserve(s.len());
            changed = true;
        }
        out.push_str(&s[copied..i]);
        out.push_str("<num>");
        copied = end;
        while iter.next_if(|&(j, _)| j < end).is_some() {}
        prev_ident = false;
    }
    if !changed {
        return Cow::Borrowed(s);
    }
    out.push_str(&s[copied..]);
    Cow::Owned(out)
}

/// Returns the end of the number starting at `start` (a digit or `-digit`).
fn scan_number(bytes: &[u8], start: usize) -> usize {
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start + 1);
    // Decimal / dotted groups: `1.5`, `1.2.3`.
    while i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
        i = digits(i + 1);
    }
    // Exponent: `1e10`, `2.5E-3`.
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            i = digits(j);
        }
    }
    i
}

/// Collapse runs of whitespace into a single space, trim, and cap the result
/// at `max_chars` characters.
fn collapse_whitespace(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    let mut chars = 0;
    for word in s.split_whitespace() {
        if chars > 0 {
            // Room for the separator and at least one character.
            if chars + 2 > max_chars {
                break;
            }
            out.push(' ');
            chars += 1;
        }
        for c in word.chars() {
            if chars >= max_chars {
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        assert_eq!(normalize_message(input), expected, "input: {input:?}");
    }

    #[test]
    fn numbers() {
        check("'missing-0'", "'missing-<num>'");
        check("'missing-1'", "'missing-<num>'");
        check("Charge 120.50 exceeds limit", "Charge <num> exceeds limit");
        check("Charge 99 exceeds limit", "Charge <num> exceeds limit");
        check("value -5 and -2.5e10", "value <num> and <num>");
        check("x=-3", "x=<num>");
        check(
            "amount 150 over limit for user 77",
            "amount <num> over limit for user <num>",
        );
        check("utf8 sha256 v2 user_42", "utf8 sha256 v2 user_42");
        check("took 10ms", "took <num>ms");
        check("1,234", "<num>,<num>");
        check("no digits here", "no digits here");
    }

    #[test]
    fn urls_emails_uuids() {
        check(
            "GET https://api.example.com/v1/users/42?x=1 failed.",
            "GET <url> failed.",
        );
        check("(see http://x.y/z)", "(see <url>)");
        check("mail bob.smith+tag@example.co.uk now", "mail <email> now");
        check(
            "row 550e8400-e29b-41d4-a716-446655440000 gone",
            "row <uuid> gone",
        );
        check(
            "row 550E8400-E29B-41D4-A716-446655440000 gone",
            "row <uuid> gone",
        );
    }

    #[test]
    fn ips() {
        check(
            "connect to 10.0.0.12:5432 refused",
            "connect to <ip>:<num> refused",
        );
        check("from 2001:db8::1 and ::1", "from <ip> and <ip>");
        check("fe80::1ff:fe23:4567:890a%eth0", "<ip>%eth0");
        // Not addresses.
        check("std::vec::Vec", "std::vec::Vec");
        check("abc::def", "abc::def");
        check("Foo::bar", "Foo::bar");
        check("version 1.2.3.4.5", "version <num>");
        check("999.1.1.1", "<num>");
    }

    #[test]
    fn hex() {
        check("at 0x7f61357bac50", "at <hex>");
        check("object 0XDEAD", "object <hex>");
        check("commit 3f2a9c1b4e", "commit <hex>");
        check("sha d41d8cd98f00b204e9800998ecf8427e", "sha <hex>");
        // Words made of hex letters and long decimal numbers are not hex.
        check("deadbeefcafe effaced", "deadbeefcafe effaced");
        check("order 123456789", "order <num>");
    }

    #[test]
    fn dates() {
        check("at 2026-11-23T10:34:36.199630Z boom", "at <date> boom");
        check("at 2026-11-23 10:34:36+02:00 boom", "at <date> boom");
        check("on 2026-11-23.", "on <date>.");
        check("at 10:34:36 boom", "at <date> boom");
    }

    #[test]
    fn whitespace_and_cap() {
        check("  a \n\t b  ", "a b");
        check("", "");
        let long = "x".repeat(5000);
        assert_eq!(normalize_message(&long).chars().count(), MAX_NORMALIZED_LEN);
        let words = "ab ".repeat(1000);
        let n = normalize_message(&words);
        assert!(n.chars().count() <= MAX_NORMALIZED_LEN);
        assert!(!n.ends_with(' '));
        let multibyte = "é".repeat(3000);
        assert_eq!(
            normalize_message(&multibyte).chars().count(),
            MAX_NORMALIZED_LEN
        );
    }

    #[test]
    fn unicode_is_safe() {
        check("ошибка 42 в строке", "ошибка <num> в строке");
        check("日本42", "日本42");
        check("–5 —", "–<num> —");
    }

    #[test]
    fn function_names() {
        assert_eq!(normalize_function_name("handle_update"), "handle_update");
        assert_eq!(normalize_function_name("<lambda>"), "<lambda>");
        assert_eq!(normalize_function_name("?"), "?");
        assert_eq!(normalize_function_name("<anonymous>"), "<anonymous>");
        assert_eq!(normalize_function_name("lambda$main$0"), "lambda$main");
        assert_eq!(normalize_function_name("Outer$1"), "Outer");
        assert_eq!(
            normalize_function_name("com.example.Foo$$Lambda$123/0x0000000800c0b000"),
            "com.example.Foo$$Lambda"
        );
        assert_eq!(
            normalize_function_name("com.example.Foo$$Lambda/0x0000000800c0b000"),
            "com.example.Foo$$Lambda"
        );
        assert_eq!(
            normalize_function_name("<function f at 0x7f61357bac50>"),
            "<function f at >"
        );
        assert_eq!(normalize_function_name("  spaced   out "), "spaced out");
    }
}

//! Reads a certificate's `notAfter` from its DER encoding. Only the path
//! to the validity field is walked (Certificate → TBSCertificate →
//! Validity), with every length checked, so untrusted bytes cannot make it
//! panic or over-read. Written here instead of taking `x509-parser`
//! (nom, asn1-rs, der-parser, oid-registry, …) for one field.

use chrono::{DateTime, NaiveDate, Utc};

fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *d.first()?;
    let first = *d.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *d.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    let body = d.get(hdr..end)?;
    Some((tag, body, &d[end..]))
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

fn parse_time(tag: u8, v: &[u8]) -> Option<DateTime<Utc>> {
    let (year, rest) = match tag {
        0x17 => {
            // UTCTime YYMMDDHHMMSSZ
            let yy = digits(v.get(0..2)?)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, v.get(2..)?)
        }
        0x18 => (digits(v.get(0..4)?)?, v.get(4..)?), // GeneralizedTime YYYYMMDDHHMMSSZ
        _ => return None,
    };
    let f = |i: usize| digits(rest.get(i..i + 2)?);
    let date = NaiveDate::from_ymd_opt(year as i32, f(0)?, f(2)?)?;
    let t = date.and_hms_opt(f(4)?, f(6)?, f(8).unwrap_or(0))?;
    Some(t.and_utc())
}

/// The `notAfter` of a DER certificate, or `None` when it cannot be read.
pub fn not_after(der: &[u8]) -> Option<DateTime<Utc>> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version, optional.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    rest = tlv(rest)?.2; // serialNumber
    rest = tlv(rest)?.2; // signature AlgorithmIdentifier
    rest = tlv(rest)?.2; // issuer
    let (0x30, validity, _) = tlv(rest)? else {
        return None;
    };
    let (_, _, after) = tlv(validity)?; // notBefore
    let (tag, v, _) = tlv(after)?;
    parse_time(tag, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn reads_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 7, 9);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der()),
            Some(Utc.with_ymd_and_hms(2031, 7, 9, 0, 0, 0).unwrap())
        );
        params.not_after = rcgen::date_time_ymd(2051, 1, 2);
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der()).map(|d| d.format("%Y-%m-%d").to_string()),
            Some("2051-01-02".into())
        );
    }

    #[test]
    fn garbage_is_none_never_a_panic() {
        assert_eq!(not_after(&[]), None);
        assert_eq!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(not_after(&[0x30, 0x03, 0x30, 0x01]), None);
        for n in 0..200u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(n)).collect();
            let _ = not_after(&v);
        }
    }
}

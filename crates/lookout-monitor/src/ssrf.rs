//! The private-address rule: which targets only administrators may
//! monitor, because checking them from the server could reach services
//! that are not meant to be reachable (SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Why an address is private, or `None` when it is public.
pub fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if (v6.segments()[0] & 0xfe00) == 0xfc00 {
                Some("private (unique local)")
            } else if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
}

fn v4_kind(v4: Ipv4Addr) -> Option<&'static str> {
    let o = v4.octets();
    if v4.is_loopback() {
        Some("loopback")
    } else if v4.is_private() {
        Some("private")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if v4.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        Some("private (carrier-grade NAT)")
    } else if v4.is_broadcast() || v4.is_multicast() {
        Some("broadcast or multicast")
    } else {
        None
    }
}

/// Resolves `host` and returns the first private address it maps to, with
/// why it is private. A name that does not resolve is not private (the
/// check will report the DNS error).
pub async fn first_private(host: &str, port: u16) -> Option<(IpAddr, &'static str)> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return private_kind(ip).map(|k| (ip, k));
    }
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return Some((IpAddr::V6(Ipv6Addr::LOCALHOST), "loopback"));
    }
    let addrs = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host, port)),
    )
    .await
    .ok()?
    .ok()?;
    for a in addrs {
        if let Some(k) = private_kind(a.ip()) {
            return Some((a.ip(), k));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        for (ip, private) in [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("100.64.0.1", true),
            ("0.0.0.0", true),
            ("::1", true),
            ("fd00::1", true),
            ("fe80::1", true),
            ("::ffff:127.0.0.1", true),
            ("93.184.216.34", false),
            ("2606:2800:220:1::", false),
        ] {
            assert_eq!(private_kind(ip.parse().unwrap()).is_some(), private, "{ip}");
        }
    }

    #[tokio::test]
    async fn names_are_resolved() {
        assert!(first_private("localhost", 80).await.is_some());
        assert!(first_private("127.0.0.1", 80).await.is_some());
        assert!(first_private("8.8.8.8", 80).await.is_none());
    }
}

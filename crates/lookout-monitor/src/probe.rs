//! The check runners: HTTP(S) (also for health endpoints), TCP and DNS.
//! Each check is bounded: a per-check timeout covers connecting, the
//! request and reading the body, and the body is read only up to a cap,
//! so a target that hangs, sends garbage or an endless body costs at most
//! the timeout and the cap.

use crate::condition::Observed;
use crate::health::{self, Health};
use crate::spec::{Compiled, Kind};
use crate::ssrf;
use crate::state::Observation;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The User-Agent of every outgoing check.
pub const USER_AGENT: &str = concat!("Lookout/", env!("CARGO_PKG_VERSION"), " (+uptime monitor)");

/// What one check found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// Good, degraded or failed.
    pub observation: Observation,
    /// Response time in milliseconds, when something answered.
    pub latency_ms: Option<f64>,
    /// The result or the cause in words: `HTTP 200 in 35 ms`, `timeout
    /// after 10 s`, `DNS error: …`, `condition [STATUS] (503) == 200
    /// failed`.
    pub message: String,
    /// Structured details: status code, conditions, health sub-checks,
    /// certificate expiry.
    pub details: Value,
}

impl CheckOutcome {
    fn failed(message: String, latency_ms: Option<f64>) -> CheckOutcome {
        CheckOutcome {
            observation: Observation::Down,
            latency_ms,
            message,
            details: json!({}),
        }
    }
}

/// Runs checks. Holds the HTTP clients (connection pools are shared by
/// all monitors).
#[derive(Debug, Clone)]
pub struct Prober {
    /// Indexed by [`client_index`]: TLS verified or not, redirects
    /// followed or not, any address or public ones only.
    clients: [reqwest::Client; 8],
    body_cap: usize,
}

/// Redirects an HTTP check follows at most.
const MAX_REDIRECTS: usize = 10;

fn client_index(verify: bool, follow: bool, public_only: bool) -> usize {
    usize::from(!verify) << 2 | usize::from(!follow) << 1 | usize::from(public_only)
}

fn client(verify: bool, follow: bool, public_only: bool) -> Result<reqwest::Client, String> {
    let redirect = match (follow, public_only) {
        (false, _) => reqwest::redirect::Policy::none(),
        (true, false) => reqwest::redirect::Policy::limited(MAX_REDIRECTS),
        (true, true) => reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match refused_literal(attempt.url()) {
                Some(why) => attempt.error(why),
                None => attempt.follow(),
            }
        }),
    };
    let mut b = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(redirect)
        .danger_accept_invalid_certs(!verify)
        .tls_info(true)
        .connect_timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(4)
        // The Mozilla roots compiled in; not also the system's, which a
        // feature object_store turns on for the whole build would load
        // from disk into each of the eight clients.
        .tls_built_in_native_certs(false);
    if public_only {
        b = b.dns_resolver(std::sync::Arc::new(PublicOnlyResolver));
    }
    b.build().map_err(|e| e.to_string())
}

/// Why a public-only check may not go to `url`, when its host is a
/// private address literal (names are the resolver's business).
fn refused_literal(url: &reqwest::Url) -> Option<String> {
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => std::net::IpAddr::V4(v4),
        url::Host::Ipv6(v6) => std::net::IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    ssrf::private_kind(ip).map(|why| refusal(&ip.to_string(), ip, why))
}

fn refusal(target: &str, ip: std::net::IpAddr, why: &str) -> String {
    format!(
        "refused: {target} is {ip} ({why}); this monitor may reach public addresses only (it was saved by someone who may not monitor private targets)"
    )
}

/// A resolver that keeps public addresses only, for monitors that may not
/// reach private targets: checked when the connection is made, so the
/// answer the check uses is the answer checked.
#[derive(Debug)]
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (public, private) = public_addresses(all);
            if public.is_empty()
                && let Some(ip) = private
            {
                let why = ssrf::private_kind(ip).unwrap_or("private");
                return Err(refusal(&host, ip, why).into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Splits resolved addresses: the public ones, and the first private one
/// (to name in the refusal when there is no public one).
fn public_addresses(
    all: Vec<std::net::SocketAddr>,
) -> (Vec<std::net::SocketAddr>, Option<std::net::IpAddr>) {
    let private = all
        .iter()
        .find(|a| ssrf::private_kind(a.ip()).is_some())
        .map(|a| a.ip());
    let public = all
        .into_iter()
        .filter(|a| ssrf::private_kind(a.ip()).is_none())
        .collect();
    (public, private)
}

/// The cause of a failed request, in words.
pub fn describe_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timeout after {} s", timeout.as_secs());
    }
    let mut chain = Vec::new();
    let mut src: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = src {
        chain.push(s.to_string());
        src = s.source();
    }
    let all = chain.join(": ").to_ascii_lowercase();
    let inner = chain.last().cloned().unwrap_or_default();
    if all.contains("dns error")
        || all.contains("failed to lookup address")
        || all.contains("name or service not known")
    {
        format!("DNS error: {inner}")
    } else if all.contains("certificate")
        || all.contains("tls")
        || all.contains("handshake")
        || all.contains("peer") && all.contains("alert")
    {
        format!("TLS error: {inner}")
    } else if all.contains("connection refused") {
        "connection refused".to_string()
    } else if all.contains("timed out") {
        format!("timeout after {} s", timeout.as_secs())
    } else if e.is_redirect() {
        format!("too many redirects: {inner}")
    } else if e.is_connect() {
        format!("connection error: {inner}")
    } else {
        format!("request failed: {inner}")
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

impl Prober {
    /// Builds the clients. `body_cap`: most body bytes read per check.
    pub fn new(body_cap: usize) -> Result<Prober, String> {
        let mut clients = Vec::with_capacity(8);
        for i in 0..8 {
            clients.push(client(i & 4 == 0, i & 2 == 0, i & 1 == 1)?);
        }
        Ok(Prober {
            clients: clients
                .try_into()
                .map_err(|_| "eight clients".to_string())?,
            body_cap: body_cap.max(1024),
        })
    }

    /// Runs one check of an active monitor; `now` is used for certificate
    /// expiry. Never takes longer than the monitor's timeout plus a second.
    pub async fn run(&self, c: &Compiled, now: DateTime<Utc>) -> CheckOutcome {
        let timeout = Duration::from_secs(c.spec.timeout_secs.max(1) as u64);
        let work = async {
            match c.spec.kind {
                Kind::Http | Kind::Health => self.http(c, timeout, now).await,
                Kind::Tcp => tcp(c, timeout).await,
                Kind::Dns => dns(c, timeout).await,
                Kind::Heartbeat => CheckOutcome::failed("heartbeats are not probed".into(), None),
            }
        };
        match tokio::time::timeout(timeout + Duration::from_secs(1), work).await {
            Ok(o) => o,
            Err(_) => CheckOutcome::failed(format!("timeout after {} s", timeout.as_secs()), None),
        }
    }

    async fn http(&self, c: &Compiled, timeout: Duration, now: DateTime<Utc>) -> CheckOutcome {
        let s = &c.spec;
        let idx = client_index(s.verify_tls, s.follow_redirects, s.public_only);
        if s.public_only
            && let Some(why) = s
                .url
                .as_deref()
                .and_then(|u| reqwest::Url::parse(u).ok())
                .as_ref()
                .and_then(refused_literal)
        {
            return CheckOutcome::failed(why, None);
        }
        let method =
            reqwest::Method::from_bytes(s.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.clients[idx]
            .request(method, s.url.as_deref().unwrap_or_default())
            .timeout(timeout);
        for (k, v) in &s.headers {
            req = req.header(k, v);
        }
        if let Some(b) = &s.body {
            req = req.body(b.clone());
        }
        let started = Instant::now();
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return CheckOutcome::failed(describe_error(&e, timeout), None),
        };
        let status = resp.status();
        let cert_expiry = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .and_then(crate::cert::not_after);
        let mut body: Vec<u8> = Vec::new();
        let mut truncated = false;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = self.body_cap - body.len();
                    if chunk.len() >= room {
                        body.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return CheckOutcome::failed(
                        format!("{} (while reading the body)", describe_error(&e, timeout)),
                        Some(ms(started.elapsed())),
                    );
                }
            }
        }
        drop(resp);
        let latency = ms(started.elapsed());
        let text = String::from_utf8_lossy(&body);
        let json_body: Option<Value> = if truncated {
            None
        } else {
            serde_json::from_slice(&body).ok()
        };
        let mut failures: Vec<String> = Vec::new();
        let mut details = json!({
            "status_code": status.as_u16(),
            "body_bytes": body.len(),
            "body_truncated": truncated,
        });
        if let Some(exp) = cert_expiry {
            details["certificate_expires_at"] = json!(exp);
        }
        let code = status.as_u16();
        let reason = status.canonical_reason().unwrap_or("");
        let mut health_verdict = None;
        if s.kind == Kind::Health
            && let Some(report) = json_body.as_ref().and_then(|b| health::interpret(code, b))
        {
            details["health"] = serde_json::to_value(&report).unwrap_or_default();
            health_verdict = Some(report);
        }
        if health_verdict.is_none() && !c.accepted.contains(code) {
            failures.push(
                format!("HTTP {code} {reason} (accepted: {})", s.accepted_status)
                    .trim()
                    .to_string(),
            );
        }
        if let Some(k) = &s.keyword {
            let found = text.contains(k.as_str());
            if found && s.keyword_absent {
                failures.push(format!(
                    "keyword `{k}` found in the body; it must be absent"
                ));
            } else if !found && !s.keyword_absent {
                failures.push(format!("keyword `{k}` not found in the body"));
            }
        }
        let observed = Observed {
            status: Some(code),
            response_time_ms: Some(latency),
            body_json: json_body.as_ref(),
            body_text: Some(&text),
            cert_expires_in_ms: cert_expiry.map(|e| (e - now).num_milliseconds() as f64),
            connected: true,
            ip: None,
        };
        let mut conds = Vec::new();
        for cond in &c.conditions {
            let r = cond.evaluate(&observed);
            if !r.ok {
                failures.push(format!("condition {} failed", r.description));
            }
            conds.push(json!({"condition": cond.text, "ok": r.ok, "result": r.description}));
        }
        if !conds.is_empty() {
            details["conditions"] = Value::Array(conds);
        }
        let mut observation = Observation::Up;
        if let Some(h) = &health_verdict {
            let failing: Vec<String> = h
                .checks
                .iter()
                .filter(|c| c.health != Health::Healthy)
                .map(|c| match &c.message {
                    Some(m) => format!("{} {} ({m})", c.name, health_word(c.health)),
                    None => format!("{} {}", c.name, health_word(c.health)),
                })
                .collect();
            match h.overall {
                Health::Healthy => {}
                Health::Degraded => {
                    observation = Observation::Degraded;
                    failures.push(if failing.is_empty() {
                        format!(
                            "degraded: status {:?}",
                            h.reported_status.as_deref().unwrap_or("degraded")
                        )
                    } else {
                        format!("degraded: {}", failing.join(", "))
                    });
                }
                Health::Unhealthy => {
                    failures.push(if failing.is_empty() {
                        format!(
                            "unhealthy: HTTP {code}, status {:?}",
                            h.reported_status.as_deref().unwrap_or("none")
                        )
                    } else {
                        format!("unhealthy: HTTP {code}; {}", failing.join(", "))
                    });
                    observation = Observation::Down;
                }
            }
        }
        // Anything but the health verdict failing is a hard failure.
        let hard = failures.iter().any(|f| !f.starts_with("degraded:"));
        if hard {
            observation = Observation::Down;
        }
        let message = if failures.is_empty() {
            format!("HTTP {code} in {latency:.0} ms")
        } else {
            failures.join("; ")
        };
        CheckOutcome {
            observation,
            latency_ms: Some(latency),
            message: cap(message),
            details,
        }
    }
}

fn health_word(h: Health) -> &'static str {
    match h {
        Health::Healthy => "healthy",
        Health::Degraded => "degraded",
        Health::Unhealthy => "failing",
    }
}

fn cap(mut s: String) -> String {
    if s.len() > 1000 {
        let mut end = 1000;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<std::net::SocketAddr>, String> {
    match tokio::time::timeout(
        timeout,
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port)),
    )
    .await
    {
        Err(_) => Err(format!(
            "timeout after {} s resolving {host}",
            timeout.as_secs()
        )),
        Ok(Err(e)) => Err(format!("DNS error: {host}: {e}")),
        Ok(Ok(a)) => {
            let v: Vec<_> = a.collect();
            if v.is_empty() {
                Err(format!("DNS error: {host} has no address"))
            } else {
                Ok(v)
            }
        }
    }
}

async fn tcp(c: &Compiled, timeout: Duration) -> CheckOutcome {
    let host = c.spec.host.as_deref().unwrap_or_default();
    let port = c.spec.port.unwrap_or(0);
    let started = Instant::now();
    let mut addrs = match resolve(host, port, timeout).await {
        Ok(a) => a,
        Err(m) => return CheckOutcome::failed(m, None),
    };
    if c.spec.public_only {
        let (public, private) = public_addresses(addrs);
        if public.is_empty()
            && let Some(ip) = private
        {
            let why = ssrf::private_kind(ip).unwrap_or("private");
            return CheckOutcome::failed(refusal(host, ip, why), None);
        }
        addrs = public;
    }
    let left = timeout.saturating_sub(started.elapsed());
    match tokio::time::timeout(left, tokio::net::TcpStream::connect(&addrs[..])).await {
        Err(_) => CheckOutcome::failed(
            format!(
                "timeout after {} s connecting to {host}:{port}",
                timeout.as_secs()
            ),
            None,
        ),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            CheckOutcome::failed(format!("connection refused by {host}:{port}"), None)
        }
        Ok(Err(e)) => CheckOutcome::failed(format!("cannot connect to {host}:{port}: {e}"), None),
        Ok(Ok(stream)) => {
            let latency = ms(started.elapsed());
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            CheckOutcome {
                observation: Observation::Up,
                latency_ms: Some(latency),
                message: format!("connected to {peer} in {latency:.0} ms"),
                details: json!({"peer": peer}),
            }
        }
    }
}

async fn dns(c: &Compiled, timeout: Duration) -> CheckOutcome {
    let host = c.spec.host.as_deref().unwrap_or_default();
    let started = Instant::now();
    let addrs = match resolve(host, 0, timeout).await {
        Ok(a) => a,
        Err(m) => return CheckOutcome::failed(m, None),
    };
    let latency = ms(started.elapsed());
    let mut ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    ips.sort();
    ips.dedup();
    let details = json!({"addresses": ips});
    if let Some(want) = c.spec.expected_address.as_deref().map(str::trim)
        && let Ok(want_ip) = want.parse::<std::net::IpAddr>()
        && !addrs.iter().any(|a| a.ip() == want_ip)
    {
        return CheckOutcome {
            observation: Observation::Down,
            latency_ms: Some(latency),
            message: format!(
                "{host} resolved to {} , not the expected {want}",
                ips.join(", ")
            )
            .replace(" ,", ","),
            details,
        };
    }
    CheckOutcome {
        observation: Observation::Up,
        latency_ms: Some(latency),
        message: format!("{host} resolved to {} in {latency:.0} ms", ips.join(", ")),
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_to_private_literals_are_refused_and_names_are_left_to_the_resolver() {
        for (url, refused) in [
            ("http://127.0.0.1:8080/admin", true),
            ("http://[::1]/", true),
            ("http://169.254.169.254/latest/meta-data/", true),
            ("http://10.0.0.5/", true),
            ("http://[::ffff:192.168.1.1]/", true),
            ("https://93.184.216.34/", false),
            ("https://example.com/", false),
        ] {
            let u = reqwest::Url::parse(url).unwrap();
            assert_eq!(refused_literal(&u).is_some(), refused, "{url}");
        }
    }

    #[test]
    fn client_indexes_are_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for v in [true, false] {
            for f in [true, false] {
                for p in [true, false] {
                    assert!(seen.insert(client_index(v, f, p)));
                }
            }
        }
        assert_eq!(seen.into_iter().max(), Some(7));
    }
}

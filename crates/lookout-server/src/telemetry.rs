//! Per-request telemetry: one structured log line per HTTP request, and the
//! `lookout_http_*` metrics, labelled by route template (never by raw path,
//! which would let clients create unbounded series).

use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use lookout_metrics::{CounterVec, HistogramVec, LATENCY_BUCKETS};
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;

struct HttpMetrics {
    requests: CounterVec,
    duration: HistogramVec,
}

fn metrics() -> &'static HttpMetrics {
    static M: OnceLock<HttpMetrics> = OnceLock::new();
    M.get_or_init(|| {
        let r = lookout_metrics::global();
        HttpMetrics {
            requests: r.counter_vec(
                "lookout_http_requests",
                "HTTP requests answered, by method, route and status.",
                &["method", "route", "status"],
            ),
            duration: r.histogram_vec(
                "lookout_http_request_duration_seconds",
                "Time to answer HTTP requests, by method and route.",
                &["method", "route"],
                LATENCY_BUCKETS,
            ),
        }
    })
}

/// Registers the HTTP metric families so they appear before the first
/// request.
pub fn register() {
    let _ = metrics();
}

/// The client's address: the peer, or — when the peer is a trusted proxy —
/// the right-most `X-Forwarded-For` entry that is not itself trusted.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let xff = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if xff.trim().is_empty() {
        return peer;
    }
    for part in xff.rsplit(',') {
        match part.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            Err(_) => return peer,
        }
    }
    peer
}

/// Middleware: times the request, logs one line and records metrics.
pub async fn track(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let trusted: Vec<IpAddr> = state
        .config()
        .trusted_proxies
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let ip = client_ip(peer.ip(), req.headers(), &trusted);
    let resp = next.run(req).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let m = metrics();
    m.requests
        .with(&[method.as_str(), &route, &status.to_string()])
        .inc();
    m.duration
        .with(&[method.as_str(), &route])
        .observe(elapsed.as_secs_f64());
    let duration_ms = (elapsed.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    tracing::info!(
        target: "lookout::http",
        method = %method,
        route = %route,
        status,
        duration_ms,
        client_ip = %ip,
        "request"
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_ip(peer, &h("1.2.3.4"), &[]), peer);
    }

    #[test]
    fn forwarded_for_is_used_from_trusted_proxies() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let got = client_ip(proxy, &h("6.6.6.6, 1.2.3.4, 127.0.0.1"), &[proxy]);
        assert_eq!(
            got,
            "1.2.3.4".parse::<IpAddr>().unwrap(),
            "right-most untrusted"
        );
        assert_eq!(client_ip(proxy, &h("garbage"), &[proxy]), proxy);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }
}

//! The runners against real loopback servers started here: an HTTP
//! target flipped between up, 503, slow, wrong body and an endless body;
//! a health endpoint whose sub-check fails; a TLS target with a
//! self-signed certificate that expires soon; a closed TCP port. The
//! outcomes go through the state machine, so transitions and causes are
//! asserted as a user would see them.

use chrono::{Datelike, Utc};
use lookout_monitor::{Kind, Machine, MonitorSpec, Observation, Prober, Status};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

const UP: u8 = 0;
const ERROR_503: u8 = 1;
const SLOW: u8 = 2;
const WRONG_BODY: u8 = 3;
const ENDLESS: u8 = 4;
const HEALTH_DEGRADED: u8 = 5;

async fn respond<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, mode: u8) {
    let mut buf = vec![0u8; 8192];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let ua_ok = String::from_utf8_lossy(&got).contains("user-agent: Lookout/");
    let (status, body): (&str, String) = match mode {
        UP => ("200 OK", format!(r#"{{"status":"healthy","ua_ok":{ua_ok},"checks":{{"database":{{"healthy":true,"latency_ms":5.2}}}}}}"#)),
        ERROR_503 => ("503 Service Unavailable", "down for maintenance".into()),
        SLOW => {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            ("200 OK", "{}".into())
        }
        WRONG_BODY => ("200 OK", "<html>Welcome to nginx</html>".into()),
        HEALTH_DEGRADED => (
            "503 Service Unavailable",
            r#"{"status":"unhealthy","checks":{"database":{"healthy":true,"latency_ms":4.1},"redis":{"healthy":false,"error":"connection refused"}}}"#.into(),
        ),
        _ => {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n").await;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..100_000 {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            return;
        }
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(resp.as_bytes()).await;
    let _ = s.shutdown().await;
}

async fn http_target(mode: Arc<AtomicU8>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let m = mode.load(Ordering::SeqCst);
            tokio::spawn(respond(s, m));
        }
    });
    format!("http://{addr}/health")
}

fn http_spec(url: &str, kind: Kind, conditions: &[&str]) -> MonitorSpec {
    let mut s = MonitorSpec::new(kind);
    s.url = Some(url.to_string());
    s.timeout_secs = 1;
    s.conditions = conditions.iter().map(|c| c.to_string()).collect();
    s
}

#[tokio::test]
async fn http_target_flipped_between_up_503_slow_and_wrong_body() {
    let mode = Arc::new(AtomicU8::new(UP));
    let url = http_target(mode.clone()).await;
    let spec = http_spec(
        &url,
        Kind::Http,
        &[
            "[STATUS] == 200",
            "[BODY].status == \"healthy\"",
            "[BODY].ua_ok == true",
        ],
    );
    let c = spec.compile().unwrap();
    let p = Prober::new(64 * 1024).unwrap();
    let mut m = Machine::new(3, 2);

    let o = p.run(&c, Utc::now()).await;
    assert_eq!(o.observation, Observation::Up, "{}", o.message);
    assert!(o.message.starts_with("HTTP 200 in"), "{}", o.message);
    assert_eq!(m.observe(o.observation).map(|t| t.to), Some(Status::Up));

    mode.store(ERROR_503, Ordering::SeqCst);
    let mut last = None;
    for i in 0..3 {
        let o = p.run(&c, Utc::now()).await;
        assert_eq!(o.observation, Observation::Down);
        assert!(
            o.message.contains("HTTP 503 Service Unavailable"),
            "{}",
            o.message
        );
        assert!(
            o.message.contains("condition [STATUS] (503) == 200 failed"),
            "{}",
            o.message
        );
        last = m.observe(o.observation);
        if i < 2 {
            assert_eq!(last, None, "down only after 3 failures");
        }
    }
    assert_eq!(last.map(|t| t.to), Some(Status::Down));

    mode.store(SLOW, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let o = p.run(&c, Utc::now()).await;
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2500),
        "the timeout bounds a slow target"
    );
    assert_eq!(o.message, "timeout after 1 s");

    mode.store(WRONG_BODY, Ordering::SeqCst);
    let o = p.run(&c, Utc::now()).await;
    assert_eq!(o.observation, Observation::Down);
    assert!(
        o.message
            .contains("condition [BODY].status (missing) == \"healthy\" failed"),
        "{}",
        o.message
    );

    mode.store(UP, Ordering::SeqCst);
    assert_eq!(
        m.observe(p.run(&c, Utc::now()).await.observation),
        None,
        "one success is not a recovery"
    );
    assert_eq!(
        m.observe(p.run(&c, Utc::now()).await.observation)
            .map(|t| t.to),
        Some(Status::Up)
    );
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_cap() {
    let mode = Arc::new(AtomicU8::new(ENDLESS));
    let url = http_target(mode).await;
    let mut spec = http_spec(&url, Kind::Http, &[]);
    spec.keyword = Some("never-there".into());
    spec.timeout_secs = 5;
    let c = spec.compile().unwrap();
    let p = Prober::new(100 * 1024).unwrap();
    let started = std::time::Instant::now();
    let o = p.run(&c, Utc::now()).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(o.details["body_truncated"], true);
    assert_eq!(o.details["body_bytes"], 100 * 1024);
    assert!(
        o.message.contains("keyword `never-there` not found"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn a_health_endpoint_with_a_failing_sub_check_is_degraded() {
    let mode = Arc::new(AtomicU8::new(HEALTH_DEGRADED));
    let url = http_target(mode.clone()).await;
    let c = http_spec(&url, Kind::Health, &[]).compile().unwrap();
    let p = Prober::new(64 * 1024).unwrap();
    let o = p.run(&c, Utc::now()).await;
    assert_eq!(o.observation, Observation::Degraded, "{}", o.message);
    assert_eq!(o.message, "degraded: redis failing (connection refused)");
    let checks = o.details["health"]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0]["name"], "database");
    assert_eq!(checks[0]["latency_ms"], 4.1);
    let mut m = Machine::new(1, 1);
    assert_eq!(
        m.observe(o.observation).map(|t| t.to),
        Some(Status::Degraded)
    );
    mode.store(UP, Ordering::SeqCst);
    let o = p.run(&c, Utc::now()).await;
    assert_eq!(o.observation, Observation::Up, "{}", o.message);
    assert_eq!(m.observe(o.observation).map(|t| t.to), Some(Status::Up));
}

#[tokio::test]
async fn a_closed_tcp_port_is_down_and_an_open_one_up() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let mut s = MonitorSpec::new(Kind::Tcp);
    s.host = Some("127.0.0.1".into());
    s.port = Some(port);
    s.timeout_secs = 2;
    let p = Prober::new(1024).unwrap();
    let o = p.run(&s.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Up, "{}", o.message);
    drop(l);
    let o = p.run(&s.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Down);
    assert_eq!(o.message, format!("connection refused by 127.0.0.1:{port}"));
}

#[tokio::test]
async fn dns_resolves_and_checks_the_expected_address() {
    let mut s = MonitorSpec::new(Kind::Dns);
    s.host = Some("localhost".into());
    s.expected_address = Some("127.0.0.1".into());
    let p = Prober::new(1024).unwrap();
    let o = p.run(&s.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Up, "{}", o.message);
    s.expected_address = Some("192.0.2.1".into());
    let o = p.run(&s.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Down);
    assert!(
        o.message.contains("not the expected 192.0.2.1"),
        "{}",
        o.message
    );
    s.host = Some("no-such-host.invalid".into());
    s.expected_address = None;
    let o = p.run(&s.compile().unwrap(), Utc::now()).await;
    assert!(o.message.starts_with("DNS error"), "{}", o.message);
}

#[tokio::test]
async fn a_tls_certificate_that_expires_soon_fails_its_condition() {
    let soon = Utc::now() + chrono::Duration::days(5);
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_after = rcgen::date_time_ymd(soon.year(), soon.month() as u8, soon.day() as u8);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cfg = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let a = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = a.accept(s).await {
                    respond(tls, UP).await;
                }
            });
        }
    });
    let url = format!("https://localhost:{port}/health");
    let p = Prober::new(64 * 1024).unwrap();
    // Verified: the self-signed certificate is refused, with the TLS reason.
    let mut spec = http_spec(&url, Kind::Http, &["[CERTIFICATE_EXPIRATION] > 14d"]);
    spec.timeout_secs = 3;
    let o = p.run(&spec.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Down);
    assert!(o.message.starts_with("TLS error"), "{}", o.message);
    assert!(
        o.message.to_lowercase().contains("certificate"),
        "{}",
        o.message
    );
    // Not verified: it answers, and the expiry condition fails with the days left.
    spec.verify_tls = false;
    let o = p.run(&spec.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Down, "{}", o.message);
    assert!(
        o.message.contains("condition [CERTIFICATE_EXPIRATION] ("),
        "{}",
        o.message
    );
    assert!(o.message.contains("d) > 14.0d failed"), "{}", o.message);
    assert!(o.details["certificate_expires_at"].is_string());
    spec.conditions = vec!["[CERTIFICATE_EXPIRATION] > 2d".into()];
    let o = p.run(&spec.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Up, "{}", o.message);
}

/// A monitor saved by someone who may not reach private targets is held
/// to public addresses when it connects, not only when it is saved: a
/// name that now resolves to loopback (DNS rebinding) and a literal
/// loopback URL are refused without a request, over HTTP and TCP, while
/// the same monitor without the restriction reaches the target.
#[tokio::test]
async fn public_only_monitors_are_refused_private_addresses_at_connect_time() {
    let mode = Arc::new(AtomicU8::new(UP));
    let url = http_target(mode).await;
    let port = url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let p = Prober::new(64 * 1024).unwrap();
    for target in [format!("http://localhost:{port}/health"), url.clone()] {
        let mut spec = http_spec(&target, Kind::Http, &[]);
        let o = p.run(&spec.compile().unwrap(), Utc::now()).await;
        assert_eq!(o.observation, Observation::Up, "{target}: {}", o.message);
        spec.public_only = true;
        let o = p.run(&spec.compile().unwrap(), Utc::now()).await;
        assert_eq!(o.observation, Observation::Down, "{target}: {}", o.message);
        assert!(
            o.message.contains("public addresses only") && o.message.contains("loopback"),
            "{target}: {}",
            o.message
        );
    }
    let mut tcp = MonitorSpec::new(Kind::Tcp);
    tcp.host = Some("localhost".into());
    tcp.port = Some(port.parse().unwrap());
    tcp.timeout_secs = 1;
    let o = p.run(&tcp.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Up, "{}", o.message);
    tcp.public_only = true;
    let o = p.run(&tcp.compile().unwrap(), Utc::now()).await;
    assert_eq!(o.observation, Observation::Down, "{}", o.message);
    assert!(o.message.contains("public addresses only"), "{}", o.message);
}

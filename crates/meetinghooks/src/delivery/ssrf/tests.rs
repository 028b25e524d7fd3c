//! Tests of `ssrf`.

use super::*;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn url(s: &str) -> reqwest::Url {
    reqwest::Url::parse(s).unwrap()
}

fn policy(allowed: &[&str]) -> SsrfPolicy {
    let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
    SsrfPolicy::new(&allowed).unwrap()
}

#[test]
fn classifies_addresses() {
    use BlockReason::*;
    let cases: &[(&str, Option<BlockReason>)] = &[
        ("127.0.0.1", Some(Loopback)),
        ("127.1.2.3", Some(Loopback)),
        ("::1", Some(Loopback)),
        ("10.0.0.1", Some(Private)),
        ("172.16.0.1", Some(Private)),
        ("172.31.255.255", Some(Private)),
        ("192.168.1.1", Some(Private)),
        ("169.254.169.254", Some(LinkLocal)),
        ("fe80::1", Some(LinkLocal)),
        ("100.64.0.1", Some(Cgnat)),
        ("100.127.255.255", Some(Cgnat)),
        ("fc00::1", Some(UniqueLocal)),
        ("fd12::1", Some(UniqueLocal)),
        ("ff02::1", Some(Multicast)),
        ("224.0.0.1", Some(Multicast)),
        ("0.0.0.0", Some(Unspecified)),
        ("::", Some(Unspecified)),
        ("::ffff:127.0.0.1", Some(Loopback)),
        ("::ffff:10.0.0.1", Some(Private)),
        ("::ffff:169.254.169.254", Some(LinkLocal)),
        ("::127.0.0.1", Some(Loopback)),
        ("64:ff9b::7f00:1", Some(Loopback)),
        // Extras beyond the required list.
        ("0.1.2.3", Some(ThisNetwork)),
        ("255.255.255.255", Some(Broadcast)),
        ("240.0.0.1", Some(Reserved)),
        ("192.0.0.8", Some(Reserved)),
        ("192.0.2.1", Some(Documentation)),
        ("203.0.113.9", Some(Documentation)),
        ("2001:db8::1", Some(Documentation)),
        ("198.18.0.1", Some(Benchmarking)),
        ("198.19.255.255", Some(Benchmarking)),
        ("fec0::1", Some(SiteLocal)),
        ("::ffff:0:a00:1", Some(Private)),
        ("2002:7f00:1::1", Some(Loopback)),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", Some(Private)), // Teredo client 10.0.0.1
        ("::1:2:3:4", Some(Reserved)),
        // Public.
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("198.20.0.1", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
    ];
    for &(addr, want) in cases {
        assert_eq!(blocked_reason(ip(addr)), want, "{addr}");
    }
}

#[test]
fn policy_rejects_bad_entries_and_accepts_plain_ips() {
    let err = SsrfPolicy::new(&["not-a-cidr".to_string()]).unwrap_err();
    assert!(err.contains("not-a-cidr"), "{err}");
    assert!(SsrfPolicy::new(&["10.0.0.0/33".to_string()]).is_err());

    let p = policy(&["10.1.2.3", "fd00::1", " 192.168.0.0/16 "]);
    assert!(p.check_ip(ip("10.1.2.3")).is_ok());
    assert!(p.check_ip(ip("10.1.2.4")).is_err());
    assert!(p.check_ip(ip("fd00::1")).is_ok());
    assert!(p.check_ip(ip("192.168.44.1")).is_ok());
}

#[test]
fn allow_list_covers_embedded_v4_forms() {
    let p = policy(&["127.0.0.0/8"]);
    assert!(p.check_ip(ip("127.0.0.1")).is_ok());
    assert!(p.check_ip(ip("::ffff:127.0.0.1")).is_ok());
    // ::1 is IPv6 loopback, not an embedded form; it needs its own entry.
    let err = p.check_ip(ip("::1")).unwrap_err();
    assert_eq!(err.reason, BlockReason::Loopback);
    assert_eq!(
        err.to_string(),
        "blocked by SSRF policy: ::1 is loopback",
        "message format"
    );
}

#[test]
fn url_crate_normalizes_ipv4_spellings() {
    for s in [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://0x7f000001/",
        "http://0x7F.0.0.1/",
        "http://%31%32%37.0.0.1/",
        "http://127.0.0.1./",
        "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
    ] {
        assert_eq!(url(s).host_str(), Some("127.0.0.1"), "{s}");
    }
    // Hosts ending in a number that are not valid IPv4 don't parse at
    // all, so they can never reach DNS as a "name".
    for s in [
        "http://1.2.3.4.5/",
        "http://foo.0x7f/",
        "http://127.0.0.256/",
        "http://08.0.0.1/",
    ] {
        assert!(reqwest::Url::parse(s).is_err(), "{s}");
    }
}

#[test]
fn check_url_refuses_internal_targets() {
    let p = SsrfPolicy::default();
    for s in [
        "http://localhost/",
        "http://LOCALHOST./",
        "http://foo.localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00::1]:8080/",
        "https://10.0.0.1/hook",
    ] {
        let err = p.check_url(&url(s)).unwrap_err();
        assert!(matches!(err, UrlRefused::Blocked(_)), "{s}: {err}");
        assert!(is_ssrf_error(&err), "{s}");
    }
    let err = p.check_url(&url("ftp://example.com/")).unwrap_err();
    assert!(
        matches!(err, UrlRefused::Scheme(ref s) if s == "ftp"),
        "{err}"
    );
    assert!(!is_ssrf_error(&err));
    assert!(matches!(
        p.check_url(&url("file:///etc/passwd")),
        Err(UrlRefused::Scheme(_))
    ));

    for s in [
        "https://example.com/hook",
        "http://8.8.8.8/",
        "http://[2606:4700:4700::1111]/",
    ] {
        p.check_url(&url(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

#[test]
fn check_url_reports_host_and_reason() {
    let err = SsrfPolicy::default()
        .check_url(&url("http://169.254.169.254/latest/meta-data"))
        .unwrap_err();
    let UrlRefused::Blocked(blocked) = err else {
        panic!("expected Blocked, got {err:?}")
    };
    assert_eq!(blocked.addr, ip("169.254.169.254"));
    assert_eq!(blocked.reason, BlockReason::LinkLocal);

    let err = SsrfPolicy::default()
        .check_url(&url("http://foo.localhost/"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "blocked by SSRF policy: 127.0.0.1 is loopback (host foo.localhost)"
    );
}

#[test]
fn check_url_honours_allow_list() {
    let p = policy(&["127.0.0.0/8"]);
    p.check_url(&url("http://127.0.0.1:8080/")).unwrap();
    p.check_url(&url("http://localhost:8080/")).unwrap();
    assert!(matches!(
        p.check_url(&url("http://10.0.0.1/")),
        Err(UrlRefused::Blocked(_))
    ));
}

#[tokio::test]
async fn resolver_drops_blocked_addresses() {
    let resolver = GuardedResolver::new(Arc::new(SsrfPolicy::default()));
    let err = match resolver.resolve("localhost".parse().unwrap()).await {
        Ok(addrs) => panic!("expected refusal, got {:?}", addrs.collect::<Vec<_>>()),
        Err(e) => e,
    };
    assert!(is_ssrf_error(&*err), "{err}");

    let resolver = GuardedResolver::new(Arc::new(policy(&["127.0.0.0/8", "::1/128"])));
    let addrs: Vec<SocketAddr> = resolver
        .resolve("localhost".parse().unwrap())
        .await
        .unwrap()
        .collect();
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
}

/// Answers every connection with a fixed 200. Uses try_read/try_write so
/// the test needs no tokio features beyond `net`.
async fn serve_ok(listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(respond_ok(stream));
    }
}

async fn respond_ok(stream: TcpStream) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        stream.readable().await?;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => request.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    let mut out: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
    while !out.is_empty() {
        stream.writable().await?;
        match stream.try_write(out) {
            Ok(n) => out = &out[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn client(allowed: &[&str]) -> reqwest::Client {
    client_builder(Arc::new(policy(allowed)))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn client_refuses_internal_names_at_connect_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve_ok(listener));
    let target = format!("http://localhost:{port}/");

    let err = client(&[]).get(&target).send().await.unwrap_err();
    assert!(is_ssrf_error(&err), "{err:?}");

    let resp = client(&["127.0.0.0/8", "::1/128"])
        .get(&target)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    server.abort();
}

/// Documents why check_url is mandatory: reqwest never asks the resolver
/// about IP literals, so the guarded client alone lets them through.
#[tokio::test]
async fn resolver_is_not_consulted_for_ip_literals() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve_ok(listener));
    let target = format!("http://127.0.0.1:{port}/");

    let resp = client(&[]).get(&target).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(SsrfPolicy::default().check_url(&url(&target)).is_err());

    server.abort();
}

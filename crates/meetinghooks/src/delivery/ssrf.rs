//! SSRF guard for webhook delivery: address classification, allow-list, URL check, guarded DNS.
//!
//! Webhook target URLs come from customers, so the server must never be
//! tricked into connecting to loopback, private, link-local (cloud metadata)
//! or other non-global addresses. Two checks are needed and both must run:
//!
//! 1. [`SsrfPolicy::check_url`] before every request. reqwest does **not**
//!    call the DNS resolver for IP-literal hosts (`http://10.0.0.1/`), so
//!    literals are only caught here.
//! 2. [`GuardedResolver`] (installed by [`client_builder`]) at connect time.
//!    reqwest connects to exactly the addresses the resolver returns, so the
//!    address checked is the address used and DNS rebinding cannot slip a
//!    private address in between check and connect.

use std::error::Error;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused as a webhook target.
///
/// IPv6 forms that embed an IPv4 address (IPv4-mapped `::ffff:0:0/96`,
/// IPv4-translated `::ffff:0:0:0/96`, deprecated IPv4-compatible `::/96`,
/// NAT64 `64:ff9b::/96`, 6to4 `2002::/16` and Teredo `2001::/32`) are
/// classified by the embedded IPv4 address, because that is where the
/// packets end up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockReason {
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// `169.254.0.0/16` (includes cloud metadata `169.254.169.254`), `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT shared space `100.64.0.0/10` (RFC 6598).
    Cgnat,
    /// IPv6 unique local `fc00::/7`.
    UniqueLocal,
    /// Deprecated IPv6 site-local `fec0::/10`; some stacks still route it internally.
    SiteLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `0.0.0.0`, `::`. Linux treats a connect to these as a connect to localhost.
    Unspecified,
    /// "This network" `0.0.0.0/8` (other than `0.0.0.0`).
    ThisNetwork,
    /// Limited broadcast `255.255.255.255`.
    Broadcast,
    /// Documentation ranges: `192.0.2.0/24`, `198.51.100.0/24`,
    /// `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// Benchmarking: `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Other special-purpose space that is never a legitimate public target:
    /// `240.0.0.0/4` (class E), `192.0.0.0/24` (IETF protocol assignments),
    /// `100::/64` (discard-only), `64:ff9b:1::/48` (local-use NAT64) and the
    /// rest of the IETF-reserved `::/8`.
    Reserved,
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlockReason::Loopback => "loopback",
            BlockReason::Private => "private (RFC 1918)",
            BlockReason::LinkLocal => "link-local",
            BlockReason::Cgnat => "carrier-grade NAT (100.64.0.0/10)",
            BlockReason::UniqueLocal => "unique local (fc00::/7)",
            BlockReason::SiteLocal => "site-local (fec0::/10)",
            BlockReason::Multicast => "multicast",
            BlockReason::Unspecified => "unspecified",
            BlockReason::ThisNetwork => "\"this network\" (0.0.0.0/8)",
            BlockReason::Broadcast => "broadcast",
            BlockReason::Documentation => "documentation range",
            BlockReason::Benchmarking => "benchmarking range",
            BlockReason::Reserved => "reserved",
        })
    }
}

/// Classifies `ip`; `None` means it is a public address and may be contacted.
pub fn blocked_reason(ip: IpAddr) -> Option<BlockReason> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<BlockReason> {
    use BlockReason::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_broadcast() {
        return Some(Broadcast);
    }
    let reason = match ip.octets() {
        [0, ..] => ThisNetwork,
        [127, ..] => Loopback,
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => Private,
        [100, 64..=127, ..] => Cgnat,
        [169, 254, ..] => LinkLocal,
        [224..=239, ..] => Multicast,
        [240..=255, ..] => Reserved,
        [192, 0, 0, _] => Reserved,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Documentation,
        [198, 18..=19, ..] => Benchmarking,
        _ => return None,
    };
    Some(reason)
}

fn v6_reason(ip: Ipv6Addr) -> Option<BlockReason> {
    use BlockReason::*;
    if ip.is_unspecified() {
        return Some(Unspecified);
    }
    if ip.is_loopback() {
        return Some(Loopback);
    }
    // Must come before the `::/8` catch-all below: NAT64 and the mapped forms
    // live there and are judged by their IPv4 payload.
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4);
    }
    let reason = match ip.segments() {
        [0xfe80..=0xfebf, ..] => LinkLocal,
        [0xfec0..=0xfeff, ..] => SiteLocal,
        [0xfc00..=0xfdff, ..] => UniqueLocal,
        [0xff00..=0xffff, ..] => Multicast,
        [0x2001, 0x0db8, ..] | [0x3fff, 0x0000..=0x0fff, ..] => Documentation,
        [0x2001, 0x0002, 0x0000, ..] => Benchmarking,
        [0x0100, 0, 0, 0, ..] => Reserved,
        [0x0064, 0xff9b, 0x0001, ..] => Reserved,
        [0x0000..=0x00ff, ..] => Reserved,
        _ => return None,
    };
    Some(reason)
}

/// The IPv4 address an IPv6 address forwards to, for the transition
/// formats that carry one. `::` and `::1` are genuine IPv6 addresses, not
/// the compatible forms of `0.0.0.0`/`0.0.0.1`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if ip.is_unspecified() || ip.is_loopback() {
        return None;
    }
    let [.., a, b, c, d] = ip.octets();
    let tail = Ipv4Addr::new(a, b, c, d);
    match ip.segments() {
        // IPv4-mapped ::ffff:a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d,
        // IPv4-compatible ::a.b.c.d, NAT64 well-known prefix 64:ff9b::/96.
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _]
        | [0, 0, 0, 0, 0, 0, _, _]
        | [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        // 6to4: 2002:AABB:CCDD::/48 tunnels to AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => Some(v4_from_segments(hi, lo)),
        // Teredo: the client's IPv4 address is stored bit-inverted in the last 32 bits.
        [0x2001, 0x0000, .., hi, lo] => Some(v4_from_segments(!hi, !lo)),
        _ => None,
    }
}

fn v4_from_segments(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

/// A connection attempt refused because the target address is not public.
#[derive(Debug, thiserror::Error)]
#[error("blocked by SSRF policy: {addr} is {reason}{}", host_note(.host))]
pub struct SsrfBlocked {
    pub addr: IpAddr,
    pub reason: BlockReason,
    /// The hostname that led to `addr`, when the target was not an IP literal.
    pub host: Option<String>,
}

fn host_note(host: &Option<String>) -> String {
    host.as_ref()
        .map(|h| format!(" (host {h})"))
        .unwrap_or_default()
}

/// Why [`SsrfPolicy::check_url`] refused a URL.
#[derive(Debug, thiserror::Error)]
pub enum UrlRefused {
    /// Only `http` and `https` targets are delivered to.
    #[error("unsupported URL scheme {0:?}: only http and https are allowed")]
    Scheme(String),
    #[error("URL has no host")]
    NoHost,
    /// The host is an IP literal (or `localhost`) the policy refuses.
    #[error(transparent)]
    Blocked(#[from] SsrfBlocked),
}

/// Which non-public addresses are nevertheless allowed (for local testing or
/// deliberately internal deployments). The default allows nothing.
#[derive(Clone, Debug, Default)]
pub struct SsrfPolicy {
    allowed: Vec<IpNet>,
}

impl SsrfPolicy {
    /// Builds a policy from allow-list entries: CIDRs (`127.0.0.0/8`,
    /// `::1/128`) or plain IPs (meaning `/32` or `/128`).
    pub fn new(allowed_private_targets: &[String]) -> Result<SsrfPolicy, String> {
        let allowed = allowed_private_targets
            .iter()
            .map(|entry| {
                let s = entry.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!(
                            "invalid allowed private target {entry:?}: \
                             expected a CIDR such as 10.0.0.0/8 or an IP address"
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(SsrfPolicy { allowed })
    }

    /// Refuses `ip` if it is non-public and not inside an allowed range.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), SsrfBlocked> {
        match blocked_reason(ip) {
            Some(reason) if !self.is_allowed(ip) => Err(SsrfBlocked {
                addr: ip,
                reason,
                host: None,
            }),
            _ => Ok(()),
        }
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        // Allowing 127.0.0.0/8 should also allow ::ffff:127.0.0.1, since
        // that reaches the same socket.
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)))
    }

    /// Pre-flight check of a webhook URL. Must run before every request:
    /// reqwest skips the resolver for IP-literal hosts, so this is the only
    /// place literals are checked. Hostnames pass here and are checked by
    /// [`GuardedResolver`] at connect time.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), UrlRefused> {
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(UrlRefused::Scheme(other.to_owned())),
        }
        let host = url.host_str().filter(|h| !h.is_empty());
        let host = host.ok_or(UrlRefused::NoHost)?;
        // The url crate already normalizes WHATWG IPv4 spellings (2130706433,
        // 0177.0.0.1, 0x7f.1, ...) to dotted quads and rejects hosts that end
        // in a number but are not valid IPv4, so plain std parsing suffices.
        let literal = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            None => host.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        };
        if let Some(ip) = literal {
            return Ok(self.check_ip(ip)?);
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            // RFC 6761: resolvers may answer *.localhost with loopback without
            // asking DNS, so refuse by name unless loopback is allowed.
            return self.check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST)).map_err(|e| {
                UrlRefused::Blocked(SsrfBlocked {
                    host: Some(host.to_owned()),
                    ..e
                })
            });
        }
        Ok(())
    }
}

/// reqwest DNS resolver that drops addresses the policy refuses.
///
/// If a name resolves only to refused addresses the error's source chain
/// contains [`SsrfBlocked`] (see [`is_ssrf_error`]). Not consulted for
/// IP-literal URLs; use [`SsrfPolicy::check_url`] for those.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    policy: Arc<SsrfPolicy>,
}

impl GuardedResolver {
    /// Prefer [`client_builder`], which also disables redirects and proxies.
    pub fn new(policy: Arc<SsrfPolicy>) -> Self {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(resolve_guarded(
            Arc::clone(&self.policy),
            name.as_str().to_owned(),
        ))
    }
}

async fn resolve_guarded(
    policy: Arc<SsrfPolicy>,
    host: String,
) -> Result<Addrs, Box<dyn Error + Send + Sync>> {
    // Port 0: reqwest substitutes the URL's port.
    let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
    let mut first_blocked = None;
    let allowed: Vec<SocketAddr> = resolved
        .filter(|addr| match policy.check_ip(addr.ip()) {
            Ok(()) => true,
            Err(blocked) => {
                first_blocked.get_or_insert(blocked);
                false
            }
        })
        .collect();
    if !allowed.is_empty() {
        return Ok(Box::new(allowed.into_iter()));
    }
    Err(match first_blocked {
        Some(blocked) => Box::new(SsrfBlocked {
            host: Some(host),
            ..blocked
        }),
        None => format!("no addresses found for {host}").into(),
    })
}

/// A reqwest client builder with SSRF protection wired in: the guarded
/// resolver, no redirects (a redirect target would bypass
/// [`SsrfPolicy::check_url`]) and no proxies (a proxy would do the
/// resolving and connecting for us, bypassing the resolver).
///
/// Callers must still run [`SsrfPolicy::check_url`] before each request,
/// because the resolver is not consulted for IP-literal URLs.
pub fn client_builder(policy: Arc<SsrfPolicy>) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver::new(policy)))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
}

/// True if `err` or anything in its `source()` chain is an SSRF refusal,
/// e.g. a `reqwest::Error` whose connect failed in [`GuardedResolver`].
pub fn is_ssrf_error(err: &(dyn Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.is::<SsrfBlocked>()
            || matches!(e.downcast_ref::<UrlRefused>(), Some(UrlRefused::Blocked(_)))
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
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
}

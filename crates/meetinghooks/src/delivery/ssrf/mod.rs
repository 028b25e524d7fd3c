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
mod tests;

//! Fetching images and manifests from museum-controlled URLs, safely.
//!
//! Those addresses are chosen by partners, so a URL must not reach into our
//! own network (SSRF): loopback, private, link-local (cloud metadata at
//! 169.254.169.254 included), carrier-grade NAT, multicast and unspecified
//! addresses are refused unless the host is on the operator's allowlist.
//! The check runs where it cannot be dodged: in the DNS resolver reqwest
//! connects through (every hop, after every redirect, and the address checked
//! is the address connected to, so DNS rebinding gains nothing), and on
//! IP-literal hosts, which skip DNS, before the first request and on every
//! redirect. Bodies are capped while streaming; failures that may pass
//! (timeouts, 429, 5xx) are retried with exponential backoff.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Largest body accepted, bytes.
    pub max_bytes: u64,
    /// Whole-request time limit (connect + headers + body).
    pub timeout: Duration,
    /// Extra attempts on timeouts, 429 and 5xx.
    pub retries: u32,
    pub max_redirects: usize,
    /// Downloads at once.
    pub concurrency: usize,
    /// Hosts (names or IP literals) allowed even on internal addresses.
    pub allow_hosts: Vec<String>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            timeout: Duration::from_secs(20),
            retries: 2,
            max_redirects: 5,
            concurrency: 4,
            allow_hosts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum FetchError {
    #[error("not an http(s) URL")]
    BadUrl,
    #[error("address {0} is internal (loopback, private, link-local or metadata) and not allowed")]
    Blocked(String),
    #[error("HTTP {0}")]
    Status(u16),
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Transport(String),
}

/// Whether connecting to `ip` could reach our own infrastructure.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // carrier-grade NAT (cloud metadata lives here too)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64 of any v4 address
        }
    }
}

/// Resolves names, then drops internal addresses (unless the name is allowed).
#[derive(Debug)]
struct GuardedResolver {
    allow: Arc<Vec<String>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = allow.iter().any(|a| a.eq_ignore_ascii_case(&host));
            let safe: Vec<SocketAddr> = addrs.iter().copied().filter(|a| allowed || !is_internal(a.ip())).collect();
            if safe.is_empty() {
                let shown = addrs.first().map_or_else(|| host.clone(), |a| a.ip().to_string());
                return Err(Box::new(FetchError::Blocked(shown)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(safe.into_iter()) as Addrs)
        })
    }
}

/// The IP-literal check (names are checked by the resolver).
fn check_literal(url: &reqwest::Url, allow: &[String]) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::BadUrl);
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) => return Ok(()),
        None => return Err(FetchError::BadUrl),
    };
    let host = url.host_str().unwrap_or_default().trim_matches(|c| c == '[' || c == ']');
    if is_internal(ip) && !allow.iter().any(|a| a.trim_matches(|c| c == '[' || c == ']') == host) {
        return Err(FetchError::Blocked(ip.to_string()));
    }
    Ok(())
}

/// An HTTP client for partner URLs with the guard, limits and retries built in.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    options: FetchOptions,
}

impl Fetcher {
    pub fn new(options: FetchOptions) -> Result<Self, FetchError> {
        let allow = Arc::new(options.allow_hosts.clone());
        let redirect_allow = allow.clone();
        let max_redirects = options.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(FetchError::Transport(format!("more than {max_redirects} redirects")));
            }
            match check_literal(attempt.url(), &redirect_allow) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { allow }))
            .redirect(policy)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("museum-index-builder/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        Ok(Self { client, options })
    }

    pub fn options(&self) -> &FetchOptions {
        &self.options
    }

    /// GETs `url` within the limits, retrying what may pass on a second try.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| FetchError::BadUrl)?;
        check_literal(&parsed, &self.options.allow_hosts)?;
        let mut attempt = 0;
        loop {
            match self.get_once(parsed.clone()).await {
                Err(e) if attempt < self.options.retries && retryable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn get_once(&self, url: reqwest::Url) -> Result<Vec<u8>, FetchError> {
        let res = self.client.get(url).send().await.map_err(classify)?;
        let status = res.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let max = self.options.max_bytes;
        if res.content_length().is_some_and(|n| n > max) {
            return Err(FetchError::TooLarge(max));
        }
        let mut body = Vec::new();
        let mut stream = res.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(classify)?;
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(FetchError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Fetches every URL with at most `concurrency` downloads at once; the
    /// answers come back in input order.
    pub async fn get_all(&self, urls: &[String]) -> Vec<Result<Vec<u8>, FetchError>> {
        futures_util::stream::iter(urls.iter().map(|u| self.get(u)))
            .buffered(self.options.concurrency.max(1))
            .collect()
            .await
    }
}

fn retryable(e: &FetchError) -> bool {
    match e {
        FetchError::Status(s) => *s == 429 || *s >= 500,
        FetchError::Transport(_) => true,
        _ => false,
    }
}

/// Finds our own guard's verdict inside reqwest's error chain.
fn classify(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(f) = s.downcast_ref::<FetchError>() {
            return f.clone();
        }
        source = s.source();
    }
    if e.is_timeout() {
        return FetchError::Transport("timed out".into());
    }
    FetchError::Transport(e.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_hosts_are_checked_and_allowlisted() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert_eq!(check_literal(&url("http://127.0.0.1/x"), &[]), Err(FetchError::Blocked("127.0.0.1".into())));
        assert!(check_literal(&url("http://[::1]:8080/x"), &[]).is_err());
        assert!(check_literal(&url("http://169.254.169.254/latest/meta-data"), &[]).is_err());
        assert!(check_literal(&url("ftp://example.org/x"), &[]).is_err());
        assert!(check_literal(&url("http://127.0.0.1/x"), &["127.0.0.1".into()]).is_ok());
        assert!(check_literal(&url("https://example.org/x"), &[]).is_ok());
    }
}

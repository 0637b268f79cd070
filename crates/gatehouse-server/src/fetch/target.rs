//! Steps 1-2 of a fetch: check the URL, then resolve its host once and check every address.

use std::net::{IpAddr, SocketAddr};

use url::{Host, Url};

use super::{FetchError, FetchPolicy, special_use_reason};

/// Where a fetch may connect: the URL's host and the checked addresses it is pinned to.
#[derive(Debug)]
pub(super) struct Target {
    /// The host as written in the URL (a DNS name, or an IP literal).
    pub(super) host: String,
    /// The DNS name to pin to `addrs`; `None` for an IP literal (nothing to resolve).
    pub(super) domain: Option<String>,
    /// Every address the name resolved to, each one checked; never empty.
    pub(super) addrs: Vec<SocketAddr>,
}

/// Checks `url` and resolves its host once (REG-35: https only; resolve once and pin).
pub(super) async fn resolve(url: &Url, policy: &FetchPolicy) -> Result<Target, FetchError> {
    let (host, port) = check_url(url)?;
    let allowed = is_allow_listed(&host, &policy.allow_hosts);
    let (domain, addrs) = match &host {
        Host::Ipv4(ip) => (None, vec![SocketAddr::new(IpAddr::V4(*ip), port)]),
        Host::Ipv6(ip) => (None, vec![SocketAddr::new(IpAddr::V6(*ip), port)]),
        Host::Domain(name) => (Some((*name).to_owned()), lookup(name, port).await?),
    };
    let target = Target {
        host: host.to_string(),
        domain,
        addrs,
    };
    if !allowed {
        refuse_special_use(&target)?;
    }
    Ok(target)
}

/// REG-30/REG-35 (draft-ietf-oauth-client-id-metadata-document-00 §3, §6.5): `https`, no
/// userinfo, no fragment; the port is explicit or 443.
fn check_url(url: &Url) -> Result<(Host<&str>, u16), FetchError> {
    if url.scheme() != "https" {
        return Err(FetchError::NotHttps {
            scheme: url.scheme().to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::HasUserinfo);
    }
    if url.fragment().is_some() {
        return Err(FetchError::HasFragment);
    }
    let host = url.host().ok_or(FetchError::NoHost)?;
    let port = url.port_or_known_default().unwrap_or(443);
    Ok((host, port))
}

/// Whether the URL's host is exempt from the special-use check. Entries are host names
/// (case-insensitive) or IP literals, IPv6 with or without brackets.
fn is_allow_listed(host: &Host<&str>, allow_hosts: &[String]) -> bool {
    let host = host.to_owned();
    allow_hosts.iter().any(|entry| {
        let parsed = match entry.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => Some(Host::Ipv4(ip)),
            Ok(IpAddr::V6(ip)) => Some(Host::Ipv6(ip)),
            Err(_) => Host::parse(entry).ok(),
        };
        parsed.as_ref() == Some(&host)
    })
}

/// The one DNS lookup of a fetch; duplicates (one per socket type) are dropped.
async fn lookup(name: &str, port: u16) -> Result<Vec<SocketAddr>, FetchError> {
    let found = tokio::net::lookup_host((name, port))
        .await
        .map_err(|source| FetchError::Dns {
            host: name.to_owned(),
            source,
        })?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in found {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(FetchError::NoAddresses {
            host: name.to_owned(),
        });
    }
    Ok(addrs)
}

/// Every address must be allowed: an attacker's DNS can mix a public answer with a
/// private one and hope the connection picks the second.
fn refuse_special_use(target: &Target) -> Result<(), FetchError> {
    for addr in &target.addrs {
        if let Some(reason) = special_use_reason(addr.ip()) {
            return Err(FetchError::Blocked {
                host: target.host.clone(),
                address: addr.ip(),
                reason,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(url: &str, entries: &[&str]) -> bool {
        let url = Url::parse(url).expect("test URL parses");
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        is_allow_listed(&url.host().expect("test URL has a host"), &entries)
    }

    #[test]
    fn allow_list_matches_names_case_insensitively_and_ip_literals_by_value() {
        assert!(allowed("https://LocalHost:8443/x", &["localhost"]));
        assert!(allowed("https://localhost/x", &["LOCALHOST"]));
        assert!(allowed("https://127.0.0.1/x", &["127.0.0.1"]));
        assert!(allowed("https://[::1]/x", &["::1"]));
        assert!(allowed("https://[::1]/x", &["[::1]"]));
        assert!(allowed("https://[0:0::1]/x", &["::1"]));
        // The URL parser normalises numeric hosts, so they are compared as addresses.
        assert!(allowed("https://0x7f.1/x", &["127.0.0.1"]));
    }

    #[test]
    fn allow_list_does_not_match_other_hosts() {
        assert!(!allowed("https://localhost/x", &["127.0.0.1"]));
        assert!(!allowed("https://127.0.0.1/x", &["localhost"]));
        assert!(!allowed("https://127.0.0.2/x", &["127.0.0.1"]));
        assert!(!allowed("https://sub.localhost/x", &["localhost"]));
        assert!(!allowed("https://example.com/x", &[]));
    }

    #[test]
    fn url_checks_report_scheme_userinfo_and_fragment() {
        let check = |s: &str| check_url(&Url::parse(s).expect("test URL parses")).map(|_| ());
        assert!(matches!(
            check("http://example.com/a"),
            Err(FetchError::NotHttps { scheme }) if scheme == "http"
        ));
        assert!(matches!(
            check("https://user@example.com/a"),
            Err(FetchError::HasUserinfo)
        ));
        assert!(matches!(
            check("https://:pw@example.com/a"),
            Err(FetchError::HasUserinfo)
        ));
        assert!(matches!(
            check("https://example.com/a#frag"),
            Err(FetchError::HasFragment)
        ));
        assert!(check("https://example.com:8443/a?q=1").is_ok());
    }
}

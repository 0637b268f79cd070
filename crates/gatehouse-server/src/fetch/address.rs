//! Which IP addresses a server-side fetch may connect to.
//!
//! draft-ietf-oauth-client-id-metadata-document-00 §6.5 (REG-35) and the MCP 2025-11-25
//! "Authorization Server Abuse Protection" section: the authorization server must not be
//! usable to reach private, loopback, link-local (cloud metadata), CGNAT or otherwise
//! special-use addresses. The ranges are the IANA IPv4 and IPv6 Special-Purpose Address
//! Registries (RFC 6890); IPv6 forms that embed an IPv4 address are judged by that address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` must not be fetched from, or `None` if it is a globally routable unicast address.
///
/// REG-35 (draft-ietf-oauth-client-id-metadata-document-00 §6.5): block private, loopback,
/// link-local, CGNAT and metadata ranges, IPv4 and IPv6, including IPv4-mapped IPv6.
/// IPv6 addresses that carry an IPv4 address (IPv4-mapped `::ffff:0:0/96`, NAT64
/// `64:ff9b::/96`, 6to4 `2002::/16`) are judged by the IPv4 rules; the deprecated
/// IPv4-compatible form `::/96` is refused outright, and any IPv6 address outside global
/// unicast `2000::/3` is refused.
pub fn special_use_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let by_std = if ip.is_loopback() {
        Some("loopback 127.0.0.0/8 (RFC 1122)")
    } else if ip.is_private() {
        Some("private-use 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918)")
    } else if ip.is_link_local() {
        Some("link-local 169.254.0.0/16, incl. cloud metadata 169.254.169.254 (RFC 3927)")
    } else if ip.is_broadcast() {
        Some("limited broadcast 255.255.255.255 (RFC 919)")
    } else if ip.is_multicast() {
        Some("multicast 224.0.0.0/4 (RFC 5771)")
    } else if ip.is_documentation() {
        Some("documentation 192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24 (RFC 5737)")
    } else {
        None
    };
    by_std.or_else(|| {
        V4_RANGES
            .iter()
            .find(|(net, len, _)| v4_in(ip, *net, *len))
            .map(|(_, _, reason)| *reason)
    })
}

/// IPv4 ranges `std` has no stable predicate for.
const V4_RANGES: [(Ipv4Addr, u32, &str); 6] = [
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "\"this network\" 0.0.0.0/8 (RFC 791)",
    ),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space (CGNAT) 100.64.0.0/10 (RFC 6598)",
    ),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments 192.0.0.0/24 (RFC 6890)",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "deprecated 6to4 relay anycast 192.88.99.0/24 (RFC 7526)",
    ),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        "benchmarking 198.18.0.0/15 (RFC 2544)",
    ),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        "reserved 240.0.0.0/4 (RFC 1112)",
    ),
];

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified :: (RFC 4291)");
    }
    if ip.is_loopback() {
        return Some("loopback ::1 (RFC 4291)");
    }
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4);
    }
    let by_std = if ip.is_multicast() {
        Some("multicast ff00::/8 (RFC 4291)")
    } else if ip.is_unique_local() {
        Some("unique local fc00::/7 (RFC 4193)")
    } else if ip.is_unicast_link_local() {
        Some("link-local fe80::/10 (RFC 4291)")
    } else {
        None
    };
    by_std
        .or_else(|| {
            V6_RANGES
                .iter()
                .find(|(net, len, _)| v6_in(ip, *net, *len))
                .map(|(_, _, reason)| *reason)
        })
        .or_else(|| {
            let global_unicast = Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0);
            (!v6_in(ip, global_unicast, 3)).then_some("outside global unicast 2000::/3 (RFC 4291)")
        })
}

/// The IPv4 address an IPv6 address stands for, when the IPv6 form is a way to reach it:
/// IPv4-mapped (RFC 4291 §2.5.5.2), NAT64 well-known prefix (RFC 6052), 6to4 (RFC 3056).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let o = ip.octets();
    let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);
    if v6_in(ip, nat64, 96) {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    let six_to_four = Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0);
    if v6_in(ip, six_to_four, 16) {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// IPv6 ranges `std` has no stable predicate for, most specific first.
const V6_RANGES: [(Ipv6Addr, u32, &str); 10] = [
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        96,
        "deprecated IPv4-compatible IPv6 ::/96 (RFC 4291 §2.5.5.1)",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use IPv4/IPv6 translation 64:ff9b:1::/48 (RFC 8215)",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only 100::/64 (RFC 6666)",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "deprecated site-local fec0::/10 (RFC 3879)",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation 2001:db8::/32 (RFC 3849)",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        32,
        "Teredo 2001::/32 (RFC 4380)",
    ),
    (
        Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0),
        48,
        "benchmarking 2001:2::/48 (RFC 5180)",
    ),
    (
        Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0),
        28,
        "deprecated ORCHID 2001:10::/28 (RFC 4843)",
    ),
    (
        Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0),
        28,
        "ORCHIDv2 2001:20::/28 (RFC 7343)",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments 2001::/23 (RFC 2928)",
    ),
];

fn v4_in(ip: Ipv4Addr, net: Ipv4Addr, prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn v6_in(ip: Ipv6Addr, net: Ipv6Addr, prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Address, and a word the refusal reason must contain (`None`: must be allowed).
    const CASES: &[(&str, Option<&str>)] = &[
        // IPv4 special-use ranges, first and last address where it matters.
        ("0.0.0.0", Some("this network")),
        ("0.255.255.255", Some("this network")),
        ("10.0.0.1", Some("private")),
        ("10.255.255.255", Some("private")),
        ("127.0.0.1", Some("loopback")),
        ("127.255.255.254", Some("loopback")),
        ("169.254.169.254", Some("metadata")),
        ("169.254.0.1", Some("link-local")),
        ("172.16.0.1", Some("private")),
        ("172.31.255.255", Some("private")),
        ("192.168.1.1", Some("private")),
        ("100.64.0.1", Some("CGNAT")),
        ("100.127.255.255", Some("CGNAT")),
        ("192.0.0.8", Some("IETF")),
        ("192.0.2.1", Some("documentation")),
        ("192.88.99.1", Some("6to4")),
        ("198.18.0.1", Some("benchmarking")),
        ("198.19.255.255", Some("benchmarking")),
        ("198.51.100.7", Some("documentation")),
        ("203.0.113.9", Some("documentation")),
        ("224.0.0.1", Some("multicast")),
        ("239.255.255.250", Some("multicast")),
        ("240.0.0.1", Some("reserved")),
        ("255.255.255.254", Some("reserved")),
        ("255.255.255.255", Some("broadcast")),
        // IPv4 neighbours of the ranges, and public addresses.
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("9.255.255.255", None),
        ("11.0.0.0", None),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("172.15.255.255", None),
        ("172.32.0.0", None),
        ("169.253.255.255", None),
        ("198.17.255.255", None),
        ("198.20.0.0", None),
        ("223.255.255.255", None),
        // IPv6 special-use ranges.
        ("::", Some("unspecified")),
        ("::1", Some("loopback")),
        ("fc00::1", Some("unique local")),
        ("fdff:ffff::1", Some("unique local")),
        ("fe80::1", Some("link-local")),
        ("febf::1", Some("link-local")),
        ("fec0::1", Some("site-local")),
        ("ff02::1", Some("multicast")),
        ("2001:db8::1", Some("documentation")),
        ("100::1", Some("discard")),
        ("2001::1", Some("Teredo")),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Some("Teredo")),
        ("2001:10::1", Some("ORCHID")),
        ("2001:20::1", Some("ORCHIDv2")),
        ("2001:2::1", Some("benchmarking")),
        ("2001:1ff::1", Some("IETF")),
        ("64:ff9b:1::1", Some("translation")),
        ("4000::1", Some("global unicast")),
        // IPv6 forms embedding IPv4: judged by the IPv4 address.
        ("::ffff:127.0.0.1", Some("loopback")),
        ("::ffff:169.254.169.254", Some("metadata")),
        ("::ffff:10.1.2.3", Some("private")),
        ("64:ff9b::a00:1", Some("private")),
        ("64:ff9b::7f00:1", Some("loopback")),
        ("2002:c0a8:0101::1", Some("private")),
        ("2002:a9fe:a9fe::1", Some("metadata")),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
        // IPv4-compatible (deprecated): refused whatever it embeds.
        ("::127.0.0.1", Some("IPv4-compatible")),
        ("::8.8.8.8", Some("IPv4-compatible")),
        // Public IPv6.
        ("2606:4700:4700::1111", None),
        ("2001:4860:4860::8888", None),
        ("2a00:1450:4001:80b::200e", None),
        ("2001:200::1", None),
    ];

    #[test]
    fn special_use_reason_classifies_every_range() {
        let mut failures = Vec::new();
        for &(text, expected) in CASES {
            let ip: IpAddr = text.parse().expect("test address parses");
            let got = special_use_reason(ip);
            let ok = match (expected, got) {
                (None, None) => true,
                (Some(word), Some(reason)) => reason.contains(word),
                _ => false,
            };
            if !ok {
                failures.push(format!("{text}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn prefix_zero_and_full_length_masks_are_well_defined() {
        let any = Ipv4Addr::new(0, 0, 0, 0);
        assert!(v4_in(Ipv4Addr::new(8, 8, 8, 8), any, 0));
        assert!(v4_in(
            Ipv4Addr::new(8, 8, 8, 8),
            Ipv4Addr::new(8, 8, 8, 8),
            32
        ));
        assert!(!v4_in(
            Ipv4Addr::new(8, 8, 8, 9),
            Ipv4Addr::new(8, 8, 8, 8),
            32
        ));
        assert!(v6_in(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 0));
        assert!(!v6_in(Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED, 128));
    }
}

//! URIs as the API document means them (`format: uri`): the RFC 3986
//! `URI` grammar, checked exactly, so a value the document calls a URI is
//! taken and anything else is refused (rather than handed to a job that
//! fails later).

/// Whether `s` is an absolute URI (RFC 3986 section 3: scheme, hierarchical
/// part, optional query and fragment), ASCII only, percent-escapes well formed.
pub fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let mut chars = scheme.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return false;
    }
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (hier, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !escaped_run(fragment, "/?:@") || !escaped_run(query, "/?:@") {
        return false;
    }
    match hier.strip_prefix("//") {
        Some(after) => {
            let (authority, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            is_authority(authority) && escaped_run(path, "/:@")
        }
        // path-absolute, path-rootless or path-empty: `//` was taken above.
        None => escaped_run(hier, "/:@"),
    }
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~".contains(&c)
}

fn is_sub_delim(c: u8) -> bool {
    b"!$&'()*+,;=".contains(&c)
}

/// Unreserved characters, sub-delims, `extra` and `%XX` escapes only.
fn escaped_run(s: &str, extra: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if !(i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(is_unreserved(c) || is_sub_delim(c) || extra.as_bytes().contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

/// `[ userinfo "@" ] host [ ":" port ]`.
fn is_authority(authority: &str) -> bool {
    let (userinfo, hostport) = match authority.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| !escaped_run(u, ":")) {
        return false;
    }
    let (host, port) = if let Some(literal) = hostport.strip_prefix('[') {
        let Some((inside, after)) = literal.split_once(']') else { return false };
        if !is_ip_literal(inside) {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
        }
    } else {
        hostport.split_once(':').unwrap_or((hostport, ""))
    };
    // A reg-name (IPv4 addresses are spelled like one) and a port of digits.
    escaped_run(host, "") && port.bytes().all(|c| c.is_ascii_digit())
}

/// `IPv6address` or `IPvFuture` between the brackets.
fn is_ip_literal(s: &str) -> bool {
    if let Some(future) = s.strip_prefix(['v', 'V']) {
        let Some((version, rest)) = future.split_once('.') else { return false };
        return !version.is_empty()
            && version.bytes().all(|c| c.is_ascii_hexdigit())
            && !rest.is_empty()
            && rest.bytes().all(|c| is_unreserved(c) || is_sub_delim(c) || c == b':');
    }
    s.parse::<std::net::Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::is_uri;

    #[test]
    fn uris_are_told_from_everything_else_as_rfc_3986_does() {
        for ok in [
            "https://iiif.example.org/manifests/1",
            "http://a:8080/p?q=1&r=a?b#frag/x",
            "http://user:pw@host/",
            "http://[::1]/x",
            "http://[v1.x]/",
            "http://",
            "http://a/%41",
            "urn:isbn:0451450523",
            "a:b",
        ] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in [
            "",
            "x",
            "//a",
            "1http://a",
            "http://a b",
            "http://%zz",
            "http://a/%4",
            "http://a/é",
            "http://a/{}",
            "http://a#b#c",
            "http://a@b@c",
            "http://a:b:c",
            "http://a:8x",
            "http://[1.2.3]",
            "http://[::1",
            "http://a/\\",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
    }
}

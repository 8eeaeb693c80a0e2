//! URIs as the API document means them (`format: uri`): the RFC 3986
//! `URI` grammar, checked exactly by `iri-string`, so a value the document
//! calls a URI is taken and anything else is refused (rather than handed to
//! a job that fails later).

/// Whether `s` is an absolute URI (RFC 3986 section 3: scheme, hierarchical
/// part, optional query and fragment), ASCII only, percent-escapes well formed.
pub fn is_uri(s: &str) -> bool {
    iri_string::types::UriStr::new(s).is_ok()
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

//! Where callers put their key: the `Authorization` header (`Bearer <key>`,
//! `Basic <base64 user:key>` for Elasticsearch clients, `Splunk <key>` for
//! HEC; the scheme is case-insensitive) and, for browsers whose
//! `EventSource` cannot set headers, the `loglens_key` cookie.

use base64::Engine as _;

/// The cookie the web UI keeps the key in.
pub const COOKIE_NAME: &str = "loglens_key";

/// The key in an `Authorization` header value; `None` when the value is not
/// one of the accepted schemes or is malformed. Never panics.
pub fn parse_authorization(value: &str) -> Option<String> {
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t'])?;
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("splunk") {
        return (!rest.contains(char::is_whitespace)).then(|| rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        // The user name is ignored: the password is the key.
        let (_, password) = text.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_owned());
    }
    None
}

/// The key in a `Cookie` header value, if it sets [`COOKIE_NAME`].
pub fn credential_from_cookie(value: &str) -> Option<String> {
    value.split(';').find_map(|pair| {
        let (name, v) = pair.trim().split_once('=')?;
        (name.trim() == COOKIE_NAME && !v.trim().is_empty()).then(|| v.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_accepted_schemes() {
        assert_eq!(parse_authorization("Bearer llk_a_b").as_deref(), Some("llk_a_b"));
        assert_eq!(parse_authorization("bearer   llk_a_b ").as_deref(), Some("llk_a_b"));
        assert_eq!(parse_authorization("SPLUNK llk_a_b").as_deref(), Some("llk_a_b"));
        // base64("elastic:llk_a_b")
        assert_eq!(parse_authorization("Basic ZWxhc3RpYzpsbGtfYV9i").as_deref(), Some("llk_a_b"));
        assert_eq!(parse_authorization("Bearer"), None);
        assert_eq!(parse_authorization("Bearer "), None);
        assert_eq!(parse_authorization("Token llk_a_b"), None);
        assert_eq!(parse_authorization("Basic !!!"), None);
        assert_eq!(parse_authorization("Bearer a b"), None);
        // base64("nopassword")
        assert_eq!(parse_authorization("Basic bm9wYXNzd29yZA=="), None);
    }

    #[test]
    fn the_cookie() {
        assert_eq!(
            credential_from_cookie("a=1; loglens_key=llk_a_b; c=2").as_deref(),
            Some("llk_a_b")
        );
        assert_eq!(credential_from_cookie("loglens_key="), None);
        assert_eq!(credential_from_cookie("other=x"), None);
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(s in any::<String>()) {
            let _ = parse_authorization(&s);
            let _ = credential_from_cookie(&s);
        }

        #[test]
        fn bearer_tokens_round_trip(scheme in "[Bb][Ee][Aa][Rr][Ee][Rr]|[Ss][Pp][Ll][Uu][Nn][Kk]", key in "[A-Za-z0-9_\\-.~+/=]{1,80}") {
            prop_assert_eq!(parse_authorization(&format!("{scheme} {key}")), Some(key));
        }

        #[test]
        fn basic_passwords_round_trip(user in "[^:]{0,20}", key in "[ -~]{1,80}") {
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"));
            prop_assert_eq!(parse_authorization(&format!("Basic {b}")), Some(key));
        }

        #[test]
        fn arbitrary_bytes_after_a_scheme_never_panic(scheme in "[Bb]asic|[Bb]earer|[Ss]plunk", rest in any::<Vec<u8>>()) {
            let s = format!("{scheme} {}", String::from_utf8_lossy(&rest));
            let _ = parse_authorization(&s);
        }
    }
}

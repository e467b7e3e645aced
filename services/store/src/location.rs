//! Which backend a store URL names, and where: the parsing behind
//! [`open`](crate::open), pure so every accepted form is pinned by a test.

use std::path::PathBuf;

use url::{ParseError, Url};

use crate::{Error, Result};

/// A store URL, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// `http(s)://[user:password@]host[:port]`: an Elasticsearch cluster; the
    /// URL as given (the backend reads its credentials).
    Elastic(String),
    /// `tantivy:///abs/dir` or `tantivy://rel/dir`: a Tantivy store
    /// directory.
    Tantivy(PathBuf),
    /// `hybrid:///abs/dir` or `hybrid://rel/dir`: a hybrid store directory
    /// (columnar blocks beside message postings).
    Hybrid(PathBuf),
    /// A plain path: the embedded store's directory, a hybrid store unless
    /// it already holds a Tantivy store's index ([`Location::embedded`]).
    Plain(PathBuf),
}

impl Location {
    /// Reads a store URL. A string with no scheme, or one that is not
    /// `http`, `https`, `tantivy` or `hybrid` (a Windows drive, a
    /// `name:with:colons`),
    /// is a plain directory path, taken as it is.
    pub fn parse(text: &str) -> Result<Location> {
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(ParseError::RelativeUrlWithoutBase) => return Ok(Location::plain(text)),
            Err(e) => return Err(Error::Config(format!("store {text}: not a URL: {e}"))),
        };
        match url.scheme() {
            "http" | "https" => Ok(Location::Elastic(text.to_owned())),
            "tantivy" => dir_of(text, &url).map(Location::Tantivy),
            "hybrid" => dir_of(text, &url).map(Location::Hybrid),
            _ => Ok(Location::plain(text)),
        }
    }

    fn plain(path: &str) -> Location {
        Location::Plain(PathBuf::from(path))
    }

    /// What a plain path opens: the Tantivy store where one was made before
    /// the hybrid became the default (the directory holds its `index/`),
    /// else a hybrid store.
    pub fn embedded(dir: PathBuf) -> Location {
        if dir.join("index").is_dir() { Location::Tantivy(dir) } else { Location::Hybrid(dir) }
    }
}

/// The directory of a `tantivy:` or `hybrid:` URL: its path,
/// percent-decoded. A host is the first component of a relative path
/// (`tantivy://data/logs` is `data/logs`), as `tantivy://` has always been
/// read as a prefix.
fn dir_of(text: &str, url: &Url) -> Result<PathBuf> {
    let extra = [
        (url.port().is_some(), "a port"),
        (!url.username().is_empty() || url.password().is_some(), "credentials"),
        (url.query().is_some(), "a query"),
        (url.fragment().is_some(), "a fragment"),
    ];
    if let Some((_, what)) = extra.iter().find(|(present, _)| *present) {
        let scheme = url.scheme();
        return Err(Error::Config(format!(
            "store {text}: a {scheme} URL is {scheme}:///path/to/dir, without {what}"
        )));
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let path = decode(url.path());
    Ok(match url.host_str() {
        Some(host) if !host.is_empty() => PathBuf::from(decode(host) + &path),
        _ => PathBuf::from(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tantivy(path: &str) -> Location {
        Location::Tantivy(PathBuf::from(path))
    }

    #[test]
    fn http_and_https_name_a_cluster_as_given() {
        for url in [
            "http://127.0.0.1:9200",
            "https://es.internal:9243/",
            "http://elastic:s%3Acret@localhost:9200",
            "HTTPS://ES:9200",
        ] {
            assert_eq!(Location::parse(url).unwrap(), Location::Elastic(url.into()), "{url}");
        }
    }

    #[test]
    fn tantivy_urls_and_plain_paths_name_a_directory() {
        for (url, want) in [
            ("tantivy:///var/lib/loglens", "/var/lib/loglens"),
            ("tantivy:///tmp/with space", "/tmp/with space"),
            ("tantivy:///tmp/with%20space", "/tmp/with space"),
            ("tantivy://data/logs", "data/logs"),
            ("tantivy://Data", "Data"),
        ] {
            assert_eq!(Location::parse(url).unwrap(), tantivy(want), "{url}");
        }
        for path in ["/var/lib/loglens", "./data", "data dir/logs", "C:\\loglens", "logs:2024"] {
            assert_eq!(Location::parse(path).unwrap(), Location::Plain(path.into()), "{path}");
        }
    }

    #[test]
    fn a_plain_path_is_a_hybrid_store_unless_it_holds_a_tantivy_index() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        assert_eq!(Location::embedded(fresh.clone()), Location::Hybrid(fresh));
        assert_eq!(Location::embedded(dir.path().into()), Location::Hybrid(dir.path().into()));
        std::fs::create_dir(dir.path().join("index")).unwrap();
        assert_eq!(Location::embedded(dir.path().into()), Location::Tantivy(dir.path().into()));
    }

    #[test]
    fn hybrid_urls_name_a_directory() {
        for (url, want) in [
            ("hybrid:///var/lib/loglens", "/var/lib/loglens"),
            ("hybrid:///tmp/with%20space", "/tmp/with space"),
            ("hybrid://data/logs", "data/logs"),
            ("HYBRID:///x", "/x"),
        ] {
            assert_eq!(Location::parse(url).unwrap(), Location::Hybrid(want.into()), "{url}");
        }
        let e = Location::parse("hybrid://data:9/x").unwrap_err();
        assert!(
            matches!(e, Error::Config(ref m) if m.ends_with("a hybrid URL is hybrid:///path/to/dir, without a port")),
            "{e}"
        );
    }

    #[test]
    fn a_broken_url_is_a_config_error_saying_why() {
        let e = Location::parse("http://").unwrap_err();
        assert!(matches!(e, Error::Config(ref m) if m == "store http://: not a URL: empty host"));
        let e = Location::parse("http://[::1").unwrap_err();
        assert!(matches!(e, Error::Config(ref m) if m.starts_with("store http://[::1: not a URL")));
        for (url, what) in [
            ("tantivy://data:9/x", "a port"),
            ("tantivy://me@data/x", "credentials"),
            ("tantivy:///x?y", "a query"),
            ("tantivy:///x#y", "a fragment"),
        ] {
            let e = Location::parse(url).unwrap_err();
            assert!(
                matches!(e, Error::Config(ref m) if m.ends_with(&format!("without {what}"))),
                "{e}"
            );
        }
    }
}

//! API keys with scopes, checked at every loglens entry point.
//!
//! - [`keyfile`]: the key file (`--auth-file`, TOML or YAML) holding only
//!   SHA-256 hashes of the secrets, each with a name, a tenant and scopes;
//!   minting new keys ([`keyfile::NewKey`]).
//! - [`header`]: the `Authorization` header parser (`Bearer`, `Basic`,
//!   `Splunk`) and the `loglens_key` cookie.
//! - [`route`]: what each gRPC method and REST route needs.
//! - [`Authenticator`]: the current keys, reloaded when the file changes or
//!   on SIGHUP, and [`Authenticator::check`], which turns a presented
//!   credential into a [`Principal`] or a [`Denied`], rate-limiting failed
//!   attempts per client address. It also holds the file's limits per
//!   tenant ([`Authenticator::tenant_limits`],
//!   [`Authenticator::retention_overrides`]) and tells subscribers about
//!   every successful reload ([`Authenticator::subscribe`]).
//! - [`tenants`]: [`IngestLimiter`], the per-tenant ingest rate limit.
//!
//! Secrets look like `llk_<id>_<64 hex digits>`: the public `id` selects
//! the key file entry, then the SHA-256 of the whole secret is compared with
//! the stored hash in constant time. The secret part is 32 bytes from the
//! operating system's random generator, so a fast unsalted hash is sound
//! here: nobody can brute-force 256 random bits, and a slow password hash
//! (argon2, bcrypt) would only make every request slower.

pub mod header;
pub mod keyfile;
mod limiter;
pub mod route;
pub mod tenants;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

pub use header::{COOKIE_NAME, credential_from_cookie, parse_authorization};
pub use keyfile::{KeyEntry, KeyFile, NewKey, TenantLimits};
pub use limiter::FailureLimiter;
pub use route::{grpc_need, is_elasticsearch_path, rest_need};
pub use tenants::{INGEST_LIMITED, IngestLimiter};

/// Counter: refused authentication attempts, by `reason` (`missing`,
/// `invalid`, `forbidden`, `rate_limited`).
pub const AUTH_FAILURES: &str = "loglens_auth_failures_total";

/// Describes this crate's metrics; the binary calls it once.
pub fn describe() {
    metrics::describe_counter!(
        AUTH_FAILURES,
        "Refused authentication attempts at any entry point, by reason"
    );
    metrics::describe_counter!(
        INGEST_LIMITED,
        "Ingest requests refused because the tenant's ingest_rate (key file) was used up, by tenant"
    );
}

/// Why this crate failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The key file is not a valid key file.
    #[error("{path}: {message}")]
    Parse {
        /// The key file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// A command-line request cannot be done (unknown key, bad name, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a key may do. `admin` implies the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send records: `POST /logs`, the drop-in routes, `IngestService`,
    /// OTLP `LogsService`.
    Ingest,
    /// Read records and statistics: searches, anomalies, tail, stats.
    Query,
    /// Operate loglens: the ledger and `/metrics`; implies the others.
    Admin,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Query, Scope::Admin];

    /// The scope's name in the key file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Query => "query",
            Scope::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ingest" => Ok(Scope::Ingest),
            "query" => Ok(Scope::Query),
            "admin" => Ok(Scope::Admin),
            other => Err(format!("scope must be one of ingest, query, admin, got {other:?}")),
        }
    }
}

/// Who made a request: the key's name, its tenant and its scopes. Handlers
/// find it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's name.
    pub name: String,
    /// The tenant the key belongs to.
    pub tenant: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Whether the key may do what `needed` allows (`admin` implies all).
    pub fn has(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|s| *s == needed || *s == Scope::Admin)
    }
}

/// Why a request was refused. The messages never say which part of a
/// credential was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No credential was sent (401 / UNAUTHENTICATED).
    Missing,
    /// The credential is unknown, malformed or revoked (401 / UNAUTHENTICATED).
    Invalid,
    /// The key is valid but lacks the scope (403 / PERMISSION_DENIED).
    Forbidden {
        /// The scope the entry point needs.
        needed: Scope,
    },
    /// Too many failed attempts from this address (429 / RESOURCE_EXHAUSTED).
    RateLimited {
        /// When the address may try again.
        retry_after: Duration,
    },
}

impl Denied {
    /// The `reason` label of [`AUTH_FAILURES`].
    pub fn label(&self) -> &'static str {
        match self {
            Denied::Missing => "missing",
            Denied::Invalid => "invalid",
            Denied::Forbidden { .. } => "forbidden",
            Denied::RateLimited { .. } => "rate_limited",
        }
    }

    /// Seconds to wait, for `Retry-After` (at least 1).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Denied::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            Denied::Missing | Denied::Invalid | Denied::Forbidden { .. } => None,
        }
    }
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::Missing => f.write_str(
                "an API key is required: send Authorization: Bearer <key> \
                 (gRPC: authorization metadata)",
            ),
            Denied::Invalid => f.write_str("the API key is not valid"),
            Denied::Forbidden { needed } => {
                write!(f, "the API key lacks the {needed} scope this endpoint needs")
            }
            Denied::RateLimited { retry_after } => write!(
                f,
                "too many failed authentication attempts from this address; retry in {} s",
                retry_after.as_secs().max(1)
            ),
        }
    }
}

/// What an entry point needs of a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: open to anyone (`/health`, `grpc.health.v1`, static UI files).
    Open,
    /// Any valid key, whatever its scopes (server reflection).
    AnyKey,
    /// A valid key with this scope.
    Scope(Scope),
}

/// One key as held in memory: the entry and its decoded hash.
#[derive(Debug, Clone)]
struct Loaded {
    principal: Principal,
    hash: [u8; 32],
    revoked: bool,
}

/// One version of the file: the keys by public id, and the tenants' limits.
#[derive(Debug, Default)]
struct Keys {
    by_id: HashMap<String, Loaded>,
    tenants: BTreeMap<String, TenantLimits>,
}

impl Keys {
    fn from_file(file: &KeyFile) -> Keys {
        let mut by_id = HashMap::new();
        for k in &file.keys {
            let Some(hash) = k.hash_bytes() else { continue };
            by_id.insert(
                k.id.clone(),
                Loaded {
                    principal: Principal {
                        name: k.name.clone(),
                        tenant: k.tenant.clone(),
                        scopes: k.scopes.clone(),
                    },
                    hash,
                    revoked: k.revoked,
                },
            );
        }
        Keys { by_id, tenants: file.tenants.clone() }
    }
}

/// Limits of [`Authenticator`]'s failed-attempt rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failed attempts an address may make per `window`; past that, every
    /// attempt from it is refused until the window ends.
    pub max_failures: u32,
    /// The window.
    pub window: Duration,
    /// Addresses tracked at once; bounds memory whatever attackers send.
    pub max_addresses: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_failures: 10, window: Duration::from_secs(10), max_addresses: 10_000 }
    }
}

/// The file's identity and version, to notice changes cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp { modified: m.modified().ok(), len: m.len(), inode })
}

/// Verifies credentials against the key file's current keys, and holds
/// the file's current limits per tenant.
#[derive(Debug)]
pub struct Authenticator {
    path: PathBuf,
    keys: ArcSwap<Keys>,
    stamp: Mutex<Option<Stamp>>,
    limiter: FailureLimiter,
    /// Generation of the file in force: 1 after the first load, bumped by
    /// every successful reload (see [`Authenticator::subscribe`]).
    generation: tokio::sync::watch::Sender<u64>,
}

impl Authenticator {
    /// Loads `path`; an unreadable or invalid file is an error here (at
    /// start), while later reloads keep the old keys instead.
    pub fn load(path: &Path, limits: Limits) -> Result<Arc<Authenticator>> {
        let before = stamp(path);
        let file = KeyFile::load(path)?;
        Ok(Arc::new(Authenticator {
            path: path.to_owned(),
            keys: ArcSwap::from_pointee(Keys::from_file(&file)),
            stamp: Mutex::new(before),
            limiter: FailureLimiter::new(limits),
            generation: tokio::sync::watch::Sender::new(1),
        }))
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keys in the file that are not revoked.
    pub fn active_keys(&self) -> usize {
        self.keys.load().by_id.values().filter(|k| !k.revoked).count()
    }

    /// The limits the file in force sets for `tenant`, if it names it.
    pub fn tenant_limits(&self, tenant: &str) -> Option<TenantLimits> {
        self.keys.load().tenants.get(tenant).copied()
    }

    /// `retention_days` of every tenant that sets it, by tenant: what the
    /// store keeps instead of the node's `--retention-days`.
    pub fn retention_overrides(&self) -> BTreeMap<String, u32> {
        let keys = self.keys.load();
        keys.tenants.iter().filter_map(|(t, l)| Some((t.clone(), l.retention_days?))).collect()
    }

    /// The generation of the file in force: 1 after the first load, plus
    /// one per successful reload (a reload that fails to parse does not
    /// count).
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Hears about reloads: the receiver's value is [`Self::generation`],
    /// and `changed().await` returns after every successful reload (with
    /// keys or limits possibly unchanged), or fails once the authenticator
    /// is dropped. The current generation counts as seen, so a node reads
    /// [`Self::retention_overrides`] once at start, then again after each
    /// `changed()`; reloads in between coalesce into one wake-up.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Re-reads the file if it changed since the last load; returns whether
    /// new keys are in force. A file that fails to parse keeps the old keys
    /// and logs an error.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.path);
        {
            let mut last = self.stamp.lock();
            if *last == now {
                return false;
            }
            *last = now;
        }
        self.reload()
    }

    /// Re-reads the file now (SIGHUP); see [`Authenticator::reload_if_changed`].
    pub fn reload(&self) -> bool {
        match KeyFile::load(&self.path) {
            Ok(file) => {
                let keys = Keys::from_file(&file);
                let active = keys.by_id.values().filter(|k| !k.revoked).count();
                let tenants = keys.tenants.len();
                self.keys.store(Arc::new(keys));
                self.generation.send_modify(|g| *g += 1);
                tracing::info!(
                    file = %self.path.display(),
                    keys = active,
                    tenants,
                    "auth keys reloaded"
                );
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "auth key file not reloaded; the previous keys stay in force");
                false
            }
        }
    }

    /// Polls the file every `every` and reloads on SIGHUP, for the rest of
    /// the process.
    pub fn spawn_watch(self: &Arc<Self>, every: Duration) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
                .ok();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                #[cfg(unix)]
                let hangup = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hangup = std::future::pending::<Option<()>>();
                let forced = tokio::select! {
                    _ = tick.tick() => false,
                    _ = hangup => true,
                };
                let Some(auth) = me.upgrade() else { return };
                if forced {
                    tracing::info!("SIGHUP: reloading the auth key file");
                    *auth.stamp.lock() = stamp(&auth.path);
                    auth.reload();
                } else {
                    auth.reload_if_changed();
                }
            }
        });
    }

    /// Checks `credential` (the key as sent, `None` when none was) from
    /// `peer` for `needed`. Refusals are counted in [`AUTH_FAILURES`];
    /// invalid keys count against `peer`'s failed attempts.
    pub fn check(
        &self,
        peer: Option<IpAddr>,
        credential: Option<&str>,
        needed: Need,
    ) -> Result<Option<Principal>, Denied> {
        let result = self.decide(peer, credential, needed);
        if let Err(d) = &result {
            metrics::counter!(AUTH_FAILURES, "reason" => d.label()).increment(1);
            if *d == Denied::Invalid {
                self.limiter.record_failure(peer);
            }
        }
        result
    }

    fn decide(
        &self,
        peer: Option<IpAddr>,
        credential: Option<&str>,
        needed: Need,
    ) -> Result<Option<Principal>, Denied> {
        if needed == Need::Open {
            return Ok(None);
        }
        if let Some(retry_after) = self.limiter.blocked(peer) {
            return Err(Denied::RateLimited { retry_after });
        }
        let Some(secret) = credential.map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(Denied::Missing);
        };
        let principal = self.verify(secret).ok_or(Denied::Invalid)?;
        match needed {
            Need::Scope(s) if !principal.has(s) => Err(Denied::Forbidden { needed: s }),
            Need::Open | Need::AnyKey | Need::Scope(_) => Ok(Some(principal)),
        }
    }

    /// The principal of a valid, unrevoked `secret`.
    fn verify(&self, secret: &str) -> Option<Principal> {
        let presented = keyfile::hash(secret);
        let keys = self.keys.load();
        let found = keyfile::id_of(secret).and_then(|id| keys.by_id.get(id));
        // Compare against something even for unknown ids, so both paths do
        // the same work.
        let expected = found.map_or([0u8; 32], |k| k.hash);
        let equal: bool = presented.ct_eq(&expected).into();
        match found {
            Some(k) if equal && !k.revoked => Some(k.principal.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(dir: &Path, keys: &[(&str, &[Scope])]) -> (PathBuf, Vec<String>) {
        let path = dir.join("keys.toml");
        let mut secrets = Vec::new();
        for (name, scopes) in keys {
            let new = NewKey::generate(name, "payments", scopes.to_vec()).unwrap();
            KeyFile::append(&path, new.entry).unwrap();
            secrets.push(new.secret);
        }
        (path, secrets)
    }

    #[test]
    fn a_created_key_verifies_with_its_name_tenant_and_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) = file_with(dir.path(), &[("ci", &[Scope::Ingest])]);
        let auth = Authenticator::load(&path, Limits::default()).unwrap();
        let p = auth.check(None, Some(&s[0]), Need::Scope(Scope::Ingest)).unwrap().unwrap();
        assert_eq!(
            p,
            Principal { name: "ci".into(), tenant: "payments".into(), scopes: vec![Scope::Ingest] }
        );
        // Nothing secret is stored: the file holds neither the secret nor its random part.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&s[0]) && !text.contains(s[0].rsplit('_').next().unwrap()));
        assert!(text.contains("sha256:"));
    }

    #[test]
    fn missing_unknown_malformed_and_tampered_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) = file_with(dir.path(), &[("ci", &[Scope::Ingest])]);
        let auth = Authenticator::load(&path, Limits::default()).unwrap();
        let need = Need::Scope(Scope::Ingest);
        assert_eq!(auth.check(None, None, need), Err(Denied::Missing));
        assert_eq!(auth.check(None, Some("  "), need), Err(Denied::Missing));
        assert_eq!(auth.check(None, Some("nonsense"), need), Err(Denied::Invalid));
        // Same id, last character changed; and first character of the secret part changed.
        let mut last = s[0].clone();
        let c = last.pop().unwrap();
        last.push(if c == '0' { '1' } else { '0' });
        assert_eq!(auth.check(None, Some(&last), need), Err(Denied::Invalid));
        let (head, tail) = s[0].rsplit_once('_').unwrap();
        let flipped =
            format!("{head}_{}{}", if tail.starts_with('0') { '1' } else { '0' }, &tail[1..]);
        assert_eq!(auth.check(None, Some(&flipped), need), Err(Denied::Invalid));
        // Every refusal's message is the same, whatever was wrong.
        assert_eq!(Denied::Invalid.to_string(), "the API key is not valid");
    }

    #[test]
    fn a_revoked_key_is_refused_as_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) =
            file_with(dir.path(), &[("ci", &[Scope::Ingest]), ("ops", &[Scope::Query])]);
        let revoked = KeyFile::revoke(&path, Some("ci"), None).unwrap();
        assert_eq!(revoked, 1);
        let auth = Authenticator::load(&path, Limits::default()).unwrap();
        assert_eq!(auth.check(None, Some(&s[0]), Need::AnyKey), Err(Denied::Invalid));
        assert!(auth.check(None, Some(&s[1]), Need::AnyKey).is_ok());
        assert_eq!(auth.active_keys(), 1);
    }

    #[test]
    fn the_wrong_scope_is_forbidden_and_admin_implies_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) =
            file_with(dir.path(), &[("ci", &[Scope::Ingest]), ("root", &[Scope::Admin])]);
        let auth = Authenticator::load(&path, Limits::default()).unwrap();
        assert_eq!(
            auth.check(None, Some(&s[0]), Need::Scope(Scope::Query)),
            Err(Denied::Forbidden { needed: Scope::Query })
        );
        assert_eq!(
            auth.check(None, Some(&s[0]), Need::Scope(Scope::Admin)),
            Err(Denied::Forbidden { needed: Scope::Admin })
        );
        for scope in Scope::ALL {
            assert!(auth.check(None, Some(&s[1]), Need::Scope(scope)).is_ok(), "{scope}");
        }
        assert!(auth.check(None, Some(&s[0]), Need::AnyKey).is_ok());
        assert_eq!(auth.check(None, None, Need::Open), Ok(None));
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_bad_file_keeps_the_old_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) = file_with(dir.path(), &[("ci", &[Scope::Ingest])]);
        let auth = Authenticator::load(&path, Limits::default()).unwrap();
        assert!(!auth.reload_if_changed());
        let new = NewKey::generate("later", "t", vec![Scope::Query]).unwrap();
        KeyFile::append(&path, new.entry).unwrap();
        assert!(auth.reload_if_changed());
        assert!(auth.check(None, Some(&new.secret), Need::Scope(Scope::Query)).is_ok());

        std::fs::write(&path, "[[keys]]\nname = ").unwrap();
        assert!(!auth.reload_if_changed());
        assert!(auth.check(None, Some(&s[0]), Need::Scope(Scope::Ingest)).is_ok());
        assert!(auth.check(None, Some(&new.secret), Need::Scope(Scope::Query)).is_ok());
    }

    #[test]
    fn a_reload_updates_the_tenant_limits_and_tells_subscribers() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) = file_with(dir.path(), &[("ci", &[Scope::Ingest])]);
        KeyFile::update_limits(&path, "payments", |l| l.retention_days = Some(7)).unwrap();
        let auth = Authenticator::load(&path, Limits::default()).unwrap();
        let mut rx = auth.subscribe();
        assert_eq!((auth.generation(), *rx.borrow()), (1, 1));
        assert_eq!(auth.retention_overrides(), BTreeMap::from([("payments".to_owned(), 7)]));
        assert_eq!(auth.tenant_limits("payments").unwrap().ingest_rate, None);
        assert_eq!(auth.tenant_limits("other"), None);
        assert!(!rx.has_changed().unwrap());

        KeyFile::update_limits(&path, "payments", |l| {
            l.retention_days = Some(30);
            l.ingest_rate = Some(500);
        })
        .unwrap();
        KeyFile::update_limits(&path, "audit", |l| l.retention_days = Some(400)).unwrap();
        assert!(auth.reload_if_changed());
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 2);
        assert_eq!(
            auth.retention_overrides(),
            BTreeMap::from([("audit".to_owned(), 400), ("payments".to_owned(), 30)])
        );
        assert_eq!(auth.tenant_limits("payments").unwrap().ingest_rate, Some(500));

        // A file that fails to parse keeps the limits and the generation.
        std::fs::write(&path, "[tenants.payments]\nretention_days = 0\n").unwrap();
        assert!(!auth.reload());
        assert!(!rx.has_changed().unwrap());
        assert_eq!(auth.generation(), 2);
        assert_eq!(auth.retention_overrides().len(), 2);
        assert!(auth.check(None, Some(&s[0]), Need::Scope(Scope::Ingest)).is_ok());

        // The subscription ends with the authenticator.
        drop(auth);
        assert!(rx.has_changed().is_err());
    }

    #[test]
    fn yaml_key_files_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let new = NewKey::generate("ci", "payments", vec![Scope::Ingest]).unwrap();
        let e = &new.entry;
        let path = dir.path().join("keys.yaml");
        std::fs::write(
            &path,
            format!(
                "keys:\n  - name: ci\n    tenant: payments\n    scopes: [ingest]\n    hash: \"{}\"\n    id: \"{}\"\n    created: \"{}\"\n",
                e.hash, e.id, e.created
            ),
        )
        .unwrap();
        let auth = Authenticator::load(&path, Limits::default()).unwrap();
        assert!(auth.check(None, Some(&new.secret), Need::Scope(Scope::Ingest)).is_ok());
    }

    #[test]
    fn repeated_failures_from_one_address_are_rate_limited_there_only() {
        let dir = tempfile::tempdir().unwrap();
        let (path, s) = file_with(dir.path(), &[("ci", &[Scope::Ingest])]);
        let limits = Limits { max_failures: 3, window: Duration::from_secs(60), max_addresses: 8 };
        let auth = Authenticator::load(&path, limits).unwrap();
        let attacker: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(
                auth.check(Some(attacker), Some("llk_x_y"), Need::AnyKey),
                Err(Denied::Invalid)
            );
        }
        let d = auth.check(Some(attacker), Some(&s[0]), Need::AnyKey).unwrap_err();
        assert!(matches!(d, Denied::RateLimited { .. }), "{d:?}");
        assert!(d.retry_after_secs().unwrap() >= 1);
        assert!(auth.check(Some(other), Some(&s[0]), Need::AnyKey).is_ok());
        // Open entry points stay open.
        assert_eq!(auth.check(Some(attacker), None, Need::Open), Ok(None));
    }
}

//! The key file: TOML (or YAML, by a `.yaml`/`.yml` extension) with one
//! `[[keys]]` table per key and only the SHA-256 of each secret.
//!
//! ```toml
//! [[keys]]
//! name = "ci"
//! tenant = "payments"
//! scopes = ["ingest"]
//! id = "3f9a1c07"
//! hash = "sha256:<64 hex digits>"
//! created = "2026-12-01T22:00:00Z"
//! revoked = false
//!
//! # Optional: limits per tenant (names as for keys' `tenant`).
//! [tenants.payments]
//! ingest_rate = 2000      # records per second, sustained
//! ingest_burst = 20000    # records; default max(ingest_rate, 10000)
//! retention_days = 7      # overrides the node's --retention-days
//! ```
//!
//! In YAML the same is `keys: [...]` and `tenants: {payments: {...}}`.
//! Tenant names are checked by [`loglens_core::tenant::validate`]; limits
//! must be at least 1 and unknown fields are refused, each error naming
//! the tenant and the field.
//!
//! Writes (create, revoke) go to a temporary file in the same directory,
//! then rename over the file, so a reloading server never reads half a file;
//! a new file is created readable by its owner only (0600).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result, Scope};

/// The prefix of every secret.
pub const SECRET_PREFIX: &str = "llk_";
const HASH_PREFIX: &str = "sha256:";

/// One key of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Who or what the key is for (unique in the file).
    pub name: String,
    /// The tenant the key belongs to.
    pub tenant: String,
    /// What the key may do.
    pub scopes: Vec<Scope>,
    /// The public id, the second part of the secret.
    pub id: String,
    /// `sha256:<hex>` of the whole secret.
    pub hash: String,
    /// When the key was made, RFC 3339.
    #[serde(default)]
    pub created: String,
    /// A revoked key is refused like an unknown one.
    #[serde(default)]
    pub revoked: bool,
}

impl KeyEntry {
    /// The stored hash as bytes; `None` when it is not `sha256:<64 hex>`.
    pub fn hash_bytes(&self) -> Option<[u8; 32]> {
        let hex = self.hash.strip_prefix(HASH_PREFIX)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex, &mut out).ok()?;
        Some(out)
    }
}

/// Default [`TenantLimits::ingest_burst`] floor: the burst is
/// `max(ingest_rate, DEFAULT_MIN_BURST)` when not given.
pub const DEFAULT_MIN_BURST: u64 = 10_000;

/// Limits of one tenant, from the key file's `[tenants.<name>]` table.
/// Every field is optional; an unset field means no limit (or, for
/// retention, the node's `--retention-days`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TenantLimits {
    /// Records per second the tenant may send, sustained (at least 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_rate: Option<u64>,
    /// Records the tenant may send at once above the rate (at least 1);
    /// only meaningful with `ingest_rate`. See [`TenantLimits::burst`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_burst: Option<u64>,
    /// Days the tenant's records are kept (at least 1), instead of the
    /// node's `--retention-days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

impl TenantLimits {
    /// The fields of a `[tenants.<name>]` table.
    pub const FIELDS: [&str; 3] = ["ingest_rate", "ingest_burst", "retention_days"];

    /// The bucket size in force: `ingest_burst`, else
    /// `max(ingest_rate, DEFAULT_MIN_BURST)`; `None` without a rate.
    pub fn burst(&self) -> Option<u64> {
        let rate = self.ingest_rate?;
        Some(self.ingest_burst.unwrap_or(rate.max(DEFAULT_MIN_BURST)))
    }

    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == TenantLimits::default()
    }

    /// Checks the values; the message names the field and what is accepted.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.ingest_rate == Some(0) {
            return Err("ingest_rate must be at least 1 (records per second), got 0".into());
        }
        if self.ingest_burst == Some(0) {
            return Err("ingest_burst must be at least 1 (records), got 0".into());
        }
        if self.ingest_burst.is_some() && self.ingest_rate.is_none() {
            return Err("ingest_burst needs ingest_rate; set both, or neither".into());
        }
        if self.retention_days == Some(0) {
            return Err("retention_days must be at least 1, got 0".into());
        }
        Ok(())
    }

    /// Builds limits from a table's raw fields, refusing unknown fields and
    /// values out of range (the `deny_unknown_fields` rule, with messages
    /// naming the field).
    fn from_fields(fields: BTreeMap<String, RawNumber>) -> std::result::Result<Self, String> {
        let mut out = TenantLimits::default();
        for (field, value) in fields {
            let whole = |max: u64| match value {
                RawNumber::Int(n) if n >= 1 && n.unsigned_abs() <= max => Ok(n.unsigned_abs()),
                RawNumber::Int(n) if n < 1 => Err(format!("{field} must be at least 1, got {n}")),
                RawNumber::Int(n) => Err(format!("{field} must be at most {max}, got {n}")),
                RawNumber::Float(x) => Err(format!("{field} must be a whole number, got {x}")),
                RawNumber::Text(t) => Err(format!("{field} must be a number, got {t:?}")),
                RawNumber::Other(_) => Err(format!("{field} must be a whole number")),
            };
            match field.as_str() {
                "ingest_rate" => out.ingest_rate = Some(whole(i64::MAX.unsigned_abs())?),
                "ingest_burst" => out.ingest_burst = Some(whole(i64::MAX.unsigned_abs())?),
                "retention_days" => {
                    let days = whole(u64::from(u32::MAX))?;
                    out.retention_days = Some(u32::try_from(days).unwrap_or(u32::MAX));
                }
                _ => {
                    return Err(format!(
                        "unknown field {field:?}; accepted: {}",
                        TenantLimits::FIELDS.join(", ")
                    ));
                }
            }
        }
        out.check()?;
        Ok(out)
    }
}

/// A tenant table's value as written, so a wrong value is reported with
/// its field's name rather than as a bare type error.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawNumber {
    Int(i64),
    Float(f64),
    Text(String),
    Other(serde::de::IgnoredAny),
}

/// Reads `tenants`, naming the tenant and the field in every error.
fn deserialize_tenants<'de, D>(
    d: D,
) -> std::result::Result<BTreeMap<String, TenantLimits>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    type Raw = BTreeMap<String, Option<BTreeMap<String, RawNumber>>>;
    let raw = Option::<Raw>::deserialize(d)?.unwrap_or_default();
    let mut out = BTreeMap::new();
    for (tenant, fields) in raw {
        let limits = TenantLimits::from_fields(fields.unwrap_or_default())
            .map_err(|m| serde::de::Error::custom(format!("tenant {tenant:?}: {m}")))?;
        out.insert(tenant, limits);
    }
    Ok(out)
}

/// The whole key file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// The keys, in the order they were made.
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
    /// Limits per tenant name; absent from files that set none.
    #[serde(
        default,
        deserialize_with = "deserialize_tenants",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub tenants: BTreeMap<String, TenantLimits>,
}

fn is_yaml(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

impl KeyFile {
    /// Parses `text`, YAML if `path` says so, TOML otherwise; checks every
    /// entry.
    pub fn parse(path: &Path, text: &str) -> Result<KeyFile> {
        let parse_err = |message: String| Error::Parse { path: path.to_owned(), message };
        let file: KeyFile = if is_yaml(path) {
            serde_yaml::from_str(text).map_err(|e| parse_err(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| parse_err(e.to_string()))?
        };
        for (i, k) in file.keys.iter().enumerate() {
            if let Err(e) = loglens_core::tenant::validate("tenant", &k.tenant) {
                return Err(parse_err(format!("key {i} ({:?}): {e}", k.name)));
            }
            if k.hash_bytes().is_none() {
                return Err(parse_err(format!(
                    "key {i} ({:?}): hash must be sha256:<64 hex digits>",
                    k.name
                )));
            }
            if k.id.is_empty() || k.id.contains('_') {
                return Err(parse_err(format!(
                    "key {i} ({:?}): id must be non-empty without '_'",
                    k.name
                )));
            }
        }
        for name in file.tenants.keys() {
            if let Err(e) = loglens_core::tenant::validate("tenant name", name) {
                return Err(parse_err(format!("tenants.{name:?}: {e}")));
            }
        }
        Ok(file)
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<KeyFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_owned(), source })?;
        KeyFile::parse(path, &text)
    }

    /// Reads `path`, or an empty file when it does not exist yet.
    pub fn load_or_empty(path: &Path) -> Result<KeyFile> {
        match std::fs::metadata(path) {
            Ok(_) => KeyFile::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeyFile::default()),
            Err(source) => Err(Error::Io { path: path.to_owned(), source }),
        }
    }

    /// Writes the file atomically (temporary file, then rename), 0600.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io { path: path.to_owned(), source };
        let text = if is_yaml(path) {
            serde_yaml::to_string(self)
                .map_err(|e| Error::Parse { path: path.to_owned(), message: e.to_string() })?
        } else {
            toml::to_string(self)
                .map_err(|e| Error::Parse { path: path.to_owned(), message: e.to_string() })?
        };
        let tmp = temp_path(path);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp).map_err(io)?;
        let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        Ok(())
    }

    /// Adds `entry` to the file at `path` (made if missing); names are unique.
    pub fn append(path: &Path, entry: KeyEntry) -> Result<()> {
        let mut file = KeyFile::load_or_empty(path)?;
        if file.keys.iter().any(|k| k.name == entry.name) {
            return Err(Error::Invalid(format!(
                "a key named {:?} already exists in {}; pick another --name",
                entry.name,
                path.display()
            )));
        }
        file.keys.push(entry);
        file.save(path)
    }

    /// Marks the keys named `name` or with id `id` revoked; returns how many
    /// were newly revoked. Errors when no key matches.
    pub fn revoke(path: &Path, name: Option<&str>, id: Option<&str>) -> Result<usize> {
        let mut file = KeyFile::load(path)?;
        let mut matched = 0;
        let mut changed = 0;
        for k in &mut file.keys {
            if name.is_some_and(|n| n == k.name) || id.is_some_and(|i| i == k.id) {
                matched += 1;
                if !k.revoked {
                    k.revoked = true;
                    changed += 1;
                }
            }
        }
        if matched == 0 {
            return Err(Error::Invalid(format!("no key matches in {}", path.display())));
        }
        if changed > 0 {
            file.save(path)?;
        }
        Ok(changed)
    }

    /// Changes the limits of `tenant` in the file at `path` (made if
    /// missing) with `change`, then checks and saves them; limits left
    /// empty remove the tenant's table. Returns the limits now in the file.
    pub fn update_limits(
        path: &Path,
        tenant: &str,
        change: impl FnOnce(&mut TenantLimits),
    ) -> Result<TenantLimits> {
        loglens_core::tenant::validate("--tenant", tenant)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let mut file = KeyFile::load_or_empty(path)?;
        let before = file.tenants.get(tenant).copied().unwrap_or_default();
        let mut limits = before;
        change(&mut limits);
        limits.check().map_err(|m| Error::Invalid(format!("tenant {tenant:?}: {m}")))?;
        if limits == before && path.exists() {
            return Ok(limits);
        }
        if limits.is_empty() {
            file.tenants.remove(tenant);
        } else {
            file.tenants.insert(tenant.to_owned(), limits);
        }
        file.save(path)?;
        Ok(limits)
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("keys");
    let salt = rand::rng().next_u32();
    path.with_file_name(format!(".{name}.{}.{salt:08x}.tmp", std::process::id()))
}

/// A freshly minted key: the secret (shown once) and its file entry.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// `llk_<id>_<64 hex digits>`; never stored.
    pub secret: String,
    /// What goes in the key file.
    pub entry: KeyEntry,
}

impl NewKey {
    /// Mints a key for `name` of `tenant` with `scopes`.
    pub fn generate(name: &str, tenant: &str, scopes: Vec<Scope>) -> Result<NewKey> {
        if name.trim().is_empty() {
            return Err(Error::Invalid("--name must not be empty".into()));
        }
        loglens_core::tenant::validate("tenant", tenant.trim())
            .map_err(|e| Error::Invalid(format!("key {:?}: {e}", name.trim())))?;
        if scopes.is_empty() {
            return Err(Error::Invalid("give at least one --scope: ingest, query or admin".into()));
        }
        let mut rng = rand::rng();
        let mut id = [0u8; 4];
        rng.fill_bytes(&mut id);
        let mut body = [0u8; 32];
        rng.fill_bytes(&mut body);
        let id = hex::encode(id);
        let secret = format!("{SECRET_PREFIX}{id}_{}", hex::encode(body));
        let mut scopes = scopes;
        scopes.sort();
        scopes.dedup();
        let entry = KeyEntry {
            name: name.trim().to_owned(),
            tenant: tenant.trim().to_owned(),
            scopes,
            hash: format!("{HASH_PREFIX}{}", hex::encode(hash(&secret))),
            id,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            revoked: false,
        };
        Ok(NewKey { secret, entry })
    }
}

/// SHA-256 of a presented secret.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The public id of a secret `llk_<id>_<rest>`.
pub fn id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix(SECRET_PREFIX)?;
    let (id, body) = rest.split_once('_')?;
    (!id.is_empty() && !body.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_carry_their_id() {
        let a = NewKey::generate("a", "t", vec![Scope::Admin]).unwrap();
        let b = NewKey::generate("b", "t", vec![Scope::Admin]).unwrap();
        assert_ne!(a.secret, b.secret);
        assert_eq!(id_of(&a.secret), Some(a.entry.id.as_str()));
        assert_eq!(a.secret.len(), 4 + 8 + 1 + 64);
        assert_eq!(a.entry.hash_bytes(), Some(hash(&a.secret)));
    }

    #[test]
    fn new_files_are_private_and_names_unique() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        KeyFile::append(&path, NewKey::generate("a", "t", vec![Scope::Query]).unwrap().entry)
            .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again =
            KeyFile::append(&path, NewKey::generate("a", "t", vec![Scope::Query]).unwrap().entry);
        assert!(matches!(again, Err(Error::Invalid(_))));
        assert!(matches!(KeyFile::revoke(&path, Some("zzz"), None), Err(Error::Invalid(_))));
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn entry_text(tenant: &str) -> String {
        let e = NewKey::generate("ci", "payments", vec![Scope::Ingest]).unwrap().entry;
        format!(
            "[[keys]]\nname = \"ci\"\ntenant = \"{tenant}\"\nscopes = [\"ingest\"]\n\
             id = \"{}\"\nhash = \"{}\"\n",
            e.id, e.hash
        )
    }

    fn parse_err(path: &str, text: &str) -> String {
        match KeyFile::parse(Path::new(path), text) {
            Err(Error::Parse { message, .. }) => message,
            other => panic!("expected a parse error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn toml_tenants_are_read_and_files_without_them_as_before() {
        let keys = entry_text("payments");
        let plain = KeyFile::parse(Path::new("k.toml"), &keys).unwrap();
        assert_eq!(plain.keys.len(), 1);
        assert!(plain.tenants.is_empty());

        let text = format!(
            "{keys}\n[tenants.payments]\ningest_rate = 2000\ningest_burst = 20000\n\
             retention_days = 7\n\n[tenants.audit]\nretention_days = 400\n\n[tenants.idle]\n"
        );
        let file = KeyFile::parse(Path::new("k.toml"), &text).unwrap();
        assert_eq!(file.keys, plain.keys);
        assert_eq!(
            file.tenants["payments"],
            TenantLimits {
                ingest_rate: Some(2000),
                ingest_burst: Some(20000),
                retention_days: Some(7)
            }
        );
        assert_eq!(
            file.tenants["audit"],
            TenantLimits { retention_days: Some(400), ..TenantLimits::default() }
        );
        assert_eq!(file.tenants["idle"], TenantLimits::default());
        assert_eq!(file.tenants["audit"].burst(), None);
    }

    #[test]
    fn yaml_tenants_are_read() {
        let e = NewKey::generate("ci", "payments", vec![Scope::Ingest]).unwrap().entry;
        let text = format!(
            "keys:\n  - name: ci\n    tenant: payments\n    scopes: [ingest]\n    id: \"{}\"\n    \
             hash: \"{}\"\ntenants:\n  payments: {{ingest_rate: 2000, retention_days: 7}}\n  \
             audit:\n    retention_days: 30\n",
            e.id, e.hash
        );
        let file = KeyFile::parse(Path::new("k.yaml"), &text).unwrap();
        assert_eq!(file.keys.len(), 1);
        let p = file.tenants["payments"];
        assert_eq!((p.ingest_rate, p.ingest_burst, p.retention_days), (Some(2000), None, Some(7)));
        assert_eq!(p.burst(), Some(10_000));
        assert_eq!(file.tenants["audit"].retention_days, Some(30));
        // An empty `tenants:` is no tenants.
        let empty = KeyFile::parse(Path::new("k.yml"), "keys: []\ntenants:\n").unwrap();
        assert!(empty.tenants.is_empty());
    }

    #[test]
    fn bad_tenant_limits_are_refused_naming_the_tenant_and_the_field() {
        let cases = [
            ("ingest_rate = 0", "ingest_rate"),
            ("ingest_rate = -5", "ingest_rate"),
            ("ingest_rate = 1.5", "ingest_rate"),
            ("ingest_rate = \"fast\"", "ingest_rate"),
            ("ingest_rate = 10\ningest_burst = 0", "ingest_burst"),
            ("ingest_burst = 100", "ingest_burst"),
            ("retention_days = 0", "retention_days"),
            ("retention_days = 5000000000", "retention_days"),
            ("ingest_rat = 10", "ingest_rat"),
        ];
        for (body, field) in cases {
            let m = parse_err("k.toml", &format!("[tenants.payments]\n{body}\n"));
            assert!(m.contains("tenant \"payments\"") && m.contains(field), "{body:?}: {m}");
        }
        let m = parse_err("k.yaml", "tenants:\n  payments:\n    retention_dayz: 3\n");
        assert!(m.contains("tenant \"payments\"") && m.contains("retention_dayz"), "{m}");
        let m = parse_err("k.yaml", "tenants:\n  payments:\n    ingest_rate: 0\n");
        assert!(m.contains("tenant \"payments\"") && m.contains("ingest_rate"), "{m}");
        // Tenant names follow the same rule as records' tenants.
        let m = parse_err("k.toml", "[tenants.\"pay ments\"]\ningest_rate = 10\n");
        assert!(m.contains("pay ments") && m.contains("tenant name"), "{m}");
        let m = parse_err("k.toml", &entry_text("a/b"));
        assert!(m.contains("key 0 (\"ci\")") && m.contains("tenant must be"), "{m}");
    }

    #[test]
    fn create_refuses_bad_tenant_names() {
        let Err(Error::Invalid(m)) = NewKey::generate("ci", "a b", vec![Scope::Ingest]) else {
            panic!("a bad tenant was accepted");
        };
        assert!(m.contains("key \"ci\"") && m.contains("tenant must be"), "{m}");
        assert!(NewKey::generate("ci", &"x".repeat(65), vec![Scope::Ingest]).is_err());
    }

    #[test]
    fn saving_keeps_the_tenants_in_toml_and_yaml() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["k.toml", "k.yaml"] {
            let path = dir.path().join(name);
            KeyFile::update_limits(&path, "payments", |l| {
                l.ingest_rate = Some(2000);
                l.retention_days = Some(7);
            })
            .unwrap();
            // create and revoke rewrite the file: the limits stay.
            KeyFile::append(
                &path,
                NewKey::generate("ci", "payments", vec![Scope::Ingest]).unwrap().entry,
            )
            .unwrap();
            KeyFile::revoke(&path, Some("ci"), None).unwrap();
            let file = KeyFile::load(&path).unwrap();
            assert!(file.keys[0].revoked, "{name}");
            assert_eq!(
                file.tenants["payments"],
                TenantLimits {
                    ingest_rate: Some(2000),
                    ingest_burst: None,
                    retention_days: Some(7)
                },
                "{name}"
            );
            let mut again = file.clone();
            again.save(&path).unwrap();
            again = KeyFile::load(&path).unwrap();
            assert_eq!(again, file, "{name}");
        }
    }

    #[test]
    fn limits_are_set_merged_checked_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        let set = KeyFile::update_limits(&path, "payments", |l| l.ingest_rate = Some(10)).unwrap();
        assert_eq!(set.ingest_rate, Some(10));
        let merged =
            KeyFile::update_limits(&path, "payments", |l| l.retention_days = Some(3)).unwrap();
        assert_eq!((merged.ingest_rate, merged.retention_days), (Some(10), Some(3)));
        assert_eq!(KeyFile::load(&path).unwrap().tenants["payments"], merged);

        let zero = KeyFile::update_limits(&path, "payments", |l| l.ingest_rate = Some(0));
        assert!(matches!(zero, Err(Error::Invalid(m)) if m.contains("ingest_rate")));
        let bad = KeyFile::update_limits(&path, "a b", |l| l.ingest_rate = Some(1));
        assert!(matches!(bad, Err(Error::Invalid(m)) if m.contains("--tenant")));
        assert_eq!(KeyFile::load(&path).unwrap().tenants["payments"], merged);

        let cleared = KeyFile::update_limits(&path, "payments", |l| *l = TenantLimits::default());
        assert!(cleared.unwrap().is_empty());
        assert!(KeyFile::load(&path).unwrap().tenants.is_empty());
    }
}

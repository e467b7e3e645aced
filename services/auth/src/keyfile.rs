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
//! ```
//!
//! Writes (create, revoke) go to a temporary file in the same directory,
//! then rename over the file, so a reloading server never reads half a file;
//! a new file is created readable by its owner only (0600).

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

/// The whole key file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// The keys, in the order they were made.
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
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
        if name.trim().is_empty() || tenant.trim().is_empty() {
            return Err(Error::Invalid("--name and --tenant must not be empty".into()));
        }
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
}

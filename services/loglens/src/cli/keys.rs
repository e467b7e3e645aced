//! `loglens keys`: API keys in the key file (`--auth-file`). `create`
//! prints a new secret once and stores only its hash; a running loglens
//! picks up every change within about a second (or at once on SIGHUP).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use loglens_auth::{KeyFile, NewKey, Scope};

/// Arguments of `loglens keys`.
#[derive(Args, Debug)]
pub struct KeysArgs {
    /// The key file (TOML, or YAML by a .yaml/.yml extension); created with
    /// mode 0600 by the first `create`.
    #[arg(long, env = "LOGLENS_AUTH_FILE", global = true)]
    auth_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    action: KeysAction,
}

/// The key operations.
#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Mint a key: prints the secret once (it is not stored anywhere) and
    /// appends its hash to the file.
    Create {
        /// A unique name for the key (who or what uses it).
        #[arg(long)]
        name: String,
        /// The tenant the key belongs to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// What the key may do: ingest, query or admin (admin implies the
        /// others). Repeatable, or comma-separated.
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<Scope>,
    },
    /// List the keys: name, id, tenant, scopes, created, revoked (never
    /// secrets or hashes).
    List,
    /// Revoke a key by --name or --id: it is refused from the next reload on.
    Revoke {
        /// The key's name.
        #[arg(long, required_unless_present = "id", conflicts_with = "id")]
        name: Option<String>,
        /// The key's public id (the part after `llk_`).
        #[arg(long)]
        id: Option<String>,
    },
}

impl KeysArgs {
    /// Runs the key operation.
    pub fn run(self) -> anyhow::Result<()> {
        let path =
            self.auth_file.context("give the key file with --auth-file (or LOGLENS_AUTH_FILE)")?;
        match self.action {
            KeysAction::Create { name, tenant, scopes } => {
                let new = NewKey::generate(&name, &tenant, scopes)?;
                let entry = new.entry.clone();
                KeyFile::append(&path, new.entry)?;
                eprintln!(
                    "created key {:?} (id {}, tenant {}, scopes {}) in {}; the secret is shown \
                     only now:",
                    entry.name,
                    entry.id,
                    entry.tenant,
                    scopes_text(&entry.scopes),
                    path.display()
                );
                println!("{}", new.secret);
            }
            KeysAction::List => {
                let file = KeyFile::load(&path)?;
                println!(
                    "{:<20} {:<10} {:<16} {:<20} {:<22} REVOKED",
                    "NAME", "ID", "TENANT", "SCOPES", "CREATED"
                );
                for k in &file.keys {
                    println!(
                        "{:<20} {:<10} {:<16} {:<20} {:<22} {}",
                        k.name,
                        k.id,
                        k.tenant,
                        scopes_text(&k.scopes),
                        k.created,
                        if k.revoked { "yes" } else { "no" }
                    );
                }
            }
            KeysAction::Revoke { name, id } => {
                let n = KeyFile::revoke(&path, name.as_deref(), id.as_deref())?;
                eprintln!("revoked {n} key(s) in {}", path.display());
            }
        }
        Ok(())
    }
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

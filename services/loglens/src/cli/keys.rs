//! `loglens keys`: API keys and per-tenant limits in the key file
//! (`--auth-file`). `create` prints a new secret once and stores only its
//! hash; `limits` sets a tenant's ingest rate and retention; a running
//! loglens picks up every change within about a second (or at once on
//! SIGHUP).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use loglens_auth::{KeyFile, NewKey, Scope, TenantLimits};

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
    /// secrets or hashes); then the tenants' limits.
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
    /// Set or clear a tenant's limits (the file's [tenants.<name>] table).
    /// Flags given replace those values and keep the others; a running
    /// loglens applies the change at its next reload, to the tenant's
    /// current rate budget.
    #[command(after_help = concat!(
        "Examples:\n",
        "  loglens keys limits --tenant payments --ingest-rate 2000 --retention-days 7\n",
        "  loglens keys limits --tenant payments --clear\n",
        "  loglens keys limits --tenant payments --clear --retention-days 30",
    ))]
    Limits {
        /// The tenant (1 to 64 ASCII letters, digits, '-', '_' or '.').
        #[arg(long)]
        tenant: String,
        /// Records per second the tenant may ingest, sustained (at least
        /// 1). Past it, ingest answers 429 / RESOURCE_EXHAUSTED with a
        /// retry delay. Unset: no limit.
        #[arg(long, value_parser = at_least_one)]
        ingest_rate: Option<u64>,
        /// Records the tenant may send at once above the rate (at least
        /// 1; needs a rate). Default: the rate or 10000, whichever is
        /// larger. One batch larger than this still passes when the
        /// budget is not in debt, and is paid for afterwards.
        #[arg(long, value_parser = at_least_one)]
        ingest_burst: Option<u64>,
        /// Days the tenant's records are kept, instead of the node's
        /// --retention-days (at least 1).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        retention_days: Option<u32>,
        /// Remove the tenant's limits first (all of them when no other flag
        /// is given).
        #[arg(long)]
        clear: bool,
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
                if !file.tenants.is_empty() {
                    println!();
                    println!(
                        "{:<20} {:<14} {:<18} RETENTION",
                        "TENANT", "INGEST_RATE", "INGEST_BURST"
                    );
                    for (tenant, limits) in &file.tenants {
                        println!(
                            "{:<20} {:<14} {:<18} {}",
                            tenant,
                            rate_text(limits),
                            burst_text(limits),
                            retention_text(limits)
                        );
                    }
                }
            }
            KeysAction::Revoke { name, id } => {
                let n = KeyFile::revoke(&path, name.as_deref(), id.as_deref())?;
                eprintln!("revoked {n} key(s) in {}", path.display());
            }
            KeysAction::Limits { tenant, ingest_rate, ingest_burst, retention_days, clear } => {
                if !clear
                    && ingest_rate.is_none()
                    && ingest_burst.is_none()
                    && retention_days.is_none()
                {
                    anyhow::bail!(
                        "give at least one of --ingest-rate, --ingest-burst, --retention-days, \
                         or --clear"
                    );
                }
                let limits = KeyFile::update_limits(&path, &tenant, |l| {
                    if clear {
                        *l = TenantLimits::default();
                    }
                    l.ingest_rate = ingest_rate.or(l.ingest_rate);
                    l.ingest_burst = ingest_burst.or(l.ingest_burst);
                    l.retention_days = retention_days.or(l.retention_days);
                })?;
                if limits.is_empty() {
                    eprintln!("tenant {tenant} has no limits in {}", path.display());
                } else {
                    eprintln!(
                        "tenant {tenant} in {}: ingest rate {}, burst {}, retention {}",
                        path.display(),
                        rate_text(&limits),
                        burst_text(&limits),
                        retention_text(&limits)
                    );
                }
            }
        }
        Ok(())
    }
}

fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

fn rate_text(l: &TenantLimits) -> String {
    l.ingest_rate.map_or_else(|| "unlimited".to_owned(), |r| format!("{r}/s"))
}

fn burst_text(l: &TenantLimits) -> String {
    match (l.ingest_burst, l.burst()) {
        (Some(b), _) => b.to_string(),
        (None, Some(b)) => format!("{b} (default)"),
        (None, None) => "-".to_owned(),
    }
}

fn retention_text(l: &TenantLimits) -> String {
    l.retention_days.map_or_else(|| "node default".to_owned(), |d| format!("{d} days"))
}

/// A count of at least 1 that the key file (TOML integers are i64) can hold.
fn at_least_one(text: &str) -> Result<u64, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(n.unsigned_abs()),
        _ => Err(format!("must be a whole number from 1 to {}, got {text:?}", i64::MAX)),
    }
}

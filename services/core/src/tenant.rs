//! Tenants: whose a record is. A record's tenant comes from the API key that
//! sent it (never from the record itself); with no key file every record
//! belongs to [`DEFAULT_TENANT`].

use xxhash_rust::xxh3::Xxh3;

use crate::error::{Error, Result};

/// The tenant of records sent with no key (key checks off, syslog).
pub const DEFAULT_TENANT: &str = "default";
/// Longest tenant name, in bytes.
pub const MAX_TENANT_BYTES: usize = 64;

/// Checks a tenant name: 1 to 64 bytes of ASCII letters, digits, `-`, `_`
/// and `.`. `field` names where the name came from, for the error.
pub fn validate(field: &str, tenant: &str) -> Result<()> {
    let ok = !tenant.is_empty()
        && tenant.len() <= MAX_TENANT_BYTES
        && tenant.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{field} must be 1 to {MAX_TENANT_BYTES} ASCII letters, digits, '-', '_' or '.', \
                 got {tenant:?}"
            ),
        ))
    }
}

/// Whether `tenant` is [`DEFAULT_TENANT`].
pub fn is_default(tenant: &str) -> bool {
    tenant == DEFAULT_TENANT
}

/// The record id of a record of `tenant` whose content id is `content_id`:
/// the content id itself for the default tenant (ids of records stored
/// before tenants existed stay the same), else a 128-bit xxh3 of both, so
/// two tenants sending the same record keep two records.
pub fn scoped_id(tenant: &str, content_id: &str) -> String {
    if is_default(tenant) {
        return content_id.to_owned();
    }
    let mut h = Xxh3::new();
    h.update(&(tenant.len() as u64).to_le_bytes());
    h.update(tenant.as_bytes());
    h.update(content_id.as_bytes());
    crate::record::hex32(h.digest128())
}

/// serde helper: the default tenant's name.
pub fn default_name() -> String {
    DEFAULT_TENANT.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["default", "payments", "team-a_1.eu"] {
            validate("tenant", ok).unwrap();
        }
        for bad in ["", "a b", "ü", "a/b", &"x".repeat(65)] {
            let e = validate("tenant", bad).unwrap_err();
            assert_eq!(e.field(), Some("tenant"), "{bad:?}");
        }
    }

    #[test]
    fn ids_differ_by_tenant_but_not_for_the_default() {
        let c = "0123456789abcdef0123456789abcdef";
        assert_eq!(scoped_id(DEFAULT_TENANT, c), c);
        let a = scoped_id("a", c);
        assert_eq!(a.len(), 32);
        assert_ne!(a, c);
        assert_ne!(a, scoped_id("b", c));
        assert_eq!(a, scoped_id("a", c));
    }
}

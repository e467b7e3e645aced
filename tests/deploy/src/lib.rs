//! Checks of the docker-compose deployment, in a crate of their own so that
//! `cargo nextest run -p loglens-deploy-tests` needs no workspace build.
//!
//! The pure text parsing lives here with unit tests; `compose.rs` runs the
//! checks on the repository's files and on `docker-compose config`.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The README section that describes the deployment.
pub const README_SECTION: &str = "## Scale-out deployment (docker compose)";

/// The repository root (this crate is `tests/deploy`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root exists")
}

/// The body of the markdown section under `heading`, up to the next heading
/// of the same or a higher level; `None` when there is no such heading.
pub fn section<'a>(markdown: &'a str, heading: &str) -> Option<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = markdown.lines().position(|l| l.trim_end() == heading)?;
    let lines: Vec<&str> = markdown.lines().collect();
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let hashes = l.chars().take_while(|c| *c == '#').count();
            (1..=level).contains(&hashes) && l[hashes..].starts_with(' ')
        })
        .map_or(lines.len(), |i| start + 1 + i);
    let from = lines[..=start].iter().map(|l| l.len() + 1).sum::<usize>().min(markdown.len());
    let to = lines[..end].iter().map(|l| l.len() + 1).sum::<usize>().min(markdown.len());
    Some(&markdown[from..to])
}

/// Service names a markdown table lists: the first cell of each body row,
/// when it is one `code span` (so a table of services reads
/// "| `kafka` | ... |").
pub fn table_services(markdown: &str) -> Vec<String> {
    markdown
        .lines()
        .filter_map(|l| {
            let cell = l.trim().strip_prefix('|')?.split('|').next()?.trim();
            let name = cell.strip_prefix('`')?.strip_suffix('`')?;
            (!name.is_empty() && !name.contains('`')).then(|| name.to_owned())
        })
        .collect()
}

/// One `FROM` stage of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The base image, e.g. `rust:${RUST_VERSION}-bookworm`.
    pub base: String,
    /// The `AS` name, if any.
    pub name: Option<String>,
    /// The instructions after `FROM`, continuation lines joined.
    pub instructions: Vec<String>,
}

/// The stages of a Dockerfile, in order. Comments are skipped and
/// backslash-continued lines joined.
pub fn dockerfile_stages(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head.trim());
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        logical.push(current);
    }
    let mut stages: Vec<Stage> = Vec::new();
    for instr in logical {
        let mut words = instr.split_whitespace();
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
            let name = match rest.as_slice() {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("AS") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage {
                base: rest.first().copied().unwrap_or_default().to_owned(),
                name,
                instructions: vec![],
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instr);
        }
    }
    stages
}

/// Names of the variables a compose file interpolates: `${NAME}`,
/// `${NAME:-default}`, `${NAME?err}` and the like (`$$` is a literal `$`).
pub fn compose_variables(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'$') {
            i += 2;
            continue;
        }
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            let start = i + 2;
            let len = bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            if len > 0 {
                names.insert(text[start..start + len].to_owned());
            }
            i = start + len;
            continue;
        }
        i += 1;
    }
    names
}

/// Names an env file mentions as `NAME=...`, set or commented out
/// (`# NAME=...`), so an example file documents a variable either way.
pub fn env_file_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches('#').trim();
            let (name, _) = l.split_once('=')?;
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                .then(|| name.to_owned())
        })
        .collect()
}

/// The host address of a short-syntax published port
/// (`127.0.0.1:8000:8000/tcp` -> `127.0.0.1`); `None` when the port is
/// published on every interface (`8000:8000`, `8000`).
pub fn published_host_ip(port: &str) -> Option<&str> {
    let spec = port.split('/').next().unwrap_or(port);
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    (parts.len() == 3).then(|| parts[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_ends_at_the_next_heading_of_its_level() {
        let md = "# T\n## A\none\n### sub\ntwo\n## B\nthree\n";
        assert_eq!(section(md, "## A"), Some("one\n### sub\ntwo\n"));
        assert_eq!(section(md, "## B"), Some("three\n"));
        assert_eq!(section(md, "## C"), None);
    }

    #[test]
    fn table_services_reads_code_spans_in_the_first_column() {
        let md = "| service | port |\n|---|---|\n| `kafka` | 9094 |\n| `processor-1`, `processor-2` | |\n| plain | x |\n";
        assert_eq!(table_services(md), vec!["kafka".to_owned()]);
    }

    #[test]
    fn dockerfile_stages_with_names_and_continuations() {
        let text = "# syntax=docker/dockerfile:1\nARG V=1\nFROM --platform=x rust:${V}-bookworm AS build\nRUN a \\\n && b\n\nFROM debian:bookworm-slim AS runtime\nCOPY --from=build /x /y\nUSER app\n";
        let stages = dockerfile_stages(text);
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].base, "rust:${V}-bookworm");
        assert_eq!(stages[0].name.as_deref(), Some("build"));
        assert_eq!(stages[0].instructions, vec!["RUN a && b".to_owned()]);
        assert_eq!(stages[1].name.as_deref(), Some("runtime"));
        assert_eq!(stages[1].instructions.len(), 2);
    }

    #[test]
    fn compose_variables_finds_every_form() {
        let vars = compose_variables("a: ${A}\nb: ${B:-x}\nc: $${NOT}\nd: ${D?e} ${E:?f}\n");
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), vec!["A", "B", "D", "E"]);
    }

    #[test]
    fn env_file_names_counts_commented_examples() {
        let names = env_file_names("# comment only\nA=1\n# B=2\nC=x=y\n  # not a var: hello\n");
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["A", "B", "C"]);
    }

    #[test]
    fn published_host_ip_of_short_syntax() {
        assert_eq!(published_host_ip("127.0.0.1:8000:8000/tcp"), Some("127.0.0.1"));
        assert_eq!(published_host_ip("127.0.0.1:8000:8000"), Some("127.0.0.1"));
        assert_eq!(published_host_ip("8000:8000"), None);
        assert_eq!(published_host_ip("8000"), None);
    }
}

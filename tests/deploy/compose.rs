//! The docker-compose deployment as a user would check it before starting
//! it: `docker-compose config` accepts it (with `.env.example` as the env
//! file), the README's service table matches it, every loglens role has a
//! healthcheck and its telemetry settings, every `depends_on` waits on a
//! condition, every published port stays on 127.0.0.1, every mounted path
//! exists, and the Dockerfile has the stages the services build.
//!
//! `docker-compose` (Debian's 1.29, no Docker engine needed) comes from
//! `LOGLENS_DOCKER_COMPOSE` (set by `scripts/test`, which installs it), else
//! from PATH; without it these tests fail, they never skip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use loglens_deploy_tests::{
    README_SECTION, compose_variables, dockerfile_stages, env_file_names, published_host_ip,
    repo_root, section, table_services,
};
use serde_yaml::Value;

/// Services other parts of the project refer to by name.
const SERVICES: &[&str] = &[
    "kafka",
    "elasticsearch",
    "kibana",
    "kibana-setup",
    "jaeger",
    "prometheus",
    "grafana",
    "ingest",
    "processor-1",
    "processor-2",
    "query",
    "gateway",
    "generator",
];

/// The loglens roles, built from the Dockerfile, with their `OTEL_SERVICE_NAME`.
const ROLES: &[(&str, &str)] = &[
    ("ingest", "loglens-ingest"),
    ("processor-1", "loglens-processor"),
    ("processor-2", "loglens-processor"),
    ("query", "loglens-query"),
    ("gateway", "loglens-gateway"),
    ("generator", "loglens-generator"),
];

fn docker_compose() -> PathBuf {
    if let Some(path) = std::env::var_os("LOGLENS_DOCKER_COMPOSE").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "LOGLENS_DOCKER_COMPOSE={} is not a file: rerun scripts/test, which installs docker-compose",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("docker-compose"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "docker-compose not found (LOGLENS_DOCKER_COMPOSE unset, not on PATH): run scripts/test, which \
                 installs Debian's docker-compose, or `apt-get install --no-install-recommends docker-compose`"
            )
        })
}

/// Runs `docker-compose --env-file .env.example -f docker-compose.yml <args>`
/// in the repository root; panics with its stderr when it fails.
fn compose(args: &[&str]) -> String {
    let root = repo_root();
    let out = Command::new(docker_compose())
        .current_dir(&root)
        .args(["--env-file", ".env.example", "-f", "docker-compose.yml"])
        .args(args)
        .output()
        .expect("docker-compose runs");
    assert!(
        out.status.success(),
        "docker-compose {} failed ({}):\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("docker-compose prints UTF-8")
}

/// The compose file as `docker-compose config` resolves it: anchors merged,
/// variables substituted, relative paths made absolute.
fn resolved() -> &'static Value {
    static RESOLVED: OnceLock<Value> = OnceLock::new();
    RESOLVED.get_or_init(|| {
        serde_yaml::from_str(&compose(&["config"])).expect("docker-compose config prints YAML")
    })
}

/// The compose file as written (anchors and `<<` merges applied, nothing
/// else): `config` turns a plain `depends_on` list into `service_started`
/// conditions, so conditions are checked here.
fn written() -> &'static Value {
    static WRITTEN: OnceLock<Value> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let mut v: Value =
            serde_yaml::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML");
        v.apply_merge().expect("merge keys apply");
        for (_, s) in v["services"].as_mapping_mut().expect("services").iter_mut() {
            s.apply_merge().expect("merge keys apply");
        }
        v
    })
}

fn services() -> &'static serde_yaml::Mapping {
    resolved()["services"].as_mapping().expect("services is a mapping")
}

fn service(name: &str) -> &'static Value {
    services().get(name).unwrap_or_else(|| panic!("docker-compose.yml has no service {name:?}"))
}

fn service_names() -> BTreeSet<String> {
    services().keys().map(|k| k.as_str().expect("service names are strings").to_owned()).collect()
}

/// A service's environment as `(name, value)` strings, in mapping or list form.
fn env(service: &Value) -> Vec<(String, String)> {
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    match &service["environment"] {
        Value::Mapping(m) => m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Value::Sequence(s) => s
            .iter()
            .filter_map(|e| e.as_str()?.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect(),
        _ => Vec::new(),
    }
}

fn env_var(service: &Value, name: &str) -> Option<String> {
    env(service).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path))
        .unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn docker_compose_config_accepts_the_file() {
    compose(&["config", "-q"]);
    // Every service the project depends on by name exists.
    let names = service_names();
    for s in SERVICES {
        assert!(names.contains(*s), "docker-compose.yml lacks service {s:?}; has {names:?}");
    }
}

#[test]
fn readme_names_every_service_and_each_exists() {
    let readme = read("README.md");
    let body = section(&readme, README_SECTION)
        .unwrap_or_else(|| panic!("README.md has no {README_SECTION:?}"));
    let listed: BTreeSet<String> = table_services(body).into_iter().collect();
    let names = service_names();
    let missing: Vec<&String> = listed.iter().filter(|s| !names.contains(*s)).collect();
    assert!(missing.is_empty(), "README names services docker-compose.yml lacks: {missing:?}");
    let undocumented: Vec<&String> = names.iter().filter(|s| !listed.contains(*s)).collect();
    assert!(undocumented.is_empty(), "services the README's table does not list: {undocumented:?}");
    for phrase in [
        "docker compose up -d --build",
        "KRaft",
        "ZooKeeper",
        "http://127.0.0.1:5601",
        "`logs-*`",
        "`timestamp`",
    ] {
        assert!(body.contains(phrase), "README deployment section should mention {phrase:?}");
    }
}

#[test]
fn every_loglens_role_is_built_here_with_a_healthcheck_and_telemetry() {
    for (name, otel_name) in ROLES {
        let s = service(name);
        let build = &s["build"];
        assert!(
            build["context"].as_str().is_some_and(|c| Path::new(c) == repo_root()),
            "{name}: builds from the repo"
        );
        assert_eq!(build["dockerfile"].as_str(), Some("Dockerfile"), "{name}: the one Dockerfile");
        let test = s["healthcheck"]["test"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name} has no healthcheck"));
        assert!(
            !test.is_empty() && test[0].as_str() != Some("NONE"),
            "{name}: healthcheck disabled"
        );
        assert_eq!(env_var(s, "LOGLENS_METRICS_ADDR").as_deref(), Some("0.0.0.0:9464"), "{name}");
        assert_eq!(
            env_var(s, "OTEL_EXPORTER_OTLP_ENDPOINT").as_deref(),
            Some("http://jaeger:4317"),
            "{name}"
        );
        assert_eq!(env_var(s, "OTEL_SERVICE_NAME").as_deref(), Some(*otel_name), "{name}");
        assert_eq!(env_var(s, "KAFKA_BOOTSTRAP_SERVERS").as_deref(), Some("kafka:9092"), "{name}");
        // Listening addresses must take connections from other containers.
        for addr_var in ["LOGLENS_GRPC_ADDR", "LOGLENS_HTTP_ADDR"] {
            if let Some(addr) = env_var(s, addr_var) {
                assert!(
                    addr.starts_with("0.0.0.0:"),
                    "{name}: {addr_var}={addr} must bind 0.0.0.0 in a container"
                );
            }
        }
    }
    // The wiring between roles.
    assert_eq!(
        env_var(service("gateway"), "LOGLENS_GRPC_ENDPOINT").as_deref(),
        Some("http://query:50051")
    );
    assert_eq!(
        env_var(service("gateway"), "LOGLENS_INGEST_ENDPOINT").as_deref(),
        Some("http://ingest:50052")
    );
    assert_eq!(
        env_var(service("generator"), "LOGLENS_TARGET").as_deref(),
        Some("grpc://ingest:50052")
    );
    let group = |p| env_var(service(p), "KAFKA_CONSUMER_GROUP");
    assert!(
        group("processor-1").is_some() && group("processor-1") == group("processor-2"),
        "processors share a group"
    );
    for store_user in ["processor-1", "processor-2", "query"] {
        let store = env_var(service(store_user), "LOGLENS_STORE");
        assert_eq!(
            store.as_deref(),
            Some("http://elasticsearch:9200"),
            "{store_user} uses Elasticsearch"
        );
    }
    assert!(
        service("gateway")["ports"].as_sequence().is_some_and(|p| !p.is_empty()),
        "gateway is published"
    );
}

#[test]
fn every_dependency_waits_on_a_condition_and_health_is_checkable() {
    let allowed = ["service_healthy", "service_started", "service_completed_successfully"];
    let written = written()["services"].as_mapping().expect("services");
    for (name, s) in written {
        let name = name.as_str().expect("service name");
        let Some(deps) = s.get("depends_on") else { continue };
        let deps = deps
            .as_mapping()
            .unwrap_or_else(|| panic!("{name}: depends_on must be a mapping with conditions"));
        for (dep, spec) in deps {
            let dep = dep.as_str().expect("dependency name");
            let condition = spec["condition"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} -> {dep}: no condition"));
            assert!(
                allowed.contains(&condition),
                "{name} -> {dep}: unknown condition {condition:?}"
            );
            if condition == "service_healthy" {
                assert!(
                    service(dep)["healthcheck"]["test"].is_sequence(),
                    "{name} waits for {dep}'s health: it has none"
                );
            }
        }
    }
    // Merged-in blocks count: every role waits for something.
    for (name, _) in ROLES {
        assert!(
            written.get(*name).and_then(|s| s.get("depends_on")).is_some(),
            "{name} has no depends_on"
        );
    }
    // Every long-running service reports health; only the one-shot job does not.
    for (name, s) in services() {
        let name = name.as_str().expect("service name");
        if name != "kibana-setup" {
            assert!(s["healthcheck"]["test"].is_sequence(), "{name} has no healthcheck");
        }
    }
}

#[test]
fn published_ports_are_bound_to_loopback() {
    let mut published = 0;
    for (name, s) in services() {
        let name = name.as_str().expect("service name");
        for port in s["ports"].as_sequence().into_iter().flatten() {
            published += 1;
            let host_ip = match port {
                Value::String(p) => published_host_ip(p).map(str::to_owned),
                Value::Mapping(_) => port["host_ip"].as_str().map(str::to_owned),
                other => panic!("{name}: unexpected port {other:?}"),
            };
            assert_eq!(
                host_ip.as_deref(),
                Some("127.0.0.1"),
                "{name}: port {port:?} must be bound to 127.0.0.1"
            );
        }
    }
    assert!(published >= 5, "expected the UIs and APIs to be published, found {published} ports");
}

#[test]
fn mounted_paths_exist_and_observability_is_wired() {
    let root = repo_root();
    for (name, s) in services() {
        let name = name.as_str().expect("service name");
        for volume in s["volumes"].as_sequence().into_iter().flatten() {
            let source = match volume {
                Value::String(v) => v.split(':').next().unwrap_or_default().to_owned(),
                Value::Mapping(_) => volume["source"].as_str().unwrap_or_default().to_owned(),
                other => panic!("{name}: unexpected volume {other:?}"),
            };
            // Absolute after `config`: a bind mount of a repository path.
            if source.starts_with('/') {
                assert!(
                    Path::new(&source).exists(),
                    "{name} mounts {source}, which does not exist"
                );
                assert!(
                    Path::new(&source).starts_with(&root),
                    "{name} mounts {source} from outside the repository"
                );
            }
        }
    }
    let mounts = |name: &str| -> Vec<String> {
        service(name)["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let has_mount = |name: &str, host: &str, target: &str| {
        let want = format!("{}:{target}", root.join(host).display());
        mounts(name).iter().any(|m| m == &want || m.starts_with(&format!("{want}:")))
    };
    assert!(
        has_mount("prometheus", "observability/prometheus", "/etc/prometheus"),
        "{:?}",
        mounts("prometheus")
    );
    let command: Vec<&str> = service("prometheus")["command"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        command.contains(&"--config.file=/etc/prometheus/prometheus.yml"),
        "prometheus command {command:?}"
    );
    assert!(
        root.join("observability/prometheus/prometheus.yml").is_file(),
        "observability/prometheus/prometheus.yml"
    );
    assert!(has_mount(
        "grafana",
        "observability/grafana/provisioning",
        "/etc/grafana/provisioning"
    ));
    assert!(has_mount(
        "grafana",
        "observability/grafana/dashboards",
        "/var/lib/grafana/dashboards"
    ));
}

#[test]
fn kafka_runs_in_kraft_mode_without_zookeeper() {
    let names = service_names();
    assert!(!names.iter().any(|n| n.contains("zookeeper")), "no ZooKeeper service: {names:?}");
    let kafka = service("kafka");
    let roles = env_var(kafka, "KAFKA_PROCESS_ROLES").expect("KAFKA_PROCESS_ROLES set");
    assert!(roles.contains("broker") && roles.contains("controller"), "one KRaft node: {roles}");
    assert!(env_var(kafka, "KAFKA_CONTROLLER_QUORUM_VOTERS").is_some(), "KRaft quorum voters set");
    assert!(env(kafka).iter().all(|(k, _)| !k.contains("ZOOKEEPER")), "no ZooKeeper settings");
}

#[test]
fn kibana_setup_creates_the_logs_data_view() {
    let setup = service("kibana-setup");
    assert_eq!(setup["depends_on"]["kibana"]["condition"].as_str(), Some("service_healthy"));
    let args: Vec<&str> =
        setup["command"].as_sequence().into_iter().flatten().filter_map(Value::as_str).collect();
    let joined = args.join(" ");
    assert!(joined.contains("http://kibana:5601/api/data_views/data_view"), "{joined}");
    assert!(joined.contains("kbn-xsrf"), "Kibana's API wants kbn-xsrf: {joined}");
    assert!(joined.contains(r#""title":"logs-*""#), "data view logs-*: {joined}");
    assert!(joined.contains(r#""timeFieldName":"timestamp""#), "time field timestamp: {joined}");
}

#[test]
fn dockerfile_builds_in_one_stage_and_runs_in_a_slim_one() {
    let stages = dockerfile_stages(&read("Dockerfile"));
    let names: Vec<Option<&str>> = stages.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names, vec![Some("build"), Some("runtime")], "Dockerfile stages");
    assert!(
        stages[0].base.starts_with("rust:") && stages[0].base.ends_with("-bookworm"),
        "{}",
        stages[0].base
    );
    assert!(
        stages[0]
            .instructions
            .iter()
            .any(|i| i.contains("cargo build --release --locked -p loglens"))
    );
    let runtime = &stages[1];
    assert_eq!(runtime.base, "debian:bookworm-slim");
    assert!(
        runtime.instructions.iter().any(|i| i.starts_with("COPY --from=build ")),
        "binary copied from build"
    );
    let installs = runtime
        .instructions
        .iter()
        .find(|i| i.contains("apt-get install"))
        .expect("runtime installs packages");
    for pkg in ["ca-certificates", "curl"] {
        assert!(installs.contains(pkg), "runtime needs {pkg} (TLS, healthchecks): {installs}");
    }
    let user = runtime
        .instructions
        .iter()
        .rev()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("runtime sets USER");
    assert!(!["root", "0"].contains(&user.trim()), "runtime runs as root");
    let ignore = read(".dockerignore");
    for entry in ["target/", ".venv/", "data/"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), ".dockerignore should hold {entry}");
    }
}

#[test]
fn env_example_documents_every_compose_variable() {
    let used = compose_variables(&read("docker-compose.yml"));
    let documented = env_file_names(&read(".env.example"));
    let missing: Vec<&String> = used.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        ".env.example lacks variables docker-compose.yml uses: {missing:?}"
    );
}

#[test]
fn the_tls_variant_secures_every_grpc_and_rest_hop() {
    let text = compose(&["-f", "docker-compose.tls.yml", "config"]);
    let tls: Value = serde_yaml::from_str(&text).expect("docker-compose config prints YAML");
    let svc = |name: &str| &tls["services"][name];
    for name in ["ingest", "query", "gateway"] {
        assert_eq!(
            env_var(svc(name), "LOGLENS_TLS_CERT").as_deref(),
            Some("/certs/server.pem"),
            "{name} serves TLS"
        );
    }
    for name in ["ingest", "query"] {
        assert_eq!(
            env_var(svc(name), "LOGLENS_TLS_CLIENT_CA").as_deref(),
            Some("/certs/ca.pem"),
            "{name} demands client certificates"
        );
    }
    let gateway = svc("gateway");
    assert_eq!(env_var(gateway, "LOGLENS_GRPC_ENDPOINT").as_deref(), Some("https://query:50051"));
    assert_eq!(
        env_var(gateway, "LOGLENS_INGEST_ENDPOINT").as_deref(),
        Some("https://ingest:50052")
    );
    let health = serde_yaml::to_string(&gateway["healthcheck"]["test"]).unwrap();
    assert!(health.contains("https://localhost:8000/health"), "{health}");
    for name in ["gateway", "generator"] {
        assert_eq!(
            env_var(svc(name), "LOGLENS_GRPC_CLIENT_CERT").as_deref(),
            Some("/certs/client.pem"),
            "{name} presents the client certificate"
        );
    }
    assert_eq!(
        env_var(svc("generator"), "LOGLENS_TARGET").as_deref(),
        Some("grpcs://ingest:50052")
    );
    // The plain file stays plaintext: every existing setup keeps working.
    assert_eq!(
        env_var(service("gateway"), "LOGLENS_GRPC_ENDPOINT").as_deref(),
        Some("http://query:50051")
    );
}

//! TLS end to end: a CA, a server certificate (localhost and 127.0.0.1) and
//! a client certificate made here with rcgen; real `loglens` processes
//! serving REST and gRPC over TLS, real clients that trust the CA or not.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Role, Standalone, eventually, loglens_bin, record};
use loglens_proto::ingest::IngestRequest;
use loglens_proto::ingest::ingest_service_client::IngestServiceClient;
use loglens_proto::query::query_service_client::QueryServiceClient;
use loglens_proto::query::{LogFilter, SearchRequest};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use serde_json::{Value, json};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// The PEM files of one test: `ca.pem`, `server.pem`/`server.key`,
/// `client.pem`/`client.key` (signed by the CA), `other.key` (belongs to
/// no certificate) and `rogue-client.pem`/`.key` (self-signed).
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn make(dir: &Path) -> Pki {
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "loglens test CA");
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        write("ca.pem", ca.pem());

        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, name: &str| {
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        };
        leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "server",
        );
        leaf(vec![], ExtendedKeyUsagePurpose::ClientAuth, "client");
        write("other.key", KeyPair::generate().unwrap().serialize_pem());
        let rogue = rcgen::generate_simple_self_signed(vec!["rogue".into()]).unwrap();
        write("rogue-client.pem", rogue.cert.pem());
        write("rogue-client.key", rogue.signing_key.serialize_pem());
        Pki { dir: dir.to_owned() }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("UTF-8 temp dir").to_owned()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }

    /// A REST client trusting only the test CA.
    fn https_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.read("ca.pem").as_bytes()).unwrap(),
            )
            .build()
            .unwrap()
    }

    /// gRPC client TLS trusting the test CA, presenting `identity`
    /// (`"client"`, `"rogue-client"`) when given.
    fn grpc_tls(&self, identity: Option<&str>) -> ClientTlsConfig {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.read("ca.pem")));
        match identity {
            Some(name) => tls.identity(Identity::from_pem(
                self.read(&format!("{name}.pem")),
                self.read(&format!("{name}.key")),
            )),
            None => tls,
        }
    }
}

/// A lazily connected gRPC channel to `url` over `tls`.
fn channel(url: &str, tls: ClientTlsConfig) -> Channel {
    Channel::from_shared(url.to_owned()).unwrap().tls_config(tls).unwrap().connect_lazy()
}

fn port(addr: &str) -> &str {
    addr.rsplit_once(':').unwrap().1
}

async fn search_total(channel: Channel, service: &str) -> Result<u64, tonic::Status> {
    let filter = LogFilter { service_name: Some(service.into()), ..Default::default() };
    let reply = QueryServiceClient::new(channel)
        .search(SearchRequest { filter: Some(filter), ..Default::default() })
        .await?;
    Ok(reply.into_inner().total)
}

/// What the whole error chain says, for assertions on the cause.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test]
async fn standalone_serves_rest_and_grpc_over_tls_and_refuses_clients_without_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path());
    let server = Standalone::start_with(
        dir.path(),
        &["--tls-cert", &pki.path("server.pem"), "--tls-key", &pki.path("server.key")],
    );
    let https = pki.https_client();
    let rest = |path: &str| format!("https://localhost:{}{path}", port(&server.http));

    // REST over TLS, the certificate checked against the CA and "localhost".
    let health = https.get(rest("/health")).send().await.expect("GET /health over TLS");
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "healthy", "{health}");

    let body = json!([{"service_name": "tls-rest", "message": "sealed", "request_id": "t-1"}]);
    let reply: Value =
        https.post(rest("/logs")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["accepted"], 1, "{reply}");
    // GET /logs goes REST -> gRPC inside the node, which is TLS-only now.
    let found = eventually(10, "the record via GET /logs over TLS", || {
        let (https, url) = (https.clone(), rest("/logs?service_name=tls-rest"));
        async move {
            let body: Value = https.get(url).send().await.ok()?.json().await.ok()?;
            (body["total"] == 1).then_some(body)
        }
    })
    .await;
    assert_eq!(found["logs"][0]["request_id"], "t-1", "{found}");

    // gRPC over TLS, the certificate checked against the CA and 127.0.0.1.
    let grpc_url = format!("https://{}", server.grpc);
    let mut ingest = IngestServiceClient::new(channel(&grpc_url, pki.grpc_tls(None)));
    let r = ingest
        .ingest(IngestRequest { records: vec![record("tls-grpc", "info", "sealed too", "t-2")] })
        .await
        .expect("Ingest over TLS")
        .into_inner();
    assert_eq!(r.accepted, 1);
    eventually(10, "the gRPC record via Search over TLS", || {
        let c = channel(&grpc_url, pki.grpc_tls(None));
        async move { (search_total(c, "tls-grpc").await.ok()? == 1).then_some(()) }
    })
    .await;
    // Both records, whichever door they came in by.
    let c = channel(&grpc_url, pki.grpc_tls(None));
    assert_eq!(search_total(c, "tls-rest").await.unwrap(), 1);

    // gRPC-web (HTTP/1.1 over TLS, ALPN http/1.1) on the gRPC port.
    let web = https
        .post(format!("https://localhost:{}/grpc.health.v1.Health/Check", port(&server.grpc)))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .expect("gRPC-web over TLS");
    assert_eq!(web.status(), 200);
    assert_eq!(web.version(), reqwest::Version::HTTP_11);
    assert!(
        web.headers()["content-type"].to_str().unwrap().starts_with("application/grpc-web"),
        "{:?}",
        web.headers()
    );

    // A REST client that does not trust the CA is refused.
    let e = reqwest::Client::new().get(rest("/health")).send().await.unwrap_err();
    assert!(chain(&e).contains("UnknownIssuer"), "{}", chain(&e));
    // So is a gRPC client that does not trust it (system roots only).
    let untrusting = ClientTlsConfig::new().with_native_roots();
    let e = search_total(channel(&grpc_url, untrusting), "tls-grpc").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");
    // The name must match too: the certificate is not for 127.0.0.2.
    let wrong_name = format!("https://127.0.0.2:{}", port(&server.grpc));
    let e = search_total(channel(&wrong_name, pki.grpc_tls(None)), "tls-grpc").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");

    // Plaintext to the TLS ports fails: no record leaks in the clear.
    let e = reqwest::get(format!("http://{}/health", server.http)).await.unwrap_err();
    assert!(!e.is_status(), "{e}");
    let plain = Channel::from_shared(format!("http://{}", server.grpc)).unwrap().connect_lazy();
    let e = search_total(plain, "tls-grpc").await.unwrap_err();
    assert_ne!(e.code(), tonic::Code::Ok);
}

#[tokio::test]
async fn client_ca_makes_grpc_demand_a_client_certificate_and_the_gateway_presents_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path());
    let backend = Standalone::start_with(
        dir.path(),
        &[
            "--tls-cert",
            &pki.path("server.pem"),
            "--tls-key",
            &pki.path("server.key"),
            "--tls-client-ca",
            &pki.path("ca.pem"),
        ],
    );
    let grpc_url = format!("https://localhost:{}", port(&backend.grpc));

    // With the client certificate: served.
    let mut ingest = IngestServiceClient::new(channel(&grpc_url, pki.grpc_tls(Some("client"))));
    let r = ingest
        .ingest(IngestRequest { records: vec![record("mtls", "warn", "with a cert", "m-1")] })
        .await
        .expect("Ingest with a client certificate")
        .into_inner();
    assert_eq!(r.accepted, 1);
    eventually(10, "the record via Search with a client certificate", || {
        let c = channel(&grpc_url, pki.grpc_tls(Some("client")));
        async move { (search_total(c, "mtls").await.ok()? == 1).then_some(()) }
    })
    .await;

    // Without one, or with one the CA did not sign: refused.
    for identity in [None, Some("rogue-client")] {
        let e = search_total(channel(&grpc_url, pki.grpc_tls(identity)), "mtls").await.unwrap_err();
        assert_ne!(e.code(), tonic::Code::Ok, "{identity:?}");
        assert_ne!(
            e.code(),
            tonic::Code::Unauthenticated,
            "{identity:?}: refused by TLS, not by keys"
        );
    }

    // REST of the same node stays server-auth only: no client certificate.
    let health = pki.https_client().get(backend.url("/health").replace("http://", "https://"));
    assert_eq!(health.send().await.expect("REST without a client certificate").status(), 200);

    // A separate gateway over TLS to that backend, trusting the CA and
    // presenting the client certificate; itself serving HTTPS.
    let gateway = Role::start(
        dir.path(),
        "gateway",
        &[
            "gateway",
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-endpoint",
            &grpc_url,
            "--grpc-ca",
            &pki.path("ca.pem"),
            "--grpc-client-cert",
            &pki.path("client.pem"),
            "--grpc-client-key",
            &pki.path("client.key"),
            "--tls-cert",
            &pki.path("server.pem"),
            "--tls-key",
            &pki.path("server.key"),
        ],
    );
    assert_eq!(gateway.ready["tls"], true, "{}", gateway.ready);
    let http = gateway.ready["http"].as_str().unwrap();
    let url = |path: &str| format!("https://localhost:{}{path}", port(http));
    let https = pki.https_client();
    let body =
        json!([{"service_name": "via-gateway", "message": "end to end", "request_id": "g-1"}]);
    let reply: Value =
        https.post(url("/logs")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["accepted"], 1, "{reply}");
    eventually(10, "the gateway's record in the backend", || {
        let (https, url) = (https.clone(), url("/logs?service_name=via-gateway"));
        async move {
            let body: Value = https.get(url).send().await.ok()?.json().await.ok()?;
            (body["total"] == 1).then_some(())
        }
    })
    .await;
    let c = channel(&grpc_url, pki.grpc_tls(Some("client")));
    assert_eq!(search_total(c, "via-gateway").await.unwrap(), 1);

    // The generator over TLS with the CA and the client certificate.
    let target = format!("grpcs://localhost:{}", port(&backend.grpc));
    let pki_ca = pki.path("ca.pem");
    let generate = |identity: &[&str]| {
        let mut args = vec![
            "generate",
            "--target",
            &target,
            "--ca",
            &pki_ca,
            "--count",
            "20",
            "--seed",
            "7",
            "--no-progress",
        ];
        args.extend_from_slice(identity);
        Command::new(loglens_bin()).args(&args).stdin(Stdio::null()).output().expect("generate")
    };
    let out = generate(&[
        "--client-cert",
        &pki.path("client.pem"),
        "--client-key",
        &pki.path("client.key"),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["accepted"], 20, "{report}");

    // A gateway without the client certificate cannot reach the backend.
    let bare = Role::start(
        dir.path(),
        "bare-gateway",
        &[
            "gateway",
            "--http-addr",
            "127.0.0.1:0",
            "--grpc-endpoint",
            &grpc_url,
            "--grpc-ca",
            &pki.path("ca.pem"),
        ],
    );
    let logs = format!("http://{}/logs", bare.ready["http"].as_str().unwrap());
    let r = reqwest::get(&logs).await.unwrap();
    // Under TLS 1.3 the backend refuses the certificate after the handshake,
    // so the call fails as a dropped connection (500/503), never a 200.
    assert!(r.status().is_server_error(), "{}", r.status());
}

/// Runs `loglens ARGS` to its end; (success, stderr).
fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(loglens_bin())
        .args(args)
        .env("LOGLENS_METRICS_ADDR", "127.0.0.1:0")
        .env_remove("LOGLENS_TLS_CERT")
        .env_remove("LOGLENS_TLS_KEY")
        .env_remove("LOGLENS_TLS_CLIENT_CA")
        .stdin(Stdio::null())
        .output()
        .expect("run loglens");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_tls_flags_fail_at_start_naming_the_flag_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::make(dir.path());
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let node = |tls: &[&str]| {
        let mut args = vec![
            "standalone",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
            "--data-dir",
            data,
        ];
        args.extend_from_slice(tls);
        run(&args)
    };

    let (ok, err) = node(&["--tls-cert", &pki.path("server.pem")]);
    assert!(!ok);
    assert!(err.contains("--tls-cert needs --tls-key"), "{err}");
    let (ok, err) = node(&["--tls-key", &pki.path("server.key")]);
    assert!(!ok);
    assert!(err.contains("--tls-key needs --tls-cert"), "{err}");

    let missing = dir.path().join("nowhere.pem");
    let (ok, err) =
        node(&["--tls-cert", missing.to_str().unwrap(), "--tls-key", &pki.path("server.key")]);
    assert!(!ok);
    assert!(err.contains(&format!("--tls-cert {}: cannot read it", missing.display())), "{err}");

    // A key where the certificate should be, and the other way round.
    let (ok, err) =
        node(&["--tls-cert", &pki.path("server.key"), "--tls-key", &pki.path("server.key")]);
    assert!(!ok);
    assert!(err.contains("server.key: no PEM certificate"), "{err}");
    let (ok, err) =
        node(&["--tls-cert", &pki.path("server.pem"), "--tls-key", &pki.path("server.pem")]);
    assert!(!ok);
    assert!(err.contains("server.pem: no PEM private key"), "{err}");

    let (ok, err) =
        node(&["--tls-cert", &pki.path("server.pem"), "--tls-key", &pki.path("other.key")]);
    assert!(!ok);
    assert!(err.contains("the private key does not belong to the certificate"), "{err}");

    let (ok, err) = node(&[
        "--tls-cert",
        &pki.path("server.pem"),
        "--tls-key",
        &pki.path("server.key"),
        "--tls-client-ca",
        &pki.path("server.key"),
    ]);
    assert!(!ok);
    assert!(err.contains("--tls-client-ca") && err.contains("no PEM certificate"), "{err}");

    // The gateway's client side: a CA for a plaintext endpoint, a missing CA.
    let gateway = |extra: &[&str]| {
        let mut args = vec!["gateway", "--http-addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (ok, err) =
        gateway(&["--grpc-endpoint", "http://127.0.0.1:1", "--grpc-ca", &pki.path("ca.pem")]);
    assert!(!ok);
    assert!(err.contains("use https://"), "{err}");
    let (ok, err) = gateway(&[
        "--grpc-endpoint",
        "https://127.0.0.1:1",
        "--grpc-ca",
        missing.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains(&format!("--grpc-ca {}: cannot read it", missing.display())), "{err}");
}

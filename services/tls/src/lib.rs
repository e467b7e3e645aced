//! TLS for loglens: the PEM files of `--tls-cert`, `--tls-key`,
//! `--tls-client-ca` and of the gRPC clients' `--grpc-ca`, read and checked
//! once at start (each error names the file and what is wrong), the rustls
//! server configs of the two listeners, and [`Incoming`], the accepted
//! connections of a listener (TLS handshakes run concurrently, off the
//! accept loop; a failed handshake drops that connection only).
//!
//! Crypto is rustls with the ring provider, the one already in the tree.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// Longest a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Accepted connections waiting for the server to take them.
const BACKLOG: usize = 128;

/// Why a TLS file or setting is unusable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{flag} {path}: cannot read it: {source}")]
    Read {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not PEM, or has no item of the wanted kind.
    #[error("{flag} {path}: {what}")]
    Pem {
        /// The flag naming the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. `no PEM certificate in it`.
        what: String,
    },
    /// The key and the certificate do not go together, or rustls refused them.
    #[error("{cert} and {key}: {what}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Only one of two flags that go together was given.
    #[error("{given} needs {missing} too (TLS takes a certificate and its private key)")]
    Incomplete {
        /// The flag given.
        given: &'static str,
        /// The flag missing.
        missing: &'static str,
    },
}

/// Result with the TLS [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Read { flag, path: path.to_owned(), source })
}

/// The certificates of a PEM file; at least one.
fn certificates(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(flag, path)?;
    let bad = |what: String| Error::Pem { flag, path: path.to_owned(), what };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate (BEGIN CERTIFICATE) in it".into()));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn private_key(flag: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = read(flag, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| Error::Pem {
        flag,
        path: path.to_owned(),
        what: match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                "no PEM private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in it"
                    .into()
            }
            e => format!("not a valid PEM file: {e}"),
        },
    })
}

fn roots(flag: &'static str, path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(flag, path)? {
        roots.add(cert).map_err(|e| Error::Pem {
            flag,
            path: path.to_owned(),
            what: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS settings of a node's listeners, from `--tls-cert`, `--tls-key`
/// and `--tls-client-ca`; both listeners serve the same certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// PEM certificate chain, the server's certificate first.
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
    /// PEM CA certificates: when set, gRPC clients must present a
    /// certificate signed by one of them (REST stays server-auth only).
    pub client_ca: Option<PathBuf>,
}

impl ServerTlsFiles {
    /// The settings of the flags, or `None` without TLS; a certificate
    /// without its key (or the other way round) is an error naming both.
    pub fn from_flags(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        client_ca: Option<PathBuf>,
    ) -> Result<Option<ServerTlsFiles>> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(ServerTlsFiles { cert, key, client_ca })),
            (Some(_), None) => Err(Error::Incomplete { given: "--tls-cert", missing: "--tls-key" }),
            (None, Some(_)) => Err(Error::Incomplete { given: "--tls-key", missing: "--tls-cert" }),
            (None, None) if client_ca.is_some() => Err(Error::Incomplete {
                given: "--tls-client-ca",
                missing: "--tls-cert and --tls-key",
            }),
            (None, None) => Ok(None),
        }
    }

    /// Reads and checks the files: the configs of the gRPC listener (ALPN
    /// h2 and http/1.1, for gRPC-web; client certificates with
    /// `client_ca`) and of the REST listener (http/1.1).
    pub fn load(&self) -> Result<ServerTls> {
        let certs = certificates("--tls-cert", &self.cert)?;
        let key = private_key("--tls-key", &self.key)?;
        let pair =
            |what: String| Error::Pair { cert: self.cert.clone(), key: self.key.clone(), what };
        let builder = || {
            rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| pair(e.to_string()))
        };
        let single =
            |b: rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>| {
                b.with_single_cert(certs.clone(), key.clone_key()).map_err(|e| match e {
                    rustls::Error::InconsistentKeys(_) => {
                        pair("the private key does not belong to the certificate".into())
                    }
                    e => pair(format!("unusable certificate or key: {e}")),
                })
            };
        let mut rest = single(builder()?.with_no_client_auth())?;
        rest.alpn_protocols = vec![b"http/1.1".to_vec()];
        let grpc_builder = match &self.client_ca {
            Some(ca) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots("--tls-client-ca", ca)?),
                    provider(),
                )
                .build()
                .map_err(|e| Error::Pem {
                    flag: "--tls-client-ca",
                    path: ca.clone(),
                    what: format!("unusable as client CA: {e}"),
                })?;
                builder()?.with_client_cert_verifier(verifier)
            }
            None => builder()?.with_no_client_auth(),
        };
        let mut grpc = single(grpc_builder)?;
        grpc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls { grpc: Arc::new(grpc), rest: Arc::new(rest) })
    }
}

/// Checked server configs, one per listener.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The gRPC listener's (h2 and http/1.1; client certificates when
    /// configured).
    pub grpc: Arc<rustls::ServerConfig>,
    /// The REST listener's (http/1.1, no client certificates).
    pub rest: Arc<rustls::ServerConfig>,
}

/// The TLS side of a gRPC client: the CA to trust (system roots without
/// one) and an optional client certificate for mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// PEM CA certificates to trust instead of the system's roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
}

impl ClientTlsFiles {
    /// Reads and checks the files into tonic's client TLS settings;
    /// `flags` names the flags in errors (`[ca, cert, key]`).
    pub fn load(&self, flags: [&'static str; 3]) -> Result<ClientTlsConfig> {
        let [ca_flag, cert_flag, key_flag] = flags;
        let mut tls = ClientTlsConfig::new();
        tls = match &self.ca {
            Some(ca) => {
                roots(ca_flag, ca)?;
                tls.ca_certificate(Certificate::from_pem(read(ca_flag, ca)?))
            }
            None => tls.with_native_roots(),
        };
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                certificates(cert_flag, cert)?;
                private_key(key_flag, key)?;
                Ok(tls.identity(Identity::from_pem(read(cert_flag, cert)?, read(key_flag, key)?)))
            }
            (Some(_), None) => Err(Error::Incomplete { given: cert_flag, missing: key_flag }),
            (None, Some(_)) => Err(Error::Incomplete { given: key_flag, missing: cert_flag }),
            (None, None) => Ok(tls),
        }
    }
}

/// One accepted connection: plain TCP, TLS over TCP, or in memory (a
/// client inside the same process).
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP, handshake done.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// An in-process client's end of a pipe.
    Memory(DuplexStream),
}

impl Conn {
    /// The peer's address (`None` in memory).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        match self {
            Conn::Plain(s) => s.peer_addr().ok(),
            Conn::Tls(s) => s.get_ref().0.peer_addr().ok(),
            Conn::Memory(_) => None,
        }
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Conn::Plain(s) => s.local_addr().ok(),
            Conn::Tls(s) => s.get_ref().0.local_addr().ok(),
            Conn::Memory(_) => None,
        }
    }
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        TcpConnectInfo { local_addr: self.local_addr(), remote_addr: self.remote_addr() }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Memory(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Memory(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Memory(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
            Conn::Memory(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s).poll_flush(cx),
            Conn::Memory(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Memory(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The connections of one listener, TCP_NODELAY set, TLS handshakes done
/// when a config is given; plus in-process clients through [`Incoming::pipe`].
/// Accepting stops when this is dropped.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<Conn>,
    tx: mpsc::Sender<Conn>,
    local_addr: io::Result<SocketAddr>,
}

impl Incoming {
    /// Starts accepting on `listener` (inside a Tokio runtime).
    pub fn accept(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) -> Incoming {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let local_addr = listener.local_addr();
        tokio::spawn(accept_loop(listener, tls.map(TlsAcceptor::from), tx.clone()));
        Incoming { rx, tx, local_addr }
    }

    /// The listener's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.local_addr {
            Ok(a) => Ok(*a),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// A way in for clients of the same process: each call of
    /// [`Pipe::connect`] is one connection, plain (the bytes never leave
    /// the process).
    pub fn pipe(&self) -> Pipe {
        Pipe { tx: self.tx.downgrade() }
    }

    /// The next connection; `None` once accepting stopped for good.
    pub async fn next(&mut self) -> Option<Conn> {
        self.rx.recv().await
    }

    /// The connections as a stream, for tonic's `serve_with_incoming`.
    pub fn into_stream(self) -> impl Stream<Item = io::Result<Conn>> + Send + 'static {
        let Incoming { rx, tx, .. } = self;
        drop(tx);
        ReceiverStream::new(rx).map(Ok)
    }
}

/// Connects in-process clients to an [`Incoming`].
#[derive(Debug, Clone)]
pub struct Pipe {
    tx: mpsc::WeakSender<Conn>,
}

/// Buffer of each direction of an in-process connection.
const PIPE_BUFFER: usize = 256 * 1024;

impl Pipe {
    /// Opens one connection; fails once the server stopped.
    pub async fn connect(&self) -> io::Result<DuplexStream> {
        let (client, server) = tokio::io::duplex(PIPE_BUFFER);
        let gone = || io::Error::new(io::ErrorKind::ConnectionRefused, "the server stopped");
        let tx = self.tx.upgrade().ok_or_else(gone)?;
        tx.send(Conn::Memory(server)).await.map_err(|_| gone())?;
        Ok(client)
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, tx: mpsc::Sender<Conn>) {
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Replies go out at once: without TCP_NODELAY a small reply can
        // wait ~40 ms for the peer's delayed ACK (Nagle).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "setting TCP_NODELAY");
        }
        match &tls {
            None => {
                if tx.send(Conn::Plain(tcp)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Conn::Tls(Box::new(stream))).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "tls handshake failed"),
                        Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_and_key_come_together() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(ServerTlsFiles::from_flags(None, None, None).unwrap(), None);
        let both = ServerTlsFiles::from_flags(p("c.pem"), p("k.pem"), p("ca.pem")).unwrap();
        assert_eq!(both.unwrap().client_ca, p("ca.pem"));
        for (cert, key, ca, message) in [
            (p("c"), None, None, "--tls-cert needs --tls-key too"),
            (None, p("k"), None, "--tls-key needs --tls-cert too"),
            (None, None, p("ca"), "--tls-client-ca needs --tls-cert and --tls-key too"),
        ] {
            let e = ServerTlsFiles::from_flags(cert, key, ca).unwrap_err().to_string();
            assert!(e.starts_with(message), "{e}");
        }
    }

    #[test]
    fn client_identity_needs_both_halves() {
        let files = ClientTlsFiles { cert: Some("c.pem".into()), ..Default::default() };
        let e = files.load(["--ca", "--client-cert", "--client-key"]).unwrap_err();
        assert!(e.to_string().starts_with("--client-cert needs --client-key"), "{e}");
    }
}

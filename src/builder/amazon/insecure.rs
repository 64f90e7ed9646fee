//! `insecure_skip_tls_verify`: HTTPS to an AWS endpoint whose certificate
//! is not checked (a private EC2-compatible cloud with a self-signed
//! certificate, as Packer allows). The connection is still encrypted, and
//! the server still has to prove it holds the certificate's key; only who
//! signed the certificate, and for which name, is not checked. The SDK's
//! own client has no such switch, so this one is hyper with a rustls
//! configuration of kiln's, on the same crates.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// Accepts any certificate, but checks the handshake's signatures with it
/// as usual (so the peer holds the certificate's private key).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client: a fresh connector for each set of connector settings (the
/// SDK's connect and read timeouts, as its own client honours them).
#[derive(Debug)]
struct Insecure {
    tls: rustls::ClientConfig,
}

#[derive(Debug, Clone)]
struct Connector {
    client: Client<hyper_rustls::HttpsConnector<TcpConnector>, SdkBody>,
    read_timeout: Option<std::time::Duration>,
}

/// The HTTP(S) client for `insecure_skip_tls_verify = true`: plain HTTP as
/// usual, HTTPS without checking the certificate.
pub fn http_client() -> Result<SharedHttpClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(SharedHttpClient::new(Insecure { tls }))
}

impl HttpClient for Insecure {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(settings.connect_timeout());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        SharedHttpConnector::new(Connector {
            client,
            read_timeout: settings.read_timeout(),
        })
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (client, read_timeout) = (self.client.clone(), self.read_timeout);
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(Box::new(e)))?;
            let call = client.request(request);
            let response = match read_timeout {
                Some(t) => tokio::time::timeout(t, call)
                    .await
                    .map_err(|e| ConnectorError::timeout(Box::new(e)))?,
                None => call.await,
            };
            let response = response.map_err(|e| {
                if e.is_connect() {
                    ConnectorError::io(Box::new(e))
                } else {
                    ConnectorError::other(Box::new(e), None)
                }
            })?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(Box::new(e), None))
        })
    }
}

//! TLS material for one signal: the trusted roots (the system's, or the CA
//! file configured), the optional client identity (mTLS), and the rustls
//! client configuration both transports use (tonic through its
//! `ClientTlsConfig`, hyper through hyper-rustls). Every file is read and
//! parsed here, at `init`/`check`, so a missing, unreadable or wrong PEM is
//! an error naming the key or variable and the path, never a failed export.

use crate::config::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, TrustAnchor};
use rustls::RootCertStore;
use std::sync::{Arc, OnceLock};

/// Loaded TLS material.
#[derive(Clone)]
pub(crate) struct Tls {
    /// The roots the server's certificate must chain to.
    pub anchors: Vec<TrustAnchor<'static>>,
    /// Client certificate chain and key, PEM (for tonic).
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// The rustls configuration (for hyper-rustls; ALPN set by the connector).
    pub client_config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("anchors", &self.anchors.len())
            .field("client_identity", &self.identity_pem.is_some())
            .finish()
    }
}

/// The crypto provider (ring: see the crate documentation).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's root certificates (read once per process).
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static SYSTEM: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default();
                Err(format!("no system CA certificates were found{why}: install the ca-certificates package, point SSL_CERT_FILE at a CA bundle, or set OTEL_EXPORTER_OTLP_CERTIFICATE to the CA that signs the collector's certificate"))
            } else {
                Ok(Arc::new(store))
            }
        })
        .clone()
}

fn read(path: &str, what: &str) -> Result<Vec<u8>, String> {
    match std::fs::read(path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => {
            Err(format!("{path:?} is empty: expected {what}"))
        }
        Ok(b) => Ok(b),
        Err(e) => Err(format!("cannot read {path:?} ({e}): expected {what}")),
    }
}

fn certs(bytes: &[u8], path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    for (i, c) in CertificateDer::pem_slice_iter(bytes).enumerate() {
        match c {
            Ok(c) => out.push(c),
            Err(e) => {
                return Err(format!(
                    "{path:?}: PEM block {} is not a valid certificate ({e}): expected {what}",
                    i + 1
                ))
            }
        }
    }
    if out.is_empty() {
        if PrivateKeyDer::from_pem_slice(bytes).is_ok() {
            return Err(format!(
                "{path:?} holds a private key, not a certificate: expected {what}"
            ));
        }
        return Err(format!(
            "{path:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----): expected {what}"
        ));
    }
    Ok(out)
}

fn key(bytes: &[u8], path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let what = "a PEM private key (PKCS#8, PKCS#1 or SEC1)";
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(k) => Ok(k),
        Err(_) if CertificateDer::pem_slice_iter(bytes).any(|c| c.is_ok()) => Err(format!(
            "{path:?} holds a certificate, not a private key: expected {what}"
        )),
        Err(e) => Err(format!(
            "{path:?} holds no usable private key ({e}): expected {what}"
        )),
    }
}

/// Loads the TLS material of `files`; each problem is pushed as
/// `(key or variable, reason)`.
pub(crate) fn load(files: &TlsFiles, errs: &mut Vec<(String, String)>) -> Option<Tls> {
    let mut ok = true;
    let roots: Option<Arc<RootCertStore>> = match &files.ca {
        Some((path, origin)) => {
            let what = "the PEM certificate(s) of the CA that signs the collector's certificate";
            let loaded = read(path, what).and_then(|b| certs(&b, path, what)).and_then(|cs| {
                let mut store = RootCertStore::empty();
                for (i, c) in cs.into_iter().enumerate() {
                    store.add(c).map_err(|e| {
                        format!("{path:?}: certificate {} cannot be a trust anchor ({e}): expected {what}", i + 1)
                    })?;
                }
                Ok(Arc::new(store))
            });
            match loaded {
                Ok(s) => Some(s),
                Err(reason) => {
                    errs.push((origin.clone(), reason));
                    ok = false;
                    None
                }
            }
        }
        None => match system_roots() {
            Ok(s) => Some(s),
            Err(reason) => {
                errs.push(("OTEL_EXPORTER_OTLP_CERTIFICATE".into(), reason));
                ok = false;
                None
            }
        },
    };
    let identity = match (&files.cert, &files.key) {
        (None, None) => None,
        (Some((_, origin)), None) => {
            errs.push((
                origin.clone(),
                "a client certificate needs its private key: set the matching client_key (OTEL_EXPORTER_OTLP_CLIENT_KEY) too".into(),
            ));
            ok = false;
            None
        }
        (None, Some((_, origin))) => {
            errs.push((
                origin.clone(),
                "a client key needs its certificate: set the matching client_certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE) too".into(),
            ));
            ok = false;
            None
        }
        (Some((cpath, corigin)), Some((kpath, korigin))) => {
            let what = "the PEM client certificate (chain)";
            let c = read(cpath, what).and_then(|b| certs(&b, cpath, what).map(|c| (b, c)));
            let k = read(kpath, "a PEM private key").and_then(|b| key(&b, kpath).map(|k| (b, k)));
            match (c, k) {
                (Ok(c), Ok(k)) => Some((c, k)),
                (c, k) => {
                    if let Err(r) = c {
                        errs.push((corigin.clone(), r));
                    }
                    if let Err(r) = k {
                        errs.push((korigin.clone(), r));
                    }
                    ok = false;
                    None
                }
            }
        }
    };
    if !ok {
        return None;
    }
    let roots = roots?;
    let builder = match rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b.with_root_certificates(roots.clone()),
        Err(e) => {
            errs.push(("otlp".into(), format!("cannot set up TLS ({e})")));
            return None;
        }
    };
    let (client_config, identity_pem) = match identity {
        None => (builder.with_no_client_auth(), None),
        Some(((cpem, chain), (kpem, key))) => match builder.with_client_auth_cert(chain, key) {
            Ok(c) => (c, Some((cpem, kpem))),
            Err(e) => {
                let (korigin, kpath) = files
                    .key
                    .as_ref()
                    .map(|(p, o)| (o.clone(), p.clone()))
                    .unwrap_or_default();
                errs.push((
                    korigin,
                    format!("the client key {kpath:?} cannot be used with its certificate ({e}): check that the key belongs to the certificate and is RSA, ECDSA P-256/P-384 or Ed25519"),
                ));
                return None;
            }
        },
    };
    Some(Tls {
        anchors: roots.roots.clone(),
        identity_pem,
        client_config: Arc::new(client_config),
    })
}

impl Tls {
    /// tonic's TLS settings for the same roots and identity (rustls/ring
    /// underneath, `tls-ring`).
    pub fn tonic(&self) -> tonic::transport::ClientTlsConfig {
        let mut c = tonic::transport::ClientTlsConfig::new().trust_anchors(self.anchors.clone());
        if let Some((cert, key)) = &self.identity_pem {
            c = c.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        c
    }
}

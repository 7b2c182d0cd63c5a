//! The `emulator` subcommand: build the configuration from the command line and serve.

use std::net::SocketAddr;

use tracing::info;

use super::faults::Faults;
use super::gateway::AccessKey;
use super::server::{Emulator, EmulatorConfig, spawn_with};
use super::state::{Instance, Rules};
use crate::cli::EmulatorArgs;

/// Turns the command line into a configuration.
///
/// # Errors
/// A message naming the argument that is wrong.
pub fn config_from_args(args: &EmulatorArgs) -> Result<EmulatorConfig, String> {
    let access_keys = args.access_keys.iter().map(|k| AccessKey::parse(k)).collect::<Result<Vec<_>, _>>()?;
    let instances = args
        .instances
        .iter()
        .map(|text| match text.split_once('@') {
            Some((id, region)) if !id.is_empty() && !region.is_empty() => {
                Ok(Instance { id: id.into(), region: region.into() })
            }
            _ => Err(format!("--instance {text:?} must be ID@REGION")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut faults = match &args.faults_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str::<Faults>(&text)
                .map_err(|e| format!("{} is not a valid faults file: {e}", path.display()))?
        }
        None => Faults::default(),
    };
    let sts = match &args.sts_config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a valid STS setup: {e}", path.display()))?
        }
        None => super::sts::StsConfig::default(),
    };
    if args.latency_ms > 0 {
        faults.latency_ms = args.latency_ms;
    }
    Ok(EmulatorConfig {
        access_keys,
        rules: Rules {
            lock_published: !args.allow_published_changes,
            max_products_per_instance: args.max_products_per_instance,
            max_distribution_jobs: args.max_distribution_jobs,
            job_duration_ms: args.job_duration_ms,
            instances,
            seed: args.seed,
            opaque_codes: args.opaque_codes,
            delete_product_with_devices: args.delete_product_with_devices,
            lock_published_parts: args.lock_published_parts,
            max_topics_per_product: args.max_topics_per_product,
            max_consumer_groups: args.max_consumer_groups,
        },
        faults,
        rate_limit: !args.no_rate_limit,
        qps_scale: args.qps_scale,
        seed: args.seed,
        sts,
    })
}

/// Serves until Ctrl-C / SIGTERM.
///
/// # Errors
/// A message when the configuration is wrong or an address cannot be bound.
pub async fn run(args: &EmulatorArgs) -> Result<(), String> {
    let config = config_from_args(args)?;
    let emulator = Emulator::new(config);
    let mut listeners = vec![(args.region.clone(), args.listen)];
    for entry in &args.region_listen {
        let (region, addr) =
            entry.split_once('=').ok_or_else(|| format!("--region-listen {entry:?} must be REGION=ADDR"))?;
        let addr: SocketAddr = addr.parse().map_err(|e| format!("--region-listen {entry:?}: {e}"))?;
        listeners.push((region.to_string(), addr));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    for (index, (region, addr)) in listeners.into_iter().enumerate() {
        // TLS (when asked for) on the main listener.
        let tls = if index == 0 { tls.clone() } else { None };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let bound = spawn_with(emulator.clone(), addr, &region, tls)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        // A stable line for scripts that start the emulator on port 0.
        println!("emulator listening on {scheme}://{bound} region={region}");
        info!(%bound, %region, "emulator listening");
    }
    shutdown_signal().await;
    info!("emulator stopping");
    Ok(())
}

/// A TLS acceptor with the certificate chain and key in `cert` and `key` (PEM).
fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the certificates in {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the key in {}: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

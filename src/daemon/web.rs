//! Starting the staff's web interface beside the socket: the certificate, the checks that
//! keep a LAN bind safe (TLS, and an account that can log in), the listener, the server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::task::JoinSet;

use crate::care::api::CareNode;
use crate::clock::now_ms;
use crate::files::config::HttpConfig;
use crate::files::webcert;
use crate::node::Node;
use crate::serve::web::{self, Accounts, UnitAccounts, Web, WebSettings};

/// The web interface, running.
pub(super) struct Started {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its address for people (`http://127.0.0.1:7480/`).
    pub url: String,
    /// Its certificate's SHA-256 fingerprint, under TLS.
    pub fingerprint: Option<String>,
}

/// Starts the web interface of `node` as `http` says, its server a task in `tasks` that
/// ends with the node's shutdown signal. A refusal is one line naming the config key.
pub(super) async fn start(
    data_dir: &Path,
    http: &HttpConfig,
    node: Arc<Node>,
    tasks: &mut JoinSet<()>,
) -> Result<Started, String> {
    let failed = |m: String| m;
    let accounts: Arc<dyn Accounts> = Arc::new(UnitAccounts(node.clone() as Arc<dyn CareNode>));
    if !http.listen.ip().is_loopback() && !accounts.any_can_log_in() {
        return Err(failed(format!(
            "http.listen: {} can be reached from the network, but no account of this unit can log in yet: create one first (reservnod user add), or listen on 127.0.0.1",
            http.listen
        )));
    }
    let cert = webcert::load(data_dir, http).map_err(|e| failed(format!("http.tls: {e}")))?;
    let tls = match &cert {
        Some(c) => Some(
            web::tls::server_config(&c.cert_pem, &c.key_pem)
                .map_err(|e| failed(format!("http.tls: {e}")))?,
        ),
        None => None,
    };
    let listener = std::net::TcpListener::bind(http.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(|e| {
            failed(format!(
                "http.listen: cannot listen on {}: {e}",
                http.listen
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| failed(format!("http.listen: {e}")))?;
    let settings = WebSettings {
        listen: addr,
        names: http.names.clone(),
        tls: tls.is_some(),
        idle_timeout: http.idle_timeout,
    };
    let app = web::router(Web::new(node.clone(), accounts, settings, Arc::new(now_ms)));
    let mut stop = node.shutdown_signal();
    drop(node);
    tasks.spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = web::tls::serve(listener, tls, app, shutdown).await {
            tracing::error!(error = %e, "the web interface stopped");
        }
    });
    let scheme = if cert.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{addr}/");
    tracing::info!(%url, "web interface started");
    Ok(Started {
        addr,
        url,
        fingerprint: cert.map(|c| c.fingerprint),
    })
}

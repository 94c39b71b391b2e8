//! The daemon's local socket for the CLI: `run/api.sock` in the data directory, a Unix
//! socket only the node's own user can open (made inside a 0700 directory, so it is never
//! reachable by others even for the instant before its own mode is set), so no token is
//! needed and nothing listens on the network.
//!
//! One request per connection: a JSON line in (a [`LocalRequest`]: the person at the
//! keyboard and the request), a JSON line out. Both are bounded; a request
//! that is too long or does not parse gets an error reply and changes nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::watch;

use crate::care::api::{handle, CareNode, LocalRequest, Reply, Via};
use crate::limits::{
    ACCEPT_ERROR_BACKOFF, CALL_TIMEOUT, REPLY_BYTES_MAX, REQUEST_BYTES_MAX, SOCKET_IO_TIMEOUT,
    SOCKET_REQUESTS_MAX,
};

/// The socket's path relative to the data directory.
pub const SOCKET_FILE: &str = "run/api.sock";

/// A reply on the wire.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Done (boxed: a reply is far larger than an error line).
    Ok(Box<Reply>),
    /// Refused, with a message for staff.
    Error(String),
}

/// The socket path of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Binds the socket (replacing a stale one: the caller holds the data directory's lock, so
/// no other daemon serves it).
pub fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    let path = socket_path(data_dir);
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves requests until `shutdown` turns true, then removes the socket.
pub async fn serve(
    listener: UnixListener,
    node: Arc<dyn CareNode>,
    mut shutdown: watch::Receiver<bool>,
    path: PathBuf,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(SOCKET_REQUESTS_MAX));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and the like: do not spin.
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    continue;
                };
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let node = node.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    if let Err(e) = serve_one(stream, node).await {
                        tracing::debug!(error = %e, "local API connection ended");
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    // Requests in flight finish (a write that was started is completed and acknowledged).
    while tasks.join_next().await.is_some() {}
    let _ = std::fs::remove_file(&path);
}

async fn serve_one(stream: tokio::net::UnixStream, node: Arc<dyn CareNode>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(
        read,
        REQUEST_BYTES_MAX as u64 + 1,
    ));
    let mut line = Vec::new();
    let read = tokio::time::timeout(SOCKET_IO_TIMEOUT, reader.read_until(b'\n', &mut line)).await;
    let response = match read {
        Err(_) => Response::Error("begäran kom inte fram i tid".into()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(_)) if line.len() > REQUEST_BYTES_MAX => {
            Response::Error(format!("begäran är större än {REQUEST_BYTES_MAX} byte"))
        }
        Ok(Ok(_)) => match serde_json::from_slice::<LocalRequest>(&line) {
            Err(e) => Response::Error(format!("begäran kunde inte läsas: {e}")),
            Ok(local) => {
                // Only the node's own Unix user can open the socket: the caller is local.
                let (caller, request) = local.into_parts(Via::Socket);
                let answer =
                    tokio::task::spawn_blocking(move || handle(node.as_ref(), &caller, request))
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                match answer {
                    Ok(reply) => Response::Ok(Box::new(reply)),
                    Err(e) => Response::Error(e.to_string()),
                }
            }
        },
    };
    // A reply that cannot be encoded is a bug; the client still gets a line saying so.
    let mut bytes = serde_json::to_vec(&response)
        .or_else(|e| {
            tracing::error!(error = %e, "a reply could not be encoded");
            serde_json::to_vec(&Response::Error(format!(
                "internt fel: svaret kunde inte skrivas ({e})"
            )))
        })
        .map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    // A client that does not take its reply does not keep the slot.
    tokio::time::timeout(SOCKET_IO_TIMEOUT, async {
        write.write_all(&bytes).await?;
        write.shutdown().await
    })
    .await
    .map_err(|_| std::io::Error::other("the client did not take its reply"))?
}

/// Why the CLI could not reach a daemon.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No daemon serves this data directory.
    #[error("no daemon is running for this data directory")]
    NotRunning,
    /// The daemon did not answer properly.
    #[error("the running node did not answer: {0}")]
    Broken(String),
}

/// Sends one request to the daemon of `data_dir`. `Ok(Err(message))` is a refusal.
pub fn call(data_dir: &Path, request: &LocalRequest) -> Result<Result<Reply, String>, CallError> {
    let path = socket_path(data_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(CallError::NotRunning)
        }
        Err(e) => return Err(CallError::Broken(format!("{}: {e}", path.display()))),
    };
    let broken = |e: std::io::Error| CallError::Broken(e.to_string());
    stream
        .set_read_timeout(Some(CALL_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(CALL_TIMEOUT)))
        .map_err(broken)?;
    let mut bytes = serde_json::to_vec(request).map_err(|e| CallError::Broken(e.to_string()))?;
    bytes.push(b'\n');
    stream.write_all(&bytes).map_err(broken)?;
    let mut line = Vec::new();
    BufReader::new(stream.take(REPLY_BYTES_MAX as u64))
        .read_until(b'\n', &mut line)
        .map_err(broken)?;
    match serde_json::from_slice::<Response>(&line) {
        Ok(Response::Ok(reply)) => Ok(Ok(*reply)),
        Ok(Response::Error(message)) => Ok(Err(message)),
        Err(e) => Err(CallError::Broken(format!("unreadable reply: {e}"))),
    }
}

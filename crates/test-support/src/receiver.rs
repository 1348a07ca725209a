//! A webhook receiver on a loopback port: it records every request and answers with the status
//! the test sets (503 while "down", 200 once "up").

use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status it was answered with.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    status: u16,
    /// Bodies containing this are answered 400.
    refuse: Option<String>,
    got: Vec<Received>,
}

/// The receiver; stops when dropped.
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1:0` answering `status`.
    pub async fn start(status: u16) -> Result<Receiver> {
        let inner = Arc::new(Mutex::new(Inner { status, ..Inner::default() }));
        let app = axum::Router::new().fallback(receive).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Receiver { url, inner, stop: Some(tx) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers `status` from now on.
    pub fn answer(&self, status: u16) {
        self.lock().status = status;
    }

    /// Answers 400 to bodies containing `text`.
    pub fn refuse(&self, text: &str) {
        self.lock().refuse = Some(text.to_owned());
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().got.clone()
    }

    /// The requests answered 2xx so far, their bodies as JSON.
    pub fn delivered(&self) -> Vec<serde_json::Value> {
        self.lock()
            .got
            .iter()
            .filter(|r| r.status < 300)
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }

    /// Waits until `n` requests were answered 2xx, for at most `wait`.
    pub async fn wait_delivered(&self, n: usize, wait: std::time::Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let got = self.lock().got.iter().filter(|r| r.status < 300).count();
            if got >= n {
                return Ok(());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{got} of {n} deliveries after {wait:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
    let refused =
        inner.refuse.as_deref().is_some_and(|r| String::from_utf8_lossy(&body).contains(r));
    let status = if refused { 400 } else { inner.status };
    inner.got.push(Received { headers, body, status });
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

//! Shutdown as two small types (after mini-redis): one [`Shutdown`] owner that triggers it, any
//! number of [`ShutdownSignal`]s that observe it. Readiness reads the signal, the server waits on
//! it, so readiness is already 503 the moment the server stops accepting.

use tokio::sync::watch;

/// Triggers shutdown; held by whoever decides the process is stopping (the OS signal task, tests).
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: watch::Sender<bool>,
}

/// Observes shutdown; cheap to clone into every component that must react.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    pub fn new() -> (Self, ShutdownSignal) {
        let (sender, receiver) = watch::channel(false);
        (Self { sender }, ShutdownSignal { receiver })
    }

    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// Triggers on the first SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
    pub fn on_os_signal(self) {
        tokio::spawn(async move {
            os_signal().await;
            tracing::info!(
                "shutdown signal received: readiness is 503, draining in-flight requests"
            );
            self.trigger();
        });
    }
}

impl ShutdownSignal {
    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves once shutdown has been triggered (at once if it already was).
    pub async fn triggered(mut self) {
        // An error means every `Shutdown` is gone: nobody can trigger any more, so treat it as
        // triggered rather than hang forever.
        let _ = self.receiver.wait_for(|stopping| *stopping).await;
    }
}

async fn os_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM; only Ctrl-C stops the service");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signal_observes_trigger() {
        let (shutdown, signal) = Shutdown::new();
        assert!(!signal.is_triggered());
        let waiter = tokio::spawn(signal.clone().triggered());
        shutdown.trigger();
        waiter.await.expect("waiter finishes");
        assert!(signal.is_triggered());
    }
}

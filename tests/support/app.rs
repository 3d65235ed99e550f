//! The server run in-process for tests: [`Running::start`] loads a config
//! file the way `serve --config FILE --listen 127.0.0.1:0 --admin
//! 127.0.0.1:0` would, binds port 0 through `app::Bound`, and runs
//! `app::App` on its own tokio runtime in a dedicated thread, so async and
//! synchronous tests use it alike. The addresses come from the bound
//! sockets, not from a log. Dropping it cancels the shutdown token and
//! joins the thread. What needs the process itself (the CLI, signals, exit
//! codes, the log, resident memory) stays with `support::server`.

use std::net::SocketAddr;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use headless_dns::app::{App, Bound};
use tokio_util::sync::CancellationToken;

/// A running in-process server on 127.0.0.1, stopped on drop.
pub struct Running {
    pub dns: SocketAddr,
    pub admin: SocketAddr,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Running {
    /// Starts the config file at `config_path` on 127.0.0.1 port 0 (DNS and
    /// admin) and returns once the admin listener answers, which it does
    /// only after the first state is loaded (the embedded cluster applied;
    /// the Kubernetes source connected, not yet synced). Panics with the
    /// app's error if it does not start.
    pub fn start(config_path: &Path) -> Self {
        Self::try_start(config_path).unwrap_or_else(|e| panic!("the app did not start: {e}"))
    }

    /// [`Running::start`], returning the app's startup error (config,
    /// manifests, key files, sockets) as its text with causes.
    pub fn try_start(config_path: &Path) -> Result<Self, String> {
        let mut app = App::load(config_path).map_err(|e| format!("{e:#}"))?;
        let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
        app.config.dns.listen = vec![loopback];
        app.config.admin.listen = loopback;
        app.overrides.listen = vec![loopback];
        app.overrides.admin = Some(loopback);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let (addrs_tx, addrs_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("app".into())
            .spawn(move || -> Result<(), String> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the runtime: {e}"))?;
                runtime.block_on(async move {
                    let bound = match Bound::bind(&app.config).await {
                        Ok(bound) => bound,
                        Err(e) => {
                            let _ = addrs_tx.send(None);
                            return Err(format!("{e:#}"));
                        }
                    };
                    let addrs = (bound.dns_addrs()[0], bound.admin_addr().unwrap());
                    let _ = addrs_tx.send(Some(addrs));
                    app.run(bound, None, token)
                        .await
                        .map_err(|e| format!("{e:#}"))
                })
            })
            .expect("spawn the app thread");
        let addrs = addrs_rx.recv().ok().flatten();
        let Some((dns, admin)) = addrs else {
            return Err(thread
                .join()
                .unwrap_or_else(|_| Err("the app thread panicked".into()))
                .err()
                .unwrap_or_default());
        };
        let mut running = Self {
            dns,
            admin,
            shutdown,
            thread: Some(thread),
        };
        running.wait_until_serving()?;
        Ok(running)
    }

    /// Polls (at most 120 s: a loaded 2-core machine building a large zone
    /// in a debug build is slow) until the admin listener answers; fails
    /// at once with the app's error if it stopped.
    fn wait_until_serving(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                let result = self.thread.take().unwrap().join();
                return Err(match result {
                    Ok(Ok(())) => "the app stopped before it served".into(),
                    Ok(Err(e)) => e,
                    Err(_) => "the app thread panicked".into(),
                });
            }
            if answers(self.admin) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err("the admin listener did not answer within 120 s".into());
            }
        }
    }

    /// GET `path` on the admin server: (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        super::server::http_get(self.admin, path)
    }

    /// Cancels the shutdown token and waits for every task: the app's
    /// result (an error it stopped with, or a panic).
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), String> {
        self.shutdown.cancel();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err("the app thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let result = self.stop_and_join();
        if !std::thread::panicking() {
            result.expect("the app stopped cleanly");
        }
    }
}

/// Whether an HTTP request to `addr` gets any status line within 250 ms.
/// The listener is bound before the app starts, so the connection is
/// accepted by the kernel at once; the answer only comes once the admin
/// server runs.
fn answers(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(250)));
    if stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(stream.read(&mut head), Ok(n) if n > 0 && head.starts_with(b"HTTP/1.1"))
}

/// What a test needs of a running server, whichever way it runs: its
/// addresses, and its log for a failure message (the in-process server has
/// none of its own). Helpers shared by binary and in-process tests take
/// `&impl Serving`.
pub trait Serving {
    fn dns(&self) -> SocketAddr;
    fn admin(&self) -> SocketAddr;
    /// The log so far, for a failure message.
    fn log_text(&self) -> String;

    /// GET `path` on the admin server: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        super::server::http_get(self.admin(), path)
    }
}

impl Serving for Running {
    fn dns(&self) -> SocketAddr {
        self.dns
    }
    fn admin(&self) -> SocketAddr {
        self.admin
    }
    fn log_text(&self) -> String {
        "(run in-process: no log of its own)".into()
    }
}

impl Serving for super::server::Server {
    fn dns(&self) -> SocketAddr {
        self.dns
    }
    fn admin(&self) -> SocketAddr {
        self.admin
    }
    fn log_text(&self) -> String {
        self.log().join("\n")
    }
}

//! How fresh each watch is, seen from the HTTP client.
//!
//! kube-runtime's watcher hides the connection: it reconnects silently, and
//! swallows bookmarks, so a quiet but healthy watch and a dead one look the
//! same from its event stream. This tower layer sits in the kube client and
//! watches the responses instead: for each watch path it counts the
//! successful watch responses whose body is still open, and records when a
//! byte last arrived from the API server on that path (a list page, a watch
//! event, a bookmark). The source reads these [`Probe`]s to set
//! `headless_dns_source_stale_seconds`: a path with an open watch is current
//! up to when the server last answered at all (the source's heartbeat: an
//! open connection to a stopped server is silent, not current); one without
//! has been stale since it last heard from the server.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};

/// What the client has seen on one request path.
#[derive(Debug, Default)]
pub struct Probe {
    /// Successful watch responses on this path whose body is still open.
    open_watches: AtomicUsize,
    /// Unix seconds when a response or body frame last arrived; 0 = never.
    last_heard_unix: AtomicU64,
}

impl Probe {
    /// Whether a watch on this path is streaming right now.
    pub fn watching(&self) -> bool {
        self.open_watches.load(Ordering::Relaxed) > 0
    }

    /// Unix seconds up to which this path's state is confirmed: while a
    /// watch streams, up to `open_until` (now while the server answers the
    /// source's heartbeat, else its last answer) or the last byte on this
    /// path, whichever is later; else when this path last heard from the
    /// server.
    pub fn confirmed_unix(&self, open_until: u64) -> u64 {
        let heard = self.last_heard_unix.load(Ordering::Relaxed);
        if self.watching() {
            heard.max(open_until)
        } else {
            heard
        }
    }

    fn heard(&self) {
        self.last_heard_unix
            .store(crate::source::embedded::unix_now(), Ordering::Relaxed);
    }
}

/// Probes by request path (`/api/v1/namespaces/demo/services`). Fixed when
/// the client is built: the watches are known from the config.
#[derive(Clone, Debug, Default)]
pub struct LivenessLayer {
    probes: Arc<HashMap<String, Arc<Probe>>>,
}

impl LivenessLayer {
    pub fn new(probes: HashMap<String, Arc<Probe>>) -> Self {
        Self {
            probes: Arc::new(probes),
        }
    }
}

impl<S> tower::Layer<S> for LivenessLayer {
    type Service = Liveness<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Liveness {
            inner,
            probes: self.probes.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Liveness<S> {
    inner: S,
    probes: Arc<HashMap<String, Arc<Probe>>>,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Liveness<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = Response<Tracked<ResBody>>;
    type Error = S::Error;
    // Boxed: once per API request, far from the query path.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let probe = self.probes.get(request.uri().path()).cloned();
        let watch = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let probe = probe.filter(|_| response.status().is_success());
            Ok(response.map(|body| Tracked::new(body, probe, watch)))
        })
    }
}

/// A response body that reports to its path's probe.
pub struct Tracked<B> {
    inner: B,
    probe: Option<Arc<Probe>>,
    /// Counted in `open_watches` until the body ends or is dropped.
    counted: bool,
}

impl<B> Tracked<B> {
    fn new(inner: B, probe: Option<Arc<Probe>>, watch: bool) -> Self {
        let mut counted = false;
        if let Some(probe) = &probe {
            probe.heard();
            if watch {
                probe.open_watches.fetch_add(1, Ordering::Relaxed);
                counted = true;
            }
        }
        Self {
            inner,
            probe,
            counted,
        }
    }

    fn close(&mut self) {
        if std::mem::take(&mut self.counted)
            && let Some(probe) = &self.probe
        {
            probe.open_watches.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) => {
                if let Some(probe) = &this.probe {
                    probe.heard();
                }
            }
            Poll::Ready(Some(Err(_)) | None) => this.close(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn probe_for(path: &str) -> (LivenessLayer, Arc<Probe>) {
        let probe = Arc::new(Probe::default());
        let layer = LivenessLayer::new(HashMap::from([(path.to_owned(), probe.clone())]));
        (layer, probe)
    }

    #[tokio::test]
    async fn an_open_watch_is_current_and_a_closed_one_is_not() {
        use tower::{Layer, Service, ServiceExt};
        let (layer, probe) = probe_for("/api/v1/services");
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, std::io::Error>>(4);
        let mut rx = rx;
        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let body = std::sync::Mutex::new(Some(http_body_util::StreamBody::new(stream)));
        let inner = tower::service_fn(move |_request: Request<()>| {
            let body = body.lock().unwrap().take().unwrap();
            async move { Ok::<_, std::convert::Infallible>(Response::new(body)) }
        });
        let mut service = layer.layer(inner);
        assert!(!probe.watching());
        assert_eq!(probe.confirmed_unix(100), 0, "never heard of");
        let request = Request::get("/api/v1/services?&watch=true&resourceVersion=5")
            .body(())
            .unwrap();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        assert!(probe.watching());
        let opened = probe.confirmed_unix(0);
        assert!(opened > 0, "the response was heard");
        assert_eq!(probe.confirmed_unix(u64::MAX), u64::MAX, "answered since");
        let mut body = response.into_body();
        tx.send(Ok(Frame::data(bytes::Bytes::from_static(b"{}\n"))))
            .await
            .unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        drop(tx);
        assert!(body.frame().await.is_none());
        assert!(!probe.watching(), "the stream ended");
        let heard = probe.confirmed_unix(u64::MAX);
        assert!(heard > 0 && heard < u64::MAX, "{heard}");
    }

    #[tokio::test]
    async fn lists_and_failures_do_not_count_as_open_watches() {
        use tower::{Layer, Service, ServiceExt};
        let (layer, probe) = probe_for("/api/v1/services");
        let inner = tower::service_fn(|request: Request<()>| async move {
            let status = if request.uri().query() == Some("watch=true&x=forbidden") {
                403
            } else {
                200
            };
            let response = Response::builder()
                .status(status)
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            Ok::<_, std::convert::Infallible>(response)
        });
        let mut service = layer.layer(inner);
        for uri in [
            "/api/v1/services?limit=500",
            "/api/v1/services?watch=true&x=forbidden",
            "/api/v1/endpoints?watch=true",
        ] {
            let request = Request::get(uri).body(()).unwrap();
            let response = service.ready().await.unwrap().call(request).await.unwrap();
            assert!(!probe.watching(), "{uri}");
            drop(response);
        }
        assert!(probe.confirmed_unix(100) > 0, "the list was heard");
    }
}

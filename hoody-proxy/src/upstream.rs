//! Keep-alive HTTP/1.1 connections to upstreams (the services inside containers), one pool
//! per [`crate::Proxy`], which the binary runs once per serving thread: a request, its upstream
//! connection and the pool stay on one thread.
//!
//! A request takes the most recently used idle connection to its upstream address, or opens
//! one. The connection goes back when the response body has been read to its end; it is
//! closed instead when the body is dropped early (the upstream may still be sending) or when
//! the upstream said `Connection: close`. At most [`MAX_IDLE_PER_UPSTREAM`] idle connections
//! are kept per address, each for at most [`IDLE_TIMEOUT`]. A request that a reused connection
//! could not even start (the upstream had closed it meanwhile) is sent again on a new one.
//!
//! hyper-util's pooled client did the same with a shared checkout future, an absolute URI to
//! key on and a task spawned per request to hand the connection back; here it is a vector per
//! address and a body wrapper.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

/// Idle connections kept per upstream address.
pub const MAX_IDLE_PER_UPSTREAM: usize = 256;
/// An idle connection is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The pool (cheap to clone, shared).
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
    connect_timeout: Duration,
    sweeping: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<Incoming>,
    since: Instant,
}

impl Pool {
    /// An empty pool; connecting gives up after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        Pool {
            inner: Arc::new(PoolInner {
                idle: Mutex::new(HashMap::new()),
                connect_timeout,
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `req` (origin-form, its headers final) to `to`; the error says why in words.
    pub async fn send(
        &self,
        to: SocketAddr,
        mut req: Request<Incoming>,
    ) -> Result<Response<PooledBody>, String> {
        if let Some(mut sender) = self.checkout(to) {
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.wrap(to, sender, resp)),
                Err(mut e) => match e.take_message() {
                    // Never started: the upstream closed the idle connection meanwhile.
                    Some(back) => req = back,
                    None => return Err(format!("{to}: {}", e.into_error())),
                },
            }
        }
        // Boxed: opening a connection is the rare path, and would make every request's
        // future as big as a handshake.
        let mut sender = Box::pin(self.connect(to)).await?;
        match sender.send_request(req).await {
            Ok(resp) => Ok(self.wrap(to, sender, resp)),
            Err(e) => Err(format!("{to}: {e}")),
        }
    }

    fn wrap(
        &self,
        to: SocketAddr,
        sender: SendRequest<Incoming>,
        resp: Response<Incoming>,
    ) -> Response<PooledBody> {
        resp.map(|inner| PooledBody {
            inner,
            ended: false,
            back: Some((self.inner.clone(), to, sender)),
        })
    }

    /// The most recently used idle connection to `to` that can take a request now.
    fn checkout(&self, to: SocketAddr) -> Option<SendRequest<Incoming>> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&to)?;
        // Handed back before their connection saw the response end: usable in a moment, but
        // not by this request. A few are looked past, then a new connection is cheaper.
        let mut not_yet = Vec::new();
        let found = loop {
            let Some(c) = list.pop() else {
                break None;
            };
            if c.since.elapsed() > IDLE_TIMEOUT || c.sender.is_closed() {
                continue;
            }
            if c.sender.is_ready() {
                break Some(c.sender);
            }
            not_yet.push(c);
            if not_yet.len() == 4 {
                break None;
            }
        };
        for c in not_yet {
            list.insert(0, c);
        }
        found
    }

    async fn connect(&self, to: SocketAddr) -> Result<SendRequest<Incoming>, String> {
        let stream = match tokio::time::timeout(
            self.inner.connect_timeout,
            tokio::net::TcpStream::connect(to),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("{to}: {e}")),
            Err(_) => return Err(format!("{to}: connect timed out")),
        };
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("{to}: {e}"))?;
        tokio::spawn(conn);
        if !self.inner.sweeping.swap(true, Ordering::AcqRel) {
            tokio::spawn(sweep(Arc::downgrade(&self.inner)));
        }
        Ok(sender)
    }
}

impl PoolInner {
    fn give_back(&self, to: SocketAddr, sender: SendRequest<Incoming>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(to).or_default();
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

/// Closes idle connections past [`IDLE_TIMEOUT`] (or closed by their upstream), every so often,
/// for as long as the pool lives.
async fn sweep(pool: Weak<PoolInner>) {
    let mut every = tokio::time::interval(IDLE_TIMEOUT / 3);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|_, list| {
            list.retain(|c| c.since.elapsed() <= IDLE_TIMEOUT && !c.sender.is_closed());
            !list.is_empty()
        });
    }
}

/// An upstream response body; its connection goes back to the pool when it has been read to
/// the end.
pub struct PooledBody {
    inner: Incoming,
    ended: bool,
    back: Option<(Arc<PoolInner>, SocketAddr, SendRequest<Incoming>)>,
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.ended = true;
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

impl Drop for PooledBody {
    fn drop(&mut self) {
        if let Some((pool, to, sender)) = self.back.take()
            && (self.ended || self.inner.is_end_stream())
        {
            pool.give_back(to, sender);
        }
    }
}

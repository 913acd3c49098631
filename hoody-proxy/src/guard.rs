//! The slow-client guard: a connection with no request in flight is closed once it has been
//! so for the header timeout, whether it is sending a request head too slowly (slowloris) or
//! sending nothing at all (an idle keep-alive connection). This is nginx's
//! `client_header_timeout` and `keepalive_timeout` in one, per connection.
//!
//! It costs one timer per connection, not one per request. Each request holds a [`Ticket`]
//! from the moment its head is parsed until its response body has been sent (or dropped); the
//! last ticket to go stamps the connection idle (an atomic store). The connection's timer is
//! armed once, at accept, and reset lazily: when it fires, [`watch`] reads the stamp and either
//! closes the connection or sleeps again until the stamp's deadline. hyper's own
//! `header_read_timeout` allocated, registered and cancelled a timer for every request head,
//! which cost a fifth of the proxy's throughput.
//!
//! Closing is graceful first (an HTTP/2 GOAWAY; an idle HTTP/1 connection just closes); a
//! connection still open [`GRACE`] later is dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::time::Instant;

/// How long a connection told to close may take to do so before it is dropped.
pub const GRACE: Duration = Duration::from_secs(5);

/// One connection's state: requests in flight, and since when it has had none.
#[derive(Debug)]
pub struct ConnGuard {
    opened: Instant,
    in_flight: AtomicU32,
    /// Milliseconds after `opened` when the last request ended (0: none has yet).
    idle_since_ms: AtomicU64,
    /// Told to close (a connection loop that waits for a request head looks at it).
    closing: AtomicBool,
}

impl ConnGuard {
    /// A guard for a connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(ConnGuard {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
        })
    }

    /// Tells the connection to close: its loop stops at the next request head it waits for.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// Whether the connection was told to close.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Marks a request in flight until the ticket is dropped.
    pub fn ticket(self: &Arc<Self>) -> Ticket {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Ticket(self.clone())
    }

    /// When the connection may be closed, if it stays idle: `None` while a request is in
    /// flight.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        Some(self.opened + since + timeout)
    }
}

/// A request in flight on a connection (see [`ConnGuard::ticket`]).
#[derive(Debug)]
pub struct Ticket(Arc<ConnGuard>);

impl Drop for Ticket {
    fn drop(&mut self) {
        // Stamp first: a watcher that sees no request in flight must see this request's end.
        self.0
            .idle_since_ms
            .store(self.0.now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Drives `conn` to completion, closing it when `guard` says it has been idle for `timeout`:
/// `shutdown` is called once (graceful close), and the connection is dropped if it is still
/// open [`GRACE`] later.
pub async fn watch<C, F>(conn: Pin<&mut C>, guard: &ConnGuard, timeout: Duration, shutdown: F)
where
    C: Future,
    F: FnOnce(Pin<&mut C>),
{
    let mut conn = conn;
    let mut shutdown = Some(shutdown);
    let timer = tokio::time::sleep(timeout);
    tokio::pin!(timer);
    std::future::poll_fn(move |cx| {
        if conn.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        while timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            match guard.idle_deadline(timeout) {
                // Busy: look again a timeout from now (at most one wakeup per timeout).
                None => timer.as_mut().reset(now + timeout),
                // Became busy and idle again since the timer was set: sleep until then.
                Some(deadline) if deadline > now => timer.as_mut().reset(deadline),
                Some(_) => match shutdown.take() {
                    Some(f) => {
                        f(conn.as_mut());
                        if conn.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(());
                        }
                        timer.as_mut().reset(now + GRACE);
                    }
                    None => return Poll::Ready(()),
                },
            }
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_the_timeout() {
        let guard = ConnGuard::new();
        let conn = std::future::pending::<()>();
        tokio::pin!(conn);
        let started = Instant::now();
        let shut = std::cell::Cell::new(false);
        watch(conn, &guard, Duration::from_secs(30), |_| shut.set(true)).await;
        assert!(shut.get(), "asked to close gracefully first");
        let took = started.elapsed();
        assert!(took >= Duration::from_secs(30) + GRACE, "{took:?}");
        assert!(took < Duration::from_secs(31) + GRACE, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_keeps_it_open_and_its_end_restarts_the_clock() {
        let guard = ConnGuard::new();
        let ticket = guard.ticket();
        let started = Instant::now();
        let g = guard.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(100)).await;
            drop(ticket);
            drop(g);
        });
        let conn = std::future::pending::<()>();
        tokio::pin!(conn);
        watch(conn, &guard, Duration::from_secs(30), |_| {}).await;
        let took = started.elapsed();
        // 100 s busy, then 30 s idle, then the grace period.
        assert!(took >= Duration::from_secs(130) + GRACE, "{took:?}");
        assert!(took < Duration::from_secs(131) + GRACE, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_ends_by_itself_is_not_held() {
        let guard = ConnGuard::new();
        let conn = tokio::time::sleep(Duration::from_secs(3));
        tokio::pin!(conn);
        let started = Instant::now();
        watch(conn, &guard, Duration::from_secs(30), |_| {}).await;
        assert!(started.elapsed() < Duration::from_secs(4));
    }
}

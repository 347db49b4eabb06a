//! The admin server's connections: its own accept loop on an arbiter of its own, so that what a
//! client may cost is bounded here rather than by the operating system.
//!
//! - At most `max_connections` are held; when one more arrives, the oldest with no request waiting
//!   for its answer is closed (else the oldest). A flood of connections that send nothing (or a
//!   byte a second) therefore evicts itself, a probe of `/health/live` always gets through (it is
//!   the newest), and a request being answered is not cut off by idle connections.
//! - A request's head must arrive within `request_timeout` (actix-http's client request timeout),
//!   and the whole request, body included, must be read and answered within it too (a middleware
//!   answers 408 and closes the connection). Idle connections are closed after `keep_alive`.
//! - A connection reads one request at a time ([`super::pipeline`]): a client that pipelines
//!   thousands of requests in one write has them decoded one at a time, each answered as it asked.
//! - The cap is kept below half the process's file-descriptor limit, so the admin server never
//!   takes the descriptors the host needs; if `accept` fails anyway (`EMFILE`), the loop pauses
//!   briefly and says so at most once a second instead of spinning.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_http::{HttpService, KeepAlive};
use actix_service::{
    apply_fn_factory, map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt,
};
use actix_web::dev::AppConfig;
use tokio::sync::oneshot;

use super::pipeline::{Answers, Framing, READ_AT_ONCE};
use super::State;
use crate::deployment::AdminLimits;
use crate::tree::AdminConnections;

/// A running admin server.
pub(crate) struct AdminServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<oneshot::Receiver<()>>,
    arbiter: actix::Arbiter,
}

impl AdminServer {
    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection, and ends the server's arbiter.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), stopped).await;
        }
        self.arbiter.stop();
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            self.arbiter.stop();
        }
    }
}

/// The connection cap in force: the configured one, at most half the descriptor limit.
pub(crate) fn connection_cap(configured: usize) -> usize {
    match watchkeeper_actors::process::fd_limit() {
        Some(limit) => configured.min((limit / 2).max(1) as usize),
        None => configured,
    }
}

/// What a request's handling may ask of its connection: to be closed once its answer is out
/// (a 408 to a body that never ends must not leave the connection waiting for the rest of it).
#[derive(Clone, Default)]
pub(crate) struct CloseConnection(Rc<tokio::sync::Notify>);

impl CloseConnection {
    /// Closes the connection shortly (time for the answer to be written).
    pub(crate) fn close(&self) {
        self.0.notify_one();
    }
}

/// A TCP connection with the close signal its requests can reach (as connection data), reading
/// one request at a time ([`super::pipeline`]).
struct Conn {
    stream: tokio::net::TcpStream,
    close: CloseConnection,
    framing: Framing,
    answers: Answers,
    ahead: Ahead,
}

/// Bytes read from the socket and not yet given to actix-http: at most [`READ_AT_ONCE`] at a time,
/// so pipelined requests that arrive together cost one read of the socket for up to 512 bytes of
/// them, and the end of the request being read is found in them. Made when the first bytes
/// arrive (a connection that sends nothing holds none).
#[derive(Default)]
struct Ahead {
    bytes: Option<Box<[u8; READ_AT_ONCE]>>,
    start: usize,
    end: usize,
}

impl Ahead {
    fn at_hand(&self) -> &[u8] {
        self.bytes
            .as_deref()
            .map_or(&[], |b| &b[self.start..self.end])
    }

    /// Reads what the socket has, once it has something (the end of the stream leaves nothing at
    /// hand).
    fn fill(
        &mut self,
        stream: &tokio::net::TcpStream,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        loop {
            std::task::ready!(stream.poll_read_ready(cx))?;
            let bytes = self
                .bytes
                .get_or_insert_with(|| Box::new([0; READ_AT_ONCE]));
            match stream.try_read(&mut bytes[..]) {
                Ok(read) => {
                    (self.start, self.end) = (0, read);
                    return std::task::Poll::Ready(Ok(()));
                }
                // readiness was stale: polling it again waits for the next
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return std::task::Poll::Ready(Err(e)),
            }
        }
    }

    fn pass(&mut self, n: usize) {
        self.start += n;
    }
}

impl tokio::io::AsyncRead for Conn {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let conn = self.get_mut();
        if conn.framing.refused() {
            // Nothing after a request actix-http refuses is given to it: the end of the stream,
            // as actix-http answers it and closes the connection.
            return std::task::Poll::Ready(Ok(()));
        }
        if conn.framing.may_wait() && conn.answers.must_wait(cx.waker()) {
            return std::task::Poll::Pending;
        }
        if conn.ahead.at_hand().is_empty() {
            if let Some(limit) = conn.framing.next_read() {
                // the rest of a body of known length: straight from the socket
                let mut part = buf.take(limit);
                let start = part.filled().as_ptr();
                std::task::ready!(std::pin::Pin::new(&mut conn.stream).poll_read(cx, &mut part))?;
                // The stream read into the part of `buf` it was given (not a buffer of its own).
                assert_eq!(start, part.filled().as_ptr());
                let read = part.filled().len();
                conn.answers.read(conn.framing.read(part.filled()));
                // SAFETY: the read just filled the `read` bytes that follow `buf`'s filled part.
                unsafe { buf.assume_init(read) };
                buf.advance(read);
                return std::task::Poll::Ready(Ok(()));
            }
            std::task::ready!(conn.ahead.fill(&conn.stream, cx))?;
        }
        let at_hand = conn.ahead.at_hand();
        if at_hand.is_empty() {
            // the end of the stream
            return std::task::Poll::Ready(Ok(()));
        }
        let blank = at_hand
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        if blank > 0 && conn.framing.between_requests() {
            // Empty lines between requests are passed over here: actix-http would hold them as
            // the start of a head, and no keep-alive timer runs while it does. The connection
            // then yields to the others before it reads on.
            conn.ahead.pass(blank);
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        // Up to where the request being read ends, in the bytes at hand (of a body of known
        // length, as much of it as is at hand).
        let end = match conn.framing.next_read() {
            Some(limit) => limit.min(at_hand.len()),
            None => conn.framing.request_end(at_hand),
        };
        let given = end.min(buf.remaining());
        buf.put_slice(&at_hand[..given]);
        conn.answers.read(conn.framing.read(&at_hand[..given]));
        conn.ahead.pass(given);
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Conn {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The connections held, oldest first, each with the requests it has read and answered.
#[derive(Default)]
struct Held {
    next: u64,
    open: BTreeMap<u64, (tokio::task::AbortHandle, Answers)>,
}

impl Held {
    /// Closes one connection to make room: the oldest with no request waiting for its answer (a
    /// connection that is idle, or has sent part of a head), else the oldest.
    fn evict(&mut self) -> bool {
        let id = self
            .open
            .iter()
            .find(|(_, (_, answers))| answers.unanswered() == 0)
            .or_else(|| self.open.first_key_value())
            .map(|(id, _)| *id);
        let Some((connection, _)) = id.and_then(|id| self.open.remove(&id)) else {
            return false;
        };
        connection.abort();
        true
    }
}

/// Serves the admin app on `listener` from an arbiter of its own.
pub(crate) fn serve(
    listener: std::net::TcpListener,
    limits: AdminLimits,
    data: State,
    counters: Arc<AdminConnections>,
) -> std::io::Result<AdminServer> {
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let cap = connection_cap(limits.max_connections);
    if cap < limits.max_connections {
        tracing::warn!(
            configured = limits.max_connections,
            cap,
            "Admin connections capped at half the file-descriptor limit"
        );
    }
    let (stop_tx, stop_rx) = oneshot::channel();
    let (stopped_tx, stopped_rx) = oneshot::channel();
    let arbiter = actix::Arbiter::new();
    let started = arbiter.spawn_fn(move || {
        actix::spawn(async move {
            accept_loop(listener, addr, cap, limits, data, counters, stop_rx).await;
            let _ = stopped_tx.send(());
        });
    });
    if !started {
        return Err(std::io::Error::other(
            "the admin server's arbiter is not running",
        ));
    }
    Ok(AdminServer {
        addr,
        stop: Some(stop_tx),
        stopped: Some(stopped_rx),
        arbiter,
    })
}

async fn accept_loop(
    listener: std::net::TcpListener,
    addr: SocketAddr,
    cap: usize,
    limits: AdminLimits,
    data: State,
    counters: Arc<AdminConnections>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "Admin server cannot use its socket");
            return;
        }
    };
    // A service built by actix-http keeps its `Date` header fresh with a timer that wakes its
    // thread twice a second for as long as the service lives. So the service is built when a
    // connection arrives and none is open, held by the connections, and dropped with the last of
    // them: an idle admin server wakes nobody. It is built once here too, so that an application
    // that cannot start is said at once.
    let build = || {
        HttpService::build()
            .keep_alive(KeepAlive::Timeout(limits.keep_alive))
            .client_request_timeout(limits.request_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            .expect(actix_service::fn_service({
                let data = data.clone();
                move |req| super::auth::expect_token(data.clone(), req)
            }))
            .on_connect_ext(|conn: &Conn, data: &mut actix_http::Extensions| {
                data.insert(conn.close.clone());
                data.insert(conn.answers.clone());
            })
            .h1(apply_fn_factory(
                map_config(
                    super::app(data.clone())
                        .into_factory()
                        .map_err(|e: actix_web::Error| e.error_response()),
                    |_| AppConfig::default(),
                ),
                |req: actix_http::Request, app| {
                    // Every answer lets the connection read on.
                    let answers = req.conn_data::<Answers>().cloned();
                    // actix-http closes the connection after an answer given before the body it
                    // was sent with (by its length) is decoded, as a refusal without the token
                    // is. Yielding once lets it decode a body already read with the head first.
                    let sized_body = req
                        .head()
                        .headers
                        .contains_key(actix_http::header::CONTENT_LENGTH);
                    let answer = app.call(req);
                    async move {
                        if sized_body {
                            tokio::task::yield_now().await;
                        }
                        let answer = answer.await;
                        if let Some(answers) = answers {
                            answers.answered();
                        }
                        answer
                    }
                },
            ))
            .new_service(())
    };
    let Ok(first) = build().await else {
        tracing::error!("Admin server: the application did not start");
        return;
    };
    drop(first);
    let mut serving = std::rc::Weak::new();
    let held: Rc<RefCell<Held>> = Rc::default();
    let mut last_complaint: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                if last_complaint.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(error = %e, "Admin server cannot accept a connection");
                    last_complaint = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let service = match serving.upgrade() {
            Some(service) => service,
            None => match build().await {
                Ok(service) => {
                    let service = Rc::new(service);
                    serving = Rc::downgrade(&service);
                    service
                }
                Err(()) => {
                    counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                    if last_complaint.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        tracing::error!(%peer, "Admin server: the application did not start");
                        last_complaint = Some(Instant::now());
                    }
                    continue;
                }
            },
        };
        let id = {
            let mut h = held.borrow_mut();
            while h.open.len() >= cap {
                if !h.evict() {
                    break;
                }
                counters.evicted.fetch_add(1, Ordering::Relaxed);
                counters.open.fetch_sub(1, Ordering::Relaxed);
            }
            h.next += 1;
            h.next
        };
        let _ = stream.set_nodelay(true);
        counters.open.fetch_add(1, Ordering::Relaxed);
        let close = CloseConnection::default();
        let closing = close.0.clone();
        let answers = Answers::default();
        let conn = Conn {
            stream,
            close,
            framing: Framing::default(),
            answers: answers.clone(),
            ahead: Ahead::default(),
        };
        let connection = service.call((conn, Some(peer)));
        let (held_by_task, counters_by_task) = (held.clone(), counters.clone());
        let task = actix::spawn(async move {
            // Held until the connection ends: the service lives while any connection does.
            let _service = service;
            tokio::select! {
                _ = connection => {}
                _ = async {
                    closing.notified().await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                } => {}
            }
            if held_by_task.borrow_mut().open.remove(&id).is_some() {
                counters_by_task.open.fetch_sub(1, Ordering::Relaxed);
            }
        });
        held.borrow_mut()
            .open
            .insert(id, (task.abort_handle(), answers));
        // Every new connection is read once before the next is accepted: a request that arrived
        // whole (a probe) is answered before a burst behind it can evict it.
        tokio::task::yield_now().await;
    }
    let open = std::mem::take(&mut held.borrow_mut().open);
    counters
        .open
        .fetch_sub(open.len() as u64, Ordering::Relaxed);
    for (_, (connection, _)) in open {
        connection.abort();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Four requests in one write, laid out across the 512-byte reads: a head ending at byte 511,
    /// empty lines across byte 512, a body partly read ahead and partly read straight from the
    /// socket, a chunked body whose chunk crosses the next read. Read in pieces of 97 bytes, with
    /// each request answered once its head is in, the connection gives every byte but the empty
    /// lines, in order, never a piece past the end of a request.
    #[tokio::test]
    async fn a_connection_gives_each_request_across_the_bytes_it_reads_ahead() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let answers = Answers::default();
        let mut conn = Conn {
            stream,
            close: CloseConnection::default(),
            framing: Framing::default(),
            answers: answers.clone(),
            ahead: Ahead::default(),
        };
        let head = |padding: usize| {
            format!(
                "GET /health HTTP/1.1\r\nX-Padding: {}\r\n\r\n",
                "p".repeat(padding)
            )
        };
        let first = head(511 - head(0).len());
        assert_eq!(first.len(), 511);
        let body = "b".repeat(1000);
        let second = format!("POST /x HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{body}");
        let chunk = "c".repeat(600);
        let third = format!(
            "POST /y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n0\r\n\r\n"
        );
        let fourth = head(3);
        let requests = [first, second, third, fourth];
        let sent = format!(
            "{}\r\n\r\n{}{}{}",
            requests[0], requests[1], requests[2], requests[3]
        );
        client.write_all(sent.as_bytes()).await.unwrap();
        client.shutdown().await.unwrap();

        let ends: Vec<usize> = requests
            .iter()
            .scan(0, |at, r| {
                *at += r.len();
                Some(*at)
            })
            .collect();
        let (mut given, mut answered) = (Vec::new(), 0);
        let mut piece = [0u8; 97];
        loop {
            let read = conn.read(&mut piece).await.unwrap();
            if read == 0 {
                break;
            }
            let (from, to) = (given.len(), given.len() + read);
            assert!(
                !ends.iter().any(|&end| from < end && end < to),
                "a read of {from}..{to} crosses the end of a request ({ends:?})"
            );
            given.extend_from_slice(&piece[..read]);
            while answers.unanswered() > 0 {
                answers.answered();
                answered += 1;
            }
        }
        assert_eq!(String::from_utf8(given).unwrap(), requests.concat());
        assert_eq!(answered, 4);
    }
}

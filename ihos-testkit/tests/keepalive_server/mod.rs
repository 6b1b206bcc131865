//! A small HTTP/1.1 server on 127.0.0.1 for the keep-alive client tests, behaving as nginx
//! does towards its clients where it matters to them:
//! - `keepalive_requests` (nginx default 1000): the Nth response on a connection carries
//!   `Connection: close` and the connection is closed after it.
//! - A graceful reload ([`Server::reload`]): nginx's old workers close their idle keep-alive
//!   connections at once (`ngx_close_idle_connections`, a plain close: FIN) and a busy one
//!   after its response; new connections go to the new workers.
//! - `keepalive_timeout` (nginx default 75 s) is an idle close too; [`Stale`] makes that close
//!   happen at chosen moments instead of after 75 s: right after a response, or right when the
//!   next request arrives (the worst instant for the client).
//!
//! And as a hostile server would, to catch a client that frames responses wrongly: responses
//! in tiny pieces with pauses, chunked with random chunk sizes, extensions and trailers,
//! bodies that contain `0\r\n\r\n` and `HTTP/1.1 200 OK`, interim `100 Continue` responses.
//!
//! Every response carries `X-Seq` (the server's request number, from 1) and a body that is
//! [`body_for`] of it, so a test can check that each response was read whole and alone.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How a connection is closed while idle (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// Right after the response, without `Connection: close` (the client cannot know).
    AfterResponse,
    /// 50 ms after the response, with a reset (`SO_LINGER` 0): the client's next write
    /// fails, its request is not sent.
    ResetAfterResponse,
    /// When the next request has arrived, without reading it: a reset.
    ResetOnNextRequest,
    /// When the next request has arrived, after reading it, without answering: EOF.
    EofOnNextRequest,
}

/// How bodies are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Both, in turn on each connection.
    Alternate,
}

/// What the server does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// nginx's `keepalive_requests`.
    pub keepalive_requests: Option<u64>,
    /// After this many responses on a connection, close it while idle, this way.
    pub close_idle: Option<(u64, Stale)>,
    /// Body framing.
    pub framing: Framing,
    /// Responses in pieces of 1-3 bytes with short pauses.
    pub dribble: bool,
    /// Pause before each response.
    pub delay: Duration,
    /// Answer `HTTP/1.0` without `Connection: keep-alive` (the connection stays open: a
    /// client that reused it would hang).
    pub http10: bool,
    /// Send `100 Continue` before every third response.
    pub interim: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            keepalive_requests: None,
            close_idle: None,
            framing: Framing::Alternate,
            dribble: false,
            delay: Duration::ZERO,
            http10: false,
            interim: false,
        }
    }
}

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The connection (numbered from 0 in accept order).
    pub conn: u64,
    /// `GET` or `POST`.
    pub method: String,
    /// The head, as text.
    pub head: String,
    /// Whether it was answered.
    pub answered: bool,
}

/// What the server saw and did.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections it closed as [`Plan::close_idle`] or a reload says, with a request
    /// arriving (`*OnNextRequest`) or not.
    pub stale_closes: AtomicU64,
    /// Every request read.
    pub seen: Mutex<Vec<Seen>>,
    seq: AtomicU64,
}

impl Stats {
    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests read so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A running server.
pub struct Server {
    /// Its address.
    pub addr: std::net::SocketAddr,
    /// What it saw.
    pub stats: Arc<Stats>,
    reload: watch::Sender<u64>,
}

impl Server {
    /// Starts a server following `plan` on 127.0.0.1.
    pub async fn start(plan: Plan) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let (reload, _) = watch::channel(0u64);
        let (st, rl) = (stats.clone(), reload.clone());
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let conn = st.connections.fetch_add(1, Ordering::SeqCst);
                let (plan, st, rx) = (plan.clone(), st.clone(), rl.subscribe());
                tokio::spawn(serve(s, conn, plan, st, rx));
            }
        });
        Server {
            addr,
            stats,
            reload,
        }
    }

    /// A graceful nginx reload: every connection accepted before it is closed, at once if
    /// idle, else after its current response.
    pub fn reload(&self) {
        self.reload.send_modify(|g| *g += 1);
    }
}

/// The body of the response to request `seq`: varied lengths, and text that a client
/// framing by searching would take for a chunk end or the next response.
pub fn body_for(seq: u64) -> Vec<u8> {
    let mut b = format!("seq={seq};").into_bytes();
    for i in 0..(seq % 7) * 9 {
        b.extend_from_slice(if i % 2 == 0 {
            b"0\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\n"
        });
    }
    b
}

enum Next {
    Request(String, Vec<u8>),
    Eof,
    ReloadWhileIdle,
}

/// Reads the next request (head and `Content-Length` body) from `s`, with what `buf` holds.
/// A reload closes the connection if it is idle: no byte of a next request, and it has
/// answered one already (nginx closes a connection still waiting for its first request
/// too, but a client writes that one right after connecting; the tests' one-request-per-
/// connection clients would fail in that microsecond window, which is not what they test).
async fn read_request(
    s: &mut TcpStream,
    buf: &mut Vec<u8>,
    reload: &mut ReloadWatch,
    answered: u64,
) -> Next {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..h]).to_string();
            let len: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.trim().parse().unwrap());
            if buf.len() >= h + 4 + len {
                let body = buf[h + 4..h + 4 + len].to_vec();
                buf.drain(..h + 4 + len);
                return Next::Request(head, body);
            }
        }
        let idle = buf.is_empty() && answered > 0;
        tokio::select! {
            r = s.read(&mut chunk) => match r {
                Ok(0) | Err(_) => return Next::Eof,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            _ = reload.fired(), if idle => return Next::ReloadWhileIdle,
        }
    }
}

/// Whether a reload happened since the connection was accepted.
struct ReloadWatch {
    rx: watch::Receiver<u64>,
    at_accept: u64,
}

impl ReloadWatch {
    fn happened(&self) -> bool {
        *self.rx.borrow() != self.at_accept
    }

    async fn fired(&mut self) {
        let at = self.at_accept;
        if self.rx.wait_for(|g| *g != at).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn serve(
    mut s: TcpStream,
    conn: u64,
    plan: Plan,
    stats: Arc<Stats>,
    rx: watch::Receiver<u64>,
) {
    let _ = s.set_nodelay(true);
    let at_accept = *rx.borrow();
    let mut reload = ReloadWatch { rx, at_accept };
    let mut buf = Vec::new();
    let mut answered = 0u64;
    loop {
        if let Some((after, how)) = plan.close_idle {
            if answered == after {
                close_idle(s, conn, how, &mut buf, &stats, &mut reload).await;
                return;
            }
        }
        let (head, _body) = match read_request(&mut s, &mut buf, &mut reload, answered).await {
            Next::Request(h, b) => (h, b),
            Next::Eof => return,
            Next::ReloadWhileIdle => {
                // nginx: an old worker closes its idle keep-alive connections.
                stats.stale_closes.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        let method = head.split(' ').next().unwrap_or("").to_string();
        let seq = stats.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let idx = {
            let mut seen = stats.seen.lock().unwrap();
            seen.push(Seen {
                conn,
                method,
                head,
                answered: false,
            });
            seen.len() - 1
        };
        answered += 1;
        let last = plan.keepalive_requests == Some(answered) || plan.http10;
        let chunked = match plan.framing {
            Framing::Length => false,
            Framing::Chunked => true,
            Framing::Alternate => answered % 2 == 0,
        };
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        let bytes = response(&plan, seq, conn, chunked, last && !plan.http10);
        if write(&mut s, &bytes, plan.dribble).await.is_err() {
            return;
        }
        stats.seen.lock().unwrap()[idx].answered = true;
        if plan.http10 {
            // An HTTP/1.0 response without keep-alive ends the exchange; the server keeps
            // the socket open (a client that reused it would wait for nothing).
            let _ = read_request(&mut s, &mut buf, &mut reload, 0).await;
            return;
        }
        if last {
            return;
        }
        if reload.happened() {
            // A busy connection of an old worker: closed after its response.
            stats.stale_closes.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}

async fn close_idle(
    mut s: TcpStream,
    conn: u64,
    how: Stale,
    buf: &mut Vec<u8>,
    stats: &Stats,
    reload: &mut ReloadWatch,
) {
    match how {
        Stale::AfterResponse => {}
        Stale::ResetAfterResponse => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = s.set_zero_linger();
        }
        Stale::ResetOnNextRequest => {
            // Wait for the request's first bytes, then close without reading them: with
            // unread data (and no linger) the kernel answers with a reset.
            match s.peek(&mut [0u8; 1]).await {
                Ok(n) if n > 0 => {}
                _ => return, // the client went away
            }
            let _ = s.set_zero_linger();
        }
        Stale::EofOnNextRequest => match read_request(&mut s, buf, reload, 0).await {
            Next::Request(head, _) => {
                let method = head.split(' ').next().unwrap_or("").to_string();
                stats.seen.lock().unwrap().push(Seen {
                    conn,
                    method,
                    head,
                    answered: false,
                });
            }
            Next::Eof | Next::ReloadWhileIdle => return,
        },
    }
    stats.stale_closes.fetch_add(1, Ordering::SeqCst);
    drop(s);
}

fn response(plan: &Plan, seq: u64, conn: u64, chunked: bool, close: bool) -> Vec<u8> {
    let body = body_for(seq);
    let mut r = Vec::new();
    if plan.interim && seq % 3 == 0 {
        r.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let version = if plan.http10 { "HTTP/1.0" } else { "HTTP/1.1" };
    r.extend_from_slice(
        format!(
            "{version} 200 OK\r\nServer: nginx\r\nX-Seq: {seq}\r\nX-Ihos-Version: {}\r\nX-Ihos-Instance: conn-{conn}\r\n",
            if chunked { "chunked" } else { "length" }
        )
        .as_bytes(),
    );
    if close {
        r.extend_from_slice(b"Connection: close\r\n");
    }
    if chunked {
        r.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        let mut rest = &body[..];
        let mut k = seq;
        while !rest.is_empty() {
            k = k
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = ((k >> 33) % 9 + 1).min(rest.len() as u64) as usize;
            let ext = if k % 3 == 0 { ";x=y" } else { "" };
            r.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
            r.extend_from_slice(&rest[..n]);
            r.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        r.extend_from_slice(if seq % 2 == 0 {
            b"0\r\nX-Trailer: t\r\n\r\n"
        } else {
            b"0\r\n\r\n"
        });
    } else {
        r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        r.extend_from_slice(&body);
    }
    r
}

async fn write(s: &mut TcpStream, bytes: &[u8], dribble: bool) -> std::io::Result<()> {
    if !dribble {
        return s.write_all(bytes).await;
    }
    // Pieces of 1-3 bytes, each its own segment (no delay); a pause now and then so the
    // client sees partial heads, chunk sizes and bodies.
    for (i, piece) in bytes.chunks(3).enumerate() {
        let n = 1 + i % piece.len();
        s.write_all(&piece[..n]).await?;
        if i % 16 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
        s.write_all(&piece[n..]).await?;
    }
    Ok(())
}

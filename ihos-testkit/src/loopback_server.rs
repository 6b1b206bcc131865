//! A server on a loopback address, one thread per connection, stopped when dropped: the
//! fake TeamCity and the robot receiver speak their HTTP on it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub(crate) struct LoopbackServer {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackServer {
    /// Listens on `ip` (a free port) and hands each connection to `serve` on its own thread.
    pub(crate) fn start(
        ip: &str,
        serve: impl Fn(TcpStream) + Send + Sync + 'static,
    ) -> std::io::Result<LoopbackServer> {
        let listener = TcpListener::bind((ip, 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let serve = Arc::new(serve);
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let serve = serve.clone();
                    std::thread::spawn(move || serve(conn));
                }
            })
        };
        Ok(LoopbackServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

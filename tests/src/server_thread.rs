//! A test server on its own thread and Tokio runtime, so that a test may block on a child
//! process (the `ferry` binary) while the server keeps answering. Stopped and joined on drop.

use std::future::Future;
use std::net::SocketAddr;

use tokio::sync::oneshot;

/// A running server thread.
#[derive(Debug)]
pub struct ServerThread {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerThread {
    /// Binds `bind` (e.g. `127.0.0.1:0`) on a new thread named `name` and runs
    /// `serve(listener, stop)` there until it returns; `stop` resolves when the handle drops.
    pub fn start<F, Fut>(name: &str, bind: &str, serve: F) -> ServerThread
    where
        F: FnOnce(tokio::net::TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let bind = bind.to_owned();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind(bind.as_str())
                        .await
                        .expect("bind");
                    addr_tx
                        .send(listener.local_addr().expect("addr"))
                        .expect("report addr");
                    serve(listener, stop_rx).await;
                });
            })
            .expect("server thread");
        ServerThread {
            addr: addr_rx.recv().expect("server address"),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

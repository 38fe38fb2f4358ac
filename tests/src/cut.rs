//! A TCP relay whose network can be cut: a process connected through it loses its
//! connections, and cannot make new ones, until the cut is mended (as when a machine's
//! network goes away and comes back). Loopback only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};

/// A relay to one address. Dropped, it stops relaying.
pub struct CuttableLink {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Bumped at each cut: relays of an older generation end.
    generation: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttableLink {
    /// Relays connections to `target` (`HOST:PORT`) from a port of its own on 127.0.0.1.
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("its address");
        let (cut, generation) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (cut2, generation2, target) = (cut.clone(), generation.clone(), target.to_string());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if cut2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let (generation, target) = (generation2.clone(), target.clone());
                tokio::spawn(async move {
                    let born = generation.load(Ordering::SeqCst);
                    let Ok(outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut a, mut b) = (inbound, outbound);
                    let relay = tokio::io::copy_bidirectional(&mut a, &mut b);
                    let cut = async {
                        while generation.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = relay => {}
                        () = cut => {}
                    }
                });
            }
        });
        Self {
            addr,
            cut,
            generation,
            task,
        }
    }

    /// `nats://127.0.0.1:PORT` of the relay.
    pub fn nats_url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Cuts: every connection through the relay is closed, new ones are refused.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Mends the cut: new connections are relayed again.
    pub fn mend(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for CuttableLink {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

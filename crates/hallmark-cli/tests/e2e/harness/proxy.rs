//! A small HTTP/1.1 proxy in front of the registry that can tamper with answers, or demand
//! token authentication, like a compromised or strict registry would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::client;

/// A request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// A response the proxy is about to send; tamper hooks may rewrite it.
#[derive(Debug, Clone)]
pub struct ProxyResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send the body one byte per this interval (a slow-drip server).
    pub drip: Option<Duration>,
}

pub type Tamper = Arc<dyn Fn(&SeenRequest, &mut ProxyResponse) + Send + Sync>;

/// Which requests to hold before passing them on, as a slow or briefly partitioned client's
/// request arrives late.
pub type Hold = Arc<dyn Fn(&SeenRequest) -> Option<Held> + Send + Sync>;

/// How a request is held.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    /// How long before it reaches the registry.
    pub delay: Duration,
    /// Hang up on the client at once, with no answer, and pass the request on all the
    /// same: a middlebox that reset the connection after the request went through.
    pub hang_up: bool,
}

pub struct ProxyConfig {
    pub upstream: String,
    pub tamper: Option<Tamper>,
    /// Require authentication with these credentials.
    pub auth: Option<ProxyAuth>,
}

pub struct ProxyAuth {
    pub user: String,
    pub password: String,
    /// Basic auth on every request; otherwise Bearer tokens issued for Basic credentials.
    pub basic: bool,
}

pub struct Proxy {
    pub addr: String,
    pub requests: Arc<Mutex<Vec<SeenRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const TOKEN: &str = "test-token-5f2a";

impl Proxy {
    pub async fn start(cfg: ProxyConfig) -> Proxy {
        Proxy::start_holding(cfg, None).await
    }

    /// A proxy that holds the requests `hold` picks before passing them on.
    pub async fn start_holding(cfg: ProxyConfig, hold: Option<Hold>) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        // Building a hallmark client installs the TLS crypto provider reqwest needs.
        let _ = client();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let cfg = Arc::new(cfg);
        let hold = Arc::new(hold);
        let seen = requests.clone();
        let my_addr = addr.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (http, cfg, seen, my_addr, hold) = (
                    http.clone(),
                    cfg.clone(),
                    seen.clone(),
                    my_addr.clone(),
                    hold.clone(),
                );
                tokio::spawn(async move {
                    let _ = serve_one(sock, &http, &cfg, &seen, &my_addr, &hold).await;
                });
            }
        });
        Proxy {
            addr,
            requests,
            task,
        }
    }
}

async fn serve_one(
    mut sock: tokio::net::TcpStream,
    http: &reqwest::Client,
    cfg: &ProxyConfig,
    seen: &Mutex<Vec<SeenRequest>>,
    my_addr: &str,
    hold: &Option<Hold>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        // A TLS handshake (a client finding out whether this port speaks HTTPS) gets what
        // an HTTP server written in Go answers to it.
        if buf.first() == Some(&0x16) {
            sock.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await?;
            return Ok(());
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = buf[head_end..].to_vec();
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < len {
            let mut chunk = vec![0u8; 65536];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        body = read_chunked(&mut sock, body).await?;
    }
    let req = SeenRequest {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
    };
    seen.lock().unwrap().push(req.clone());
    if let Some(held) = hold.as_ref().and_then(|h| h(&req)) {
        if held.hang_up {
            let mut r = http
                .request(
                    method.parse().unwrap(),
                    format!("http://{}{}", cfg.upstream, path),
                )
                .header("host", my_addr);
            for (k, v) in &headers {
                if !matches!(
                    k.as_str(),
                    "host" | "connection" | "content-length" | "transfer-encoding"
                ) {
                    r = r.header(k, v);
                }
            }
            let r = r.body(body);
            tokio::spawn(async move {
                tokio::time::sleep(held.delay).await;
                let _ = r.send().await;
            });
            // Dropping the socket hangs up on the client, who gets no answer.
            return Ok(());
        }
        tokio::time::sleep(held.delay).await;
    }

    let mut resp = if let Some(a) = &cfg.auth {
        auth_gate(&req, a, my_addr)
    } else {
        None
    }
    .unwrap_or(ProxyResponse {
        status: 0,
        headers: Vec::new(),
        body: Vec::new(),
        drip: None,
    });
    if resp.status == 0 {
        let url = format!("http://{}{}", cfg.upstream, path);
        let mut r = http
            .request(method.parse().unwrap(), url)
            .header("host", my_addr);
        for (k, v) in &headers {
            if !matches!(
                k.as_str(),
                "host" | "connection" | "content-length" | "transfer-encoding" | "authorization"
            ) {
                r = r.header(k, v);
            }
        }
        let upstream = match r.body(body).send().await {
            Ok(u) => u,
            Err(_) => return Ok(()),
        };
        let status = upstream.status().as_u16();
        let headers = upstream
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = upstream.bytes().await.unwrap_or_default().to_vec();
        resp = ProxyResponse {
            status,
            headers,
            body,
            drip: None,
        };
    }
    if let Some(t) = &cfg.tamper {
        t(&req, &mut resp);
    }
    let mut out = format!("HTTP/1.1 {} X\r\n", resp.status);
    for (k, v) in &resp.headers {
        if !matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        resp.body.len()
    ));
    sock.write_all(out.as_bytes()).await?;
    if method != "HEAD" {
        match resp.drip {
            None => sock.write_all(&resp.body).await?,
            Some(every) => {
                for b in &resp.body {
                    sock.write_all(&[*b]).await?;
                    tokio::time::sleep(every).await;
                }
            }
        }
    }
    sock.shutdown().await
}

async fn read_chunked(
    sock: &mut tokio::net::TcpStream,
    mut buf: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    loop {
        while !buf.windows(2).any(|w| w == b"\r\n") {
            let mut chunk = [0u8; 8192];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(out);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let i = buf.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&buf[..i]).trim(), 16).unwrap_or(0);
        buf.drain(..i + 2);
        while buf.len() < size + 2 {
            let mut chunk = vec![0u8; 65536];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(out);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

/// Token auth: `/token` trades Basic credentials for a token; `/v2/…` needs the token.
fn auth_gate(req: &SeenRequest, auth: &ProxyAuth, my_addr: &str) -> Option<ProxyResponse> {
    let (user, pass) = (&auth.user, &auth.password);
    use base64ct::{Base64, Encoding};
    let encode = |b: &[u8]| Base64::encode_string(b);
    let authz = req
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str());
    if auth.basic {
        let want = format!("Basic {}", encode(format!("{user}:{pass}").as_bytes()));
        return (authz != Some(want.as_str())).then(|| ProxyResponse {
            status: 401,
            headers: vec![(
                "www-authenticate".into(),
                r#"Basic realm="test-registry""#.into(),
            )],
            body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                .to_vec(),
            drip: None,
        });
    }
    if req.path.starts_with("/token") {
        let want = format!("Basic {}", encode(format!("{user}:{pass}").as_bytes()));
        return Some(if authz == Some(want.as_str()) {
            ProxyResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: format!(r#"{{"token":"{TOKEN}"}}"#).into_bytes(),
                drip: None,
            }
        } else {
            ProxyResponse {
                status: 401,
                headers: vec![],
                body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#
                    .to_vec(),
                drip: None,
            }
        });
    }
    if authz == Some(&format!("Bearer {TOKEN}")) {
        return None;
    }
    Some(ProxyResponse {
        status: 401,
        headers: vec![(
            "www-authenticate".into(),
            format!(
                r#"Bearer realm="http://{my_addr}/token",service="test-registry",scope="repository:x:pull""#
            ),
        )],
        body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
            .to_vec(),
        drip: None,
    })
}

//! `http_directory` / `http_content`: files the guest fetches during the
//! build (preseed, kickstart, cloud-init), served on 127.0.0.1 only.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub enum Content {
    Directory(PathBuf),
    /// Path (with leading `/`) → body.
    Files(Arc<BTreeMap<String, String>>),
}

/// A running server; dropping it stops it.
pub struct Server {
    pub port: u16,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `path` under `root`, refusing anything that climbs out of it.
fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(path.split('?').next().unwrap_or(""))
        .decode_utf8()
        .ok()?;
    let mut out = root.to_path_buf();
    for c in Path::new(decoded.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

async fn answer(content: &Content, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, Vec::new());
    }
    let path = req.uri().path();
    let body = match content {
        Content::Files(map) => {
            let key = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            };
            map.get(&key).map(|s| s.clone().into_bytes())
        }
        Content::Directory(root) => match resolve(root, path) {
            Some(p) if p.is_file() => tokio::fs::read(&p).await.ok(),
            Some(p) if p.is_dir() => tokio::fs::read(p.join("index.html")).await.ok(),
            _ => None,
        },
    };
    match body {
        Some(b) if req.method() == Method::HEAD => {
            let mut r = reply(StatusCode::OK, Vec::new());
            if let Ok(v) = b.len().to_string().parse() {
                r.headers_mut().insert(hyper::header::CONTENT_LENGTH, v);
            }
            r
        }
        Some(b) => reply(StatusCode::OK, b),
        None => reply(StatusCode::NOT_FOUND, b"404 page not found\n".to_vec()),
    }
}

/// Serve `content` on the first free port of `range` on 127.0.0.1.
pub async fn start(content: Content, range: (u16, u16)) -> Result<Server, String> {
    let mut listener = None;
    for port in range.0..=range.1 {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await {
            listener = Some((l, port));
            break;
        }
    }
    let (listener, port) = listener.ok_or(format!(
        "no free port for the HTTP server in {}-{}",
        range.0, range.1
    ))?;
    let stop = CancellationToken::new();
    let token = stop.clone();
    let content = Arc::new(content);
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = token.cancelled() => return,
            };
            let Ok((stream, _)) = conn else { continue };
            let content = Arc::clone(&content);
            let token = token.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let content = Arc::clone(&content);
                    async move { Ok::<_, std::convert::Infallible>(answer(&content, &req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {}
                    _ = token.cancelled() => {}
                }
            });
        }
    });
    Ok(Server { port, stop })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_climb_out_of_the_directory() {
        let root = Path::new("/srv/http");
        assert_eq!(
            resolve(root, "/preseed.cfg"),
            Some(root.join("preseed.cfg"))
        );
        assert_eq!(resolve(root, "/a/./b"), Some(root.join("a/b")));
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/%2e%2e/%2e%2e/etc"), None);
    }
}

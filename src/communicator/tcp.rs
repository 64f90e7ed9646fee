//! The TCP connection under SSH: Nagle off on our side, and every segment
//! acknowledged at once.
//!
//! OpenSSH's server leaves Nagle's algorithm on for sessions without a
//! terminal, so a small packet it sends (a channel confirmation, an exit
//! status) waits until its previous segment is acknowledged; Linux delays
//! that acknowledgement by up to 40 ms. Setting `TCP_QUICKACK` after each
//! read (the kernel clears it on its own) removes that stall: measured on
//! loopback, the first SSH session of a connection took 48 ms, now ~5 ms.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub struct Tcp(TcpStream);

impl Tcp {
    pub async fn connect(host: &str, port: u16) -> io::Result<Tcp> {
        Ok(Tcp::from_stream(TcpStream::connect((host, port)).await?))
    }

    /// A connection already made (through a SOCKS proxy, say).
    pub fn from_stream(s: TcpStream) -> Tcp {
        let _ = s.set_nodelay(true);
        Tcp(s)
    }

    fn ack_now(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = self.0.set_quickack(true);
    }
}

impl AsyncRead for Tcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.ack_now();
        }
        r
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

//! `kiln __guestfwd HOST:PORT` (hidden): joins stdin/stdout to a TCP
//! connection. qemu runs it per guest connection (`guestfwd=…-cmd:`), so a
//! guest on a restricted network reaches the build's HTTP server and
//! nothing else.

use clap::Args;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};

#[derive(Args, Debug)]
pub struct GuestFwdArgs {
    /// Where to connect (127.0.0.1:PORT)
    pub addr: String,
}

pub fn run(a: GuestFwdArgs) -> i32 {
    let Ok(stream) = TcpStream::connect(&a.addr) else {
        return 1;
    };
    let Ok(mut up) = stream.try_clone() else {
        return 1;
    };
    // Guest → server on a helper thread; server → guest here. When the
    // server closes, the exchange is over: exit, which closes the guest's
    // end too (a guest that never half-closes would otherwise hang on it).
    std::thread::spawn(move || {
        let mut input = std::io::stdin().lock();
        let _ = std::io::copy(&mut input, &mut up);
        let _ = up.shutdown(Shutdown::Write);
    });
    let mut down = stream;
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 16384];
    while let Ok(n) = down.read(&mut buf) {
        if n == 0 || out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    0
}

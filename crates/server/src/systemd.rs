//! systemd's readiness protocol (`sd_notify`): with `Type=notify`, systemd
//! passes a datagram socket in `NOTIFY_SOCKET` and waits for `READY=1`
//! before it starts the units ordered after this one. Without the variable
//! (not run by systemd) nothing is sent.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends `state` (newline-separated `KEY=VALUE` lines, e.g. `READY=1`) to
/// the socket named by `NOTIFY_SOCKET`; `Ok(false)` when there is none. A
/// name starting with `@` is in the abstract namespace.
///
/// # Errors
/// When the socket cannot be reached.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return Ok(false) };
    notify_to(&path, state)?;
    Ok(true)
}

/// Sends `state` to the notification socket `path` (`@name`: abstract).
///
/// # Errors
/// When the socket cannot be reached.
pub fn notify_to(path: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    let bytes = path.as_encoded_bytes();
    let addr = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name)?
    } else {
        SocketAddr::from_pathname(std::path::Path::new(path))?
    };
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn a_message_reaches_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        super::notify_to(path.as_os_str(), "READY=1\nSTATUS=up").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=up");
    }

    #[test]
    fn abstract_names_start_with_an_at_sign() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("mammoth-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        super::notify_to(format!("@{name}").as_ref(), "READY=1").unwrap();
        let mut buf = [0u8; 16];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(super::notify_to(dir.path().join("none").as_os_str(), "READY=1").is_err());
    }
}

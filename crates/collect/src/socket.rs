//! Receive sockets: one per group, bound to the group's own address and
//! joined on one interface; and the kernel's drop counters for them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::Error;

/// A bound (and, for a multicast address, joined) socket.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub(crate) socket: UdpSocket,
    /// The address it listens on (the port filled in when 0 was asked).
    pub(crate) local: SocketAddr,
    /// `SO_RCVBUF` as the kernel reports it after our request.
    pub(crate) recv_buffer: usize,
    /// Its inode, to find it in `/proc/net/udp`.
    pub(crate) inode: Option<u64>,
}

/// Opens a receive socket for `addr`.
///
/// A multicast group is bound to the group address itself, not 0.0.0.0:
/// on Linux the socket then gets only datagrams sent to that group, so
/// two groups on one port stay apart. `IP_MULTICAST_ALL` is switched off
/// for the same reason, and `SO_REUSEADDR` lets several collectors (or
/// groups) share a port. Any other IPv4 address is bound as it is
/// (unicast: `127.0.0.1:8089`, or `0.0.0.0:PORT` for every interface).
pub(crate) fn open(
    addr: SocketAddr,
    interface: Ipv4Addr,
    recv_buffer: usize,
    read_timeout: Duration,
) -> Result<Receiver, Error> {
    let SocketAddr::V4(v4) = addr else {
        return Err(Error::Config(format!("{addr}: IPv6 groups are not supported")));
    };
    let err = |what: &'static str| move |source| Error::Socket { what, addr, source };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err("socket"))?;
    s.set_reuse_address(true).map_err(err("set SO_REUSEADDR on"))?;
    if recv_buffer > 0 {
        s.set_recv_buffer_size(recv_buffer).map_err(err("set SO_RCVBUF on"))?;
    }
    let group = *v4.ip();
    if group.is_multicast() {
        s.set_multicast_all_v4(false).map_err(err("set IP_MULTICAST_ALL on"))?;
    }
    s.bind(&addr.into()).map_err(err("bind"))?;
    if group.is_multicast() {
        s.join_multicast_v4(&group, &interface).map_err(err("join"))?;
    }
    s.set_read_timeout(Some(read_timeout)).map_err(err("set SO_RCVTIMEO on"))?;
    let granted = s.recv_buffer_size().map_err(err("read SO_RCVBUF of"))?;
    let socket: UdpSocket = s.into();
    let local = socket.local_addr().map_err(err("local address of"))?;
    let inode =
        std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok().map(|m| m.ino());
    Ok(Receiver { socket, local, recv_buffer: granted, inode })
}

/// What `/proc/net/udp` says about some sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Datagrams the kernel dropped because a receive buffer was full (the
    /// `drops` column), summed.
    pub drops: u64,
    /// Bytes waiting in the receive queues now (`rx_queue`), summed.
    pub queued: u64,
}

/// Sums the counters of the sockets with these inodes, from the table in
/// `/proc/net/udp` format; `None` when none of them is listed.
pub(crate) fn kernel_counters(table: &str, inodes: &[u64]) -> Option<KernelCounters> {
    let mut found = false;
    let mut k = KernelCounters::default();
    for row in table.lines().skip(1) {
        // sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
        let cols: Vec<&str> = row.split_ascii_whitespace().collect();
        let (Some(queues), Some(inode), Some(drops)) = (cols.get(4), cols.get(9), cols.get(12))
        else {
            continue;
        };
        let Ok(inode) = inode.parse::<u64>() else { continue };
        if !inodes.contains(&inode) {
            continue;
        }
        found = true;
        k.drops += drops.parse::<u64>().unwrap_or(0);
        if let Some((_, rx)) = queues.split_once(':') {
            k.queued += u64::from_str_radix(rx, 16).unwrap_or(0);
        }
    }
    found.then_some(k)
}

/// Reads `/proc/net/udp` for these inodes.
pub(crate) fn read_kernel_counters(inodes: &[u64]) -> Option<KernelCounters> {
    if inodes.is_empty() {
        return None;
    }
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    kernel_counters(&table, inodes)
}

/// A socket that sends test datagrams: for a multicast destination it
/// leaves through `interface` with the given TTL (0 or 1 keeps it on the
/// host or the link), and loops back so a receiver on this host sees it.
///
/// # Errors
/// Creating or configuring the socket.
pub fn sender_socket(
    dest: SocketAddr,
    interface: Ipv4Addr,
    ttl: u32,
) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if let IpAddr::V4(ip) = dest.ip()
        && ip.is_multicast()
    {
        s.set_multicast_if_v4(&interface)?;
        s.set_multicast_ttl_v4(ttl)?;
        s.set_multicast_loop_v4(true)?;
    }
    s.set_send_buffer_size(4 << 20)?;
    s.bind(&SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).into())?;
    s.connect(&dest.into())?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_udp_rows() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  131: 250000E1:1A85 00000000:0000 07 00000000:00000300 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
  132: 0100007F:1F99 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 5\n\
  133: 250000E1:1A85 00000000:0000 07 00000000:00000010 00:00000000 00000000     0        0 4243 2 0000000000000000 1\n";
        assert_eq!(
            kernel_counters(table, &[4242, 4243]),
            Some(KernelCounters { drops: 18, queued: 0x310 })
        );
        assert_eq!(kernel_counters(table, &[1]), None);
        assert_eq!(kernel_counters("header\ngarbage row\n", &[1]), None);
    }

    #[test]
    fn own_socket_is_listed() {
        let r = open(
            "127.0.0.1:0".parse().unwrap(),
            Ipv4Addr::LOCALHOST,
            1 << 20,
            Duration::from_millis(10),
        )
        .unwrap();
        let inode = r.inode.expect("inode from /proc/self/fd");
        let k = read_kernel_counters(&[inode]).expect("socket in /proc/net/udp");
        assert_eq!(k.drops, 0);
        assert!(r.recv_buffer > 0);
    }
}

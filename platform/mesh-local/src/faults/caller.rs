//! Which process made a call: the proxy knows the peer's port, Linux knows
//! which socket has it (`/proc/net/tcp`) and which process holds that socket
//! (`/proc/<pid>/fd`). The function's name is in the process's environment,
//! where the emulator put it (`AWS_LAMBDA_FUNCTION_NAME`).

use std::fs;

/// The process on the other end of a loopback connection to `proxy_port`
/// from `peer_port`, and the function it runs (if it is a function).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    pub pid: u32,
    pub function: Option<String>,
}

pub(crate) fn find(peer_port: u16, proxy_port: u16) -> Option<Caller> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| fs::read_to_string(table).ok())
        .find_map(|table| socket_inode(&table, peer_port, proxy_port))?;
    let pid = owner_of(inode)?;
    Some(Caller { pid, function: function_name(pid) })
}

/// `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode`,
/// addresses as `HEXIP:HEXPORT`.
fn socket_inode(table: &str, local_port: u16, remote_port: u16) -> Option<u64> {
    let port = |address: &str| address.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, inode) = (fields.get(1)?, fields.get(2)?, fields.get(9)?);
        (port(local) == Some(local_port) && port(remote) == Some(remote_port)).then(|| inode.parse().ok())?
    })
}

fn owner_of(inode: u64) -> Option<u32> {
    let wanted = format!("socket:[{inode}]");
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let fds = fs::read_dir(entry.path().join("fd")).ok()?;
        fds.flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str()))
            .then_some(pid)
    })
}

fn function_name(pid: u32) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|b| *b == 0).find_map(|entry| {
        let value = entry.strip_prefix(b"AWS_LAMBDA_FUNCTION_NAME=")?;
        String::from_utf8(value.to_vec()).ok()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn finds_the_inode_of_a_connection_by_its_ports() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
                     0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 424242 1\n";
        assert_eq!(socket_inode(table, 0xA1B2, 0x1F90), Some(424_242));
        assert_eq!(socket_inode(table, 0x1F90, 0xA1B2), None);
    }

    #[test]
    fn finds_this_process_on_the_other_end_of_a_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();

        let caller = find(peer.port(), listener.local_addr().unwrap().port()).unwrap();

        assert_eq!(caller.pid, std::process::id());
        drop(client);
    }
}

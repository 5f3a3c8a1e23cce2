//! Before a local network starts: the addresses its processes will listen on must be
//! free, and each its own. A node whose port is taken exits at once, and whatever
//! answers there (often another local network, with the same development keys and chain
//! id) would be taken for it: `plexus up` would set up its subnets on the other chain and
//! say it is up.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};

use crate::devnet::{DevnetFile, InitArgs};
use crate::exit;

/// What of a network listens where: its name ("node-0's RPC") and `host:port`.
pub type Listeners = Vec<(String, String)>;

/// Where the nodes of a network that `args` would write listen: each node's p2p, RPC and
/// metrics ports (those past 65535 left out: `init` refuses them).
pub fn of_new(args: &InitArgs) -> Listeners {
    let mut listeners = Vec::new();
    for i in 0..args.validators {
        let bases = [
            ("p2p", args.p2p_port),
            ("RPC", args.rpc_port),
            ("metrics", args.metrics_port),
        ];
        for (what, base) in bases {
            if let Some(port) = base.checked_add(i) {
                listeners.push((format!("node-{i}'s {what}"), format!("127.0.0.1:{port}")));
            }
        }
    }
    listeners
}

/// Where the nodes of `file` listen: each node's p2p, RPC and metrics addresses.
pub fn of_nodes(file: &DevnetFile) -> Listeners {
    let mut listeners = Vec::new();
    for node in &file.nodes {
        let addresses = [
            ("p2p", node.p2p.as_str()),
            ("RPC", host_port(&node.rpc_url)),
            ("metrics", host_port(&node.metrics_url)),
        ];
        for (what, address) in addresses {
            listeners.push((format!("{}'s {what}", node.name), address.to_owned()));
        }
    }
    listeners
}

/// Adds `what`, listening on `address`, to `listeners`.
pub fn and(mut listeners: Listeners, what: &str, address: SocketAddr) -> Listeners {
    listeners.push((what.to_owned(), address.to_string()));
    listeners
}

/// Errs when two of `listeners` would listen on one port, or when another program
/// listens on one of their addresses; `hint` says what the user can do about it.
pub fn check(listeners: &Listeners, hint: &str) -> anyhow::Result<()> {
    let mut by_port: BTreeMap<u16, &str> = BTreeMap::new();
    for (what, address) in listeners {
        // A port is one whatever the host (0.0.0.0 holds 127.0.0.1's too).
        let port = address.parse::<SocketAddr>().map(|a| a.port()).ok();
        if let Some(port) = port
            && let Some(first) = by_port.insert(port, what)
        {
            return Err(exit::input(format!(
                "{first} and {what} would both listen on port {port}: {hint}"
            )));
        }
    }
    for (what, address) in listeners {
        free(address, what, hint)?;
    }
    Ok(())
}

/// Errs when `address` (`host:port`) cannot be listened on, naming `what` listens
/// there for this network and what the user can do (`hint`).
fn free(address: &str, what: &str, hint: &str) -> anyhow::Result<()> {
    // Std sets SO_REUSEADDR, as the node does: connections of a network stopped a
    // moment ago (TIME_WAIT) do not count as the address being taken.
    match TcpListener::bind(address) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AddrInUse => Err(exit::input(format!(
            "{address} ({what}) is in use by another program, perhaps another `plexus up` or \
             `plexus devnet up`: stop it, or {hint}"
        ))),
        Err(e) => Err(exit::input(format!(
            "cannot listen on {address} ({what}): {e}; {hint}"
        ))),
    }
}

/// The `host:port` of an `http://host:port/path` URL (the whole text if it has none).
fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(what: &str, address: &str) -> Listeners {
        vec![(what.to_owned(), address.to_owned())]
    }

    #[test]
    fn a_taken_address_is_refused_by_name_and_a_free_one_passes() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap().to_string();
        let listeners = one("node-0's RPC", &address);
        let err = check(&listeners, "pass --rpc-port").unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{address} (node-0's RPC) is in use")),
            "{message}"
        );
        assert!(message.ends_with("pass --rpc-port"), "{message}");
        assert!(
            err.downcast_ref::<exit::InputError>().is_some(),
            "exit code 2"
        );
        drop(taken);
        check(&listeners, "pass --rpc-port").unwrap();
    }

    #[test]
    fn two_of_a_network_on_one_port_are_refused_before_anything_listens() {
        // Two nodes from RPC port 9000 and metrics port 9001: node-1's RPC is node-0's
        // metrics.
        let args = InitArgs {
            validators: 2,
            dir: "unused".into(),
            p2p_port: 30300,
            rpc_port: 9000,
            metrics_port: 9001,
            epoch_length: 100,
            force: false,
            load_accounts: 0,
        };
        let err = check(&of_new(&args), "choose others")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "node-0's metrics and node-1's RPC would both listen on port 9001: choose others"
        );
        // The gateway on a node's port, whatever the host.
        let gateway = SocketAddr::from(([0, 0, 0, 0], 30300));
        let mut args = args;
        args.metrics_port = 9100;
        let err = check(&and(of_new(&args), "the gateway", gateway), "choose others");
        let err = err.unwrap_err().to_string();
        assert!(err.starts_with("node-0's p2p and the gateway"), "{err}");
    }

    #[test]
    fn node_urls_give_their_listen_address() {
        assert_eq!(host_port("http://127.0.0.1:9944"), "127.0.0.1:9944");
        assert_eq!(host_port("http://127.0.0.1:9615/metrics"), "127.0.0.1:9615");
        assert_eq!(host_port("127.0.0.1:30300"), "127.0.0.1:30300");
    }
}

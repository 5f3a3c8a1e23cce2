//! Before a local network starts: the addresses its processes will listen on must be
//! free. A node whose port is taken exits at once, and whatever answers there (often
//! another local network, with the same development keys and chain id) would be taken
//! for it: `plexus up` would set up its subnets on the other chain and say it is up.

use std::io::ErrorKind;
use std::net::TcpListener;

use crate::devnet::{DevnetFile, InitArgs};
use crate::exit;

/// Errs naming the first address a network that `args` would write is to listen on
/// that another program listens on; `hint` says what the user can do about it.
pub fn check_new(args: &InitArgs, hint: &str) -> anyhow::Result<()> {
    for i in 0..args.validators {
        let bases = [
            ("p2p", args.p2p_port),
            ("RPC", args.rpc_port),
            ("metrics", args.metrics_port),
        ];
        for (what, base) in bases {
            // Past 65535: `init` says so.
            if let Some(port) = base.checked_add(i) {
                check(
                    &format!("127.0.0.1:{port}"),
                    &format!("node-{i}'s {what}"),
                    hint,
                )?;
            }
        }
    }
    Ok(())
}

/// Errs naming the first address of `file`'s nodes (p2p, RPC, metrics) that another
/// program listens on; `hint` says what the user can do about it.
pub fn check_nodes(file: &DevnetFile, hint: &str) -> anyhow::Result<()> {
    for node in &file.nodes {
        let addresses = [
            ("p2p", node.p2p.as_str()),
            ("RPC", host_port(&node.rpc_url)),
            ("metrics", host_port(&node.metrics_url)),
        ];
        for (what, address) in addresses {
            check(address, &format!("{}'s {what}", node.name), hint)?;
        }
    }
    Ok(())
}

/// Errs when `address` (`host:port`) cannot be listened on, naming `what` listens
/// there for this network and what the user can do (`hint`).
pub fn check(address: &str, what: &str, hint: &str) -> anyhow::Result<()> {
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

    #[test]
    fn a_taken_address_is_refused_by_name_and_a_free_one_passes() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap().to_string();
        let err = check(&address, "node-0's RPC", "pass --rpc-port").unwrap_err();
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
        check(&address, "node-0's RPC", "pass --rpc-port").unwrap();
    }

    #[test]
    fn node_urls_give_their_listen_address() {
        assert_eq!(host_port("http://127.0.0.1:9944"), "127.0.0.1:9944");
        assert_eq!(host_port("http://127.0.0.1:9615/metrics"), "127.0.0.1:9615");
        assert_eq!(host_port("127.0.0.1:30300"), "127.0.0.1:30300");
    }
}

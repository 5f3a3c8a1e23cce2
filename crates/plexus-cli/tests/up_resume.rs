//! `plexus up` on an existing network says that the flags which only shape a new one are
//! ignored, instead of silently serving on other ports than those asked for.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::up::Up;

#[test]
fn resuming_warns_that_new_network_flags_are_ignored() {
    for kind in plexus_models::ModelKind::ALL {
        plexus_models::testing::test_model_dir(kind).unwrap();
    }
    let home = std::env::temp_dir().join(format!("plexus-up-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let ports = common::port_band();
    let port = |offset: u16| (ports + offset).to_string();
    // The network a first `plexus up` would have written, on the ports `Up` asks for.
    let network = home.join("network");
    let out = common::plexus(
        &home,
        &[
            "devnet",
            "init",
            "--validators",
            "1",
            "--dir",
            network.to_str().unwrap(),
            "--rpc-port",
            &port(1),
            "--p2p-port",
            &port(3),
            "--metrics-port",
            &port(5),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut up = Up::start(&home, ports);
    up.wait_for("resuming the network", Duration::from_secs(60));
    let warning = up.wait_for("warning:", Duration::from_secs(10));
    for flag in ["--rpc-port", "--p2p-port", "--metrics-port"] {
        assert!(warning.contains(flag), "{warning}");
    }
    assert!(
        warning.contains(&format!("http://127.0.0.1:{}", port(1))),
        "{warning}"
    );
    // Its node is up (it answers) before the stop: a node killed while it starts
    // cannot yet tell that its parent is gone.
    up.wait_for("creating subnet", Duration::from_secs(120));
    drop(up);
    let _ = std::fs::remove_dir_all(&home);
}

//! Runs the loopback wire benchmark and prints its JSON report.
//!
//! `cargo run --release -p plexus-wire --example wire_bench [-- --http2]`: the JSON report
//! on stdout, CPU per request on stderr.

// The validators on this thread, the miner on its own runtime (as `plexus bench wire`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = plexus_wire::WireBenchConfig {
        http2: std::env::args().any(|a| a == "--http2"),
        ..Default::default()
    };
    let report = plexus_wire::bench_loopback(config).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    // The JSON's shape is fixed; CPU per request goes to stderr.
    if let Some(cpu) = report.cpu {
        eprintln!(
            "CPU per request, miner / validators: {}",
            serde_json::to_string(&cpu)?
        );
    }
    Ok(())
}

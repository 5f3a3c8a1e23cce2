//! `plexus yuma simulate` as a user runs it: the golden cases reproduced
//! through the binary, readable tables, and clear errors with exit code 2.

#![allow(clippy::expect_used)] // a test helper that fails should fail loudly

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plexus-yuma/tests/data/reference_cases.json")
}

fn plexus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(args)
        .output()
        .expect("plexus runs")
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plexus-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file");
    path
}

#[test]
fn json_output_reproduces_every_golden_field() {
    let path = golden_path();
    let out = plexus(&[
        "yuma",
        "simulate",
        path.to_str().expect("utf-8 path"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("golden"))
        .expect("golden JSON");
    let got_cases = got["cases"].as_array().expect("cases");
    let want_cases = want["cases"].as_array().expect("cases");
    assert_eq!(got_cases.len(), want_cases.len());
    for (g, w) in got_cases.iter().zip(want_cases) {
        assert_eq!(g["name"], w["name"]);
        let (ge, we) = (
            g["epochs"].as_array().expect("epochs"),
            w["epochs"].as_array().expect("epochs"),
        );
        assert_eq!(ge.len(), we.len());
        for (ge, we) in ge.iter().zip(we) {
            for key in [
                "consensus_u16",
                "validator_trust_u16",
                "incentive_u16",
                "dividends_u16",
                "new_bonds_u16",
                "new_validator_permits",
                "server_emission_rao",
                "validator_emission_rao",
            ] {
                assert_eq!(
                    ge[key], we[key],
                    "{} epoch {}: {key}",
                    w["name"], we["epoch"]
                );
            }
        }
    }
}

#[test]
fn table_output_shows_each_uid_per_epoch() {
    let path = golden_path();
    let out = plexus(&["yuma", "simulate", path.to_str().expect("utf-8 path")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("case classic_basic_3v5m"));
    assert!(text.contains("UID"));
    for column in [
        "stake",
        "consensus",
        "trust",
        "incentive",
        "dividends",
        "emission",
    ] {
        assert!(
            text.lines().any(|l| l.contains(column)),
            "missing column {column}"
        );
    }
    // classic_basic_3v5m epoch 0: validator 2 earns 0.270971988 tokens.
    assert!(text.contains("0.270971988"));
}

#[test]
fn malformed_files_name_the_field_and_exit_2() {
    let cases = [
        (
            "missing.json",
            r#"{"cases":[{"name":"x","inputs":{"n":2}}]}"#,
            "cases[0].inputs: missing field `num_validators`",
        ),
        (
            "range.json",
            r#"{"name":"x","inputs":{"n":1,"num_validators":0,"params":{"variant":"yuma3","kappa_u16":70000}}}"#,
            "inputs.params.kappa_u16",
        ),
        (
            "variant.json",
            r#"{"name":"x","inputs":{"n":1,"num_validators":0,"params":{"variant":"yuma9"}}}"#,
            "inputs.params.variant",
        ),
        ("syntax.json", "{", "not valid JSON"),
    ];
    for (name, text, needle) in cases {
        let path = write_temp(name, text);
        let out = plexus(&["yuma", "simulate", path.to_str().expect("utf-8 path")]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let mut golden: Value =
        serde_json::from_str(&std::fs::read_to_string(golden_path()).expect("golden"))
            .expect("golden JSON");
    golden["cases"][1]["inputs"]["stake"]
        .as_array_mut()
        .expect("stake")
        .pop();
    let path = write_temp("short.json", &golden.to_string());
    let out = plexus(&["yuma", "simulate", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cases[1].inputs.stake: has 4 entries, expected 5 (n)")
    );
}

#[test]
fn a_missing_file_is_an_input_error() {
    let out = plexus(&["yuma", "simulate", "/nonexistent/plexus-case.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/plexus-case.json")
    );
}

//! The reference chain's own epoch outputs, reproduced bit for bit: every
//! `*_u16` and `*_rao` field of every epoch of every golden case.

#![allow(clippy::expect_used)] // a test helper that fails should fail loudly

use plexus_yuma::simulate::simulate;
use serde_json::Value;

const CASES: &str = include_str!("data/reference_cases.json");

#[test]
fn every_golden_field_matches_exactly() {
    let golden: Value = serde_json::from_str(CASES).expect("golden file parses");
    let reports = simulate(CASES).expect("golden cases simulate");
    let cases = golden["cases"].as_array().expect("cases array");
    assert_eq!(reports.len(), cases.len());
    assert!(cases.len() >= 10, "the golden file holds all ten cases");
    let mut compared = 0;
    for (case, report) in cases.iter().zip(&reports) {
        assert_eq!(case["name"], report.name);
        let want_epochs = case["epochs"].as_array().expect("epochs array");
        assert_eq!(
            want_epochs.len(),
            report.epochs.len(),
            "{}: epoch count",
            report.name
        );
        for (want, got) in want_epochs.iter().zip(&report.epochs) {
            let got = serde_json::to_value(got).expect("report serialises");
            for (key, value) in want.as_object().expect("epoch object") {
                if key.ends_with("_u16") || key.ends_with("_rao") {
                    assert_eq!(
                        &got[key], value,
                        "{} epoch {}: field {key} differs",
                        report.name, want["epoch"]
                    );
                    compared += 1;
                }
            }
            assert_eq!(got["new_validator_permits"], want["new_validator_permits"]);
            assert_eq!(
                got["input_validator_permits"],
                want["input_validator_permits"]
            );
        }
    }
    // 38 epochs, each with at least the twelve quantised fields.
    assert!(compared >= 38 * 12, "compared only {compared} fields");
}

#[test]
fn a_single_case_file_simulates_like_the_same_case_in_a_list() {
    let golden: Value = serde_json::from_str(CASES).expect("golden file parses");
    let single = serde_json::to_string(&golden["cases"][3]).expect("case serialises");
    let alone = simulate(&single).expect("single case simulates");
    let all = simulate(CASES).expect("golden cases simulate");
    assert_eq!(alone.len(), 1);
    assert_eq!(alone[0], all[3]);
}

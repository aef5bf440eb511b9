//! Expected-results files: one `pass <case>` or `fail <case>` per line
//! (blank lines and `#` comments ignored). A run is compared with such a file
//! and every changed line is reported, so a regression (or a fix) of one case
//! shows as one line of diff.

use std::collections::BTreeMap;

use crate::CaseResult;

/// The lines of an expected-results file for `results`.
pub fn results_text(results: &[CaseResult]) -> String {
    results
        .iter()
        .map(|result| {
            let verdict = if result.passed() { "pass" } else { "fail" };
            format!("{verdict} {}\n", result.name)
        })
        .collect()
}

/// Parses an expected-results file into case name -> passes.
pub fn parse_expected(text: &str) -> Result<BTreeMap<String, bool>, String> {
    let mut expected = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (verdict, name) = line.split_once(char::is_whitespace).ok_or_else(|| {
            format!(
                "line {}: expected `pass <case>` or `fail <case>`",
                number + 1
            )
        })?;
        let passes = match verdict.to_ascii_lowercase().as_str() {
            "pass" => true,
            "fail" => false,
            other => return Err(format!("line {}: unknown verdict {other:?}", number + 1)),
        };
        expected.insert(name.trim().to_owned(), passes);
    }
    Ok(expected)
}

/// The differences between `results` and `expected`, as diff lines:
/// `-fail x` / `+pass x` for a changed case, `+pass x` for a case the file
/// lacks, `-pass x` for a case in the file that did not run. When the run
/// was filtered (`complete` false), cases that did not run are not reported.
pub fn compare_expected(
    results: &[CaseResult],
    expected: &BTreeMap<String, bool>,
    complete: bool,
) -> Vec<String> {
    let verdict = |passes: bool| if passes { "pass" } else { "fail" };
    let mut diff = Vec::new();
    for result in results {
        match expected.get(result.name) {
            Some(&passes) if passes == result.passed() => {}
            Some(&passes) => {
                diff.push(format!("-{} {}", verdict(passes), result.name));
                diff.push(format!("+{} {}", verdict(result.passed()), result.name));
            }
            None => diff.push(format!("+{} {}", verdict(result.passed()), result.name)),
        }
    }
    if complete {
        for (name, &passes) in expected {
            if !results.iter().any(|result| result.name == name) {
                diff.push(format!("-{} {name}", verdict(passes)));
            }
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &'static str, passes: bool) -> CaseResult {
        CaseResult {
            name,
            outcome: if passes { Ok(()) } else { Err("no".into()) },
        }
    }

    #[test]
    fn round_trips_and_diffs() {
        let results = vec![result("a", true), result("b", false)];
        let expected = parse_expected(&results_text(&results)).unwrap();
        assert!(compare_expected(&results, &expected, true).is_empty());

        let changed = vec![result("a", false), result("c", true)];
        let diff = compare_expected(&changed, &expected, true);
        assert_eq!(diff, ["-pass a", "+fail a", "+pass c", "-fail b"]);
        assert_eq!(compare_expected(&changed, &expected, false).len(), 3);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(parse_expected("# comment\n\npass x\nfail y\n").is_ok());
        assert!(parse_expected("maybe x").is_err());
        assert!(parse_expected("pass").is_err());
    }
}

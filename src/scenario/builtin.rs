//! Scenarios shipped in `scenarios/` and compiled into the binary, so that
//! `stopbench run` works from anywhere without the source tree.

/// `(name, toml text)` of every shipped scenario; the first is the default.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../scenarios/default.toml")),
    (
        "seed-timeoutstopsec",
        include_str!("../../scenarios/seed-timeoutstopsec.toml"),
    ),
    (
        "seed-execstoppost",
        include_str!("../../scenarios/seed-execstoppost.toml"),
    ),
    (
        "seed-sigstop",
        include_str!("../../scenarios/seed-sigstop.toml"),
    ),
    (
        "seed-pkill",
        include_str!("../../scenarios/seed-pkill.toml"),
    ),
    (
        "seed-forked-children",
        include_str!("../../scenarios/seed-forked-children.toml"),
    ),
    (
        "stale-pidfile",
        include_str!("../../scenarios/stale-pidfile.toml"),
    ),
    (
        "seed-killmode",
        include_str!("../../scenarios/seed-killmode.toml"),
    ),
    (
        "seed-bash-daemon",
        include_str!("../../scenarios/seed-bash-daemon.toml"),
    ),
    (
        "forking-daemon",
        include_str!("../../scenarios/forking-daemon.toml"),
    ),
    (
        "sweep-churn-rate",
        include_str!("../../scenarios/sweep-churn-rate.toml"),
    ),
    (
        "sweep-process-count",
        include_str!("../../scenarios/sweep-process-count.toml"),
    ),
    (
        "validate-model",
        include_str!("../../scenarios/validate-model.toml"),
    ),
    (
        "validate-model-age",
        include_str!("../../scenarios/validate-model-age.toml"),
    ),
    (
        "real-tools",
        include_str!("../../scenarios/real-tools.toml"),
    ),
    (
        "seed-watchdog",
        include_str!("../../scenarios/seed-watchdog.toml"),
    ),
    (
        "systemd-unit-b",
        include_str!("../../scenarios/systemd-unit-b.toml"),
    ),
    (
        "systemd-unit-b-trixie",
        include_str!("../../scenarios/systemd-unit-b-trixie.toml"),
    ),
];

pub fn find(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_scenario_parses_and_is_named_for_its_file() {
        for (name, text) in BUILTIN {
            let s = crate::scenario::parse(name, text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.name.0, *name);
        }
    }

    #[test]
    fn every_test_fixture_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                crate::scenario::load(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

//! `ihos validate --effective`: every instance's settings after `[defaults]`, per-host
//! defaults and templates, each with the file:line it came from; `--json` for scripts;
//! an error in a defaults section named by its key.

mod common;

use common::ihos;

fn example() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/ihos.toml"
    ))
    .unwrap()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// The `key value origin` row of an instance's block.
fn row<'a>(stderr: &'a str, instance: &str, key: &str) -> &'a str {
    let start = stderr
        .find(&format!("\ninstance {instance}\n"))
        .unwrap_or_else(|| panic!("no block for {instance} in\n{stderr}"));
    stderr[start + 1..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} for {instance} in\n{stderr}"))
}

#[test]
fn each_setting_is_shown_with_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let text = example();
    let path = dir.path().join("ihos.toml");
    std::fs::write(&path, &text).unwrap();
    let file = path.display().to_string();
    let r = ihos(&["validate", "--effective", "-c", &file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    let e = &r.stderr;
    let webapps = row(e, "103-pep2", "webapps");
    assert!(
        webapps.contains("/opt/docker/ihos/pep2/tomcat/webapps"),
        "{webapps}"
    );
    let from = format!(
        "{file}:{} [defaults] \"/opt/docker/ihos/{{app}}/tomcat/webapps\"",
        line_of(&text, "webapps = \"/opt/docker/ihos/{app}")
    );
    assert!(webapps.ends_with(&from), "{webapps}\nwanted {from}");
    let backend = row(e, "103-pep2", "backend");
    assert!(backend.contains("192.168.1.103:39092"), "{backend}");
    assert!(
        backend.ends_with(&format!("{file}:{}", line_of(&text, "192.168.1.103:39092"))),
        "{backend}"
    );
    assert!(row(e, "103-pep2", "container_port").ends_with("default"));
    assert!(row(e, "103-pep2", "health.url").contains("http://127.0.0.1:39092/ihos/"));
    // The canary too, under its own heading.
    assert!(e.contains("\ncanary 102-pep1\n"), "{e}");
    // Without --effective, no table.
    let r = ihos(&["validate", "-c", &file]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stderr.contains("health.startup_log"), "{r:?}");
}

#[test]
fn json_gives_one_object_per_instance_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ihos.toml");
    std::fs::write(&path, example()).unwrap();
    let r = ihos(&[
        "validate",
        "--effective",
        "--json",
        "-c",
        path.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let objects: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o["instance"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["101-pep1", "101-pep2", "103-pep1", "103-pep2", "102-pep1"]
    );
    assert_eq!(objects[4]["canary"], true);
    let settings = objects[0]["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 15);
    let logs = settings.iter().find(|s| s["key"] == "logs").unwrap();
    assert_eq!(logs["value"], "/opt/docker/ihos/pep1/tomcat/logs");
    assert!(
        logs["from"].as_str().unwrap().contains("[defaults]"),
        "{logs}"
    );
    for s in settings {
        assert!(!s["from"].as_str().unwrap().is_empty(), "{s}");
    }
    // --json alone is a usage error.
    let r = ihos(&["validate", "--json", "-c", path.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn an_error_made_by_a_default_names_the_defaults_key_and_shows_no_control_character() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ihos.toml");
    let text = example().replace(
        "webapps = \"/opt/docker/ihos/{app}/tomcat/webapps\"",
        "webapps = \"/opt/docker/ihos/tomcat/webapps\"",
    );
    std::fs::write(&path, text).unwrap();
    let r = ihos(&["validate", "-c", path.to_str().unwrap()]);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains(": defaults.webapps: "), "{r:?}");
    assert!(r.stderr.contains("(in instances[1], 101-pep2"), "{r:?}");

    // A value with an escape sequence never reaches the terminal as it is: refused, and
    // the refusal shows it escaped.
    let text = example().replace(
        "[defaults]\n",
        "[defaults]\nlog_pattern = \"log\\u001b[2J.%Y-%m-%d\"\n",
    );
    let text = text.replace("log_pattern = \"logFile.%Y-%m-%d.log\"\n", "");
    std::fs::write(&path, text).unwrap();
    let r = ihos(&["validate", "--effective", "-c", path.to_str().unwrap()]);
    assert!(!r.stderr.contains('\u{1b}'), "{r:?}");
    assert!(r.stderr.contains("\\u{1b}"), "{r:?}");
    assert!(r.stderr.contains("defaults.log_pattern"), "{r:?}");
}

//! Every value of a topology file, replaced by hostile ones (control characters, `..`,
//! `/`, huge and negative numbers, wrong types, very long text): loading never panics, and
//! every refusal says where, with the key (a value that parses but is wrong) or the line of
//! the value (a value of the wrong type).

use ihos_core::{ConfigError, Topology};
use proptest::prelude::*;

/// A valid topology with one `key = value` per line, each line tagged with its key.
const TEMPLATE: &[(&str, &str)] = &[
    ("", "[hosts.h101]"),
    ("hosts.h101.address", "\"127.0.0.11\""),
    ("hosts.h101.user", "\"deploy\""),
    ("hosts.h101.port", "22"),
    ("hosts.h101.state_dir", "\"/var/lib/ihos\""),
    ("hosts.h101.staging_dir", "\"/home/deploy/.ihos\""),
    ("hosts.h101.sudo_password_env", "\"IHOS_SUDO\""),
    ("", "[hosts.h103]"),
    ("hosts.h103.address", "\"127.0.0.13\""),
    ("hosts.h103.user", "\"deploy\""),
    ("", "[hosts.h103.defaults]"),
    ("hosts.h103.defaults.container_port", "8080"),
    ("", "[defaults]"),
    ("defaults.war_name", "\"ihos.war\""),
    ("defaults.log_pattern", "\"logFile.%Y-%m-%d.log\""),
    ("defaults.container", "\"ihos_{app}_official_1\""),
    ("", "[load_balancer]"),
    ("load_balancer.host", "\"h101\""),
    ("load_balancer.container", "\"ihos_nginx_proxy_official_1\""),
    (
        "load_balancer.config",
        "\"/opt/docker/ihos/nginx_proxy/nginx.conf\"",
    ),
    ("load_balancer.upstream", "\"service_ihos\""),
    ("load_balancer.apply", "\"reload\""),
    ("", "[[instances]]"),
    ("instances[0].name", "\"101-pep1\""),
    ("instances[0].host", "\"h101\""),
    ("instances[0].container", "\"ihos_pep1_official_1\""),
    ("instances[0].backend", "\"127.0.0.11:39091\""),
    (
        "instances[0].webapps",
        "\"/opt/docker/ihos/pep1/tomcat/webapps\"",
    ),
    ("instances[0].logs", "\"/opt/docker/ihos/pep1/tomcat/logs\""),
    ("instances[0].war_name", "\"ihos.war\""),
    ("instances[0].log_pattern", "\"logFile.%Y-%m-%d.log\""),
    ("instances[0].container_port", "8080"),
    ("", "[instances.health]"),
    (
        "instances[0].health.url",
        "\"http://127.0.0.11:39091/ihos/\"",
    ),
    ("instances[0].health.expect_status", "200"),
    ("instances[0].health.timeout", "\"5s\""),
    ("instances[0].health.startup_line", "\"Server startup in\""),
    (
        "instances[0].health.startup_log",
        "\"catalina.%Y-%m-%d.log\"",
    ),
    ("", "[[instances]]"),
    ("instances[1].name", "\"103-pep1\""),
    ("instances[1].host", "\"h103\""),
    ("instances[1].app", "\"pep1\""),
    ("instances[1].backend", "\"127.0.0.13:39091\""),
    (
        "instances[1].webapps",
        "\"/opt/docker/ihos/pep1/tomcat/webapps\"",
    ),
    ("instances[1].logs", "\"/opt/docker/ihos/pep1/tomcat/logs\""),
    (
        "instances[1].health",
        "{ url = \"http://127.0.0.13:39091/ihos/\" }",
    ),
    ("", "[policy]"),
    ("policy.max_unavailable", "1"),
    ("policy.start_timeout", "\"5m\""),
    ("policy.stop_grace", "\"30s\""),
    ("policy.log_watch", "\"5s\""),
    ("policy.on_failure", "\"rollback\""),
    ("policy.log_error_patterns", "[\"Exception\", \" ERROR \"]"),
    ("", "[policy.drain]"),
    ("policy.drain.min", "\"0s\""),
    ("policy.drain.idle", "\"5s\""),
    ("policy.drain.max", "\"30m\""),
    ("", "[teamcity]"),
    ("teamcity.url", "\"https://ci.example.com\""),
    ("teamcity.build_type", "\"IHos_App\""),
    ("teamcity.token_env", "\"IHOS_TEAMCITY_TOKEN\""),
    ("teamcity.allow_insecure_http", "false"),
    ("teamcity.fetch_timeout", "\"30m\""),
];

/// The file with line `at` (0-based) given `value`.
fn with_value(at: usize, value: &str) -> String {
    TEMPLATE
        .iter()
        .enumerate()
        .map(|(i, (key, v))| {
            if key.is_empty() {
                format!("{v}\n")
            } else {
                let name = key.rsplit(['.', ']']).next().unwrap_or(key);
                format!("{name} = {}\n", if i == at { value } else { v })
            }
        })
        .collect()
}

/// Values an attacker or an unlucky operator writes.
fn hostile_value() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        Just(String::new()),
        Just("..".to_string()),
        Just("/".to_string()),
        Just("/opt".to_string()),
        Just("../../../etc/shadow".to_string()),
        Just("ihos\n.war".to_string()),
        Just("a\u{0}b".to_string()),
        Just("%".to_string()),
        Just("%Y/%m".to_string()),
        Just("18446744073709551615s1s".to_string()),
        Just("9223372036854775807s".to_string()),
        Just("-1s".to_string()),
        Just("http://".to_string()),
        Just("x".repeat(70_000)),
        Just("é\u{202e}🦀".to_string()),
        "\\PC{0,40}",
        "[ -~\t\n\r]{0,40}",
    ];
    prop_oneof![
        text.prop_map(|s| toml::Value::String(s).to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("9223372036854775807".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("0".to_string()),
        Just("1e308".to_string()),
        Just("nan".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("[\"\"]".to_string()),
        Just("{}".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
    ]
}

/// Keys whose value also decides another key's check (the host's directories and user
/// decide where its instances' webapps may not be).
fn related(changed: &str, named: &str, message: &str) -> bool {
    let host_dir = changed.starts_with("hosts.h101.")
        && ["state_dir", "staging_dir", "user"]
            .iter()
            .any(|k| changed.ends_with(k));
    // An instance's name and app are what templates in the defaults expand: a value that
    // makes a templated setting wrong is refused on the template's line, naming it.
    let instance = changed
        .strip_suffix(".app")
        .or_else(|| changed.strip_suffix(".name"));
    let through_template = instance
        .is_some_and(|i| named.starts_with("defaults.") && message.contains(&format!("(in {i}, ")));
    host_dir && named.starts_with("instances[0].") || through_template
}

#[test]
fn the_template_is_valid() {
    let text = with_value(usize::MAX, "");
    Topology::from_toml(&text, "ihos.toml").unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_value_is_refused_where_it_is_or_accepted(
        at in (0..TEMPLATE.len()).prop_filter("a key line", |i| !TEMPLATE[*i].0.is_empty()),
        value in hostile_value(),
    ) {
        let key = TEMPLATE[at].0;
        let text = with_value(at, &value);
        match Topology::from_toml(&text, "ihos.toml") {
            Ok(t) => {
                // Accepted: then it is usable as it is (every instance's paths join).
                for i in &t.instances {
                    prop_assert!(!i.war_name.contains(['/', '\n', '\0']), "{key} = {value}");
                    prop_assert!(!i.log_pattern.contains('/'), "{key} = {value}");
                }
            }
            Err(ConfigError::Syntax { line, .. }) => {
                prop_assert_eq!(line, at + 1, "{} = {}: the error points elsewhere", key, value);
            }
            Err(ConfigError::Invalid { key: named, message, .. }) => {
                prop_assert!(
                    named == key || named.starts_with(&format!("{key}.")) || related(key, &named, &message),
                    "{key} = {value}: the error names {named}: {message}"
                );
            }
            Err(other) => prop_assert!(false, "{key} = {value}: {other}"),
        }
    }
}

/// The findings that were accepted by validation and failed only mid-rollout, each refused
/// up front with its key.
#[test]
fn values_that_once_failed_mid_rollout_are_refused_with_their_key() {
    let key_of = |key: &str, value: &str| {
        let at = TEMPLATE.iter().position(|(k, _)| *k == key).unwrap();
        match Topology::from_toml(&with_value(at, value), "ihos.toml") {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{key} = {value}: {other:?}"),
        }
    };
    for (key, value) in [
        ("instances[0].health.startup_log", "\"../../../etc/shadow\""),
        ("instances[0].log_pattern", "\"..\""),
        ("instances[0].war_name", "\"ihos\\n.war\""),
        ("instances[0].webapps", "\"/\""),
        ("hosts.h101.state_dir", "\"/\""),
        ("instances[0].webapps", "\"/var/lib/ihos/releases\""),
        ("policy.start_timeout", "9223372036854775807"),
        ("policy.stop_grace", "\"25h\""),
        ("instances[0].health.url", "\"http://\""),
        ("instances[0].health.startup_line", "\"\""),
        ("instances[0].container_port", "0"),
        ("instances[0].health.expect_status", "42"),
    ] {
        assert_eq!(key_of(key, value), key, "{key} = {value}");
    }
}

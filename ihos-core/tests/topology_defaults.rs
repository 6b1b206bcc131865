//! `[defaults]`, `[hosts.NAME.defaults]` and templates (`{name}`, `{app}`, `{host}`,
//! `{port}`): what each instance resolves to, where each value is said to come from, and
//! every way of writing them wrong refused with the key to edit.

use ihos_core::{ConfigError, InstanceConfig, SettingOrigin, Topology};

const HOSTS: &str = r#"
[hosts.h101]
address = "127.0.0.11"
user = "deploy"

[hosts.h103]
address = "127.0.0.13"
user = "deploy"

[load_balancer]
host = "h101"
container = "nginx"
config = "/opt/nginx/nginx.conf"
upstream = "service_ihos"
"#;

/// The runbook's four instances and its canary, every setting written out.
const EXPLICIT: &str = r#"
[[instances]]
name = "101-pep1"
host = "h101"
container = "ihos_pep1_official_1"
backend = "127.0.0.11:39091"
webapps = "/opt/docker/ihos/pep1/tomcat/webapps"
logs = "/opt/docker/ihos/pep1/tomcat/logs"
health = { url = "http://127.0.0.1:39091/ihos/", timeout = "5s" }

[[instances]]
name = "101-pep2"
host = "h101"
container = "ihos_pep2_official_1"
backend = "127.0.0.11:39092"
webapps = "/opt/docker/ihos/pep2/tomcat/webapps"
logs = "/opt/docker/ihos/pep2/tomcat/logs"
health = { url = "http://127.0.0.1:39092/ihos/", timeout = "5s" }

[[instances]]
name = "103-pep1"
host = "h103"
container = "ihos_pep1_official_1"
backend = "127.0.0.13:39091"
webapps = "/opt/docker/ihos/pep1/tomcat/webapps"
logs = "/opt/docker/ihos/pep1/tomcat/logs"
health = { url = "http://127.0.0.1:39091/ihos/", timeout = "5s" }

[[instances]]
name = "103-pep2"
host = "h103"
container = "ihos_pep2_official_1"
backend = "127.0.0.13:39092"
webapps = "/opt/docker/ihos/pep2/tomcat/webapps"
logs = "/opt/docker/ihos/pep2/tomcat/logs"
health = { url = "http://127.0.0.1:39092/ihos/", timeout = "5s" }
"#;

/// The same four, written once.
const WITH_DEFAULTS: &str = r#"
[defaults]
container = "ihos_{app}_official_1"
webapps = "/opt/docker/ihos/{app}/tomcat/webapps"
logs = "/opt/docker/ihos/{app}/tomcat/logs"
health = { url = "http://127.0.0.1:{port}/ihos/", timeout = "5s" }

[[instances]]
name = "101-pep1"
host = "h101"
app = "pep1"
backend = "127.0.0.11:39091"

[[instances]]
name = "101-pep2"
host = "h101"
app = "pep2"
backend = "127.0.0.11:39092"

[[instances]]
name = "103-pep1"
host = "h103"
app = "pep1"
backend = "127.0.0.13:39091"

[[instances]]
name = "103-pep2"
host = "h103"
app = "pep2"
backend = "127.0.0.13:39092"
"#;

fn load(instances: &str) -> Result<Topology, ConfigError> {
    Topology::from_toml(&format!("{HOSTS}{instances}"), "ihos.toml")
}

/// The settings alone (no origins, no `app`: what the rollout uses).
fn settings(i: &InstanceConfig) -> InstanceConfig {
    InstanceConfig {
        app: String::new(),
        origins: Default::default(),
        ..i.clone()
    }
}

fn refused(instances: &str) -> (String, String) {
    match load(instances) {
        Err(ConfigError::Invalid { key, message, .. }) => (key, message),
        other => panic!("not refused with a key: {other:?}\n{instances}"),
    }
}

/// The line of the combined file holding `needle` (1-based), for origins.
fn line_of(instances: &str, needle: &str) -> usize {
    let text = format!("{HOSTS}{instances}");
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn defaults_and_templates_give_the_same_instances_as_writing_them_out() {
    let explicit = load(EXPLICIT).unwrap();
    let short = load(WITH_DEFAULTS).unwrap();
    assert_eq!(explicit.instances.len(), 4);
    for (a, b) in explicit.instances.iter().zip(&short.instances) {
        assert_eq!(settings(a), settings(b));
    }
    assert_eq!(short.instances[1].app, "pep2");
    assert_eq!(
        explicit.instances[1].app, "101-pep2",
        "app defaults to the name"
    );
}

#[test]
fn the_shipped_example_uses_defaults_and_means_the_runbook() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/ihos.toml"
    ))
    .unwrap();
    assert!(text.contains("[defaults]"));
    let t = Topology::from_toml(&text, "ihos.toml").unwrap();
    let i = &t.instances[3];
    assert_eq!(i.name, "103-pep2");
    assert_eq!(i.container, "ihos_pep2_official_1");
    assert_eq!(i.webapps, "/opt/docker/ihos/pep2/tomcat/webapps");
    assert_eq!(i.logs, "/opt/docker/ihos/pep2/tomcat/logs");
    assert_eq!(i.health.url, "http://127.0.0.1:39092/ihos/");
    let c = &t.canary.as_ref().unwrap().instance;
    assert_eq!(c.webapps, "/opt/docker/ihos/pep1/tomcat/webapps");
    assert_eq!(c.health.url, "http://127.0.0.1:39091/ihos/");
}

#[test]
fn the_instance_wins_over_its_host_which_wins_over_defaults() {
    let text = r#"
[defaults]
container = "c-{name}"
webapps = "/srv/global/{name}/webapps"
logs = "/srv/global/{name}/logs"
war_name = "global.war"
container_port = 8081
health = { url = "http://127.0.0.1:{port}/", startup_line = "global line", expect_status = 204 }

[hosts.h103.defaults]
webapps = "/srv/h103/{name}/webapps"
war_name = "h103.war"
health = { startup_line = "h103 line" }

[[instances]]
name = "a"
host = "h101"
backend = "127.0.0.11:1001"

[[instances]]
name = "b"
host = "h103"
backend = "127.0.0.13:1002"

[[instances]]
name = "c"
host = "h103"
backend = "127.0.0.13:1003"
war_name = "own.war"
health = { expect_status = 200 }
"#;
    let t = load(text).unwrap();
    let [a, b, c] = &t.instances[..] else {
        panic!()
    };
    assert_eq!(a.webapps, "/srv/global/a/webapps");
    assert_eq!(a.war_name, "global.war");
    assert_eq!(a.health.startup_line, "global line");
    assert_eq!(b.webapps, "/srv/h103/b/webapps");
    assert_eq!(
        b.logs, "/srv/global/b/logs",
        "the host's defaults say nothing of logs"
    );
    assert_eq!(b.war_name, "h103.war");
    assert_eq!(b.health.startup_line, "h103 line");
    // health is merged key by key: the host's startup_line, [defaults]' url and status.
    assert_eq!(b.health.url, "http://127.0.0.1:1002/");
    assert_eq!(b.health.expect_status, 204);
    assert_eq!(c.war_name, "own.war");
    assert_eq!(c.health.expect_status, 200);
    assert_eq!(c.health.url, "http://127.0.0.1:1003/");
    assert_eq!(c.container_port, 8081);
    assert_eq!(c.log_pattern, "logFile.%Y-%m-%d.log", "ihos's own default");

    let origin = |i: &InstanceConfig, key: &str| i.origins[key].describe("ihos.toml");
    let line = |needle: &str| line_of(text, needle);
    assert_eq!(
        origin(b, "webapps"),
        format!(
            "ihos.toml:{} [hosts.h103.defaults] \"/srv/h103/{{name}}/webapps\"",
            line("/srv/h103/")
        )
    );
    assert_eq!(
        origin(b, "war_name"),
        format!("ihos.toml:{} [hosts.h103.defaults]", line("h103.war"))
    );
    assert_eq!(
        origin(b, "health.expect_status"),
        format!("ihos.toml:{} [defaults]", line("expect_status = 204"))
    );
    assert_eq!(
        origin(c, "war_name"),
        format!("ihos.toml:{}", line("own.war"))
    );
    assert_eq!(origin(c, "log_pattern"), "default");
    assert_eq!(
        origin(c, "backend"),
        format!("ihos.toml:{}", line("1003\""))
    );
    assert_eq!(origin(a, "app"), "default \"{name}\"");
    assert_eq!(c.origins["health.timeout"], SettingOrigin::DEFAULT);
    // Every setting has an origin.
    for i in &t.instances {
        assert_eq!(i.origins.len(), 15, "{:?}", i.origins.keys());
    }
}

#[test]
fn literal_braces_are_doubled_and_every_placeholder_expands() {
    let text = r#"
[defaults]
container = "{app}-{host}-{port}-{name}"
webapps = "/srv/{{x}}/{app}/webapps"
logs = "/srv/{name}/logs"
health = { url = "http://127.0.0.1:{port}/?q={{a}}" }

[[instances]]
name = "n1"
app = "a1"
host = "h101"
backend = "[::1]:8443"
"#;
    let t = load(text).unwrap();
    let i = &t.instances[0];
    assert_eq!(i.container, "a1-h101-8443-n1");
    assert_eq!(i.webapps, "/srv/{x}/a1/webapps");
    assert_eq!(i.health.url, "http://127.0.0.1:8443/?q={a}");
}

#[test]
fn the_canary_takes_defaults_from_its_own_host() {
    let text = r#"
[defaults]
container = "ihos_{app}"
webapps = "/opt/{app}/webapps"
logs = "/opt/{app}/logs"
health = { url = "http://127.0.0.1:{port}/" }

[hosts.h103.defaults]
container = "canary_{app}"

[[instances]]
name = "101-pep1"
app = "pep1"
host = "h101"
backend = "127.0.0.11:39091"

[canary]
site_file = "/opt/nginx/sites/ihos"

[canary.instance]
name = "103-pep1"
app = "pep1"
host = "h103"
backend = "127.0.0.13:39091"
"#;
    let t = load(text).unwrap();
    let c = &t.canary.unwrap().instance;
    assert_eq!(c.container, "canary_pep1");
    assert_eq!(c.webapps, "/opt/pep1/webapps");
}

#[test]
fn settings_that_belong_to_one_instance_have_no_default() {
    for (section, key) in [
        ("[defaults]", "name"),
        ("[defaults]", "app"),
        ("[defaults]", "backend"),
        ("[hosts.h101.defaults]", "name"),
        ("[hosts.h101.defaults]", "app"),
        ("[hosts.h101.defaults]", "backend"),
        ("[hosts.h101.defaults]", "host"),
    ] {
        let text = format!("{section}\n{key} = \"x\"\n{EXPLICIT}");
        let (named, message) = refused(&text);
        let section_key = section.trim_matches(['[', ']']);
        assert_eq!(named, format!("{section_key}.{key}"), "{message}");
    }
    // A host in [defaults] is allowed (one host for all).
    let one_host = WITH_DEFAULTS.replace("[defaults]", "[defaults]\nhost = \"h101\"");
    let one_host = one_host.replace("host = \"h103\"\n", "");
    let t = load(&one_host.replace("127.0.0.13", "127.0.0.12")).unwrap_err();
    // Two pep1 on h101 now share a webapps directory: refused on the defaults' line.
    match t {
        ConfigError::Invalid { key, message, .. } => {
            assert_eq!(key, "defaults.container", "{message}");
            assert!(
                message
                    .contains("(in instances[2], 103-pep1, written as \"ihos_{app}_official_1\")"),
                "{message}"
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_required_setting_nobody_gives_says_where_it_may_go() {
    let (key, message) = refused(
        r#"
[[instances]]
name = "a"
host = "h101"
backend = "127.0.0.11:1"
container = "c"
logs = "/srv/logs"
health = { url = "http://127.0.0.1:1/" }
"#,
    );
    assert_eq!(key, "instances[0].webapps");
    assert_eq!(
        message,
        "missing: set webapps in the instance, in [hosts.h101.defaults] or in [defaults]"
    );
    let (key, message) = refused("[[instances]]\nname = \"a\"\n");
    assert_eq!(key, "instances[0].host");
    assert!(
        message.contains("in the instance or in [defaults]"),
        "{message}"
    );
    let (key, _) = refused("[[instances]]\nhost = \"h101\"\n");
    assert_eq!(key, "instances[0].name");
    let (key, message) = refused("[[instances]]\nname = \"a\"\nhost = \"h101\"\n");
    assert_eq!(key, "instances[0].backend");
    assert!(message.contains("its own backend"), "{message}");
}

#[test]
fn a_malformed_template_is_refused_where_it_is_written() {
    for (text, key, says) in [
        (
            WITH_DEFAULTS.replace("/opt/docker/ihos/{app}/tomcat/webapps", "/opt/{ap}/webapps"),
            "defaults.webapps",
            "unknown placeholder {ap} (known: {name}, {app}, {host}, {port}",
        ),
        (
            WITH_DEFAULTS.replace("ihos_{app}_official_1", "ihos_{app_1"),
            "defaults.container",
            "never closed",
        ),
        (
            format!(
                "{}{WITH_DEFAULTS}",
                "[hosts.h103.defaults]\nlogs = \"/x/{host}/}\"\n"
            ),
            "hosts.h103.defaults.logs",
            "a lone '}'",
        ),
        (
            WITH_DEFAULTS.replacen(
                "app = \"pep1\"",
                "app = \"pep1\"\nwar_name = \"{war}.war\"",
                1,
            ),
            "instances[0].war_name",
            "unknown placeholder {war}",
        ),
        (
            // Used by no instance (each has its own container): still refused, a typo is a typo.
            format!("[defaults]\ncontainer = \"/x/{{prot}}\"\n{EXPLICIT}"),
            "defaults.container",
            "unknown placeholder {prot}",
        ),
    ] {
        let (named, message) = refused(&text);
        assert_eq!(named, key, "{message}");
        assert!(message.contains(says), "{key}: {message}");
    }
}

#[test]
fn a_value_made_wrong_by_its_template_is_refused_on_the_line_to_edit() {
    // app and name become path components: nothing that climbs out or splits a path.
    for app in ["..", ".", "a/b", "", "a b", "x\u{1b}[2J"] {
        let quoted = toml::Value::String(app.to_string()).to_string();
        let text = WITH_DEFAULTS.replacen("app = \"pep1\"", &format!("app = {quoted}"), 1);
        let (key, message) = refused(&text);
        assert_eq!(key, "instances[0].app", "{app:?}: {message}");
    }
    // A port that the backend does not have.
    let text = WITH_DEFAULTS.replacen(
        "backend = \"127.0.0.11:39091\"",
        "backend = \"127.0.0.11\"",
        1,
    );
    let (key, message) = refused(&text);
    assert_eq!(key, "instances[0].health.url");
    assert!(
        message.contains("uses {port}, but the backend has no port"),
        "{message}"
    );
    assert!(message.contains("[defaults]"), "{message}");
    // A template that is fine alone but makes a relative path for this instance.
    let text = WITH_DEFAULTS.replace(
        "webapps = \"/opt/docker/ihos/{app}/tomcat/webapps\"",
        "webapps = \"{app}/webapps\"",
    );
    let (key, message) = refused(&text);
    assert_eq!(key, "defaults.webapps", "{message}");
    assert!(message.contains("instances[0], 101-pep1"), "{message}");
    // Without {app}, instances of one host collide: said on the line to edit.
    let text = WITH_DEFAULTS.replace(
        "/opt/docker/ihos/{app}/tomcat/webapps",
        "/opt/docker/ihos/tomcat/webapps",
    );
    let (key, message) = refused(&text);
    assert_eq!(key, "defaults.webapps", "{message}");
    assert!(message.contains("used by another instance"), "{message}");
    // An instance's own value keeps its own key.
    let text = WITH_DEFAULTS.replacen(
        "app = \"pep2\"",
        "app = \"pep2\"\nwebapps = \"rel/{name}\"",
        1,
    );
    let (key, message) = refused(&text);
    assert_eq!(key, "instances[1].webapps", "{message}");
    assert!(message.contains("(written as \"rel/{name}\")"), "{message}");
}

#[test]
fn unknown_keys_and_wrong_types_in_a_defaults_section_point_at_the_line() {
    for (text, needle) in [
        (
            format!("[defaults]\nwebapp = \"/x\"\n{EXPLICIT}"),
            "webapp = ",
        ),
        (
            format!("[defaults]\ncontainer_port = \"80\"\n{EXPLICIT}"),
            "container_port",
        ),
        (
            format!("[hosts.h103.defaults]\nhealth = {{ urll = \"x\" }}\n{EXPLICIT}"),
            "urll",
        ),
        (
            format!("[defaults]\nhealth = \"http://x/\"\n{EXPLICIT}"),
            "health =",
        ),
    ] {
        match load(&text) {
            Err(ConfigError::Syntax { line, message, .. }) => {
                assert_eq!(line, line_of(&text, needle), "{needle}: {message}");
            }
            other => panic!("{needle}: {other:?}"),
        }
    }
}

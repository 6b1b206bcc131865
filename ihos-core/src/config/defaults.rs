//! Resolving each instance's settings: its own value, else its host's `[hosts.NAME.defaults]`,
//! else `[defaults]`, else ihos's default; templates expanded (see `template.rs`); and for
//! each setting, where it came from (`file:line`, the section when it is a default, the
//! template when there was one), for `ihos validate --effective` and for errors.

use std::collections::BTreeMap;

use toml::Spanned;

use super::invalid::{Invalid, invalid};
use super::spec::{HealthSpec, InstanceSpec};
use super::template::{self, Vars};
use serde::Serialize;

use super::position::line_col;
use super::{Dur, HealthConfig, HostConfig, InstanceConfig};

/// Where one of an instance's settings came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SettingOrigin {
    /// The line of the topology file it is written on; `None` for ihos's own default.
    pub line: Option<usize>,
    /// The section it is written in when it is not the instance's own: `defaults` or
    /// `hosts.NAME.defaults`.
    pub section: Option<String>,
    /// The value as written, when it was a template (`/opt/{app}/webapps`).
    pub template: Option<String>,
}

impl SettingOrigin {
    /// ihos's own default.
    pub const DEFAULT: SettingOrigin = SettingOrigin {
        line: None,
        section: None,
        template: None,
    };

    /// `FILE:LINE [SECTION] "TEMPLATE"`, or `default`.
    pub fn describe(&self, file: &str) -> String {
        let mut out = match self.line {
            Some(line) => format!("{file}:{line}"),
            None => "default".into(),
        };
        if let Some(section) = &self.section {
            out.push_str(&format!(" [{section}]"));
        }
        if let Some(t) = &self.template {
            out.push_str(&format!(" {t:?}"));
        }
        out
    }
}

/// Where the text being resolved came from, for origins.
#[derive(Clone, Copy)]
pub(super) struct Source<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a str,
}

impl Source<'_> {
    fn line<T>(&self, value: &Spanned<T>) -> usize {
        line_col(self.text, value.span().start).0
    }
}

/// Settings that may use placeholders; the others are each instance's own identity.
const TEMPLATED: [&str; 8] = [
    "container",
    "webapps",
    "war_name",
    "logs",
    "log_pattern",
    "health.url",
    "health.startup_line",
    "health.startup_log",
];

/// Checks a defaults section: no setting that must differ between instances, and templates
/// well formed. `section` is `defaults` or `hosts.NAME.defaults`.
pub(super) fn check_defaults(
    spec: &InstanceSpec,
    section: &str,
    per_host: bool,
) -> Result<(), Invalid> {
    let own = [
        ("name", spec.name.is_some()),
        ("app", spec.app.is_some()),
        ("backend", spec.backend.is_some()),
    ];
    for (key, set) in own {
        if set {
            return Err(invalid(
                format!("{section}.{key}"),
                "each instance has its own; set it in the instance",
            ));
        }
    }
    if per_host && spec.host.is_some() {
        return Err(invalid(
            format!("{section}.host"),
            "these are the defaults of the instances on this host; set host in the instance (or in [defaults])",
        ));
    }
    check_templates(spec, section)
}

/// Checks every template an instance's section writes, naming the key.
pub(super) fn check_templates(spec: &InstanceSpec, section: &str) -> Result<(), Invalid> {
    for key in TEMPLATED {
        if let Some(value) = string_field(key)(spec) {
            template::check(value.get_ref()).map_err(|e| invalid(format!("{section}.{key}"), e))?;
        }
    }
    Ok(())
}

/// The string setting `key` of a section (one of [`TEMPLATED`]).
fn string_field(key: &str) -> fn(&InstanceSpec) -> Option<&Spanned<String>> {
    match key {
        "container" => |s| s.container.as_ref(),
        "webapps" => |s| s.webapps.as_ref(),
        "war_name" => |s| s.war_name.as_ref(),
        "logs" => |s| s.logs.as_ref(),
        "log_pattern" => |s| s.log_pattern.as_ref(),
        "health.url" => |s| health(s)?.url.as_ref(),
        "health.startup_line" => |s| health(s)?.startup_line.as_ref(),
        _ => |s| health(s)?.startup_log.as_ref(),
    }
}

fn health(s: &InstanceSpec) -> Option<&HealthSpec> {
    s.health.as_ref()
}

/// The sections an instance's settings are looked up in, most specific first.
struct Layers<'a> {
    own: &'a InstanceSpec,
    host: Option<(&'a str, &'a InstanceSpec)>,
    global: Option<&'a InstanceSpec>,
    source: Source<'a>,
    /// The instance's host, when it is one of the topology's (for messages).
    host_name: Option<&'a str>,
}

impl<'a> Layers<'a> {
    /// The first section that sets a value, and that value's origin.
    fn find<T>(
        &self,
        get: impl Fn(&'a InstanceSpec) -> Option<&'a Spanned<T>>,
    ) -> Option<(&'a Spanned<T>, SettingOrigin)> {
        let at = |v: &Spanned<T>, section: Option<String>| SettingOrigin {
            line: Some(self.source.line(v)),
            section,
            template: None,
        };
        if let Some(v) = get(self.own) {
            return Some((v, at(v, None)));
        }
        if let Some((host, spec)) = self.host {
            if let Some(v) = get(spec) {
                return Some((v, at(v, Some(format!("hosts.{host}.defaults")))));
            }
        }
        let v = get(self.global?)?;
        Some((v, at(v, Some("defaults".into()))))
    }

    /// Where a missing setting may be written.
    fn missing(&self, key: &str) -> String {
        match self.host_name {
            Some(host) => format!(
                "missing: set {key} in the instance, in [hosts.{host}.defaults] or in [defaults]"
            ),
            None => format!("missing: set {key} in the instance or in [defaults]"),
        }
    }
}

/// One instance being resolved.
struct Resolving<'a> {
    layers: Layers<'a>,
    prefix: &'a str,
    vars: Vars<'a>,
    origins: BTreeMap<String, SettingOrigin>,
}

impl Resolving<'_> {
    /// A string setting, expanded; `fallback` is ihos's default (`None`: required).
    fn text(&mut self, key: &str, fallback: Option<fn() -> String>) -> Result<String, Invalid> {
        let full = format!("{}.{key}", self.prefix);
        let Some((value, origin)) = self.layers.find(string_field(key)) else {
            let fallback = fallback.ok_or_else(|| invalid(&full, self.layers.missing(key)))?;
            self.origins.insert(key.into(), SettingOrigin::DEFAULT);
            return Ok(fallback());
        };
        let raw = value.get_ref();
        let expanded = template::expand(raw, &self.vars).map_err(|e| {
            let from = origin.describe(self.layers.source.file);
            invalid(&full, format!("{e} (the value {raw:?} is from {from})"))
        })?;
        let origin = SettingOrigin {
            template: template::is_template(raw).then(|| raw.clone()),
            ..origin
        };
        self.origins.insert(key.into(), origin);
        Ok(expanded)
    }

    /// A setting with no template.
    fn plain<T: Clone>(
        &mut self,
        key: &str,
        get: impl Fn(&InstanceSpec) -> Option<&Spanned<T>>,
        fallback: T,
    ) -> T {
        match self.layers.find(get) {
            Some((v, origin)) => {
                self.origins.insert(key.into(), origin);
                v.get_ref().clone()
            }
            None => {
                self.origins.insert(key.into(), SettingOrigin::DEFAULT);
                fallback
            }
        }
    }
}

/// Resolves one instance (`prefix` is `instances[2]` or `canary.instance`).
pub(super) fn resolve_instance(
    own: &InstanceSpec,
    prefix: &str,
    hosts: &BTreeMap<String, HostConfig>,
    global: Option<&InstanceSpec>,
    source: Source<'_>,
) -> Result<InstanceConfig, Invalid> {
    check_templates(own, prefix)?;
    let key = |k: &str| format!("{prefix}.{k}");
    let mut origins = BTreeMap::new();
    let here = |v: &Spanned<String>| SettingOrigin {
        line: Some(source.line(v)),
        section: None,
        template: None,
    };
    let name = own
        .name
        .as_ref()
        .ok_or_else(|| invalid(key("name"), "missing: every instance has a name"))?;
    origins.insert("name".to_string(), here(name));
    let name = name.get_ref();
    let host_only = Layers {
        own,
        host: None,
        global,
        source,
        host_name: None,
    };
    let (host, origin) = host_only
        .find(|s| s.host.as_ref())
        .ok_or_else(|| invalid(key("host"), host_only.missing("host")))?;
    origins.insert("host".into(), origin);
    let host = host.get_ref();
    let app = match &own.app {
        Some(app) => {
            check_app(&key("app"), app.get_ref())?;
            origins.insert("app".into(), here(app));
            app.get_ref()
        }
        None => {
            let name_template = SettingOrigin {
                template: Some("{name}".into()),
                ..SettingOrigin::DEFAULT
            };
            origins.insert("app".into(), name_template);
            name
        }
    };
    let backend = own.backend.as_ref().ok_or_else(|| {
        invalid(
            key("backend"),
            "missing: every instance has its own backend (host:port, as in the nginx upstream)",
        )
    })?;
    origins.insert("backend".into(), here(backend));
    let backend = backend.get_ref();
    let host_defaults = hosts
        .get(host)
        .and_then(|h| h.defaults.as_ref())
        .map(|d| (host.as_str(), d));
    let mut r = Resolving {
        layers: Layers {
            own,
            host: host_defaults,
            global,
            source,
            host_name: hosts.contains_key(host).then_some(host.as_str()),
        },
        prefix,
        vars: Vars {
            name,
            app,
            host,
            port: port_of(backend),
        },
        origins,
    };
    let container = r.text("container", None)?;
    let webapps = r.text("webapps", None)?;
    let war_name = r.text("war_name", Some(super::default_war_name))?;
    let logs = r.text("logs", None)?;
    let log_pattern = r.text("log_pattern", Some(super::default_log_pattern))?;
    let url = r.text("health.url", None)?;
    let startup_line = r.text("health.startup_line", Some(super::default_startup_line))?;
    let startup_log = r.text("health.startup_log", Some(super::default_startup_log))?;
    let expect_status = r.plain(
        "health.expect_status",
        |s| health(s)?.expect_status.as_ref(),
        super::default_status(),
    );
    let timeout: Dur = r.plain(
        "health.timeout",
        |s| health(s)?.timeout.as_ref(),
        super::default_probe_timeout(),
    );
    let container_port = r.plain(
        "container_port",
        |s| s.container_port.as_ref(),
        super::default_container_port(),
    );
    Ok(InstanceConfig {
        name: name.clone(),
        host: host.clone(),
        app: app.clone(),
        container,
        backend: backend.clone(),
        webapps,
        war_name,
        logs,
        log_pattern,
        health: HealthConfig {
            url,
            expect_status,
            timeout,
            startup_line,
            startup_log,
        },
        container_port,
        origins: r.origins,
    })
}

/// The port of `host:port` (`[v6]:port` too), if it has one.
fn port_of(backend: &str) -> Option<&str> {
    let (_, port) = backend.rsplit_once(':')?;
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
}

/// `app` goes into paths and container names: the characters of a name only.
fn check_app(key: &str, app: &str) -> Result<(), Invalid> {
    let ok = !app.is_empty()
        && app != "."
        && app != ".."
        && app
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{app:?}: use letters, digits, '_', '.', '-'"),
        ))
    }
}

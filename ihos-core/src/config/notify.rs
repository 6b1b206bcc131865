//! `[[notify]]`: the chat robots and webhooks told about a run.
//!
//! ```toml
//! [[notify]]
//! kind = "dingtalk"                     # dingtalk | wecom | feishu | slack | webhook
//! url_env = "IHOS_DINGTALK_URL"         # the NAME of the variable holding the robot's URL
//! secret_env = "IHOS_DINGTALK_SECRET"   # signed robots: the NAME of the variable holding it
//! # on = ["start", "done", "failure", "canary"]   # the default; "instance" adds each instance
//! # lang = "zh"                         # zh (default for dingtalk, wecom, feishu) | en
//! # mention = ["13800000000"]           # who is @-ed on a failure
//! ```
//!
//! The URL carries the robot's token, so it is never written here, only the name of the
//! variable that holds it (as `teamcity.token_env`).

use serde::{Deserialize, Serialize};

use super::invalid::{Invalid, check_env_name, invalid};

/// A chat robot or webhook told about runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Which service.
    pub kind: NotifyKind,
    /// Name of the environment variable holding the URL (it contains the robot's token).
    pub url_env: String,
    /// Name of the environment variable holding the signing secret (DingTalk's "加签",
    /// Feishu's "签名校验", or an HMAC-SHA256 of a webhook's body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// What it is told (default: start, done, failure, canary).
    #[serde(default = "default_on")]
    pub on: Vec<NotifyOn>,
    /// The language of the messages (default: zh for DingTalk, WeCom and Feishu, en for
    /// Slack and webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    /// Who is @-ed on a failure: mobile numbers or user ids as the service knows them
    /// (DingTalk: a mobile number or userId; WeCom: a userid, or a mobile number (sent in a
    /// text message: WeCom's markdown cannot @ one); Feishu: an open_id or user_id; Slack:
    /// a member id such as `U024BE7LH`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention: Vec<String>,
}

/// A service ihos notifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// A DingTalk (钉钉) group's custom robot.
    Dingtalk,
    /// A WeCom (企业微信) group robot.
    Wecom,
    /// A Feishu / Lark (飞书) group's custom bot.
    Feishu,
    /// A Slack incoming webhook.
    Slack,
    /// Any URL: a JSON POST of the notice.
    Webhook,
}

impl NotifyKind {
    /// Its name in the topology.
    pub fn name(self) -> &'static str {
        match self {
            NotifyKind::Dingtalk => "dingtalk",
            NotifyKind::Wecom => "wecom",
            NotifyKind::Feishu => "feishu",
            NotifyKind::Slack => "slack",
            NotifyKind::Webhook => "webhook",
        }
    }

    /// The language a message is in when `lang` is not given.
    pub fn default_lang(self) -> Lang {
        match self {
            NotifyKind::Dingtalk | NotifyKind::Wecom | NotifyKind::Feishu => Lang::Zh,
            NotifyKind::Slack | NotifyKind::Webhook => Lang::En,
        }
    }

    /// Whether `secret_env` means something for it.
    fn signs(self) -> bool {
        matches!(
            self,
            NotifyKind::Dingtalk | NotifyKind::Feishu | NotifyKind::Webhook
        )
    }
}

/// What a robot is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyOn {
    /// A run begins.
    Start,
    /// An instance is done (updated, or rolled back).
    Instance,
    /// A run ended without failure (completed, or stopped on request).
    Done,
    /// A run failed: rolled back, or a human is needed.
    Failure,
    /// A canary's analysis, a ramp's steps.
    Canary,
}

/// A message's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Chinese.
    Zh,
    /// English.
    En,
}

fn default_on() -> Vec<NotifyOn> {
    vec![
        NotifyOn::Start,
        NotifyOn::Done,
        NotifyOn::Failure,
        NotifyOn::Canary,
    ]
}

/// The longest mention accepted: ids and mobile numbers are short; anything longer is a
/// mistake (or an attempt to write markup into the message).
const MENTION_MAX: usize = 64;

/// Checks every `notify[N]`.
pub(super) fn check_all(robots: &[NotifyConfig]) -> Result<(), Invalid> {
    robots.iter().enumerate().try_for_each(|(n, r)| r.check(n))
}

impl NotifyConfig {
    /// A robot of `kind` whose URL is in the variable `url_env`, every other key at its
    /// default.
    pub fn new(kind: NotifyKind, url_env: impl Into<String>) -> Self {
        NotifyConfig {
            kind,
            url_env: url_env.into(),
            secret_env: None,
            on: default_on(),
            lang: None,
            mention: Vec::new(),
        }
    }

    /// The language its messages are in.
    pub fn lang(&self) -> Lang {
        self.lang.unwrap_or(self.kind.default_lang())
    }

    /// Checks `notify[index]`.
    fn check(&self, index: usize) -> Result<(), Invalid> {
        let key = |k: &str| format!("notify[{index}].{k}");
        check_env_name(&key("url_env"), &Some(self.url_env.clone()))?;
        check_env_name(&key("secret_env"), &self.secret_env)?;
        if self.secret_env.is_some() && !self.kind.signs() {
            return Err(invalid(
                key("secret_env"),
                format!(
                    "{} robots are not signed (their URL's key is their only secret); \
                     secret_env is for dingtalk, feishu and webhook",
                    self.kind.name()
                ),
            ));
        }
        if self.on.is_empty() {
            return Err(invalid(
                key("on"),
                "empty: name what it is told (start, instance, done, failure, canary), or \
                 remove this [[notify]]",
            ));
        }
        for (n, on) in self.on.iter().enumerate() {
            if self.on[..n].contains(on) {
                return Err(invalid(key("on"), format!("{on:?} appears twice")));
            }
        }
        for m in &self.mention {
            let ok = !m.is_empty()
                && m.len() <= MENTION_MAX
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.@+".contains(&b));
            if !ok {
                return Err(invalid(
                    key("mention"),
                    format!(
                        "{m:?}: a mention is a mobile number or a user id (letters, digits, \
                         _ - . @ +; at most {MENTION_MAX})"
                    ),
                ));
            }
        }
        Ok(())
    }
}

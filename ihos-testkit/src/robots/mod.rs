//! A loopback receiver that answers as the chat robots' servers do: DingTalk, WeCom,
//! Feishu, Slack and a plain webhook, each at its own URL path, checking each service's
//! token, signature and message shape as its documentation says and answering refusals
//! with that service's own codes (HTTP 200 and a non-zero `errcode` / `code` for the
//! Chinese services). Written from the services' documents (sources in `check`), never
//! from ihos's client.

mod check;
mod http;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::Value;

use crate::loopback_server::LoopbackServer;

/// A service the receiver plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RobotService {
    /// DingTalk's custom robot.
    DingTalk,
    /// WeCom's group robot.
    WeCom,
    /// Feishu's custom bot.
    Feishu,
    /// A Slack incoming webhook.
    Slack,
    /// A plain JSON webhook (ihos's own `X-Ihos-Signature-256`).
    Webhook,
}

/// A message the receiver got, and how it answered.
#[derive(Debug, Clone)]
pub struct RobotMessage {
    /// Which service it was sent to.
    pub service: RobotService,
    /// Whether the service would have shown it.
    pub accepted: bool,
    /// The answer's body (`{"errcode":0,"errmsg":"ok"}`, `channel_not_found`, ...).
    pub answer: String,
    /// The request's JSON body (`null` when it was not JSON).
    pub body: Value,
    /// What a person would read (the markdown, the post's text).
    pub text: String,
    /// Who the message @-s as the service would show it (a DingTalk `atMobiles` entry
    /// only when the text holds `@` and it).
    pub mentioned: Vec<String>,
}

/// The tokens in the receiver's URLs (test values, never real ones).
pub(crate) const DINGTALK_TOKEN: &str = "dingtalk-test-token";
pub(crate) const WECOM_KEY: &str = "wecom-test-key";
pub(crate) const FEISHU_HOOK: &str = "feishu-test-hook";
pub(crate) const SLACK_PATH: &str = "/services/T00000000/B00000000/slacktestpath";

#[derive(Default)]
pub(crate) struct State {
    pub(crate) secrets: Vec<(RobotService, String)>,
    pub(crate) received: Vec<RobotMessage>,
    /// The next this many requests are answered 503 (a service's bad moment).
    pub(crate) unavailable: usize,
    /// The next this many requests are answered 429 with `Retry-After: 1`.
    pub(crate) rate_limited: usize,
    /// Every request is answered with a proxy's block page echoing its URL.
    pub(crate) echo_url: bool,
    /// When each service accepted its messages (their rate limits).
    pub(crate) accepted_at: Vec<(RobotService, Instant)>,
}

impl State {
    pub(crate) fn secret(&self, service: RobotService) -> Option<&str> {
        self.secrets
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, k)| k.as_str())
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// The receiver. Dropping it stops it.
pub struct RobotReceiver {
    server: LoopbackServer,
    state: Arc<Mutex<State>>,
}

impl RobotReceiver {
    /// Starts it on `127.0.0.1` (a free port), every robot unsigned.
    pub fn start() -> std::io::Result<RobotReceiver> {
        let state = Arc::new(Mutex::new(State::default()));
        let server = {
            let state = state.clone();
            http::start(move |request| check::handle(&state, request))?
        };
        Ok(RobotReceiver { server, state })
    }

    /// `service`'s robot checks signatures made with `secret` from now on.
    pub fn sign_with(&self, service: RobotService, secret: &str) {
        let mut s = lock(&self.state);
        s.secrets.retain(|(x, _)| *x != service);
        s.secrets.push((service, secret.to_string()));
    }

    /// The next `n` requests are answered `503 Service Unavailable`.
    pub fn unavailable_for(&self, n: usize) {
        lock(&self.state).unavailable = n;
    }

    /// The next `n` requests are answered `429 Too Many Requests` with `Retry-After: 1`.
    pub fn rate_limited_for(&self, n: usize) {
        lock(&self.state).rate_limited = n;
    }

    /// Every request is answered `403` with a proxy's HTML page that echoes its URL (the
    /// robot's token in it).
    pub fn echo_url_as_a_proxy(&self) {
        lock(&self.state).echo_url = true;
    }

    /// The URL to give ihos for `service` (its token included, as the real ones).
    pub fn url(&self, service: RobotService) -> String {
        let base = format!("http://{}", self.server.addr);
        match service {
            RobotService::DingTalk => format!("{base}/robot/send?access_token={DINGTALK_TOKEN}"),
            RobotService::WeCom => format!("{base}/cgi-bin/webhook/send?key={WECOM_KEY}"),
            RobotService::Feishu => format!("{base}/open-apis/bot/v2/hook/{FEISHU_HOOK}"),
            RobotService::Slack => format!("{base}{SLACK_PATH}"),
            RobotService::Webhook => format!("{base}/hook"),
        }
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<RobotMessage> {
        lock(&self.state).received.clone()
    }

    /// The messages `service` accepted.
    pub fn accepted(&self, service: RobotService) -> Vec<RobotMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.service == service && m.accepted)
            .collect()
    }
}

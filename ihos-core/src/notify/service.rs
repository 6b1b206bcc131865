//! Each service's request and answer, as it documents its custom robot / incoming webhook:
//! - DingTalk (钉钉 "自定义机器人发送群消息"): `POST` JSON `{"msgtype":"markdown",
//!   "markdown":{"title","text"},"at":{"atMobiles","atUserIds","isAtAll"}}`, an @-ed
//!   mobile or userId also written as `@...` in the text; signed robots get
//!   `&timestamp=<ms>&sign=<...>` on the URL; HTTP 200 with `{"errcode":0,"errmsg":"ok"}`,
//!   a refusal as a non-zero `errcode` (310000 signature/keyword, 300001 token, 130101 more
//!   than 20 messages a minute); the body under 20,000 bytes.
//! - WeCom (企业微信 "消息推送", document 99110): `{"msgtype":"markdown","markdown":
//!   {"content"}}`, content at most 4096 bytes, `<@userid>` in it to @ someone; only a
//!   `text` message takes `mentioned_mobile_list` (content at most 2048 bytes); answers as
//!   DingTalk's (93000 bad webhook, 45009 rate, 40058 too long).
//! - Feishu ("自定义机器人使用指南"): `{"timestamp":"<s>","sign","msg_type":"post",
//!   "content":{"post":{"zh_cn":{"title","content":[[{"tag":"text"},{"tag":"at",
//!   "user_id"}]]}}}}` under 20 KB; answers `{"code":0,"msg":"success"}` (older servers
//!   `StatusCode`), 19021 signature or time, 19024 keyword, 9499 bad request, 11232 rate.
//! - Slack (incoming webhooks, changelog 2016-05-17): `{"text"}` in mrkdwn (`&`, `<`,
//!   `>` escaped), `<@U…>` to @; 200 `ok`, else a status and a word (`invalid_payload`,
//!   `channel_not_found`, ...), 429 with `Retry-After`.

use std::time::Duration;

use serde_json::{Value as Json, json};

use super::notice::{Notice, RunInfo};
use super::render::{Line, Message, Value};
use super::sign;
use crate::config::{Lang, NotifyKind};

/// One HTTP request to a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) url: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

/// How a service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Delivered,
    /// Refused for good: its message.
    Refused(String),
    /// Worth another try (a rate limit, the service's own trouble), after this long if it
    /// said.
    Retry(String, Option<Duration>),
}

/// What a request is built from.
pub(crate) struct Outgoing<'a> {
    pub(crate) kind: NotifyKind,
    pub(crate) url: &'a str,
    pub(crate) secret: Option<&'a str>,
    pub(crate) lang: Lang,
    pub(crate) message: &'a Message,
    /// Who is @-ed (empty: nobody).
    pub(crate) mention: &'a [String],
    pub(crate) notice: &'a Notice,
    pub(crate) run: &'a RunInfo,
    /// Now, in milliseconds since the epoch.
    pub(crate) now_ms: i64,
}

/// Body limits, with room for the JSON around the text.
const DINGTALK_BODY: usize = 20_000;
const WECOM_MARKDOWN: usize = 4096;
const WECOM_TEXT: usize = 2048;
const FEISHU_BODY: usize = 20 * 1024;
const SLACK_TEXT: usize = 40_000;

fn is_mobile(id: &str) -> bool {
    let digits = id.strip_prefix('+').unwrap_or(id);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The requests that tell `o.message` (WeCom's @ of a mobile number takes a second one).
pub(crate) fn requests(o: &Outgoing<'_>) -> Vec<Request> {
    let json_post = |url: String, body: Json| Request {
        url,
        headers: vec![("Content-Type", "application/json; charset=utf-8".into())],
        body: body.to_string().into_bytes(),
    };
    match o.kind {
        NotifyKind::Dingtalk => {
            let (mobiles, ids): (Vec<&String>, Vec<&String>) =
                o.mention.iter().partition(|m| is_mobile(m));
            let ats = o
                .mention
                .iter()
                .map(|m| format!("@{m}"))
                .collect::<Vec<_>>();
            // The JSON around the text, the title and the @ line take the rest; measured
            // on the body as sent (JSON escapes make the text longer).
            let full = markdown(o.message, Markup::Markdown);
            let mut room =
                DINGTALK_BODY.saturating_sub(1000 + o.message.title.len() + ats.join(" ").len());
            let body = loop {
                let mut text = fit(&full, room);
                if !ats.is_empty() {
                    text.push_str(&format!("\n\n{}", ats.join(" ")));
                }
                let body = json!({
                    "msgtype": "markdown",
                    "markdown": {"title": o.message.title, "text": text},
                    "at": {"atMobiles": mobiles, "atUserIds": ids, "isAtAll": false},
                });
                let size = body.to_string().len();
                if size < DINGTALK_BODY || room == 0 {
                    break body;
                }
                room = room.saturating_sub(size - DINGTALK_BODY + 500);
            };
            let url = match o.secret {
                Some(secret) => format!(
                    "{}{}timestamp={}&sign={}",
                    o.url,
                    if o.url.contains('?') { '&' } else { '?' },
                    o.now_ms,
                    sign::dingtalk(secret, o.now_ms)
                ),
                None => o.url.to_string(),
            };
            vec![json_post(url, body)]
        }
        NotifyKind::Wecom => {
            let (mobiles, ids): (Vec<&String>, Vec<&String>) =
                o.mention.iter().partition(|m| is_mobile(m));
            let ats = ids.iter().map(|m| format!("<@{m}>")).collect::<Vec<_>>();
            let room = WECOM_MARKDOWN.saturating_sub(ats.join(" ").len() + 2);
            let mut content = fit(&markdown(o.message, Markup::Markdown), room);
            if !ats.is_empty() {
                content.push_str(&format!("\n{}", ats.join(" ")));
            }
            let mut out = vec![json_post(
                o.url.to_string(),
                json!({"msgtype": "markdown", "markdown": {"content": content}}),
            )];
            if !mobiles.is_empty() {
                out.push(json_post(
                    o.url.to_string(),
                    json!({"msgtype": "text", "text": {
                        "content": fit(&o.message.title, WECOM_TEXT),
                        "mentioned_mobile_list": mobiles,
                    }}),
                ));
            }
            out
        }
        NotifyKind::Feishu => {
            let mut paragraphs: Vec<Json> = o
                .message
                .lines
                .iter()
                .map(|l| json!([{"tag": "text", "text": plain(l)}]))
                .collect();
            let room = FEISHU_BODY.saturating_sub(1500 + o.message.title.len());
            while paragraphs
                .iter()
                .map(|p| p.to_string().len())
                .sum::<usize>()
                > room
            {
                paragraphs.pop();
            }
            if !o.mention.is_empty() {
                let ats: Vec<Json> = o
                    .mention
                    .iter()
                    .map(|m| json!({"tag": "at", "user_id": m}))
                    .collect();
                paragraphs.push(Json::Array(ats));
            }
            let locale = match o.lang {
                Lang::Zh => "zh_cn",
                Lang::En => "en_us",
            };
            let mut body = json!({
                "msg_type": "post",
                "content": {"post": {locale: {"title": o.message.title, "content": paragraphs}}},
            });
            if let Some(secret) = o.secret {
                let ts = o.now_ms.div_euclid(1000);
                body["timestamp"] = json!(ts.to_string());
                body["sign"] = json!(sign::feishu(secret, ts));
            }
            vec![json_post(o.url.to_string(), body)]
        }
        NotifyKind::Slack => {
            let ats = o
                .mention
                .iter()
                .map(|m| format!("<@{m}>"))
                .collect::<Vec<_>>();
            let mut text = fit(&markdown(o.message, Markup::Slack), SLACK_TEXT - 2000);
            if !ats.is_empty() {
                text.push_str(&format!("\n{}", ats.join(" ")));
            }
            vec![json_post(o.url.to_string(), json!({"text": text}))]
        }
        NotifyKind::Webhook => {
            let body = json!({
                "schema": 1,
                "category": o.notice.category(),
                "title": o.message.title,
                "lines": o.message.lines.iter().map(|l| json!({"label": l.label, "value": match &l.value {
                    Value::Text(t) | Value::Code(t) => t,
                }})).collect::<Vec<_>>(),
                "mention": o.mention,
                "run": o.run,
                "notice": o.notice,
            });
            let mut r = json_post(o.url.to_string(), body);
            if let Some(secret) = o.secret {
                r.headers
                    .push(("X-Ihos-Signature-256", sign::webhook(secret, &r.body)));
            }
            vec![r]
        }
    }
}

#[derive(Clone, Copy)]
enum Markup {
    /// DingTalk's and WeCom's markdown.
    Markdown,
    /// Slack's mrkdwn.
    Slack,
}

/// A line without markup (Feishu's post text).
fn plain(l: &Line) -> String {
    match &l.value {
        Value::Text(t) | Value::Code(t) => format!("{}: {t}", l.label),
    }
}

/// The message in a markdown dialect: a bold title, then `- label: value` with outside
/// values as inline code (a backtick in them cannot close it: it becomes `'`).
fn markdown(m: &Message, markup: Markup) -> String {
    let slack_escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let esc = |s: &str| match markup {
        Markup::Markdown => s.to_string(),
        Markup::Slack => slack_escape(s),
    };
    let mut out = match markup {
        Markup::Markdown => format!("### {}\n", esc(&m.title)),
        Markup::Slack => format!("*{}*\n", esc(&m.title)),
    };
    // Text from elsewhere cannot close its code span, nor be read as a link, an image, an
    // @ or a font tag where a service's markdown reads those inside code too.
    let outside = |c: &str| {
        let c = c.replace('`', "'");
        match markup {
            Markup::Markdown => c
                .replace('<', "＜")
                .replace('>', "＞")
                .replace('[', "［")
                .replace(']', "］"),
            Markup::Slack => slack_escape(&c),
        }
    };
    for l in &m.lines {
        let value = match &l.value {
            Value::Text(t) => esc(t),
            Value::Code(c) => format!("`{}`", outside(c)),
        };
        match markup {
            Markup::Markdown => out.push_str(&format!("- **{}**: {value}\n", esc(&l.label))),
            Markup::Slack => out.push_str(&format!("• *{}*: {value}\n", esc(&l.label))),
        }
    }
    out
}

/// `text` cut at a line (or a character) so that it holds in `max` bytes.
fn fit(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mark = "\n…";
    let mut cut = max.saturating_sub(mark.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    let head = head.rfind('\n').map_or(head, |n| &head[..n]);
    format!("{head}{mark}")
}

/// Reads a service's answer: `status`, its `Retry-After` header, and its body.
pub(crate) fn answer(
    kind: NotifyKind,
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Answer {
    let after = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let said = || format!("HTTP {status}: {}", super::render::one_line(body, 200));
    let parsed: Option<Json> = serde_json::from_str(body).ok();
    let code_of = |keys: &[&str]| {
        parsed
            .as_ref()
            .and_then(|v| keys.iter().find_map(|k| v.get(*k).and_then(Json::as_i64)))
    };
    let msg_of = |keys: &[&str]| {
        parsed
            .as_ref()
            .and_then(|v| keys.iter().find_map(|k| v.get(*k).and_then(Json::as_str)))
            .map(|m| super::render::one_line(m, 200))
            .unwrap_or_default()
    };
    if status == 429 || status >= 500 {
        return Answer::Retry(said(), after);
    }
    match kind {
        NotifyKind::Dingtalk | NotifyKind::Wecom | NotifyKind::Feishu => {
            let (code, message) = if kind == NotifyKind::Feishu {
                // `code` is the field to read; `StatusCode` is what older servers send.
                (
                    code_of(&["code", "StatusCode"]),
                    msg_of(&["msg", "StatusMessage"]),
                )
            } else {
                (code_of(&["errcode"]), msg_of(&["errmsg"]))
            };
            match code {
                Some(0) if (200..300).contains(&status) => Answer::Delivered,
                // Rate limits: DingTalk 130101, WeCom 45009, Feishu 11232; WeCom's -1 is
                // "system busy".
                Some(c @ (130101 | 45009 | 11232 | -1)) => {
                    Answer::Retry(format!("code {c}: {message}"), after)
                }
                Some(c) => Answer::Refused(format!("code {c}: {message}")),
                None => Answer::Refused(format!("an answer without its code: {}", said())),
            }
        }
        NotifyKind::Slack | NotifyKind::Webhook => {
            if (200..300).contains(&status) {
                Answer::Delivered
            } else {
                Answer::Refused(said())
            }
        }
    }
}

#[cfg(test)]
mod tests;

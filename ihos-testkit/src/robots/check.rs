//! Each service's checks and answers. Sources:
//! - DingTalk: "自定义机器人发送群消息" and "自定义机器人安全设置" (open.dingtalk.com):
//!   `access_token` in the query; 加签 = HmacSHA256(key = secret, message = `timestamp
//!   "\n" secret` joined), base64, URL-encoded, the timestamp in ms within one hour; msgtype
//!   text/link/markdown/actionCard/feedCard, markdown needs `title` and `text`; an
//!   `atMobiles`/`atUserIds` entry is shown as an @ only when the text holds `@` and it;
//!   20 messages a minute. Refusals as HTTP 200 with errcode: 300001 "token is not exist",
//!   310000 "sign not match" / "invalid timestamp", 130101 "send too fast", 460101 for a
//!   body over 20,000 bytes (as reported by users; the code and wording of a malformed
//!   message are this receiver's own: 40035 "缺少参数").
//! - WeCom: "消息推送配置说明" (developer.work.weixin.qq.com document 99110): `key` in the
//!   query; markdown `content` at most 4096 bytes with `<@userid>` to @, text `content`
//!   at most 2048 bytes with `mentioned_list` / `mentioned_mobile_list`; 20 messages a
//!   minute; errcode 93000 bad key, 40058 too long, 40008 bad message type, 45009 rate.
//! - Feishu: "自定义机器人使用指南" (open.feishu.cn): the hook id in the path; signature
//!   = base64(HmacSHA256(key = timestamp + "\n" + secret, message = "")), the timestamp
//!   a string of seconds within one hour; body under 20 KB; msg_type text, post, image,
//!   share_chat, interactive; `{"code":0,"msg":"success",...}`, 19001 bad hook, 19021
//!   signature or time, 9499 "Bad Request".
//! - Slack: incoming webhooks and their errors (api.slack.com changelog 2016-05-17):
//!   `200 ok`; 400 `invalid_payload` / `no_text`; 404 `no_service`.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::http::{HttpReply, HttpRequest};
use super::{
    DINGTALK_TOKEN, FEISHU_HOOK, RobotMessage, RobotService, SLACK_PATH, State, WECOM_KEY, lock,
};

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

const HOUR_MS: i64 = 3_600_000;

/// A query string read as a form decoder does (`+` is a space, `%XX` a byte).
fn query(target: &str) -> Vec<(String, String)> {
    let q = target.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn json_reply(value: Value) -> HttpReply {
    HttpReply {
        status: 200,
        content_type: "application/json",
        headers: vec![],
        body: value.to_string(),
    }
}

fn text_reply(status: u16, body: &str) -> HttpReply {
    HttpReply {
        status,
        content_type: "text/html",
        headers: vec![],
        body: body.into(),
    }
}

/// What the handler decided for one message.
struct Verdict {
    reply: HttpReply,
    accepted: bool,
    text: String,
    mentioned: Vec<String>,
}

fn refuse(reply: HttpReply) -> Verdict {
    Verdict {
        reply,
        accepted: false,
        text: String::new(),
        mentioned: vec![],
    }
}

fn errcode(code: i64, message: &str) -> Verdict {
    refuse(json_reply(json!({"errcode": code, "errmsg": message})))
}

fn feishu_code(code: i64, message: &str) -> Verdict {
    refuse(json_reply(
        json!({"code": code, "msg": message, "data": {}}),
    ))
}

pub(super) fn handle(state: &Mutex<State>, request: HttpRequest) -> HttpReply {
    let path = request.target.split('?').next().unwrap_or("").to_string();
    let service = match path.as_str() {
        "/robot/send" => RobotService::DingTalk,
        "/cgi-bin/webhook/send" => RobotService::WeCom,
        p if p.starts_with("/open-apis/bot/v2/hook/") => RobotService::Feishu,
        p if p.starts_with("/services/") => RobotService::Slack,
        "/hook" => RobotService::Webhook,
        _ => return text_reply(404, "not found"),
    };
    let mut s = lock(state);
    if s.unavailable > 0 {
        s.unavailable -= 1;
        return text_reply(503, "service unavailable");
    }
    if s.rate_limited > 0 {
        s.rate_limited -= 1;
        // As Slack's incoming webhooks answer over their rate (api.slack.com rate limits).
        return HttpReply {
            status: 429,
            content_type: "text/plain",
            headers: vec![("Retry-After", "1".into())],
            body: "rate_limited".into(),
        };
    }
    if s.echo_url {
        // A company proxy's block page, echoing the request's whole target.
        return HttpReply {
            status: 403,
            content_type: "text/html",
            headers: vec![],
            body: format!(
                "<html><body>{}Access to http://robot.invalid{} is blocked by policy.</body></html>",
                " ".repeat(400),
                request.target.replace('&', "&amp;")
            ),
        };
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let secret = s.secret(service).map(str::to_string);
    // Messages accepted in the last minute (DingTalk and WeCom allow 20).
    let minute_ago = Instant::now() - Duration::from_secs(60);
    s.accepted_at.retain(|(_, t)| *t > minute_ago);
    let recent = s.accepted_at.iter().filter(|(x, _)| *x == service).count();
    let verdict = if request.method != "POST" {
        refuse(text_reply(404, "not found"))
    } else {
        match service {
            RobotService::DingTalk => dingtalk(&request, &body, secret.as_deref(), recent),
            RobotService::WeCom => wecom(&request, &body, recent),
            RobotService::Feishu => feishu(&request, &path, &body, secret.as_deref()),
            RobotService::Slack => slack(&path, &body),
            RobotService::Webhook => webhook(&request, secret.as_deref()),
        }
    };
    if verdict.accepted {
        s.accepted_at.push((service, Instant::now()));
    }
    s.received.push(RobotMessage {
        service,
        accepted: verdict.accepted,
        answer: verdict.reply.body.clone(),
        body,
        text: verdict.text,
        mentioned: verdict.mentioned,
    });
    verdict.reply
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn dingtalk(request: &HttpRequest, body: &Value, secret: Option<&str>, recent: usize) -> Verdict {
    let q = query(&request.target);
    if param(&q, "access_token") != Some(DINGTALK_TOKEN) {
        return errcode(300001, "token is not exist");
    }
    if let Some(secret) = secret {
        let ts = param(&q, "timestamp").and_then(|t| t.parse::<i64>().ok());
        let Some(ts) = ts.filter(|t| now_ms().abs_diff(*t) <= HOUR_MS as u64) else {
            return errcode(310000, "invalid timestamp");
        };
        let expected = STANDARD.encode(hmac(
            secret.as_bytes(),
            format!("{ts}\n{secret}").as_bytes(),
        ));
        if param(&q, "sign") != Some(expected.as_str()) {
            return errcode(310000, "sign not match");
        }
    }
    if request.body.len() > 20_000 {
        return errcode(460101, "message too long, exceed 20000 bytes");
    }
    if recent >= 20 {
        return errcode(130101, "send too fast, exceed 20 times per minute");
    }
    let text = match body["msgtype"].as_str() {
        Some("markdown") => match (
            body["markdown"]["title"].as_str(),
            body["markdown"]["text"].as_str(),
        ) {
            (Some(t), Some(x)) if !t.is_empty() && !x.is_empty() => x.to_string(),
            _ => return errcode(40035, "缺少参数 markdown.title 或 markdown.text"),
        },
        Some("text") => match body["text"]["content"].as_str() {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => return errcode(40035, "缺少参数 text.content"),
        },
        Some("link" | "actionCard" | "feedCard") => String::new(),
        _ => return errcode(40035, "缺少参数 msgtype"),
    };
    let mut mentioned = strings(&body["at"]["atMobiles"]);
    mentioned.extend(strings(&body["at"]["atUserIds"]));
    mentioned.retain(|m| text.contains(&format!("@{m}")));
    Verdict {
        reply: json_reply(json!({"errcode": 0, "errmsg": "ok"})),
        accepted: true,
        text,
        mentioned,
    }
}

fn wecom(request: &HttpRequest, body: &Value, recent: usize) -> Verdict {
    let q = query(&request.target);
    if param(&q, "key") != Some(WECOM_KEY) {
        return errcode(93000, "invalid webhook url, hint: [receiver]");
    }
    if recent >= 20 {
        return errcode(45009, "api freq out of limit");
    }
    let (text, mentioned) = match body["msgtype"].as_str() {
        Some("markdown") => {
            let Some(content) = body["markdown"]["content"].as_str() else {
                return errcode(40008, "invalid message type: markdown.content missing");
            };
            if content.len() > 4096 {
                return errcode(40058, "markdown.content exceed max length 4096");
            }
            let ats = content
                .split("<@")
                .skip(1)
                .filter_map(|rest| rest.split_once('>').map(|(id, _)| id.to_string()))
                .collect();
            (content.to_string(), ats)
        }
        Some("text") => {
            let Some(content) = body["text"]["content"].as_str() else {
                return errcode(40008, "invalid message type: text.content missing");
            };
            if content.len() > 2048 {
                return errcode(40058, "text.content exceed max length 2048");
            }
            let mut ats = strings(&body["text"]["mentioned_list"]);
            ats.extend(strings(&body["text"]["mentioned_mobile_list"]));
            (content.to_string(), ats)
        }
        _ => return errcode(40008, "invalid message type"),
    };
    Verdict {
        reply: json_reply(json!({"errcode": 0, "errmsg": "ok"})),
        accepted: true,
        text,
        mentioned,
    }
}

fn feishu(request: &HttpRequest, path: &str, body: &Value, secret: Option<&str>) -> Verdict {
    if path.rsplit('/').next() != Some(FEISHU_HOOK) {
        return feishu_code(
            19001,
            "param invalid: incoming webhook access token invalid",
        );
    }
    if request.body.len() > 20 * 1024 || body.is_null() {
        return feishu_code(9499, "Bad Request");
    }
    if let Some(secret) = secret {
        let ts = body["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<i64>().ok());
        let ok = ts.is_some_and(|ts| {
            let fresh = (now_ms() / 1000).abs_diff(ts) <= 3600;
            let expected = STANDARD.encode(hmac(format!("{ts}\n{secret}").as_bytes(), b""));
            fresh && body["sign"].as_str() == Some(expected.as_str())
        });
        if !ok {
            return feishu_code(
                19021,
                "sign match fail or timestamp is not within one hour from current time",
            );
        }
    }
    let mut text = String::new();
    let mut mentioned = Vec::new();
    match body["msg_type"].as_str() {
        Some("text") => match body["content"]["text"].as_str() {
            Some(t) => text = t.to_string(),
            None => return feishu_code(9499, "Bad Request"),
        },
        Some("post") => {
            let Some(locales) = body["content"]["post"].as_object() else {
                return feishu_code(9499, "Bad Request");
            };
            for post in locales.values() {
                if let Some(t) = post["title"].as_str() {
                    text.push_str(&format!("{t}\n"));
                }
                let Some(paragraphs) = post["content"].as_array() else {
                    return feishu_code(9499, "Bad Request");
                };
                for p in paragraphs {
                    let Some(elements) = p.as_array() else {
                        return feishu_code(9499, "Bad Request");
                    };
                    for e in elements {
                        match e["tag"].as_str() {
                            Some("text" | "a") => {
                                text.push_str(e["text"].as_str().unwrap_or_default())
                            }
                            Some("at") => mentioned
                                .push(e["user_id"].as_str().unwrap_or_default().to_string()),
                            Some("img") => {}
                            _ => return feishu_code(9499, "Bad Request"),
                        }
                    }
                    text.push('\n');
                }
            }
        }
        Some("image" | "share_chat" | "interactive") => {}
        _ => return feishu_code(9499, "Bad Request"),
    }
    Verdict {
        reply: json_reply(json!({
            "StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"
        })),
        accepted: true,
        text,
        mentioned,
    }
}

fn slack(path: &str, body: &Value) -> Verdict {
    if path != SLACK_PATH {
        return refuse(text_reply(404, "no_service"));
    }
    if !body.is_object() {
        return refuse(text_reply(400, "invalid_payload"));
    }
    let text = body["text"].as_str().unwrap_or_default().to_string();
    if text.is_empty() && body.get("blocks").is_none() {
        return refuse(text_reply(400, "no_text"));
    }
    let mentioned = text
        .split("<@")
        .skip(1)
        .filter_map(|rest| rest.split_once('>').map(|(id, _)| id.to_string()))
        .collect();
    Verdict {
        reply: text_reply(200, "ok"),
        accepted: true,
        text,
        mentioned,
    }
}

fn webhook(request: &HttpRequest, secret: Option<&str>) -> Verdict {
    if let Some(secret) = secret {
        let hex: String = hmac(secret.as_bytes(), &request.body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if request.header("x-ihos-signature-256") != Some(format!("sha256={hex}").as_str()) {
            return refuse(text_reply(401, "bad signature"));
        }
    }
    Verdict {
        reply: json_reply(json!({})),
        accepted: true,
        text: String::from_utf8_lossy(&request.body).into_owned(),
        mentioned: vec![],
    }
}

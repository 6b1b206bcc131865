use super::*;
use crate::notify::notice::RunKind;
use crate::notify::render::render;
use crate::rollout::Outcome;

fn notice() -> Notice {
    Notice::Finished {
        rollout_id: "r1".into(),
        outcome: Outcome::RolledBack,
        seconds: 61.0,
        updated: vec!["101-pep1".into()],
        failed: vec![crate::notify::notice::InstanceProblem {
            instance: "102-pep1".into(),
            error: "health: `GET /ihos/` answered 500 <html>&".into(),
        }],
        not_restored: vec![],
    }
}

fn run() -> RunInfo {
    RunInfo {
        action: RunKind::Rollout,
        operator: "deploy".into(),
        war: None,
    }
}

fn body(r: &Request) -> Json {
    serde_json::from_slice(&r.body).unwrap()
}

fn build(kind: NotifyKind, secret: Option<&str>, mention: &[String], lang: Lang) -> Vec<Request> {
    let n = notice();
    let m = render(&n, &run(), lang);
    requests(&Outgoing {
        kind,
        url: "https://robot.invalid/send?access_token=TOKEN",
        secret,
        lang,
        message: &m,
        mention,
        notice: &n,
        run: &run(),
        now_ms: 1_700_000_000_002,
    })
}

#[test]
fn dingtalk_signed_markdown_with_its_mentions_in_the_text() {
    let mention = vec!["13800000000".to_string(), "manager01".to_string()];
    let r = build(
        NotifyKind::Dingtalk,
        Some("SEC0123456789abcdef"),
        &mention,
        Lang::Zh,
    );
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].url,
        "https://robot.invalid/send?access_token=TOKEN&timestamp=1700000000002\
         &sign=VGvd0brDJp%2FnMZtR%2BXnA3yBIlhowT%2BTwkRPua0q1%2Fjg%3D"
    );
    let b = body(&r[0]);
    assert_eq!(b["msgtype"], "markdown");
    assert_eq!(b["at"]["atMobiles"], json!(["13800000000"]));
    assert_eq!(b["at"]["atUserIds"], json!(["manager01"]));
    assert_eq!(b["at"]["isAtAll"], false);
    let text = b["markdown"]["text"].as_str().unwrap();
    // DingTalk renders the @ only when the text holds it.
    assert!(text.ends_with("@13800000000 @manager01"), "{text}");
    assert!(text.starts_with("### ❌ ihos 发布失败，已回滚"), "{text}");
    assert!(
        text.contains("- **102-pep1**: `health: 'GET /ihos/' answered 500 ＜html＞&`"),
        "{text}"
    );
    assert_eq!(b["markdown"]["title"], "❌ ihos 发布失败，已回滚");
    // Without a secret the URL is as given.
    let r = build(NotifyKind::Dingtalk, None, &[], Lang::Zh);
    assert_eq!(r[0].url, "https://robot.invalid/send?access_token=TOKEN");
    assert_eq!(body(&r[0])["at"]["atMobiles"], json!([]));
}

#[test]
fn wecom_mentions_userids_in_markdown_and_mobiles_in_a_text_message() {
    let mention = vec!["13800000000".to_string(), "zhangsan".to_string()];
    let r = build(NotifyKind::Wecom, None, &mention, Lang::Zh);
    assert_eq!(r.len(), 2);
    let md = body(&r[0]);
    assert_eq!(md["msgtype"], "markdown");
    let content = md["markdown"]["content"].as_str().unwrap();
    assert!(content.ends_with("<@zhangsan>"), "{content}");
    assert!(!content.contains("13800000000"), "{content}");
    assert!(md["markdown"].get("mentioned_mobile_list").is_none());
    let text = body(&r[1]);
    assert_eq!(text["msgtype"], "text");
    assert_eq!(
        text["text"]["mentioned_mobile_list"],
        json!(["13800000000"])
    );
    // No mobile: one message.
    assert_eq!(
        build(NotifyKind::Wecom, None, &["lisi".into()], Lang::Zh).len(),
        1
    );
}

#[test]
fn feishu_post_carries_its_signature_and_timestamp_as_strings() {
    let r = build(
        NotifyKind::Feishu,
        Some("abc123"),
        &["ou_123".into()],
        Lang::Zh,
    );
    let b = body(&r[0]);
    assert_eq!(b["timestamp"], "1700000000");
    assert_eq!(b["sign"], "J0suvZQ7pBIXibHw5hyQvuZiXVa3ct5lilLN472FoLk=");
    assert_eq!(b["msg_type"], "post");
    let post = &b["content"]["post"]["zh_cn"];
    assert_eq!(post["title"], "❌ ihos 发布失败，已回滚");
    let paragraphs = post["content"].as_array().unwrap();
    assert_eq!(paragraphs[0][0]["tag"], "text");
    assert_eq!(
        paragraphs.last().unwrap(),
        &json!([{"tag": "at", "user_id": "ou_123"}])
    );
    let en = build(NotifyKind::Feishu, None, &[], Lang::En);
    let b = body(&en[0]);
    assert!(b["content"]["post"]["en_us"].is_object());
    assert!(b.get("sign").is_none() && b.get("timestamp").is_none());
}

#[test]
fn slack_escapes_its_control_characters_and_mentions_members() {
    let r = build(NotifyKind::Slack, None, &["U024BE7LH".into()], Lang::En);
    let text = body(&r[0])["text"].as_str().unwrap().to_string();
    assert!(text.contains("answered 500 &lt;html&gt;&amp;"), "{text}");
    assert!(text.ends_with("<@U024BE7LH>"), "{text}");
    assert!(
        text.starts_with("*❌ ihos rollout failed and was rolled back*"),
        "{text}"
    );
}

#[test]
fn webhook_body_is_signed_as_sent() {
    let r = build(NotifyKind::Webhook, Some("s3cret"), &[], Lang::En);
    let sig = r[0]
        .headers
        .iter()
        .find(|(k, _)| *k == "X-Ihos-Signature-256")
        .unwrap();
    assert_eq!(sig.1, sign::webhook("s3cret", &r[0].body));
    let b = body(&r[0]);
    assert_eq!(b["category"], "failure");
    assert_eq!(b["notice"]["notice"], "finished");
    assert_eq!(b["notice"]["outcome"], "rolled_back");
}

#[test]
fn an_oversized_message_is_cut_under_each_services_limit() {
    let problems = (0..40)
        .map(|i| crate::notify::notice::InstanceProblem {
            instance: format!("instance-{i}"),
            error: "错".repeat(2000),
        })
        .collect();
    let n = Notice::Finished {
        rollout_id: "r1".into(),
        outcome: Outcome::NotRestored,
        seconds: 1.0,
        updated: (0..3000).map(|i| format!("i{i}")).collect(),
        failed: vec![],
        not_restored: problems,
    };
    let mention: Vec<String> = (0..50).map(|i| format!("user{i:058}")).collect();
    for kind in [
        NotifyKind::Dingtalk,
        NotifyKind::Wecom,
        NotifyKind::Feishu,
        NotifyKind::Slack,
    ] {
        let m = render(&n, &run(), Lang::Zh);
        let r = requests(&Outgoing {
            kind,
            url: "https://robot.invalid/x",
            secret: Some("k"),
            lang: Lang::Zh,
            message: &m,
            mention: &mention,
            notice: &n,
            run: &run(),
            now_ms: 0,
        });
        let b = body(&r[0]);
        match kind {
            NotifyKind::Dingtalk => assert!(r[0].body.len() < DINGTALK_BODY),
            NotifyKind::Wecom => {
                assert!(b["markdown"]["content"].as_str().unwrap().len() <= WECOM_MARKDOWN)
            }
            NotifyKind::Feishu => assert!(r[0].body.len() < FEISHU_BODY),
            _ => assert!(b["text"].as_str().unwrap().chars().count() < SLACK_TEXT),
        }
    }
}

#[test]
fn answers_are_read_as_each_service_documents_them() {
    use NotifyKind::{Dingtalk, Feishu, Slack, Webhook, Wecom};
    let ok = || Answer::Delivered;
    let refused = |m: &str| Answer::Refused(m.into());
    let retry =
        |m: &str, after: Option<u64>| Answer::Retry(m.into(), after.map(Duration::from_secs));
    let cases = [
        (Dingtalk, 200, None, r#"{"errcode":0,"errmsg":"ok"}"#, ok()),
        (
            Dingtalk,
            200,
            None,
            r#"{"errcode":310000,"errmsg":"sign not match"}"#,
            refused("code 310000: sign not match"),
        ),
        (
            Dingtalk,
            200,
            None,
            r#"{"errcode":130101,"errmsg":"send too fast"}"#,
            retry("code 130101: send too fast", None),
        ),
        // A 200 without the code (a captive portal, a proxy's page) is no delivery.
        (
            Dingtalk,
            200,
            None,
            "<html>",
            refused("an answer without its code: HTTP 200: <html>"),
        ),
        (
            Wecom,
            200,
            None,
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
            refused("code 93000: invalid webhook url"),
        ),
        (
            Wecom,
            200,
            None,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
            retry("code 45009: api freq out of limit", None),
        ),
        (
            Feishu,
            200,
            None,
            r#"{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}"#,
            ok(),
        ),
        // Older servers: only the redundant fields.
        (
            Feishu,
            200,
            None,
            r#"{"StatusCode":0,"StatusMessage":"success"}"#,
            ok(),
        ),
        (
            Feishu,
            200,
            None,
            r#"{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
            refused(
                "code 19021: sign match fail or timestamp is not within one hour from current time",
            ),
        ),
        (
            Feishu,
            400,
            None,
            r#"{"code":9499,"msg":"Bad Request"}"#,
            refused("code 9499: Bad Request"),
        ),
        (Slack, 200, None, "ok", ok()),
        (
            Slack,
            404,
            None,
            "channel_not_found",
            refused("HTTP 404: channel_not_found"),
        ),
        (Slack, 429, Some("3"), "", retry("HTTP 429: ", Some(3))),
        (Webhook, 503, None, "", retry("HTTP 503: ", None)),
        (Webhook, 204, None, "", ok()),
    ];
    for (kind, status, after, body, expected) in cases {
        assert_eq!(
            answer(kind, status, after, body),
            expected,
            "{kind:?} {status} {body}"
        );
    }
}

#[test]
fn a_body_of_escaped_characters_still_holds_in_dingtalks_limit() {
    // Control characters and quotes take 2 to 6 bytes each once in JSON.
    let n = Notice::Finished {
        rollout_id: "r1".into(),
        outcome: Outcome::NotRestored,
        seconds: 1.0,
        updated: vec![],
        failed: vec![],
        not_restored: (0..12)
            .map(|i| crate::notify::notice::InstanceProblem {
                instance: format!("i{i}"),
                error: "\"\u{1}\\".repeat(100),
            })
            .collect(),
    };
    let m = render(&n, &run(), Lang::En);
    let r = requests(&Outgoing {
        kind: NotifyKind::Dingtalk,
        url: "https://robot.invalid/x",
        secret: None,
        lang: Lang::En,
        message: &m,
        mention: &[],
        notice: &n,
        run: &run(),
        now_ms: 0,
    });
    assert!(r[0].body.len() < DINGTALK_BODY, "{}", r[0].body.len());
    let b = body(&r[0]);
    assert!(b["markdown"]["text"].as_str().unwrap().contains("i0"));
}

#[test]
fn markup_from_elsewhere_is_not_read_as_markup() {
    let n = Notice::Finished {
        rollout_id: "r1".into(),
        outcome: Outcome::RolledBack,
        seconds: 1.0,
        updated: vec![],
        failed: vec![crate::notify::notice::InstanceProblem {
            instance: "i0".into(),
            error: "see [here](http://evil.invalid) ![x](http://evil.invalid/p.png) <@all> <font color=\"warning\">".into(),
        }],
        not_restored: vec![],
    };
    let m = render(&n, &run(), Lang::Zh);
    for kind in [NotifyKind::Dingtalk, NotifyKind::Wecom] {
        let r = requests(&Outgoing {
            kind,
            url: "https://robot.invalid/x",
            secret: None,
            lang: Lang::Zh,
            message: &m,
            mention: &[],
            notice: &n,
            run: &run(),
            now_ms: 0,
        });
        let b = body(&r[0]);
        let text = b["markdown"]["text"]
            .as_str()
            .or(b["markdown"]["content"].as_str())
            .unwrap();
        for bad in ["](", "![", "<@", "<font"] {
            assert!(!text.contains(bad), "{kind:?}: {bad} in {text}");
        }
    }
}

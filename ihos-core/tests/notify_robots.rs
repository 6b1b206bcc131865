//! The Notifier against the loopback robot receiver (ihos-testkit), which checks tokens,
//! signatures and message shapes as each service documents them: every service accepts
//! what ihos sends, the @ of people shows only on failures, refusals become warnings that
//! never show the robot's token, a service's bad moment is retried, and nothing can make
//! the notifier hold a run up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ihos_core::{
    EVENT_SCHEMA, Event, EventRecord, EventSink, Notifier, NotifyConfig, NotifyKind, NotifyOn,
    Outcome, RunInfo, RunKind, Step, WarInfo,
};
use ihos_testkit::{RobotReceiver, RobotService};

fn run() -> RunInfo {
    RunInfo {
        action: RunKind::Rollout,
        operator: "deploy".into(),
        war: Some(WarInfo {
            file: "ihos-v2.war".into(),
            sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            commit: Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904".into()),
            build: Some("482".into()),
        }),
    }
}

fn record(event: Event) -> EventRecord {
    EventRecord {
        schema: EVENT_SCHEMA,
        time: "2026-12-04T00:00:00Z".into(),
        elapsed: 0.0,
        event,
    }
}

/// A rollout of two instances whose second fails and is rolled back.
fn failed_rollout() -> Vec<Event> {
    vec![
        Event::RolloutStarted {
            rollout_id: "20261204-0001".into(),
            sha256: "9f86".into(),
            bytes: 1,
            commit: None,
            instances: vec!["101-pep1".into(), "102-pep1".into()],
            resumed: false,
        },
        Event::InstanceUpdated {
            instance: "101-pep1".into(),
            seconds: 12.0,
        },
        Event::InstanceFailed {
            instance: "102-pep1".into(),
            step: Step::WaitHealthy,
            error: "GET http://127.0.0.1:39092/ihos/ answered 500".into(),
        },
        Event::RolledBack {
            instance: "102-pep1".into(),
        },
        Event::RolloutFinished {
            outcome: Outcome::RolledBack,
            updated: vec!["101-pep1".into()],
            seconds: 95.0,
        },
    ]
}

fn robot(kind: NotifyKind, var: &str, secret_var: Option<&str>, mention: &[&str]) -> NotifyConfig {
    let mut c = NotifyConfig::new(kind, var);
    c.secret_env = secret_var.map(str::to_string);
    c.mention = mention.iter().map(|m| m.to_string()).collect();
    c
}

/// Feeds `events` through the notifier's sink and waits for the messages.
fn play(
    configs: &[NotifyConfig],
    env: &HashMap<String, String>,
    events: Vec<Event>,
) -> Vec<String> {
    let (notifier, warnings) = Notifier::with_env(configs, run(), &|name| env.get(name).cloned());
    assert!(warnings.is_empty(), "{warnings:?}");
    let printed = std::sync::Mutex::new(Vec::new());
    let print = |r: &EventRecord| printed.lock().unwrap().push(r.event.clone());
    {
        let sink = notifier.sink(&print);
        for e in events {
            sink.emit(&record(e));
        }
    }
    let mut problems = notifier.finish(Duration::from_secs(60));
    for e in printed.into_inner().unwrap() {
        if let Event::Warning { message, .. } = e {
            problems.push(message);
        }
    }
    problems
}

#[test]
fn every_service_accepts_the_messages_and_only_failures_mention_people() {
    let rx = RobotReceiver::start().unwrap();
    rx.sign_with(RobotService::DingTalk, "SEC0123456789abcdef");
    rx.sign_with(RobotService::Feishu, "feishu-secret");
    rx.sign_with(RobotService::Webhook, "webhook-secret");
    let env: HashMap<String, String> = [
        ("DT_URL", rx.url(RobotService::DingTalk)),
        ("DT_SECRET", "SEC0123456789abcdef".into()),
        ("WC_URL", rx.url(RobotService::WeCom)),
        ("FS_URL", rx.url(RobotService::Feishu)),
        ("FS_SECRET", "feishu-secret".into()),
        ("SL_URL", rx.url(RobotService::Slack)),
        ("WH_URL", rx.url(RobotService::Webhook)),
        ("WH_SECRET", "webhook-secret".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let configs = vec![
        robot(
            NotifyKind::Dingtalk,
            "DT_URL",
            Some("DT_SECRET"),
            &["13800000000"],
        ),
        robot(
            NotifyKind::Wecom,
            "WC_URL",
            None,
            &["zhangsan", "13900000000"],
        ),
        robot(
            NotifyKind::Feishu,
            "FS_URL",
            Some("FS_SECRET"),
            &["ou_7d8a6e6df7621556ce0d21922b676706"],
        ),
        robot(NotifyKind::Slack, "SL_URL", None, &["U024BE7LH"]),
        robot(NotifyKind::Webhook, "WH_URL", Some("WH_SECRET"), &[]),
    ];
    let problems = play(&configs, &env, failed_rollout());
    assert!(problems.is_empty(), "{problems:?}");
    for m in rx.messages() {
        println!(
            "--- {:?} accepted={} answer={}\n{}",
            m.service, m.accepted, m.answer, m.text
        );
        assert!(m.accepted, "{m:?}");
    }
    // Start and failure (the default `on`), WeCom's failure twice (its mobile @ is a text
    // message).
    let count = |s| rx.accepted(s).len();
    assert_eq!(count(RobotService::DingTalk), 2);
    assert_eq!(count(RobotService::WeCom), 3);
    assert_eq!(count(RobotService::Feishu), 2);
    assert_eq!(count(RobotService::Slack), 2);
    assert_eq!(count(RobotService::Webhook), 2);
    let dt = rx.accepted(RobotService::DingTalk);
    assert!(
        dt[0].text.contains("开始发布") && dt[0].text.contains("#482"),
        "{}",
        dt[0].text
    );
    assert!(dt[0].mentioned.is_empty());
    assert!(
        dt[1].text.contains("102-pep1") && dt[1].text.contains("answered 500"),
        "{}",
        dt[1].text
    );
    assert_eq!(dt[1].mentioned, vec!["13800000000"]);
    let wc = rx.accepted(RobotService::WeCom);
    assert_eq!(wc[1].mentioned, vec!["zhangsan"]);
    assert_eq!(wc[2].mentioned, vec!["13900000000"]);
    let fs = rx.accepted(RobotService::Feishu);
    assert_eq!(fs[1].mentioned, vec!["ou_7d8a6e6df7621556ce0d21922b676706"]);
    assert!(fs[1].text.contains("已回滚"), "{}", fs[1].text);
    let sl = rx.accepted(RobotService::Slack);
    assert!(sl[1].text.contains("rolled back"), "{}", sl[1].text);
    assert_eq!(sl[1].mentioned, vec!["U024BE7LH"]);
    let wh = rx.accepted(RobotService::Webhook);
    assert_eq!(wh[1].body["category"], "failure");
    assert_eq!(wh[1].body["run"]["war"]["build"], "482");
}

#[test]
fn a_refusal_is_a_warning_with_the_services_words_and_never_the_token() {
    let rx = RobotReceiver::start().unwrap();
    rx.sign_with(RobotService::DingTalk, "SEC-the-right-one");
    rx.sign_with(RobotService::Feishu, "the-right-one");
    let env: HashMap<String, String> = [
        ("DT_URL", rx.url(RobotService::DingTalk)),
        ("DT_SECRET", "SEC-a-wrong-one".into()),
        ("FS_URL", rx.url(RobotService::Feishu)),
        ("FS_SECRET", "a-wrong-one".into()),
        // A Slack URL whose path the service does not know.
        (
            "SL_URL",
            rx.url(RobotService::Slack).replace("slacktestpath", "gone"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut configs = vec![
        robot(NotifyKind::Dingtalk, "DT_URL", Some("DT_SECRET"), &[]),
        robot(NotifyKind::Feishu, "FS_URL", Some("FS_SECRET"), &[]),
        robot(NotifyKind::Slack, "SL_URL", None, &[]),
    ];
    for c in &mut configs {
        c.on = vec![NotifyOn::Start];
    }
    let began = Instant::now();
    let problems = play(&configs, &env, failed_rollout());
    assert_eq!(problems.len(), 3, "{problems:?}");
    let all = problems.join("\n");
    assert!(
        all.contains("notify[0] (dingtalk)") && all.contains("code 310000: sign not match"),
        "{all}"
    );
    assert!(
        all.contains("notify[1] (feishu)") && all.contains("code 19021"),
        "{all}"
    );
    assert!(
        all.contains("notify[2] (slack)") && all.contains("HTTP 404: no_service"),
        "{all}"
    );
    for secret in [
        "dingtalk-test-token",
        "feishu-test-hook",
        "/services/",
        "SEC-a-wrong-one",
    ] {
        assert!(!all.contains(secret), "{secret} shown in: {all}");
    }
    // A refusal is final: no tries after it.
    assert_eq!(rx.messages().len(), 3);
    assert!(began.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_services_bad_moment_is_retried_and_delivered() {
    let rx = RobotReceiver::start().unwrap();
    rx.unavailable_for(1);
    rx.rate_limited_for(1);
    let env: HashMap<String, String> =
        [("WH_URL".to_string(), rx.url(RobotService::Webhook))].into();
    let mut c = robot(NotifyKind::Webhook, "WH_URL", None, &[]);
    c.on = vec![NotifyOn::Start];
    let began = Instant::now();
    let problems = play(&[c], &env, failed_rollout());
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(rx.accepted(RobotService::Webhook).len(), 1);
    // 1 s of backoff after the 503, then the 1 s Retry-After of the 429.
    assert!(
        began.elapsed() >= Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
}

#[test]
fn a_proxy_page_echoing_the_url_shows_no_token() {
    let rx = RobotReceiver::start().unwrap();
    rx.echo_url_as_a_proxy();
    rx.sign_with(RobotService::DingTalk, "SEC-echo");
    let env: HashMap<String, String> = [
        ("DT_URL", rx.url(RobotService::DingTalk)),
        ("DT_SECRET", "SEC-echo".into()),
        ("FS_URL", rx.url(RobotService::Feishu)),
        ("SL_URL", rx.url(RobotService::Slack)),
        ("WC_URL", rx.url(RobotService::WeCom)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut configs = vec![
        robot(NotifyKind::Dingtalk, "DT_URL", Some("DT_SECRET"), &[]),
        robot(NotifyKind::Feishu, "FS_URL", None, &[]),
        robot(NotifyKind::Slack, "SL_URL", None, &[]),
        robot(NotifyKind::Wecom, "WC_URL", None, &[]),
    ];
    for c in &mut configs {
        c.on = vec![NotifyOn::Start];
    }
    let problems = play(&configs, &env, failed_rollout());
    assert_eq!(problems.len(), 4, "{problems:?}");
    let all = problems.join("\n");
    assert!(all.contains("HTTP 403"), "{all}");
    for secret in [
        "dingtalk-test-token",
        "wecom-test-key",
        "feishu-test-hook",
        "slacktestpath",
        "sign=",
    ] {
        assert!(!all.contains(secret), "{secret} shown in: {all}");
    }
}

#[test]
fn a_robot_that_accepts_and_never_answers_delays_nobody_else() {
    // A server that takes the connection and says nothing (a firewall's black hole).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    let rx = RobotReceiver::start().unwrap();
    let env: HashMap<String, String> = [
        ("DEAD".to_string(), silent_url),
        ("LIVE".to_string(), rx.url(RobotService::Webhook)),
    ]
    .into();
    let configs = vec![
        robot(NotifyKind::Webhook, "DEAD", None, &[]),
        robot(NotifyKind::Webhook, "LIVE", None, &[]),
    ];
    let (notifier, _) = Notifier::with_env(&configs, run(), &|n| env.get(n).cloned());
    let print = |_: &EventRecord| {};
    let began = Instant::now();
    for e in failed_rollout() {
        notifier.sink(&print).emit(&record(e));
    }
    // The live robot has both messages long before the dead one's first times out.
    while rx.accepted(RobotService::Webhook).len() < 2 && began.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rx.accepted(RobotService::Webhook).len(), 2);
    assert!(began.elapsed() < Duration::from_secs(5));
    let problems = notifier.finish(Duration::from_secs(30));
    // The dead robot: its first message timed out (8 s, no retry: it may have been
    // received), its second got one short try.
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems.iter().all(|p| p.starts_with("notify[0]")),
        "{problems:?}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "{:?}",
        began.elapsed()
    );
    drop(silent);
}

#[test]
fn a_run_that_errs_after_its_start_is_told_as_a_failure() {
    let rx = RobotReceiver::start().unwrap();
    let env: HashMap<String, String> =
        [("WH_URL".to_string(), rx.url(RobotService::Webhook))].into();
    let c = robot(NotifyKind::Webhook, "WH_URL", None, &[]);
    let (notifier, _) = Notifier::with_env(&[c], run(), &|n| env.get(n).cloned());
    // Before any start: nothing to tell.
    notifier.aborted("the lock is held");
    let print = |_: &EventRecord| {};
    notifier
        .sink(&print)
        .emit(&record(failed_rollout().remove(0)));
    notifier.aborted("h103: uploading ihos.war: connection lost");
    // Once.
    notifier.aborted("again");
    assert!(notifier.finish(Duration::from_secs(30)).is_empty());
    let got = rx.accepted(RobotService::Webhook);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].body["category"], "failure");
    assert_eq!(got[1].body["notice"]["notice"], "aborted");
    assert!(got[1].text.contains("connection lost"));
}

#[test]
fn progress_of_instances_arrives_whole_even_when_merged() {
    let rx = RobotReceiver::start().unwrap();
    let env: HashMap<String, String> =
        [("WH_URL".to_string(), rx.url(RobotService::Webhook))].into();
    let mut c = robot(NotifyKind::Webhook, "WH_URL", None, &[]);
    c.on = vec![NotifyOn::Instance];
    let events = (0..30)
        .map(|i| Event::InstanceUpdated {
            instance: format!("i{i}"),
            seconds: 1.0,
        })
        .collect();
    assert!(play(&[c], &env, events).is_empty());
    let mut told: Vec<String> = rx
        .accepted(RobotService::Webhook)
        .iter()
        .flat_map(|m| {
            m.body["notice"]["updated"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    told.sort_by_key(|n| n[1..].parse::<u32>().unwrap());
    assert_eq!(told, (0..30).map(|i| format!("i{i}")).collect::<Vec<_>>());
}

#[test]
fn robots_that_cannot_be_told_are_said_before_the_run() {
    let env: HashMap<String, String> = [
        (
            "CLEAR".to_string(),
            "http://robot.invalid/robot/send?access_token=abc".to_string(),
        ),
        (
            "NOT_URL".to_string(),
            "oapi.dingtalk.com/robot/send".to_string(),
        ),
        (
            "SIGNED".to_string(),
            "https://oapi.dingtalk.com/robot/send?access_token=abc".to_string(),
        ),
    ]
    .into();
    let configs = vec![
        robot(NotifyKind::Dingtalk, "UNSET", None, &[]),
        robot(NotifyKind::Dingtalk, "CLEAR", None, &[]),
        robot(NotifyKind::Dingtalk, "NOT_URL", None, &[]),
        robot(NotifyKind::Dingtalk, "SIGNED", Some("NO_SECRET_HERE"), &[]),
    ];
    let (notifier, warnings) = Notifier::with_env(&configs, run(), &|n| env.get(n).cloned());
    assert_eq!(notifier.robots(), 0);
    let all = warnings.join("\n");
    assert!(
        all.contains("notify[0] (dingtalk): UNSET is not set"),
        "{all}"
    );
    assert!(
        all.contains("notify[1] (dingtalk): CLEAR is an http:// URL to http://robot.invalid"),
        "{all}"
    );
    assert!(
        all.contains("notify[2] (dingtalk): NOT_URL does not hold an http(s) URL"),
        "{all}"
    );
    assert!(
        all.contains("notify[3] (dingtalk): NO_SECRET_HERE (its secret) is not set"),
        "{all}"
    );
    assert!(!all.contains("access_token=abc"), "{all}");
}

#[test]
fn a_robot_that_never_answers_cannot_hold_the_run() {
    // A port nothing listens on: every try fails at once; the message's deadline and the
    // bounded tries end it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env: HashMap<String, String> = [(
        "WH_URL".to_string(),
        format!("http://127.0.0.1:{port}/hook"),
    )]
    .into();
    let mut c = robot(NotifyKind::Webhook, "WH_URL", None, &[]);
    c.on = vec![NotifyOn::Start];
    let (notifier, _) = Notifier::with_env(&[c], run(), &|n| env.get(n).cloned());
    let began = Instant::now();
    let print = |_: &EventRecord| {};
    notifier
        .sink(&print)
        .emit(&record(failed_rollout().remove(0)));
    // Emitting returned at once: the sending is elsewhere.
    assert!(began.elapsed() < Duration::from_millis(500));
    let problems = notifier.finish(Duration::from_secs(30));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("not delivered in time"),
        "{problems:?}"
    );
    assert!(began.elapsed() < Duration::from_secs(15));
}

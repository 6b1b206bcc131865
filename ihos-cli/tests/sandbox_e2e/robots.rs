//! Scenario 3's robots: one of each kind on the loopback robot receiver (ihos-testkit),
//! which checks tokens, signatures and message shapes as each service documents them.

use std::path::Path;

use ihos_testkit::{RobotReceiver, RobotService};

use crate::sandbox::{RolloutRun, say, set_child_env};

const DINGTALK_SECRET: &str = "SEC-sandbox-e2e-not-a-real-secret";
const FEISHU_SECRET: &str = "feishu-sandbox-e2e-not-a-real-secret";

pub struct Robots {
    rx: RobotReceiver,
}

const KINDS: [(RobotService, &str); 5] = [
    (RobotService::DingTalk, "dingtalk"),
    (RobotService::WeCom, "wecom"),
    (RobotService::Feishu, "feishu"),
    (RobotService::Slack, "slack"),
    (RobotService::Webhook, "webhook"),
];

impl Robots {
    /// The receiver, and `[[notify]]` for each kind appended to `toml`, their URLs and
    /// secrets in the environment of the `ihos` children.
    pub fn start(toml: &Path) -> Robots {
        let rx = RobotReceiver::start().expect("robot receiver");
        rx.sign_with(RobotService::DingTalk, DINGTALK_SECRET);
        rx.sign_with(RobotService::Feishu, FEISHU_SECRET);
        let mut text = std::fs::read_to_string(toml).expect("read topology copy");
        for (service, kind) in KINDS {
            let var = format!("IHOS_E2E_{}_URL", kind.to_uppercase());
            set_child_env(&var, &rx.url(service));
            text.push_str(&format!(
                "\n[[notify]]\nkind = \"{kind}\"\nurl_env = \"{var}\"\n"
            ));
            let secret = match service {
                RobotService::DingTalk => Some(DINGTALK_SECRET),
                RobotService::Feishu => Some(FEISHU_SECRET),
                _ => None,
            };
            if let Some(secret) = secret {
                let svar = format!("IHOS_E2E_{}_SECRET", kind.to_uppercase());
                set_child_env(&svar, secret);
                text.push_str(&format!("secret_env = \"{svar}\"\n"));
            }
            let mention = match service {
                RobotService::DingTalk => "13800000000",
                RobotService::WeCom => "zhangsan",
                RobotService::Feishu => "ou_84aad35d084aa403a838cf73ee18467",
                RobotService::Slack => "U024BE7LH",
                RobotService::Webhook => "oncall",
            };
            text.push_str(&format!("mention = [\"{mention}\"]\n"));
        }
        std::fs::write(toml, text).expect("write topology copy");
        Robots { rx }
    }

    /// Every robot accepted a "started" and a "failed" message about `first`; the second
    /// @-s its people (but the webhook's, which carries them in its JSON). Printed.
    pub fn check_failed_rollout(&self, first: &str, run: &RolloutRun) -> String {
        let all = self.rx.messages();
        for m in &all {
            say(&format!(
                "sandbox_e2e:   robot {:?} accepted={} answer={} mentioned={:?}\n{}",
                m.service,
                m.accepted,
                m.answer,
                m.mentioned,
                m.text
                    .lines()
                    .map(|l| format!("sandbox_e2e:     | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        assert!(
            all.iter().all(|m| m.accepted),
            "a robot refused a message: {all:?}\n{}",
            run.explain()
        );
        for (service, _) in KINDS {
            let got = self.rx.accepted(service);
            assert!(got.len() >= 2, "{service:?}: {got:?}");
            let failure = got
                .iter()
                .find(|m| {
                    m.text.contains(first)
                        && (m.text.contains("回滚") || m.text.contains("rolled back"))
                })
                .unwrap_or_else(|| {
                    panic!("{service:?}: no failure message naming {first}: {got:?}")
                });
            if service == RobotService::Webhook {
                assert_eq!(failure.body["category"], "failure");
                assert_eq!(failure.body["mention"][0], "oncall");
            } else {
                assert_eq!(failure.mentioned.len(), 1, "{service:?}: {failure:?}");
            }
            assert!(
                got.iter()
                    .any(|m| m.text.contains("开始发布") || m.text.contains("started")),
                "{service:?}: no start message: {got:?}"
            );
        }
        // Everything it printed: every event on stdout, all of stderr.
        let events: Vec<String> = run.events.iter().map(|e| e.v.to_string()).collect();
        let printed = format!("{}\n{}", events.join("\n"), run.stderr);
        for secret in [
            "not-a-real-secret",
            "dingtalk-test-token",
            "wecom-test-key",
            "feishu-test-hook",
            "slacktestpath",
        ] {
            assert!(
                !printed.contains(secret),
                "a robot's secret or token printed ({secret}): {printed}"
            );
        }
        format!(
            "robots told: {} messages accepted by DingTalk (signed), WeCom, Feishu (signed), Slack, webhook",
            all.len()
        )
    }
}

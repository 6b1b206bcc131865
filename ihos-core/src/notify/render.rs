//! A [`Notice`] said in a language: a title and labelled lines that each service then
//! formats in its own markup. Values that come from outside ihos (instance names, error
//! messages) are kept apart from ihos's own words so that no service reads markup in them.

use super::notice::{InstanceProblem, Notice, RunInfo, RunKind};
use crate::config::Lang;
use crate::rollout::Outcome;

/// A message ready for a service's markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// One line a person reads first (DingTalk shows it in the chat list).
    pub(crate) title: String,
    /// `label: value` lines.
    pub(crate) lines: Vec<Line>,
}

/// One line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) label: String,
    pub(crate) value: Value,
}

/// A line's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// ihos's own words.
    Text(String),
    /// Names and messages from elsewhere, shown as code (never read as markup).
    Code(String),
}

/// Names shown in a list before the rest is counted.
const NAMES_SHOWN: usize = 12;
/// Characters of an error message shown.
const ERROR_CHARS: usize = 300;

/// Both languages' words for one thing.
fn say(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => zh.to_string(),
        Lang::En => en.to_string(),
    }
}

/// `a, b, c … (+9)`: long fleets stay one short line.
pub(crate) fn names(list: &[String], lang: Lang) -> String {
    let shown = list.iter().take(NAMES_SHOWN).cloned().collect::<Vec<_>>();
    let mut out = shown.join(", ");
    if list.len() > NAMES_SHOWN {
        let more = list.len() - NAMES_SHOWN;
        out.push_str(&match lang {
            Lang::Zh => format!(" 等（另 {more} 个）"),
            Lang::En => format!(" … (+{more})"),
        });
    }
    out
}

/// A message from elsewhere on one line, cut to a readable length.
pub(crate) fn one_line(text: &str, max_chars: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

fn duration(seconds: f64, lang: Lang) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds.round() as u64
    } else {
        0
    };
    let (m, s) = (s / 60, s % 60);
    match (lang, m) {
        (Lang::Zh, 0) => format!("{s} 秒"),
        (Lang::Zh, _) => format!("{m} 分 {s} 秒"),
        (Lang::En, 0) => format!("{s}s"),
        (Lang::En, _) => format!("{m}m{s}s"),
    }
}

fn action(a: RunKind, lang: Lang) -> String {
    match a {
        RunKind::Rollout => say(lang, "发布", "rollout"),
        RunKind::Rollback => say(lang, "回滚", "rollback"),
        RunKind::CanaryDeploy => say(lang, "灰度发布", "canary deploy"),
        RunKind::CanaryRollback => say(lang, "灰度回滚", "canary rollback"),
        RunKind::CanaryRamp => say(lang, "灰度放量", "canary ramp"),
    }
}

struct Lines {
    lang: Lang,
    lines: Vec<Line>,
}

impl Lines {
    fn text(&mut self, zh: &str, en: &str, value: String) {
        self.lines.push(Line {
            label: say(self.lang, zh, en),
            value: Value::Text(value),
        });
    }

    fn code(&mut self, zh: &str, en: &str, value: String) {
        self.lines.push(Line {
            label: say(self.lang, zh, en),
            value: Value::Code(value),
        });
    }

    /// What the outcome means for the people reading it.
    fn meaning(&mut self, zh: &str, en: &str) {
        self.text("说明", "meaning", say(self.lang, zh, en));
    }

    fn problems(&mut self, list: &[InstanceProblem]) {
        for p in list.iter().take(NAMES_SHOWN) {
            self.lines.push(Line {
                label: p.instance.clone(),
                value: Value::Code(one_line(&p.error, ERROR_CHARS)),
            });
        }
        if list.len() > NAMES_SHOWN {
            let more = (list.len() - NAMES_SHOWN).to_string();
            self.text("另有", "and", format!("{more} …"));
        }
    }

    /// Who and what: on every message but the instances' progress.
    fn run(&mut self, run: &RunInfo) {
        if !run.operator.is_empty() {
            self.code("操作人", "by", run.operator.clone());
        }
        if let Some(war) = &run.war {
            self.code("WAR", "WAR", war.file.clone());
            if let Some(build) = &war.build {
                self.code("构建", "build", format!("#{build}"));
            }
            if let Some(commit) = &war.commit {
                self.code("提交", "commit", commit.chars().take(12).collect());
            }
            self.code("SHA-256", "SHA-256", war.sha256.chars().take(16).collect());
        }
    }
}

/// `notice` about `run`, in `lang`.
pub(crate) fn render(notice: &Notice, run: &RunInfo, lang: Lang) -> Message {
    let mut l = Lines {
        lang,
        lines: Vec::new(),
    };
    let what = action(run.action, lang);
    let title = match notice {
        Notice::Started {
            rollout_id,
            instances,
            resumed,
        } => {
            l.run(run);
            l.code(
                &format!("实例（{}）", instances.len()),
                &format!("instances ({})", instances.len()),
                names(instances, lang),
            );
            l.code("编号", "id", rollout_id.clone());
            match (lang, resumed) {
                (Lang::Zh, true) => format!("🔄 ihos 继续中断的{what}"),
                (Lang::Zh, false) => format!("🚀 ihos 开始{what}"),
                (Lang::En, true) => format!("🔄 ihos resumes an interrupted {what}"),
                (Lang::En, false) => format!("🚀 ihos {what} started"),
            }
        }
        Notice::Instances {
            updated,
            rolled_back,
        } => {
            if !updated.is_empty() {
                l.code("已更新", "updated", names(updated, lang));
            }
            if !rolled_back.is_empty() {
                l.code("已回滚", "rolled back", names(rolled_back, lang));
            }
            match lang {
                Lang::Zh => format!("ihos {what}进度"),
                Lang::En => format!("ihos {what} progress"),
            }
        }
        Notice::Finished {
            rollout_id,
            outcome,
            seconds,
            updated,
            failed,
            not_restored,
        } => finished(
            &mut l,
            run,
            &what,
            rollout_id,
            *outcome,
            *seconds,
            updated,
            failed,
            not_restored,
        ),
        Notice::Aborted { rollout_id, error } => {
            l.run(run);
            l.code("错误", "error", one_line(error, ERROR_CHARS));
            l.meaning(
                "运行在开始后因错误停止；ihos status 显示各实例的状态，--resume 可继续",
                "the run stopped on an error after it began; ihos status shows where each \
                 instance is, --resume goes on",
            );
            l.code("编号", "id", rollout_id.clone());
            match lang {
                Lang::Zh => format!("❌ ihos {what}出错停止"),
                Lang::En => format!("❌ ihos {what} stopped on an error"),
            }
        }
        Notice::Canary {
            verdict,
            summary,
            cohort,
            step,
        } => {
            l.run(run);
            if let Some((n, of)) = step {
                l.text("步骤", "step", format!("{n}/{of}"));
            }
            if let Some(c) = cohort {
                l.code("用户组", "cohort", c.clone());
            }
            l.code("结论", "verdict", one_line(summary, ERROR_CHARS));
            let (mark, zh, en) = match verdict.as_str() {
                "pass" => ("✅", "通过", "passed"),
                "fail" => ("❌", "未通过", "failed"),
                "inconclusive" => ("❔", "无法判断", "inconclusive"),
                other => ("🐤", other, other),
            };
            match lang {
                Lang::Zh => format!("{mark} ihos 灰度分析：{zh}"),
                Lang::En => format!("{mark} ihos canary analysis {en}"),
            }
        }
    };
    Message {
        title,
        lines: l.lines,
    }
}

#[allow(clippy::too_many_arguments)]
fn finished(
    l: &mut Lines,
    run: &RunInfo,
    what: &str,
    rollout_id: &str,
    outcome: Outcome,
    seconds: f64,
    updated: &[String],
    failed: &[InstanceProblem],
    not_restored: &[InstanceProblem],
) -> String {
    let lang = l.lang;
    l.run(run);
    let took = duration(seconds, lang);
    let updated_line = |l: &mut Lines| {
        l.code(
            &format!("已更新（{}）", updated.len()),
            &format!("updated ({})", updated.len()),
            if updated.is_empty() {
                "-".into()
            } else {
                names(updated, lang)
            },
        )
    };
    let title = match outcome {
        Outcome::Completed => {
            updated_line(l);
            say(
                lang,
                &format!("✅ ihos {what}完成"),
                &format!("✅ ihos {what} done"),
            )
        }
        Outcome::Interrupted => {
            updated_line(l);
            l.meaning(
                "按要求停止：所有实例都在轮转中且版本一致，--resume 可继续",
                "stopped on request: every instance is in rotation on a consistent \
                     version; --resume goes on",
            );
            say(
                lang,
                &format!("⏸ ihos {what}已停止"),
                &format!("⏸ ihos {what} stopped"),
            )
        }
        Outcome::RolledBack => {
            l.problems(failed);
            updated_line(l);
            l.meaning(
                "失败的实例已回到上一版本并回到轮转中；发布在此停止（退出码 1）",
                "the failed instance is back on its previous release and in rotation; \
                     the run stopped there (exit 1)",
            );
            say(
                lang,
                &format!("❌ ihos {what}失败，已回滚"),
                &format!("❌ ihos {what} failed and was rolled back"),
            )
        }
        Outcome::NotRestored => {
            l.problems(not_restored);
            updated_line(l);
            l.meaning(
                "需要人工处理：上面的实例未能恢复（退出码 3），锁保持不放；用 ihos status 查看",
                "a human is needed: the instances above could not be restored (exit 3) \
                     and the lock is kept; see ihos status",
            );
            say(lang, "🆘 ihos 需要人工处理", "🆘 ihos needs a human")
        }
    };
    l.text("用时", "took", took);
    l.code("编号", "id", rollout_id.to_string());
    title
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::notice::WarInfo;

    fn run() -> RunInfo {
        RunInfo {
            action: RunKind::Rollout,
            operator: "deploy".into(),
            war: Some(WarInfo {
                file: "ihos.war".into(),
                sha256: "0123456789abcdef0123".into(),
                commit: Some("a1b2c3d4e5f6a7b8".into()),
                build: Some("482".into()),
            }),
        }
    }

    fn text(m: &Message) -> String {
        let mut out = m.title.clone();
        for l in &m.lines {
            let v = match &l.value {
                Value::Text(t) | Value::Code(t) => t,
            };
            out.push_str(&format!("\n{}: {v}", l.label));
        }
        out
    }

    #[test]
    fn a_failure_says_which_instance_why_and_what_it_means() {
        let n = Notice::Finished {
            rollout_id: "r1".into(),
            outcome: Outcome::NotRestored,
            seconds: 125.4,
            updated: vec!["101-pep1".into()],
            failed: vec![],
            not_restored: vec![InstanceProblem {
                instance: "102-pep1".into(),
                error: "could not be put back\ninto rotation: nginx -t failed".into(),
            }],
        };
        let zh = text(&render(&n, &run(), Lang::Zh));
        assert!(zh.starts_with("🆘 ihos 需要人工处理"), "{zh}");
        assert!(
            zh.contains("102-pep1: could not be put back into rotation"),
            "{zh}"
        );
        assert!(zh.contains("退出码 3"), "{zh}");
        assert!(zh.contains("用时: 2 分 5 秒"), "{zh}");
        assert!(
            zh.contains("构建: #482") && zh.contains("提交: a1b2c3d4e5f6"),
            "{zh}"
        );
        let en = text(&render(&n, &run(), Lang::En));
        assert!(en.contains("exit 3") && en.contains("took: 2m5s"), "{en}");
    }

    #[test]
    fn long_lists_and_messages_stay_short() {
        let many: Vec<String> = (0..2000).map(|i| format!("inst-{i}")).collect();
        assert!(names(&many, Lang::En).ends_with("inst-11 … (+1988)"));
        assert!(names(&many, Lang::Zh).ends_with("等（另 1988 个）"));
        let long = "é".repeat(1000);
        let cut = one_line(&long, 300);
        assert_eq!(cut.chars().count(), 301);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn every_outcome_has_its_title() {
        let mut titles = std::collections::HashSet::new();
        for outcome in [
            Outcome::Completed,
            Outcome::RolledBack,
            Outcome::Interrupted,
            Outcome::NotRestored,
        ] {
            let n = Notice::Finished {
                rollout_id: "r".into(),
                outcome,
                seconds: f64::NAN,
                updated: vec![],
                failed: vec![],
                not_restored: vec![],
            };
            titles.insert(render(&n, &run(), Lang::Zh).title);
        }
        assert_eq!(titles.len(), 4);
    }
}

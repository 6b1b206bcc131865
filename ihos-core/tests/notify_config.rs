//! `[[notify]]` in the topology: accepted as documented, and every bad value refused with
//! its key and its place in the file.

use ihos_core::{Lang, NotifyKind, NotifyOn};

mod one_instance;

use one_instance::{assert_invalid, assert_syntax, load};

#[test]
fn robots_load_with_their_defaults() {
    let t = load(
        r#"
[[notify]]
kind = "dingtalk"
url_env = "IHOS_DINGTALK_URL"
secret_env = "IHOS_DINGTALK_SECRET"
mention = ["13800000000", "manager01"]

[[notify]]
kind = "slack"
url_env = "SLACK_URL"
on = ["failure", "instance"]
"#,
    )
    .unwrap();
    assert_eq!(t.notify.len(), 2);
    assert_eq!(t.notify[0].kind, NotifyKind::Dingtalk);
    assert_eq!(t.notify[0].lang(), Lang::Zh);
    assert_eq!(
        t.notify[0].on,
        vec![
            NotifyOn::Start,
            NotifyOn::Done,
            NotifyOn::Failure,
            NotifyOn::Canary
        ]
    );
    assert_eq!(t.notify[1].lang(), Lang::En);
    assert_eq!(t.notify[1].on, vec![NotifyOn::Failure, NotifyOn::Instance]);
}

#[test]
fn every_bad_value_names_its_key_and_line() {
    let cases = [
        (
            "[[notify]]\nkind = \"dingtalk\"\nurl_env = \"https://oapi.dingtalk.com/robot/send?access_token=x\"\n",
            "notify[0].url_env",
            "is not an environment variable name",
        ),
        (
            "[[notify]]\nkind = \"wecom\"\nurl_env = \"W\"\nsecret_env = \"S\"\n",
            "notify[0].secret_env",
            "wecom robots are not signed",
        ),
        (
            "[[notify]]\nkind = \"feishu\"\nurl_env = \"F\"\non = []\n",
            "notify[0].on",
            "empty",
        ),
        (
            "[[notify]]\nkind = \"feishu\"\nurl_env = \"F\"\non = [\"start\", \"start\"]\n",
            "notify[0].on",
            "appears twice",
        ),
        (
            "[[notify]]\nkind = \"slack\"\nurl_env = \"S\"\n\n[[notify]]\nkind = \"slack\"\nurl_env = \"T\"\nmention = [\"<!channel>\"]\n",
            "notify[1].mention",
            "a mention is a mobile number or a user id",
        ),
        (
            "[[notify]]\nkind = \"dingtalk\"\nurl_env = \"D\"\nmention = [\"\"]\n",
            "notify[0].mention",
            "a mention",
        ),
    ];
    for (text, key, says) in cases {
        assert_invalid(text, key, says);
    }
}

#[test]
fn unknown_kinds_triggers_and_keys_are_syntax_errors_at_their_place() {
    for (text, says) in [
        (
            "[[notify]]\nkind = \"teams\"\nurl_env = \"T\"\n",
            "unknown variant `teams`",
        ),
        (
            "[[notify]]\nkind = \"slack\"\nurl_env = \"S\"\non = [\"always\"]\n",
            "unknown variant `always`",
        ),
        (
            "[[notify]]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/x\"\n",
            "unknown field `url`",
        ),
        (
            "[[notify]]\nkind = \"slack\"\nurl_env = \"S\"\nlang = \"fr\"\n",
            "unknown variant `fr`",
        ),
    ] {
        assert_syntax(text, says);
    }
}

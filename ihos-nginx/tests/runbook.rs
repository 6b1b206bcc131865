//! The runbook's real blocks: each edit changes exactly the intended lines.

use ihos_nginx::{BlockSelector, DisableStyle, Document, EditError, ServerState};

const UPSTREAM: &str = "\
upstream service_ihos {
    server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;
    server 192.168.1.101:39092 max_fails=5 fail_timeout=10s;
    server 192.168.1.103:39091 max_fails=5 fail_timeout=10s;
    server 192.168.1.103:39092 max_fails=5 fail_timeout=10s;
}
upstream service_ihos_gray {
    server 192.168.1.102:39091 max_fails=5 fail_timeout=10s;
}
";

const SITE: &str = "\
server {
    listen 80;
    set $a 0;
    #id 1、3、5、7开头
    #  if ($http_x_pep_token ~* \"(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\") {
    #      set $a 1;
    #  }
    location / {
        proxy_pass http://service_ihos;
    }
}
";

#[test]
fn lists_upstreams_and_servers() {
    let doc = Document::parse(UPSTREAM).unwrap();
    let ups = doc.upstreams();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[0].name, "service_ihos");
    assert_eq!(ups[0].line, 1);
    assert_eq!(ups[0].servers.len(), 4);
    assert_eq!(ups[0].servers[2].address, "192.168.1.103:39091");
    assert_eq!(
        ups[0].servers[2].params,
        vec!["max_fails=5", "fail_timeout=10s"]
    );
    assert_eq!(ups[0].servers[2].line, 4);
    assert!(
        ups[0]
            .servers
            .iter()
            .all(|s| s.state == ServerState::Enabled)
    );
    assert_eq!(ups[1].name, "service_ihos_gray");
}

#[test]
fn comment_style_is_the_runbooks_edit() {
    let doc = Document::parse(UPSTREAM).unwrap();
    let edit = doc
        .disable_server(
            "service_ihos",
            "192.168.1.101:39091",
            DisableStyle::Comment,
            false,
        )
        .unwrap();
    assert!(edit.is_changed());
    let expected = UPSTREAM.replacen(
        "    server 192.168.1.101:39091",
        "    #server 192.168.1.101:39091",
        1,
    );
    assert_eq!(edit.text_lossy(), expected);
    let diff = edit.diff("nginx.conf");
    assert!(
        diff.contains("-    server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;\n"),
        "{diff}"
    );
    assert!(
        diff.contains("+    #server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;\n"),
        "{diff}"
    );
    assert_eq!(
        diff.lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"))
            .count(),
        1
    );
    let up = edit.document().upstream("service_ihos").unwrap();
    assert_eq!(up.servers[0].state, ServerState::Commented);
    assert_eq!(up.enabled_count(), 3);

    // idempotent
    let again = edit
        .document()
        .disable_server(
            "service_ihos",
            "192.168.1.101:39091",
            DisableStyle::Comment,
            false,
        )
        .unwrap();
    assert!(!again.is_changed());
    assert!(
        again.message().contains("already disabled"),
        "{}",
        again.message()
    );

    // and back, byte for byte
    let back = edit
        .document()
        .enable_server("service_ihos", "192.168.1.101:39091")
        .unwrap();
    assert_eq!(back.text_lossy(), UPSTREAM);
}

#[test]
fn down_style_adds_and_removes_the_parameter() {
    let doc = Document::parse(UPSTREAM).unwrap();
    let edit = doc
        .disable_server(
            "service_ihos",
            "192.168.1.103:39092",
            DisableStyle::Down,
            false,
        )
        .unwrap();
    assert_eq!(
        edit.text_lossy(),
        UPSTREAM.replace(
            "192.168.1.103:39092 max_fails=5 fail_timeout=10s;",
            "192.168.1.103:39092 max_fails=5 fail_timeout=10s down;"
        )
    );
    assert_eq!(
        edit.document().upstream("service_ihos").unwrap().servers[3].state,
        ServerState::Down
    );
    let back = edit
        .document()
        .enable_server("service_ihos", "192.168.1.103:39092")
        .unwrap();
    assert_eq!(back.text_lossy(), UPSTREAM);
}

#[test]
fn the_runbooks_hand_edit_with_a_space_is_recognised_and_enabled() {
    let text = UPSTREAM.replacen(
        "    server 192.168.1.101:39091",
        "    # server 192.168.1.101:39091",
        1,
    );
    let doc = Document::parse(text).unwrap();
    assert_eq!(
        doc.upstream("service_ihos").unwrap().servers[0].state,
        ServerState::Commented
    );
    let edit = doc
        .enable_server("service_ihos", "192.168.1.101:39091")
        .unwrap();
    assert_eq!(edit.text_lossy(), UPSTREAM);
}

#[test]
fn refuses_the_last_enabled_server_unless_forced() {
    let doc = Document::parse(UPSTREAM).unwrap();
    let err = doc
        .disable_server(
            "service_ihos_gray",
            "192.168.1.102:39091",
            DisableStyle::Comment,
            false,
        )
        .unwrap_err();
    assert!(matches!(err, EditError::LastEnabledServer { .. }), "{err}");
    assert!(err.to_string().contains("last enabled server"), "{err}");
    let forced = doc
        .disable_server(
            "service_ihos_gray",
            "192.168.1.102:39091",
            DisableStyle::Comment,
            true,
        )
        .unwrap();
    assert_eq!(
        forced
            .document()
            .upstream("service_ihos_gray")
            .unwrap()
            .enabled_count(),
        0
    );
}

#[test]
fn unknown_names_list_what_exists() {
    let doc = Document::parse(UPSTREAM).unwrap();
    let err = doc
        .disable_server(
            "service",
            "192.168.1.101:39091",
            DisableStyle::Comment,
            false,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("service_ihos, service_ihos_gray"), "{msg}");
    let err = doc
        .disable_server(
            "service_ihos",
            "192.168.1.102:39091",
            DisableStyle::Comment,
            false,
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("192.168.1.101:39091 (enabled)"), "{msg}");
    // the gray upstream is not touched by edits of service_ihos
    let edit = doc
        .disable_server(
            "service_ihos",
            "192.168.1.101:39092",
            DisableStyle::Comment,
            false,
        )
        .unwrap();
    assert_eq!(
        edit.document().upstream("service_ihos_gray").unwrap(),
        doc.upstream("service_ihos_gray").unwrap()
    );
}

#[test]
fn canary_block_is_found_enabled_and_disabled() {
    let doc = Document::parse(SITE).unwrap();
    let ifs = doc.if_blocks();
    assert_eq!(ifs.len(), 1, "{ifs:?}");
    let canary = &ifs[0];
    assert!(!canary.enabled);
    assert_eq!(canary.line, 5);
    assert_eq!(canary.end_line, 7);
    assert_eq!(
        canary.regex.as_deref(),
        Some("(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)")
    );
    assert_eq!(canary.context, vec!["server"]);

    let sel = BlockSelector::ConditionContains("$http_x_pep_token".into());
    let on = doc.enable_block(&sel).unwrap();
    let expected = SITE
        .replace("    #  if (", "      if (")
        .replace("    #      set $a 1;", "          set $a 1;")
        .replace("    #  }\n", "      }\n");
    assert_eq!(on.text_lossy(), expected);
    assert!(on.document().if_blocks()[0].enabled);
    // the prose comment above stays a comment
    assert!(on.text_lossy().contains("    #id 1、3、5、7开头\n"));

    let off = on.document().disable_block(&sel).unwrap();
    assert!(!off.document().if_blocks()[0].enabled);
    let again = off.document().enable_block(&sel).unwrap();
    assert_eq!(
        again.text(),
        on.text(),
        "disable then enable restores the bytes"
    );

    let noop = off.document().disable_block(&sel).unwrap();
    assert!(!noop.is_changed());
}

#[test]
fn canary_regex_can_be_set_while_disabled_or_enabled() {
    let doc = Document::parse(SITE).unwrap();
    let sel = BlockSelector::Line(5);
    let edit = doc.set_block_regex(&sel, "(eyJpZCI6IjE.*$)").unwrap();
    assert_eq!(
        edit.document().if_blocks()[0].regex.as_deref(),
        Some("(eyJpZCI6IjE.*$)")
    );
    assert!(!edit.document().if_blocks()[0].enabled);
    let diff = edit.diff("ihos");
    assert_eq!(
        diff.lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .count(),
        1,
        "{diff}"
    );
    let on = edit.document().enable_block(&sel).unwrap();
    let edit2 = on.document().set_block_regex(&sel, "a\"b\\c").unwrap();
    assert_eq!(
        edit2.document().if_blocks()[0].regex.as_deref(),
        Some("a\"b\\c")
    );
}

#[test]
fn shared_line_is_split_before_commenting() {
    let text = "upstream u {\n    server a:1; server b:2; server c:3;\n}\nupstream v { server x:1; server y:2; }\n";
    let doc = Document::parse(text).unwrap();
    let edit = doc
        .disable_server("u", "b:2", DisableStyle::Comment, false)
        .unwrap();
    assert_eq!(
        edit.text_lossy(),
        "upstream u {\n    server a:1;\n    #server b:2;\n    server c:3;\n}\nupstream v { server x:1; server y:2; }\n"
    );
    let edit = doc
        .disable_server("v", "x:1", DisableStyle::Comment, false)
        .unwrap();
    assert_eq!(
        edit.text_lossy(),
        "upstream u {\n    server a:1; server b:2; server c:3;\n}\nupstream v {\n    #server x:1;\n    server y:2; }\n"
    );
    let edit = doc
        .disable_server("v", "y:2", DisableStyle::Comment, false)
        .unwrap();
    assert_eq!(
        edit.text_lossy(),
        "upstream u {\n    server a:1; server b:2; server c:3;\n}\nupstream v { server x:1;\n#server y:2;\n}\n"
    );
    assert_eq!(
        edit.document().upstream("v").unwrap().servers[1].state,
        ServerState::Commented
    );
}

#[test]
fn multi_line_server_round_trips() {
    let text = "upstream u {\n    server a:1\n        weight=5\n        max_fails=2;\n    server b:2;\n}\n";
    let doc = Document::parse(text).unwrap();
    let off = doc
        .disable_server("u", "a:1", DisableStyle::Comment, false)
        .unwrap();
    assert_eq!(
        off.text_lossy(),
        "upstream u {\n    #server a:1\n        #weight=5\n        #max_fails=2;\n    server b:2;\n}\n"
    );
    assert_eq!(
        off.document().upstream("u").unwrap().servers[0].state,
        ServerState::Commented
    );
    let on = off.document().enable_server("u", "a:1").unwrap();
    assert_eq!(on.text_lossy(), text);
}

#[test]
fn prose_before_a_commented_server_does_not_swallow_it() {
    let text = "upstream u {\n    # Set the upstream\n    #server a:1;\n    server b:2;\n}\n";
    let doc = Document::parse(text).unwrap();
    let u = doc.upstream("u").unwrap();
    assert_eq!(u.servers.len(), 2);
    assert_eq!(u.servers[0].state, ServerState::Commented);
    assert_eq!(u.servers[0].line, 3);
}

//! Every edit of the runbook's real configuration passes a real `nginx -t`, and an edit
//! touches exactly the intended lines.

mod common;

use ihos_nginx::{BlockSelector, DisableStyle, Document, Edit};

const NGINX_CONF: &str = "\
worker_processes 1;
events {
    worker_connections 64;
}
http {
    upstream service_ihos {
        server 192.168.1.101:39091 max_fails=5 fail_timeout=10s;
        server 192.168.1.101:39092 max_fails=5 fail_timeout=10s;
        server 192.168.1.103:39091 max_fails=5 fail_timeout=10s;
        server 192.168.1.103:39092 max_fails=5 fail_timeout=10s;
    }
    upstream service_ihos_gray {
        server 192.168.1.102:39091 max_fails=5 fail_timeout=10s;
    }
    include sites-enabled/*;
}
";

const SITE: &str = "\
server {
    listen 127.0.0.1:18080;
    set $a 0;
    #id 1、3、5、7开头
    #  if ($http_x_pep_token ~* \"(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$|eyJpZCI6IjU.*$|eyJpZCI6Ijc.*$)\") {
    #      set $a 1;
    #  }
    location / {
        if ($a = 1) {
            proxy_pass http://service_ihos_gray;
        }
        proxy_pass http://service_ihos;
    }
}
";

const SERVERS: [&str; 4] = [
    "192.168.1.101:39091",
    "192.168.1.101:39092",
    "192.168.1.103:39091",
    "192.168.1.103:39092",
];

fn check(nginx: &std::path::Path, conf: &[u8], site: &[u8], what: &str) {
    let verdict = common::nginx_t(nginx, &[("nginx.conf", conf), ("sites-enabled/ihos", site)]);
    assert!(verdict.ok, "{what}: nginx -t failed:\n{}", verdict.output);
}

/// Lines that differ between two texts (old line numbers), assuming the same line count.
fn changed_lines(a: &[u8], b: &[u8]) -> Vec<usize> {
    let a: Vec<_> = a.split(|&c| c == b'\n').collect();
    let b: Vec<_> = b.split(|&c| c == b'\n').collect();
    assert_eq!(a.len(), b.len(), "line count changed");
    a.iter()
        .zip(&b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn unedited_fixture_is_valid() {
    let Some(nginx) = common::nginx() else { return };
    check(&nginx, NGINX_CONF.as_bytes(), SITE.as_bytes(), "original");
}

#[test]
fn each_server_disabled_in_each_style_passes_nginx_t() {
    let Some(nginx) = common::nginx() else { return };
    let doc = Document::parse(NGINX_CONF).unwrap();
    for (i, server) in SERVERS.iter().enumerate() {
        for style in [DisableStyle::Comment, DisableStyle::Down] {
            let edit = doc
                .disable_server("service_ihos", server, style, false)
                .unwrap();
            assert_eq!(
                changed_lines(NGINX_CONF.as_bytes(), edit.text()),
                vec![7 + i],
                "{server} {style:?}"
            );
            check(
                &nginx,
                edit.text(),
                SITE.as_bytes(),
                &format!("disable {server} {style:?}"),
            );
            let back = edit
                .document()
                .enable_server("service_ihos", server)
                .unwrap();
            assert_eq!(back.text(), NGINX_CONF.as_bytes());
        }
    }
    // A rolling update's sequence: one out at a time, each state valid.
    let mut cur = doc;
    for server in SERVERS {
        let off = cur
            .disable_server("service_ihos", server, DisableStyle::Comment, false)
            .unwrap();
        check(
            &nginx,
            off.text(),
            SITE.as_bytes(),
            &format!("rolling: {server} out"),
        );
        let on = off
            .document()
            .enable_server("service_ihos", server)
            .unwrap();
        cur = on.into_document();
    }
    assert_eq!(cur.source(), NGINX_CONF.as_bytes());
}

#[test]
fn canary_block_edits_pass_nginx_t() {
    let Some(nginx) = common::nginx() else { return };
    let doc = Document::parse(SITE).unwrap();
    let sel = BlockSelector::ConditionContains("x_pep_token".into());
    let open: Edit = doc.enable_block(&sel).unwrap();
    assert_eq!(changed_lines(SITE.as_bytes(), open.text()), vec![5, 6, 7]);
    check(&nginx, NGINX_CONF.as_bytes(), open.text(), "canary open");
    let narrowed = open
        .document()
        .set_block_regex(&sel, "(eyJpZCI6IjE.*$|eyJpZCI6IjM.*$)")
        .unwrap();
    assert_eq!(changed_lines(open.text(), narrowed.text()), vec![5]);
    check(
        &nginx,
        NGINX_CONF.as_bytes(),
        narrowed.text(),
        "canary narrowed",
    );
    let closed = narrowed.document().disable_block(&sel).unwrap();
    assert_eq!(changed_lines(narrowed.text(), closed.text()), vec![5, 6, 7]);
    check(
        &nginx,
        NGINX_CONF.as_bytes(),
        closed.text(),
        "canary closed",
    );
}

#[test]
fn a_broken_edit_is_what_nginx_t_catches() {
    // The control for the checks above: nginx -t does fail on a bad file.
    let Some(nginx) = common::nginx() else { return };
    let broken = NGINX_CONF.replace(
        "fail_timeout=10s;\n    }\n    upstream service_ihos_gray",
        "fail_timeout=10s\n    }\n    upstream service_ihos_gray",
    );
    let verdict = common::nginx_t(
        &nginx,
        &[
            ("nginx.conf", broken.as_bytes()),
            ("sites-enabled/ihos", SITE.as_bytes()),
        ],
    );
    assert!(!verdict.ok);
    let ours = Document::parse(broken).unwrap_err();
    assert_eq!(Some(ours.position.line), verdict.emerg_line());
}

#[test]
fn canary_condition_switch_to_exact_regex_passes_nginx_t() {
    let Some(nginx) = common::nginx() else { return };
    let doc = Document::parse(SITE).unwrap();
    let sel = BlockSelector::ConditionContains("x_pep_token".into());
    // the exact regex `ihos canary regex --ids 1,3,5,7` writes, with the `~` it needs
    let exact = "^(?:[^.]*[.])?eyJpZCI6Ij(?:[EFGH]|[MNOP]|[UVWX]|[cdef])[^.]*(?:[.][^.]*)?$";
    let set = doc.set_block_condition(&sel, "~", exact).unwrap();
    assert_eq!(changed_lines(SITE.as_bytes(), set.text()), vec![5]);
    let open = set.document().enable_block(&sel).unwrap();
    let view = &open.document().if_blocks()[0];
    assert_eq!(
        (
            view.operator.as_deref(),
            view.regex.as_deref(),
            view.enabled
        ),
        (Some("~"), Some(exact), true)
    );
    check(
        &nginx,
        NGINX_CONF.as_bytes(),
        open.text(),
        "canary open, exact",
    );
    // a regex PCRE rejects is caught by nginx -t (the editor only checks syntax)
    let bad = open
        .document()
        .set_block_condition(&sel, "~", "(unclosed")
        .unwrap();
    let verdict = common::nginx_t(
        &nginx,
        &[
            ("nginx.conf", NGINX_CONF.as_bytes()),
            ("sites-enabled/ihos", bad.text()),
        ],
    );
    assert!(!verdict.ok, "{}", verdict.output);
}

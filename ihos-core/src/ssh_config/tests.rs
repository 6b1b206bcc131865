use super::*;

const CONFIG: &str = r#"# A user's ~/.ssh/config
User fallback-global
Host app1 app2
    HostName 10.0.0.%h.internal
    Port 2201
    IdentityFile ~/.ssh/id_app
Host app*
    Port 2299
    User deploy
    IdentityFile %d/.ssh/id_%r
    ProxyJump jumper@bastion:2222,inner
Match host app3
    Port 1
Host bastion
    HostName 127.0.0.20
    StrictHostKeyChecking accept-new
    UserKnownHostsFile ~/.ssh/known_hosts.bastion ~/.ssh/known_hosts.other
Host legacy
    ProxyCommand ssh -W %h:%p bastion
    ProxyJump none
Host *
    Port 22
    User ignored-because-global-came-first
"#;

fn config(home: &Path) -> SshConfig {
    SshConfig::parse(CONFIG, Path::new("/cfg/ssh_config"), Some(home)).unwrap()
}

#[test]
fn first_value_wins_in_file_order_and_identity_files_add_up() {
    let home = Path::new("/home/op");
    let c = config(home);
    let s = c.query("app1", None).unwrap();
    let host = s.host_name.unwrap();
    assert_eq!(host.value, "10.0.0.app1.internal");
    assert_eq!(host.origin.to_string(), "/cfg/ssh_config:4 (HostName)");
    assert_eq!(s.port.unwrap().value, 2201);
    // The global `User` (line 2) comes before any Host section: it wins.
    let user = s.user.unwrap();
    assert_eq!(user.value, "fallback-global");
    assert_eq!(user.origin.line, 2);
    let keys: Vec<_> = s.identity_files.iter().map(|k| k.value.clone()).collect();
    assert_eq!(
        keys,
        vec![
            PathBuf::from("/home/op/.ssh/id_app"),
            PathBuf::from("/home/op/.ssh/id_fallback-global"),
        ]
    );
    let hops = s.proxy_jump.unwrap().value;
    assert_eq!(
        hops,
        vec![
            JumpHop {
                user: Some("jumper".into()),
                host: "bastion".into(),
                port: Some(2222)
            },
            JumpHop {
                user: None,
                host: "inner".into(),
                port: None
            },
        ]
    );
    // Match is not evaluated: app3 gets `Host app*`'s port, not the Match's.
    let s3 = c.query("app3", None).unwrap();
    assert_eq!(s3.port.unwrap().value, 2299);
    assert!(
        c.warnings().iter().any(|w| w.contains(":12: Match")),
        "{:?}",
        c.warnings()
    );
}

#[test]
fn host_key_settings_and_unsupported_ones_are_reported() {
    let c = config(Path::new("/home/op"));
    let b = c.query("bastion", None).unwrap();
    assert_eq!(b.host_name.unwrap().value, "127.0.0.20");
    assert_eq!(
        b.strict_host_key_checking.unwrap().value,
        StrictHostKeyChecking::AcceptNew
    );
    assert_eq!(
        b.known_hosts.unwrap().value,
        PathBuf::from("/home/op/.ssh/known_hosts.bastion")
    );
    assert!(
        b.warnings.iter().any(|w| w.contains("first only")),
        "{:?}",
        b.warnings
    );
    let l = c.query("legacy", None).unwrap();
    assert!(
        l.warnings.iter().any(|w| w.contains("ProxyCommand")),
        "{:?}",
        l.warnings
    );
    // ProxyCommand and ProxyJump are one setting in OpenSSH: the ProxyCommand came first.
    assert!(l.proxy_jump.is_none());
    // A name no section names: only the global and `Host *` values.
    let o = c.query("other", None).unwrap();
    assert_eq!(o.port.unwrap().value, 22);
    assert!(o.host_name.is_none() && o.proxy_jump.is_none());
}

#[test]
fn bad_values_are_refused_with_file_and_line() {
    let e = SshConfig::parse("Host a\n  Port 99999\n", Path::new("c"), None)
        .unwrap()
        .query("a", None)
        .unwrap_err();
    assert_eq!(e.to_string(), "c:2: Port \"99999\" is not a port number");
    let e = SshConfig::parse("Host a\n  ProxyJump u@:22\n", Path::new("c"), None)
        .unwrap()
        .query("a", None)
        .unwrap_err();
    assert!(e.to_string().starts_with("c:2: ProxyJump"), "{e}");
    let e = SshConfig::parse(
        "Host a\n  IdentityFile ~/.ssh/%C\n",
        Path::new("c"),
        Some(Path::new("/h")),
    )
    .unwrap()
    .query("a", None)
    .unwrap_err();
    assert!(e.to_string().contains("%C"), "{e}");
    let e = SshConfig::parse("Host\n", Path::new("c"), None).unwrap_err();
    assert_eq!(e.line, 1);
    // A value for another host is not checked when it does not apply.
    let ok = SshConfig::parse("Host a\n  Port x\n", Path::new("c"), None).unwrap();
    assert!(ok.query("b", None).is_ok());
}

#[test]
fn includes_are_followed_relative_to_dot_ssh_in_lexical_order() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(ssh.join("config.d")).unwrap();
    std::fs::write(ssh.join("config.d/20-b"), "Host app\n  Port 2020\n").unwrap();
    std::fs::write(ssh.join("config.d/10-a"), "Host app\n  User from-10\n").unwrap();
    std::fs::write(ssh.join("config.d/README.txt.bak"), "garbage\n").unwrap();
    let main = ssh.join("config");
    std::fs::write(
        &main,
        "Include config.d/*-?\nHost app\n  User from-main\n  Port 1\n",
    )
    .unwrap();
    let home_path = home.path().to_path_buf();
    let c = SshConfig {
        parsed: parse::parse_file(&main, Some(&home_path)).unwrap(),
        home: Some(home_path),
    };
    let s = c.query("app", None).unwrap();
    let user = s.user.unwrap();
    assert_eq!(user.value, "from-10");
    assert!(user.origin.file.ends_with("config.d/10-a"));
    assert_eq!(s.port.unwrap().value, 2020);
}

/// The same questions asked of OpenSSH's own `ssh -G` (prints the effective config, does
/// not connect): ihos must read the file as ssh does.
#[test]
fn agrees_with_ssh_dash_g() {
    let Ok(out) = std::process::Command::new("ssh").arg("-V").output() else {
        assert_ne!(
            std::env::var("IHOS_REQUIRE_SANDBOX").as_deref(),
            Ok("1"),
            "ssh (openssh-client) is needed"
        );
        return;
    };
    assert!(out.status.success());
    let home = tempfile::tempdir().unwrap();
    // Without Match (ssh evaluates it; ihos does not) and ProxyCommand.
    let text: String = CONFIG
        .lines()
        .filter(|l| !l.contains("Match") && !l.contains("Port 1") && !l.contains("ProxyCommand"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = home.path().join("config");
    std::fs::write(&file, &text).unwrap();
    let c = SshConfig::parse(&text, &file, Some(home.path())).unwrap();
    for alias in ["app1", "app2", "app3", "bastion", "legacy", "other"] {
        let g = std::process::Command::new("ssh")
            .arg("-G")
            .arg("-F")
            .arg(&file)
            .arg(alias)
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
        let g = String::from_utf8_lossy(&g.stdout).to_string();
        let get = |k: &str| -> Vec<String> {
            g.lines()
                .filter_map(|l| l.strip_prefix(&format!("{k} ")))
                .map(str::to_string)
                .collect()
        };
        let s = c.query(alias, None).unwrap();
        let hostname = s.host_name.map_or(alias.to_string(), |h| h.value);
        assert_eq!(get("hostname"), vec![hostname], "{alias}");
        assert_eq!(
            get("port"),
            vec![s.port.map_or(22, |p| p.value).to_string()],
            "{alias}"
        );
        assert_eq!(get("user"), vec![s.user.unwrap().value], "{alias}");
        let ours: Vec<String> = s
            .identity_files
            .iter()
            .map(|k| k.value.display().to_string())
            .collect();
        if !ours.is_empty() {
            // ssh -G prints them before expanding `~` and `%` tokens; expanded here the
            // way ssh expands them when it loads the keys.
            let user = get("user").remove(0);
            let theirs: Vec<String> = get("identityfile")
                .iter()
                .map(|raw| {
                    let t = Tokens {
                        host: &get("hostname")[0],
                        alias,
                        remote_user: Some(&user),
                        home: Some(home.path()),
                    };
                    percent(raw, &t).unwrap()
                })
                .collect();
            assert_eq!(theirs, ours, "{alias}");
        }
        let jump = get("proxyjump");
        match s.proxy_jump.map(|p| p.value) {
            Some(h) if !h.is_empty() => {
                assert_eq!(jump, vec!["jumper@bastion:2222,inner"], "{alias}")
            }
            _ => assert!(jump.is_empty() || jump == vec!["none"], "{alias}: {jump:?}"),
        }
    }
}

#[test]
fn openssh_details_a_reviewer_found() {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    std::fs::create_dir_all(ssh.join("conf.d")).unwrap();
    // An Include under a Host section that does not match brings nothing, even its own
    // `Host *` (OpenSSH reads it as never matching).
    std::fs::write(ssh.join("work.conf"), "Host *\n  User corp\n").unwrap();
    // Editor leftovers next to included files are not included (glob(3) skips dot files).
    std::fs::write(ssh.join("conf.d/.10-x.swp"), [0xff_u8, 0xfe, 0x00]).unwrap();
    std::fs::write(ssh.join("conf.d/20-y"), "Host y\n  Port 2022\n").unwrap();
    let main = ssh.join("config");
    std::fs::write(
        &main,
        "Host work-*\n  Include work.conf\nHost *\n  Include conf.d/*\n\
         Host app\n  HostName 10.0.0.5\n  IdentityFile ~/.ssh/%h.key\n  IdentityFile ~/.ssh/%n-%r\n\
         Host bastion\n  ProxyCommand none\nHost *\n  ProxyJump bastion\n",
    )
    .unwrap();
    let home_path = home.path().to_path_buf();
    let c = SshConfig {
        parsed: parse::parse_file(&main, Some(&home_path)).unwrap(),
        home: Some(home_path.clone()),
    };
    let app = c.query("app", Some("deploy")).unwrap();
    assert!(
        app.user.is_none(),
        "work.conf's User leaked: {:?}",
        app.user
    );
    assert_eq!(c.query("work-1", None).unwrap().user.unwrap().value, "corp");
    assert_eq!(c.query("y", None).unwrap().port.unwrap().value, 2022);
    // %h is the HostName, %n the name given, %r the login user.
    let keys: Vec<PathBuf> = app.identity_files.iter().map(|k| k.value.clone()).collect();
    assert_eq!(keys, vec![ssh.join("10.0.0.5.key"), ssh.join("app-deploy")]);
    // `ProxyCommand none` decided for the bastion: no ProxyJump to itself.
    assert!(c.query("bastion", None).unwrap().proxy_jump.is_none());
    assert_eq!(app.proxy_jump.unwrap().value[0].host, "bastion");
    // A known_hosts that checks nothing is refused, saying where.
    let e = SshConfig::parse(
        "Host a\n  UserKnownHostsFile /dev/null\n",
        Path::new("c"),
        None,
    )
    .unwrap()
    .query("a", None)
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("c:2: UserKnownHostsFile /dev/null"),
        "{e}"
    );
}

#[test]
fn an_unusable_file_is_refused_with_its_path_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // A directory, a file that is not text, a file that includes itself.
    let e = SshConfig::load(dir.path()).unwrap_err();
    assert!(
        e.to_string().starts_with(&dir.path().display().to_string()),
        "{e}"
    );
    let binary = dir.path().join("binary");
    std::fs::write(&binary, [b'H', b'o', b's', b't', b' ', 0xff, 0xfe]).unwrap();
    let e = SshConfig::load(&binary).unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
    let looped = dir.path().join("looped");
    std::fs::write(&looped, format!("Include {}\n", looped.display())).unwrap();
    let e = SshConfig::load(&looped).unwrap_err();
    assert!(e.to_string().contains("Include nested deeper than"), "{e}");
    // An empty file and one with only comments: nothing said about any host.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n# nothing\n").unwrap();
    let s = SshConfig::load(&empty).unwrap().query("any", None).unwrap();
    assert_eq!(s, HostSettings::default());
}

//! A real nginx routes tokens with the cohort regexes: with `~` and the exact regex, every
//! one of a few hundred random tokens goes where its id says; with `~*`, tokens of users
//! outside the cohort reach the canary (the false positives the module docs describe).
//!
//! Starts `/usr/sbin/nginx` (single process, foreground, its own prefix in a temp dir) on
//! 127.0.0.1 and a free port, and talks plain HTTP to it; the process is killed when the
//! test ends, pass or fail. Skipped when nginx is not installed, unless
//! `IHOS_REQUIRE_NGINX=1`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ihos_core::{Cohort, RegexStyle, decode_token};

const TOKENS: usize = 300;

fn nginx_binary() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert_ne!(
            std::env::var("IHOS_REQUIRE_NGINX").as_deref(),
            Ok("1"),
            "nginx is required (IHOS_REQUIRE_NGINX=1) but not installed"
        );
        eprintln!("SKIPPED: nginx is not installed");
    }
    found
}

/// A running nginx, killed and reaped on drop.
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // single process (master_process off): nothing else to stop
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `location = PATH` answering `canary` when `condition` holds, else `fleet`.
struct Route {
    path: &'static str,
    condition: String,
}

impl Nginx {
    fn start(binary: &Path, routes: &[Route]) -> Nginx {
        let mut last_error = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            // a free port: bound, read, released; nginx binds it right after
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let locations: String = routes
                .iter()
                .map(|r| {
                    format!(
                        "        location = {} {{\n            if {} {{ return 200 canary; }}\n            return 200 fleet;\n        }}\n",
                        r.path, r.condition
                    )
                })
                .collect();
            let conf = format!(
                "master_process off;\nerror_log {d}/error.log info;\npid {d}/nginx.pid;\nevents {{ worker_connections 64; }}\nhttp {{\n    access_log off;\n    server {{\n        listen 127.0.0.1:{port};\n{locations}    }}\n}}\n",
                d = dir.path().display()
            );
            let conf_path = dir.path().join("nginx.conf");
            std::fs::write(&conf_path, &conf).expect("write conf");
            let child = Command::new(binary)
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&conf_path)
                .arg("-g")
                .arg("daemon off;")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nginx");
            let mut nginx = Nginx { child, port, dir };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = nginx.child.try_wait() {
                    last_error = format!(
                        "nginx exited ({status}):\n{}\n{conf}",
                        std::fs::read_to_string(nginx.dir.path().join("error.log"))
                            .unwrap_or_default()
                    );
                    break;
                }
                // Ready when *this* nginx holds the port: it writes its pid file only after
                // binding its sockets. A connect alone could reach another test's nginx that
                // took the same free port (two tests pick ports at once), and that one goes
                // away when its test ends.
                let pid_file = std::fs::read_to_string(nginx.dir.path().join("nginx.pid"));
                let ours = pid_file.is_ok_and(|p| p.trim() == nginx.child.id().to_string());
                if ours && TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                    return nginx;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    /// `canary` or `fleet`: where nginx routes a request to `path` with this token.
    fn route(&self, path: &str, token: &str) -> String {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Pep-Token: {token}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut response = String::new();
        s.read_to_string(&mut response).expect("read");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let (_, body) = response.split_once("\r\n\r\n").expect("body");
        body.to_string()
    }
}

/// SplitMix64: a reproducible stream of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

const DIGITS: &[u8] = b"0123456789";
const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A random id (half of them built on one of `prefixes`) and a token carrying it, in a
/// random shape: JWT or payload alone, either alphabet, padded or not, extra fields, and
/// sometimes a header or signature that itself encodes a member's `{"id":"...`.
fn random_token(rng: &mut Rng, prefixes: &[String]) -> (String, String) {
    let alphabet = if rng.below(2) == 0 { DIGITS } else { ALNUM };
    let id = if rng.below(2) == 0 {
        let p = &prefixes[rng.below(prefixes.len())];
        let len = rng.below(5);
        format!("{p}{}", rng.string(alphabet, len))
    } else {
        let len = 1 + rng.below(7);
        rng.string(alphabet, len)
    };
    let extra = match rng.below(3) {
        0 => String::new(),
        1 => format!(r#","exp":{}"#, rng.next() % 2_000_000_000),
        _ => format!(r#","name":"{}","roles":["a"]"#, rng.string(ALNUM, 9)),
    };
    let payload = format!(r#"{{"id":"{id}"{extra}}}"#);
    let body = match rng.below(4) {
        0 => STANDARD.encode(&payload),
        1 => STANDARD_NO_PAD.encode(&payload),
        2 => URL_SAFE.encode(&payload),
        _ => URL_SAFE_NO_PAD.encode(&payload),
    };
    let decoy = format!(r#"{{"id":"{}","alg":"HS256"}}"#, prefixes[0]);
    let token = match rng.below(4) {
        0 => body,
        1 => format!(
            "{}.{body}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(rng.bytes(32))
        ),
        2 => format!(
            "{}.{body}.{}",
            URL_SAFE_NO_PAD.encode(&decoy),
            URL_SAFE_NO_PAD.encode(rng.bytes(32))
        ),
        _ => format!(
            "{}.{body}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(&decoy)
        ),
    };
    (id, token)
}

fn route(path: &'static str, cohort: &Cohort, style: RegexStyle, operator: &str) -> Route {
    let condition =
        cohort
            .condition(style, "$http_x_pep_token")
            .replacen(style.operator(), operator, 1);
    Route { path, condition }
}

#[test]
fn nginx_routes_every_token_as_its_id_says() {
    let Some(binary) = nginx_binary() else { return };
    let runbook_ids = Cohort::parse_list("1,3,5,7").unwrap();
    let mixed = Cohort::parse_list("305,12,a9,Z").unwrap();
    let nginx = Nginx::start(
        &binary,
        &[
            route("/exact", &runbook_ids, RegexStyle::Exact, "~"),
            route("/mixed", &mixed, RegexStyle::Exact, "~"),
        ],
    );
    let mut rng = Rng(0x1605_2026);
    let mut canary = [0usize; 2];
    for (k, (path, cohort)) in [("/exact", &runbook_ids), ("/mixed", &mixed)]
        .into_iter()
        .enumerate()
    {
        for _ in 0..TOKENS {
            let (id, token) = random_token(&mut rng, cohort.prefixes());
            assert_eq!(
                decode_token(&token).map(|i| i.id).as_deref(),
                Ok(id.as_str())
            );
            let want = if cohort.matching_prefix(&id).is_some() {
                "canary"
            } else {
                "fleet"
            };
            let got = nginx.route(path, &token);
            assert_eq!(
                got, want,
                "{path}: cohort {cohort}, id {id:?}, token {token}"
            );
            canary[k] += usize::from(got == "canary");
        }
    }
    eprintln!(
        "nginx: {TOKENS} tokens per cohort routed as expected; canary: {} (1,3,5,7), {} (305,12,a9,Z)",
        canary[0], canary[1]
    );
    // both outcomes were exercised
    for c in canary {
        assert!(c > TOKENS / 5 && c < TOKENS * 4 / 5, "{canary:?}");
    }
}

#[test]
fn nginx_case_insensitive_match_sends_other_users_to_the_canary() {
    let Some(binary) = nginx_binary() else { return };
    let runbook_ids = Cohort::parse_list("1,3,5,7").unwrap();
    let seven = Cohort::parse_list("7").unwrap();
    let c305 = Cohort::parse_list("305").unwrap();
    let nginx = Nginx::start(
        &binary,
        &[
            route("/exact", &runbook_ids, RegexStyle::Exact, "~"),
            route("/exact-ci", &runbook_ids, RegexStyle::Exact, "~*"),
            route("/seven", &seven, RegexStyle::Exact, "~"),
            route("/seven-ci", &seven, RegexStyle::Exact, "~*"),
            route("/305", &c305, RegexStyle::Exact, "~"),
            route("/305-ci", &c305, RegexStyle::Exact, "~*"),
            route("/runbook", &runbook_ids, RegexStyle::Runbook, "~*"),
        ],
    );
    let jwt = |id: &str| {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(format!(r#"{{"id":"{id}","exp":1}}"#)),
            URL_SAFE_NO_PAD.encode([9u8; 32])
        )
    };
    // (path with ~, path with ~*, an id outside the cohort that ~* lets in)
    for (cs, ci, outsider) in [
        ("/exact", "/exact-ci", "8"),
        ("/exact", "/exact-ci", "8123"),
        ("/seven", "/seven-ci", "1"),
        ("/seven", "/seven-ci", "10042"),
        ("/305", "/305-ci", "304"),
        ("/305", "/305-ci", "3041"),
        ("/305", "/305-ci", "3079"),
    ] {
        let t = jwt(outsider);
        assert_eq!(nginx.route(cs, &t), "fleet", "{cs} {outsider}");
        assert_eq!(nginx.route(ci, &t), "canary", "{ci} {outsider}");
    }
    // members reach the canary either way
    for (cs, ci, member) in [
        ("/exact", "/exact-ci", "7"),
        ("/seven", "/seven-ci", "7b"),
        ("/305", "/305-ci", "3051"),
    ] {
        let t = jwt(member);
        assert_eq!(nginx.route(cs, &t), "canary", "{cs} {member}");
        assert_eq!(nginx.route(ci, &t), "canary", "{ci} {member}");
    }
    // the runbook's own regex with ~*: no outsider here, but it misses `1b`
    assert_eq!(nginx.route("/runbook", &jwt("8123")), "fleet");
    assert_eq!(nginx.route("/runbook", &jwt("123")), "canary");
    assert_eq!(nginx.route("/runbook", &jwt("1b")), "fleet");
    assert_eq!(nginx.route("/exact", &jwt("1b")), "canary");
}

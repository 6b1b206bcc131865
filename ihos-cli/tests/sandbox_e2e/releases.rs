//! Scenario 18: kept releases and `rollback --to` on the real hosts. Three rollouts to the
//! first two instances (v2 as TeamCity build 201 with its `ihos fetch` sidecar, then two
//! other builds), `ihos releases` listing what each keeps, a `rollback --to 201` of the whole
//! fleet refused (the other two never ran it) and, with `--only` the two, done under load.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use super::{LOAD_MAX, ROLLOUT_MAX, Row, V2, assert_no_failures, exit_of};
use crate::sandbox::{Load, Sandbox, ihos, out_text, rollout, run_events, say};

/// `src` repacked with one more entry: another WAR (another digest) serving the same app.
fn repack(src: &Path, dst: &Path, marker: &str) {
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(src).expect("open WAR")).expect("read WAR");
    let mut out = zip::ZipWriter::new(std::fs::File::create(dst).expect("create WAR"));
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let name = entry.name().to_string();
        let options = zip::write::SimpleFileOptions::default();
        if entry.is_dir() {
            out.add_directory(name, options).expect("dir");
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read entry");
        out.start_file(name, options).expect("start");
        out.write_all(&bytes).expect("write");
    }
    out.start_file(
        "META-INF/ihos-build.txt",
        zip::write::SimpleFileOptions::default(),
    )
    .expect("marker");
    out.write_all(marker.as_bytes()).expect("marker bytes");
    out.finish().expect("finish WAR");
}

fn sha256_of(path: &Path) -> String {
    ihos_core::Sha256::of_file(path)
        .expect("digest")
        .to_string()
}

/// A copy of `src` in `dir` with the sidecar `ihos fetch` would have written for build
/// `number` of commit `commit`.
fn fetched(dir: &Path, src: &Path, name: &str, number: &str, commit: &str) -> PathBuf {
    let war = dir.join(name);
    std::fs::copy(src, &war).expect("copy WAR");
    let sha = sha256_of(&war);
    let sidecar = serde_json::json!({
        "build_id": 9000 + number.parse::<u64>().unwrap_or(0),
        "build_number": number,
        "build_type": "Ihos_Build",
        "branch": null,
        "commit": commit,
        "artifact": "ihos.war",
        "bytes": std::fs::metadata(&war).expect("size").len(),
        "sha256": sha,
        "fetched_at": "2026-12-04T00:00:00Z",
        "server_url": "http://teamcity.invalid",
    });
    let mut path = war.clone().into_os_string();
    path.push(".json");
    std::fs::write(path, serde_json::to_vec_pretty(&sidecar).unwrap()).expect("sidecar");
    war
}

pub fn rollback_to_first(sb: &Sandbox, rt: &tokio::runtime::Runtime, tmp: &Path) -> Row {
    sb.reset();
    let dir = tmp.join("releases");
    std::fs::create_dir_all(&dir).expect("dir");
    let v2 = sb.war(V2);
    let v1 = sb.war("ihos-v1.war");
    let (b202, b203) = (dir.join("v1-b202.war"), dir.join("v2-b203.war"));
    repack(&v1, &b202, "202");
    repack(&v2, &b203, "203");
    let builds = [
        fetched(&dir, &v2, "ihos-201.war", "201", &"a201".repeat(10)),
        fetched(&dir, &b202, "ihos-202.war", "202", &"b202".repeat(10)),
        fetched(&dir, &b203, "ihos-203.war", "203", &"c203".repeat(10)),
    ];
    let first = sha256_of(&builds[0]);
    let names: Vec<String> = sb.instances().iter().map(|i| i.name.clone()).collect();
    let two = [names[0].as_str(), names[1].as_str()];
    let mut only = vec!["--only"];
    only.extend(two);
    for war in &builds {
        let mut args = vec!["--war", war.to_str().unwrap()];
        args.extend(&only);
        let run = rollout(&sb.toml, &args, None, ROLLOUT_MAX);
        assert_eq!(run.code(), Some(0), "{}", run.explain());
    }

    // What each keeps: the two build 202 and 201 (build 203 runs), the others nothing.
    let listed = ihos(&sb.toml, &["releases"]);
    let text = out_text(&listed);
    assert!(listed.status.success(), "{text}");
    say(&format!("sandbox_e2e:   ihos releases:\n{text}"));
    let json = ihos(&sb.toml, &["releases", "--json"]);
    assert!(json.status.success(), "{}", out_text(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("releases JSON");
    for inst in v["instances"].as_array().expect("instances") {
        let name = inst["instance"].as_str().unwrap_or("");
        let kept: Vec<&str> = inst["kept"]
            .as_array()
            .expect("kept")
            .iter()
            .filter_map(|r| r["build"].as_str())
            .collect();
        assert_eq!(inst["missing"], serde_json::json!([]), "{inst}");
        if two.contains(&name) {
            assert_eq!(kept, ["202", "201"], "{name}: {inst}");
            assert_eq!(inst["running"]["record"]["build"], "203", "{inst}");
            // On a real file system the kept release is a hard link of the previous one
            // (no second copy): the same inode.
            let host = &sb.topology.hosts[&sb
                .instances()
                .iter()
                .find(|i| i.name == name)
                .expect("instance")
                .host];
            let dir = Path::new(&host.state_dir).join("releases").join(name);
            let b202 = inst["kept"][0]["sha256"].as_str().expect("sha");
            let ino = |p: PathBuf| {
                std::os::unix::fs::MetadataExt::ino(
                    &std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
                )
            };
            assert_eq!(
                ino(dir.join("kept").join(format!("{b202}.war"))),
                ino(dir.join("previous.war")),
                "{name}"
            );
        } else {
            assert!(kept.is_empty(), "{name}: {inst}");
        }
    }

    // The whole fleet: refused, naming who keeps it; nothing changes.
    let refused = run_events(
        &sb.toml,
        &["rollback"],
        &["--to", "201"],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(refused.code(), Some(2), "{}", refused.explain());
    assert!(
        refused.stderr.contains("is not kept by")
            && refused
                .stderr
                .contains(&format!("kept by {}, {}", two[0], two[1])),
        "{}",
        refused.explain()
    );
    assert!(refused.touched().is_empty(), "{}", refused.explain());

    // The two back to build 201 under load.
    let load = Load::start(rt, sb.load_config(LOAD_MAX));
    sleep(Duration::from_secs(1));
    let mut args = vec!["--to", "201"];
    args.extend(&only);
    let back = run_events(&sb.toml, &["rollback"], &args, None, ROLLOUT_MAX);
    sleep(Duration::from_secs(1));
    let r = load.finish(rt);
    assert_eq!(back.code(), Some(0), "{}", back.explain());
    let f = assert_no_failures("rollback --to", &r);
    for inst in sb.instances() {
        let deployed = sha256_of(&Path::new(&inst.webapps).join(&inst.war_name));
        if two.contains(&inst.name.as_str()) {
            assert_eq!(deployed, first, "{}", inst.name);
        } else {
            assert_ne!(deployed, first, "{}: untouched", inst.name);
        }
    }
    let versions = sb.versions();
    assert!(
        versions.iter().all(|(n, v)| v
            == if two.contains(&n.as_str()) {
                "v2"
            } else {
                "v1"
            }),
        "{versions:?}"
    );
    assert!(sb.out_of_rotation().is_empty());
    let history = ihos(&sb.toml, &["history", "--json"]);
    let lines = String::from_utf8_lossy(&history.stdout).to_string();
    let last: Vec<serde_json::Value> = lines
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|r: &serde_json::Value| r["action"] == "rollback")
        .collect();
    assert_eq!(last.len(), 2, "{lines}");
    assert!(
        last.iter()
            .all(|r| r["build"] == "201" && r["sha256"] == first.as_str()),
        "{lines}"
    );
    Row {
        load: f,
        rollout_s: Some(back.wall.as_secs_f64()),
        exit: format!("{} / {}", exit_of(&refused), exit_of(&back)),
        notes: vec![format!(
            "3 rollouts (builds 201, 202, 203) to {} and {}; rollback --to 201 of all four refused in {:.1}s (not kept by the other two); with --only: on build 201 again in {:.1}s",
            two[0],
            two[1],
            refused.wall.as_secs_f64(),
            back.wall.as_secs_f64()
        )],
    }
}

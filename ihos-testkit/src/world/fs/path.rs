//! Paths as the fake filesystem stores them: absolute, normalized, `/`-separated.

/// Normalizes `path` (relative paths are taken from `cwd`), resolving `.` and `..`
/// lexically.
pub(crate) fn normalize(path: &str, cwd: &str) -> String {
    let full = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in full.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The parent directory of a normalized path.
pub(crate) fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a normalized path.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

pub(super) fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Ancestors of a normalized path, from `/` down, without the path itself.
pub(super) fn ancestors(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_string()];
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for i in 1..parts.len() {
        out.push(format!("/{}", parts[..i].join("/")));
    }
    if path == "/" {
        out.clear();
    }
    out
}

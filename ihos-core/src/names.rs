//! Validated names and paths from configuration: a container name or a remote path that
//! passed these checks can go into a command safely and means what it says.

use std::fmt;

/// Why a name or path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct InvalidName {
    /// What kind of value (`container name`, `remote path`, ...).
    pub what: &'static str,
    /// The value.
    pub value: String,
    /// Why it is refused.
    pub reason: &'static str,
}

/// A Docker container name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerName(String);

impl ContainerName {
    /// Checks and wraps a container name.
    pub fn new(name: &str) -> Result<Self, InvalidName> {
        let bad = |reason| {
            Err(InvalidName {
                what: "container name",
                value: name.to_string(),
                reason,
            })
        };
        let Some(first) = name.bytes().next() else {
            return bad("it is empty");
        };
        if name.len() > 128 {
            return bad("it is longer than 128 bytes");
        }
        if !first.is_ascii_alphanumeric() {
            return bad("it must start with a letter or digit");
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return bad("only letters, digits, '_', '.' and '-' are allowed");
        }
        Ok(ContainerName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute path on a remote host, normalized: no `.` or `..` components, no empty
/// components, no NUL or line breaks, no trailing `/` (except for `/` itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemotePath(String);

impl RemotePath {
    /// Checks and wraps an absolute path.
    pub fn new(path: &str) -> Result<Self, InvalidName> {
        let bad = |reason| {
            Err(InvalidName {
                what: "remote path",
                value: path.to_string(),
                reason,
            })
        };
        if !path.starts_with('/') {
            return bad("it must be absolute");
        }
        if path.bytes().any(|b| b == 0 || b == b'\n' || b == b'\r') {
            return bad("it contains a NUL or a line break");
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if parts.iter().any(|p| *p == "." || *p == "..") {
            return bad("'.' and '..' components are not allowed");
        }
        Ok(RemotePath(format!("/{}", parts.join("/"))))
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `self/name`, where `name` is one path component.
    pub fn join(&self, name: &str) -> Result<RemotePath, InvalidName> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(InvalidName {
                what: "file name",
                value: name.to_string(),
                reason: "it must be one path component",
            });
        }
        RemotePath::new(&format!("{}/{}", self.0.trim_end_matches('/'), name))
    }

    /// The parent directory (`/` for `/`).
    pub fn parent(&self) -> RemotePath {
        match self.0.rfind('/') {
            Some(0) | None => RemotePath("/".into()),
            Some(i) => RemotePath(self.0[..i].to_string()),
        }
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// Whether `self` is strictly inside `dir`.
    pub fn is_inside(&self, dir: &RemotePath) -> bool {
        let d = dir.0.trim_end_matches('/');
        self.0.len() > d.len() + 1 && self.0.starts_with(d) && self.0.as_bytes()[d.len()] == b'/'
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names() {
        assert!(ContainerName::new("ihos_pep1_official_1").is_ok());
        assert!(ContainerName::new("").is_err());
        assert!(ContainerName::new("-x").is_err());
        assert!(ContainerName::new("a b").is_err());
        assert!(ContainerName::new("a;rm").is_err());
        assert!(ContainerName::new("a$(x)").is_err());
    }

    #[test]
    fn remote_paths() {
        let p = RemotePath::new("/opt/docker//ihos/pep1/tomcat/webapps/").unwrap();
        assert_eq!(p.as_str(), "/opt/docker/ihos/pep1/tomcat/webapps");
        assert!(RemotePath::new("relative/x").is_err());
        assert!(RemotePath::new("/opt/../etc").is_err());
        assert!(RemotePath::new("/opt/./x").is_err());
        assert!(RemotePath::new("/a\nb").is_err());
        let war = p.join("ihos.war").unwrap();
        assert!(war.is_inside(&p));
        assert!(!p.is_inside(&p));
        assert!(
            !RemotePath::new("/opt/docker/ihos/pep1/tomcat/webapps2/x")
                .unwrap()
                .is_inside(&p)
        );
        assert!(p.join("../x").is_err());
        assert_eq!(war.parent(), p);
        assert_eq!(war.file_name(), "ihos.war");
    }
}

//! The target and durations as given on a command line: [`parse_target`], [`parse_duration`],
//! and [`check_target`] (loopback only).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::LoadConfigError;

/// Only 127.0.0.0/8 targets are allowed.
pub fn check_target(addr: SocketAddr) -> Result<(), LoadConfigError> {
    match addr.ip() {
        IpAddr::V4(ip) if ip.octets()[0] == 127 => {}
        ip => return Err(LoadConfigError::NotLoopback { ip }),
    }
    if addr.port() == 0 {
        return Err(LoadConfigError::PortZero);
    }
    Ok(())
}

/// Parses `http://127.0.0.10:8080`, `http://127.0.0.10:8080/ihos`, or `127.0.0.10:8080` into an
/// address and an optional path (no name resolution: the host must be an IPv4 literal in
/// 127.0.0.0/8; the port defaults to 80).
pub fn parse_target(text: &str) -> Result<(SocketAddr, Option<String>), LoadConfigError> {
    let rest = text.strip_prefix("http://").unwrap_or(text);
    if rest.contains("://") {
        return Err(LoadConfigError::TargetScheme {
            target: text.to_string(),
        });
    }
    let (hostport, path) = match rest.find('/') {
        Some(i) => (
            &rest[..i],
            Some(rest[i..].trim_end_matches('/').to_string()),
        ),
        None => (rest, None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>().map_err(|_| LoadConfigError::TargetPort {
                target: text.to_string(),
                port: p.to_string(),
            })?,
        ),
        None => (hostport, 80),
    };
    let ip: Ipv4Addr = host.parse().map_err(|_| LoadConfigError::TargetHost {
        target: text.to_string(),
    })?;
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    check_target(addr)?;
    Ok((addr, path.filter(|p| !p.is_empty())))
}

/// Parses `30s`, `500ms`, `2m`, `1h`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, LoadConfigError> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let owned = || text.to_string();
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| LoadConfigError::DurationSyntax { text: owned() })?;
    if !n.is_finite() || n < 0.0 {
        return Err(LoadConfigError::DurationValue { text: owned() });
    }
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(LoadConfigError::DurationUnit { text: owned() }),
    };
    if secs > 1e7 {
        return Err(LoadConfigError::DurationTooLong { text: owned() });
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::super::LoadConfig;
    use super::*;

    fn cfg() -> LoadConfig {
        LoadConfig::new("127.0.0.10:8080".parse().unwrap())
    }

    #[test]
    fn only_loopback_targets() {
        for ok in ["127.0.0.1:80", "127.255.1.2:8080"] {
            check_target(ok.parse().unwrap()).unwrap();
        }
        for bad in [
            "10.0.0.1:80",
            "192.168.1.101:80",
            "0.0.0.0:80",
            "[::1]:80",
            "8.8.8.8:53",
        ] {
            let e = check_target(bad.parse().unwrap()).unwrap_err().to_string();
            assert!(e.contains("only loopback"), "{bad}: {e}");
        }
        let mut c = cfg();
        c.target = "192.168.1.101:39091".parse().unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn target_parsing() {
        assert_eq!(
            parse_target("http://127.0.0.10:8080").unwrap(),
            ("127.0.0.10:8080".parse().unwrap(), None)
        );
        assert_eq!(
            parse_target("127.0.0.11:39091/ihos/").unwrap(),
            ("127.0.0.11:39091".parse().unwrap(), Some("/ihos".into()))
        );
        assert_eq!(parse_target("http://127.0.0.1").unwrap().0.port(), 80);
        assert!(parse_target("http://localhost:80").is_err());
        assert!(parse_target("http://192.168.1.101:39091").is_err());
        assert!(parse_target("https://127.0.0.1:443").is_err());
        assert!(parse_target("http://127.0.0.1:99999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}

//! Following redirects by hand, so that the access token goes only where TeamCity is: a
//! redirect keeps it when it stays on the server's origin (scheme, host ignoring case,
//! port), or only upgrades it from `http` to `https` on the default ports; anywhere else
//! (an external artifact storage's presigned URL, another service on the same host) the
//! request goes without it, and what answers there is not TeamCity. (ureq's own
//! `RedirectAuthHeaders::SameHost` compares hosts exactly and ignores the port.)

use ureq::http::Uri;

/// Redirects followed for one request, at most (as browsers and ureq do, about).
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Scheme, lower-case host and effective port.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn origin(uri: &Uri) -> Option<Origin> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let port = uri.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some(Origin {
        host: uri.host()?.to_ascii_lowercase(),
        scheme,
        port,
    })
}

/// Whether a request to `next` may carry the token of the server at `base`.
pub(crate) fn keeps_token(base: &str, next: &Uri) -> bool {
    let (Some(b), Some(n)) = (
        base.parse::<Uri>().ok().as_ref().and_then(origin),
        origin(next),
    ) else {
        return false;
    };
    let upgrade = b.scheme == "http" && b.port == 80 && n.scheme == "https" && n.port == 443;
    b.host == n.host && (b == n || upgrade)
}

/// The URL a `Location` header leads to from `current`: absolute, or a path on the same
/// origin (`/teamcities/...`).
pub(crate) fn resolve(current: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    if !location.starts_with('/') || location.starts_with("//") {
        return None;
    }
    let authority = current.authority()?;
    format!("{}://{authority}{location}", current.scheme_str()?)
        .parse()
        .ok()
}

/// `uri` without its query: a presigned URL's signature is a credential.
pub(crate) fn without_query(uri: &str) -> String {
    uri.split(['?', '#']).next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn the_token_stays_on_the_servers_origin() {
        let base = "http://TC.corp:8111/teamcities";
        assert!(keeps_token(base, &u("http://tc.corp:8111/teamcities/app")));
        assert!(
            !keeps_token(base, &u("http://tc.corp:9000/bucket?X-Amz-Signature=s")),
            "another port"
        );
        assert!(!keeps_token(base, &u("http://storage.corp:8111/x")));
        assert!(
            !keeps_token(base, &u("https://tc.corp:8111/x")),
            "not a default-port upgrade"
        );
        assert!(keeps_token(
            "http://tc.corp",
            &u("https://tc.corp/teamcities/")
        ));
        assert!(
            !keeps_token("https://tc.corp", &u("http://tc.corp/x")),
            "never downgraded"
        );
        assert!(keeps_token("https://tc.corp", &u("https://tc.corp:443/x")));
        assert!(!keeps_token(
            "https://[::1]:8443",
            &u("https://[::1]:9443/x")
        ));
        assert!(keeps_token(
            "https://[::1]:8443",
            &u("https://[::1]:8443/x")
        ));
        assert!(!keeps_token("not a url", &u("https://tc.corp/x")));
    }

    #[test]
    fn locations_resolve_and_queries_stay_out_of_messages() {
        let current = u("http://tc.corp:8111/tc/app/rest/builds?locator=x");
        assert_eq!(
            resolve(&current, "/teamcities/app/rest/builds?locator=x")
                .unwrap()
                .to_string(),
            "http://tc.corp:8111/teamcities/app/rest/builds?locator=x"
        );
        assert_eq!(
            resolve(&current, "https://s3/b?sig=1").unwrap().to_string(),
            "https://s3/b?sig=1"
        );
        assert!(resolve(&current, "//evil/x").is_none());
        assert!(resolve(&current, "relative/x").is_none());
        assert!(resolve(&current, "ftp://x/y").is_none());
        assert_eq!(
            without_query("https://s3/b/k?X-Amz-Signature=abc"),
            "https://s3/b/k"
        );
        assert_eq!(without_query("https://s3/b/k#frag"), "https://s3/b/k");
    }
}

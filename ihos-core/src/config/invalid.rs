//! What the topology's checks return: `(key, message)`, the key spelled as in the file
//! (`instances[2].backend`), and the checks several sections share.

pub(super) type Invalid = (String, String);

pub(super) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Invalid {
    (key.into(), message.into())
}

/// A secret is named by the environment variable that holds it, never written here.
pub(super) fn check_env_name(key: &str, name: &Option<String>) -> Result<(), Invalid> {
    if let Some(n) = name {
        let ok = !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !n.as_bytes()[0].is_ascii_digit();
        if !ok {
            return Err(invalid(
                key,
                format!(
                    "{n:?} is not an environment variable name (the secret itself never goes into the config)"
                ),
            ));
        }
    }
    Ok(())
}

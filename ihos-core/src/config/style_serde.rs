//! `style = "comment" | "down"` in `[load_balancer]`.

use ihos_nginx::DisableStyle;
use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<S: Serializer>(s: &DisableStyle, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(match s {
        DisableStyle::Comment => "comment",
        DisableStyle::Down => "down",
    })
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DisableStyle, D::Error> {
    match String::deserialize(d)?.as_str() {
        "comment" => Ok(DisableStyle::Comment),
        "down" => Ok(DisableStyle::Down),
        other => Err(serde::de::Error::custom(format!(
            "unknown style {other:?}, expected \"comment\" or \"down\""
        ))),
    }
}

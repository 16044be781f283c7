//! Integer keys with bounds, refused with the bound and why it is there.

use serde::{de, Deserialize, Deserializer};

/// An integer key that must lie in `lo..=hi`; `why` explains the lower bound.
pub(super) fn bounded<'de, D: Deserializer<'de>>(
    deserializer: D,
    key: &str,
    lo: u32,
    hi: u32,
    why: &str,
) -> Result<u32, D::Error> {
    let n = i64::deserialize(deserializer)?;
    if n < i64::from(lo) || n > i64::from(hi) {
        return Err(de::Error::custom(format!(
            "{key} must be between {lo}{why} and {hi}, got {n}"
        )));
    }
    Ok(n as u32)
}

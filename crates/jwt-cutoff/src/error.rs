//! [`ConfigError`]: what builders answer when a key or a setting cannot be used.

use std::fmt;

/// A key could not be read, or a builder's configuration cannot work (no algorithm allowed, a
/// claim that cannot name the subject, no crypto backend, a token cache too small to hold a
/// token, …). Returned when a validator, an issuer or a key is built, never per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

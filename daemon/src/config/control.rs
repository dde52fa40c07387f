//! `[control]`: where the API listens and its token (required off loopback, never readable
//! by others).

use std::net::SocketAddr;

use super::diag::{Ctx, readable_by_others};
use super::raw::RawControl;
use super::types::{ConfigError, ControlConfig};

impl Ctx<'_> {
    /// Checks `[control]`.
    pub(super) fn control(&self, control: &RawControl) -> Result<ControlConfig, ConfigError> {
        let listen = match &control.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 7870)),
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    return self.err(
                        Some(l.span()),
                        format!(
                            "control.listen: {:?} is not an address:port (e.g. \"127.0.0.1:7870\")",
                            l.get_ref()
                        ),
                    );
                }
            },
        };
        let token = match (&control.token, &control.token_file) {
            (Some(t), Some(_)) => {
                return self.err(
                    Some(t.span()),
                    "control: set token or token_file, not both".into(),
                );
            }
            (Some(t), None) => {
                if readable_by_others(self.path) {
                    return self.err(
                        Some(t.span()),
                        format!(
                            "control.token: {} holds a token but others may read it (chmod 600, or use token_file)",
                            self.path.display()
                        ),
                    );
                }
                Some(t.get_ref().clone())
            }
            (None, Some(f)) => {
                let file = self.path_of(f.get_ref());
                let tok = match std::fs::read_to_string(&file) {
                    Ok(t) => t.trim().to_owned(),
                    Err(e) => {
                        return self.err(
                            Some(f.span()),
                            format!("control.token_file: cannot read {}: {e}", file.display()),
                        );
                    }
                };
                if readable_by_others(&file) {
                    return self.err(
                        Some(f.span()),
                        format!(
                            "control.token_file: others may read {} (chmod 600)",
                            file.display()
                        ),
                    );
                }
                Some(tok)
            }
            (None, None) => None,
        };
        if let Some(t) = &token
            && t.len() < 16
        {
            let span = control
                .token
                .as_ref()
                .or(control.token_file.as_ref())
                .map(|s| s.span());
            return self.err(
                span,
                "control: the token must have at least 16 characters".into(),
            );
        }
        if !listen.ip().is_loopback() && token.is_none() {
            return self.err(
                control.listen.as_ref().map(|l| l.span()),
                format!(
                    "control.listen: {listen} is not a loopback address: set control.token_file (the API would be open to the network)"
                ),
            );
        }

        Ok(ControlConfig { listen, token })
    }
}

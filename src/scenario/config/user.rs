//! `user = "daemon"`: a process run as another user, as systemd's `User=`
//! runs a service and its `ExecStop=`. A signal from one user to another's
//! process is refused (EPERM): what a stop tool does to a newcomer that runs
//! as someone else.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A user by name or number, resolved on this machine when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// As the scenario wrote it.
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// The user `text` names (a login name, or a number in /etc/passwd).
    pub fn resolve(text: &str) -> Result<Self, String> {
        let found = match text.parse::<u32>() {
            Ok(uid) => nix::unistd::User::from_uid(uid.into()),
            Err(_) => nix::unistd::User::from_name(text),
        };
        match found {
            Ok(Some(user)) if user.uid.is_root() => Err(format!(
                "user `{text}` is root: a stop as root is never refused; name an ordinary user (e.g. daemon, nobody)"
            )),
            Ok(Some(user)) => Ok(Self {
                name: text.to_string(),
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            }),
            Ok(None) => Err(format!("no user `{text}` on this machine (see /etc/passwd)")),
            Err(e) => Err(format!("cannot look user `{text}` up: {e}")),
        }
    }

    /// `(uid, gid)`, as a child takes them before exec.
    pub fn ids(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }
}

impl Serialize for RunAs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for RunAs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::resolve(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::RunAs;

    #[test]
    fn users_by_name_or_number() {
        let nobody = RunAs::resolve("nobody").unwrap();
        assert_eq!(nobody.uid, 65534);
        assert_eq!(RunAs::resolve("65534").unwrap().uid, 65534);
        assert!(RunAs::resolve("root")
            .unwrap_err()
            .contains("never refused"));
        assert!(RunAs::resolve("no-such-user-x")
            .unwrap_err()
            .contains("/etc/passwd"));
    }
}

//! Reaching a fleet: where its NATS servers are, how to log in (user and password, token,
//! nkey seed or a credentials file), TLS, and the prefix of its subjects and streams.
//! Secrets never reach a log or an error message: [`Secret`] shows as `<redacted>`.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::ConnectErrorKind;

/// The environment variables [`FleetConfig::from_env`] reads.
pub const ENV_URL: &str = "GAMECODE_NATS_URL";
pub const ENV_PREFIX: &str = "GAMECODE_NATS_PREFIX";
pub const ENV_USER: &str = "GAMECODE_NATS_USER";
pub const ENV_PASSWORD: &str = "GAMECODE_NATS_PASSWORD";
pub const ENV_TOKEN: &str = "GAMECODE_NATS_TOKEN";
pub const ENV_NKEY: &str = "GAMECODE_NATS_NKEY";
pub const ENV_CREDS: &str = "GAMECODE_NATS_CREDS";
pub const ENV_CA: &str = "GAMECODE_NATS_CA";
pub const ENV_CERT: &str = "GAMECODE_NATS_CERT";
pub const ENV_KEY: &str = "GAMECODE_NATS_KEY";
pub const ENV_INBOX: &str = "GAMECODE_NATS_INBOX_PREFIX";

/// How long connecting may take before the servers count as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A credential: kept, used, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    fn expose(&self) -> String {
        self.0.clone()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to log in to the servers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials (a server without authorization).
    #[default]
    None,
    UserPassword {
        user: String,
        password: Secret,
    },
    Token(Secret),
    /// An nkey seed (`SU…`).
    NKey(Secret),
    /// A `.creds` file (a user JWT and its nkey seed).
    CredsFile(PathBuf),
}

impl Auth {
    /// What kind of login it is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "no credentials",
            Self::UserPassword { .. } => "a user and password",
            Self::Token(_) => "a token",
            Self::NKey(_) => "an nkey",
            Self::CredsFile(_) => "a credentials file",
        }
    }
}

/// TLS: the CA to trust (instead of the system's), a client certificate, and whether TLS is
/// required even for a `nats://` URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    pub ca: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub require: bool,
}

/// Where a fleet is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetConfig {
    /// One or more server URLs, comma-separated (`nats://host:4222`, `tls://…`).
    pub url: String,
    pub auth: Auth,
    pub tls: Tls,
    /// The first token of every subject and stream of this fleet.
    pub prefix: String,
    /// Where replies to this client go (`_INBOX` by default): one prefix per kind of user
    /// lets the servers keep a submitter from reading replies meant for workers.
    pub inbox_prefix: String,
    /// How long [`connect`] keeps trying while no server answers (a worker started before
    /// its servers, a cluster restarting); none by default.
    pub patience: std::time::Duration,
}

/// Why a fleet could not be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The configuration is not usable (two logins at once, a bad prefix, a missing file).
    #[error("fleet configuration: {0}")]
    Config(String),
    /// The servers refused the credentials.
    #[error("the NATS servers at {url} refused {auth}: {detail}")]
    Authentication {
        url: String,
        auth: &'static str,
        detail: String,
    },
    /// TLS failed (a certificate not trusted, TLS required on one side only).
    #[error("TLS with the NATS servers at {url} failed: {detail}")]
    Tls { url: String, detail: String },
    /// No server answered.
    #[error("no NATS server answered at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// JetStream refused or failed an operation (a stream, bucket or message).
    #[error("the fleet's JetStream: {0}")]
    JetStream(String),
}

impl FleetConfig {
    /// The fleet at `url`, no credentials, prefix `gamecode`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: Auth::None,
            tls: Tls::default(),
            prefix: "gamecode".into(),
            patience: std::time::Duration::ZERO,
            inbox_prefix: "_INBOX".into(),
        }
    }

    /// This configuration, waiting up to `patience` for a server to answer.
    pub fn with_patience(mut self, patience: std::time::Duration) -> Self {
        self.patience = patience;
        self
    }

    /// The fleet at `url` (else `GAMECODE_NATS_URL`), with the credentials, TLS files and
    /// prefix the environment gives (`GAMECODE_NATS_*`). Two kinds of login at once are
    /// refused: which one was meant cannot be told.
    pub fn from_env(url: Option<String>) -> Result<Self, FleetError> {
        Self::from_vars(url, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) over any source of variables.
    pub fn from_vars(
        url: Option<String>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, FleetError> {
        let url = url.or_else(|| var(ENV_URL)).ok_or_else(|| {
            FleetError::Config(format!("no NATS URL: give --nats URL or set {ENV_URL}"))
        })?;
        check_no_login_in(&url)?;
        let mut logins = Vec::new();
        match (var(ENV_USER), var(ENV_PASSWORD)) {
            (Some(user), Some(password)) => logins.push(Auth::UserPassword {
                user,
                password: Secret::new(password),
            }),
            (None, None) => {}
            _ => {
                return Err(FleetError::Config(format!(
                    "{ENV_USER} and {ENV_PASSWORD} go together"
                )));
            }
        }
        if let Some(token) = var(ENV_TOKEN) {
            logins.push(Auth::Token(Secret::new(token)));
        }
        if let Some(seed) = var(ENV_NKEY) {
            logins.push(Auth::NKey(Secret::new(seed)));
        }
        if let Some(path) = var(ENV_CREDS) {
            logins.push(Auth::CredsFile(path.into()));
        }
        if logins.len() > 1 {
            let kinds: Vec<&str> = logins.iter().map(Auth::kind).collect();
            return Err(FleetError::Config(format!(
                "more than one NATS login is set ({}): set one",
                kinds.join(", ")
            )));
        }
        let client_cert = match (var(ENV_CERT), var(ENV_KEY)) {
            (Some(cert), Some(key)) => Some((cert.into(), key.into())),
            (None, None) => None,
            _ => {
                return Err(FleetError::Config(format!(
                    "{ENV_CERT} and {ENV_KEY} go together"
                )));
            }
        };
        let mut config = Self::new(url);
        config.auth = logins.pop().unwrap_or_default();
        config.tls = Tls {
            ca: var(ENV_CA).map(PathBuf::from),
            client_cert,
            require: false,
        };
        if let Some(inbox) = var(ENV_INBOX) {
            let valid = !inbox.is_empty()
                && inbox
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
                && !inbox.starts_with('.')
                && !inbox.ends_with('.');
            if !valid {
                return Err(FleetError::Config(format!(
                    "{ENV_INBOX}: subject tokens of letters, digits, `-`, `_`, not `{}`",
                    inbox.escape_debug()
                )));
            }
            config.inbox_prefix = inbox;
        }
        match var(ENV_PREFIX) {
            Some(prefix) => config.with_prefix(prefix),
            None => Ok(config),
        }
    }

    /// This configuration with another subject prefix: 1 to 32 letters, digits, `-` or `_`
    /// (a token of a subject, and part of stream names).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Result<Self, FleetError> {
        let prefix = prefix.into();
        let valid = (1..=32).contains(&prefix.len())
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(FleetError::Config(format!(
                "prefix `{}`: 1 to 32 letters, digits, `-` or `_`",
                prefix.escape_debug()
            )));
        }
        self.prefix = prefix;
        Ok(self)
    }

    /// A subject of this fleet: `PREFIX.part.part…`.
    pub fn subject(&self, parts: &[&str]) -> String {
        std::iter::once(self.prefix.as_str())
            .chain(parts.iter().copied())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A stream, KV bucket or object store of this fleet: `PREFIX_WHAT`.
    pub fn bucket(&self, what: &str) -> String {
        format!("{}_{what}", self.prefix)
    }

    async fn options(&self) -> Result<async_nats::ConnectOptions, FleetError> {
        let mut options = match &self.auth {
            Auth::None => async_nats::ConnectOptions::new(),
            Auth::UserPassword { user, password } => {
                async_nats::ConnectOptions::with_user_and_password(user.clone(), password.expose())
            }
            Auth::Token(token) => async_nats::ConnectOptions::with_token(token.expose()),
            Auth::NKey(seed) => async_nats::ConnectOptions::with_nkey(seed.expose()),
            Auth::CredsFile(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|e| {
                    FleetError::Config(format!("credentials file {}: {e}", path.display()))
                })?,
        };
        if let Some(ca) = &self.tls.ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.tls.client_cert {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options
            .require_tls(self.tls.require)
            .custom_inbox_prefix(&self.inbox_prefix)
            .connection_timeout(CONNECT_TIMEOUT)
            .name(format!("gamecode-{}", env!("CARGO_PKG_VERSION"))))
    }
}

/// Connects to the fleet's servers, saying why not in the caller's terms: the credentials
/// refused, TLS, or no server there.
pub async fn connect(config: &FleetConfig) -> Result<async_nats::Client, FleetError> {
    let since = tokio::time::Instant::now();
    let mut tries = 0u32;
    loop {
        match connect_once(config).await {
            Err(e @ FleetError::Unreachable { .. }) if since.elapsed() < config.patience => {
                if tries.is_multiple_of(10) {
                    tracing::warn!(error = %e, "waiting for the fleet's servers");
                }
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            result => return result,
        }
    }
}

/// A URL carrying a login (`nats://user:pass@host`, `nats://token@host`) would put the
/// secret wherever the URL is shown: refused, without showing it.
fn check_no_login_in(urls: &str) -> Result<(), FleetError> {
    let with_login = urls.split(',').any(|url| {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        rest.split('/')
            .next()
            .is_some_and(|authority| authority.contains('@'))
    });
    if with_login {
        return Err(FleetError::Config(
            "the NATS URL carries a login (user:password@ or token@): put it in \
             GAMECODE_NATS_USER and GAMECODE_NATS_PASSWORD, or GAMECODE_NATS_TOKEN, where it is \
             never shown"
                .into(),
        ));
    }
    Ok(())
}

async fn connect_once(config: &FleetConfig) -> Result<async_nats::Client, FleetError> {
    check_no_login_in(&config.url)?;
    let options = config.options().await?;
    let url = config.url.clone();
    options.connect(config.url.as_str()).await.map_err(|e| {
        // The client's own message never holds the secret; it is added to nothing else.
        let detail = e.to_string();
        match e.kind() {
            ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
                FleetError::Authentication {
                    url,
                    auth: config.auth.kind(),
                    detail,
                }
            }
            ConnectErrorKind::Tls => FleetError::Tls { url, detail },
            ConnectErrorKind::ServerParse => {
                FleetError::Config(format!("the NATS URL `{url}`: {detail}"))
            }
            _ => FleetError::Unreachable { url, detail },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_gives_one_login_and_never_shows_a_secret() {
        let config = FleetConfig::from_vars(
            None,
            vars(&[
                (ENV_URL, "nats://127.0.0.1:4222"),
                (ENV_TOKEN, "s3cret-token"),
                (ENV_PREFIX, "team-a"),
            ]),
        )
        .expect("a config");
        assert_eq!(config.auth, Auth::Token(Secret::new("s3cret-token")));
        assert_eq!(config.subject(&["runs", "x"]), "team-a.runs.x");
        assert_eq!(config.bucket("RUNS"), "team-a_RUNS");
        assert!(!format!("{config:?}").contains("s3cret"), "{config:?}");

        let two = FleetConfig::from_vars(
            Some("nats://h".into()),
            vars(&[(ENV_TOKEN, "t"), (ENV_USER, "u"), (ENV_PASSWORD, "p")]),
        )
        .expect_err("two logins");
        assert!(two.to_string().contains("more than one"), "{two}");
        let half = FleetConfig::from_vars(Some("nats://h".into()), vars(&[(ENV_USER, "u")]))
            .expect_err("a user without a password");
        assert!(half.to_string().contains(ENV_PASSWORD), "{half}");
        assert!(FleetConfig::from_vars(None, vars(&[])).is_err(), "no URL");
    }

    #[test]
    fn a_login_in_the_url_is_refused_without_showing_it() {
        let e = FleetConfig::from_vars(Some("nats://ada:s3cret@127.0.0.1:4222".into()), |_| None)
            .expect_err("refused");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(
            FleetConfig::from_vars(Some("tls://tok3n@h:1,nats://h:2".into()), |_| None).is_err()
        );
        assert!(FleetConfig::from_vars(Some("nats://127.0.0.1:4222".into()), |_| None).is_ok());
    }

    #[test]
    fn a_prefix_is_one_subject_token() {
        let base = FleetConfig::new("nats://h");
        for bad in ["", "a.b", "a b", "a>", "*", &"x".repeat(33)] {
            assert!(base.clone().with_prefix(bad).is_err(), "{bad:?}");
        }
        assert_eq!(base.with_prefix("eval_2").expect("valid").prefix, "eval_2");
    }
}

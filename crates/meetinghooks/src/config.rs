//! Configuration: defaults, then a TOML file, then `MEETINGHOOKS_*` variables; validated once.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address `serve` listens on.
    pub listen: SocketAddr,
    /// `sqlite://PATH`.
    pub database_url: String,
    /// How long a disconnected participant may take to come back before `participant-left`.
    #[serde(with = "duration_text")]
    pub reconnect_grace: Duration,
    /// When set, `serve` makes sure the `default` project accepts this API key.
    pub bootstrap_api_key: Option<Secret>,
    /// `tracing` filter, e.g. `info` or `meetinghooks=debug`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ([127, 0, 0, 1], 8080).into(),
            database_url: "sqlite://./data/meetinghooks.db".into(),
            reconnect_grace: Duration::from_secs(10),
            bootstrap_api_key: None,
            log: "info".into(),
        }
    }
}

impl Config {
    /// Layers defaults, the optional file and the environment, then validates.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("MEETINGHOOKS_"))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if !self.database_url.starts_with("sqlite://") {
            anyhow::bail!(
                "database_url must be sqlite://PATH, got {:?}",
                self.database_url
            );
        }
        if self.reconnect_grace > Duration::from_secs(24 * 3600) {
            anyhow::bail!("reconnect_grace must be at most 24h");
        }
        if let Some(key) = &self.bootstrap_api_key {
            if key.0.len() < 16 {
                anyhow::bail!("bootstrap_api_key must be at least 16 characters");
            }
        }
        Ok(())
    }
}

/// A value that is never printed, so configuration can be logged safely.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Durations as text (`"10s"`, `"500ms"`, `"2m"`, `"1h"`) or a plain number of seconds.
pub mod duration_text {
    use super::*;

    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number.parse().ok()?;
        let seconds = match unit.trim() {
            "ms" => value / 1000.0,
            "" | "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            "d" => value * 86_400.0,
            _ => return None,
        };
        Duration::try_from_secs_f64(seconds).ok()
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", d.as_millis()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(f64),
            Text(String),
        }
        let parsed = match Raw::deserialize(d)? {
            Raw::Seconds(s) => Duration::try_from_secs_f64(s).ok(),
            Raw::Text(t) => parse(&t),
        };
        parsed.ok_or_else(|| {
            serde::de::Error::custom("expected a duration such as \"10s\" or \"500ms\"")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_text::parse("10s"), Some(Duration::from_secs(10)));
        assert_eq!(
            duration_text::parse("250ms"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(duration_text::parse("2m"), Some(Duration::from_secs(120)));
        assert_eq!(duration_text::parse("3"), Some(Duration::from_secs(3)));
        assert_eq!(duration_text::parse("ten"), None);
    }

    #[test]
    fn secrets_are_not_printed() {
        let c = Config {
            bootstrap_api_key: Some(Secret("super-secret-key-123".into())),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("super-secret"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type
    fn file_then_env_layering() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("m.toml", "reconnect_grace = \"3s\"\nlog = \"debug\"")?;
            jail.set_env("MEETINGHOOKS_LOG", "warn");
            let c = Config::load(Some(Path::new("m.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.reconnect_grace, Duration::from_secs(3));
            assert_eq!(c.log, "warn");
            Ok(())
        });
    }
}

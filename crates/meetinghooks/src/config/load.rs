//! Loading the configuration: defaults, then a TOML file, then `MEETINGHOOKS_*` variables,
//! with every problem reported in one run.

use std::fmt;
use std::path::Path;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;

use super::Config;

/// `MEETINGHOOKS_*` variables read by the command-line clients, never by `serve`.
pub const CLIENT_VARIABLES: &[&str] = &[
    "MEETINGHOOKS_API_KEY",
    "MEETINGHOOKS_URL",
    "MEETINGHOOKS_LISTEN_SECRET",
    "MEETINGHOOKS_BENCH_POSTGRES_URL",
];

const ENV_PREFIX: &str = "MEETINGHOOKS_";

/// A configuration that passed validation, with what the operator should be told about it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Things that did not stop the start, such as an unknown `MEETINGHOOKS_*` variable.
    pub warnings: Vec<String>,
}

/// Every problem found in one run, each naming where it came from.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        write!(f, "invalid configuration ({count} {noun}):")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl Config {
    /// Layers defaults, the optional file and the environment, then validates. Every bad key,
    /// value and rule is reported at once.
    pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// [`Config::load`] with the environment given, so tests need not change the process's.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let keys = Config::keys();
        let mut problems = Vec::new();
        let mut warnings = Vec::new();

        let mut user = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError {
                    problems: vec![format!("config file {} does not exist", file.display())],
                });
            }
            user = user.merge(Toml::file(file));
        }
        // Only variables that name a key reach the server's settings, so the clients' own
        // variables (`MEETINGHOOKS_API_KEY`…) can be exported in the same shell.
        let mut env_keys = std::collections::BTreeSet::new();
        let mut env_values = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if keys.contains(&key) {
                env_keys.insert(key.clone());
                env_values.push((key, value));
            } else if !CLIENT_VARIABLES.contains(&name.as_str()) {
                let hint = did_you_mean(&key, &keys)
                    .map(|k| format!(" (did you mean {ENV_PREFIX}{}?)", k.to_ascii_uppercase()))
                    .unwrap_or_default();
                warnings.push(format!("ignoring {name}: not a server setting{hint}"));
            }
        }
        for (key, value) in env_values {
            // figment's parser panics on some escapes before multi-byte characters; a value
            // with a backslash is taken as the plain string it is.
            let value: figment::value::Value = if value.contains('\\') {
                value.into()
            } else {
                value.parse().unwrap_or_else(|e| match e {})
            };
            user = user.merge(Serialized::default(&key, value));
        }

        let given: figment::value::Dict = match user.extract() {
            Ok(given) => given,
            Err(e) => {
                let place = file.map(|f| f.display().to_string()).unwrap_or_default();
                return Err(ConfigError {
                    problems: vec![format!("{place}: {}", plain(&e.kind.to_string()))],
                });
            }
        };
        let source = |key: &str| -> String {
            if env_keys.contains(key) {
                format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
            } else {
                let file = file.map(|f| f.display().to_string()).unwrap_or_default();
                format!("{file}: {key}")
            }
        };

        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        for (key, value) in given {
            if !keys.contains(&key) {
                let hint = did_you_mean(&key, &keys)
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                problems.push(format!("{}: unknown key{hint}", source(&key)));
                continue;
            }
            // Each key on its own over the defaults, so one bad value hides no other.
            let alone = Figment::from(Serialized::defaults(Config::default()))
                .merge(Serialized::default(&key, &value));
            match alone.extract::<Config>() {
                Ok(_) => figment = figment.merge(Serialized::default(&key, &value)),
                Err(e) => {
                    problems.push(format!("{}: {}", source(&key), plain(&e.kind.to_string())))
                }
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let config: Config = figment.extract().map_err(|e| ConfigError {
            problems: vec![plain(&e.kind.to_string())],
        })?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Loaded { config, warnings })
    }
}

/// The closest known key, when it is close enough to be a typo.
fn did_you_mean<'a>(key: &str, keys: &'a [String]) -> Option<&'a str> {
    keys.iter()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.as_str())
}

/// figment quotes values in backticks; plain text reads better in a terminal.
fn plain(text: &str) -> String {
    text.replace('`', "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogFormat;
    use std::time::Duration;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn file_then_env_layering() {
        let f = file("reconnect_grace = \"3s\"\nlog = \"debug\"\nlog_format = \"json\"");
        let loaded =
            Config::load_from(Some(f.path()), env(&[("MEETINGHOOKS_LOG", "warn")])).unwrap();
        assert_eq!(loaded.config.reconnect_grace, Duration::from_secs(3));
        assert_eq!(loaded.config.log, "warn");
        assert_eq!(loaded.config.log_format, LogFormat::Json);
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once_and_names_its_place() {
        let f =
            file("reconnect_grace = 10\nretry_jiter = 0.1\nrequest_timeout = \"40s\"\nlog = 5\n");
        let err = Config::load_from(
            Some(f.path()),
            env(&[("MEETINGHOOKS_LEASE_DURATION", "ten")]),
        )
        .unwrap_err();
        let text = err.to_string();
        let name = f.path().display().to_string();
        assert_eq!(err.problems.len(), 4, "{text}");
        assert!(
            text.contains(&format!("{name}: reconnect_grace: 10 has no unit")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "{name}: retry_jiter: unknown key (did you mean retry_jitter?)"
            )),
            "{text}"
        );
        assert!(text.contains(&format!("{name}: log: ")), "{text}");
        assert!(
            text.contains("MEETINGHOOKS_LEASE_DURATION: \"ten\" is not a duration"),
            "{text}"
        );
        assert!(!text.contains('`') && !text.contains("default."), "{text}");

        // Values that parse but break a rule are all reported too.
        let f = file("request_timeout = \"40s\"\nretention_days = 0\n");
        let err = Config::load_from(Some(f.path()), env(&[])).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
    }

    /// Found by the fuzz test below: figment's value parser panicked on this one.
    #[test]
    fn an_escape_before_a_multibyte_character_is_an_error_or_a_value() {
        let value = "\"𑃷<\\;𐜒꧳/𞸹ꟹO\"";
        let _ = Config::load_from(None, env(&[("MEETINGHOOKS_LOG", value)]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// The loader reads an operator's file and environment: arbitrary bytes in either are
        /// an error or a config, never a panic.
        #[test]
        fn arbitrary_files_and_variables_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            toml_like in "([a-z_]{1,24} = (\"[^\"\n]{0,16}\"|[0-9.e+-]{1,12}|\\[[^\n]{0,16}\\]|true)\n){0,6}",
            key in proptest::sample::select(Config::keys()),
            value in proptest::prelude::any::<String>(),
        ) {
            for text in [&bytes[..], toml_like.as_bytes()] {
                let f = tempfile::NamedTempFile::new().unwrap();
                std::fs::write(f.path(), text).unwrap();
                let _ = Config::load_from(Some(f.path()), env(&[]));
            }
            let name = format!("MEETINGHOOKS_{}", key.to_ascii_uppercase());
            let _ = Config::load_from(None, env(&[(name.as_str(), value.as_str())]));
        }
    }

    #[test]
    fn client_variables_do_not_reach_the_server() {
        let loaded = Config::load_from(
            None,
            env(&[
                ("MEETINGHOOKS_API_KEY", "some-key"),
                ("MEETINGHOOKS_LISTEN_SECRET", "whsec_abc"),
                ("MEETINGHOOKS_URL", "http://127.0.0.1:8080"),
                ("MEETINGHOOKS_LOGG", "debug"),
            ]),
        )
        .unwrap();
        assert_eq!(
            loaded.warnings,
            ["ignoring MEETINGHOOKS_LOGG: not a server setting (did you mean MEETINGHOOKS_LOG?)"]
        );
    }
}

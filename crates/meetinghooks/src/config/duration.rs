//! Durations in the configuration: text with a unit, alone or in lists.

/// Durations as text with a unit (`"10s"`, `"500ms"`, `"2m"`, `"1h"`, `"1d"`); a bare number
/// is refused, since `10` could mean seconds or milliseconds.
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number.parse().ok()?;
        let seconds = match unit.trim() {
            "ms" => value / 1000.0,
            "s" => value,
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
        match Raw::deserialize(d)? {
            Raw::Seconds(s) => Err(serde::de::Error::custom(format!(
                "{s} has no unit: write a duration such as \"{s}s\" or \"500ms\""
            ))),
            Raw::Text(t) => parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{t:?} is not a duration: write one such as \"10s\", \"500ms\", \"2m\" or \"1h\""
                ))
            }),
        }
    }
}

/// Lists of durations, each as accepted by [`duration_text`].
pub mod duration_list {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(list: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        let text: Vec<String> = list
            .iter()
            .map(|d| format!("{}ms", d.as_millis()))
            .collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        #[derive(Deserialize)]
        struct Item(#[serde(with = "super::duration_text")] Duration);
        Ok(Vec::<Item>::deserialize(d)?
            .into_iter()
            .map(|i| i.0)
            .collect())
    }
}

//! Serde glue for types that travel as strings in JSON (addresses, hashes, signatures).

use std::fmt;
use std::str::FromStr;

/// Serializes any `Display` value as a string.
pub(crate) fn serialize_display<T: fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Deserializes a value from a string through its `FromStr`.
pub(crate) fn deserialize_from_str<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: fmt::Display,
    D: serde::Deserializer<'de>,
{
    let s = <String as serde::Deserialize>::deserialize(deserializer)?;
    s.parse().map_err(serde::de::Error::custom)
}

//! How typed values become the platform's flat request parameters and back.
//!
//! The platform's RPC style sends every parameter as a string in the query (or a form
//! body). Lists use the RepeatList flattening: `ProductTag.1.TagKey`, `ProductTagKey.2`.
//! The client writes parameters with [`WireField::write`]; the emulator reads them back with
//! [`WireField::read`], so both sides share one definition of every parameter name.
//!
//! No I/O happens here.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Decoded request parameters by name (query and form body together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parameters from decoded pairs; a later pair with the same name wins.
    #[must_use]
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    /// The value of `name`, if present.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A parameter that is missing or not of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A required parameter is absent (or empty).
    #[error("{0} is mandatory for this action.")]
    Missing(String),
    /// A parameter has a value of the wrong type.
    #[error("The specified parameter \"{name}\" is not valid: expected {expected}.")]
    Invalid {
        /// Parameter name.
        name: String,
        /// What was expected, for example "an integer".
        expected: &'static str,
    },
}

/// A scalar parameter type: how it is written and parsed.
pub trait WireScalar: Sized {
    /// The value as sent.
    fn format(&self) -> String;
    /// Parses a received value; `None` when it has the wrong type.
    fn parse(text: &str) -> Option<Self>;
    /// Describes the type for error messages.
    const EXPECTED: &'static str;
}

impl WireScalar for String {
    fn format(&self) -> String {
        self.clone()
    }
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    const EXPECTED: &'static str = "a string";
}

impl WireScalar for i32 {
    fn format(&self) -> String {
        self.to_string()
    }
    fn parse(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    const EXPECTED: &'static str = "an integer";
}

impl WireScalar for i64 {
    fn format(&self) -> String {
        self.to_string()
    }
    fn parse(text: &str) -> Option<Self> {
        text.trim().parse().ok()
    }
    const EXPECTED: &'static str = "an integer";
}

impl WireScalar for bool {
    fn format(&self) -> String {
        self.to_string()
    }
    /// Accepts `true`/`false` in any case: the Python SDKs send `True`.
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    const EXPECTED: &'static str = "true or false";
}

/// A field of an operation: written to and read from the flat parameters.
pub trait WireField: Sized {
    /// Appends this field's parameters to `out`.
    fn write(&self, name: &str, out: &mut Vec<(String, String)>);
    /// Reads this field from `params`.
    ///
    /// # Errors
    /// [`ParamError`] when a required value is missing or a value has the wrong type.
    fn read(name: &str, params: &Params) -> Result<Self, ParamError>;
}

fn read_scalar<T: WireScalar>(name: &str, params: &Params) -> Result<Option<T>, ParamError> {
    match params.get(name) {
        None => Ok(None),
        Some(text) => T::parse(text)
            .map(Some)
            .ok_or_else(|| ParamError::Invalid { name: name.into(), expected: T::EXPECTED }),
    }
}

macro_rules! required_scalar {
    ($($t:ty),*) => {$(
        impl WireField for $t {
            fn write(&self, name: &str, out: &mut Vec<(String, String)>) {
                out.push((name.to_string(), self.format()));
            }
            fn read(name: &str, params: &Params) -> Result<Self, ParamError> {
                match params.get(name) {
                    None | Some("") => Err(ParamError::Missing(name.to_string())),
                    Some(_) => Ok(read_scalar::<$t>(name, params)?.expect("present")),
                }
            }
        }
    )*};
}
required_scalar!(String, i32, i64, bool);

impl<T: WireScalar> WireField for Option<T> {
    fn write(&self, name: &str, out: &mut Vec<(String, String)>) {
        if let Some(value) = self {
            out.push((name.to_string(), value.format()));
        }
    }
    fn read(name: &str, params: &Params) -> Result<Self, ParamError> {
        if params.get(name) == Some("") {
            return Ok(None);
        }
        read_scalar(name, params)
    }
}

/// Reads `name.1`, `name.2`, … until the first gap (at most 1000 entries).
fn repeat_indices(name: &str, params: &Params, suffix: &str) -> Vec<usize> {
    (1..=1000).take_while(|i| params.get(&format!("{name}.{i}{suffix}")).is_some()).collect()
}

/// A plain RepeatList: `Name.1`, `Name.2`, …
impl WireField for Vec<String> {
    fn write(&self, name: &str, out: &mut Vec<(String, String)>) {
        for (i, value) in self.iter().enumerate() {
            out.push((format!("{name}.{}", i + 1), value.clone()));
        }
    }
    fn read(name: &str, params: &Params) -> Result<Self, ParamError> {
        Ok(repeat_indices(name, params, "")
            .into_iter()
            .filter_map(|i| params.get(&format!("{name}.{i}")).map(str::to_string))
            .collect())
    }
}

/// A product tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The key.
    pub tag_key: String,
    /// The value.
    #[serde(default)]
    pub tag_value: String,
}

/// A RepeatList of tags: `ProductTag.1.TagKey`, `ProductTag.1.TagValue`, …
impl WireField for Vec<Tag> {
    fn write(&self, name: &str, out: &mut Vec<(String, String)>) {
        for (i, tag) in self.iter().enumerate() {
            out.push((format!("{name}.{}.TagKey", i + 1), tag.tag_key.clone()));
            out.push((format!("{name}.{}.TagValue", i + 1), tag.tag_value.clone()));
        }
    }
    fn read(name: &str, params: &Params) -> Result<Self, ParamError> {
        Ok(repeat_indices(name, params, ".TagKey")
            .into_iter()
            .map(|i| Tag {
                tag_key: params.get(&format!("{name}.{i}.TagKey")).unwrap_or_default().to_string(),
                tag_value: params.get(&format!("{name}.{i}.TagValue")).unwrap_or_default().to_string(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn required_values_must_be_present_and_non_empty() {
        assert_eq!(String::read("ProductKey", &params(&[])), Err(ParamError::Missing("ProductKey".into())));
        assert_eq!(
            String::read("ProductKey", &params(&[("ProductKey", "")])),
            Err(ParamError::Missing("ProductKey".into()))
        );
        assert_eq!(String::read("ProductKey", &params(&[("ProductKey", "a1")])), Ok("a1".into()));
    }

    #[test]
    fn integers_and_booleans_are_type_checked() {
        assert!(matches!(
            i32::read("NodeType", &params(&[("NodeType", "abc")])),
            Err(ParamError::Invalid { .. })
        ));
        assert_eq!(<Option<bool>>::read("PublishAuto", &params(&[("PublishAuto", "True")])), Ok(Some(true)));
        assert_eq!(<Option<i32>>::read("DataFormat", &params(&[])), Ok(None));
    }

    #[test]
    fn tag_lists_round_trip_through_the_repeat_list_flattening() {
        let tags = vec![
            Tag { tag_key: "a".into(), tag_value: "1".into() },
            Tag { tag_key: "b".into(), tag_value: "".into() },
        ];
        let mut out = Vec::new();
        tags.write("ProductTag", &mut out);
        assert_eq!(out[0], ("ProductTag.1.TagKey".to_string(), "a".to_string()));
        assert_eq!(<Vec<Tag>>::read("ProductTag", &Params::from_pairs(out)), Ok(tags));
    }

    #[test]
    fn string_lists_stop_at_the_first_gap() {
        let p = params(&[("K.1", "a"), ("K.2", "b"), ("K.4", "d")]);
        assert_eq!(<Vec<String>>::read("K", &p), Ok(vec!["a".to_string(), "b".to_string()]));
    }
}

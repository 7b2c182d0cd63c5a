//! The thing model as native YAML: properties, events and services with their data types,
//! checked by the API server (schema and CEL rules that follow the platform's TSL rules), and
//! rendered into the platform's TSL document.
//!
//! The schema cannot recurse, and the platform does not either: a struct's members are
//! scalars, and an array's items are scalars or a struct of scalars. So there are three data
//! type shapes: [`DataType`] (any type), [`ArrayItem`] (what an array holds) and
//! [`ScalarDataType`] (a struct member).
//!
//! No I/O happens here.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A property: a state of the device that can be read (and, with `accessMode: rw`, set).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    /// The identifier devices and applications use (1 to 50 letters, digits and
    /// underscores, not starting with a digit; not one of the platform's reserved words
    /// set, get, post, property, event, time, value). Unique among the model's properties,
    /// events and services.
    #[schemars(length(min = 1, max = 50))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message("identifier must be letters, digits and underscores, not starting with a digit"))]
    #[x_kube(validation = Rule::new("!(self in ['set', 'get', 'post', 'property', 'event', 'time', 'value'])").message("identifier must not be one of the platform's reserved words: set, get, post, property, event, time, value"))]
    pub identifier: String,
    /// The display name (1 to 30 characters: Chinese, Japanese, letters, digits, `-_./`,
    /// starting with a Chinese character, a letter or a digit).
    #[schemars(length(min = 1, max = 30))]
    #[x_kube(validation = Rule::new("self.matches('^[\\\\p{Han}A-Za-z0-9][-\\\\p{Han}\\\\p{Hiragana}\\\\p{Katakana}A-Za-z0-9_./ ]*$')").message("name must start with a Chinese character, a letter or a digit and hold only Chinese, Japanese, letters, digits, spaces and -_./"))]
    pub name: String,
    /// `rw` (read and write, the default) or `r` (read only).
    #[serde(default)]
    pub access_mode: AccessMode,
    /// Whether every device must report it (the platform's standard properties).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// A description (up to 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub description: Option<String>,
    /// Its data type.
    pub data_type: DataType,
}

/// An event: something the device reports.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The identifier (rules as for properties).
    #[schemars(length(min = 1, max = 50))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message("identifier must be letters, digits and underscores, not starting with a digit"))]
    #[x_kube(validation = Rule::new("!(self in ['set', 'get', 'post', 'property', 'event', 'time', 'value'])").message("identifier must not be one of the platform's reserved words: set, get, post, property, event, time, value"))]
    pub identifier: String,
    /// The display name (rules as for properties).
    #[schemars(length(min = 1, max = 30))]
    #[x_kube(validation = Rule::new("self.matches('^[\\\\p{Han}A-Za-z0-9][-\\\\p{Han}\\\\p{Hiragana}\\\\p{Katakana}A-Za-z0-9_./ ]*$')").message("name must start with a Chinese character, a letter or a digit and hold only Chinese, Japanese, letters, digits, spaces and -_./"))]
    pub name: String,
    /// `info` (the default), `alert` or `error`.
    #[serde(default, rename = "type")]
    pub event_type: EventType,
    /// Whether every device must report it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// A description (up to 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub description: Option<String>,
    /// The values the event carries (at most 20; identifiers unique).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["identifier"]))]
    pub output_data: Vec<Parameter>,
}

/// A service: something the device can be asked to do.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// The identifier (rules as for properties).
    #[schemars(length(min = 1, max = 50))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message("identifier must be letters, digits and underscores, not starting with a digit"))]
    #[x_kube(validation = Rule::new("!(self in ['set', 'get', 'post', 'property', 'event', 'time', 'value'])").message("identifier must not be one of the platform's reserved words: set, get, post, property, event, time, value"))]
    pub identifier: String,
    /// The display name (rules as for properties).
    #[schemars(length(min = 1, max = 30))]
    #[x_kube(validation = Rule::new("self.matches('^[\\\\p{Han}A-Za-z0-9][-\\\\p{Han}\\\\p{Hiragana}\\\\p{Katakana}A-Za-z0-9_./ ]*$')").message("name must start with a Chinese character, a letter or a digit and hold only Chinese, Japanese, letters, digits, spaces and -_./"))]
    pub name: String,
    /// `async` (the default: the device answers later) or `sync` (the caller waits).
    #[serde(default)]
    pub call_type: CallType,
    /// Whether every device must offer it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// A description (up to 100 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub description: Option<String>,
    /// The parameters of a call (at most 20; identifiers unique).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["identifier"]))]
    pub input_data: Vec<Parameter>,
    /// The values the device answers with (at most 20; identifiers unique).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["identifier"]))]
    pub output_data: Vec<Parameter>,
}

/// A parameter of an event or a service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// The identifier (1 to 50 letters, digits and underscores, not starting with a digit).
    #[schemars(length(min = 1, max = 50))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message("identifier must be letters, digits and underscores, not starting with a digit"))]
    pub identifier: String,
    /// The display name (rules as for properties).
    #[schemars(length(min = 1, max = 30))]
    #[x_kube(validation = Rule::new("self.matches('^[\\\\p{Han}A-Za-z0-9][-\\\\p{Han}\\\\p{Hiragana}\\\\p{Katakana}A-Za-z0-9_./ ]*$')").message("name must start with a Chinese character, a letter or a digit and hold only Chinese, Japanese, letters, digits, spaces and -_./"))]
    pub name: String,
    /// Its data type.
    pub data_type: DataType,
}

/// Who may change a property.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
pub enum AccessMode {
    /// Read and write.
    #[default]
    #[serde(rename = "rw")]
    ReadWrite,
    /// Read only.
    #[serde(rename = "r")]
    ReadOnly,
}

/// The kind of an event.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum EventType {
    /// Information.
    #[default]
    Info,
    /// An alert.
    Alert,
    /// A fault.
    Error,
}

/// How a service is called.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CallType {
    /// The device answers later.
    #[default]
    Async,
    /// The caller waits for the answer.
    Sync,
}

/// A data type: the type and the specs that belong to it — `min`, `max`, `step`, `unit`,
/// `unitName` for numbers; `length` for text; `values` (a list of `{value, name}`) for bool and enum; `members` for a
/// struct; `size` and `item` for an array.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type in ['int', 'float', 'double'] || !(has(self.min) || has(self.max) || has(self.step) || has(self.unit) || has(self.unitName))").message("min, max, step, unit and unitName are for int, float and double"))]
#[x_kube(validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("min must not exceed max"))]
#[x_kube(validation = Rule::new("!has(self.step) || (self.step > 0.0 && (!has(self.min) || !has(self.max) || self.step <= self.max - self.min))").message("step must be positive and at most max - min"))]
#[x_kube(validation = Rule::new("self.type != 'int' || ((!has(self.min) || (self.min == double(int(self.min)) && self.min >= -2147483648.0)) && (!has(self.max) || (self.max == double(int(self.max)) && self.max <= 2147483647.0)) && (!has(self.step) || self.step == double(int(self.step))))").message("an int's min, max and step are whole numbers within 32 bits"))]
#[x_kube(validation = Rule::new("self.type == 'text' || !has(self.length)").message("length is for text"))]
#[x_kube(validation = Rule::new("self.type in ['bool', 'enum'] || !has(self.values)").message("values are for bool and enum"))]
#[x_kube(validation = Rule::new("self.type != 'bool' || (has(self.values) && size(self.values) == 2 && self.values[0].value + self.values[1].value == 1 && self.values[0].value * self.values[1].value == 0)").message("a bool names its two values: values: [{value: 0, name: off-name}, {value: 1, name: on-name}]"))]
#[x_kube(validation = Rule::new("self.type != 'enum' || (has(self.values) && size(self.values) > 0)").message("an enum lists its values: values: [{value: 0, name: a-name}, ...]"))]
#[x_kube(validation = Rule::new("(self.type == 'struct') == has(self.members)").message("a struct lists its members (and only a struct has members)"))]
#[x_kube(validation = Rule::new("(self.type == 'array') == (has(self.size) && has(self.item))").message("an array has a size (1 to 512) and an item type (and only an array has them)"))]
pub struct DataType {
    /// `int` (32 bits), `float`, `double`, `text`, `date` (UTC milliseconds as text), `bool`,
    /// `enum`, `struct` or `array`.
    #[serde(rename = "type")]
    pub type_: DataTypeName,
    /// The specs of a scalar.
    #[serde(flatten)]
    pub specs: ScalarSpecs,
    /// The members of a struct (scalars: a struct does not nest; at most 20, identifiers unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["identifier"]))]
    pub members: Option<Vec<StructMember>>,
    /// How many items an array holds (1 to 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 512))]
    pub size: Option<u16>,
    /// What an array holds: `int`, `float`, `double`, `text` or `struct`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ArrayItem>,
}

/// What an array holds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type in ['int', 'float', 'double', 'text', 'struct']").message("an array holds int, float, double, text or struct items"))]
#[x_kube(validation = Rule::new("self.type in ['int', 'float', 'double'] || !(has(self.min) || has(self.max) || has(self.step) || has(self.unit) || has(self.unitName))").message("min, max, step, unit and unitName are for int, float and double"))]
#[x_kube(validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("min must not exceed max"))]
#[x_kube(validation = Rule::new("!has(self.step) || (self.step > 0.0 && (!has(self.min) || !has(self.max) || self.step <= self.max - self.min))").message("step must be positive and at most max - min"))]
#[x_kube(validation = Rule::new("self.type == 'text' || !has(self.length)").message("length is for text"))]
#[x_kube(validation = Rule::new("!has(self.values)").message("an array holds no bool or enum items"))]
#[x_kube(validation = Rule::new("(self.type == 'struct') == has(self.members)").message("a struct lists its members (and only a struct has members)"))]
pub struct ArrayItem {
    /// `int`, `float`, `double`, `text` or `struct`.
    #[serde(rename = "type")]
    pub type_: DataTypeName,
    /// The specs of a scalar item.
    #[serde(flatten)]
    pub specs: ScalarSpecs,
    /// The members of a struct item (at most 20, identifiers unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 20))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["identifier"]))]
    pub members: Option<Vec<StructMember>>,
}

/// A member of a struct.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StructMember {
    /// The identifier (1 to 50 letters, digits and underscores, not starting with a digit).
    #[schemars(length(min = 1, max = 50))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z_][A-Za-z0-9_]*$')").message("identifier must be letters, digits and underscores, not starting with a digit"))]
    pub identifier: String,
    /// The display name (rules as for properties).
    #[schemars(length(min = 1, max = 30))]
    #[x_kube(validation = Rule::new("self.matches('^[\\\\p{Han}A-Za-z0-9][-\\\\p{Han}\\\\p{Hiragana}\\\\p{Katakana}A-Za-z0-9_./ ]*$')").message("name must start with a Chinese character, a letter or a digit and hold only Chinese, Japanese, letters, digits, spaces and -_./"))]
    pub name: String,
    /// Its data type (a scalar).
    pub data_type: ScalarDataType,
}

/// A scalar data type (a struct's member).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(self.type in ['struct', 'array'])").message("a struct's members are int, float, double, text, date, bool or enum: structs and arrays do not nest"))]
#[x_kube(validation = Rule::new("self.type in ['int', 'float', 'double'] || !(has(self.min) || has(self.max) || has(self.step) || has(self.unit) || has(self.unitName))").message("min, max, step, unit and unitName are for int, float and double"))]
#[x_kube(validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("min must not exceed max"))]
#[x_kube(validation = Rule::new("!has(self.step) || (self.step > 0.0 && (!has(self.min) || !has(self.max) || self.step <= self.max - self.min))").message("step must be positive and at most max - min"))]
#[x_kube(validation = Rule::new("self.type == 'text' || !has(self.length)").message("length is for text"))]
#[x_kube(validation = Rule::new("self.type in ['bool', 'enum'] || !has(self.values)").message("values are for bool and enum"))]
#[x_kube(validation = Rule::new("self.type != 'bool' || (has(self.values) && size(self.values) == 2 && self.values[0].value + self.values[1].value == 1 && self.values[0].value * self.values[1].value == 0)").message("a bool names its two values: values: [{value: 0, name: off-name}, {value: 1, name: on-name}]"))]
#[x_kube(validation = Rule::new("self.type != 'enum' || (has(self.values) && size(self.values) > 0)").message("an enum lists its values: values: [{value: 0, name: a-name}, ...]"))]
pub struct ScalarDataType {
    /// `int`, `float`, `double`, `text`, `date`, `bool` or `enum`.
    #[serde(rename = "type")]
    pub type_: DataTypeName,
    /// Its specs.
    #[serde(flatten)]
    pub specs: ScalarSpecs,
}

/// The specs of a scalar type.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ScalarSpecs {
    /// The smallest value (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest value (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The step between values (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    /// The unit's symbol, for example `°C` (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 20))]
    pub unit: Option<String>,
    /// The unit's name, for example `摄氏度` (numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 20))]
    pub unit_name: Option<String>,
    /// The longest text, in bytes (1 to 10240; default 10240).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10240))]
    pub length: Option<u16>,
    /// The values of a bool (0 and 1) or an enum (integers, at most 50, unique), each with its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["value"]))]
    pub values: Option<Vec<NamedValue>>,
}

/// A value of a bool or an enum, and its name.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NamedValue {
    /// The value (a 32-bit integer; 0 or 1 for a bool).
    pub value: i32,
    /// Its name, for example `off` (1 to 20 characters).
    #[schemars(length(min = 1, max = 20))]
    pub name: String,
}

/// The platform's data types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DataTypeName {
    /// A 32-bit integer.
    Int,
    /// A single-precision float.
    Float,
    /// A double-precision float.
    Double,
    /// Text.
    Text,
    /// A UTC time in milliseconds, as text.
    Date,
    /// 0 or 1, each with a name.
    Bool,
    /// Integers, each with a name.
    Enum,
    /// An object of scalar members.
    Struct,
    /// A fixed-size list of one type.
    Array,
}

impl DataTypeName {
    /// The platform's word for it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Int => "int",
            Self::Float => "float",
            Self::Double => "double",
            Self::Text => "text",
            Self::Date => "date",
            Self::Bool => "bool",
            Self::Enum => "enum",
            Self::Struct => "struct",
            Self::Array => "array",
        }
    }
}

/// A number as the platform's TSL writes it: a string, without a fraction when whole.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        Value::String(format!("{}", value as i64))
    } else {
        Value::String(format!("{value}"))
    }
}

/// The TSL `specs` object of a scalar of type `type_`.
fn scalar_specs(type_: DataTypeName, specs: &ScalarSpecs) -> Value {
    let mut out = Map::new();
    match type_ {
        DataTypeName::Int | DataTypeName::Float | DataTypeName::Double => {
            for (key, value) in [("min", specs.min), ("max", specs.max), ("step", specs.step)] {
                if let Some(value) = value {
                    out.insert(key.into(), number(value));
                }
            }
            if let Some(unit) = &specs.unit {
                out.insert("unit".into(), json!(unit));
            }
            if let Some(name) = &specs.unit_name {
                out.insert("unitName".into(), json!(name));
            }
        }
        DataTypeName::Text => {
            out.insert("length".into(), json!(specs.length.unwrap_or(10240).to_string()));
        }
        DataTypeName::Bool | DataTypeName::Enum => {
            for named in specs.values.iter().flatten() {
                out.insert(named.value.to_string(), json!(named.name));
            }
        }
        DataTypeName::Date | DataTypeName::Struct | DataTypeName::Array => {}
    }
    Value::Object(out)
}

fn members(list: &[StructMember]) -> Value {
    Value::Array(
        list.iter()
            .map(|m| {
                json!({"identifier": m.identifier, "name": m.name, "dataType": {
                    "type": m.data_type.type_.as_str(),
                    "specs": scalar_specs(m.data_type.type_, &m.data_type.specs),
                }})
            })
            .collect(),
    )
}

impl DataType {
    /// The TSL `dataType` object.
    #[must_use]
    pub fn to_tsl(&self) -> Value {
        let specs = match self.type_ {
            DataTypeName::Struct => members(self.members.as_deref().unwrap_or_default()),
            DataTypeName::Array => {
                let item = self.item.as_ref();
                let item_specs = match item {
                    Some(i) if i.type_ == DataTypeName::Struct => {
                        members(i.members.as_deref().unwrap_or_default())
                    }
                    Some(i) => scalar_specs(i.type_, &i.specs),
                    None => json!({}),
                };
                json!({
                    "size": self.size.unwrap_or(1).to_string(),
                    "item": {"type": item.map_or("int", |i| i.type_.as_str()), "specs": item_specs},
                })
            }
            other => scalar_specs(other, &self.specs),
        };
        json!({"type": self.type_.as_str(), "specs": specs})
    }
}

fn parameters(list: &[Parameter]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| json!({"identifier": p.identifier, "name": p.name, "dataType": p.data_type.to_tsl()}))
            .collect(),
    )
}

fn with_description(mut feature: Value, description: Option<&String>) -> Value {
    if let Some(text) = description {
        feature["desc"] = json!(text);
    }
    feature
}

impl Property {
    /// The TSL property.
    #[must_use]
    pub fn to_tsl(&self) -> Value {
        let mode = match self.access_mode {
            AccessMode::ReadWrite => "rw",
            AccessMode::ReadOnly => "r",
        };
        let feature = json!({"identifier": self.identifier, "name": self.name, "accessMode": mode,
                             "required": self.required, "dataType": self.data_type.to_tsl()});
        with_description(feature, self.description.as_ref())
    }
}

impl Event {
    /// The TSL event.
    #[must_use]
    pub fn to_tsl(&self) -> Value {
        let kind = match self.event_type {
            EventType::Info => "info",
            EventType::Alert => "alert",
            EventType::Error => "error",
        };
        let feature = json!({"identifier": self.identifier, "name": self.name, "type": kind,
                             "required": self.required, "method": format!("thing.event.{}.post", self.identifier),
                             "outputData": parameters(&self.output_data)});
        with_description(feature, self.description.as_ref())
    }
}

impl Service {
    /// The TSL service.
    #[must_use]
    pub fn to_tsl(&self) -> Value {
        let call = match self.call_type {
            CallType::Async => "async",
            CallType::Sync => "sync",
        };
        let feature = json!({"identifier": self.identifier, "name": self.name, "callType": call,
                             "required": self.required, "method": format!("thing.service.{}", self.identifier),
                             "inputData": parameters(&self.input_data), "outputData": parameters(&self.output_data)});
        with_description(feature, self.description.as_ref())
    }
}

/// The TSL document (JSON text) of a structured model.
#[must_use]
pub fn tsl_document(properties: &[Property], events: &[Event], services: &[Service]) -> String {
    json!({
        "properties": properties.iter().map(Property::to_tsl).collect::<Vec<_>>(),
        "events": events.iter().map(Event::to_tsl).collect::<Vec<_>>(),
        "services": services.iter().map(Service::to_tsl).collect::<Vec<_>>(),
    })
    .to_string()
}

/// A number of the TSL (a string such as `"10"`, or a number) as `f64`.
fn tsl_number(value: &Value) -> Option<f64> {
    match value {
        Value::String(text) => text.trim().parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// The structured form of a TSL data type (`{type, specs}`), as JSON in this module's shape.
fn data_type_from_tsl(data_type: &Value) -> Option<Value> {
    let type_ = data_type.get("type")?.as_str()?;
    let empty = Value::Null;
    let specs = data_type.get("specs").unwrap_or(&empty);
    let mut out = Map::new();
    out.insert("type".into(), json!(type_));
    match type_ {
        "int" | "float" | "double" => {
            for key in ["min", "max", "step"] {
                if let Some(n) = specs.get(key).and_then(tsl_number) {
                    out.insert(key.into(), json!(n));
                }
            }
            for key in ["unit", "unitName"] {
                if let Some(text) = specs.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    out.insert(key.into(), json!(text));
                }
            }
        }
        "text" => {
            if let Some(length) = specs.get("length").and_then(tsl_number) {
                out.insert("length".into(), json!(length as u64));
            }
        }
        "bool" | "enum" => {
            let mut values: Vec<(i64, String)> = specs
                .as_object()?
                .iter()
                .map(|(k, v)| Some((k.parse().ok()?, v.as_str()?.to_string())))
                .collect::<Option<_>>()?;
            values.sort();
            out.insert(
                "values".into(),
                Value::Array(
                    values.into_iter().map(|(value, name)| json!({"value": value, "name": name})).collect(),
                ),
            );
        }
        "date" => {}
        "struct" => {
            out.insert("members".into(), members_from_tsl(specs)?);
        }
        "array" => {
            out.insert("size".into(), json!(specs.get("size").and_then(tsl_number)? as u64));
            out.insert("item".into(), data_type_from_tsl(specs.get("item")?)?);
        }
        _ => return None,
    }
    Some(Value::Object(out))
}

fn members_from_tsl(list: &Value) -> Option<Value> {
    list.as_array()?
        .iter()
        .map(|m| {
            Some(json!({"identifier": m.get("identifier")?, "name": m.get("name")?,
                        "dataType": data_type_from_tsl(m.get("dataType")?)?}))
        })
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

fn parameters_from_tsl(list: Option<&Value>) -> Option<Value> {
    let Some(list) = list else { return Some(json!([])) };
    list.as_array()?
        .iter()
        .map(|p| {
            Some(json!({"identifier": p.get("identifier")?, "name": p.get("name")?,
                        "dataType": data_type_from_tsl(p.get("dataType")?)?}))
        })
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}

/// Copies `required` and `desc` (as `description`) of a TSL feature.
fn common_from_tsl(feature: &Value, out: &mut Value) {
    if feature.get("required").and_then(Value::as_bool) == Some(true) {
        out["required"] = json!(true);
    }
    if let Some(text) = feature.get("desc").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        out["description"] = json!(text);
    }
}

/// The structured form of a thing model given as TSL (the inverse of [`tsl_document`]), when
/// the structured form can say all of it: its TSL must have the same digest as `model`.
/// `None` where it cannot (a data type or field this schema does not have): the JSON `tsl`
/// form is then the faithful one.
#[must_use]
pub fn structured_from_tsl(
    model: &iot_platform::tsl::ThingModel,
) -> Option<(Vec<Property>, Vec<Event>, Vec<Service>)> {
    let normal = model.normal_form();
    let list = |kind: &str| normal.get(kind).and_then(Value::as_array).cloned().unwrap_or_default();
    let properties = list("properties")
        .iter()
        .map(|p| {
            let mut out = json!({"identifier": p.get("identifier")?, "name": p.get("name")?,
                                 "accessMode": p.get("accessMode").and_then(Value::as_str).unwrap_or("rw"),
                                 "dataType": data_type_from_tsl(p.get("dataType")?)?});
            common_from_tsl(p, &mut out);
            serde_json::from_value::<Property>(out).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    let events = list("events")
        .iter()
        .map(|e| {
            let mut out = json!({"identifier": e.get("identifier")?, "name": e.get("name")?,
                                 "type": e.get("type").and_then(Value::as_str).unwrap_or("info"),
                                 "outputData": parameters_from_tsl(e.get("outputData"))?});
            common_from_tsl(e, &mut out);
            serde_json::from_value::<Event>(out).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    let services = list("services")
        .iter()
        .map(|s| {
            let mut out = json!({"identifier": s.get("identifier")?, "name": s.get("name")?,
                                 "callType": s.get("callType").and_then(Value::as_str).unwrap_or("async"),
                                 "inputData": parameters_from_tsl(s.get("inputData"))?,
                                 "outputData": parameters_from_tsl(s.get("outputData"))?});
            common_from_tsl(s, &mut out);
            serde_json::from_value::<Service>(out).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    let rendered =
        iot_platform::tsl::ThingModel::parse(&tsl_document(&properties, &events, &services)).ok()?;
    (rendered.digest() == model.digest()).then_some((properties, events, services))
}

#[cfg(test)]
mod tests {
    use crate::crd::product::ThingModel;
    use iot_platform::tsl::ThingModel as Tsl;

    /// The sample lamp's model, as YAML.
    const YAML: &str = r#"
properties:
- identifier: PowerSwitch
  name: Power switch
  dataType: {type: bool, values: [{value: 0, name: "off"}, {value: 1, name: "on"}]}
- identifier: Brightness
  name: Brightness
  dataType: {type: int, min: 0, max: 100, step: 1, unit: "%"}
- identifier: Label
  name: Label
  accessMode: r
  description: what the lamp shows
  dataType: {type: text, length: 64}
- identifier: Schedule
  name: Schedule
  dataType:
    type: array
    size: 8
    item:
      type: struct
      members:
      - {identifier: At, name: At, dataType: {type: date}}
      - {identifier: Level, name: Level, dataType: {type: double, min: 0, max: 1, step: 0.01}}
events:
- identifier: Overheated
  name: Overheated
  type: alert
  outputData:
  - {identifier: Temperature, name: Temperature, dataType: {type: float, min: -40, max: 150, step: 0.1, unit: "°C"}}
services:
- identifier: Blink
  name: Blink
  callType: sync
  inputData:
  - {identifier: Times, name: Times, dataType: {type: int, min: 1, max: 10, step: 1}}
"#;

    /// The same model as the console exports it.
    const JSON: &str = r#"{
      "schema": "https://iot-tsl.oss-cn-shanghai.aliyuncs.com/schema.json",
      "properties": [
        {"identifier": "PowerSwitch", "name": "Power switch", "accessMode": "rw", "required": false,
         "dataType": {"type": "bool", "specs": {"0": "off", "1": "on"}}},
        {"identifier": "Brightness", "name": "Brightness", "accessMode": "rw", "required": false,
         "dataType": {"type": "int", "specs": {"min": "0", "max": "100", "step": "1", "unit": "%"}}},
        {"identifier": "Label", "name": "Label", "accessMode": "r", "required": false, "desc": "what the lamp shows",
         "dataType": {"type": "text", "specs": {"length": "64"}}},
        {"identifier": "Schedule", "name": "Schedule", "accessMode": "rw", "required": false,
         "dataType": {"type": "array", "specs": {"size": "8", "item": {"type": "struct", "specs": [
           {"identifier": "At", "name": "At", "dataType": {"type": "date", "specs": {}}},
           {"identifier": "Level", "name": "Level", "dataType": {"type": "double", "specs": {"min": "0", "max": "1", "step": "0.01"}}}]}}}}
      ],
      "events": [
        {"identifier": "post", "name": "post", "type": "info", "method": "thing.event.property.post", "outputData": []},
        {"identifier": "Overheated", "name": "Overheated", "type": "alert", "required": false,
         "method": "thing.event.Overheated.post",
         "outputData": [{"identifier": "Temperature", "name": "Temperature",
                         "dataType": {"type": "float", "specs": {"min": "-40", "max": "150", "step": "0.1", "unit": "°C"}}}]}
      ],
      "services": [
        {"identifier": "Blink", "name": "Blink", "callType": "sync", "required": false, "method": "thing.service.Blink",
         "inputData": [{"identifier": "Times", "name": "Times", "dataType": {"type": "int", "specs": {"min": "1", "max": "10", "step": "1"}}}],
         "outputData": []}
      ]
    }"#;

    #[test]
    fn a_structured_model_and_its_console_export_are_the_same_platform_tsl() {
        let structured: ThingModel = serde_norway::from_str(YAML).unwrap();
        let from_yaml = Tsl::parse(&structured.document()).expect("the rendered model is valid TSL");
        let from_json = Tsl::parse(JSON).unwrap();
        assert_eq!(from_yaml.normal_form(), from_json.normal_form());
        assert_eq!(from_yaml.digest(), from_json.digest());
        let exported = ThingModel { tsl: Some(JSON.into()), ..ThingModel::default() };
        assert_eq!(Tsl::parse(&exported.document()).unwrap().digest(), from_yaml.digest());
    }

    #[test]
    fn a_console_export_reads_back_into_the_structured_form_it_came_from() {
        let structured: ThingModel = serde_norway::from_str(YAML).unwrap();
        let exported = Tsl::parse(JSON).unwrap();
        let (properties, events, services) = super::structured_from_tsl(&exported).expect("expressible");
        let read_back = ThingModel { properties, events, services, ..ThingModel::default() };
        assert_eq!(Tsl::parse(&read_back.document()).unwrap().digest(), exported.digest());
        let mut sorted = structured.clone();
        sorted.properties.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        sorted.events.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        sorted.services.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        assert_eq!(read_back.properties, sorted.properties);
        assert_eq!(read_back.events, sorted.events);
        assert_eq!(read_back.services, sorted.services);
    }

    #[test]
    fn a_model_the_structured_form_cannot_say_stays_tsl() {
        // A parameter with a description: the structured form has no place for it.
        let odd = Tsl::parse(
            r#"{"services":[{"identifier":"Reboot","name":"Reboot","callType":"async","inputData":[
                {"identifier":"Delay","name":"Delay","desc":"seconds","dataType":{"type":"int","specs":{"min":"0","max":"60"}}}],
                "outputData":[]}]}"#,
        )
        .unwrap();
        assert_eq!(super::structured_from_tsl(&odd), None);
    }

    #[test]
    fn numbers_are_written_as_the_platform_writes_them() {
        assert_eq!(super::number(100.0), "100");
        assert_eq!(super::number(-40.0), "-40");
        assert_eq!(super::number(0.1), "0.1");
    }
}

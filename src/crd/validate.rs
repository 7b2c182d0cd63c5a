//! Validates a manifest as the API server would before storing it, from the CRD's own schema
//! (the one `crds/` is rendered from, [`super::render::all_crds`]): null pruning, defaults,
//! types, required fields, enums, lengths, patterns, bounds, list sizes and uniqueness,
//! unknown fields (`kubectl`'s default strict field validation), the object's name, and the
//! CEL rules (`x-kubernetes-validations`). Refusals are worded as the API server words them,
//! so `plan` and `kubectl apply` say the same thing about the same manifest.
//!
//! Transition rules (those that read `oldSelf`, such as "immutable") need the stored object
//! and are not evaluated here: on a create the API server skips them too, and `plan --cluster`
//! asks the API server itself (a server-side dry run of each manifest).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool, ValidationRule,
};
use serde_json::Value;

/// One thing the API server would refuse, as it says it: `field: detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The field, as the API server names it (`spec.tags[abc]`, `spec.items[1].name`).
    pub field: String,
    /// What is wrong with it (`Required value`, `Invalid value: "ab": …`).
    pub detail: String,
}

impl Refusal {
    fn at(path: &FieldPath, detail: String) -> Self {
        Self { field: path.shown(), detail }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

/// The refusals of one manifest, joined as the API server joins them in its message.
#[must_use]
pub fn describe(refusals: &[Refusal]) -> String {
    match refusals {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().map(Refusal::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// What the API server adds to a refusal by the schema of an object whose CRD has CEL rules.
const RULES_NOT_CHECKED: &str = "Invalid value: null: some validation rules were not checked because the object \
                                 was invalid; correct the existing errors to complete validation";

/// The operator's CRD schemas, by kind, and the CEL programs compiled from them.
pub struct Validator {
    schemas: HashMap<String, JSONSchemaProps>,
    programs: Mutex<HashMap<String, Arc<Result<cel::Program, String>>>>,
}

impl Default for Validator {
    fn default() -> Self {
        Self::new()
    }
}

impl Validator {
    /// The validator of every kind the operator serves (its storage version's schema).
    #[must_use]
    pub fn new() -> Self {
        let schemas = super::render::all_crds()
            .into_iter()
            .filter_map(|crd| {
                let version = crd.spec.versions.into_iter().find(|v| v.storage)?;
                Some((crd.spec.names.kind, version.schema?.open_api_v3_schema?))
            })
            .collect();
        Self { schemas, programs: Mutex::new(HashMap::new()) }
    }

    /// Checks `object` (a whole manifest of one of the operator's kinds) and applies the
    /// schema's defaults to it, as the API server does before it validates. `Err` lists every
    /// refusal, in the order the fields are met.
    ///
    /// # Errors
    /// The refusals, when the API server would refuse the manifest.
    pub fn validate(&self, object: &mut Value) -> Result<(), Vec<Refusal>> {
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(schema) = self.schemas.get(&kind) else {
            return Err(vec![Refusal {
                field: "kind".into(),
                detail: format!("Unsupported value: {kind:?}"),
            }]);
        };
        let mut walk =
            Walk { validator: self, refusals: Vec::new(), broken_rules: Vec::new(), rules_skipped: false };
        walk.name(object);
        if let Some(map) = object.as_object_mut() {
            // The status is the operator's: the API server ignores it on a create.
            map.remove("status");
        }
        prune_and_default(schema, object);
        walk.node(schema, object, &FieldPath::root());
        // As the API server: after some refusals by the schema the CEL rules are not
        // evaluated, and the refusal says that they were not all checked.
        let mut refusals = walk.refusals;
        if !walk.rules_skipped {
            refusals.extend(walk.broken_rules);
        } else if has_rules(schema) {
            refusals.push(Refusal { field: "<nil>".into(), detail: RULES_NOT_CHECKED.into() });
        }
        if refusals.is_empty() { Ok(()) } else { Err(refusals) }
    }

    fn program(&self, rule: &str) -> Arc<Result<cel::Program, String>> {
        let mut programs = self.programs.lock().expect("CEL program cache lock");
        programs
            .entry(rule.to_string())
            .or_insert_with(|| Arc::new(cel::Program::compile(rule).map_err(|e| e.to_string())))
            .clone()
    }
}

/// A field path as the API server prints it.
#[derive(Clone)]
struct FieldPath(String);

impl FieldPath {
    fn root() -> Self {
        Self(String::new())
    }

    fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { Self(name.to_string()) } else { Self(format!("{}.{name}", self.0)) }
    }

    fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    /// `self` with a rule's `fieldPath` (`.instanceId`, `.tags['a.b']`, `.items[0]`) appended.
    fn relative(&self, field_path: &str) -> Self {
        let mut path = self.clone();
        let mut rest = field_path;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                path = path.child(&after[..end]);
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').unwrap_or(after.len());
                let inner = after[..end].trim_matches(|c| c == '\'' || c == '"');
                path = match inner.parse::<usize>() {
                    Ok(index) => path.index(index),
                    Err(_) => path.key(inner),
                };
                rest = after.get(end + 1..).unwrap_or_default();
            } else {
                break;
            }
        }
        path
    }

    fn shown(&self) -> String {
        if self.0.is_empty() { "<root>".to_string() } else { self.0.clone() }
    }
}

struct Walk<'a> {
    validator: &'a Validator,
    /// What the schema refuses (types, enums, bounds, …).
    refusals: Vec<Refusal>,
    /// What the CEL rules refuse.
    broken_rules: Vec<Refusal>,
    /// Whether a refusal stops the CEL rules from being evaluated.
    rules_skipped: bool,
}

/// The JSON type of a value, as the API server names it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A number bound as the API server prints it (whole numbers without a fraction).
fn bound(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        #[allow(clippy::cast_possible_truncation, reason = "a whole number well within i64")]
        let whole = n as i64;
        whole.to_string()
    } else {
        n.to_string()
    }
}

const DNS1123_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

impl Walk<'_> {
    fn refuse(&mut self, path: &FieldPath, detail: String) {
        self.refusals.push(Refusal { field: path.shown(), detail });
    }

    /// A refusal after which the API server does not evaluate the CEL rules (a wrong type, a
    /// value outside its enum, a length, item count or required field the rules' cost
    /// estimates rely on), and says so.
    fn refuse_blocking(&mut self, path: &FieldPath, detail: String) {
        self.rules_skipped = true;
        self.refuse(path, detail);
    }

    /// `metadata.name`: a DNS subdomain, as for every custom resource.
    fn name(&mut self, object: &Value) {
        let path = FieldPath::root().child("metadata").child("name");
        match object.pointer("/metadata/name").and_then(Value::as_str) {
            None | Some("") => self.refuse(&path, "Required value: name or generateName is required".into()),
            Some(name) => {
                let valid = name.len() <= 253
                    && regex::Regex::new(DNS1123_SUBDOMAIN).is_ok_and(|re| re.is_match(name));
                if !valid {
                    self.refuse(
                        &path,
                        format!(
                            "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case \
                             alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
                             character (e.g. 'example.com', regex used for validation is \
                             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                        ),
                    );
                }
            }
        }
    }

    /// Checks `value` against `schema` at `path`; true when nothing in it was refused.
    fn node(&mut self, schema: &JSONSchemaProps, value: &mut Value, path: &FieldPath) -> bool {
        let before = self.refusals.len();
        if value.is_null() && schema.nullable == Some(true) {
            return true;
        }
        let typed = self.has_type(schema, value, path);
        if let Some(allowed) = &schema.enum_
            && !allowed.iter().any(|a| a.0 == *value)
        {
            let listed = allowed.iter().map(|a| a.0.to_string()).collect::<Vec<_>>().join(", ");
            self.refuse_blocking(path, format!("Unsupported value: {}: supported values: {listed}", value));
        }
        if !typed {
            return false;
        }
        match value {
            Value::String(text) => {
                let text = text.clone();
                self.string(schema, &text, path);
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or_default();
                self.number(schema, value, n, path);
            }
            Value::Array(items) => self.array(schema, items, path),
            Value::Object(map) => self.object(schema, map, path),
            _ => {}
        }
        let clean = self.refusals.len() == before;
        if clean && let Some(rules) = &schema.x_kubernetes_validations {
            self.rules(schema, rules, value, path);
        }
        self.refusals.len() == before
    }

    fn has_type(&mut self, schema: &JSONSchemaProps, value: &Value, path: &FieldPath) -> bool {
        let actual = type_name(value);
        if schema.x_kubernetes_int_or_string == Some(true) {
            if matches!(actual, "integer" | "string") {
                return true;
            }
            self.refuse_blocking(
                path,
                format!(
                    "Invalid value: {:?}: {} in body must be of type integer,string: {actual:?}",
                    actual,
                    path.shown()
                ),
            );
            return false;
        }
        let Some(expected) = schema.type_.as_deref() else { return true };
        let fits = actual == expected || (expected == "number" && actual == "integer");
        if !fits {
            self.refuse_blocking(
                path,
                format!(
                    "Invalid value: {actual:?}: {} in body must be of type {expected}: {actual:?}",
                    path.shown()
                ),
            );
        }
        fits
    }

    fn string(&mut self, schema: &JSONSchemaProps, text: &str, path: &FieldPath) {
        let length = i64::try_from(text.chars().count()).unwrap_or(i64::MAX);
        if let Some(max) = schema.max_length
            && length > max
        {
            self.refuse_blocking(path, format!("Too long: may not be more than {max} bytes"));
        }
        if let Some(min) = schema.min_length
            && length < min
        {
            self.refuse(
                path,
                format!(
                    "Invalid value: {text:?}: {} in body should be at least {min} chars long",
                    path.shown()
                ),
            );
        }
        if let Some(pattern) = &schema.pattern
            && !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
        {
            self.refuse(
                path,
                format!("Invalid value: {text:?}: {} in body should match '{pattern}'", path.shown()),
            );
        }
    }

    fn number(&mut self, schema: &JSONSchemaProps, value: &Value, n: f64, path: &FieldPath) {
        if let Some(max) = schema.maximum {
            let exclusive = schema.exclusive_maximum == Some(true);
            if n > max || (exclusive && n >= max) {
                let relation = if exclusive { "less than" } else { "less than or equal to" };
                self.refuse(
                    path,
                    format!(
                        "Invalid value: {value}: {} in body should be {relation} {}",
                        path.shown(),
                        bound(max)
                    ),
                );
            }
        }
        if let Some(min) = schema.minimum {
            let exclusive = schema.exclusive_minimum == Some(true);
            if n < min || (exclusive && n <= min) {
                let relation = if exclusive { "greater than" } else { "greater than or equal to" };
                self.refuse(
                    path,
                    format!(
                        "Invalid value: {value}: {} in body should be {relation} {}",
                        path.shown(),
                        bound(min)
                    ),
                );
            }
        }
    }

    fn array(&mut self, schema: &JSONSchemaProps, items: &mut [Value], path: &FieldPath) {
        let count = i64::try_from(items.len()).unwrap_or(i64::MAX);
        if let Some(max) = schema.max_items
            && count > max
        {
            self.refuse_blocking(path, format!("Too many: {count}: must have at most {max} items"));
        }
        if let Some(min) = schema.min_items
            && count < min
        {
            self.refuse(
                path,
                format!("Invalid value: {count}: {} in body should have at least {min} items", path.shown()),
            );
        }
        if let Some(JSONSchemaPropsOrArray::Schema(item_schema)) = &schema.items {
            for (index, item) in items.iter_mut().enumerate() {
                prune_and_default(item_schema, item);
                self.node(item_schema, item, &path.index(index));
            }
        }
        match schema.x_kubernetes_list_type.as_deref() {
            Some("set") => self.unique(items, path, |item| Some(item.clone()), |item| item.to_string()),
            Some("map") => {
                let keys = schema.x_kubernetes_list_map_keys.clone().unwrap_or_default();
                self.unique(
                    items,
                    path,
                    |item| {
                        Some(Value::Array(
                            keys.iter().map(|k| item.get(k).cloned().unwrap_or(Value::Null)).collect(),
                        ))
                    },
                    |item| {
                        let pairs = keys
                            .iter()
                            .filter_map(|k| item.get(k).map(|v| format!("{}:{v}", Value::String(k.clone()))))
                            .collect::<Vec<_>>()
                            .join(",");
                        format!("{{{pairs}}}")
                    },
                );
            }
            _ => {}
        }
    }

    /// Refuses the second and later items of `items` with the same key.
    fn unique(
        &mut self,
        items: &[Value],
        path: &FieldPath,
        key: impl Fn(&Value) -> Option<Value>,
        show: impl Fn(&Value) -> String,
    ) {
        let mut seen = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let Some(key) = key(item) else { continue };
            if seen.contains(&key) {
                self.refuse(&path.index(index), format!("Duplicate value: {}", show(item)));
            } else {
                seen.push(key);
            }
        }
    }

    fn object(
        &mut self,
        schema: &JSONSchemaProps,
        map: &mut serde_json::Map<String, Value>,
        path: &FieldPath,
    ) {
        let empty = BTreeMap::new();
        let properties = schema.properties.as_ref().unwrap_or(&empty);
        let additional = match &schema.additional_properties {
            Some(JSONSchemaPropsOrBool::Schema(s)) => Some(s.as_ref()),
            _ => None,
        };
        let preserve = schema.x_kubernetes_preserve_unknown_fields == Some(true)
            || matches!(schema.additional_properties, Some(JSONSchemaPropsOrBool::Bool(true)));
        let count = i64::try_from(map.len()).unwrap_or(i64::MAX);
        if let Some(max) = schema.max_properties
            && count > max
        {
            self.refuse_blocking(path, format!("Too many: {count}: must have at most {max} items"));
        }
        if let Some(min) = schema.min_properties
            && count < min
        {
            self.refuse(
                path,
                format!(
                    "Invalid value: {count}: {} in body should have at least {min} properties",
                    path.shown()
                ),
            );
        }
        for required in schema.required.iter().flatten() {
            if !map.contains_key(required) {
                self.refuse_blocking(&path.child(required), "Required value".into());
            }
        }
        for (name, value) in map.iter_mut() {
            if let Some(property) = properties.get(name) {
                self.node(property, value, &path.child(name));
            } else if let Some(additional) = additional {
                prune_and_default(additional, value);
                self.node(additional, value, &path.key(name));
            } else {
                // Every object has these; the schema does not list them.
                let common = path.0.is_empty() && matches!(name.as_str(), "apiVersion" | "kind" | "metadata");
                if !(preserve || common) {
                    self.refuse(&path.child(name), "field not declared in schema".into());
                }
            }
        }
    }

    fn rules(&mut self, schema: &JSONSchemaProps, rules: &[ValidationRule], value: &Value, path: &FieldPath) {
        let this = to_cel(schema, value);
        for rule in rules {
            // A transition rule compares with the stored object: there is none on a create.
            if rule.rule.contains("oldSelf") {
                continue;
            }
            let program = self.validator.program(&rule.rule);
            let outcome = match program.as_ref() {
                Ok(program) => {
                    let mut context = cel::Context::default();
                    context.add_variable_from_value("self", this.clone());
                    let _ = context.add_function("findAll", find_all);
                    program.execute(&context).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.clone()),
            };
            let field = match &rule.field_path {
                Some(field_path) => path.relative(field_path),
                None => path.clone(),
            };
            match outcome {
                Ok(cel::Value::Bool(true)) => {}
                Ok(cel::Value::Bool(false)) => {
                    let message = rule
                        .message
                        .clone()
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| format!("failed rule: {}", rule.rule));
                    let detail = match rule.reason.as_deref() {
                        Some("FieldValueRequired") => format!("Required value: {message}"),
                        Some("FieldValueForbidden") => format!("Forbidden: {message}"),
                        Some("FieldValueDuplicate") => format!("Duplicate value: {message}"),
                        // A scalar is shown as the API server shows it; an object or list is not.
                        _ => match value {
                            Value::Object(_) | Value::Array(_) | Value::Null => {
                                format!("Invalid value: {message}")
                            }
                            scalar => format!("Invalid value: {scalar}: {message}"),
                        },
                    };
                    self.broken_rules.push(Refusal::at(&field, detail));
                }
                Ok(other) => self.broken_rules.push(Refusal::at(
                    &field,
                    format!("Invalid value: rule did not evaluate to a bool: {other:?}"),
                )),
                Err(e) => self
                    .broken_rules
                    .push(Refusal::at(&field, format!("Invalid value: rule evaluation error: {e}"))),
            }
        }
    }
}

/// Whether `schema` holds CEL rules anywhere.
fn has_rules(schema: &JSONSchemaProps) -> bool {
    schema.x_kubernetes_validations.as_ref().is_some_and(|r| !r.is_empty())
        || schema.properties.iter().flat_map(BTreeMap::values).any(has_rules)
        || matches!(&schema.items, Some(JSONSchemaPropsOrArray::Schema(s)) if has_rules(s))
        || matches!(&schema.additional_properties, Some(JSONSchemaPropsOrBool::Schema(s)) if has_rules(s))
}

/// Drops the nulls the schema does not allow and fills in its defaults, as the API server
/// does before it validates (`value` is an object of `schema`; anything else is left).
fn prune_and_default(schema: &JSONSchemaProps, value: &mut Value) {
    let Value::Object(map) = value else { return };
    let Some(properties) = &schema.properties else { return };
    map.retain(|name, v| !(v.is_null() && properties.get(name).is_some_and(|p| p.nullable != Some(true))));
    for (name, property) in properties {
        if !map.contains_key(name)
            && let Some(default) = &property.default
        {
            map.insert(name.clone(), default.0.clone());
        }
        if let Some(child) = map.get_mut(name) {
            prune_and_default(property, child);
        }
    }
}

/// `value` as CEL sees it, its numbers typed by the schema (a `number` is a double even when
/// written as `1`).
fn to_cel(schema: &JSONSchemaProps, value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (schema.type_.as_deref(), n.as_i64()) {
            (Some("integer") | None, Some(i)) => cel::Value::Int(i),
            _ => cel::Value::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => {
            let empty = JSONSchemaProps::default();
            let item_schema = match &schema.items {
                Some(JSONSchemaPropsOrArray::Schema(s)) => s.as_ref(),
                _ => &empty,
            };
            cel::Value::List(Arc::new(items.iter().map(|item| to_cel(item_schema, item)).collect()))
        }
        Value::Object(map) => {
            let empty = JSONSchemaProps::default();
            let entries: HashMap<cel::objects::Key, cel::Value> = map
                .iter()
                .map(|(name, v)| {
                    let property = schema
                        .properties
                        .as_ref()
                        .and_then(|p| p.get(name))
                        .or(match &schema.additional_properties {
                            Some(JSONSchemaPropsOrBool::Schema(s)) => Some(s.as_ref()),
                            _ => None,
                        })
                        .unwrap_or(&empty);
                    (cel::objects::Key::String(Arc::new(name.clone())), to_cel(property, v))
                })
                .collect();
            cel::Value::Map(cel::objects::Map { map: Arc::new(entries) })
        }
    }
}

/// Kubernetes' CEL regex library: `s.findAll(re)`, every non-overlapping match of `re` in `s`.
fn find_all(
    cel::extractors::This(text): cel::extractors::This<Arc<String>>,
    pattern: Arc<String>,
) -> cel::ResolveResult {
    let re = regex::Regex::new(&pattern)
        .map_err(|e| cel::ExecutionError::function_error("findAll", format!("invalid regex: {e}")))?;
    let found = re.find_iter(&text).map(|m| cel::Value::String(Arc::new(m.as_str().to_string()))).collect();
    Ok(cel::Value::List(Arc::new(found)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn product(spec: Value) -> Value {
        json!({
            "apiVersion": "iot.productoperator.dev/v1alpha1",
            "kind": "IotProduct",
            "metadata": {"name": "lamp", "namespace": "a"},
            "spec": spec,
        })
    }

    /// The refusals of `object`, without the note that the CEL rules were not all checked.
    fn refusals(mut object: Value) -> Vec<String> {
        let refused = Validator::new().validate(&mut object).err().unwrap_or_default();
        refused.iter().filter(|r| r.detail != RULES_NOT_CHECKED).map(ToString::to_string).collect()
    }

    #[test]
    fn a_refusal_that_stops_the_rules_says_they_were_not_all_checked() {
        // The name is also too short for its CEL rule, which is not evaluated.
        let mut object = product(json!({"productName": "ab", "nodeType": "Router"}));
        let said = Validator::new().validate(&mut object).unwrap_err();
        assert_eq!(said.len(), 2, "{said:?}");
        assert_eq!(said[1].to_string(), format!("<nil>: {RULES_NOT_CHECKED}"));
    }

    #[test]
    fn a_valid_product_passes_and_gets_its_defaults() {
        let mut object = product(json!({"productName": "Lamp", "nodeType": "Device"}));
        Validator::new().validate(&mut object).expect("valid");
        assert!(object.pointer("/spec/deletionPolicy").is_some(), "defaulted: {object}");
    }

    #[test]
    fn schema_refusals_are_worded_as_the_api_server_words_them() {
        assert_eq!(
            refusals(product(json!({"productName": "Lamp", "nodeType": "Router"}))),
            ["spec.nodeType: Unsupported value: \"Router\": supported values: \"Device\", \"Gateway\""]
        );
        assert_eq!(
            refusals(product(json!({"productName": "Lamp", "nodeType": "Device", "color": "red"}))),
            ["spec.color: field not declared in schema"]
        );
        assert_eq!(
            refusals(product(json!({"productName": 7, "nodeType": "Device"}))),
            [
                "spec.productName: Invalid value: \"integer\": spec.productName in body must be of type string: \"integer\""
            ]
        );
    }

    #[test]
    fn cel_rules_are_evaluated_with_their_messages() {
        let said = refusals(product(json!({"productName": "ab", "nodeType": "Device"})));
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with(
                "spec.productName: Invalid value: \"ab\": spec.productName must be 4 to 30 characters"
            ),
            "{said:?}"
        );
    }

    #[test]
    fn a_name_that_is_not_a_dns_subdomain_is_refused() {
        let mut object = product(json!({"productName": "Lamp", "nodeType": "Device"}));
        object["metadata"]["name"] = json!("My_Lamp");
        let said = refusals(object);
        assert!(
            said[0].starts_with("metadata.name: Invalid value: \"My_Lamp\": a lowercase RFC 1123 subdomain"),
            "{said:?}"
        );
    }

    #[test]
    fn a_rule_field_path_is_appended_to_the_field() {
        let path = FieldPath::root().child("spec");
        assert_eq!(path.relative(".instanceId").shown(), "spec.instanceId");
        assert_eq!(path.relative(".tags['a.b']").shown(), "spec.tags[a.b]");
        assert_eq!(path.relative(".items[2].name").shown(), "spec.items[2].name");
    }
}

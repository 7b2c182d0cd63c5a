//! A product's data-parsing script: `CreateThingScript`, `UpdateThingScript`,
//! `GetThingScript` (wire names from the official SDK's models). Only products whose data
//! format is custom (`DataFormat` 0) take a script; Alink JSON products refuse it.

use serde::{Deserialize, Serialize};

use super::{EmptyResponse, Operation};
use crate::wire::{ParamError, Params, WireField};

/// `ScriptType`: JavaScript (ECMAScript 5).
pub const SCRIPT_JAVASCRIPT: &str = "JavaScript";
/// `ScriptType`: Python 2.7.
pub const SCRIPT_PYTHON_27: &str = "Python_27";
/// `ScriptType`: PHP 7.2.
pub const SCRIPT_PHP_72: &str = "PHP_72";
/// Every `ScriptType` the platform accepts.
pub const SCRIPT_TYPES: &[&str] = &[SCRIPT_JAVASCRIPT, SCRIPT_PYTHON_27, SCRIPT_PHP_72];

operation! {
    /// Submits a product's data-parsing script (10 QPS per account). Not idempotent: a
    /// repeated call after a lost answer finds a script already there.
    CreateThingScript => EmptyResponse, action = "CreateThingScript", idempotent = false {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product (custom data format).
        product_key: String = "ProductKey",
        /// [`SCRIPT_JAVASCRIPT`], [`SCRIPT_PYTHON_27`] or [`SCRIPT_PHP_72`].
        script_type: String = "ScriptType",
        /// The script (at most 128 KB).
        script_content: String = "ScriptContent",
    }
}

operation! {
    /// Replaces a product's data-parsing script (10 QPS per account).
    UpdateThingScript => EmptyResponse, action = "UpdateThingScript", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product (custom data format).
        product_key: String = "ProductKey",
        /// [`SCRIPT_JAVASCRIPT`], [`SCRIPT_PYTHON_27`] or [`SCRIPT_PHP_72`].
        script_type: String = "ScriptType",
        /// The script (at most 128 KB).
        script_content: String = "ScriptContent",
    }
}

operation! {
    /// Reads a product's data-parsing script: its language and a URL to download it from
    /// (10 QPS per account).
    GetThingScript => GetThingScriptResponse, action = "GetThingScript", idempotent = true {
        /// Instance id.
        iot_instance_id: Option<String> = "IotInstanceId",
        /// The product.
        product_key: String = "ProductKey",
    }
}

/// GetThingScript's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetThingScriptResponse {
    /// The script; absent when the product has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<ThingScript>,
}

/// A data-parsing script as GetThingScript describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThingScript {
    /// `JavaScript`, `Python_27` or `PHP_72`.
    #[serde(default)]
    pub script_type: String,
    /// Where to download the script's content (a short-lived, presigned URL that needs no
    /// credentials).
    #[serde(default)]
    pub script_url: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_operations_round_trip_and_require_their_content() {
        let create = CreateThingScript {
            iot_instance_id: None,
            product_key: "a1".into(),
            script_type: SCRIPT_PYTHON_27.into(),
            script_content: "def transform_payload(data):\n    return data\n".into(),
        };
        assert_eq!(CreateThingScript::from_params(&Params::from_pairs(create.to_params())).unwrap(), create);
        let mut params = create.to_params();
        params.retain(|(name, _)| name != "ScriptContent");
        assert_eq!(
            UpdateThingScript::from_params(&Params::from_pairs(params)).unwrap_err(),
            ParamError::Missing("ScriptContent".into())
        );
    }

    #[test]
    fn get_thing_script_reads_the_sdks_keys() {
        let body = r#"{"Data":{"ScriptType":"JavaScript","ScriptUrl":"https://example.com/s?Expires=1"}}"#;
        let script = serde_json::from_str::<GetThingScriptResponse>(body).unwrap().data.unwrap();
        assert_eq!(script.script_type, SCRIPT_JAVASCRIPT);
        assert!(script.script_url.starts_with("https://"));
        assert_eq!(serde_json::from_str::<GetThingScriptResponse>("{}").unwrap().data, None);
    }
}

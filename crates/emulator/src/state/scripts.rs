//! Data-parsing scripts: a product whose data format is custom (`DataFormat` 0) has at most
//! one script (language and content). Rules: `ScriptType` `JavaScript`/`Python_27`/`PHP_72`;
//! content at most 128 KB (the limits page); refused for Alink JSON and Basic products;
//! CreateThingScript when a script exists and UpdateThingScript when none does are refused
//! (made-up codes: the pages do not say). GetThingScript answers a download URL on the
//! emulator's own listener, `/_emulator/scripts/{token}`: an unguessable token per call,
//! valid for five minutes like a presigned object URL, needing no credentials; it serves the
//! content as it was when the URL was made.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};

use iot_platform::error::emulator_codes;
use iot_platform::model::{self as m, Operation};
use iot_platform::quota;
use iot_platform::wire::Params;

use super::parts::{check_unlocked, invalid};
use super::{ApiError, CallContext, State, body};

/// Where GetThingScript's URLs point, below the listener's address.
pub const SCRIPT_PATH: &str = "/_emulator/scripts/";

/// How long a GetThingScript URL stays valid, milliseconds.
pub const SCRIPT_URL_TTL_MS: i64 = 5 * 60 * 1000;

/// A data-parsing script as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Script {
    /// `JavaScript`, `Python_27` or `PHP_72`.
    pub script_type: String,
    /// The script.
    pub script_content: String,
    /// Last submitted, epoch ms.
    pub gmt_modified: i64,
}

/// A download URL GetThingScript handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScriptLink {
    /// Whose product (account, instance, key).
    product: (String, String, String),
    /// The content when the URL was made.
    content: String,
    /// Valid until, epoch ms.
    expires_ms: i64,
}

/// Why a script URL serves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptLinkError {
    /// No such URL (never issued, or its product was deleted).
    Unknown,
    /// The URL's five minutes are over.
    Expired,
}

/// The download URLs handed out, by token.
pub(super) type ScriptLinks = HashMap<String, ScriptLink>;

fn check_script(script_type: &str, content: &str) -> Result<(), ApiError> {
    if !m::SCRIPT_TYPES.contains(&script_type) {
        return Err(invalid("ScriptType must be JavaScript, Python_27 or PHP_72."));
    }
    if content.len() > quota::MAX_SCRIPT_BYTES {
        return Err(invalid(format!(
            "ScriptContent is {} bytes long; a data-parsing script may be at most 128 KB.",
            content.len()
        )));
    }
    Ok(())
}

impl State {
    pub(super) fn answer_scripts(
        &mut self,
        ctx: &CallContext,
        action: &str,
        params: &Params,
    ) -> Option<Result<Value, ApiError>> {
        Some(match action {
            m::CreateThingScript::ACTION => {
                m::CreateThingScript::from_params(params).map_err(ApiError::from).and_then(|op| {
                    let script = (op.script_type, op.script_content);
                    self.put_script(ctx, op.iot_instance_id.as_deref(), &op.product_key, script, false)
                })
            }
            m::UpdateThingScript::ACTION => {
                m::UpdateThingScript::from_params(params).map_err(ApiError::from).and_then(|op| {
                    let script = (op.script_type, op.script_content);
                    self.put_script(ctx, op.iot_instance_id.as_deref(), &op.product_key, script, true)
                })
            }
            m::GetThingScript::ACTION => m::GetThingScript::from_params(params)
                .map_err(ApiError::from)
                .and_then(|op| self.get_script(ctx, op)),
            _ => return None,
        })
    }

    /// CreateThingScript (`update` false) and UpdateThingScript (`update` true).
    fn put_script(
        &mut self,
        ctx: &CallContext,
        instance: Option<&str>,
        product_key: &str,
        (script_type, script_content): (String, String),
        update: bool,
    ) -> Result<Value, ApiError> {
        check_script(&script_type, &script_content)?;
        let key = self.owned_product(ctx, instance, product_key)?;
        let lock = self.rules.lock_published_parts.locks_script();
        let product = self.products.get_mut(&key).expect("just found");
        if product.data_format != Some(0) {
            return Err(ApiError::business(
                emulator_codes::SCRIPT_NEEDS_CUSTOM_FORMAT,
                "Data-parsing scripts are supported only for products whose data format is custom (DataFormat 0), \
                 not for Alink JSON.",
            ));
        }
        check_unlocked(product, lock, "data-parsing script")?;
        match (&product.script, update) {
            (Some(_), false) => {
                return Err(ApiError::business(
                    emulator_codes::SCRIPT_EXISTS,
                    "The product already has a data-parsing script: change it with UpdateThingScript.",
                ));
            }
            (None, true) => {
                return Err(ApiError::business(
                    emulator_codes::SCRIPT_NOT_FOUND,
                    "The product has no data-parsing script: submit one with CreateThingScript.",
                ));
            }
            _ => {}
        }
        product.script = Some(Script { script_type, script_content, gmt_modified: ctx.now_ms });
        Ok(json!({}))
    }

    fn get_script(&mut self, ctx: &CallContext, op: m::GetThingScript) -> Result<Value, ApiError> {
        let key = self.owned_product(ctx, op.iot_instance_id.as_deref(), &op.product_key)?;
        let Some(script) = self.products[&key].script.clone() else {
            // No script: an answer without Data (not documented).
            return Ok(json!({}));
        };
        let now = ctx.now_ms;
        self.script_links.retain(|_, link| link.expires_ms > now);
        // Random from the operating system (not the seeded generator): a URL is a credential.
        let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        self.script_links.insert(
            token.clone(),
            ScriptLink {
                product: (ctx.uid.clone(), key.0, key.1),
                content: script.script_content,
                expires_ms: now + SCRIPT_URL_TTL_MS,
            },
        );
        Ok(body(&m::GetThingScriptResponse {
            data: Some(m::ThingScript {
                script_type: script.script_type,
                script_url: format!("{SCRIPT_PATH}{token}"),
            }),
        }))
    }

    /// The content a GetThingScript URL (its token) serves at `now_ms`.
    ///
    /// # Errors
    /// [`ScriptLinkError`] for a token never issued (or whose product is gone) or expired.
    pub fn script_download(&mut self, token: &str, now_ms: i64) -> Result<String, ScriptLinkError> {
        match self.script_links.get(token) {
            None => Err(ScriptLinkError::Unknown),
            Some(link) if link.expires_ms <= now_ms => {
                self.script_links.remove(token);
                Err(ScriptLinkError::Expired)
            }
            Some(link) => Ok(link.content.clone()),
        }
    }

    /// Forgets the download URLs of a deleted product.
    pub(super) fn forget_script_links(&mut self, uid: &str, instance: &str, product_key: &str) {
        self.script_links.retain(|_, link| {
            (link.product.0.as_str(), link.product.1.as_str(), link.product.2.as_str())
                != (uid, instance, product_key)
        });
    }
}

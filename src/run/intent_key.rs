//! The key that signs create intents ([`crate::product::intent`]), kept in a Secret in the
//! operator's credentials namespace (where tenants have no access) so every replica and
//! every restart verifies what another signed. Made once, on the first start.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::info;

use crate::product::intent::IntentKey;

/// The Secret's name.
pub const SECRET_NAME: &str = "iot-product-operator-intent-key";

/// The Secret's data key.
const DATA_KEY: &str = "key";

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum IntentKeyError {
    /// Reading or creating the Secret failed.
    #[error("cannot read or create the Secret {namespace}/{SECRET_NAME}")]
    Kubernetes {
        /// The namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The Secret holds no 32-byte key.
    #[error(
        "the Secret {namespace}/{SECRET_NAME} holds no 32-byte `key`; delete it to have a new one made \
         (create intents signed with the old key are then ignored)"
    )]
    Malformed {
        /// The namespace.
        namespace: String,
    },
}

/// The key in `namespace`, made (and stored) when there is none yet.
///
/// # Errors
/// [`IntentKeyError`] when the Secret cannot be read or made, or holds no key.
pub async fn load_or_create(client: &Client, namespace: &str) -> Result<IntentKey, IntentKeyError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let failed = |source| IntentKeyError::Kubernetes { namespace: namespace.to_string(), source };
    if let Some(secret) = secrets.get_opt(SECRET_NAME).await.map_err(failed)? {
        return key_of(&secret, namespace);
    }
    let key = IntentKey::random();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_NAME.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                "iot-product-operator".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(DATA_KEY.to_string(), ByteString(key.bytes().to_vec()))])),
        immutable: Some(true),
        ..Secret::default()
    };
    match secrets.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            info!(namespace, secret = SECRET_NAME, "made the key that signs create intents");
            Ok(key)
        }
        // Another replica made it first: use theirs.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            key_of(&secrets.get(SECRET_NAME).await.map_err(failed)?, namespace)
        }
        Err(e) => Err(failed(e)),
    }
}

fn key_of(secret: &Secret, namespace: &str) -> Result<IntentKey, IntentKeyError> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(DATA_KEY))
        .and_then(|b| IntentKey::from_bytes(&b.0))
        .ok_or_else(|| IntentKeyError::Malformed { namespace: namespace.to_string() })
}

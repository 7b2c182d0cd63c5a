//! The create journal: the signed intent to create a product is written (guarded by the
//! resourceVersion, in the patch that also adds the finalizer) before CreateProduct is
//! called, so a crash before the key reaches the status never makes a duplicate or loses
//! the product: the next reconcile finds the product by the intent's name and time (see
//! [`super::intent`]). The key is written with the rest of the status at the end of the
//! reconcile (a write of its own would tell nobody anything the intent does not).

use std::sync::Mutex;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tracing::info;

use crate::crd::IotProduct;
use crate::crd::product::PendingCreate;
use crate::reconcile::context::Context;
use crate::reconcile::finalizer;
use crate::reconcile::status::{self, FIELD_MANAGER};

use super::claim;
use super::execute::CreateJournal;
use super::intent;
use super::outcome::{JournalFacts, JournalState};
use super::status::{api, apply_body};

/// Records a create on the resource before it is made (see [`CreateJournal`]), and holds
/// the finalizer before the first platform write.
pub struct StatusJournal<'a> {
    ctx: &'a Context,
    product: &'a IotProduct,
    instance_id: String,
    /// The create in flight when the reconcile began (status, or an unsettled intent).
    pending_before: Option<PendingCreate>,
    state: Mutex<JournalState>,
    recorded_key: Mutex<Option<String>>,
    /// The id of the newest intent on the resource: the one written now, else the one
    /// found unsettled.
    intent_id: Mutex<Option<String>>,
    /// Whether the finalizer is on the stored resource.
    holds_finalizer: Mutex<bool>,
}

impl<'a> StatusJournal<'a> {
    /// A journal for `product`.
    #[must_use]
    pub fn new(ctx: &'a Context, product: &'a IotProduct, instance_id: String) -> Self {
        let unsettled = intent::unsettled(product, &ctx.intent_key);
        let intent_id = unsettled.as_ref().map(|i| i.id.clone());
        Self {
            ctx,
            product,
            instance_id,
            pending_before: intent::pending_given(product, unsettled),
            state: Mutex::new(JournalState::Untouched),
            recorded_key: Mutex::new(None),
            intent_id: Mutex::new(intent_id),
            holds_finalizer: Mutex::new(product.finalizers().iter().any(|f| f == super::FINALIZER)),
        }
    }

    /// The create in flight when the reconcile began.
    #[must_use]
    pub fn pending_before(&self) -> Option<&PendingCreate> {
        self.pending_before.as_ref()
    }

    /// The intent the status written at the end of this reconcile accounts for.
    #[must_use]
    pub fn settles_intent(&self) -> Option<String> {
        self.intent_id.lock().expect("journal lock").clone()
    }

    /// The finalizers the resource holds once this journal's finalizer is added.
    fn finalizers_with_ours(&self) -> Vec<String> {
        let mut finalizers = self.product.finalizers().to_vec();
        if !finalizers.iter().any(|f| f == super::FINALIZER) {
            finalizers.push(super::FINALIZER.to_string());
        }
        finalizers
    }

    /// What the journal came to, as plain data for [`super::outcome`].
    #[must_use]
    pub fn facts(&self) -> JournalFacts {
        JournalFacts {
            state: self.state(),
            pending_before: self.pending_before.clone(),
            settles_intent: self.settles_intent(),
        }
    }

    /// The pending create after this reconcile's attempts (none once a key was recorded).
    #[must_use]
    pub fn state(&self) -> JournalState {
        if self.recorded_key.lock().expect("journal lock").is_some() {
            return JournalState::Cleared;
        }
        self.state.lock().expect("journal lock").clone()
    }
}

#[async_trait::async_trait]
impl CreateJournal for StatusJournal<'_> {
    async fn record_intent(&self, product_name: &str, sent_ms: i64) -> Result<(), kube::Error> {
        let pending = claim::with_attempt(
            self.pending_before.as_ref(),
            product_name,
            &self.instance_id,
            jiff::Timestamp::now(),
            sent_ms,
        );
        let id = intent::new_id();
        let uid = self.product.uid().unwrap_or_default();
        let signed = self.ctx.intent_key.sign(&uid, &id, &pending);
        // One patch: the finalizer (so the product is cleaned up if the resource goes) and the
        // intent. The resourceVersion makes it fail if the copy of the resource the plan was
        // made from is stale (it might lack a key recorded meanwhile).
        let patch = json!({"metadata": {
            "resourceVersion": self.product.resource_version(),
            "finalizers": self.finalizers_with_ours(),
            "annotations": {intent::ANNOTATION: signed},
        }});
        let products: Api<IotProduct> = api(self.ctx, self.product);
        products.patch(&self.product.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        *self.holds_finalizer.lock().expect("journal lock") = true;
        *self.intent_id.lock().expect("journal lock") = Some(id);
        *self.state.lock().expect("journal lock") = JournalState::Pending(pending);
        Ok(())
    }

    async fn before_first_write(&self) -> Result<(), kube::Error> {
        if *self.holds_finalizer.lock().expect("journal lock") {
            return Ok(());
        }
        finalizer::add(&api(self.ctx, self.product), self.product, super::FINALIZER).await?;
        *self.holds_finalizer.lock().expect("journal lock") = true;
        Ok(())
    }

    fn record_answer(&self, answered_ms: i64, ambiguous: bool) {
        let mut state = self.state.lock().expect("journal lock");
        if let JournalState::Pending(pending) = &*state {
            *state = claim::answered(pending.clone(), answered_ms, ambiguous)
                .map_or(JournalState::Cleared, JournalState::Pending);
        }
    }

    async fn record_key(&self, product_key: &str) -> Result<(), kube::Error> {
        // An adopted product is cleaned up with the resource, as a created one is.
        self.before_first_write().await?;
        let mut status = self.product.status.clone().unwrap_or_default();
        status.pending_create = None;
        status.settled_intent = self.settles_intent().or(status.settled_intent);
        status.product_key = Some(product_key.to_string());
        status.instance_id = Some(self.instance_id.clone());
        let body = apply_body(&status, None);
        status::apply_as(&api(self.ctx, self.product), &self.product.name_any(), FIELD_MANAGER, body).await?;
        *self.recorded_key.lock().expect("journal lock") = Some(product_key.to_string());
        info!(product_key, "recorded the key of the created product");
        Ok(())
    }
}

//! The create journal in the IotProduct's status: the intent to create a product is written
//! (guarded by the resourceVersion) before CreateProduct is called, so a crash before the
//! key reaches the status never makes a duplicate or loses the product: the next reconcile
//! finds the product by the intent's name and time. The key is written with the rest of
//! the status at the end of the reconcile (a write of its own would tell nobody anything the
//! intent does not).

use std::sync::Mutex;

use kube::ResourceExt;
use tracing::info;

use crate::crd::IotProduct;
use crate::crd::product::PendingCreate;
use crate::reconcile::context::Context;
use crate::reconcile::status::{self, FIELD_MANAGER};

use super::claim;
use super::execute::CreateJournal;
use super::status::{api, apply_body};

/// What the journal holds after a reconcile.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalState {
    /// No create was attempted: the status keeps what it had.
    Untouched,
    /// A create is pending (its attempts' outcome is unknown).
    Pending(PendingCreate),
    /// Every attempt was refused definitively: nothing is pending.
    Cleared,
}

/// Records a create in status before it is made (see [`CreateJournal`]).
pub struct StatusJournal<'a> {
    ctx: &'a Context,
    product: &'a IotProduct,
    instance_id: String,
    state: Mutex<JournalState>,
    recorded_key: Mutex<Option<String>>,
}

impl<'a> StatusJournal<'a> {
    /// A journal for `product`.
    #[must_use]
    pub fn new(ctx: &'a Context, product: &'a IotProduct, instance_id: String) -> Self {
        Self {
            ctx,
            product,
            instance_id,
            state: Mutex::new(JournalState::Untouched),
            recorded_key: Mutex::new(None),
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
        // The first status a new resource gets: the intent, and that it is being worked on.
        let mut status = if super::report::first_sight(self.product) {
            super::report::first_sight_status(self.product)
        } else {
            self.product.status.clone().unwrap_or_default()
        };
        let pending = claim::with_attempt(
            status.pending_create.as_ref(),
            product_name,
            &self.instance_id,
            jiff::Timestamp::now(),
            sent_ms,
        );
        status.pending_create = Some(pending.clone());
        // The resourceVersion makes this write fail if the copy of the resource the plan was
        // made from is stale (it might lack a key recorded meanwhile).
        let body = apply_body(&status, self.product.resource_version().as_deref());
        status::apply_as(&api(self.ctx, self.product), &self.product.name_any(), FIELD_MANAGER, body).await?;
        *self.state.lock().expect("journal lock") = JournalState::Pending(pending);
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
        let mut status = self.product.status.clone().unwrap_or_default();
        status.pending_create = None;
        status.product_key = Some(product_key.to_string());
        status.instance_id = Some(self.instance_id.clone());
        let body = apply_body(&status, None);
        status::apply_as(&api(self.ctx, self.product), &self.product.name_any(), FIELD_MANAGER, body).await?;
        *self.recorded_key.lock().expect("journal lock") = Some(product_key.to_string());
        info!(product_key, "recorded the key of the created product");
        Ok(())
    }
}

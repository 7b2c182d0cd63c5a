//! The create journal in the IotProduct's status: the intent to create a product is written
//! (guarded by the resourceVersion) before CreateProduct is called, so a crash before the
//! key reaches the status never makes a duplicate or loses the product: the next reconcile
//! finds the product by the intent's name and time. The key is written with the rest of
//! the status at the end of the reconcile (a write of its own would tell nobody anything the
//! intent does not).

use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use tracing::info;

use crate::crd::IotProduct;
use crate::crd::product::PendingCreate;
use crate::reconcile::context::Context;
use crate::reconcile::status::{self, FIELD_MANAGER};

use super::execute::CreateJournal;
use super::status::{api, apply_body};

/// Records a create in status before it is made (see [`CreateJournal`]).
pub struct StatusJournal<'a> {
    ctx: &'a Context,
    product: &'a IotProduct,
    instance_id: String,
    started: Mutex<Option<i64>>,
    recorded_key: Mutex<Option<String>>,
}

impl<'a> StatusJournal<'a> {
    /// A journal for `product`.
    #[must_use]
    pub fn new(ctx: &'a Context, product: &'a IotProduct, instance_id: String) -> Self {
        Self { ctx, product, instance_id, started: Mutex::new(None), recorded_key: Mutex::new(None) }
    }

    /// When the intent was recorded in this reconcile, with the name.
    #[must_use]
    pub fn pending(&self, name: &str) -> Option<PendingCreate> {
        let started = (*self.started.lock().expect("journal lock"))?;
        if self.recorded_key.lock().expect("journal lock").is_some() {
            return None;
        }
        Some(PendingCreate {
            product_name: name.to_string(),
            instance_id: Some(self.instance_id.clone()),
            since: Time(
                jiff::Timestamp::from_millisecond(started).unwrap_or_else(|_| jiff::Timestamp::now()),
            ),
        })
    }
}

#[async_trait::async_trait]
impl CreateJournal for StatusJournal<'_> {
    async fn record_intent(&self, product_name: &str) -> Result<i64, kube::Error> {
        // The first status a new resource gets: the intent, and that it is being worked on.
        let mut status = if super::report::first_sight(self.product) {
            super::report::first_sight_status(self.product)
        } else {
            self.product.status.clone().unwrap_or_default()
        };
        let since = status
            .pending_create
            .as_ref()
            .filter(|p| p.product_name == product_name)
            .map_or_else(|| jiff::Timestamp::now().as_millisecond(), |p| p.since.0.as_millisecond());
        status.pending_create = Some(PendingCreate {
            product_name: product_name.to_string(),
            instance_id: Some(self.instance_id.clone()),
            since: Time(jiff::Timestamp::from_millisecond(since).unwrap_or_else(|_| jiff::Timestamp::now())),
        });
        // The resourceVersion makes this write fail if the copy of the resource the plan was
        // made from is stale (it might lack a key recorded meanwhile).
        let body = apply_body(&status, self.product.resource_version().as_deref());
        status::apply_as(&api(self.ctx, self.product), &self.product.name_any(), FIELD_MANAGER, body).await?;
        *self.started.lock().expect("journal lock") = Some(since);
        Ok(since)
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

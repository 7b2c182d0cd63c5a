//! A client that only reads: every call that is not a `Query…`, `List…` or `Get…` is
//! refused before it is sent, so a caller that must not change the platform (the operator's
//! `plan` and `import`) cannot, whatever it decides.

use std::sync::Arc;

use serde_json::Value;

use crate::{ErrorClass, IotPlatform, PlatformError, RawCall};

/// Whether `action` only reads.
#[must_use]
pub fn is_read(action: &str) -> bool {
    ["Query", "List", "Get"].iter().any(|prefix| action.starts_with(prefix))
}

/// `inner`, for reads only.
pub struct ReadOnly {
    inner: Arc<dyn IotPlatform>,
}

impl ReadOnly {
    /// Wraps `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn IotPlatform>) -> Self {
        Self { inner }
    }
}

#[async_trait::async_trait]
impl IotPlatform for ReadOnly {
    async fn call_raw(&self, call: RawCall) -> Result<Value, PlatformError> {
        if !is_read(call.action) {
            return Err(PlatformError::Api {
                action: call.action,
                code: "ReadOnly".into(),
                message: "this client only reads the platform".into(),
                request_id: String::new(),
                http_status: 0,
                class: ErrorClass::Invalid,
            });
        }
        self.inner.call_raw(call).await
    }

    fn clock_offset_ms(&self) -> Option<i64> {
        self.inner.clock_offset_ms()
    }

    /// Downloading a file the platform handed out (a script) only reads.
    async fn fetch(&self, url: &str, limit: usize) -> Result<String, PlatformError> {
        self.inner.fetch(url, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queries_lists_and_gets_are_reads() {
        for read in [
            "QueryProduct",
            "QueryProductList",
            "ListProductTags",
            "GetThingModelTsl",
            "ListDeviceDistributeJob",
        ] {
            assert!(is_read(read), "{read}");
        }
        for write in
            ["CreateProduct", "UpdateProduct", "DeleteProduct", "ImportThingModelTsl", "ReleaseProduct"]
        {
            assert!(!is_read(write), "{write}");
        }
    }
}

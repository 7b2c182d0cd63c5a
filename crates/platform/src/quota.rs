//! The platform's documented per-account QPS limits, one table for the client's limiter
//! and the emulator's enforcement.
//!
//! Source: each operation's API page (reproduced in the official SDK's docstrings); RAM
//! users share their account's quota.

/// QPS per account for every operation the project uses.
pub const QPS: &[(&str, u32)] = &[
    ("CreateProduct", 50),
    ("UpdateProduct", 10),
    ("DeleteProduct", 500),
    ("QueryProduct", 50),
    ("QueryProductList", 50),
    ("ReleaseProduct", 50),
    ("CancelReleaseProduct", 50),
    ("CreateProductTags", 500),
    ("UpdateProductTags", 500),
    ("DeleteProductTags", 500),
    ("ListProductTags", 500),
    ("ListProductByTags", 500),
    ("ImportThingModelTsl", 5),
    ("GetThingModelTsl", 20),
    ("GetThingModelTslPublished", 20),
    ("PublishThingModel", 5),
    ("ListThingModelVersion", 10),
    ("CreateProductDistributeJob", 2),
    ("QueryDeviceDistributeJob", 10),
    ("ListDeviceDistributeJob", 5),
    ("DeleteDeviceDistributeJob", 2),
    ("ListDistributedProduct", 5),
    ("RegisterDevice", 30),
    ("QueryDeviceStatistics", 50),
    // STS (the STS FAQ: 100 QPS per account for AssumeRole and its kin).
    ("AssumeRole", 100),
    ("AssumeRoleWithOIDC", 100),
];

/// The documented QPS of `action`, or `None` for an operation not in the table.
#[must_use]
pub fn qps(action: &str) -> Option<u32> {
    QPS.iter().find(|(name, _)| *name == action).map(|(_, q)| *q)
}

/// Operations the platform accepts only at `iot.cn-shanghai.aliyuncs.com`.
pub const SHANGHAI_ONLY: &[&str] = &[
    "CreateProductDistributeJob",
    "CreateDeviceDistributeJob",
    "QueryDeviceDistributeJob",
    "ListDeviceDistributeJob",
    "ListDistributedProduct",
    "ListDistributedDevice",
    "DeleteDeviceDistributeJob",
    "QueryDeviceDistributeDetail",
];

/// The region whose endpoint serves the distribution operations.
pub const DISTRIBUTION_REGION: &str = "cn-shanghai";

/// Maximum products per instance (per account where there are no instances): beyond it
/// CreateProduct answers `iot.prod.ProductCountExceedMax` (the platform's limits page).
pub const MAX_PRODUCTS_PER_INSTANCE: usize = 1000;

/// Maximum distribution jobs (product and device together) per account.
pub const MAX_DISTRIBUTION_JOBS: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_limits_that_differ_are_kept() {
        assert_eq!(qps("CreateProduct"), Some(50));
        assert_eq!(qps("UpdateProduct"), Some(10));
        assert_eq!(qps("CreateProductDistributeJob"), Some(2));
        assert_eq!(qps("Unknown"), None);
    }
}

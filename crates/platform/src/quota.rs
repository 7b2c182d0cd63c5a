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
    // Custom topic categories (CreateProductTopic 1, QueryProductTopic 3: also on the pages'
    // English and Chinese versions).
    ("CreateProductTopic", 1),
    ("UpdateProductTopic", 50),
    ("DeleteProductTopic", 50),
    ("QueryProductTopic", 3),
    // Data-parsing scripts.
    ("CreateThingScript", 10),
    ("UpdateThingScript", 10),
    ("GetThingScript", 10),
    // Server-side subscriptions and consumer groups.
    ("CreateSubscribeRelation", 5),
    ("UpdateSubscribeRelation", 5),
    ("QuerySubscribeRelation", 5),
    ("DeleteSubscribeRelation", 5),
    ("CreateConsumerGroup", 5),
    ("UpdateConsumerGroup", 5),
    ("DeleteConsumerGroup", 5),
    ("QueryConsumerGroupList", 5),
    ("QueryConsumerGroupByGroupId", 5),
    ("QueryConsumerGroupStatus", 5),
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

/// Maximum custom topic categories per product. Not found in the platform's limits page (nor
/// in the CreateProductTopic reference): an assumed value, which the emulator lets tests
/// change (`--max-topics-per-product`).
pub const MAX_TOPICS_PER_PRODUCT: usize = 50;

/// Maximum size of a data-parsing script, bytes: 128 KB (the limits page, "数据解析脚本文件大小的上限",
/// <https://help.aliyun.com/document_detail/30527.htm>).
pub const MAX_SCRIPT_BYTES: usize = 128 * 1024;

/// Maximum consumer groups per instance besides the default one. Not found in the
/// platform's pages: an assumed value (`--max-consumer-groups` in the emulator).
pub const MAX_CONSUMER_GROUPS: usize = 1000;

/// Maximum AMQP clients in one consumer group (the consumer-group guide: "A consumer group
/// can contain up to 64 AMQP clients").
pub const MAX_CLIENTS_PER_CONSUMER_GROUP: usize = 64;

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

    #[test]
    fn topic_script_and_subscription_operations_have_their_documented_qps() {
        for (action, expected) in [
            ("CreateProductTopic", 1),
            ("UpdateProductTopic", 50),
            ("DeleteProductTopic", 50),
            ("QueryProductTopic", 3),
            ("CreateThingScript", 10),
            ("UpdateThingScript", 10),
            ("GetThingScript", 10),
            ("CreateSubscribeRelation", 5),
            ("UpdateSubscribeRelation", 5),
            ("QuerySubscribeRelation", 5),
            ("DeleteSubscribeRelation", 5),
            ("CreateConsumerGroup", 5),
            ("UpdateConsumerGroup", 5),
            ("DeleteConsumerGroup", 5),
            ("QueryConsumerGroupList", 5),
            ("QueryConsumerGroupByGroupId", 5),
            ("QueryConsumerGroupStatus", 5),
        ] {
            assert_eq!(qps(action), Some(expected), "{action}");
        }
        let mut names: Vec<&str> = QPS.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), QPS.len(), "each action is listed once");
    }
}

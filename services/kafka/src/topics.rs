//! Topics are created at start when missing (brokers that auto-create
//! topics would pick their own partition count).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, KafkaOptions, Result};

/// Creates the raw and dead-letter topics with `options.partitions`
/// partitions unless they exist. Existing topics are left as they are.
pub async fn ensure_topics(options: &KafkaOptions) -> Result<()> {
    if options.partitions < 1 {
        return Err(Error::Config(format!("partitions must be >= 1, got {}", options.partitions)));
    }
    let admin: AdminClient<DefaultClientContext> = options.admin_config().create()?;
    let topics: Vec<NewTopic> = [&options.raw_topic, &options.dlq_topic]
        .into_iter()
        .map(|t| NewTopic::new(t, options.partitions, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&topics, &opts).await? {
        match result {
            Ok(topic) => tracing::info!(topic, partitions = options.partitions, "created topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(topic, "topic exists")
            }
            Err((topic, code)) => {
                return Err(Error::Config(format!("cannot create topic {topic}: {code}")));
            }
        }
    }
    Ok(())
}

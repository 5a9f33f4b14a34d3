//! RabbitMQ adapter of the outbox's `Publisher` port (lapin): every event goes to a durable topic
//! exchange under its type as routing key (`order.placed`), as a persistent JSON message, and a
//! publish returns only once the broker has confirmed it (publisher confirms). The connection is
//! opened on first use and reopened after it breaks.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use outbox::{Claimed, DeliveryError, Publisher};
use tokio::sync::Mutex;

#[derive(Debug, Clone)]
pub struct RabbitConfig {
    /// `amqp://user:password@host:5672/%2f` (or `amqps://`).
    pub url: String,
    /// The topic exchange (declared durable on connect).
    pub exchange: String,
    /// Bound on connecting and on each publish's confirmation.
    pub timeout: Duration,
}

pub struct RabbitPublisher {
    cfg: RabbitConfig,
    link: Mutex<Option<(Connection, Channel)>>,
}

fn fail(e: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::new("broker", e)
}

impl RabbitPublisher {
    pub fn new(cfg: RabbitConfig) -> Self {
        RabbitPublisher { cfg, link: Mutex::new(None) }
    }

    /// The open channel, connecting (and declaring the exchange) when there is none.
    async fn channel(&self) -> Result<Channel, DeliveryError> {
        let mut link = self.link.lock().await;
        if let Some((conn, ch)) = link.as_ref()
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        let open = async {
            let conn = Connection::connect(&self.cfg.url, ConnectionProperties::default()).await.map_err(fail)?;
            let ch = conn.create_channel().await.map_err(fail)?;
            ch.confirm_select(ConfirmSelectOptions::default()).await.map_err(fail)?;
            ch.exchange_declare(
                self.cfg.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions { durable: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .map_err(fail)?;
            Ok::<_, DeliveryError>((conn, ch))
        };
        let (conn, ch) = tokio::time::timeout(self.cfg.timeout, open)
            .await
            .map_err(|_| fail("timed out connecting to the broker"))??;
        tracing::info!(exchange = %self.cfg.exchange, "connected to the message broker");
        *link = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn reset(&self) {
        if let Some((conn, _)) = self.link.lock().await.take() {
            let _ = conn.close(0, "reconnecting".into()).await;
        }
    }
}

#[async_trait::async_trait]
impl Publisher for RabbitPublisher {
    async fn publish(&self, event: &Claimed) -> Result<(), DeliveryError> {
        let ch = self.channel().await?;
        let body = serde_json::to_vec(&event.envelope()).map_err(fail)?;
        let mut headers = FieldTable::default();
        headers.insert("schema_version".into(), AMQPValue::LongInt(event.schema_version));
        let props = BasicProperties::default()
            .with_delivery_mode(2) // persistent
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(event.id.to_string()))
            .with_type(ShortString::from(event.event_type.as_str()))
            .with_app_id(ShortString::from("shop"))
            .with_timestamp(event.occurred_at.timestamp().max(0) as u64)
            .with_headers(headers);
        let publish = async {
            let confirm = ch
                .basic_publish(
                    self.cfg.exchange.as_str().into(),
                    event.event_type.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    props,
                )
                .await
                .map_err(fail)?;
            confirm.await.map_err(fail)
        };
        let result = match tokio::time::timeout(self.cfg.timeout, publish).await {
            Ok(Ok(c)) if c.is_ack() => return Ok(()),
            Ok(Ok(_)) => fail("the broker refused the message (nack)"),
            Ok(Err(e)) => e,
            Err(_) => fail("timed out waiting for the broker's confirmation"),
        };
        // Start from a fresh connection next time.
        self.reset().await;
        Err(result)
    }
}

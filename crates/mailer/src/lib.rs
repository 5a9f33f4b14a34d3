//! SMTP adapter of the outbox's `EmailSender` port (lettre): multipart/alternative messages
//! (plain text + HTML) over a pooled SMTP connection. The URL chooses the security:
//! `smtp://host:25` plain (loopback relays, tests), `smtp://host:587?tls=required` STARTTLS,
//! `smtps://user:password@host:465` implicit TLS.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use outbox::{DeliveryError, Email, EmailSender};

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub url: String,
    /// The sender, `Shop <no-reply@shop.example>`.
    pub from: String,
    /// Bound on each SMTP command.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    #[error("invalid sender address {0:?}")]
    From(String),
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(cfg: &SmtpConfig) -> Result<Self, MailerError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.url)
            .map_err(|e| MailerError::Url(e.to_string()))?
            .timeout(Some(cfg.timeout))
            .build();
        let from = cfg.from.parse().map_err(|_| MailerError::From(cfg.from.clone()))?;
        Ok(SmtpMailer { transport, from })
    }

    fn message(&self, email: &Email) -> Result<Message, DeliveryError> {
        let bad = |e: &dyn std::fmt::Display| DeliveryError::new("email", format!("cannot build the message: {e}"));
        let address = email.to.parse().map_err(|e| bad(&e))?;
        let to = Mailbox::new(Some(email.to_name.clone()).filter(|n| !n.is_empty()), address);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject)
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|e| bad(&e))
    }
}

#[async_trait::async_trait]
impl EmailSender for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), DeliveryError> {
        let message = self.message(email)?;
        self.transport.send(message).await.map_err(|e| DeliveryError::new("email", e))?;
        Ok(())
    }
}

//! Which events notify the customer, and the messages they become: plain text and HTML emails
//! rendered from templates (minijinja; HTML is auto-escaped), and SMS texts.

use minijinja::{Environment, Value as TemplateValue, context};
use primitives::Money;
use uuid::Uuid;

use crate::event::{Claimed, types};
use crate::message::{Contact, Email, Sms};

#[derive(Debug, thiserror::Error)]
#[error("template {template}: {message}")]
pub struct TemplateError {
    pub template: String,
    pub message: String,
}

/// The messages of one event for one contact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Messages {
    pub emails: Vec<Email>,
    pub sms: Vec<Sms>,
}

struct Template {
    event: &'static str,
    /// Template base name: `<name>.subject`, `<name>.txt`, `<name>.html`.
    name: &'static str,
    /// Also texted, when the contact has a phone number.
    sms: bool,
    /// The payload field holding the address to write to instead of the account's current one
    /// (a new address to confirm, the old one to warn).
    to: Option<&'static str>,
}

const fn email(event: &'static str, name: &'static str) -> Template {
    Template { event, name, sms: false, to: None }
}

const TEMPLATES: &[Template] = &[
    email(types::ORDER_PLACED.name, "order_placed"),
    // One per parcel: an order shipped in parts tells the customer what each one holds.
    Template { sms: true, ..email(types::ORDER_SHIPMENT_CREATED.name, "order_shipped") },
    email(types::USER_PASSWORD_CHANGED.name, "password_changed"),
    email(types::USER_PASSWORD_RESET_REQUESTED.name, "password_reset"),
    email(types::USER_EMAIL_VERIFICATION_REQUESTED.name, "verify_email"),
    Template { to: Some("new_email"), ..email(types::USER_EMAIL_CHANGE_REQUESTED.name, "email_change") },
    Template { to: Some("old_email"), ..email(types::USER_EMAIL_CHANGED.name, "email_changed") },
];

const SOURCES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("order_placed.subject", include_str!("../templates/order_placed.subject")),
    ("order_placed.txt", include_str!("../templates/order_placed.txt")),
    ("order_placed.html", include_str!("../templates/order_placed.html")),
    ("order_shipped.subject", include_str!("../templates/order_shipped.subject")),
    ("order_shipped.txt", include_str!("../templates/order_shipped.txt")),
    ("order_shipped.html", include_str!("../templates/order_shipped.html")),
    ("order_shipped.sms", include_str!("../templates/order_shipped.sms")),
    ("password_changed.subject", include_str!("../templates/password_changed.subject")),
    ("password_changed.txt", include_str!("../templates/password_changed.txt")),
    ("password_changed.html", include_str!("../templates/password_changed.html")),
    ("password_reset.subject", include_str!("../templates/password_reset.subject")),
    ("password_reset.txt", include_str!("../templates/password_reset.txt")),
    ("password_reset.html", include_str!("../templates/password_reset.html")),
    ("verify_email.subject", include_str!("../templates/verify_email.subject")),
    ("verify_email.txt", include_str!("../templates/verify_email.txt")),
    ("verify_email.html", include_str!("../templates/verify_email.html")),
    ("email_change.subject", include_str!("../templates/email_change.subject")),
    ("email_change.txt", include_str!("../templates/email_change.txt")),
    ("email_change.html", include_str!("../templates/email_change.html")),
    ("email_changed.subject", include_str!("../templates/email_changed.subject")),
    ("email_changed.txt", include_str!("../templates/email_changed.txt")),
    ("email_changed.html", include_str!("../templates/email_changed.html")),
];

/// Renders notifications. Templates are compiled into the binary.
pub struct Notifications {
    env: Environment<'static>,
    shop_name: String,
    base_url: String,
    /// Derives the token of an account link from the event's `token_seed`
    /// (`primitives::secret::account_token`): the token itself is stored nowhere.
    token_key: Vec<u8>,
}

/// `{{ order.total | money }}`: a `Money` object (`amount_minor` + `currency`) for people.
fn money(v: TemplateValue) -> Result<String, minijinja::Error> {
    let m: Money = serde_json::to_value(&v)
        .ok()
        .and_then(|j| serde_json::from_value(j).ok())
        .ok_or_else(|| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "not a money object"))?;
    Ok(m.display())
}

impl Notifications {
    pub fn new(shop_name: impl Into<String>, base_url: impl Into<String>, token_key: Vec<u8>) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in SOURCES {
            // The sources are ours and checked by the tests below.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "invalid notification template");
            }
        }
        env.add_filter("money", money);
        Notifications {
            env,
            shop_name: shop_name.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            token_key,
        }
    }

    /// The user an event notifies, if it notifies anyone.
    pub fn recipient(event: &Claimed) -> Option<Uuid> {
        TEMPLATES.iter().find(|t| t.event == event.event_type)?;
        event.payload.get("user_id")?.as_str()?.parse().ok()
    }

    /// The messages of `event` for `contact` (none for events that notify nobody).
    pub fn render(&self, event: &Claimed, contact: &Contact) -> Result<Messages, TemplateError> {
        let Some(t) = TEMPLATES.iter().find(|t| t.event == event.event_type) else { return Ok(Messages::default()) };
        let token = event
            .payload
            .get("token_seed")
            .and_then(|v| v.as_str())
            .map(|seed| primitives::secret::account_token(&self.token_key, seed));
        let to = match t.to {
            Some(field) => event.payload.get(field).and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| {
                TemplateError { template: t.name.into(), message: format!("the event has no `{field}` to write to") }
            })?,
            None => contact.email.clone(),
        };
        let ctx = context! {
            data => TemplateValue::from_serialize(&event.payload),
            contact => context! { name => contact.name.clone(), email => contact.email.clone() },
            shop => context! { name => self.shop_name.clone(), url => self.base_url.clone() },
            event => context! { id => event.id.to_string(), occurred_at => event.occurred_at.to_rfc3339() },
            token => token,
        };
        let render = |suffix: &str| -> Result<String, TemplateError> {
            let name = format!("{}.{suffix}", t.name);
            self.env
                .get_template(&name)
                .and_then(|tpl| tpl.render(&ctx))
                .map_err(|e| TemplateError { template: name.clone(), message: e.to_string() })
        };
        let email = Email {
            to,
            to_name: contact.name.clone(),
            subject: render("subject")?.trim().to_owned(),
            text: render("txt")?,
            html: render("html")?,
        };
        let mut out = Messages { emails: vec![email], sms: vec![] };
        if t.sms
            && let Some(phone) = &contact.phone
        {
            out.sms.push(Sms { to: phone.clone(), body: render("sms")?.trim().to_owned() });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::{Value, json};

    use super::*;
    use crate::event::Progress;

    fn claimed(kind: crate::EventType, payload: Value) -> Claimed {
        Claimed {
            id: Uuid::now_v7(),
            event_type: kind.name.into(),
            schema_version: kind.version,
            aggregate_type: kind.aggregate.into(),
            aggregate_id: Uuid::now_v7(),
            payload,
            occurred_at: Utc::now(),
            attempts: 1,
            progress: Progress::default(),
            claim: Uuid::now_v7(),
        }
    }

    fn contact(phone: Option<&str>) -> Contact {
        Contact { email: "ada@example.com".into(), name: "Ada <Lovelace>".into(), phone: phone.map(Into::into) }
    }

    fn eur(m: i64) -> Value {
        json!({"amount_minor": m, "currency": "EUR"})
    }

    fn placed() -> Claimed {
        claimed(
            types::ORDER_PLACED,
            json!({
                "order_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
                "user_id": "0190a1b2-c3d4-7e5f-8a9b-000000000001",
                "status": "pending_payment",
                "subtotal": eur(2598), "shipping": eur(499), "tax": eur(588), "total": eur(3685),
                "shipping_method": "Standard",
                "lines": [{"sku": "MUG-1", "name": "Mug <b>big</b>", "quantity": 2,
                           "unit_price": eur(1299), "line_total": eur(2598)}],
                "placed_at": "2026-11-26T12:00:00Z",
            }),
        )
    }

    #[test]
    fn order_confirmation_renders_text_and_escaped_html() {
        let n = Notifications::new("Shop", "https://shop.example/", b"key".to_vec());
        let m = n.render(&placed(), &contact(Some("+4915112345678"))).expect("renders");
        assert_eq!(m.sms, vec![], "confirmation is email only");
        let e = &m.emails[0];
        assert_eq!(e.to, "ada@example.com");
        assert!(e.subject.contains("3F4A5B"), "{}", e.subject);
        assert!(e.text.contains("2 x Mug <b>big</b>") && e.text.contains("36.85 EUR"), "{}", e.text);
        assert!(e.html.contains("Mug &lt;b&gt;big&lt;"), "HTML is escaped: {}", e.html);
        assert!(e.html.contains("Ada &lt;Lovelace&gt;"), "{}", e.html);
        assert!(!e.html.contains("<b>big</b>"));
        assert!(e.text.contains("https://shop.example/orders/"), "{}", e.text);
    }

    #[test]
    fn shipping_texts_when_a_phone_is_known() {
        let n = Notifications::new("Shop", "https://shop.example", b"key".to_vec());
        let ev = claimed(
            types::ORDER_SHIPMENT_CREATED,
            json!({"order_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "user_id": "0190a1b2-c3d4-7e5f-8a9b-000000000001",
                   "carrier": "DHL", "tracking_number": "JD0001", "shipped_at": "2026-11-26T12:00:00Z",
                   "number": 2, "status": "partially_shipped",
                   "lines": [{"line_no": 1, "quantity": 2, "name": "Tee <M>"}]}),
        );
        let m = n.render(&ev, &contact(Some("+4915112345678"))).expect("renders");
        assert!(m.emails[0].text.contains("JD0001"));
        assert!(m.emails[0].text.contains("2 × Tee <M>"), "{}", m.emails[0].text);
        assert!(m.emails[0].text.contains("more to follow"), "{}", m.emails[0].text);
        assert!(m.emails[0].html.contains("Tee &lt;M&gt;"), "{}", m.emails[0].html);
        // The order's own `order.shipped` no longer writes: its parcels did.
        let whole = claimed(types::ORDER_SHIPPED, ev.payload.clone());
        assert_eq!(n.render(&whole, &contact(None)).expect("renders"), Messages::default());
        assert_eq!(m.sms.len(), 1);
        assert!(m.sms[0].body.contains("DHL") && m.sms[0].body.contains("JD0001"), "{}", m.sms[0].body);
        assert_eq!(n.render(&ev, &contact(None)).expect("renders").sms, vec![]);
    }

    #[test]
    fn password_change_and_silent_events() {
        let n = Notifications::new("Shop", "https://shop.example", b"key".to_vec());
        let ev = claimed(
            types::USER_PASSWORD_CHANGED,
            json!({"user_id": "0190a1b2-c3d4-7e5f-8a9b-000000000001", "changed_at": "2026-11-26T12:00:00Z"}),
        );
        assert_eq!(
            Notifications::recipient(&ev).map(|u| u.to_string()).as_deref(),
            Some("0190a1b2-c3d4-7e5f-8a9b-000000000001")
        );
        let m = n.render(&ev, &contact(None)).expect("renders");
        assert!(m.emails[0].subject.to_lowercase().contains("password"));
        let paid = claimed(types::ORDER_PAID, json!({"user_id": "0190a1b2-c3d4-7e5f-8a9b-000000000001"}));
        assert_eq!(Notifications::recipient(&paid), None);
        assert_eq!(n.render(&paid, &contact(None)).expect("renders"), Messages::default());
    }

    #[test]
    fn a_payload_missing_fields_is_an_error_not_a_blank_email() {
        let n = Notifications::new("Shop", "https://shop.example", b"key".to_vec());
        let ev = claimed(types::ORDER_PLACED, json!({"user_id": "0190a1b2-c3d4-7e5f-8a9b-000000000001"}));
        assert!(n.render(&ev, &contact(None)).is_err());
    }

    #[test]
    fn account_links_carry_the_derived_token_and_go_where_the_event_says() {
        let n = Notifications::new("Shop", "https://shop.example", b"key".to_vec());
        let id = primitives::secret::new_token();
        let token = primitives::secret::account_token(b"key", &id);
        let user = "0190a1b2-c3d4-7e5f-8a9b-000000000001";
        let reset = n
            .render(
                &claimed(types::USER_PASSWORD_RESET_REQUESTED, json!({"user_id": user, "token_seed": id})),
                &contact(None),
            )
            .expect("renders");
        let mail = &reset.emails[0];
        assert_eq!(mail.to, "ada@example.com");
        assert!(mail.text.contains(&format!("https://shop.example/reset-password?token={token}")), "{}", mail.text);
        assert!(mail.html.contains(&token));
        assert!(!mail.text.contains(&id), "the seed is not the token");
        let change = n
            .render(
                &claimed(
                    types::USER_EMAIL_CHANGE_REQUESTED,
                    json!({"user_id": user, "token_seed": id, "new_email": "new@example.com"}),
                ),
                &contact(None),
            )
            .expect("renders");
        assert_eq!(change.emails[0].to, "new@example.com", "confirmed from the new address");
        let changed = n
            .render(
                &claimed(
                    types::USER_EMAIL_CHANGED,
                    json!({"user_id": user, "old_email": "old@example.com", "changed_at": "now"}),
                ),
                &contact(None),
            )
            .expect("renders");
        assert_eq!(changed.emails[0].to, "old@example.com", "the notice goes to the old address");
        let verify = n
            .render(
                &claimed(types::USER_EMAIL_VERIFICATION_REQUESTED, json!({"user_id": user, "token_seed": id})),
                &contact(None),
            )
            .expect("renders");
        assert!(verify.emails[0].text.contains(&format!("/verify-email?token={token}")));
    }
}

//! What notifications are made of: who to reach, and the messages sent to them. The ports
//! (`ports`) send them, the notifier (`notify`) writes them; neither imports the other.

/// How to reach a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub email: String,
    pub name: String,
    /// From the user's default shipping address, when it has one.
    pub phone: Option<String>,
}

/// An email ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: String,
    pub to_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sms {
    pub to: String,
    pub body: String,
}

//! Operations shared by the web handlers and the CLI. They take parsed domain values,
//! orchestrate store, directory and mail, and know nothing of HTTP.

pub mod accounts;
pub mod ids;
pub mod invitations;
pub mod lifecycle;
pub mod notices;
pub mod organisations;
pub mod own_account;
pub mod single_sign_on;
pub mod staff_actions;

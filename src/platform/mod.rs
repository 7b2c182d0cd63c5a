//! The IoT Platform client: credentials, request signing, typed operations and errors.

pub mod credentials;
pub mod sign;

pub use credentials::Credentials;

//! The sans-I/O WAMP protocol layer: values, messages, IDs, URIs, codecs. Nothing here touches a socket.

pub mod codec;
pub mod ids;
pub mod message;
pub mod uri;
pub mod uris;
pub mod validate;
pub mod value;

pub use message::{Id, Message, Payload};
pub use value::{Dict, Value};

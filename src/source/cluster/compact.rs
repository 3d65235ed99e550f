//! Objects kept as their compact JSON text: what the embedded cluster does
//! with objects that users hand it and that it only reads back (static
//! EndpointSlices and Endpoints). Their typed form is several times larger
//! than their text (every absent field still takes its room), and it is
//! wanted only for a moment: a list, a get, the DNS view of a step.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One object of type `T`, as compact JSON.
#[derive(Clone, Debug)]
pub(super) struct Compact<T> {
    text: Box<[u8]>,
    kind: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> Compact<T> {
    pub(super) fn new(object: &T) -> Self {
        // The stored kinds always serialize. Should one not, it is said, and
        // the empty text reads back as nothing, never as another object.
        let text = serde_json::to_vec(object).unwrap_or_else(|error| {
            tracing::error!(%error, "an object does not serialize; it is kept as nothing");
            Vec::new()
        });
        Self {
            text: text.into_boxed_slice(),
            kind: PhantomData,
        }
    }

    /// The typed object again; `None` only if the text was never written.
    pub(super) fn get(&self) -> Option<T> {
        serde_json::from_slice(&self.text).ok()
    }

    /// The object as a JSON value.
    pub(super) fn value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.text)
    }
}

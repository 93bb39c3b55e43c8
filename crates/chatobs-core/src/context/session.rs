//! The conversation: [`ChatSession`] (its exported id, derived from a user
//! identity with the session key, or received from another service), the
//! session key and [`keyed_hash`], exported-id validation, and the state
//! modules attach to a session (extensions, the end hook).
//!
//! Making a session current (`ChatSession::current`, `scope`, `in_scope`)
//! lives with the rest of the scoping code, in `scope.rs`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::SystemTime;

/// Name of the environment variable holding the key that turns phone numbers
/// and other user identities into session ids (HMAC-SHA256). All services of
/// one bot must share it so they derive the same session id.
pub const SESSION_KEY_ENV: &str = "CHATOBS_SESSION_KEY";

/// A conversation. Cheap to clone (one reference count).
#[derive(Clone)]
pub struct ChatSession(pub(crate) Arc<SessionInner>);

pub(crate) struct SessionInner {
    id: Box<str>,
    /// The user's stable key (`user.id`), when the conversation id is not it.
    user: Option<Box<str>>,
    started: SystemTime,
    extensions: Mutex<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>,
    /// Run when each span of this session ends, with its state.
    pub(crate) end_hook: OnceLock<(crate::span::SessionEndHook, Arc<dyn Any + Send + Sync>)>,
}

impl std::fmt::Debug for ChatSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ChatSession").field(&self.id()).finish()
    }
}

impl PartialEq for ChatSession {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}
impl Eq for ChatSession {}

/// The session key, as an HMAC state with the key already absorbed (each
/// hash then clones it instead of hashing the key again).
static SESSION_KEY: RwLock<Option<Arc<Hmac<Sha256>>>> = RwLock::new(None);
static EPHEMERAL_WARNED: OnceLock<()> = OnceLock::new();

/// Sets the key used to hash user identities into session ids. `chatobs_runtime::init`
/// calls this with the value of [`SESSION_KEY_ENV`]; call it yourself only if
/// you keep the key elsewhere (a secret manager). Keys shorter than 16 bytes
/// are rejected.
pub fn set_session_key(key: &[u8]) -> Result<(), crate::Error> {
    if key.len() < 16 {
        return Err(crate::Error::Config {
            file: None,
            key: SESSION_KEY_ENV.into(),
            reason: format!(
                "the session key has {} bytes; use at least 16 random bytes (for example `openssl rand -hex 32`)",
                key.len()
            ),
        });
    }
    *SESSION_KEY.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keyed_mac(key)));
    Ok(())
}

fn keyed_mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for Hmac<Sha256>.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    }
}

fn session_key() -> Arc<Hmac<Sha256>> {
    if let Some(k) = SESSION_KEY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
    {
        return k.clone();
    }
    let mut slot = SESSION_KEY.write().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = slot.as_ref() {
        return k.clone();
    }
    let key: Arc<Hmac<Sha256>> = match std::env::var(SESSION_KEY_ENV) {
        Ok(v) if v.len() >= 16 => Arc::new(keyed_mac(v.as_bytes())),
        _ => {
            EPHEMERAL_WARNED.get_or_init(|| {
                tracing::warn!(
                    target: "chatobs",
                    "{SESSION_KEY_ENV} is not set (or shorter than 16 bytes): session ids are hashed with a random per-process key, so other services will not derive the same ids; set {SESSION_KEY_ENV} to the same secret in every service"
                );
            });
            let mut k = [0u8; 32];
            for chunk in k.chunks_mut(8) {
                chunk.copy_from_slice(&crate::ids::new_span_id().0.to_le_bytes());
            }
            Arc::new(keyed_mac(&k))
        }
    };
    *slot = Some(key.clone());
    key
}

/// `cs_` + 32 hex characters of HMAC-SHA256 over `parts` with the session
/// key: the one way an identifier derived from personal data (a phone
/// number, a message id) may leave the process. Every service configured with
/// the same `CHATOBS_SESSION_KEY` derives the same value.
pub fn keyed_hash(parts: &[&str]) -> String {
    let mut mac = Hmac::clone(&session_key());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(&[0x1f]);
        }
        mac.update(p.as_bytes());
    }
    let out = mac.finalize().into_bytes();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(35);
    id.push_str("cs_");
    for b in &out[..16] {
        id.push(HEX[(b >> 4) as usize] as char);
        id.push(HEX[(b & 15) as usize] as char);
    }
    id
}

#[cold]
fn unreachable_hmac() -> ! {
    // Hmac::new_from_slice only fails for fixed-size-key MACs, never for HMAC.
    std::process::abort()
}

impl ChatSession {
    /// A session for a user identity (a phone number, `wa:573001234567`, an
    /// e-mail, a CRM id). The identity is never stored or exported: the
    /// session id is `cs_` + the first 16 bytes of HMAC-SHA256(key, identity)
    /// in hex, with the key from [`SESSION_KEY_ENV`].
    pub fn new(identity: &str) -> ChatSession {
        ChatSession::from_id_unchecked(keyed_hash(&[identity]))
    }

    /// The session of a WhatsApp conversation: the business phone number id
    /// and the user's `wa_id`, hashed together with the session key.
    pub fn for_whatsapp(business_phone_number_id: &str, wa_id: &str) -> ChatSession {
        ChatSession::from_id_unchecked(keyed_hash(&["whatsapp", business_phone_number_id, wa_id]))
    }

    /// A session whose id is already safe to export (received from another
    /// service in `baggage`, or an opaque id you generated). The id must be 1
    /// to 128 characters of `A-Z a-z 0-9 _ - . :`.
    pub fn from_exported_id(id: &str) -> Result<ChatSession, crate::Error> {
        if valid_exported_id(id) {
            Ok(ChatSession::from_id_unchecked(id.to_owned()))
        } else {
            Err(crate::Error::InvalidInput(format!(
                "session id {:?} is not an exported session id: use 1 to 128 characters of A-Z a-z 0-9 _ - . : (hash personal identities with ChatSession::new)",
                crate::redact::truncate_for_error(id)
            )))
        }
    }

    pub(crate) fn from_id_unchecked(id: String) -> ChatSession {
        ChatSession(Arc::new(SessionInner {
            id: id.into_boxed_str(),
            user: None,
            started: SystemTime::now(),
            extensions: Mutex::new(Vec::new()),
            end_hook: OnceLock::new(),
        }))
    }

    /// A conversation of a user: `conversation` is the exported conversation
    /// id (`chat.session_id`, `session.id`), `user` the user's stable key,
    /// exported apart as `user.id` so a backend groups by either. Both must
    /// be exported ids (see [`ChatSession::from_exported_id`]); the
    /// conversation lifecycle (`chatobs-cost`'s `conversation` module) makes
    /// them, a service that receives them in `baggage` rebuilds them.
    pub fn from_exported_ids(conversation: &str, user: &str) -> Result<ChatSession, crate::Error> {
        let mut s = ChatSession::from_exported_id(conversation)?;
        if !valid_exported_id(user) {
            return Err(crate::Error::InvalidInput(format!(
                "user id {:?} is not an exported id: use 1 to 128 characters of A-Z a-z 0-9 _ - . : (hash personal identities with keyed_hash)",
                crate::redact::truncate_for_error(user)
            )));
        }
        if let Some(inner) = Arc::get_mut(&mut s.0) {
            inner.user = Some(user.into());
        }
        Ok(s)
    }

    /// The exported session (conversation) id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The user's stable key (`user.id`), when this conversation has one
    /// apart from its id.
    pub fn user_id(&self) -> Option<&str> {
        self.0.user.as_deref()
    }

    /// When this session object was created.
    pub fn started(&self) -> SystemTime {
        self.0.started
    }

    /// A value of type `T` attached to this session, created on first use.
    /// Modules built on the session (cost ledger, alert state) keep their
    /// per-conversation state here.
    pub fn extension<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut ext = self.0.extensions.lock().unwrap_or_else(|e| e.into_inner());
        let id = TypeId::of::<T>();
        if let Some((_, v)) = ext.iter().find(|(t, _)| *t == id) {
            if let Ok(v) = v.clone().downcast::<T>() {
                return v;
            }
        }
        let v = Arc::new(T::default());
        ext.push((id, v.clone()));
        v
    }

    /// Sets the hook run when each span of this session ends, with `state`
    /// (made once, on the first call; later calls are ignored). The hook adds
    /// attributes to the span as they were when it ended: `chatobs-cost`
    /// writes the conversation's running total on every span with it. Its
    /// `take` part runs on the span's thread, its `write` part on the export
    /// thread ([`crate::span::SessionEndHook`]).
    pub fn set_end_hook(
        &self,
        hook: crate::span::SessionEndHook,
        state: impl FnOnce() -> Arc<dyn Any + Send + Sync>,
    ) {
        if self.0.end_hook.get().is_none() {
            let _ = self.0.end_hook.set((hook, state()));
        }
    }

    /// The value of type `T` attached to this session, if one was created.
    pub fn get_extension<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let ext = self.0.extensions.lock().unwrap_or_else(|e| e.into_inner());
        let id = TypeId::of::<T>();
        ext.iter()
            .find(|(t, _)| *t == id)
            .and_then(|(_, v)| v.clone().downcast::<T>().ok())
    }
}

pub(crate) fn valid_exported_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

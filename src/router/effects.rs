//! What the sans-I/O router asks the I/O layer to do.

use bytes::Bytes;

use super::peer::PeerMessage;

/// A connection on this shard (local, never leaves the shard). A connection carries at most one session
/// at a time; after GOODBYE it may carry a new one (section 4.2).
pub type ConnId = u64;

#[derive(Debug)]
pub enum Effect {
    /// Queue one encoded WAMP message (in the connection's serializer) for the connection.
    Send(ConnId, Bytes),
    /// Queue an EVENT: like `Send`, but a slow consumer's policy may drop it instead.
    Event(ConnId, Bytes),
    /// Flush what is queued for the connection, then close its transport.
    Close(ConnId),
    /// Hand a message to another shard.
    Peer(usize, PeerMessage),
}

/// The effects produced while handling one input, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    pub effects: Vec<Effect>,
}

impl Outbox {
    pub fn send(&mut self, conn: ConnId, frame: Bytes) {
        self.effects.push(Effect::Send(conn, frame));
    }

    pub fn event(&mut self, conn: ConnId, frame: Bytes) {
        self.effects.push(Effect::Event(conn, frame));
    }

    pub fn close(&mut self, conn: ConnId) {
        self.effects.push(Effect::Close(conn));
    }

    pub fn peer(&mut self, shard: usize, message: PeerMessage) {
        self.effects.push(Effect::Peer(shard, message));
    }
}

//! The places under a server's connection caps, and the fair share when they are all taken.
//!
//! A server full of one peer's connections would keep every other peer out for as long as
//! that peer likes: four addresses fill 1,024 places at 256 each. So when the server is
//! full, a peer holding at least two fewer connections than the peer holding the most
//! takes the place of that peer's newest connection. An HTTP connection is asked to close
//! (requests under way get a short grace); one upgraded to a WebSocket, which its handler
//! owns and which has no graceful close at this layer, is cut at once: its stream fails
//! every read and write from then on.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Context;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use crate::peer::Origin;

/// What a connection is told by the table.
#[derive(Default)]
pub(crate) struct Signals {
    /// Close gracefully, to make room for another peer.
    pub(crate) close: Notify,
    /// Close now: to make room for another peer where a graceful close cannot be had, or
    /// because too many connections are closing at once.
    pub(crate) cut: Cut,
}

/// A signal that, once given, stays given: whoever looks later sees it too. The
/// connection's task awaits it, and its stream (which outlives the task when upgraded)
/// checks it on every read and write.
#[derive(Default)]
pub(crate) struct Cut {
    given: AtomicBool,
    task: Notify,
    reads: AtomicWaker,
    writes: AtomicWaker,
}

/// The two ways a stream is polled, each with its own waker to wake.
#[derive(Clone, Copy)]
pub(crate) enum Polling {
    /// A read.
    Reads,
    /// A write, flush or shutdown.
    Writes,
}

impl Cut {
    /// Gives the signal, waking everyone waiting on it.
    pub(crate) fn give(&self) {
        self.given.store(true, Ordering::Release);
        self.task.notify_waiters();
        self.reads.wake();
        self.writes.wake();
    }

    /// Whether the signal has been given.
    pub(crate) fn is_given(&self) -> bool {
        self.given.load(Ordering::Acquire)
    }

    /// Completes once the signal has been given.
    pub(crate) async fn given(&self) {
        loop {
            // A future made before the flag is read is woken by a signal given in between.
            let notified = self.task.notified();
            if self.is_given() {
                return;
            }
            notified.await;
        }
    }

    /// Whether the signal has been given; if not, `cx` is woken when it is. Each of
    /// `polling`'s wakers is kept until the next poll of its kind, like a socket's.
    pub(crate) fn poll_given(&self, polling: Polling, cx: &mut Context<'_>) -> bool {
        if self.is_given() {
            return true;
        }
        match polling {
            Polling::Reads => self.reads.register(cx.waker()),
            Polling::Writes => self.writes.register(cx.waker()),
        }
        // Read again after registering: a signal given in between woke the old waker.
        self.is_given()
    }
}

/// Where a connection stands.
enum Standing {
    /// Open: asked to close gracefully if chosen.
    Open(Arc<Signals>),
    /// Its server side has ended; something upgraded from it (a WebSocket) holds the
    /// place, and is cut at once if chosen.
    Settled(Arc<Signals>),
    /// Asked to close, and not gone yet.
    Closing(Arc<Signals>),
    /// Told to close at once, and not gone yet.
    Cut,
}

impl Standing {
    /// Whether the connection could give its place up (it has not been asked to already).
    fn can_give_way(&self) -> bool {
        matches!(self, Standing::Open(_) | Standing::Settled(_))
    }
}

/// The places of one server; cheap to clone (clones share the table).
#[derive(Clone)]
pub(crate) struct Places {
    table: Arc<Mutex<Table>>,
    max: usize,
    max_per_peer: usize,
}

struct Table {
    /// Places taken, not counting connections asked to close.
    open: usize,
    /// Connections asked to close that have not closed yet.
    closing: usize,
    /// Each origin's connections, closing ones included, by arrival. Only origins with a
    /// connection have an entry, so the map is no larger than the places.
    peers: HashMap<Origin, BTreeMap<u64, Standing>>,
    next: u64,
}

/// One connection's place; given back when dropped.
pub(crate) struct Place {
    places: Places,
    origin: Origin,
    id: u64,
    /// How the table reaches the connection.
    pub(crate) signals: Arc<Signals>,
}

impl Places {
    /// Room for `max` connections, `max_per_peer` of them (closing ones included) from one
    /// origin.
    pub(crate) fn new(max: usize, max_per_peer: usize) -> Self {
        Self {
            table: Arc::new(Mutex::new(Table {
                open: 0,
                closing: 0,
                peers: HashMap::new(),
                next: 0,
            })),
            max: max.max(1),
            max_per_peer: max_per_peer.max(1),
        }
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection from `origin`, if there is room for it, or if a peer
    /// holding at least two more can give one up (see the module's documentation): its
    /// newest connection that can close gracefully, else its newest WebSocket. At most a
    /// quarter of `max` connections may be closing gracefully at once, so open descriptors
    /// stay within `max` and a quarter: past that, the oldest closing connection is cut. (A
    /// cut connection lets go of its descriptor at its next read or write, which its
    /// handler, jsonrpsee's for a WebSocket, attempts at once.)
    pub(crate) fn admit(&self, origin: Origin) -> Option<Place> {
        let mut table = self.table();
        let held = table.peers.get(&origin).map_or(0, BTreeMap::len);
        if held >= self.max_per_peer {
            return None;
        }
        if table.open >= self.max {
            // The peer with the most connections among those with one to give up; ties
            // to the one whose newest such connection came last.
            let (heaviest, most, _) = table
                .peers
                .iter()
                .filter_map(|(origin, conns)| {
                    let newest = conns.iter().rev().find(|(_, s)| s.can_give_way())?;
                    Some((*origin, conns.len(), *newest.0))
                })
                .max_by_key(|&(_, most, newest)| (most, newest))?;
            if most < held + 2 {
                return None;
            }
            // The gentlest to lose: its newest connection that can close gracefully, else
            // its newest WebSocket.
            let conns = table.peers.get(&heaviest)?;
            let newest_where = |wanted: fn(&Standing) -> bool| {
                conns
                    .iter()
                    .rev()
                    .find(|(_, s)| wanted(s))
                    .map(|(id, _)| *id)
            };
            let victim = newest_where(|s| matches!(s, Standing::Open(_)))
                .or_else(|| newest_where(|s| matches!(s, Standing::Settled(_))))?;
            let graceful = matches!(conns.get(&victim), Some(Standing::Open(_)));
            if graceful && table.closing >= (self.max / 4).max(1) {
                table.cut_oldest_closing();
            }
            let standing = table.peers.get_mut(&heaviest)?.get_mut(&victim)?;
            *standing = match standing {
                Standing::Open(signals) => {
                    signals.close.notify_one();
                    Standing::Closing(Arc::clone(signals))
                }
                Standing::Settled(signals) => {
                    signals.cut.give();
                    Standing::Cut
                }
                Standing::Closing(_) | Standing::Cut => return None,
            };
            table.open -= 1;
            table.closing += 1;
        }
        let id = table.next;
        table.next += 1;
        table.open += 1;
        let signals = Arc::new(Signals::default());
        table
            .peers
            .entry(origin)
            .or_default()
            .insert(id, Standing::Open(Arc::clone(&signals)));
        Some(Place {
            places: self.clone(),
            origin,
            id,
            signals,
        })
    }
}

#[cfg(test)]
impl Places {
    /// Connections open and closing.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let table = self.table();
        (table.open, table.closing)
    }
}

impl Table {
    /// Tells the connection asked to close longest ago to close now (and not again); it
    /// stays counted as closing until it has.
    fn cut_oldest_closing(&mut self) {
        let oldest = self
            .peers
            .values()
            .flat_map(|conns| conns.iter())
            .filter_map(|(id, standing)| match standing {
                Standing::Closing(_) => Some(*id),
                _ => None,
            })
            .min();
        let Some(oldest) = oldest else { return };
        for conns in self.peers.values_mut() {
            if let Some(standing) = conns.get_mut(&oldest) {
                if let Standing::Closing(signals) = standing {
                    signals.cut.give();
                }
                *standing = Standing::Cut;
                return;
            }
        }
    }
}

impl Place {
    /// The connection's server side has ended, though its place is still held (by a
    /// WebSocket). One asked to close just before its upgrade went through lives on as the
    /// WebSocket, which no graceful close reaches: it is cut.
    pub(crate) fn settle(&self) {
        let mut table = self.places.table();
        let Some(standing) = table
            .peers
            .get_mut(&self.origin)
            .and_then(|conns| conns.get_mut(&self.id))
        else {
            return;
        };
        *standing = match standing {
            Standing::Open(signals) => Standing::Settled(Arc::clone(signals)),
            Standing::Closing(signals) => {
                signals.cut.give();
                Standing::Cut
            }
            Standing::Settled(_) | Standing::Cut => return,
        };
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut table = self.places.table();
        let Some(conns) = table.peers.get_mut(&self.origin) else {
            return;
        };
        let standing = conns.remove(&self.id);
        if conns.is_empty() {
            table.peers.remove(&self.origin);
        }
        match standing {
            Some(Standing::Closing(_) | Standing::Cut) => {
                table.closing = table.closing.saturating_sub(1);
            }
            Some(_) => table.open = table.open.saturating_sub(1),
            None => {}
        }
    }
}

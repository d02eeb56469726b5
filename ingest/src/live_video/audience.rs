//! Who is watching whom, and how: where a proctor's WHEP request meets the
//! candidate's publish signal.
//!
//! A candidate is *wanted* while at least one subscriber of theirs is alive
//! in the SFU: at [`LiveView::Full`] if any of them opened the candidate,
//! at [`LiveView::Grid`] if all of them only see a grid tile. The
//! candidate's SDK holds `GET /api/v1/live/signal` open with the view it
//! sends now; the answer comes the moment the wanted view differs from it,
//! or when the wait runs out. So a proctor's click reaches the candidate in
//! one round trip, and a candidate nobody watches holds one idle request
//! instead of sending video. Proctors' messages to the candidate ride the
//! same request: a new one answers it at once, and each is handed out until
//! the SDK confirms it (`seen`) or [`MESSAGE_TTL`] passes.
//!
//! A message's id must stay above every id the candidate's SDK has seen,
//! although a candidate's entry here is forgotten once nothing waits in it
//! (and the whole map with the process). So ids are not counted per stream
//! from 1: each is the server's clock in microseconds, raised past the
//! largest id handed out so far ([`MessageIds`]). An id is then larger than
//! any earlier one for the same candidate, after a forgotten stream and
//! after a restart alike (a restart takes far longer than the microseconds
//! a burst of messages can run ahead of the clock).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use invigil_schemas::api::{LiveView, MessageLevel, ProctorMessage};
use invigil_schemas::clock::now_us;
use tokio::sync::Notify;

pub use super::signal_server::Parked;

/// How long an unconfirmed message waits for its candidate.
pub const MESSAGE_TTL: Duration = Duration::from_secs(600);
/// Most messages waiting unread for one candidate; more are refused.
pub const MAX_WAITING_MESSAGES: usize = 20;

/// A message refused because the candidate has not read the ones before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull {
    pub waiting: usize,
}

/// `{test_id}/{candidate_id}`: one candidate's live stream (the Kafka key's
/// form).
pub type StreamKey = str;

pub struct Audience {
    streams: Mutex<HashMap<String, Stream>>,
    /// [`MESSAGE_TTL`], shorter in tests.
    message_ttl: Duration,
    ids: MessageIds,
    /// Bumped by [`Audience::wake_all`]: a wait that began before answers.
    epoch: AtomicU64,
    /// Takes a parked request whose answer is due ([`Audience::park`]).
    resume: OnceLock<Resume>,
}

/// What takes a parked request back once it is to be answered: the lean
/// listener ([`super::signal_server`]) writes the answer. Called outside the
/// audience's lock, from any thread (the SFU's own included).
pub type Resume = Box<dyn Fn(String, Parked) + Send + Sync>;

/// Message ids: microseconds of the Unix clock, strictly increasing across
/// every candidate of this process (see the module's doc). JavaScript reads
/// them exactly: about 1.8·10^15 today, below 2^53 until the year 2255.
#[derive(Debug, Default)]
struct MessageIds {
    last: AtomicU64,
}

impl MessageIds {
    fn next(&self, now_us: u64) -> u64 {
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            let id = now_us.max(last + 1);
            match self.last.compare_exchange_weak(last, id, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return id,
                Err(newer) => last = newer,
            }
        }
    }
}

impl Default for Audience {
    fn default() -> Self {
        Self::with_message_ttl(MESSAGE_TTL)
    }
}

/// Above this many streams, queuing a message first forgets the streams
/// that only held expired messages (candidates that never asked).
const SWEEP_ABOVE: usize = 1024;

/// One candidate's live stream. A held signal waits on `changed`, woken
/// when the view wanted or the newest message changes; it reads both here,
/// under the audience's lock. (A `Notify` rather than a `watch` channel: a
/// held signal is the one thing every candidate keeps here, and a channel's
/// shared state is ~350 bytes against ~50.)
struct Stream {
    /// Subscribers alive in the SFU (or about to be: counted before their
    /// peer is handed over, so the signal goes out while ICE runs), by view.
    full: usize,
    grid: usize,
    /// The newest message's id (0: none yet).
    latest_message: u64,
    /// Held signal requests waiting on this stream now (each a future).
    waiting: usize,
    /// Held requests of the lean listener, parked here without a task: a
    /// few dozen bytes each instead of a task, a future and a timer.
    parked: Vec<Parked>,
    changed: Arc<Notify>,
    /// Unconfirmed messages, oldest first, with when they arrived here.
    messages: VecDeque<(ProctorMessage, Instant)>,
}

impl Stream {
    fn new() -> Self {
        Self {
            full: 0,
            grid: 0,
            latest_message: 0,
            waiting: 0,
            parked: Vec::new(),
            changed: Arc::new(Notify::new()),
            messages: VecDeque::new(),
        }
    }

    /// The view the viewers need: the most demanding one's.
    fn view(&self) -> LiveView {
        if self.full > 0 {
            LiveView::Full
        } else if self.grid > 0 {
            LiveView::Grid
        } else {
            LiveView::None
        }
    }

    fn count(&mut self, view: LiveView) -> Option<&mut usize> {
        match view {
            LiveView::Full => Some(&mut self.full),
            LiveView::Grid => Some(&mut self.grid),
            LiveView::None => None,
        }
    }

    /// Wakes the waiters when the view wanted is no longer `before`, and
    /// hands back the parked requests that sent something else.
    fn settle(&mut self, before: LiveView) -> Vec<Parked> {
        let view = self.view();
        if view == before {
            return Vec::new();
        }
        self.changed.notify_waiters();
        self.unpark(|parked| parked.sending != view)
    }

    /// Takes out the parked requests `due` picks.
    fn unpark(&mut self, due: impl Fn(&Parked) -> bool) -> Vec<Parked> {
        if !self.parked.iter().any(&due) {
            return Vec::new();
        }
        let (out, stay): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut self.parked).into_iter().partition(due);
        self.parked = stay;
        out
    }

    /// The messages after `seen`, oldest first.
    fn messages_after(&self, seen: u64) -> Vec<ProctorMessage> {
        self.messages.iter().map(|(m, _)| m).filter(|m| m.id > seen).cloned().collect()
    }

    /// Drops messages the SDK confirmed (`id <= seen`) and expired ones.
    fn prune(&mut self, seen: u64, ttl: Duration) {
        self.messages.retain(|(message, at)| message.id > seen && at.elapsed() < ttl);
    }

    fn idle(&self) -> bool {
        self.full + self.grid == 0 && self.waiting == 0 && self.parked.is_empty() && self.messages.is_empty()
    }
}

impl Audience {
    pub fn with_message_ttl(message_ttl: Duration) -> Self {
        Self {
            streams: Mutex::default(),
            message_ttl,
            ids: MessageIds::default(),
            epoch: AtomicU64::new(0),
            resume: OnceLock::new(),
        }
    }

    /// A subscriber of `key` wanting `view` arrived.
    pub fn viewer_joined(&self, key: &StreamKey, view: LiveView) {
        let mut streams = self.lock();
        let stream = streams.entry(key.to_owned()).or_insert_with(Stream::new);
        let before = stream.view();
        if let Some(count) = stream.count(view) {
            *count += 1;
        }
        let due = stream.settle(before);
        drop(streams);
        self.resume_all(key, due);
    }

    /// A subscriber of `key` that wanted `view` is gone.
    pub fn viewer_left(&self, key: &StreamKey, view: LiveView) {
        let mut streams = self.lock();
        let Some(stream) = streams.get_mut(key) else { return };
        let before = stream.view();
        if let Some(count) = stream.count(view) {
            *count = count.saturating_sub(1);
        }
        let due = stream.settle(before);
        if stream.idle() {
            streams.remove(key);
        }
        drop(streams);
        self.resume_all(key, due);
    }

    /// How many subscribers `key` has now.
    pub fn viewers(&self, key: &StreamKey) -> usize {
        self.lock().get(key).map_or(0, |s| s.full + s.grid)
    }

    /// Queues a proctor's message for `key` and wakes its held signal;
    /// returns the message's id, or [`QueueFull`] when
    /// [`MAX_WAITING_MESSAGES`] already wait unread (nothing is dropped to
    /// make room: a proctor told "sent" must be able to trust it).
    pub fn post_message(
        &self,
        key: &StreamKey,
        level: MessageLevel,
        text: String,
        from: String,
        sent_at: i64,
    ) -> Result<u64, QueueFull> {
        let mut streams = self.lock();
        if streams.len() > SWEEP_ABOVE {
            let ttl = self.message_ttl;
            streams.retain(|_, stream| {
                stream.prune(0, ttl);
                !stream.idle()
            });
        }
        let stream = streams.entry(key.to_owned()).or_insert_with(Stream::new);
        stream.prune(0, self.message_ttl);
        if stream.messages.len() >= MAX_WAITING_MESSAGES {
            return Err(QueueFull { waiting: stream.messages.len() });
        }
        // Taken under the streams' lock, so one stream's ids rise in the
        // order its messages are queued.
        let id = self.ids.next(now_us());
        stream.messages.push_back((ProctorMessage { id, level, text, from, sent_at }, Instant::now()));
        stream.latest_message = id;
        stream.changed.notify_waiters();
        let due = stream.unpark(|parked| parked.seen < id);
        drop(streams);
        self.resume_all(key, due);
        Ok(id)
    }

    /// Who takes parked requests back; set once, by the lean listener.
    /// Without it nothing is parked ([`Audience::park`] hands it back).
    pub fn set_resume(&self, resume: Resume) {
        let _ = self.resume.set(resume);
    }

    /// Parks a held request on `key` until its answer is due (the view
    /// wanted differs from what it sends, a message after what it has seen,
    /// [`Audience::wake_all`] after its epoch) or its deadline passes
    /// ([`Audience::unpark_where`]). Handed back at once when it is due
    /// already or nothing would take it back.
    pub fn park(&self, key: &StreamKey, parked: Parked) -> Result<(), Parked> {
        if self.resume.get().is_none() {
            return Err(parked);
        }
        let mut streams = self.lock();
        let stream = streams.entry(key.to_owned()).or_insert_with(Stream::new);
        stream.prune(parked.seen, self.message_ttl);
        let due = stream.view() != parked.sending
            || stream.messages.iter().any(|(message, _)| message.id > parked.seen)
            || self.epoch() != parked.epoch
            || parked.deadline <= tokio::time::Instant::now();
        if due {
            if stream.idle() {
                streams.remove(key);
            }
            return Err(parked);
        }
        stream.parked.push(parked);
        Ok(())
    }

    /// Takes out every parked request `due` picks, with its stream's key
    /// (the lean listener's sweep: deadlines passed, candidates gone).
    pub fn unpark_where(&self, due: impl Fn(&Parked) -> bool) -> Vec<(String, Parked)> {
        let mut out = Vec::new();
        let mut streams = self.lock();
        streams.retain(|key, stream| {
            out.extend(stream.unpark(&due).into_iter().map(|parked| (key.clone(), parked)));
            !stream.idle()
        });
        out
    }

    /// The view `key` is wanted at now and the messages after `seen`, with
    /// nothing kept for a stream that is idle then.
    pub fn current(&self, key: &StreamKey, seen: u64) -> (LiveView, Vec<ProctorMessage>) {
        let mut streams = self.lock();
        let Some(stream) = streams.get_mut(key) else { return (LiveView::None, Vec::new()) };
        stream.prune(seen, self.message_ttl);
        let messages = stream.messages_after(seen);
        let view = stream.view();
        if stream.idle() {
            streams.remove(key);
        }
        (view, messages)
    }

    /// Hands parked requests whose answer is due to [`Resume`].
    fn resume_all(&self, key: &StreamKey, due: Vec<Parked>) {
        if due.is_empty() {
            return;
        }
        if let Some(resume) = self.resume.get() {
            for parked in due {
                resume(key.to_owned(), parked);
            }
        }
    }

    /// Where [`Audience::wake_all`] stands; a wait given this answers at
    /// the next call, so read it before checking what the wait depends on.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Answers every held wait now, with the state as it is (the server
    /// stops, or another host serves some candidates now). One wake-up for
    /// all of them, so a held signal carries no watcher of its own for
    /// these rare events.
    pub fn wake_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let mut due = Vec::new();
        for (key, stream) in self.lock().iter_mut() {
            stream.changed.notify_waiters();
            due.extend(stream.unpark(|_| true).into_iter().map(|parked| (key.clone(), parked)));
        }
        for (key, parked) in due {
            self.resume_all(&key, vec![parked]);
        }
    }

    /// The view `key` is wanted at and the messages after `seen`: at once
    /// if the view differs from `sending` or such a message waits,
    /// otherwise once either changes, `wait` has passed, or
    /// [`Audience::wake_all`] ran since `epoch` was read.
    pub async fn wanted_unless(
        &self,
        key: &StreamKey,
        sending: LiveView,
        seen: u64,
        wait: Duration,
        epoch: u64,
    ) -> (LiveView, Vec<ProctorMessage>) {
        let changed = {
            let mut streams = self.lock();
            let stream = streams.entry(key.to_owned()).or_insert_with(Stream::new);
            stream.prune(seen, self.message_ttl);
            stream.waiting += 1;
            Arc::clone(&stream.changed)
        };
        // Counted out however the wait ends, a client gone included (the
        // future is dropped then), and the stream forgotten once idle.
        let _waiting = Waiting { audience: self, key };
        let deadline = tokio::time::Instant::now() + wait;
        // Messages newer than `floor` are news; one that expired before it
        // was handed out raises the floor instead of answering empty-handed.
        let mut floor = seen;
        loop {
            // Registered before the state is read, so a change between the
            // read and the wait still wakes it.
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut streams = self.lock();
                let Some(stream) = streams.get_mut(key) else { return (LiveView::None, Vec::new()) };
                let view = stream.view();
                let timed_out = tokio::time::Instant::now() >= deadline || self.epoch() != epoch;
                if view != sending || stream.latest_message > floor || timed_out {
                    stream.prune(seen, self.message_ttl);
                    let messages = stream.messages_after(seen);
                    if view != sending || !messages.is_empty() || timed_out {
                        return (view, messages);
                    }
                    floor = stream.latest_message;
                    continue;
                }
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Streams with a viewer or a waiting candidate (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stream>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One held signal request counted on its stream while it lives.
struct Waiting<'a> {
    audience: &'a Audience,
    key: &'a StreamKey,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut streams = self.audience.lock();
        if let Some(stream) = streams.get_mut(self.key) {
            stream.waiting = stream.waiting.saturating_sub(1);
            if stream.idle() {
                streams.remove(self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use LiveView::{Full, Grid, None as Nobody};

    const KEY: &str = "exam-1/cand-1";

    fn wait(audience: &Arc<Audience>, sending: LiveView) -> tokio::task::JoinHandle<LiveView> {
        let audience = Arc::clone(audience);
        tokio::spawn(async move {
            audience.wanted_unless(KEY, sending, 0, Duration::from_secs(20), audience.epoch()).await.0
        })
    }

    #[tokio::test]
    async fn a_waiting_candidate_hears_the_first_viewer_at_once_and_the_last_one_leave() {
        let audience = Arc::new(Audience::default());
        let waiting = wait(&audience, Nobody);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let joined = Instant::now();
        audience.viewer_joined(KEY, Full);
        assert_eq!(waiting.await.unwrap(), Full, "the viewer's arrival answers the wait");
        assert!(joined.elapsed() < Duration::from_secs(1));

        // A second viewer, then both leave: only the last one ends the wish.
        audience.viewer_joined(KEY, Full);
        audience.viewer_left(KEY, Full);
        assert_eq!(audience.wanted_unless(KEY, Nobody, 0, Duration::ZERO, audience.epoch()).await.0, Full);
        audience.viewer_left(KEY, Full);
        assert_eq!(audience.wanted_unless(KEY, Full, 0, Duration::from_secs(5), audience.epoch()).await.0, Nobody);
        assert_eq!(audience.tracked(), 0, "nothing is kept for a candidate nobody watches or waits for");
    }

    #[tokio::test]
    async fn a_second_watch_after_the_first_ended_wakes_the_candidate_again() {
        let audience = Arc::new(Audience::default());
        audience.viewer_joined(KEY, Full);
        assert_eq!(wait(&audience, Nobody).await.unwrap(), Full);
        let publishing = wait(&audience, Full);
        tokio::time::sleep(Duration::from_millis(20)).await;
        audience.viewer_left(KEY, Full);
        assert_eq!(publishing.await.unwrap(), Nobody);
        let idle = wait(&audience, Nobody);
        tokio::time::sleep(Duration::from_millis(20)).await;
        audience.viewer_joined(KEY, Full);
        assert_eq!(tokio::time::timeout(Duration::from_secs(2), idle).await.expect("woken").unwrap(), Full);
    }

    #[tokio::test]
    async fn the_most_demanding_viewer_decides_the_view() {
        let audience = Arc::new(Audience::default());
        audience.viewer_joined(KEY, Grid);
        assert_eq!(wait(&audience, Nobody).await.unwrap(), Grid, "a grid tile asks for the small picture");
        let sending_grid = wait(&audience, Grid);
        tokio::time::sleep(Duration::from_millis(20)).await;
        audience.viewer_joined(KEY, Full);
        assert_eq!(sending_grid.await.unwrap(), Full, "opening the candidate asks for everything at once");
        let sending_full = wait(&audience, Full);
        tokio::time::sleep(Duration::from_millis(20)).await;
        audience.viewer_left(KEY, Full);
        assert_eq!(sending_full.await.unwrap(), Grid, "closing it goes back to the grid's picture");
        assert_eq!(audience.viewers(KEY), 1);
        audience.viewer_left(KEY, Grid);
        assert_eq!(audience.wanted_unless(KEY, Grid, 0, Duration::ZERO, audience.epoch()).await.0, Nobody);
    }

    #[tokio::test]
    async fn an_unchanged_state_waits_out_the_time_and_other_candidates_do_not_wake_it() {
        let audience = Audience::default();
        audience.viewer_joined("exam-1/cand-2", Full);
        let started = Instant::now();
        assert_eq!(
            audience.wanted_unless(KEY, Nobody, 0, Duration::from_millis(300), audience.epoch()).await.0,
            Nobody
        );
        assert!(started.elapsed() >= Duration::from_millis(300));
        // A publishing candidate that is still wanted is told so after the wait.
        assert_eq!(
            audience.wanted_unless("exam-1/cand-2", Full, 0, Duration::from_millis(50), audience.epoch()).await.0,
            Full
        );
        assert_eq!(audience.viewers("exam-1/cand-2"), 1);
        assert_eq!(audience.viewers(KEY), 0);
    }

    #[tokio::test]
    async fn waking_all_answers_every_held_wait_with_the_state_as_it_is() {
        let audience = Arc::new(Audience::default());
        audience.viewer_joined("exam-1/cand-2", Full);
        let held: Vec<_> = [(KEY, Nobody), ("exam-1/cand-2", Full)]
            .into_iter()
            .map(|(key, sending)| {
                let audience = Arc::clone(&audience);
                tokio::spawn(async move {
                    let epoch = audience.epoch();
                    audience.wanted_unless(key, sending, 0, Duration::from_secs(20), epoch).await.0
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let woken = Instant::now();
        audience.wake_all();
        let views: Vec<LiveView> = futures_of(held).await;
        assert_eq!(views, vec![Nobody, Full], "each answered with what is wanted now");
        assert!(woken.elapsed() < Duration::from_secs(1));
        // A wait whose epoch is already stale answers at once.
        let stale = audience.epoch() - 1;
        let started = Instant::now();
        audience.wanted_unless(KEY, Nobody, 0, Duration::from_secs(20), stale).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(audience.tracked(), 1, "only the watched stream is kept");
    }

    async fn futures_of(handles: Vec<tokio::task::JoinHandle<LiveView>>) -> Vec<LiveView> {
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }

    /// A parked request (the lean listener's) on a real loopback socket.
    async fn parked(
        audience: &Audience,
        sending: LiveView,
        seen: u64,
        hold: Duration,
    ) -> (Parked, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let deadline = tokio::time::Instant::now() + hold;
        (Parked::for_test(server, sending, seen, deadline, audience.epoch()), client)
    }

    #[tokio::test]
    async fn a_parked_request_comes_back_when_its_answer_is_due_and_not_before() {
        let audience = Audience::default();
        let (due, resumed) = std::sync::mpsc::channel();
        audience.set_resume(Box::new(move |key, parked: Parked| due.send((key, parked.sending)).unwrap()));
        let (request, _client) = parked(&audience, Nobody, 0, Duration::from_secs(20)).await;
        assert!(audience.park(KEY, request).is_ok(), "nothing to say yet: parked");
        audience.viewer_joined("exam-1/cand-2", Full);
        assert!(resumed.try_recv().is_err(), "another candidate's viewer does not wake it");
        audience.viewer_joined(KEY, Grid);
        assert_eq!(resumed.try_recv().unwrap(), (KEY.to_owned(), Nobody), "a viewer answers it at once");

        // Sending what is wanted: parked until a message comes.
        let (request, _client) = parked(&audience, Grid, 0, Duration::from_secs(20)).await;
        assert!(audience.park(KEY, request).is_ok());
        audience.viewer_joined(KEY, Grid);
        assert!(resumed.try_recv().is_err(), "a second grid viewer changes nothing it sends");
        audience.post_message(KEY, MessageLevel::Info, "hello".into(), "p1".into(), 1).unwrap();
        assert_eq!(resumed.try_recv().unwrap().0, KEY);
        let (view, messages) = audience.current(KEY, 0);
        assert_eq!((view, messages.len()), (Grid, 1));

        // Due already: handed back; a stop or a move answers every parked one.
        let (request, _client) = parked(&audience, Nobody, 0, Duration::from_secs(20)).await;
        assert!(audience.park(KEY, request).is_err(), "a view differs: answered now, not parked");
        let (request, _client) = parked(&audience, Grid, u64::MAX, Duration::from_secs(20)).await;
        assert!(audience.park(KEY, request).is_ok());
        audience.wake_all();
        assert_eq!(resumed.try_recv().unwrap().0, KEY);

        // The sweep's side: deadlines passed are taken out, the rest stay.
        let (short, _a) = parked(&audience, Grid, u64::MAX, Duration::from_millis(60)).await;
        let (long, _b) = parked(&audience, Grid, u64::MAX, Duration::from_secs(20)).await;
        assert!(audience.park(KEY, short).is_ok() && audience.park(KEY, long).is_ok());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = tokio::time::Instant::now();
        let out = audience.unpark_where(|p| p.deadline <= now);
        assert_eq!(out.len(), 1, "only the hold that ran out");
        assert!(resumed.try_recv().is_err(), "the sweep answers them itself");
    }

    #[tokio::test]
    async fn a_parked_request_whose_candidate_left_is_seen_gone() {
        let audience = Audience::default();
        let (request, client) = parked(&audience, Nobody, 0, Duration::from_secs(20)).await;
        assert!(!request.is_gone_for_test(), "still there");
        drop(client);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(request.is_gone_for_test(), "closed by the candidate");
    }

    #[tokio::test]
    async fn a_message_answers_the_held_signal_and_waits_until_confirmed() {
        let audience = Arc::new(Audience::default());
        let held = {
            let audience = Arc::clone(&audience);
            tokio::spawn(async move {
                audience.wanted_unless(KEY, Nobody, 0, Duration::from_secs(20), audience.epoch()).await
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        let sent = Instant::now();
        let id = audience
            .post_message(KEY, MessageLevel::Warning, "Eyes on your screen, please".into(), "p1".into(), 7)
            .unwrap();
        let (view, messages) = held.await.unwrap();
        assert!(sent.elapsed() < Duration::from_secs(1));
        assert_eq!(view, Nobody, "a message alone asks for no video");
        assert_eq!(messages.len(), 1);
        assert_eq!((messages[0].id, messages[0].level, messages[0].from.as_str()), (id, MessageLevel::Warning, "p1"));
        // Not confirmed yet: handed out again; confirmed: gone, and nothing
        // is kept for a candidate nobody watches.
        let again = audience.wanted_unless(KEY, Nobody, 0, Duration::ZERO, audience.epoch()).await.1;
        assert_eq!(again.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
        let second =
            audience.post_message(KEY, MessageLevel::Info, "Five minutes left".into(), "p1".into(), 8).unwrap();
        let after_first = audience.wanted_unless(KEY, Nobody, id, Duration::ZERO, audience.epoch()).await.1;
        assert_eq!(after_first.iter().map(|m| m.id).collect::<Vec<_>>(), vec![second]);
        assert!(audience
            .wanted_unless(KEY, Nobody, second, Duration::from_millis(50), audience.epoch())
            .await
            .1
            .is_empty());
        assert_eq!(audience.tracked(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_a_message_instead_of_dropping_one() {
        let audience = Audience::default();
        let ids: Vec<u64> = (0..MAX_WAITING_MESSAGES)
            .map(|i| audience.post_message(KEY, MessageLevel::Info, format!("note {i}"), "p1".into(), 1).unwrap())
            .collect();
        let refused = audience.post_message(KEY, MessageLevel::Info, "one more".into(), "p1".into(), 1);
        assert_eq!(refused, Err(QueueFull { waiting: MAX_WAITING_MESSAGES }));
        let waiting = audience.wanted_unless(KEY, Nobody, 0, Duration::ZERO, audience.epoch()).await.1;
        assert_eq!(waiting.iter().map(|m| m.id).collect::<Vec<_>>(), ids, "every accepted message, in order");
        // Read: room again.
        audience.wanted_unless(KEY, Nobody, ids[ids.len() - 1], Duration::ZERO, audience.epoch()).await;
        assert!(audience.post_message(KEY, MessageLevel::Info, "one more".into(), "p1".into(), 1).is_ok());
    }

    /// The outside check's sequence: once the candidate confirmed
    /// everything, nothing is kept for them — and the next message must
    /// still get an id above the one they confirmed.
    #[tokio::test]
    async fn a_message_after_everything_was_confirmed_still_reaches_the_candidate() {
        let audience = Audience::default();
        let first = audience.post_message(KEY, MessageLevel::Info, "first".into(), "p1".into(), 1).unwrap();
        assert_eq!(audience.wanted_unless(KEY, Nobody, 0, Duration::ZERO, audience.epoch()).await.1.len(), 1);
        assert!(audience.wanted_unless(KEY, Nobody, first, Duration::ZERO, audience.epoch()).await.1.is_empty());
        assert_eq!(audience.tracked(), 0, "confirmed and idle: forgotten");
        let second = audience.post_message(KEY, MessageLevel::Info, "second".into(), "p1".into(), 2).unwrap();
        assert!(second > first, "ids keep rising after the stream was forgotten ({first} then {second})");
        let shown = audience.wanted_unless(KEY, Nobody, first, Duration::ZERO, audience.epoch()).await.1;
        assert_eq!(shown.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["second"]);
    }

    #[test]
    fn message_ids_follow_the_clock_and_never_repeat() {
        let ids = MessageIds::default();
        assert_eq!(ids.next(1_000), 1_000);
        assert_eq!(ids.next(1_000), 1_001, "the same microsecond: one more");
        assert_eq!(ids.next(900), 1_002, "a clock stepping back does not lower them");
        assert_eq!(ids.next(5_000), 5_000);
        // A new process starts from the clock, above the old one's ids.
        assert!(MessageIds::default().next(now_us()) > 1_700_000_000_000_000);
    }

    #[tokio::test]
    async fn messages_nobody_asked_for_expire_and_their_streams_are_forgotten() {
        let audience = Audience::with_message_ttl(Duration::from_millis(100));
        for i in 0..=SWEEP_ABOVE {
            audience
                .post_message(&format!("exam-1/absent-{i}"), MessageLevel::Info, "hello".into(), "p1".into(), 1)
                .unwrap();
        }
        assert_eq!(audience.tracked(), SWEEP_ABOVE + 1, "unexpired messages wait for their candidates");
        tokio::time::sleep(Duration::from_millis(150)).await;
        audience.post_message(KEY, MessageLevel::Info, "still here?".into(), "p1".into(), 2).unwrap();
        assert_eq!(audience.tracked(), 1, "only the stream with a live message is kept");
        // An expired message is not handed out, and does not answer a hold.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let started = Instant::now();
        let (_, messages) = audience.wanted_unless(KEY, Nobody, 0, Duration::from_millis(200), audience.epoch()).await;
        assert!(messages.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(200), "held for its whole wait");
    }

    /// What a step of the property test does to one of two candidates.
    #[derive(Debug, Clone)]
    enum Step {
        /// A proctor sends a message.
        Send,
        /// The SDK asks; `lost`: the answer never reaches it (a dropped
        /// connection, a page closed mid-request).
        Ask {
            lost: bool,
        },
        /// The page reloads: the SDK starts again from what it stored.
        Reload,
        Join(LiveView),
        Leave(LiveView),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = (usize, Step)> {
        use proptest::prelude::*;
        let view = prop_oneof![Just(Full), Just(Grid)];
        let step = prop_oneof![
            4 => Just(Step::Send),
            4 => any::<bool>().prop_map(|lost| Step::Ask { lost }),
            1 => Just(Step::Reload),
            1 => view.clone().prop_map(Step::Join),
            1 => view.prop_map(Step::Leave),
        ];
        (0..2usize, step)
    }

    /// The SDK's side as `session.js` keeps it: `seen` in memory, stored
    /// before a message is shown; shown messages are recorded.
    #[derive(Default)]
    struct Sdk {
        seen: u64,
        stored_seen: u64,
        shown: Vec<u64>,
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Every accepted message is shown (and so recorded) exactly once,
        /// in order, whatever sends, answers, lost answers, reloads and
        /// viewers come and go in between.
        #[test]
        fn every_accepted_message_is_shown_exactly_once(steps in proptest::collection::vec(step(), 1..120)) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let audience = Audience::default();
            let keys = ["exam-1/cand-a", "exam-1/cand-b"];
            let mut sdks: [Sdk; 2] = Default::default();
            let mut accepted: [Vec<u64>; 2] = Default::default();
            let mut viewers: [Vec<LiveView>; 2] = Default::default();
            let mut last_id = 0;
            let ask = |audience: &Audience, key: &str, seen: u64| {
                runtime.block_on(audience.wanted_unless(key, Nobody, seen, Duration::ZERO, audience.epoch())).1
            };
            let show = |sdk: &mut Sdk, messages: Vec<ProctorMessage>| {
                for message in messages {
                    if message.id <= sdk.seen {
                        continue;
                    }
                    sdk.seen = message.id;
                    sdk.stored_seen = message.id;
                    sdk.shown.push(message.id);
                }
            };
            for (who, step) in steps {
                let key = keys[who];
                match step {
                    Step::Send => match audience.post_message(key, MessageLevel::Info, "hi".into(), "p1".into(), 1) {
                        Ok(id) => {
                            proptest::prop_assert!(id > last_id, "ids rise: {} after {}", id, last_id);
                            last_id = id;
                            accepted[who].push(id);
                        }
                        Err(full) => proptest::prop_assert_eq!(full.waiting, MAX_WAITING_MESSAGES),
                    },
                    Step::Ask { lost } => {
                        let messages = ask(&audience, key, sdks[who].seen);
                        if !lost {
                            show(&mut sdks[who], messages);
                        }
                    }
                    Step::Reload => sdks[who].seen = sdks[who].stored_seen,
                    Step::Join(view) => {
                        audience.viewer_joined(key, view);
                        viewers[who].push(view);
                    }
                    Step::Leave(view) => {
                        if let Some(at) = viewers[who].iter().position(|v| *v == view) {
                            viewers[who].remove(at);
                            audience.viewer_left(key, view);
                        }
                    }
                }
            }
            for who in 0..2 {
                let messages = ask(&audience, keys[who], sdks[who].seen);
                show(&mut sdks[who], messages);
                proptest::prop_assert_eq!(&sdks[who].shown, &accepted[who]);
                let more = ask(&audience, keys[who], sdks[who].seen);
                proptest::prop_assert!(more.is_empty(), "nothing is handed out twice");
            }
        }
    }
}

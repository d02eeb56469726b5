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
//! instead of sending video.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use invigil_schemas::api::LiveView;
use tokio::sync::watch;

/// `{test_id}/{candidate_id}`: one candidate's live stream (the Kafka key's
/// form).
pub type StreamKey = str;

#[derive(Default)]
pub struct Audience {
    streams: Mutex<HashMap<String, Stream>>,
}

struct Stream {
    /// Subscribers alive in the SFU (or about to be: counted before their
    /// peer is handed over, so the signal goes out while ICE runs), by view.
    full: usize,
    grid: usize,
    wanted: watch::Sender<LiveView>,
}

impl Stream {
    fn new() -> Self {
        Self { full: 0, grid: 0, wanted: watch::Sender::new(LiveView::None) }
    }

    fn count(&mut self, view: LiveView) -> Option<&mut usize> {
        match view {
            LiveView::Full => Some(&mut self.full),
            LiveView::Grid => Some(&mut self.grid),
            LiveView::None => None,
        }
    }

    /// Tells waiters the view the viewers now need.
    fn settle(&self) {
        let view = if self.full > 0 {
            LiveView::Full
        } else if self.grid > 0 {
            LiveView::Grid
        } else {
            LiveView::None
        };
        self.wanted.send_if_modified(|wanted| std::mem::replace(wanted, view) != view);
    }

    fn idle(&self) -> bool {
        self.full + self.grid == 0 && self.wanted.receiver_count() == 0
    }
}

impl Audience {
    /// A subscriber of `key` wanting `view` arrived.
    pub fn viewer_joined(&self, key: &StreamKey, view: LiveView) {
        let mut streams = self.lock();
        let stream = streams.entry(key.to_owned()).or_insert_with(Stream::new);
        if let Some(count) = stream.count(view) {
            *count += 1;
        }
        stream.settle();
    }

    /// A subscriber of `key` that wanted `view` is gone.
    pub fn viewer_left(&self, key: &StreamKey, view: LiveView) {
        let mut streams = self.lock();
        let Some(stream) = streams.get_mut(key) else { return };
        if let Some(count) = stream.count(view) {
            *count = count.saturating_sub(1);
        }
        stream.settle();
        if stream.idle() {
            streams.remove(key);
        }
    }

    /// How many subscribers `key` has now.
    pub fn viewers(&self, key: &StreamKey) -> usize {
        self.lock().get(key).map_or(0, |s| s.full + s.grid)
    }

    /// The view `key` is wanted at: at once if that differs from `sending`,
    /// otherwise once it changes or `wait` has passed (then the unchanged
    /// answer).
    pub async fn wanted_unless(&self, key: &StreamKey, sending: LiveView, wait: Duration) -> LiveView {
        let mut receiver = {
            let mut streams = self.lock();
            streams.entry(key.to_owned()).or_insert_with(Stream::new).wanted.subscribe()
        };
        let answer = match tokio::time::timeout(wait, receiver.wait_for(|wanted| *wanted != sending)).await {
            Ok(Ok(wanted)) => *wanted,
            // The sender lives in the map while any receiver does.
            Ok(Err(_)) => LiveView::None,
            Err(_) => sending,
        };
        drop(receiver);
        let mut streams = self.lock();
        if streams.get(key).is_some_and(Stream::idle) {
            streams.remove(key);
        }
        answer
    }

    /// Streams with a viewer or a waiting candidate (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stream>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
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
        tokio::spawn(async move { audience.wanted_unless(KEY, sending, Duration::from_secs(20)).await })
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
        assert_eq!(audience.wanted_unless(KEY, Nobody, Duration::ZERO).await, Full);
        audience.viewer_left(KEY, Full);
        assert_eq!(audience.wanted_unless(KEY, Full, Duration::from_secs(5)).await, Nobody);
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
        assert_eq!(audience.wanted_unless(KEY, Grid, Duration::ZERO).await, Nobody);
    }

    #[tokio::test]
    async fn an_unchanged_state_waits_out_the_time_and_other_candidates_do_not_wake_it() {
        let audience = Audience::default();
        audience.viewer_joined("exam-1/cand-2", Full);
        let started = Instant::now();
        assert_eq!(audience.wanted_unless(KEY, Nobody, Duration::from_millis(300)).await, Nobody);
        assert!(started.elapsed() >= Duration::from_millis(300));
        // A publishing candidate that is still wanted is told so after the wait.
        assert_eq!(audience.wanted_unless("exam-1/cand-2", Full, Duration::from_millis(50)).await, Full);
        assert_eq!(audience.viewers("exam-1/cand-2"), 1);
        assert_eq!(audience.viewers(KEY), 0);
    }
}

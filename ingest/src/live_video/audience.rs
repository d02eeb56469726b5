//! Who is watching whom: where a proctor's WHEP request meets the
//! candidate's publish signal.
//!
//! A candidate is *wanted* while at least one subscriber of theirs is alive
//! in the SFU. The candidate's SDK holds `GET /api/v1/live/signal` open with
//! the state it is in (publishing or not); the answer comes the moment the
//! wanted state differs from it, or when the wait runs out. So a proctor's
//! click reaches the candidate in one round trip, and a candidate nobody
//! watches holds one idle request instead of sending video.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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
    /// peer is handed over, so the signal goes out while ICE runs).
    viewers: usize,
    wanted: watch::Sender<bool>,
}

impl Stream {
    fn new() -> Self {
        Self { viewers: 0, wanted: watch::Sender::new(false) }
    }
}

impl Audience {
    /// A subscriber of `key` arrived: the candidate is wanted from now on.
    pub fn viewer_joined(&self, key: &StreamKey) {
        let mut streams = self.lock();
        let stream = streams.entry(key.to_owned()).or_insert_with(Stream::new);
        stream.viewers += 1;
        stream.wanted.send_replace(true);
    }

    /// A subscriber of `key` is gone; the last one takes the wish away.
    pub fn viewer_left(&self, key: &StreamKey) {
        let mut streams = self.lock();
        let Some(stream) = streams.get_mut(key) else { return };
        stream.viewers = stream.viewers.saturating_sub(1);
        if stream.viewers == 0 {
            stream.wanted.send_replace(false);
            if stream.wanted.receiver_count() == 0 {
                streams.remove(key);
            }
        }
    }

    /// How many subscribers `key` has now.
    pub fn viewers(&self, key: &StreamKey) -> usize {
        self.lock().get(key).map_or(0, |s| s.viewers)
    }

    /// Whether `key` is wanted: at once if that differs from `publishing`,
    /// otherwise once it changes or `wait` has passed (then the unchanged
    /// answer).
    pub async fn wanted_unless(&self, key: &StreamKey, publishing: bool, wait: Duration) -> bool {
        let mut receiver = {
            let mut streams = self.lock();
            streams.entry(key.to_owned()).or_insert_with(Stream::new).wanted.subscribe()
        };
        let answer = match tokio::time::timeout(wait, receiver.wait_for(|wanted| *wanted != publishing)).await {
            Ok(Ok(wanted)) => *wanted,
            // The sender lives in the map while any receiver does.
            Ok(Err(_)) => false,
            Err(_) => publishing,
        };
        drop(receiver);
        let mut streams = self.lock();
        if streams.get(key).is_some_and(|s| s.viewers == 0 && s.wanted.receiver_count() == 0) {
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

    #[tokio::test]
    async fn a_waiting_candidate_hears_the_first_viewer_at_once_and_the_last_one_leave() {
        let audience = Arc::new(Audience::default());
        let waiting = {
            let audience = Arc::clone(&audience);
            tokio::spawn(async move { audience.wanted_unless("exam-1/cand-1", false, Duration::from_secs(20)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let joined = Instant::now();
        audience.viewer_joined("exam-1/cand-1");
        assert!(waiting.await.unwrap(), "the viewer's arrival answers the wait");
        assert!(joined.elapsed() < Duration::from_secs(1));

        // A second viewer, then both leave: only the last one ends the wish.
        audience.viewer_joined("exam-1/cand-1");
        audience.viewer_left("exam-1/cand-1");
        assert!(audience.wanted_unless("exam-1/cand-1", false, Duration::ZERO).await);
        audience.viewer_left("exam-1/cand-1");
        assert!(!audience.wanted_unless("exam-1/cand-1", true, Duration::from_secs(5)).await);
        assert_eq!(audience.tracked(), 0, "nothing is kept for a candidate nobody watches or waits for");
    }

    #[tokio::test]
    async fn a_second_watch_after_the_first_ended_wakes_the_candidate_again() {
        let audience = Arc::new(Audience::default());
        let key = "exam-1/cand-1";
        let wait = |publishing| {
            let audience = Arc::clone(&audience);
            tokio::spawn(async move { audience.wanted_unless(key, publishing, Duration::from_secs(20)).await })
        };
        audience.viewer_joined(key);
        assert!(wait(false).await.unwrap());
        let publishing = wait(true);
        tokio::time::sleep(Duration::from_millis(20)).await;
        audience.viewer_left(key);
        assert!(!publishing.await.unwrap());
        let idle = wait(false);
        tokio::time::sleep(Duration::from_millis(20)).await;
        audience.viewer_joined(key);
        assert!(tokio::time::timeout(Duration::from_secs(2), idle).await.expect("woken").unwrap());
    }

    #[tokio::test]
    async fn an_unchanged_state_waits_out_the_time_and_other_candidates_do_not_wake_it() {
        let audience = Audience::default();
        audience.viewer_joined("exam-1/cand-2");
        let started = Instant::now();
        let wanted = audience.wanted_unless("exam-1/cand-1", false, Duration::from_millis(300)).await;
        assert!(!wanted);
        assert!(started.elapsed() >= Duration::from_millis(300));
        // A publishing candidate that is still wanted is told so after the wait.
        assert!(audience.wanted_unless("exam-1/cand-2", true, Duration::from_millis(50)).await);
        assert_eq!(audience.viewers("exam-1/cand-2"), 1);
        assert_eq!(audience.viewers("exam-1/cand-1"), 0);
    }
}

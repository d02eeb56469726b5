//! The SFU with str0m peers on loopback in place of browsers (the browser
//! suite's `live.test.js` covers Chromium): frames reach the subscribers of
//! their own stream and no other, a late subscriber gets a keyframe asked
//! of the publisher, and once the last subscriber ends its session the
//! publisher — told to stop by the signal, or not — is cut off.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use invigil_ingest::live_video::loopback::LoopbackPeer;
use invigil_ingest::live_video::{LiveVideo, LiveVideoSettings, Owner, SfuTimings};
use invigil_schemas::api::LiveView;
use invigil_schemas::claims::StaffRole;
use invigil_testkit::front_door::{Options, Running};
use invigil_testkit::kafka::unique_topic;
use invigil_testkit::tokens;

const FPS: u32 = 30;

fn start() -> LiveVideo {
    let timings =
        SfuTimings { connect_within: Duration::from_secs(10), unwatched_publisher_grace: Duration::from_millis(600) };
    LiveVideo::start_with(LiveVideoSettings::default(), timings).expect("the SFU starts on loopback")
}

/// A subscriber of `key` for `staff`, negotiated; its session id.
fn subscribe(live: &LiveVideo, key: &str, staff: &str) -> (LoopbackPeer, String) {
    subscribe_at(live, key, staff, LiveView::Full)
}

fn subscribe_at(live: &LiveVideo, key: &str, staff: &str, view: LiveView) -> (LoopbackPeer, String) {
    let (mut peer, offer, pending) = LoopbackPeer::subscriber().unwrap();
    let (answer, id) = live.subscribe(key, &offer, staff, view).expect("a subscriber is answered");
    peer.accept(pending, &answer).unwrap();
    (peer, id)
}

fn publish(live: &LiveVideo, key: &str) -> LoopbackPeer {
    let (mut peer, offer, pending) = LoopbackPeer::publisher().unwrap();
    let (answer, _) = live.publish(key, &offer).expect("a watched candidate may publish");
    peer.accept(pending, &answer).unwrap();
    peer
}

/// Turns every peer (publishers sending `fps` frames a second) until `done`
/// holds or `within` passes; whether it held.
fn drive(
    peers: &mut [&mut LoopbackPeer],
    publishers: usize,
    within: Duration,
    done: impl Fn(&[&mut LoopbackPeer]) -> bool,
) -> bool {
    let started = Instant::now();
    let mut buf = vec![0u8; 2000];
    let mut frame = 0u64;
    let mut next_frame = started;
    while started.elapsed() < within {
        let now = Instant::now();
        if now >= next_frame {
            for peer in peers.iter_mut().take(publishers) {
                // Camera and screen.
                peer.send_frame_on(0, frame, FPS, 1_000);
                peer.send_frame_on(1, frame, FPS, 1_000);
            }
            frame += 1;
            next_frame += Duration::from_secs(1) / FPS;
        }
        for peer in peers.iter_mut() {
            peer.turn(now, &mut buf);
        }
        if done(peers) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

#[test]
fn frames_reach_only_their_own_streams_subscribers() {
    let live = start();
    let (mut watching_a, _) = subscribe(&live, "exam-1/cand-a", "p1");
    let (mut watching_b, _) = subscribe(&live, "exam-1/cand-b", "p2");
    let mut cand_a = publish(&live, "exam-1/cand-a");
    // Only cand-a sends: 2 s of frames.
    let mut peers = [&mut cand_a, &mut watching_a, &mut watching_b];
    let arrived = drive(&mut peers, 1, Duration::from_secs(10), |p| p[1].frames_in >= 30);
    assert!(arrived, "cand-a's subscriber got {} frames", peers[1].frames_in);
    assert!(peers[2].connected, "cand-b's subscriber is connected too");
    assert_eq!(peers[2].frames_in, 0, "nothing of cand-a reaches cand-b's subscriber");
    assert_eq!(live.stats().publishers.load(Relaxed), 1);
    assert_eq!(live.stats().subscribers.load(Relaxed), 2);
}

#[test]
fn a_late_subscriber_gets_a_keyframe_asked_for_and_frames() {
    let live = start();
    let (mut first, _) = subscribe(&live, "exam-1/cand-a", "p1");
    let mut cand_a = publish(&live, "exam-1/cand-a");
    let mut peers = [&mut cand_a, &mut first];
    assert!(
        drive(&mut peers, 1, Duration::from_secs(10), |p| p[1].frames_in >= 10),
        "the first subscriber gets frames"
    );
    // Past the spacing of keyframe requests (500 ms), so the next one is
    // the late subscriber's own.
    drive(&mut peers, 1, Duration::from_millis(700), |_| false);
    let asked_before = live.stats().keyframe_requests.load(Relaxed);
    let (mut late, _) = subscribe(&live, "exam-1/cand-a", "p2");
    let mut peers = [&mut cand_a, &mut first, &mut late];
    assert!(drive(&mut peers, 1, Duration::from_secs(10), |p| p[2].frames_in >= 10), "the late subscriber gets frames");
    assert!(
        live.stats().keyframe_requests.load(Relaxed) > asked_before,
        "the late subscriber's arrival asked the publisher for a keyframe"
    );
}

#[test]
fn the_last_viewer_leaving_ends_the_wish_and_then_the_publisher() {
    let live = start();
    let key = "exam-1/cand-a";
    let (mut watching, id) = subscribe(&live, key, "p1");
    let mut cand_a = publish(&live, key);
    let mut peers = [&mut cand_a, &mut watching];
    assert!(drive(&mut peers, 1, Duration::from_secs(10), |p| p[1].frames_in >= 5));
    assert_eq!(live.audience.viewers(key), 1);

    // Only the session's owner ends it.
    assert!(!live.end(&id, &Owner::Staff("p2".into())), "another proctor cannot end p1's session");
    assert!(live.end(&id, &Owner::Staff("p1".into())));
    assert!(!live.end(&id, &Owner::Staff("p1".into())), "an ended session is gone");

    // The publisher keeps sending, as an SDK that missed the signal would:
    // the viewer count drops at once, the publisher is cut after the grace.
    let stats = live.stats();
    let mut peers = [&mut cand_a];
    assert!(drive(&mut peers, 1, Duration::from_secs(10), |_| live.audience.viewers(key) == 0));
    let cut = drive(&mut peers, 1, Duration::from_secs(10), |_| stats.publishers.load(Relaxed) == 0);
    assert!(cut, "an unwatched publisher is disconnected after the grace");
    let received = stats.media_bytes_in.load(Relaxed);
    drive(&mut peers, 1, Duration::from_millis(500), |_| false);
    assert_eq!(stats.media_bytes_in.load(Relaxed), received, "nothing more is taken from it");
    // And it may not publish again while nobody watches.
    let (_, offer, _) = LoopbackPeer::publisher().unwrap();
    let refused = live.publish(key, &offer).unwrap_err();
    assert_eq!(refused.body.error.code, invigil_schemas::api::ErrorCode::Conflict);
}

#[test]
fn a_grid_tile_gets_the_camera_only_and_an_opened_view_everything() {
    let live = start();
    let key = "exam-1/cand-a";
    let (mut tile, _) = subscribe_at(&live, key, "p1", LiveView::Grid);
    let (mut opened, _) = subscribe_at(&live, key, "p2", LiveView::Full);
    let mut cand_a = publish(&live, key);
    let mut peers = [&mut cand_a, &mut tile, &mut opened];
    let both = drive(&mut peers, 1, Duration::from_secs(10), |p| {
        p[1].frames_by_track[0] >= 20 && p[2].frames_by_track[0] >= 20 && p[2].frames_by_track[1] >= 20
    });
    assert!(both, "tile {:?}, opened {:?}", peers[1].frames_by_track, peers[2].frames_by_track);
    assert_eq!(peers[1].frames_by_track[1], 0, "no screen frame reaches a grid tile");
}

/// A candidate's held signal must not hold a graceful shutdown: it is
/// answered (unchanged) the moment the server starts to stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_signal_is_answered_when_the_server_stops() {
    let ingest = Running::start(Options::shared(unique_topic("live-stop"))).await;
    let url = ingest.url("/api/v1/live/signal?publishing=none");
    let token = tokens::candidate("exam-1", "cand-1");
    let held = tokio::spawn(async move {
        let answer = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
        let status = answer.status().as_u16();
        let cache = answer.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
        (status, cache, answer.json::<serde_json::Value>().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "nothing changed, so the signal is held");
    let stopping = Instant::now();
    ingest.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(5), "stopped in {:?}", stopping.elapsed());
    let (status, cache, body) = held.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(cache.as_deref(), Some("no-store"), "no cache may keep a signal");
    assert_eq!(body["publish"], false);
    assert_eq!(body["view"], "none");
}

#[test]
fn a_full_sfu_refuses_more_peers_with_503() {
    let settings = LiveVideoSettings { max_peers: 2, ..LiveVideoSettings::default() };
    let live = LiveVideo::start_with(settings, SfuTimings::default()).unwrap();
    let (mut first, _) = subscribe(&live, "exam-1/cand-a", "p1");
    let mut cand_a = publish(&live, "exam-1/cand-a");
    // The loop counts a peer once it has taken it.
    let mut peers = [&mut cand_a, &mut first];
    assert!(drive(&mut peers, 0, Duration::from_secs(5), |_| live.stats().publishers.load(Relaxed) == 1));
    let (_, offer, _) = LoopbackPeer::subscriber().unwrap();
    let refused = live.subscribe("exam-1/cand-a", &offer, "p2", LiveView::Full).unwrap_err();
    assert_eq!(refused.body.error.code, invigil_schemas::api::ErrorCode::Unavailable);
    assert!(refused.retry_after_secs.is_some());
    assert_eq!(live.audience.viewers("exam-1/cand-a"), 1, "the refused viewer is not counted");
}

/// A test whose configuration has `live_video: false`: its candidates hear
/// live video is disabled, and nobody may watch or write to them; another
/// test is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_can_turn_live_video_off() {
    let ingest = Running::start(Options::shared(unique_topic("live-off"))).await;
    let http = reqwest::Client::new();
    let admin = tokens::staff(StaffRole::Admin, &[]);
    let current: serde_json::Value =
        http.get(ingest.url("/api/v1/admin/config")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    let mut document = current["document"].clone();
    document["tests"]["exam-quiet"] = serde_json::json!({"live_video": false});
    let put = http.put(ingest.url("/api/v1/admin/config")).bearer_auth(&admin).json(&document).send().await.unwrap();
    assert_eq!(put.status(), 200);

    let signal = |test: &str| {
        let request = http
            .get(ingest.url("/api/v1/live/signal?publishing=none&wait_ms=0"))
            .bearer_auth(tokens::candidate(test, "cand-1"));
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    assert_eq!(signal("exam-quiet").await["enabled"], false);
    assert_eq!(signal("exam-1").await["enabled"], true);
    let message = http
        .post(ingest.url("/api/v1/live/tests/exam-quiet/candidates/cand-1/messages"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(message.status(), 404);
    let body: serde_json::Value = message.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("live_video"), "{body}");
    ingest.stop().await;
}

/// The outside check's sequence over HTTP: a proctor writes, the candidate
/// confirms, the proctor writes again — the second message must reach the
/// candidate (it once got the first one's id back and was never shown).
/// Also: a message sent as anything but JSON is a 415, and a candidate with
/// a full queue of unread messages makes the next one a 409, not a silent
/// loss of the oldest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_reaches_the_candidate_and_a_refused_one_says_so() {
    let ingest = Running::start(Options::shared(unique_topic("live-messages"))).await;
    let http = reqwest::Client::new();
    let admin = tokens::staff(StaffRole::Admin, &[]);
    let candidate = tokens::candidate("exam-1", "cand-msg");
    let url = ingest.url("/api/v1/live/tests/exam-1/candidates/cand-msg/messages");
    let send = |text: &str| {
        let request = http.post(&url).bearer_auth(&admin).json(&serde_json::json!({"text": text, "level": "info"}));
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let signal = |seen: u64| {
        let request = http
            .get(ingest.url(&format!("/api/v1/live/signal?publishing=none&wait_ms=0&seen={seen}")))
            .bearer_auth(&candidate);
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let texts = |signal: &serde_json::Value| -> Vec<String> {
        signal["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect()
    };

    let (status, first) = send("first").await;
    assert_eq!(status, 202, "{first}");
    let first = first["id"].as_u64().unwrap();
    assert_eq!(texts(&signal(0).await), ["first"]);
    assert!(texts(&signal(first).await).is_empty(), "confirmed");
    let (status, second) = send("second").await;
    assert_eq!(status, 202);
    let second = second["id"].as_u64().unwrap();
    assert!(second > first, "ids increase per candidate: {first} then {second}");
    let shown = signal(first).await;
    assert_eq!(texts(&shown), ["second"], "{shown}");
    assert_eq!(shown["messages"][0]["from"], "admin-1");
    signal(second).await;

    let plain = http
        .post(&url)
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body(r#"{"text": "sent as text"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    let body: serde_json::Value = plain.json().await.unwrap();
    assert_eq!(body["error"]["field"], "content-type", "{body}");

    let mut last = second;
    for n in 0..invigil_ingest::live_video::audience::MAX_WAITING_MESSAGES {
        let (status, accepted) = send(&format!("note {n}")).await;
        assert_eq!(status, 202, "{accepted}");
        last = accepted["id"].as_u64().unwrap();
    }
    let (status, refused) = send("one too many").await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("unread"), "{refused}");
    let waiting = signal(second).await;
    assert_eq!(texts(&waiting).len(), invigil_ingest::live_video::audience::MAX_WAITING_MESSAGES, "none was dropped");
    assert!(texts(&signal(last).await).is_empty());
    assert_eq!(send("room again").await.0, 202);
    ingest.stop().await;
}

/// One candidate can hold one publisher session: offers racing from one
/// candidate (a tampered client, or retries) leave exactly one alive in the
/// SFU and one resource a `DELETE` finds — the last taken — so one client
/// cannot use up the peers every candidate shares.
#[test]
fn a_candidate_holds_at_most_one_publisher_session() {
    let live = std::sync::Arc::new(start());
    let key = "exam-1/cand-greedy";
    let (mut viewer, _) = subscribe(&live, key, "p1");
    let offers: Vec<_> = (0..16).map(|_| LoopbackPeer::publisher().unwrap()).collect();
    let answered: Vec<(LoopbackPeer, String)> = std::thread::scope(|scope| {
        let racing: Vec<_> = offers
            .into_iter()
            .map(|(mut peer, offer, pending)| {
                let live = std::sync::Arc::clone(&live);
                scope.spawn(move || {
                    let (answer, id) = live.publish(key, &offer).expect("a watched candidate may publish");
                    peer.accept(pending, &answer).unwrap();
                    (peer, id)
                })
            })
            .collect();
        racing.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let (mut peers, ids): (Vec<LoopbackPeer>, Vec<String>) = answered.into_iter().unzip();
    let mut all: Vec<&mut LoopbackPeer> = peers.iter_mut().collect();
    all.push(&mut viewer);
    let publishers = all.len() - 1;
    // Every offer was answered; once the SFU has swept, one publisher is left.
    let one_left = drive(&mut all, publishers, Duration::from_secs(5), |_| live.stats().publishers.load(Relaxed) == 1);
    assert!(one_left, "publishers alive: {}", live.stats().publishers.load(Relaxed));
    let owner = Owner::Candidate(key.to_owned());
    let alive: Vec<&String> = ids.iter().filter(|id| live.end(id, &owner)).collect();
    assert_eq!(alive.len(), 1, "exactly one publisher session is left to end: {alive:?}");
    assert!(drive(&mut all, 0, Duration::from_secs(5), |_| live.stats().publishers.load(Relaxed) == 0));
}

/// A receive-only (WHEP-shaped) offer at the WHIP door, and a send-only one
/// at WHEP's: 400 naming the body, no session.
#[test]
fn an_offer_in_the_wrong_direction_is_refused_naming_the_body() {
    let live = start();
    let key = "exam-1/cand-wrong-way";
    let (_viewer, _) = subscribe(&live, key, "p1");
    let (_, receive_only, _) = LoopbackPeer::subscriber().unwrap();
    let refused = live.publish(key, &receive_only).unwrap_err();
    assert_eq!(refused.body.error.code, invigil_schemas::api::ErrorCode::InvalidRequest);
    assert_eq!(refused.body.error.field.as_deref(), Some("body"));
    assert!(refused.body.error.message.contains("recvonly"), "{}", refused.body.error.message);
    let (_, send_only, _) = LoopbackPeer::publisher().unwrap();
    let refused = live.subscribe(key, &send_only, "p2", LiveView::Full).unwrap_err();
    assert_eq!(refused.body.error.field.as_deref(), Some("body"));
    assert_eq!(live.audience.viewers(key), 1, "the refused viewer is not counted");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Random interleavings of offers and ends from three watched
    /// candidates: each holds at most one publisher session, always its
    /// newest; only its owner can end it, once; nobody can end a replaced
    /// one or another candidate's.
    #[test]
    fn publisher_sessions_stay_one_per_candidate_whatever_the_order(
        steps in proptest::collection::vec((0..3usize, proptest::prelude::any::<bool>(), 0..3usize, 0..4usize), 1..24)
    ) {
        let live = start();
        let keys = ["exam-1/cand-p0", "exam-1/cand-p1", "exam-1/cand-p2"];
        let _viewers: Vec<_> = keys.iter().map(|key| subscribe(&live, key, "p1")).collect();
        let mut issued: [Vec<String>; 3] = Default::default();
        let mut newest: [Option<String>; 3] = Default::default();
        for (who, offer, caller, pick) in steps {
            if offer {
                let (_, sdp, _) = LoopbackPeer::publisher().unwrap();
                let (_, id) = live.publish(keys[who], &sdp).expect("a watched candidate may publish");
                issued[who].push(id.clone());
                newest[who] = Some(id);
                continue;
            }
            let Some(id) = issued[who].get(pick % issued[who].len().max(1)).cloned() else { continue };
            let ended = live.end(&id, &Owner::Candidate(keys[caller].to_owned()));
            let expected = caller == who && newest[who].as_deref() == Some(id.as_str());
            proptest::prop_assert_eq!(ended, expected, "end {} of {} by {}", id, keys[who], keys[caller]);
            if ended {
                newest[who] = None;
            }
        }
        for who in 0..3 {
            // Every replaced or ended session is gone; the newest, if any, ends once.
            for id in &issued[who] {
                let alive = newest[who].as_deref() == Some(id.as_str());
                proptest::prop_assert_eq!(live.end(id, &Owner::Candidate(keys[who].to_owned())), alive);
            }
        }
    }
}

//! A str0m peer on its own loopback socket, standing in for a browser: a
//! candidate's publisher or a proctor's subscriber with the m-lines of
//! [`super::LAYOUT`]. `invigil bench live` drives hundreds of them against
//! the SFU; the integration tests drive a few. Not used by the server.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

pub struct LoopbackPeer {
    rtc: Rtc,
    socket: UdpSocket,
    due: Instant,
    /// The m-lines, in [`super::LAYOUT`]'s order.
    mids: Vec<Mid>,
    publisher: bool,
    /// Video frames received (subscribers), and per m-line.
    pub frames_in: u64,
    pub frames_by_track: [u64; 3],
    /// Whether ICE and DTLS are up.
    pub connected: bool,
}

/// A peer, its SDP offer and what accepting the answer needs.
pub type Offered = (LoopbackPeer, String, SdpPendingOffer);

impl LoopbackPeer {
    /// A candidate: sends camera, screen and microphone.
    pub fn publisher() -> anyhow::Result<Offered> {
        Self::new(Direction::SendOnly)
    }

    /// A proctor: receives them.
    pub fn subscriber() -> anyhow::Result<Offered> {
        Self::new(Direction::RecvOnly)
    }

    fn new(direction: Direction) -> anyhow::Result<Offered> {
        str0m::crypto::from_feature_flags().install_process_default();
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_nonblocking(true)?;
        let mut rtc = Rtc::builder().clear_codecs().enable_vp8(true).enable_opus(true, false).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(socket.local_addr()?, "udp")?);
        let mut change = rtc.sdp_api();
        let mids: Vec<Mid> =
            super::LAYOUT.iter().map(|kind| change.add_media(*kind, direction, None, None, None)).collect();
        let (offer, pending) = change.apply().ok_or_else(|| anyhow::anyhow!("str0m made no offer"))?;
        let publisher = direction == Direction::SendOnly;
        let peer = Self {
            rtc,
            socket,
            due: Instant::now(),
            mids,
            publisher,
            frames_in: 0,
            frames_by_track: [0; 3],
            connected: false,
        };
        Ok((peer, offer.to_sdp_string(), pending))
    }

    /// Takes the SFU's answer to this peer's offer.
    pub fn accept(&mut self, pending: SdpPendingOffer, answer: &str) -> anyhow::Result<()> {
        let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| anyhow::anyhow!("the SFU's answer: {e}"))?;
        self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| anyhow::anyhow!("accepting the answer: {e}"))?;
        Ok(())
    }

    /// Reads what arrived, drives time, sends what is due. Never blocks.
    pub fn turn(&mut self, now: Instant, buf: &mut [u8]) {
        let Ok(local) = self.socket.local_addr() else { return };
        loop {
            match self.socket.recv_from(buf) {
                Ok((n, source)) => {
                    let Ok(contents) = buf[..n].try_into() else { continue };
                    let input =
                        Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: local, contents });
                    let _ = self.rtc.handle_input(input);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        if self.due <= now {
            let _ = self.rtc.handle_input(Input::Timeout(now));
        }
        while let Ok(output) = self.rtc.poll_output() {
            match output {
                Output::Timeout(at) => {
                    self.due = at;
                    return;
                }
                Output::Transmit(t) => {
                    let _ = self.socket.send_to(&t.contents, t.destination);
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaData(data)) if data.params.spec().codec.is_video() => {
                    self.frames_in += 1;
                    if let Some(track) = self.mids.iter().position(|m| *m == data.mid) {
                        self.frames_by_track[track] += 1;
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Publishers: writes video frame number `frame` (of `fps` a second)
    /// of `bytes` synthetic bytes, a keyframe once a second. `false` if the
    /// track cannot take it yet (not connected).
    pub fn send_frame(&mut self, frame: u64, fps: u32, bytes: usize) -> bool {
        self.send_frame_on(0, frame, fps, bytes)
    }

    /// [`LoopbackPeer::send_frame`] on video m-line `track` (0 camera, 1 screen).
    pub fn send_frame_on(&mut self, track: usize, frame: u64, fps: u32, bytes: usize) -> bool {
        let Some(&mid) = self.mids.get(track).filter(|_| self.publisher) else { return false };
        let Some(writer) = self.rtc.writer(mid) else { return false };
        let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else { return false };
        let mut data = vec![0x5a_u8; bytes.max(16)];
        // A VP8 frame's first bit is 0 for a keyframe.
        data[0] = if frame % u64::from(fps) == 0 { 0x10 } else { 0x11 };
        let time = MediaTime::from_90khz(frame * 90_000 / u64::from(fps));
        writer.write(pt, Instant::now(), time, data).is_ok()
    }

    pub fn is_alive(&self) -> bool {
        self.rtc.is_alive()
    }
}

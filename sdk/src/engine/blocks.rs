//! What the candidate's devices say (permissions, fullscreen, the screen
//! share) and the overlay that follows from them. Only these block the
//! test (SPEC §5): [`crate::compliance`] turns the devices into reasons; this
//! module records the changes, tells the host, and moves setup to running
//! once nothing blocks.

use invigil_schemas::event::{
    Blocked, CaptureKind, Device, Fullscreen, FullscreenState, Permission, PermissionState, ScreenShareEnded, Unblocked,
};

use super::captures::kind_index;
use super::{Engine, Phase};
use crate::compliance;
use crate::protocol::{Command, Notice};

impl Engine {
    pub(super) fn on_permission(&mut self, now: i64, device: Device, state: PermissionState) {
        let slot = match device {
            Device::Camera => &mut self.devices.camera,
            Device::Microphone => &mut self.devices.microphone,
            Device::Screen => &mut self.devices.screen,
        };
        // A grant after a revocation stays a grant; a denial of something
        // granted is a revocation.
        let state = match (*slot, state) {
            (Some(PermissionState::Granted), PermissionState::Denied) => PermissionState::Revoked,
            (_, state) => state,
        };
        // Sharing again after a stopped share is a grant of what was granted
        // already: no new permission event, but the share is on.
        if device == Device::Screen && state == PermissionState::Granted {
            self.devices.screen_share_stopped = false;
        }
        if *slot != Some(state) {
            *slot = Some(state);
            self.record(now, Permission { device, state }.into());
        }
    }

    pub(super) fn on_fullscreen(&mut self, now: i64, state: FullscreenState) {
        let entered = state == FullscreenState::Entered;
        if self.devices.fullscreen != Some(entered) {
            self.devices.fullscreen = Some(entered);
            self.record(now, Fullscreen { state }.into());
        }
    }

    pub(super) fn on_screen_share_ended(&mut self, now: i64) {
        if !self.devices.screen_share_stopped {
            self.devices.screen_share_stopped = true;
            self.record(now, ScreenShareEnded {}.into());
        }
    }

    /// Recomputes the overlay; in `Running`, records and announces changes.
    pub(super) fn update_blocks(&mut self, now: i64) {
        let setup = match self.phase {
            Phase::Setup => true,
            Phase::Running => false,
            _ => return,
        };
        let reasons = compliance::reasons(&self.devices, &self.config, setup);
        if setup && reasons.is_empty() {
            self.enter_running(now);
            return;
        }
        if reasons == self.shown {
            return;
        }
        // The host hears of every block, setup included; the timeline records
        // only those of a running session (setup is not time lost to a block).
        for reason in self.shown.clone() {
            if reasons.contains(&reason) {
                continue;
            }
            if !setup {
                self.record(now, Unblocked { reason }.into());
            }
            self.notify("unblock", Notice { reason: Some(reason), ..Notice::default() });
        }
        for &reason in &reasons {
            if self.shown.contains(&reason) {
                continue;
            }
            if !setup {
                self.record(now, Blocked { reason }.into());
            }
            self.notify("block", Notice { reason: Some(reason), ..Notice::default() });
        }
        if !setup {
            if !reasons.is_empty() && self.captures.audio_recording {
                self.captures.audio_recording = false;
                self.commands.push(Command::PauseAudio);
            }
            if reasons.is_empty() {
                // Resume on the grid, but start a fresh audio chunk now.
                self.captures.due[kind_index(CaptureKind::Audio)] = now;
            }
        }
        let checks = compliance::reasons(&compliance::Devices::default(), &self.config, true);
        self.commands.push(Command::Overlay { reasons: reasons.clone(), setup, checks });
        self.shown = reasons;
    }

    /// Setup is over: nothing blocks. Captures and segments start now.
    fn enter_running(&mut self, now: i64) {
        self.phase = Phase::Running;
        self.captures.due = [now; 3];
        self.captures.segment_due = [now; 2];
        self.captures.face_check_due = now;
        self.commands.push(Command::Overlay { reasons: Vec::new(), setup: false, checks: Vec::new() });
        for reason in std::mem::take(&mut self.shown) {
            self.notify("unblock", Notice { reason: Some(reason), ..Notice::default() });
        }
        self.notify_status();
    }
}

//! What blocks the test (SPEC §5.3): compliance problems only, each switched
//! by the test's `blocking` config. Infrastructure trouble is never here.

use crate::config::SdkConfig;
use invigil_schemas::event::{BlockReason, PermissionState};

/// What the page has granted so far. `None`: not answered yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    pub camera: Option<PermissionState>,
    pub microphone: Option<PermissionState>,
    pub screen: Option<PermissionState>,
    /// The candidate stopped sharing (after having granted it).
    pub screen_share_stopped: bool,
    pub fullscreen: Option<bool>,
    /// The browser lacks something the SDK cannot work without.
    pub unsupported: bool,
    /// Screens attached, as last reported (0: not yet).
    pub screens: u32,
}

impl Devices {
    pub fn camera_live(&self) -> bool {
        self.camera == Some(PermissionState::Granted)
    }

    pub fn microphone_live(&self) -> bool {
        self.microphone == Some(PermissionState::Granted)
    }

    pub fn screen_live(&self) -> bool {
        self.screen == Some(PermissionState::Granted) && !self.screen_share_stopped
    }
}

/// The reasons to block, in a fixed order. During `setup` an unanswered
/// request is a reason too: the candidate has to act before proctoring
/// starts; afterwards only a denial, a revocation or an exit blocks.
pub fn reasons(devices: &Devices, config: &SdkConfig, setup: bool) -> Vec<BlockReason> {
    if devices.unsupported {
        return vec![BlockReason::UnsupportedBrowser];
    }
    let blocking = &config.blocking;
    let refused = |state: Option<PermissionState>| match state {
        None => setup,
        Some(PermissionState::Granted) => false,
        Some(PermissionState::Denied | PermissionState::Revoked) => blocking.on_permission_denied,
    };
    let mut out = Vec::new();
    if refused(devices.camera) {
        out.push(BlockReason::CameraPermission);
    }
    if refused(devices.microphone) {
        out.push(BlockReason::MicrophonePermission);
    }
    if config.capture_intervals.screen_ms > 0 {
        if refused(devices.screen) {
            out.push(BlockReason::ScreenPermission);
        } else if devices.screen_share_stopped && blocking.on_screen_share_stop {
            out.push(BlockReason::ScreenShareStopped);
        }
    }
    if blocking.on_fullscreen_exit && devices.fullscreen != Some(true) && (setup || devices.fullscreen.is_some()) {
        out.push(BlockReason::FullscreenExited);
    }
    if blocking.on_second_screen && (devices.screens > 1 || (setup && devices.screens == 0)) {
        out.push(BlockReason::SecondScreen);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use PermissionState::*;

    fn all_granted() -> Devices {
        Devices {
            camera: Some(Granted),
            microphone: Some(Granted),
            screen: Some(Granted),
            fullscreen: Some(true),
            ..Devices::default()
        }
    }

    #[test]
    fn setup_waits_for_every_answer() {
        let config = SdkConfig::default();
        assert_eq!(
            reasons(&Devices::default(), &config, true),
            [
                BlockReason::CameraPermission,
                BlockReason::MicrophonePermission,
                BlockReason::ScreenPermission,
                BlockReason::FullscreenExited
            ]
        );
        assert!(reasons(&all_granted(), &config, true).is_empty());
    }

    #[test]
    fn running_blocks_on_compliance_only_as_configured() {
        let mut config = SdkConfig::default();
        let mut devices = all_granted();
        devices.camera = Some(Revoked);
        devices.fullscreen = Some(false);
        assert_eq!(reasons(&devices, &config, false), [BlockReason::CameraPermission, BlockReason::FullscreenExited]);
        config.blocking.on_permission_denied = false;
        config.blocking.on_fullscreen_exit = false;
        assert!(reasons(&devices, &config, false).is_empty());

        let mut devices = all_granted();
        devices.screen_share_stopped = true;
        assert_eq!(reasons(&devices, &SdkConfig::default(), false), [BlockReason::ScreenShareStopped]);
        config.capture_intervals.screen_ms = 0;
        assert!(reasons(&devices, &config, false).is_empty(), "no screenshots configured: sharing is not required");

        devices.unsupported = true;
        assert_eq!(reasons(&devices, &config, false), [BlockReason::UnsupportedBrowser]);
    }

    #[test]
    fn a_second_screen_blocks_only_where_the_test_says_so() {
        let mut devices = all_granted();
        devices.screens = 2;
        assert!(reasons(&devices, &SdkConfig::default(), false).is_empty(), "a signal by default, never a block");
        let mut config = SdkConfig::default();
        config.blocking.on_second_screen = true;
        assert_eq!(reasons(&devices, &config, false), [BlockReason::SecondScreen]);
        devices.screens = 1;
        assert!(reasons(&devices, &config, false).is_empty());
        // Setup waits for the first report of the screens.
        devices.screens = 0;
        assert_eq!(reasons(&devices, &config, true), [BlockReason::SecondScreen]);
        assert!(reasons(&devices, &config, false).is_empty());
    }
}

//! Hints about the computer an exam runs on, read from an `environment`
//! event's evidence: a virtual machine's graphics adapter, a renderer with
//! no GPU behind it, a screen at a hypervisor's default size, a machine
//! sized like a small VM, a shared screen that is not the one the page is
//! on, a pointer that cannot hover.
//!
//! A hint is never a verdict. Each has honest explanations (a school's lab
//! image is a VM; Linux without GPU drivers renders in software; remote
//! desktops carry accessibility tools), so the pipeline scores a hint only
//! when the test gives it a weight, and the review page shows it beside the
//! evidence it rests on, verbatim. The rules live here so the pipeline and
//! the review page read the same ones and an SDK never has to change for a
//! rule to.

use serde::Serialize;

use crate::event::{Environment, PointerKind, ShareSurface};
use crate::wire_names;

/// One thing the evidence suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// The graphics adapter is a hypervisor's (VMware, VirtualBox,
    /// Parallels, Hyper-V, QEMU/virtio, Citrix).
    VirtualGpu,
    /// Pixels are drawn by the CPU (SwiftShader, llvmpipe, Microsoft Basic
    /// Render Driver): no GPU, or one the browser will not use.
    SoftwareRenderer,
    /// The screen is exactly a hypervisor's default size (800×600,
    /// 1024×768).
    VmScreenSize,
    /// Two cores or fewer and 2 GiB or less: the shape of a small VM.
    SmallMachine,
    /// The shared screen's shape is not the page's screen's: the share
    /// shows another monitor, or a remote session's.
    ShareOtherScreen,
    /// The primary pointer cannot hover (a touch screen, or a remote
    /// client on a tablet).
    NoHover,
}

wire_names!(Hint {
    VirtualGpu => "virtual_gpu",
    SoftwareRenderer => "software_renderer",
    VmScreenSize => "vm_screen_size",
    SmallMachine => "small_machine",
    ShareOtherScreen => "share_other_screen",
    NoHover => "no_hover",
});

impl Hint {
    pub const ALL: [Hint; 6] = [
        Hint::VirtualGpu,
        Hint::SoftwareRenderer,
        Hint::VmScreenSize,
        Hint::SmallMachine,
        Hint::ShareOtherScreen,
        Hint::NoHover,
    ];

    /// The `environment` fields the hint is read from: what the review page
    /// shows beside it.
    pub fn evidence(self) -> &'static [&'static str] {
        match self {
            Hint::VirtualGpu | Hint::SoftwareRenderer => &["renderer", "vendor"],
            Hint::VmScreenSize => &["screen_w", "screen_h"],
            Hint::SmallMachine => &["cores", "memory_mb"],
            Hint::ShareOtherScreen => &["share_surface", "share_w", "share_h", "screen_w", "screen_h"],
            Hint::NoHover => &["pointer", "hover"],
        }
    }

    /// Who else the hint fires for: the review page says it beside the
    /// hint, and the README's "How a score is made" lists them.
    pub fn known_false_positives(self) -> &'static str {
        match self {
            Hint::VirtualGpu => "a school's or employer's lab image or virtual desktop (VDI) is a VM by design",
            Hint::SoftwareRenderer => {
                "Linux or old computers without GPU drivers, a GPU the browser blocklists, remote desktop sessions used for accessibility"
            }
            Hint::VmScreenSize => "old monitors and projectors at 1024×768, low-vision users who lower the resolution",
            Hint::SmallMachine => "inexpensive laptops and Chromebooks; some browsers hide or round these figures",
            Hint::ShareOtherScreen => "a screen with a notch or a docked taskbar shared at another scale; a portrait screen",
            Hint::NoHover => "tablets and touch-screen laptops used as the main device; switch access and other assistive pointers",
        }
    }
}

/// Substrings (lowercase) of renderer or vendor strings a hypervisor's
/// virtual display adapter reports.
const VIRTUAL_GPUS: [&str; 10] = [
    "vmware",
    "virtualbox",
    "parallels",
    "microsoft basic render",
    "hyper-v",
    "virgl",
    "virtio",
    "qxl",
    "red hat",
    "citrix",
];

/// Substrings (lowercase) of renderers that draw on the CPU.
const SOFTWARE_RENDERERS: [&str; 5] = ["swiftshader", "llvmpipe", "softpipe", "microsoft basic render", "software"];

/// Screen sizes hypervisors start a guest at.
const VM_SCREEN_SIZES: [(u32, u32); 2] = [(800, 600), (1024, 768)];

/// The hints `env` supports, each once, in [`Hint::ALL`]'s order.
pub fn hints(env: &Environment) -> Vec<Hint> {
    let graphics = [env.renderer.to_ascii_lowercase(), env.vendor.to_ascii_lowercase()];
    let names_any = |needles: &[&str]| graphics.iter().any(|text| needles.iter().any(|n| text.contains(n)));
    let known = |value: u32| value > 0;
    let small = known(env.cores) && env.cores <= 2 && known(env.memory_mb) && env.memory_mb <= 2_048;
    Hint::ALL
        .into_iter()
        .filter(|hint| match hint {
            Hint::VirtualGpu => names_any(&VIRTUAL_GPUS),
            Hint::SoftwareRenderer => names_any(&SOFTWARE_RENDERERS),
            Hint::VmScreenSize => VM_SCREEN_SIZES.contains(&(env.screen_w, env.screen_h)),
            Hint::SmallMachine => small,
            Hint::ShareOtherScreen => share_is_another_shape(env),
            Hint::NoHover => env.pointer != PointerKind::Fine && !env.hover,
        })
        .collect()
}

/// A whole-screen share whose aspect ratio differs from the page's screen
/// by more than 3 %. Ratios, not sizes: a share is in device pixels and
/// `screen` in CSS pixels, and the scale between them is the candidate's
/// zoom, not a signal.
fn share_is_another_shape(env: &Environment) -> bool {
    if env.share_surface != Some(ShareSurface::Monitor) || env.share_h == 0 || env.screen_h == 0 {
        return false;
    }
    let share = u64::from(env.share_w) * u64::from(env.screen_h);
    let screen = u64::from(env.screen_w) * u64::from(env.share_h);
    share.abs_diff(screen) * 100 > screen * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laptop() -> Environment {
        Environment {
            renderer: "ANGLE (Intel, Intel(R) UHD Graphics 620 Direct3D11 vs_5_0 ps_5_0, D3D11)".into(),
            vendor: "Google Inc. (Intel)".into(),
            cores: 8,
            memory_mb: 8_192,
            screen_w: 1_920,
            screen_h: 1_080,
            window_w: 1_920,
            window_h: 1_040,
            pointer: PointerKind::Fine,
            hover: true,
            share_surface: Some(ShareSurface::Monitor),
            share_w: 2_880,
            share_h: 1_620,
        }
    }

    #[test]
    fn an_ordinary_laptop_sharing_its_own_screen_at_another_scale_has_no_hint() {
        assert_eq!(hints(&laptop()), vec![]);
    }

    #[test]
    fn each_rule_fires_on_its_evidence_alone() {
        let cases: [(Hint, fn(&mut Environment)); 7] = [
            (Hint::VirtualGpu, |e| e.renderer = "VMware SVGA 3D".into()),
            (Hint::VirtualGpu, |e| e.vendor = "VirtualBox".into()),
            (Hint::SoftwareRenderer, |e| {
                e.renderer = "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)".into()
            }),
            (Hint::VmScreenSize, |e| (e.screen_w, e.screen_h, e.share_w, e.share_h) = (1_024, 768, 1_024, 768)),
            (Hint::SmallMachine, |e| (e.cores, e.memory_mb) = (2, 2_048)),
            (Hint::ShareOtherScreen, |e| (e.share_w, e.share_h) = (2_560, 1_440 + 200)),
            (Hint::NoHover, |e| (e.pointer, e.hover) = (PointerKind::Coarse, false)),
        ];
        for (hint, change) in cases {
            let mut env = laptop();
            change(&mut env);
            assert_eq!(hints(&env), vec![hint], "{env:?}");
        }
    }

    #[test]
    fn hyper_v_is_both_a_virtual_and_a_software_adapter() {
        let env = Environment { renderer: "Microsoft Basic Render Driver".into(), ..laptop() };
        assert_eq!(hints(&env), vec![Hint::VirtualGpu, Hint::SoftwareRenderer]);
    }

    #[test]
    fn unknown_figures_and_shares_of_a_window_say_nothing() {
        let env = Environment {
            cores: 0,
            memory_mb: 0,
            share_surface: Some(ShareSurface::Window),
            share_w: 640,
            share_h: 480,
            ..laptop()
        };
        assert_eq!(hints(&env), vec![]);
        let env = Environment { cores: 2, memory_mb: 0, share_surface: None, share_w: 0, share_h: 0, ..laptop() };
        assert_eq!(hints(&env), vec![], "memory unknown: not a small machine on cores alone");
    }

    #[test]
    fn every_hint_names_evidence_fields_the_event_has() {
        let fields = crate::event::EventKind::Environment.template();
        for hint in Hint::ALL {
            for field in hint.evidence() {
                assert!(fields.contains_key(*field), "{hint:?}: {field}");
            }
            assert!(!hint.known_false_positives().is_empty());
        }
    }
}

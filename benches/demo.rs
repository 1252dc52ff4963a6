//! Speed of the demo sequence's CPU renderer, single-threaded: one 640×480 frame of motion (face
//! at the frame's parameters over the background, ground-truth landmarks) into a reused buffer.
//! Then the demo source's frame (the same plus sensor noise), as the tracker gets it.
//! The sequence is built from the embedded portrait and the committed models before timing.
//!
//!     cargo bench --bench demo

mod common;

use std::hint::black_box;

use criterion::Criterion;
use facetrack::align::detect::FaceDetector;
use facetrack::capture::demo::{
    DemoSequence, LOOP_FRAMES, STILL_FRAMES, astronaut_photo, fit_photo,
};
use facetrack::capture::{DemoSource, Frame, FrameSource, RgbImage};
use facetrack::fit::{Cascade, ParamUpdate};

fn main() {
    let (model, predictor) = common::model_and_predictor();
    let regressors = |name| ParamUpdate::Regression(common::regressors(name));
    let (cold, track) = (regressors("parm.bin"), regressors("parm_track.bin"));
    let photo = astronaut_photo().expect("embedded photo");
    let fitted = fit_photo(
        &photo,
        &mut FaceDetector::new().expect("detector"),
        &Cascade::new(&model, &predictor, &cold),
        Some(&Cascade::new(&model, &predictor, &track)),
    )
    .expect("fit of the portrait");
    let mut seq = DemoSequence::new(model, photo, &fitted).expect("demo sequence");
    let mut source = DemoSource::new(seq.clone(), STILL_FRAMES);
    let mut source_frame = Frame::default();
    let mut frame = RgbImage::default();
    let mut truth = seq.truth_buffer();

    let mut c = Criterion::default().configure_from_args();
    let mut index = STILL_FRAMES;
    c.bench_function("demo_frame", |b| {
        b.iter(|| {
            // Step through the motion so that every pose is timed, not one.
            index = STILL_FRAMES + (index + 7 - STILL_FRAMES) % (LOOP_FRAMES - STILL_FRAMES);
            seq.frame(black_box(index), &mut frame, &mut truth);
            black_box(&frame.data[0]);
        })
    });
    // What the tracker is fed: the same, plus the sensor noise.
    c.bench_function("demo_source_frame", |b| {
        b.iter(|| {
            source.next_frame(&mut source_frame).expect("demo frame");
            black_box(&source_frame.image.data[0]);
        })
    });
    c.final_summary();
}

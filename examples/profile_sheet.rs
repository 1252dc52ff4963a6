//! A contact sheet of face profiling: a few AFLW2000-3D faces of varied yaw (rows), each as cropped
//! and then turned to yaw −90°, −60°, −30°, 0°, 30°, 60° and 90° (columns), with the 68
//! ground-truth landmarks of each result drawn as red dots. Prints the time one profile takes.
//!
//!     cargo run --release --example profile_sheet -- ../shared/data OUT.png [ROW,ROW,…]
//!
//! The optional list keeps only those rows (0-based), for a closer look.

use std::path::Path;
use std::time::Instant;

use facetrack::fit::face_profiling::{FaceProfiler, crop_face};
use facetrack::fit::training_set::FaceSample;

#[path = "shared/validation_faces.rs"]
mod validation_faces;
use validation_faces::validation_faces;

const FACE_PX: f64 = 100.0;
const TARGET_YAWS: [f64; 7] = [-90.0, -60.0, -30.0, 0.0, 30.0, 60.0, 90.0];
/// Source yaws (degrees) the rows are picked near.
const ROW_YAWS: [f64; 6] = [-75.0, -45.0, -15.0, 5.0, 35.0, 70.0];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, out, only) = match args.as_slice() {
        [data, out] => (data, out, None),
        [data, out, rows] => (data, out, Some(rows.clone())),
        _ => return Err("usage: profile_sheet DATA_DIR OUT.png [ROW,ROW,…]".into()),
    };
    let (model, faces) = validation_faces(Path::new(data))?;
    let rows: Vec<&FaceSample> = ROW_YAWS
        .iter()
        .filter_map(|&y| {
            faces.iter().min_by(|a, b| {
                let d = |f: &FaceSample| (f.truth.yaw().to_degrees() - y).abs();
                d(a).total_cmp(&d(b))
            })
        })
        .enumerate()
        .filter(|(i, _)| {
            only.as_ref()
                .is_none_or(|o| o.split(',').any(|r| r.trim() == i.to_string()))
        })
        .map(|(_, f)| f)
        .collect();

    let profiler = FaceProfiler::new(&model);
    let cell = (2.0 * FACE_PX).round() as u32;
    let cols = 1 + TARGET_YAWS.len() as u32;
    let mut sheet = image::RgbImage::new(cols * cell, rows.len() as u32 * cell);
    let (mut spent, mut made) = (0.0, 0usize);
    for (r, face) in rows.iter().enumerate() {
        println!(
            "row {r}: {} yaw {:.0}° pitch {:.0}°",
            face.name,
            face.truth.yaw().to_degrees(),
            face.truth.pitch().to_degrees()
        );
        let mut cells = vec![crop_face(face, &model, FACE_PX)];
        // The face at its own pose should come back as its crop, up to the mesh's resampling.
        let own = profiler.profile(face, face.truth.yaw(), face.truth.pitch(), FACE_PX);
        if let (Some(a), Some(b)) = (&cells[0], &own) {
            let (n, sum) = a
                .image
                .pixels()
                .iter()
                .zip(b.image.pixels())
                .fold((0usize, 0u64), |(n, s), (&x, &y)| {
                    (n + 1, s + u64::from(x.abs_diff(y)))
                });
            println!(
                "  own pose against the crop: mean abs difference {:.2} grey levels",
                sum as f64 / n as f64
            );
        }
        for &deg in &TARGET_YAWS {
            let t = Instant::now();
            let s = profiler.profile(face, deg.to_radians(), face.truth.pitch(), FACE_PX);
            spent += t.elapsed().as_secs_f64();
            made += 1;
            cells.push(s);
        }
        for (c, s) in cells.iter().enumerate() {
            if let Some(s) = s {
                paste(&mut sheet, s, c as u32 * cell, r as u32 * cell);
            }
        }
    }
    println!(
        "{made} profiles at face_px {FACE_PX}: {:.2} ms each",
        1e3 * spent / made as f64
    );

    // A full-size crop of a 450×450 photo, the expensive case.
    if let Some(face) = rows.first() {
        let n = 20;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(profiler.profile(face, 0.5, face.truth.pitch(), 225.0));
        }
        println!(
            "face_px 225 (450×450 crop): {:.2} ms a profile",
            1e3 * t.elapsed().as_secs_f64() / n as f64
        );
    }
    sheet.save(out)?;
    println!("wrote {out}");
    Ok(())
}

fn paste(sheet: &mut image::RgbImage, s: &FaceSample, x0: u32, y0: u32) {
    let (w, h) = (s.image.width() as u32, s.image.height() as u32);
    for y in 0..h.min(sheet.height() - y0) {
        for x in 0..w.min(sheet.width() - x0) {
            let v = s.image.get(x as usize, y as usize);
            sheet.put_pixel(x0 + x, y0 + y, image::Rgb([v, v, v]));
        }
    }
    for p in &s.points {
        let (cx, cy) = (p[0].round() as i64, p[1].round() as i64);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (x, y) = (cx + dx, cy + dy);
                if (0..i64::from(w)).contains(&x) && (0..i64::from(h)).contains(&y) {
                    sheet.put_pixel(x0 + x as u32, y0 + y as u32, image::Rgb([255, 40, 40]));
                }
            }
        }
    }
}

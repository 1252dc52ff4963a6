//! A contact sheet of the appearance copies `facetrack train --landmarks --appearance-copies N`
//! adds: four validation faces (rows), each as photographed and then seen through five other
//! cameras (`AppearanceJitter`: contrast, gamma, side light, blur, resolution, noise), cropped to
//! the square box around the face's landmarks.
//!
//!     cargo run --release --example appearance_sheet -- ../shared/data OUT.png

use std::path::Path;

use facetrack::align::appearance_jitter::AppearanceJitter;
use rand::SeedableRng;

#[path = "shared/validation_faces.rs"]
mod validation_faces;
use validation_faces::validation_faces;

const CELL: u32 = 150;
const ROWS: usize = 4;
const COPIES: u32 = 5;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data, out] = args.as_slice() else {
        return Err("usage: appearance_sheet DATA_DIR OUT.png".into());
    };
    let (_model, faces) = validation_faces(Path::new(data))?;
    let jitter = AppearanceJitter::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut sheet = image::GrayImage::new((1 + COPIES) * CELL, ROWS as u32 * CELL);
    let step = (faces.len() / ROWS).max(1);
    for (r, face) in faces.iter().step_by(step).take(ROWS).enumerate() {
        for c in 0..=COPIES {
            let picture = if c == 0 {
                face.image.clone()
            } else {
                jitter.apply(&face.image, &mut rng)
            };
            let b = face.face_box;
            let (w, h) = (picture.width() as f64, picture.height() as f64);
            for y in 0..CELL {
                for x in 0..CELL {
                    let sx = b.left + (x as f64 + 0.5) * (b.right - b.left) / CELL as f64;
                    let sy = b.top + (y as f64 + 0.5) * (b.bottom - b.top) / CELL as f64;
                    let v = picture.get(
                        sx.clamp(0.0, w - 1.0) as usize,
                        sy.clamp(0.0, h - 1.0) as usize,
                    );
                    sheet.put_pixel(c * CELL + x, r as u32 * CELL + y, image::Luma([v]));
                }
            }
        }
    }
    sheet.save(out)?;
    println!("wrote {out}");
    Ok(())
}

//! The window's overlay drawn on the CPU into a frame's own pixels, for `--render`: the shaded
//! semi-transparent mesh, the 68 landmarks, the head's axes and a small readout of the pose — the
//! same geometry ([`Overlay`]) and colours as the GPU scene, so a rendered video looks like the
//! window. Nothing is drawn on a frame without a tracked face but the readout saying so.
//!
//! The mesh is filled triangle by triangle, nearest first, and each pixel is blended only by the
//! first triangle that reaches it (a stamp a pixel), which is what the GPU's depth test does with
//! the same order: the nearest surface shows, once, through its transparency.

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use glam::Vec3;

use facetrack::capture::RgbImage;
use facetrack::model::MorphableModel;
use facetrack::track::{TrackResult, TrackStatus};

use super::overlay::{LIGHT_DIR, MESH_ALPHA, MESH_COLOR, Mark, Overlay};

/// Landmark dots' and axes' sizes scale with the frame's shorter side, within limits, as the
/// window's do with its view.
const REFERENCE_HEIGHT: f32 = 512.0;

pub struct BurnIn {
    overlay: Overlay,
    /// Per pixel: the number of the last frame whose mesh painted it.
    stamp: Vec<u32>,
    frame_stamp: u32,
    font: Option<FontVec>,
    text: String,
}

impl BurnIn {
    pub fn new(model: &MorphableModel) -> Self {
        Self {
            overlay: Overlay::new(model),
            stamp: Vec::new(),
            frame_stamp: 0,
            font: readout_font(),
            text: String::with_capacity(128),
        }
    }

    /// Draws `result`'s fit over `image` (its frame's pixels, or a copy of them).
    pub fn draw(&mut self, model: &MorphableModel, result: &TrackResult, image: &mut RgbImage) {
        let (w, h) = (image.width, image.height);
        if self.stamp.len() != w * h {
            self.stamp.clear();
            self.stamp.resize(w * h, 0);
            self.frame_stamp = 0;
        }
        self.frame_stamp = self.frame_stamp.wrapping_add(1);
        if self.frame_stamp == 0 {
            self.stamp.fill(0);
            self.frame_stamp = 1;
        }
        let tracked = result.status == TrackStatus::Tracking;
        if tracked {
            self.overlay
                .update(model, &result.params, &result.landmarks);
            self.fill_mesh(image);
            let scale = (w.min(h) as f32 / REFERENCE_HEIGHT).clamp(0.6, 1.5);
            for mark in self.overlay.marks() {
                draw_mark(image, mark, scale);
            }
        } else {
            self.overlay.clear();
        }
        self.text.clear();
        use std::fmt::Write;
        if tracked {
            let p = &result.params;
            let _ = write!(
                self.text,
                "yaw {:+.1}°  pitch {:+.1}°  roll {:+.1}°  conf {:.2}",
                p.yaw().to_degrees(),
                p.pitch().to_degrees(),
                p.roll().to_degrees(),
                result.confidence
            );
        } else {
            let _ = write!(self.text, "no face  ({})", result.status.name());
        }
        let _ = write!(
            self.text,
            "  #{}  {:.3} s",
            result.frame.index,
            result.frame.timestamp.as_secs_f64()
        );
        if let Some(font) = &self.font {
            let color = if tracked {
                [255, 255, 255]
            } else {
                [255, 110, 90]
            };
            draw_readout(image, font, &self.text, color);
        }
    }

    fn fill_mesh(&mut self, image: &mut RgbImage) {
        let light = LIGHT_DIR.normalize();
        let half = (light + Vec3::Z).normalize();
        let color = Vec3::new(MESH_COLOR[0], MESH_COLOR[1], MESH_COLOR[2]) * 255.0;
        let (w, h) = (image.width as i64, image.height as i64);
        let vertices = self.overlay.vertices();
        for t in self.overlay.triangle_indices().chunks_exact(3) {
            let [a, b, c] = [t[0], t[1], t[2]].map(|i| &vertices[i as usize]);
            let (pa, pb, pc) = (a.position, b.position, c.position);
            let area = (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pb[1] - pa[1]) * (pc[0] - pa[0]);
            if area.abs() < 1e-6 {
                continue;
            }
            let x0 = pa[0].min(pb[0]).min(pc[0]).floor().max(0.0) as i64;
            let x1 = (pa[0].max(pb[0]).max(pc[0]).ceil() as i64).min(w - 1);
            let y0 = pa[1].min(pb[1]).min(pc[1]).floor().max(0.0) as i64;
            let y1 = (pa[1].max(pb[1]).max(pc[1]).ceil() as i64).min(h - 1);
            if x0 > x1 || y0 > y1 {
                continue;
            }
            let (na, nb, nc) = (
                Vec3::from(a.normal),
                Vec3::from(b.normal),
                Vec3::from(c.normal),
            );
            for y in y0..=y1 {
                let py = y as f32;
                for x in x0..=x1 {
                    let px = x as f32;
                    // Barycentric weights of the pixel centre (pixel centres sit on integers).
                    let wa = ((pb[0] - px) * (pc[1] - py) - (pb[1] - py) * (pc[0] - px)) / area;
                    let wb = ((pc[0] - px) * (pa[1] - py) - (pc[1] - py) * (pa[0] - px)) / area;
                    let wc = 1.0 - wa - wb;
                    if wa < 0.0 || wb < 0.0 || wc < 0.0 {
                        continue;
                    }
                    let k = (y * w + x) as usize;
                    if self.stamp[k] == self.frame_stamp {
                        continue;
                    }
                    self.stamp[k] = self.frame_stamp;
                    let n = (na * wa + nb * wb + nc * wc).normalize_or_zero();
                    let diffuse = n.dot(light).max(0.0);
                    let specular = n.dot(half).max(0.0).powf(24.0) * 0.3 * 255.0;
                    let shaded = color * (0.3 + 0.7 * diffuse) + Vec3::splat(specular);
                    blend(
                        &mut image.data[3 * k..3 * k + 3],
                        shaded.to_array(),
                        MESH_ALPHA,
                    );
                }
            }
        }
    }
}

fn blend(px: &mut [u8], rgb: [f32; 3], alpha: f32) {
    for (p, c) in px.iter_mut().zip(rgb) {
        *p = (f32::from(*p) * (1.0 - alpha) + c.min(255.0) * alpha).round() as u8;
    }
}

/// A dot (`p0 == p1`) or a segment, `radius` scaled to the frame, with a dark rim for dots.
fn draw_mark(image: &mut RgbImage, mark: &Mark, scale: f32) {
    let r = mark.radius * scale;
    let rim = if mark.outline > 0.0 { 1.0 * scale } else { 0.0 };
    let outer = r + rim;
    let [x0, y0] = mark.p0;
    let [x1, y1] = mark.p1;
    let (w, h) = (image.width as i64, image.height as i64);
    let bx0 = ((x0.min(x1) - outer).floor() as i64).max(0);
    let bx1 = ((x0.max(x1) + outer).ceil() as i64).min(w - 1);
    let by0 = ((y0.min(y1) - outer).floor() as i64).max(0);
    let by1 = ((y0.max(y1) + outer).ceil() as i64).min(h - 1);
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len2 = dx * dx + dy * dy;
    let color = mark.color.map(|c| c * 255.0);
    for y in by0..=by1 {
        for x in bx0..=bx1 {
            let (px, py) = (x as f32 - x0, y as f32 - y0);
            let t = if len2 > 0.0 {
                ((px * dx + py * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let d = ((px - t * dx).powi(2) + (py - t * dy).powi(2)).sqrt();
            // A pixel's coverage of the edge, for smooth rims.
            let k = (3 * (y * w + x)) as usize;
            let px = &mut image.data[k..k + 3];
            let inner = (r + 0.5 - d).clamp(0.0, 1.0);
            let ring = (outer + 0.5 - d).clamp(0.0, 1.0) - inner;
            if ring > 0.0 {
                blend(px, [10.0, 10.0, 10.0], ring * 0.8);
            }
            if inner > 0.0 {
                blend(px, [color[0], color[1], color[2]], inner * color[3]);
            }
        }
    }
}

/// The monospaced font egui's panel uses, from egui's built-in fonts: no file to find.
fn readout_font() -> Option<FontVec> {
    let definitions = egui::FontDefinitions::default();
    let data = definitions
        .font_data
        .get("Hack")
        .or_else(|| definitions.font_data.values().next())?;
    let bytes: &[u8] = (*data.font).as_ref();
    FontVec::try_from_vec(bytes.to_vec()).ok()
}

/// `text` on a dark band across the top left of the frame.
fn draw_readout(image: &mut RgbImage, font: &FontVec, text: &str, color: [u8; 3]) {
    // One line across at most the frame's width.
    let unit = font.as_scaled(PxScale::from(1.0));
    let per_px: f32 = text.chars().map(|c| unit.h_advance(font.glyph_id(c))).sum();
    let size = (image.height as f32 / 34.0)
        .clamp(10.0, 28.0)
        .min(image.width as f32 * 0.9 / per_px.max(1.0))
        .max(6.0);
    let scaled = font.as_scaled(PxScale::from(size));
    let pad = (size * 0.35).round();
    let width = per_px * size;
    let band_w = ((width + 2.0 * pad) as usize).min(image.width);
    let band_h = ((scaled.height() + 2.0 * pad) as usize).min(image.height);
    for y in 0..band_h {
        for x in 0..band_w {
            let k = 3 * (y * image.width + x);
            blend(&mut image.data[k..k + 3], [0.0, 0.0, 0.0], 0.55);
        }
    }
    let mut caret = pad;
    let baseline = pad + scaled.ascent();
    let fg = color.map(f32::from);
    for c in text.chars() {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(PxScale::from(size), point(caret, baseline));
        caret += scaled.h_advance(id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let x = bounds.min.x as i64 + i64::from(gx);
            let y = bounds.min.y as i64 + i64::from(gy);
            if x < 0 || y < 0 || x >= image.width as i64 || y >= image.height as i64 {
                return;
            }
            let k = 3 * (y as usize * image.width + x as usize);
            blend(&mut image.data[k..k + 3], fg, coverage.min(1.0));
        });
    }
}

//! The reference track of a shared clip (`ref_3ddfa.jsonl`, one JSON line a frame), for the
//! examples that check facetrack against it.

use std::collections::HashMap;
use std::path::Path;

/// A reference track: the 68 landmarks of every frame it found a face in, by 0-based frame index.
pub type Reference = HashMap<u64, Vec<[f64; 2]>>;

/// The reference track in the clip folder `dir`.
pub fn reference_landmarks(dir: &Path) -> Result<Reference, Box<dyn std::error::Error>> {
    let mut out = HashMap::new();
    for line in std::fs::read_to_string(dir.join("ref_3ddfa.jsonl"))?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let (Some(f), Some(pts)) = (v["frame"].as_u64(), v["landmarks_2d"].as_array()) {
            let pts: Vec<[f64; 2]> = pts
                .iter()
                .filter_map(|p| Some([p[0].as_f64()?, p[1].as_f64()?]))
                .collect();
            if pts.len() == 68 {
                out.insert(f, pts);
            }
        }
    }
    Ok(out)
}

//! Face boxes given by the user (`fit --boxes`): one JSON object a line,
//! `{"image": NAME, "box": [left, top, right, bottom]}`, looked up by the image's file name.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use super::FaceBox;

#[derive(Debug, Error)]
pub enum BoxListError {
    #[error("cannot read line {line}: {cause}")]
    Read { line: usize, cause: std::io::Error },
    #[error(
        "line {line}: expected {{\"image\": NAME, \"box\": [left, top, right, bottom]}} ({cause})"
    )]
    Syntax {
        line: usize,
        cause: serde_json::Error,
    },
    #[error("line {line}: box [{l}, {t}, {r}, {b}] is empty or not finite")]
    Empty {
        line: usize,
        l: f64,
        t: f64,
        r: f64,
        b: f64,
    },
}

#[derive(Debug, Deserialize)]
struct BoxLine {
    image: String,
    #[serde(rename = "box")]
    face_box: [f64; 4],
}

/// Reads box lines; blank lines are skipped, a later line for the same image wins.
pub fn read_box_list(reader: impl BufRead) -> Result<HashMap<String, FaceBox>, BoxListError> {
    let mut boxes = HashMap::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let line = line.map_err(|cause| BoxListError::Read {
            line: line_no,
            cause,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let b: BoxLine = serde_json::from_str(&line).map_err(|cause| BoxListError::Syntax {
            line: line_no,
            cause,
        })?;
        let [l, t, r, bt] = b.face_box;
        // The width and height must be finite too: [-1e308, -1e308, 1e308, 1e308] is no box.
        let sane = [l, t, r, bt, r - l, bt - t].iter().all(|v| v.is_finite());
        if !(sane && r > l && bt > t) {
            return Err(BoxListError::Empty {
                line: line_no,
                l,
                t,
                r,
                b: bt,
            });
        }
        // A box file made for paths ("images/x.jpg") still matches the file name.
        let key = Path::new(&b.image)
            .file_name()
            .map_or(b.image.clone(), |n| n.to_string_lossy().into_owned());
        boxes.insert(key, FaceBox::new(l, t, r, bt));
    }
    Ok(boxes)
}

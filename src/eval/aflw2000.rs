//! AFLW2000-3D ground truth (Zhu et al., CVPR 2016) as the shared data gives it:
//! `aflw2000-3d/annotations.jsonl`, one JSON object a line (fields in `data/README.md`).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::model::DatasetPose;
use crate::model::learn::LearnSample;

/// Where the annotations sit inside the shared data folder.
pub const ANNOTATIONS: &str = "aflw2000-3d/annotations.jsonl";
/// Where the images sit inside the shared data folder.
pub const IMAGES: &str = "aflw2000-3d/images";

pub const N_LANDMARKS: usize = 68;
/// Basel Face Model identity dimensions.
pub const N_SHAPE: usize = 199;
/// FaceWarehouse expression dimensions.
pub const N_EXP: usize = 29;

#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {source}")]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}:{line}: `{field}` has {found} entries, expected {expected}")]
    Count {
        path: PathBuf,
        line: usize,
        field: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{path}:{line}: `{field}` holds a value that is not finite")]
    NotFinite {
        path: PathBuf,
        line: usize,
        field: &'static str,
    },
    #[error("{path} holds no annotations")]
    Empty { path: PathBuf },
}

/// One image's ground truth.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Annotation {
    /// File name in `images/`.
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub pose: DatasetPose,
    /// The 68 landmarks of the fitted 3D model: 0-based pixels, y down, and depth.
    pub pt3d_68: Vec<[f64; 3]>,
    /// The 68 landmarks re-annotated by hand, 1-based pixels.
    pub pt2d_68_reannotated: Vec<[f64; 2]>,
    /// Identity coefficients (Basel Face Model), raw.
    pub shape_para: Vec<f64>,
    /// Expression coefficients (FaceWarehouse), raw.
    pub exp_para: Vec<f64>,
    /// The dataset's own loose face box `[x0, y0, x1, y1]`.
    pub roi: [f64; 4],
}

impl Annotation {
    /// What learning the landmark model needs from this annotation.
    pub fn learn_sample(&self) -> LearnSample<'_> {
        LearnSample {
            pose: &self.pose,
            height: self.height,
            pt3d: &self.pt3d_68,
            shape_para: &self.shape_para,
            exp_para: &self.exp_para,
        }
    }

    fn check(&self, path: &Path, line: usize) -> Result<(), DatasetError> {
        let count = |field, expected, found| {
            if expected == found {
                Ok(())
            } else {
                Err(DatasetError::Count {
                    path: path.to_owned(),
                    line,
                    field,
                    expected,
                    found,
                })
            }
        };
        count("pt3d_68", N_LANDMARKS, self.pt3d_68.len())?;
        count(
            "pt2d_68_reannotated",
            N_LANDMARKS,
            self.pt2d_68_reannotated.len(),
        )?;
        count("shape_para", N_SHAPE, self.shape_para.len())?;
        count("exp_para", N_EXP, self.exp_para.len())?;
        let p = &self.pose;
        let fields: [(&'static str, bool); 5] = [
            (
                "pose",
                [p.pitch, p.yaw, p.roll, p.tx, p.ty, p.tz, p.scale]
                    .iter()
                    .all(|v| v.is_finite()),
            ),
            (
                "pt3d_68",
                self.pt3d_68.iter().flatten().all(|v| v.is_finite()),
            ),
            (
                "pt2d_68_reannotated",
                self.pt2d_68_reannotated
                    .iter()
                    .flatten()
                    .all(|v| v.is_finite()),
            ),
            ("shape_para", self.shape_para.iter().all(|v| v.is_finite())),
            ("exp_para", self.exp_para.iter().all(|v| v.is_finite())),
        ];
        match fields.iter().find(|(_, ok)| !ok) {
            Some(&(field, _)) => Err(DatasetError::NotFinite {
                path: path.to_owned(),
                line,
                field,
            }),
            None => Ok(()),
        }
    }
}

/// The annotations file of a shared data folder.
pub fn annotations_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ANNOTATIONS)
}

/// Reads every annotation of a file, in file order.
pub fn read_annotations(path: &Path) -> Result<Vec<Annotation>, DatasetError> {
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_annotations(BufReader::new(file), path)
}

/// Parses annotations from any reader; `path` is only used to name the source in errors. Blank
/// lines are skipped; anything else that is not a complete annotation is an error naming its line.
pub fn parse_annotations(
    reader: impl BufRead,
    path: &Path,
) -> Result<Vec<Annotation>, DatasetError> {
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let text = line.map_err(|source| DatasetError::Io {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let a: Annotation = serde_json::from_str(&text).map_err(|source| DatasetError::Json {
            path: path.to_owned(),
            line: line_no,
            source,
        })?;
        a.check(path, line_no)?;
        out.push(a);
    }
    if out.is_empty() {
        return Err(DatasetError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(shape: usize) -> String {
        let pts3: Vec<[f64; 3]> = vec![[1.0, 2.0, 3.0]; 68];
        let pts2: Vec<[f64; 2]> = vec![[1.0, 2.0]; 68];
        serde_json::json!({
            "image": "image00002.jpg", "width": 450, "height": 450,
            "pose": {"pitch": 0.1, "yaw": 0.2, "roll": 0.3, "tx": 1.0, "ty": 2.0, "tz": 3.0, "scale": 0.001},
            "pt3d_68": pts3, "pt2d_68_reannotated": pts2,
            "shape_para": vec![0.5; shape], "exp_para": vec![0.25; 29], "roi": [13, -26, 437, 398]
        })
        .to_string()
    }

    #[test]
    fn parses_lines_and_skips_blank_ones() {
        let text = format!("{}\n\n{}\n", line(199), line(199));
        let a = parse_annotations(text.as_bytes(), Path::new("a.jsonl")).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].roi, [13.0, -26.0, 437.0, 398.0]);
        assert_eq!(a[1].pose.scale, 0.001);
    }

    #[test]
    fn errors_name_file_and_line() {
        let text = format!("{}\n{}\n", line(199), line(198));
        let msg = parse_annotations(text.as_bytes(), Path::new("a.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("a.jsonl:2:") && msg.contains("shape_para"),
            "{msg}"
        );
        let text = format!("{}\n{{\"image\": 3}}\n", line(199));
        let msg = parse_annotations(text.as_bytes(), Path::new("a.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("a.jsonl:2:"), "{msg}");
    }

    #[test]
    fn missing_file_is_named() {
        let msg = read_annotations(Path::new("/nope/annotations.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/nope/annotations.jsonl"), "{msg}");
    }
}

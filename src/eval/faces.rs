//! The AFLW2000-3D faces as training and evaluation samples: decoded images, ground truth in the
//! project's parameters, and the fixed train / validation split.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use thiserror::Error;

use super::aflw2000::{self, DatasetError};
use crate::capture::{ImageFileError, load_rgb};
use crate::fit::training_set::FaceSample;
use crate::image::GrayImage;
use crate::model::{MorphableModel, Params, ParamsError};

#[derive(Debug, Error)]
pub enum FacesError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Image(#[from] ImageFileError),
    #[error("{image}: {source}")]
    Params {
        image: String,
        #[source]
        source: ParamsError,
    },
    #[error("{0}: the ground-truth landmarks are degenerate")]
    Degenerate(String),
    #[error("no annotations.jsonl in {0} or in its aflw2000-3d/ folder")]
    NotADataset(PathBuf),
}

/// Which part of the shared images a face belongs to. Every fifth image (by position in
/// `annotations.jsonl`) is held out for validation — 320 of the 1,600 — and never trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    All,
}

impl Split {
    pub fn contains(self, index: usize) -> bool {
        match self {
            Split::Train => index % 5 != 4,
            Split::Validation => index % 5 == 4,
            Split::All => true,
        }
    }
}

/// The AFLW2000-3D folder for a `--data` argument: the folder itself when it holds
/// `annotations.jsonl`, else its `aflw2000-3d/` (so `../shared/data` works too).
pub fn aflw_dir(data: &Path) -> Result<PathBuf, FacesError> {
    if data.join("annotations.jsonl").is_file() {
        return Ok(data.to_owned());
    }
    let sub = data.join("aflw2000-3d");
    if sub.join("annotations.jsonl").is_file() {
        return Ok(sub);
    }
    Err(FacesError::NotADataset(data.to_owned()))
}

/// Loads the faces of `split` (images decoded in parallel); `progress()` is called once a face.
pub fn load_faces(
    aflw: &Path,
    model: &MorphableModel,
    split: Split,
    progress: impl Fn() + Sync,
) -> Result<Vec<FaceSample>, FacesError> {
    let annotations = aflw2000::read_annotations(&aflw.join("annotations.jsonl"))?;
    annotations
        .par_iter()
        .enumerate()
        .filter(|(i, _)| split.contains(*i))
        .map(|(_, a)| {
            let rgb = load_rgb(&aflw.join("images").join(&a.image))?;
            let mut gray = GrayImage::default();
            gray.set_from_rgb(rgb.width, rgb.height, &rgb.data);
            let truth = Params::from_dataset(&a.pose, &a.shape_para, &a.exp_para, a.height, model)
                .map_err(|source| FacesError::Params {
                    image: a.image.clone(),
                    source,
                })?;
            let face = FaceSample::new(a.image.clone(), gray, truth, model)
                .ok_or_else(|| FacesError::Degenerate(a.image.clone()));
            progress();
            face
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_holds_out_every_fifth() {
        let v = (0..1600).filter(|&i| Split::Validation.contains(i)).count();
        let t = (0..1600).filter(|&i| Split::Train.contains(i)).count();
        assert_eq!((v, t), (320, 1280));
    }
}

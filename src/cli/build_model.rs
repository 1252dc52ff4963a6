//! `facetrack build-model`: learns the morphable model from the shared data and writes
//! `face_model.bin` (see `models/README.md`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use facetrack::eval::aflw2000;
use facetrack::model::learn::LearnSample;
use facetrack::model::{BuildInputs, BuildReport, BuildStep, MODEL_FILE_NAME, build_model};

const MESH_OBJ: &str = "mesh/canonical_face_model.obj";
const MESH_LANDMARKS: &str = "mesh/ibug68_vertices.json";

#[derive(Debug, Args)]
pub struct BuildModelArgs {
    /// The shared data folder (holds aflw2000-3d/ and mesh/).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Folder to write face_model.bin into (created if missing).
    #[arg(long, value_name = "DIR", default_value = "models")]
    pub out: PathBuf,
}

pub fn run(args: &BuildModelArgs) -> Result<()> {
    let started = Instant::now();
    let annotations_path = aflw2000::annotations_path(&args.data);
    let annotations = aflw2000::read_annotations(&annotations_path)?;
    let mesh_obj = read_text(&args.data.join(MESH_OBJ))?;
    let landmarks_json = read_text(&args.data.join(MESH_LANDMARKS))?;
    let faces: Vec<LearnSample<'_>> = annotations.iter().map(|a| a.learn_sample()).collect();

    let bar = ProgressBar::new(1).with_style(
        ProgressStyle::with_template("{spinner} {msg} {wide_bar} {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (model, report) = build_model(
        &BuildInputs {
            faces: &faces,
            mesh_obj: &mesh_obj,
            landmark_vertices_json: &landmarks_json,
        },
        &mut |step| match step {
            BuildStep::Learning => bar.set_message(format!("learning from {} images", faces.len())),
            BuildStep::CarryingOntoMesh => bar.set_message("carrying the model onto the mesh"),
            BuildStep::Checking { done, total } => {
                if done == 1 {
                    bar.set_message("checking the dense mesh");
                    bar.set_length(total as u64);
                }
                bar.set_position(done as u64);
            }
        },
    )
    .with_context(|| format!("building the model from {}", args.data.display()))?;
    bar.finish_and_clear();

    let bytes = model.to_bytes();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join(MODEL_FILE_NAME);
    write_atomically(&path, &bytes)?;

    print_report(&report, &annotations_path)?;
    out!(
        "wrote {} ({} bytes: {} landmarks, {} vertices, {} triangles, {} identity + {} expression dimensions) in {:.1} s",
        path.display(),
        bytes.len(),
        model.n_landmarks(),
        model.n_vertices(),
        model.triangles().len(),
        model.n_id(),
        model.n_exp(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes beside the target and renames, so an interrupted run never leaves half a model.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = super::outputs::partial_path(path);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
}

fn print_report(r: &BuildReport, source: &Path) -> Result<()> {
    let l = &r.learn;
    out!(
        "landmark model, least squares over {} images of {}:",
        l.n_images,
        source.display()
    )?;
    out!(
        "  residual: RMS {:.4} max {:.4} model units = {:.1e} / {:.1e} of the spread ({:.0} units, per-coordinate std over images) \
         = {:.1e} / {:.1e} of the face width ({:.0} units)",
        l.residual.rms,
        l.residual.max,
        l.residual.rms / l.spread,
        l.residual.max / l.spread,
        l.spread,
        l.residual.rms / l.face_width,
        l.residual.max / l.face_width,
        l.face_width
    )?;
    if let Some(h) = l.holdout {
        out!(
            "  held out (fit on 4/5 of the images, measured on the rest): RMS {:.4} max {:.4}",
            h.rms,
            h.max
        )?;
    }
    out!(
        "  σ = RMS of each coefficient about zero (coefficient means reach {:.2} σ); design matrix condition number {:.1}",
        l.max_mean_over_sigma,
        l.condition
    )?;
    let d = &r.dense;
    out!("dense mesh:")?;
    out!(
        "  similarity placement: scale {:.1} units/cm, landmark vertices off the mean landmarks by RMS {:.0} max {:.0} units \
         ({:.1}% / {:.1}% of the face width); thin-plate spline round-off {:.1e}",
        r.mesh_scale,
        r.alignment_rms,
        r.alignment_max,
        100.0 * r.alignment_rms / l.face_width,
        100.0 * r.alignment_max / l.face_width,
        r.spline_round_off
    )?;
    out!(
        "  landmark vertices vs landmark model over all checked shapes: max difference {} units",
        d.landmark_max_difference
    )?;
    out!(
        "  mean mesh vs canonical mesh: {} triangles flipped; {} triangles fill the mouth opening",
        d.mean_flips_vs_canonical,
        d.mouth_triangles
    )?;
    for (what, c) in [
        ("each coefficient alone at ±3σ", &d.per_dimension),
        ("the dataset's own faces", &d.faces),
    ] {
        out!(
            "  {what}: {} shapes, {} with a flipped triangle ({} outside the mouth opening), worst {:.2}% ({:.2}% outside), \
             mean {:.3}% of triangles; landmark model's inner lips crossed in {}",
            c.shapes,
            c.with_flips,
            c.with_flips_outside_mouth,
            100.0 * c.max_fraction,
            100.0 * c.max_fraction_outside_mouth,
            100.0 * c.mean_fraction,
            c.lips_crossed
        )?;
    }
    Ok(())
}

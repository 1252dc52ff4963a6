//! The committed morphable model against the shared data: projection, Jacobian, file handling and
//! the rebuild.

use std::path::{Path, PathBuf};

use facetrack::eval::aflw2000::{self, Annotation};
use facetrack::model::{MODEL_FILE_NAME, ModelFileError, MorphableModel, Params};
use nalgebra::DMatrix;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn data_dir() -> PathBuf {
    std::env::var_os("FACETRACK_DATA").map_or_else(|| root().join("../shared/data"), PathBuf::from)
}

fn committed_bytes() -> Vec<u8> {
    let path = root().join("models").join(MODEL_FILE_NAME);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn committed_model() -> MorphableModel {
    MorphableModel::from_bytes(&committed_bytes()).expect("committed model reads")
}

fn annotations() -> Vec<Annotation> {
    aflw2000::read_annotations(&aflw2000::annotations_path(&data_dir()))
        .expect("shared AFLW2000-3D annotations")
}

/// splitmix64, for reproducible test parameters.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn random_params(rng: &mut Rng, n_id: usize, n_exp: usize) -> Params {
    let mut p = Params::zeros(n_id, n_exp);
    p.set_s(rng.uniform(0.0008, 0.004));
    p.set_pitch(rng.uniform(-0.6, 0.6));
    p.set_yaw(rng.uniform(-1.4, 1.4));
    p.set_roll(rng.uniform(-0.6, 0.6));
    p.set_tx(rng.uniform(100.0, 350.0));
    p.set_ty(rng.uniform(100.0, 350.0));
    for a in &mut p.as_mut_slice()[Params::N_POSE..] {
        *a = rng.uniform(-2.0, 2.0);
    }
    p
}

/// Every column of the analytic Jacobian against central differences, full and restricted
/// dimensions. Tolerance: 1e-6 of the column's largest entry (plus 1e-9 px absolute).
#[test]
fn jacobian_matches_central_differences() {
    let model = committed_model();
    let mut rng = Rng(7);
    let n = 2 * model.n_landmarks();
    for (n_id, n_exp) in [(model.n_id(), model.n_exp()), (40, 10), (0, 0)] {
        for _ in 0..4 {
            let p = random_params(&mut rng, n_id, n_exp);
            let mut jac = DMatrix::<f64>::zeros(n, p.len());
            model.landmark_jacobian(&p, &mut jac);
            let (mut plus, mut minus) = (vec![0.0; n], vec![0.0; n]);
            for col in 0..p.len() {
                let h = match col {
                    Params::S => 1e-7,
                    Params::PITCH | Params::YAW | Params::ROLL => 1e-6,
                    Params::TX | Params::TY => 1e-3,
                    _ => 1e-4,
                };
                let mut q = p.clone();
                q.as_mut_slice()[col] += h;
                model.project_landmarks(&q, &mut plus);
                q.as_mut_slice()[col] -= 2.0 * h;
                model.project_landmarks(&q, &mut minus);
                let scale = jac.column(col).amax();
                for r in 0..n {
                    let fd = (plus[r] - minus[r]) / (2.0 * h);
                    let err = (fd - jac[(r, col)]).abs();
                    assert!(
                        err <= 1e-6 * scale + 1e-9,
                        "dims ({n_id}, {n_exp}) column {col} row {r}: analytic {} finite difference {fd}",
                        jac[(r, col)]
                    );
                }
            }
            // The combined call gives the same numbers.
            let (mut x, mut x2) = (vec![0.0; n], vec![0.0; n]);
            let mut jac2 = DMatrix::<f64>::zeros(n, p.len());
            model.project_landmarks(&p, &mut x);
            model.project_landmarks_with_jacobian(&p, &mut x2, &mut jac2);
            assert_eq!(x, x2);
            assert_eq!(jac, jac2);
        }
    }
}

/// Each image's `pt3d_68` from its own parameters through the committed model.
#[test]
fn reproduces_every_shared_images_landmarks() {
    let model = committed_model();
    let anns = annotations();
    assert_eq!(anns.len(), 1600);
    let (mut max_xy, mut max_z) = (0.0f64, 0.0f64);
    let mut pts = vec![0.0; 3 * model.n_landmarks()];
    let mut xy = vec![0.0; 2 * model.n_landmarks()];
    for a in &anns {
        let p =
            Params::from_dataset(&a.pose, &a.shape_para, &a.exp_para, a.height, &model).unwrap();
        model.landmarks_3d(&p, &mut pts);
        model.project_landmarks(&p, &mut xy);
        for (k, gt) in a.pt3d_68.iter().enumerate() {
            assert_eq!([xy[2 * k], xy[2 * k + 1]], [pts[3 * k], pts[3 * k + 1]]);
            max_xy = max_xy
                .max((pts[3 * k] - gt[0]).abs())
                .max((pts[3 * k + 1] - gt[1]).abs());
            max_z = max_z.max((pts[3 * k + 2] + a.pose.tz - gt[2]).abs());
        }
    }
    eprintln!("max |error| over 1600 × 68 points: x, y {max_xy:.2e} px, z {max_z:.2e}");
    assert!(max_xy < 0.01, "{max_xy}");
    assert!(max_z < 0.01, "{max_z}");
}

#[test]
fn dataset_coefficients_convert_both_ways() {
    let model = committed_model();
    let a = &annotations()[0];
    let p = Params::from_dataset(&a.pose, &a.shape_para, &a.exp_para, a.height, &model).unwrap();
    for (back, orig) in p.dataset_shape_para(&model).iter().zip(&a.shape_para) {
        assert!((back - orig).abs() <= 1e-12 * orig.abs().max(1.0));
    }
    for (back, orig) in p.dataset_exp_para(&model).iter().zip(&a.exp_para) {
        assert!((back - orig).abs() <= 1e-12 * orig.abs().max(1.0));
    }
    assert!((p.dataset_ty(a.height) - a.pose.ty).abs() < 1e-9);
    assert!(
        Params::from_dataset(&a.pose, &a.shape_para[1..], &a.exp_para, a.height, &model).is_err()
    );
}

#[test]
fn dense_landmark_vertices_are_the_landmark_model() {
    let model = committed_model();
    let mut rng = Rng(11);
    let (mut lm, mut dense) = (
        vec![0.0; 2 * model.n_landmarks()],
        vec![0.0; 2 * model.n_vertices()],
    );
    let (mut lm3, mut dense3) = (
        vec![0.0; 3 * model.n_landmarks()],
        vec![0.0; 3 * model.n_vertices()],
    );
    for _ in 0..20 {
        let p = random_params(&mut rng, model.n_id(), model.n_exp());
        model.project_landmarks(&p, &mut lm);
        model.project_vertices(&p, &mut dense);
        model.landmarks_3d(&p, &mut lm3);
        model.vertices_3d(&p, &mut dense3);
        for (k, &v) in model.landmark_vertices().iter().enumerate() {
            let v = v as usize;
            assert_eq!(
                &lm[2 * k..2 * k + 2],
                &dense[2 * v..2 * v + 2],
                "landmark {k}"
            );
            assert_eq!(
                &lm3[3 * k..3 * k + 3],
                &dense3[3 * v..3 * v + 3],
                "landmark {k}"
            );
        }
    }
}

#[test]
fn damaged_model_files_are_errors() {
    let bytes = committed_bytes();
    for len in [0, 7, 31, 36, 1000, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            MorphableModel::from_bytes(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    assert!(matches!(
        MorphableModel::from_bytes(&bytes[..bytes.len() / 2]),
        Err(ModelFileError::Truncated { .. })
    ));
    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert_eq!(
        MorphableModel::from_bytes(&magic),
        Err(ModelFileError::BadMagic)
    );
    // One bit flipped anywhere: the header check or the checksum catches it.
    for at in (0..bytes.len()).step_by(4099).chain([bytes.len() - 1]) {
        let mut flipped = bytes.clone();
        flipped[at] ^= 1 << (at % 8);
        assert!(
            MorphableModel::from_bytes(&flipped).is_err(),
            "bit flipped at byte {at}"
        );
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x04;
    assert!(matches!(
        MorphableModel::from_bytes(&flipped),
        Err(ModelFileError::Checksum { .. })
    ));
}

#[test]
fn committed_model_round_trips() {
    let bytes = committed_bytes();
    assert_eq!(committed_model().to_bytes(), bytes);
    assert!(bytes.len() < 4 << 20, "{} bytes", bytes.len());
}

/// `facetrack build-model` run on the shared data writes exactly the committed file.
#[test]
fn rebuilding_gives_the_committed_file() {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_facetrack"))
        .args(["build-model", "--data"])
        .arg(data_dir())
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let rebuilt = std::fs::read(out.path().join(MODEL_FILE_NAME)).unwrap();
    assert!(
        rebuilt == committed_bytes(),
        "rebuilt model differs from models/{MODEL_FILE_NAME}"
    );
}

#[test]
fn build_model_names_a_bad_data_dir() {
    let out = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_facetrack"))
        .args(["build-model", "--data", "/nonexistent-data", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("/nonexistent-data/aflw2000-3d/annotations.jsonl"),
        "{err}"
    );
}

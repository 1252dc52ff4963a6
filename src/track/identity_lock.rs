//! Identity held while a face is tracked — the future work the PARM paper names: a person's
//! identity does not change from frame to frame, so after enough confident frames of one face one
//! identity is fitted to all of them together ([`crate::fit::shared_identity`]) and held, and each
//! frame fits pose and expression only. The lock is released when the face is found again by the
//! detector, which may have found someone else.
//!
//! Off by default (docs/identity_lock.md has the figures).

use crate::fit::shared_identity::SharedIdentity;
use crate::fit::{JointError, JointScratch, JointSolver};
use crate::model::Params;

/// Confident frames fitted together before the identity is held: one second at 30 fps.
pub const LOCK_FRAMES: usize = 30;
/// A frame counts only at this confidence (a clear face) and with the head within this yaw
/// (radians, 35°): a turned face shows half its shape, and the 2D landmarks of its hidden side
/// are guesses.
const MIN_CONFIDENCE: f64 = 0.9;
const MAX_YAW: f64 = 35.0 * std::f64::consts::PI / 180.0;

/// Where a tracker's identity lock stands, for a display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockState {
    /// The lock is not asked for.
    #[default]
    Off,
    /// Frames kept so far towards the fit, and frames needed.
    Collecting { frames: usize, needed: usize },
    /// The identity is held.
    Held,
}

/// The frames kept, then the held identity.
#[derive(Debug, Clone)]
pub struct IdentityLock {
    frames: SharedIdentity,
    held: Vec<f64>,
    locked: bool,
}

impl IdentityLock {
    /// A lock for faces fitted by `solver`, whose identity size it holds.
    pub fn new(solver: &JointSolver) -> Self {
        Self {
            frames: SharedIdentity::new(solver, LOCK_FRAMES),
            held: vec![0.0; solver.n_id()],
            locked: false,
        }
    }

    /// The identity held, once there is one.
    pub fn held(&self) -> Option<&[f64]> {
        self.locked.then_some(self.held.as_slice())
    }

    /// Frames kept so far (towards [`LOCK_FRAMES`]).
    pub fn frames(&self) -> usize {
        self.frames.len()
    }

    /// Forgets the frames and the held identity.
    pub fn release(&mut self) {
        self.frames.clear();
        self.locked = false;
    }

    /// Where the lock stands (it is asked for).
    pub fn state(&self) -> LockState {
        if self.locked {
            LockState::Held
        } else {
            LockState::Collecting {
                frames: self.frames.len(),
                needed: LOCK_FRAMES,
            }
        }
    }

    /// Whether a tracked frame with this confidence and yaw (radians) would be kept.
    pub fn wants(&self, confidence: f64, yaw: f64) -> bool {
        !self.locked && confidence >= MIN_CONFIDENCE && yaw.abs() <= MAX_YAW
    }

    /// Keeps the frame `solver` has just refined freely into `p` with `s` (residuals in units of
    /// `face_size`); once [`LOCK_FRAMES`] are kept, fits one identity to them and holds it.
    /// Allocates nothing. An error (a solve that failed) forgets the frames kept.
    pub fn add(
        &mut self,
        solver: &JointSolver,
        p: &Params,
        face_size: f64,
        s: &mut JointScratch,
    ) -> Result<(), JointError> {
        if self.locked || !self.frames.add(solver, p, face_size, s) {
            return Ok(());
        }
        if self.frames.len() < LOCK_FRAMES {
            return Ok(());
        }
        match self.frames.fit(solver, s) {
            Ok(id) => {
                self.held.copy_from_slice(id);
                self.locked = true;
                Ok(())
            }
            Err(e) => {
                self.release();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::JointConfig;
    use crate::model::MorphableModel;

    #[test]
    fn holds_after_enough_confident_frontal_frames_and_releases() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face_model.bin");
        let m = MorphableModel::from_bytes(&std::fs::read(path).unwrap()).unwrap();
        let solver = JointSolver::new(&m, 40, 10, JointConfig::default());
        let mut s = solver.scratch();
        let mut lock = IdentityLock::new(&solver);
        assert!(!lock.wants(0.5, 0.0), "an unsure frame");
        assert!(!lock.wants(0.99, 1.0), "a turned head");
        assert!(lock.wants(0.95, -0.3));
        assert_eq!(
            lock.state(),
            LockState::Collecting {
                frames: 0,
                needed: LOCK_FRAMES
            }
        );

        let mut t = Params::zeros(40, 10);
        t.as_mut_slice()[..6].copy_from_slice(&[0.0015, 0.1, 0.2, 0.0, 320.0, 240.0]);
        t.id_mut()[0] = 1.0;
        let (mut l2, mut l3) = (vec![0.0; 136], vec![0.0; 204]);
        for k in 0..LOCK_FRAMES {
            t.set_yaw(0.3 * (k as f64).sin());
            m.project_landmarks(&t, &mut l2);
            m.landmarks_3d(&t, &mut l3);
            let mut p = t.clone();
            solver.refine(&l2, &l3, 200.0, &mut p, &mut s).unwrap();
            assert!(lock.held().is_none());
            lock.add(&solver, &p, 200.0, &mut s).unwrap();
        }
        let held = lock.held().expect("held after LOCK_FRAMES frames").to_vec();
        assert_eq!(lock.state(), LockState::Held);
        // Held, a frame is fitted with pose and expression alone to the face's landmarks, far
        // closer than with the mean face held.
        let fitted_with = |id: &[f64], s: &mut JointScratch| {
            let mut q = t.clone();
            q.id_mut().copy_from_slice(id);
            q.set_yaw(0.0);
            s.hold_identity(Some(id));
            solver.refine(&l2, &l3, 200.0, &mut q, s).unwrap();
            assert_eq!(q.id(), id);
            let mut x = vec![0.0; 136];
            m.project_landmarks(&q, &mut x);
            (x.iter().zip(&l2).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 68.0).sqrt()
        };
        let (with_held, with_mean) = (fitted_with(&held, &mut s), fitted_with(&[0.0; 40], &mut s));
        assert!(
            with_held < 0.5 * with_mean,
            "{with_held} px held against {with_mean} px with the mean face"
        );
        assert!(!lock.wants(0.99, 0.0), "no more frames once held");
        lock.release();
        assert!(lock.held().is_none());
        assert_eq!(lock.frames(), 0);
    }
}

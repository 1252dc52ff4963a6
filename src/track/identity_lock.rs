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
/// Frames over which the track's identity is carried to the held one, half a second at 30 fps:
/// swapped at once, the fit steps (on the demo by up to 2 px in the frames after), and an avatar
/// driven by it twitches.
pub const EASE_FRAMES: usize = 15;
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
    /// The identity is held, and the fit is still being carried to it: frames eased so far, of
    /// [`EASE_FRAMES`].
    Easing { frames: usize, of: usize },
    /// The identity is held.
    Held,
}

/// The frames kept, then the held identity.
#[derive(Debug, Clone)]
pub struct IdentityLock {
    frames: SharedIdentity,
    /// The identity fitted to the frames.
    fitted: Vec<f64>,
    /// The track's identity when the fit was made.
    from: Vec<f64>,
    /// The identity held now: on its way from `from` to `fitted` over [`EASE_FRAMES`], then
    /// `fitted`.
    held: Vec<f64>,
    /// Frames eased so far.
    eased: usize,
    locked: bool,
}

impl IdentityLock {
    /// A lock for faces fitted by `solver`, whose identity size it holds.
    pub fn new(solver: &JointSolver) -> Self {
        Self {
            frames: SharedIdentity::new(solver, LOCK_FRAMES),
            fitted: vec![0.0; solver.n_id()],
            from: vec![0.0; solver.n_id()],
            held: vec![0.0; solver.n_id()],
            eased: 0,
            locked: false,
        }
    }

    /// The identity held, once there is one (while it eases in, the way there so far).
    pub fn held(&self) -> Option<&[f64]> {
        self.locked.then_some(self.held.as_slice())
    }

    /// Whether the identity is held and done easing in: the person's neutral face is settled.
    pub fn settled(&self) -> bool {
        self.locked && self.eased >= EASE_FRAMES
    }

    /// Moves the held identity one frame further towards the fitted one (a smoothstep in the
    /// frame count, so that the fit neither starts nor stops moving at once); whether it moved.
    pub fn advance(&mut self) -> bool {
        if !self.locked || self.eased >= EASE_FRAMES {
            return false;
        }
        self.eased += 1;
        let w = self.eased_share();
        for ((h, &a), &b) in self.held.iter_mut().zip(&self.from).zip(&self.fitted) {
            *h = a + w * (b - a);
        }
        true
    }

    /// How far the held identity has come from the track's towards the fitted one: 0 to 1 while
    /// it eases in, 1 once settled, 0 while nothing is held. The tracker fades its tracking
    /// cascade over by the same share, so that the fit does not step where the cascade changes.
    pub fn eased_share(&self) -> f64 {
        if !self.locked {
            return 0.0;
        }
        let u = (self.eased as f64 / EASE_FRAMES as f64).min(1.0);
        u * u * (3.0 - 2.0 * u)
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
        if self.settled() {
            LockState::Held
        } else if self.locked {
            LockState::Easing {
                frames: self.eased,
                of: EASE_FRAMES,
            }
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
    /// `face_size`); once [`LOCK_FRAMES`] are kept, fits one identity to them and holds it,
    /// starting from `track_id`, the identity the track had ([`Self::advance`] takes it the rest
    /// of the way). Allocates nothing. An error (a solve that failed) forgets the frames kept.
    pub fn add(
        &mut self,
        solver: &JointSolver,
        p: &Params,
        track_id: &[f64],
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
                self.fitted.copy_from_slice(id);
                self.from.copy_from_slice(track_id);
                self.held.copy_from_slice(track_id);
                self.eased = 0;
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
            lock.add(&solver, &p, &[0.0; 40], 200.0, &mut s).unwrap();
        }
        // The track's identity (here the mean face) is carried to the fitted one step by step.
        assert_eq!(
            lock.held(),
            Some(&[0.0; 40][..]),
            "held from the track's identity"
        );
        assert_eq!(
            lock.state(),
            LockState::Easing {
                frames: 0,
                of: EASE_FRAMES
            }
        );
        let mut distances = Vec::new();
        assert_eq!(lock.eased_share(), 0.0);
        let fitted_norm = lock.fitted.iter().map(|v| v * v).sum::<f64>().sqrt();
        for _ in 0..EASE_FRAMES {
            assert!(!lock.settled());
            lock.advance();
            let h = lock.held().expect("held");
            distances.push(h.iter().map(|v| v * v).sum::<f64>().sqrt());
            // The share of the way the tracker fades its cascade by is the identity's own.
            let share = lock.eased_share();
            assert!((distances.last().unwrap() - share * fitted_norm).abs() < 1e-9);
        }
        assert!(lock.settled());
        assert_eq!(lock.state(), LockState::Held);
        assert_eq!(lock.eased_share(), 1.0);
        let held = lock.held().expect("held").to_vec();
        lock.advance();
        assert_eq!(lock.held(), Some(&held[..]), "settled: no further move");
        let steps: Vec<f64> = distances.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            steps.iter().all(|&d| d > 0.0),
            "moves every frame: {steps:?}"
        );
        let largest = steps.iter().fold(0.0f64, |a, &b| a.max(b));
        assert!(
            largest < 0.2 * distances[EASE_FRAMES - 1],
            "no frame takes a fifth of the way: {steps:?}"
        );
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

//! Identity held while a face is tracked — the future work the PARM paper names: a person's
//! identity does not change from frame to frame, so after enough confident frames of one face
//! their identity coefficients are averaged and held, and each frame fits pose and expression
//! only. The lock is released when the face is found again by the detector, which may have found
//! someone else.
//!
//! Off by default: PARM's and PRM's tracking cascades never move the identity (they were trained
//! from starts with the true identity), so their tracks hold the first fit's identity already.
//! Where it does move (the joint refinement and PCLM), holding it lowers the landmark jitter but
//! moves the noise into the expression, and the shared clips' error rises a little
//! (docs/identity_lock.md).

/// Confident frames averaged before the identity is held: one second at 30 fps.
pub const LOCK_FRAMES: usize = 30;
/// A frame counts towards the average only at this confidence (a clear face) and with the head
/// within this yaw (radians, 35°): a turned face shows half its shape, and the identity a fit
/// gives it is the least certain.
const MIN_CONFIDENCE: f64 = 0.9;
const MAX_YAW: f64 = 35.0 * std::f64::consts::PI / 180.0;

/// The running average, then the held identity.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityLock {
    sum: Vec<f64>,
    frames: usize,
    held: Vec<f64>,
    locked: bool,
}

impl IdentityLock {
    pub fn new(n_id: usize) -> Self {
        Self {
            sum: vec![0.0; n_id],
            frames: 0,
            held: vec![0.0; n_id],
            locked: false,
        }
    }

    /// The identity held, once there is one.
    pub fn held(&self) -> Option<&[f64]> {
        self.locked.then_some(self.held.as_slice())
    }

    /// Frames averaged so far (towards [`LOCK_FRAMES`]).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Forgets the average and the held identity.
    pub fn release(&mut self) {
        self.sum.fill(0.0);
        self.frames = 0;
        self.locked = false;
    }

    /// Adds a tracked frame's identity (fitted freely), with its confidence and yaw; holds the
    /// average once [`LOCK_FRAMES`] frames are in. Allocates nothing.
    pub fn add(&mut self, id: &[f64], confidence: f64, yaw: f64) {
        if self.locked
            || id.len() != self.sum.len()
            || confidence < MIN_CONFIDENCE
            || yaw.abs() > MAX_YAW
            || id.iter().any(|v| !v.is_finite())
        {
            return;
        }
        for (s, v) in self.sum.iter_mut().zip(id) {
            *s += v;
        }
        self.frames += 1;
        if self.frames >= LOCK_FRAMES {
            let n = self.frames as f64;
            for (h, s) in self.held.iter_mut().zip(&self.sum) {
                *h = s / n;
            }
            self.locked = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_average_of_confident_frontal_frames_and_releases() {
        let mut lock = IdentityLock::new(2);
        for k in 0..LOCK_FRAMES - 1 {
            lock.add(&[k as f64, 1.0], 0.95, 0.1);
            // Unsure and turned frames do not count.
            lock.add(&[100.0, 100.0], 0.5, 0.0);
            lock.add(&[100.0, 100.0], 0.99, 1.0);
        }
        assert!(lock.held().is_none());
        lock.add(&[(LOCK_FRAMES - 1) as f64, 1.0], 0.95, -0.1);
        let mean = (LOCK_FRAMES - 1) as f64 / 2.0;
        assert_eq!(lock.held(), Some(&[mean, 1.0][..]));
        // Once held, frames do not move it.
        lock.add(&[50.0, 50.0], 0.99, 0.0);
        assert_eq!(lock.held(), Some(&[mean, 1.0][..]));
        lock.release();
        assert!(lock.held().is_none());
        assert_eq!(lock.frames(), 0);
    }
}

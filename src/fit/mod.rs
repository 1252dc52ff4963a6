//! M2: turning landmark updates into parameter updates — the PARM framework (Eq. 8) with PCLM
//! (Eq. 9), PRM (Eq. 10) and PARM (Eq. 12), and their training.

pub mod box_frame;
pub mod cascade;
pub mod cholesky;
pub mod confidence_training;
pub mod face_profiling;
pub mod in_plane;
pub mod joint;
pub mod parm;
pub mod parm_by_pose;
pub mod parm_joint;
pub mod pclm;
pub mod prm;
pub mod regressor;
pub mod ridge;
pub mod shared_identity;
pub mod training;
pub mod training_set;
pub mod visibility;
pub mod warm_start;

pub use cascade::{Cascade, FitError, FitScratch, ParamUpdate};
pub use in_plane::{
    InPlaneError, PlaneTransform, TurnedBox, UprightFit, UprightView, in_plane_angle,
};
pub use joint::{
    JointConfig, JointError, JointScratch, JointSolver, JointWeights, adaptive_weights,
};
pub use pclm::Pclm;
pub use regressor::{AffineMap, RegressorCascade, RegressorKind, RegressorRole};

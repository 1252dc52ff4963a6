//! M1: landmark alignment — dlib's ERT cascade evaluated stage by stage, and face detection.

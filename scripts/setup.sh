#!/usr/bin/env bash
# Installs what facetrack needs to build, test and run on a fresh Debian/Ubuntu machine:
# dlib's 68-point shape predictor (libdlib-data), the tools the JPEG decoder is built with, FFmpeg's
# libraries (video decoding and encoding), the
# font the evaluation's plots are labelled in, and what the window needs to run on a machine with
# no GPU and no screen: X11 client libraries, Mesa's software Vulkan (lavapipe) and GL (llvmpipe)
# drivers, and Xvfb for the window's test.
set -euo pipefail

packages=(
  libdlib-data # /usr/share/dlib/shape_predictor_68_face_landmarks.dat, the M1 landmark cascade
  cmake nasm   # build libjpeg-turbo, bundled in the turbojpeg crate
  pkg-config
  libclang-dev # bindgen, for the camera crate
  build-essential
  fonts-dejavu-core # DejaVuSans.ttf, the text of the evaluation's plots
  # The window (winit, wgpu): X11 libraries winit loads at run time, the Vulkan and GL loaders,
  # Mesa's drivers (lavapipe, llvmpipe on a machine without a GPU), and a virtual X server.
  libx11-xcb1 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0
  libvulkan1 mesa-vulkan-drivers
  libgl1 libegl1 libegl-mesa0 libgl1-mesa-dri
  xvfb xauth
  # Video in and out: FFmpeg's libraries, which the ffmpeg-next crate links (bindgen reads their
  # headers with libclang).
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
  ffmpeg # the tests turn the shared MP4 clips into the hard cases (every 4th frame, cuts, padding, rotation)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi

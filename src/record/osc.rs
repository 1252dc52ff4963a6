//! The live output over OSC (Open Sound Control) on UDP: every fitted frame as one OSC bundle, in
//! the VMC protocol's messages for avatar programs ([`super::vmc`]) or in facetrack's own plain
//! addresses for anything that reads OSC ([`super::osc_plain`]).
//!
//! It runs on the tracking thread (a [`LiveOutput`]), so nothing here waits: the socket is
//! non-blocking and a datagram that would wait for room is dropped and counted; the messages are
//! built once and only their numbers change from frame to frame, encoded into one reused buffer,
//! so that a frame allocates nothing. The address is resolved once, when the sender is made.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::str::FromStr;
use std::time::Instant;

use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};
use thiserror::Error;

use super::osc_plain::PlainPackets;
use super::vmc::VmcPackets;
use crate::model::Params;
use crate::track::{LiveOutput, LiveSent, TrackResult};

/// The port VMC receivers (VSeeFace, VNyan, Warudo, VMagicMirror…) listen on by default.
pub const VMC_DEFAULT_PORT: u16 = 39539;

#[derive(Debug, Error)]
pub enum OscError {
    #[error(
        "`{address}` is not an OSC address to send to: {why} (give HOST:PORT, e.g. 127.0.0.1:{VMC_DEFAULT_PORT})"
    )]
    Address { address: String, why: String },
    #[error("cannot open a UDP socket to send OSC to {target}: {source}")]
    Socket {
        target: SocketAddr,
        source: std::io::Error,
    },
}

/// Which messages a frame is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OscFormat {
    /// The VMC protocol's (`/VMC/Ext/…`): the head bone and ARKit-named blendshapes.
    #[default]
    Vmc,
    /// facetrack's own: `/facetrack/pose` and `/facetrack/blend/NAME`.
    Plain,
}

impl OscFormat {
    pub const ALL: [Self; 2] = [Self::Vmc, Self::Plain];

    pub fn name(self) -> &'static str {
        match self {
            Self::Vmc => "vmc",
            Self::Plain => "plain",
        }
    }
}

impl FromStr for OscFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown OSC format `{s}`: vmc or plain"))
    }
}

/// How the sender sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OscOptions {
    pub format: OscFormat,
    /// VMC only: send the avatar as the person's mirror image (see [`super::vmc`]).
    pub mirror: bool,
}

impl Default for OscOptions {
    fn default() -> Self {
        Self {
            format: OscFormat::Vmc,
            mirror: true,
        }
    }
}

/// Resolves `HOST:PORT` (a name, an IPv4 address, or an IPv6 one in brackets) to the address
/// datagrams go to: the first the resolver gives.
pub fn resolve(address: &str) -> Result<SocketAddr, OscError> {
    let bad = |why: String| OscError::Address {
        address: address.to_owned(),
        why,
    };
    let trimmed = address.trim();
    let Some((host, port)) = trimmed.rsplit_once(':').filter(|(_, p)| !p.is_empty()) else {
        return Err(bad("no port".into()));
    };
    if host.is_empty() {
        return Err(bad("no host".into()));
    }
    match port.parse::<u16>() {
        Ok(0) => return Err(bad("port 0 is no port to send to".into())),
        Ok(_) => {}
        Err(_) => return Err(bad(format!("`{port}` is not a port (1 to 65535)"))),
    }
    let mut found = trimmed
        .to_socket_addrs()
        .map_err(|e| bad(format!("cannot resolve `{host}`: {e}")))?;
    found
        .next()
        .ok_or_else(|| bad(format!("`{host}` resolves to no address")))
}

/// The prebuilt messages of one format.
enum Packets {
    Vmc(VmcPackets),
    Plain(PlainPackets),
}

/// Sends every fitted frame as one OSC bundle to one address.
pub struct OscSender {
    socket: UdpSocket,
    target: SocketAddr,
    packets: Packets,
    buffer: Vec<u8>,
    /// What VMC's time stamps count from.
    started: Instant,
    description: String,
}

impl std::fmt::Debug for OscSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OscSender")
            .field("target", &self.target)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// Room for a whole bundle from the start: a VMC frame encodes to about 1.2 kB.
const BUFFER_BYTES: usize = 2048;

impl OscSender {
    /// Resolves `address` (`HOST:PORT`) and opens a non-blocking UDP socket to send to it.
    pub fn new(address: &str, options: OscOptions) -> Result<Self, OscError> {
        let target = resolve(address)?;
        let local: SocketAddr = if target.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| OscError::Socket { target, source })?;
        let (packets, description) = match options.format {
            OscFormat::Vmc => (
                Packets::Vmc(VmcPackets::new(options.mirror)),
                if options.mirror {
                    format!("VMC to {target} (mirror image)")
                } else {
                    format!("VMC to {target}")
                },
            ),
            OscFormat::Plain => (
                Packets::Plain(PlainPackets::new()),
                format!("OSC (plain) to {target}"),
            ),
        };
        Ok(Self {
            socket,
            target,
            packets,
            buffer: Vec::with_capacity(BUFFER_BYTES),
            started: Instant::now(),
            description,
        })
    }

    /// Encodes the bundle `result` is sent as into the buffer: the bytes of one datagram.
    fn encode(&mut self, result: &TrackResult) {
        let packet: &OscPacket = match &mut self.packets {
            Packets::Vmc(p) => p.fill(result, self.started),
            Packets::Plain(p) => p.fill(result),
        };
        self.buffer.clear();
        match rosc::encoder::encode_into(packet, &mut self.buffer) {
            Ok(_) => {}
            Err(never) => match never {},
        }
    }
}

impl LiveOutput for OscSender {
    fn send(&mut self, result: &TrackResult) -> LiveSent {
        let target = self.target;
        self.encode(result);
        // A full socket buffer (WouldBlock) and a refusal alike: the frame is dropped, the next
        // one tries again. Nothing is waited for.
        match self.socket.send_to(&self.buffer, target) {
            Ok(n) if n == self.buffer.len() => LiveSent::Sent,
            Ok(_) | Err(_) => LiveSent::Dropped,
        }
    }

    fn describe(&self) -> &str {
        &self.description
    }
}

/// An assumed horizontal field of view of the camera, that of a typical webcam: a weak-perspective
/// fit has the face's size in the image but not the camera's focal length, which the distance
/// needs.
pub const ASSUMED_FOV_DEG: f64 = 60.0;

/// Micrometres, the model's units (those of AFLW2000-3D's morphable model), to metres.
const MODEL_UNIT_M: f64 = 1e-6;

/// Where the middle of the face (the model's origin) is, in metres, relative to the camera:
/// `[x, y, d]` with x towards the image's right and y up, both in the plane of the face, and d
/// its distance from the camera. x and y follow from the fit alone (pixels over the scale, in
/// model units a pixel); d assumes the camera's field of view is [`ASSUMED_FOV_DEG`].
pub fn head_position(params: &Params, width: usize, height: usize) -> [f64; 3] {
    let s = params.s();
    if s.is_nan() || s <= 0.0 || width == 0 || height == 0 {
        return [0.0; 3];
    }
    let [cx, cy] = crate::fit::in_plane::middle(width, height);
    let focal_px = (width as f64 / 2.0) / (ASSUMED_FOV_DEG.to_radians() / 2.0).tan();
    [
        (params.tx() - cx) / s * MODEL_UNIT_M,
        -(params.ty() - cy) / s * MODEL_UNIT_M,
        focal_px / s * MODEL_UNIT_M,
    ]
}

/// OSC's time tag for "at once".
const IMMEDIATELY: OscTime = OscTime {
    seconds: 0,
    fractional: 1,
};

/// Writes `values` as floats into the arguments of the `index`th message of `bundle` from
/// argument `first` on; a bundle of another shape is left as it is.
pub(super) fn set_floats(bundle: &mut OscPacket, index: usize, first: usize, values: &[f32]) {
    let OscPacket::Bundle(b) = bundle else { return };
    let Some(OscPacket::Message(m)) = b.content.get_mut(index) else {
        return;
    };
    for (arg, &v) in m.args.iter_mut().skip(first).zip(values) {
        *arg = OscType::Float(v);
    }
}

/// A message to `addr` with `args`, as the packets are built once.
pub(super) fn message(addr: impl Into<String>, args: Vec<OscType>) -> OscPacket {
    OscPacket::Message(OscMessage {
        addr: addr.into(),
        args,
    })
}

/// A bundle to apply at once.
pub(super) fn bundle(content: Vec<OscPacket>) -> OscPacket {
    OscPacket::Bundle(OscBundle {
        timetag: IMMEDIATELY,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_resolve() {
        assert_eq!(
            resolve("127.0.0.1:39539").unwrap(),
            "127.0.0.1:39539".parse().unwrap()
        );
        assert_eq!(
            resolve("[::1]:9000").unwrap(),
            "[::1]:9000".parse().unwrap()
        );
        assert!(resolve("localhost:9000").unwrap().ip().is_loopback());
    }

    #[test]
    fn bad_addresses_are_refused_with_the_reason() {
        for (address, why) in [
            ("127.0.0.1", "no port"),
            ("127.0.0.1:", "no port"),
            (":39539", "no host"),
            ("127.0.0.1:0", "port 0"),
            ("127.0.0.1:70000", "not a port"),
            ("127.0.0.1:vmc", "not a port"),
            ("no such host.invalid:39539", "cannot resolve"),
        ] {
            match OscSender::new(address, OscOptions::default()) {
                Err(e @ OscError::Address { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains(why), "{address}: {text}");
                    assert!(text.contains(address), "{address}: {text}");
                }
                other => panic!("{address}: {other:?}"),
            }
        }
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("vmc".parse::<OscFormat>(), Ok(OscFormat::Vmc));
        assert_eq!("plain".parse::<OscFormat>(), Ok(OscFormat::Plain));
        assert!("json".parse::<OscFormat>().is_err());
    }

    #[test]
    fn head_position_from_the_fit() {
        let mut p = Params::zeros(0, 0);
        // A face 145 mm wide (the model's mean face) that spans 145 px of a 640-px-wide frame,
        // 100 px right of the middle and 50 px above it.
        p.set_s(145.0 / 145_000.0);
        p.set_tx(319.5 + 100.0);
        p.set_ty(239.5 - 50.0);
        let [x, y, d] = head_position(&p, 640, 480);
        assert!((x - 0.1).abs() < 1e-9, "{x}");
        assert!((y - 0.05).abs() < 1e-9, "{y}");
        // f = 320 / tan 30° = 554.3 px; d = f / s = 0.554 m.
        assert!((d - 0.5543).abs() < 1e-3, "{d}");
        assert_eq!(head_position(&Params::zeros(0, 0), 640, 480), [0.0; 3]);
    }
}

//! The live output on the built binary: `facetrack track --osc` on the demo, received on a
//! loopback socket and decoded with rosc. Every fitted frame is one bundle, its messages as the
//! VMC specification gives them (or the plain format's), the pose the CSV's, and a receiver that
//! is not there costs nothing but dropped datagrams.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use facetrack::controls::CONTROL_NAMES;
use facetrack::model::Params;
use facetrack::record::vmc::head_bone;
use rosc::{OscMessage, OscPacket, OscType};

const FRAMES: usize = 120;

fn facetrack() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_facetrack"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("FACETRACK_MODELS");
    c
}

fn summary(out: &Output) -> serde_json::Value {
    let t = String::from_utf8_lossy(&out.stdout);
    let line = t.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: stdout {t:?}"))
}

/// Datagrams received on a loopback socket, drained on a thread from before the run until it
/// is told to stop.
struct Receiver {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Vec<u8>>>,
}

impl Receiver {
    fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => got.push(buf[..n].to_vec()),
                    // Timed out: stop once told to and nothing more is queued.
                    Err(_) if flag.load(Ordering::SeqCst) => return got,
                    Err(_) => {}
                }
            }
        });
        Self { port, stop, thread }
    }

    fn finish(self) -> Vec<OscPacket> {
        self.stop.store(true, Ordering::SeqCst);
        let datagrams = self.thread.join().unwrap();
        datagrams
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (rest, packet) = rosc::decoder::decode_udp(d)
                    .unwrap_or_else(|e| panic!("datagram {i} is no OSC packet: {e:?}"));
                assert!(
                    rest.is_empty(),
                    "datagram {i}: {} bytes left over",
                    rest.len()
                );
                packet
            })
            .collect()
    }
}

/// Tracks `FRAMES` frames of the demo sending to `port` with `extra` flags: the run's output
/// and the CSV's rows, as maps from column name to text.
fn track(dir: &Path, port: u16, extra: &[&str]) -> (Output, Vec<HashMap<String, String>>) {
    let csv = dir.join("out.csv");
    let out = facetrack()
        .args(["track", "--source", "demo", "--frames", &FRAMES.to_string()])
        .args(["--osc", &format!("127.0.0.1:{port}")])
        .args(extra)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out, rows(&csv))
}

fn rows(csv: &PathBuf) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

fn num(row: &HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|e| panic!("{column} = {:?}: {e}", row[column]))
}

/// The messages of a bundle, in order; every packet must be a bundle of messages.
fn messages(packet: &OscPacket) -> Vec<&OscMessage> {
    let OscPacket::Bundle(b) = packet else {
        panic!("not a bundle: {packet:?}");
    };
    b.content
        .iter()
        .map(|p| match p {
            OscPacket::Message(m) => m,
            OscPacket::Bundle(_) => panic!("a bundle inside the bundle"),
        })
        .collect()
}

fn floats(args: &[OscType]) -> Vec<f32> {
    args.iter()
        .map(|a| match a {
            OscType::Float(v) => *v,
            other => panic!("{other:?} where a float belongs"),
        })
        .collect()
}

fn ints(args: &[OscType]) -> Vec<i32> {
    args.iter()
        .map(|a| match a {
            OscType::Int(v) => *v,
            other => panic!("{other:?} where an int belongs"),
        })
        .collect()
}

/// The pose of a CSV row, as the tracker had it.
fn params(row: &HashMap<String, String>) -> Params {
    let mut p = Params::zeros(0, 0);
    p.set_s(num(row, "scale"));
    p.set_pitch(num(row, "pitch_deg").to_radians());
    p.set_yaw(num(row, "yaw_deg").to_radians());
    p.set_roll(num(row, "roll_deg").to_radians());
    p.set_tx(num(row, "tx"));
    p.set_ty(num(row, "ty"));
    p
}

fn assert_summary(out: &Output, sent: usize) {
    let s = summary(out);
    assert_eq!(s["frames"], FRAMES as u64);
    assert_eq!(s["osc_packets"], sent as u64, "{s}");
    assert_eq!(s["osc_dropped"], (FRAMES - sent) as u64, "{s}");
    let p50 = s["osc_latency_ms_p50"].as_f64().unwrap();
    let p99 = s["osc_latency_ms_p99"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= p99, "{s}");
}

#[test]
fn a_vmc_bundle_for_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let (out, rows) = track(dir.path(), receiver.port, &[]);
    let packets = receiver.finish();
    assert_eq!(rows.len(), FRAMES);
    assert_eq!(packets.len(), FRAMES, "one datagram a fitted frame");
    assert_summary(&out, FRAMES);

    let mut tracked = 0;
    let mut last_time = f32::NEG_INFINITY;
    for (i, (packet, row)) in packets.iter().zip(&rows).enumerate() {
        let m = messages(packet);
        let ok = m
            .iter()
            .find(|m| m.addr == "/VMC/Ext/OK")
            .unwrap_or_else(|| panic!("frame {i}: no /VMC/Ext/OK"));
        let state = ints(&ok.args);
        assert_eq!(state.len(), 4, "frame {i}: /VMC/Ext/OK {state:?}");
        assert_eq!(state[0], 1, "frame {i}: loaded");
        let time = m.iter().find(|m| m.addr == "/VMC/Ext/T").unwrap();
        let t = floats(&time.args);
        assert_eq!(t.len(), 1);
        assert!(t[0] >= last_time, "frame {i}: time goes back");
        last_time = t[0];

        let success = row["success"] == "1";
        assert_eq!(state[3], i32::from(success), "frame {i}: trackingStatus");
        if !success {
            assert_eq!(m.len(), 2, "frame {i}: untracked, yet {m:?}");
            continue;
        }
        tracked += 1;
        let bones: Vec<_> = m.iter().filter(|m| m.addr == "/VMC/Ext/Bone/Pos").collect();
        assert_eq!(bones.len(), 1, "frame {i}: one bone");
        let bone = &bones[0].args;
        assert_eq!(bone.len(), 8, "frame {i}: {bone:?}");
        assert_eq!(bone[0], OscType::String("Head".into()));
        let v = floats(&bone[1..]);
        let q = &v[3..7];
        let norm = q.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "frame {i}: |q| = {norm}");
        // The CSV's pose, converted as the sender does (mirrored, the default).
        let (want_q, want_p) = head_bone(&params(row), 640, 480, true);
        for k in 0..4 {
            assert!(
                (f64::from(q[k]) - want_q[k]).abs() < 1e-4,
                "frame {i}: q {q:?}, the CSV's pose gives {want_q:?}"
            );
        }
        for k in 0..3 {
            assert!(
                (f64::from(v[k]) - want_p[k]).abs() < 1e-4,
                "frame {i}: position {:?}, the CSV's pose gives {want_p:?}",
                &v[..3]
            );
        }

        let blends: Vec<(usize, &OscMessage)> = m
            .iter()
            .enumerate()
            .filter(|(_, m)| m.addr == "/VMC/Ext/Blend/Val")
            .map(|(k, m)| (k, *m))
            .collect();
        let mut names: Vec<&str> = Vec::new();
        for (_, b) in &blends {
            assert_eq!(b.args.len(), 2, "frame {i}: {b:?}");
            let OscType::String(name) = &b.args[0] else {
                panic!("frame {i}: {b:?}")
            };
            let value = floats(&b.args[1..])[0];
            assert!((0.0..=1.0).contains(&value), "frame {i}: {name} = {value}");
            names.push(name);
        }
        let mut want: Vec<&str> = CONTROL_NAMES.to_vec();
        names.sort_unstable();
        want.sort_unstable();
        assert_eq!(names, want, "frame {i}: each control once");
        let apply: Vec<usize> = m
            .iter()
            .enumerate()
            .filter(|(_, m)| m.addr == "/VMC/Ext/Blend/Apply")
            .map(|(k, _)| k)
            .collect();
        assert_eq!(apply.len(), 1, "frame {i}: one Apply");
        assert!(m[apply[0]].args.is_empty());
        assert!(
            blends.iter().all(|(k, _)| *k < apply[0]),
            "frame {i}: Apply before a value"
        );
        assert_eq!(m.len(), 2 + 1 + CONTROL_NAMES.len() + 1, "frame {i}: {m:?}");
    }
    let csv_tracked = rows.iter().filter(|r| r["success"] == "1").count();
    assert_eq!(tracked, csv_tracked);
    assert!(tracked > FRAMES / 2, "the demo is tracked: {tracked}");
}

#[test]
fn a_plain_bundle_for_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let (out, rows) = track(dir.path(), receiver.port, &["--osc-format", "plain"]);
    let packets = receiver.finish();
    assert_eq!(packets.len(), FRAMES);
    assert_summary(&out, FRAMES);
    let mut tracked = 0;
    for (i, (packet, row)) in packets.iter().zip(&rows).enumerate() {
        let m = messages(packet);
        assert_eq!(m[0].addr, "/facetrack/tracking");
        let success = row["success"] == "1";
        assert_eq!(ints(&m[0].args), [i32::from(success)], "frame {i}");
        if !success {
            assert_eq!(m.len(), 1, "frame {i}: {m:?}");
            continue;
        }
        tracked += 1;
        assert_eq!(m[1].addr, "/facetrack/pose");
        let pose = floats(&m[1].args);
        assert_eq!(pose.len(), 6, "frame {i}");
        for (k, column) in ["yaw_deg", "pitch_deg", "roll_deg"].into_iter().enumerate() {
            assert!(
                (f64::from(pose[k]) - num(row, column)).abs() < 1e-3,
                "frame {i}: {column} {} in the CSV, {} sent",
                num(row, column),
                pose[k]
            );
        }
        assert!(
            pose[5] > 0.1 && pose[5] < 5.0,
            "frame {i}: distance {}",
            pose[5]
        );
        let blends = &m[2..];
        assert_eq!(blends.len(), CONTROL_NAMES.len());
        for (b, name) in blends.iter().zip(CONTROL_NAMES) {
            assert_eq!(b.addr, format!("/facetrack/blend/{name}"));
            let v = floats(&b.args);
            assert!(v.len() == 1 && (0.0..=1.0).contains(&v[0]), "{b:?}");
        }
    }
    assert_eq!(tracked, rows.iter().filter(|r| r["success"] == "1").count());
}

#[test]
fn no_receiver_is_no_failure() {
    // A port nobody listens on: the datagrams go nowhere, the run succeeds and counts them.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let (out, rows) = track(dir.path(), port, &["--osc-no-mirror"]);
    assert_eq!(rows.len(), FRAMES);
    let s = summary(&out);
    let sent = s["osc_packets"].as_u64().unwrap();
    let dropped = s["osc_dropped"].as_u64().unwrap();
    assert_eq!(sent + dropped, FRAMES as u64, "{s}");
    assert_eq!(s["lost_rows"], 0);
}

#[test]
fn a_bad_address_stops_before_tracking() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    for address in ["127.0.0.1", "127.0.0.1:99999", "localhost:port"] {
        let out = facetrack()
            .args([
                "track", "--source", "demo", "--frames", "5", "--osc", address,
            ])
            .arg("--csv")
            .arg(&csv)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{address}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(address) && err.contains("HOST:PORT"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!csv.exists(), "{address}: tracking started");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_window_refuses_a_bad_address_before_it_opens() {
    // No display is needed: the address is checked first.
    let out = facetrack()
        .args(["run", "--source", "demo", "--osc", "127.0.0.1:"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("127.0.0.1:") && err.contains("HOST:PORT"),
        "{err}"
    );
    assert!(!err.contains("window"), "{err}");
}

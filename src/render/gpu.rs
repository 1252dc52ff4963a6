//! The window's GPU: instance, adapter, device and the surface, configured without vsync where the
//! platform allows so that the window's frame rate is the renderer's, plus the depth buffer of
//! the video view. Any backend wgpu finds (`WGPU_BACKEND=vulkan|gl` picks one), software ones
//! (lavapipe, llvmpipe) included.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use winit::event_loop::ActiveEventLoop;
use winit::window::Window;

use super::scene::DEPTH_FORMAT;

pub struct Gpu {
    pub surface: wgpu::Surface<'static>,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub config: wgpu::SurfaceConfiguration,
    depth: wgpu::TextureView,
}

/// What the panel and the exit line say about the GPU.
#[derive(Debug, Clone)]
pub struct GpuInfo {
    pub backend: String,
    pub adapter: String,
    pub present_mode: String,
}

impl Gpu {
    /// Opens the GPU for `window`: the adapter that can present to it, a device with the limits
    /// that GL ES 3 guarantees (raised to the adapter's texture sizes), and the surface.
    pub fn new(event_loop: &ActiveEventLoop, window: Arc<Window>) -> Result<Self> {
        let display = Box::new(event_loop.owned_display_handle());
        let instance = wgpu::Instance::new(
            wgpu::InstanceDescriptor::new_with_display_handle_from_env(display),
        );
        let surface = instance
            .create_surface(window.clone())
            .context("cannot make a drawing surface for the window")?;
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: Some(&surface),
            apply_limit_buckets: false,
        }))
        .map_err(|e| {
            anyhow!("no graphics adapter can draw to the window ({e}); install Mesa's Vulkan or GL drivers (scripts/setup.sh), or pick another with WGPU_BACKEND=vulkan|gl")
        })?;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("facetrack"),
            required_limits:
                wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .context("the graphics adapter refused to open a device")?;

        let size = window.inner_size();
        let caps = surface.get_capabilities(&adapter);
        // egui draws in gamma space and wants a plain 8-bit target; the frame's bytes too.
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| {
                matches!(
                    f,
                    wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Rgba8Unorm
                )
            })
            .or_else(|| caps.formats.first().copied())
            .ok_or_else(|| anyhow!("the window's surface offers no texture format"))?;
        let alpha_mode = caps
            .alpha_modes
            .iter()
            .copied()
            .find(|m| *m == wgpu::CompositeAlphaMode::Opaque)
            .or_else(|| caps.alpha_modes.first().copied())
            .unwrap_or(wgpu::CompositeAlphaMode::Auto);
        // Copies into the surface (where it takes them) spare a software renderer drawing the
        // frame and the panel pixel by pixel.
        let usage =
            wgpu::TextureUsages::RENDER_ATTACHMENT | (caps.usages & wgpu::TextureUsages::COPY_DST);
        let config = wgpu::SurfaceConfiguration {
            usage,
            format,
            color_space: Default::default(),
            width: size.width.max(1),
            height: size.height.max(1),
            // Immediate, else Mailbox, else Fifo: no waiting on a vertical blank where the
            // platform lets the window run free.
            present_mode: wgpu::PresentMode::AutoNoVsync,
            desired_maximum_frame_latency: 2,
            alpha_mode,
            view_formats: vec![],
        };
        surface.configure(&device, &config);
        let depth = depth_view(&device, config.width, config.height);
        Ok(Self {
            surface,
            adapter,
            device,
            queue,
            config,
            depth,
        })
    }

    pub fn info(&self) -> GpuInfo {
        let a = self.adapter.get_info();
        GpuInfo {
            backend: a.backend.to_string(),
            adapter: a.name,
            present_mode: format!("{:?}", self.present_mode()),
        }
    }

    /// The present mode the surface runs with, after `AutoNoVsync`'s fallbacks.
    fn present_mode(&self) -> wgpu::PresentMode {
        let modes = self.surface.get_capabilities(&self.adapter).present_modes;
        [
            wgpu::PresentMode::Immediate,
            wgpu::PresentMode::Mailbox,
            wgpu::PresentMode::Fifo,
        ]
        .into_iter()
        .find(|m| modes.contains(m))
        .unwrap_or(wgpu::PresentMode::Fifo)
    }

    pub fn depth(&self) -> &wgpu::TextureView {
        &self.depth
    }

    pub fn size(&self) -> [u32; 2] {
        [self.config.width, self.config.height]
    }

    /// Follows the window's size (a zero size, a minimised window, is kept as it was).
    pub fn resize(&mut self, width: u32, height: u32) {
        if width == 0 || height == 0 || [width, height] == self.size() {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        self.reconfigure();
    }

    fn reconfigure(&mut self) {
        self.surface.configure(&self.device, &self.config);
        self.depth = depth_view(&self.device, self.config.width, self.config.height);
    }

    /// The texture to draw the next frame into, or `None` to skip this frame (the surface was
    /// out of date or lost and has been configured again, or it timed out).
    pub fn acquire(&mut self) -> Option<wgpu::SurfaceTexture> {
        match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) => Some(t),
            wgpu::CurrentSurfaceTexture::Suboptimal(t) => {
                drop(t);
                self.reconfigure();
                None
            }
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.reconfigure();
                None
            }
            _ => None,
        }
    }
}

fn depth_view(device: &wgpu::Device, width: u32, height: u32) -> wgpu::TextureView {
    device
        .create_texture(&wgpu::TextureDescriptor {
            label: Some("depth"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: DEPTH_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            view_formats: &[],
        })
        .create_view(&Default::default())
}

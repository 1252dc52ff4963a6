//! `--screenshot`: the window's last frame, drawn once more into a texture of the surface's size
//! and format (a surface texture cannot be read back on every backend), copied to a buffer with
//! rows padded to wgpu's 256-byte alignment, and written as a PNG.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// A texture like the surface's that can be copied from.
pub struct Offscreen {
    pub texture: wgpu::Texture,
}

impl Offscreen {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat, size: [u32; 2]) -> Self {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("screenshot"),
            size: wgpu::Extent3d {
                width: size[0],
                height: size[1],
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            // Drawn like the surface, copies included.
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        Self { texture }
    }

    /// Reads the texture back (after the commands that drew it were submitted) and writes it as
    /// an RGB PNG.
    pub fn save_png(&self, device: &wgpu::Device, queue: &wgpu::Queue, path: &Path) -> Result<()> {
        let (w, h) = (self.texture.width(), self.texture.height());
        let format = self.texture.format();
        let swap_red_blue = match format {
            wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Bgra8UnormSrgb => true,
            wgpu::TextureFormat::Rgba8Unorm | wgpu::TextureFormat::Rgba8UnormSrgb => false,
            other => bail!("cannot take a screenshot of a {other:?} surface"),
        };
        let row = 4 * w;
        let padded_row =
            row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("screenshot readback"),
            size: u64::from(padded_row) * u64::from(h),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        encoder.copy_texture_to_buffer(
            self.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded_row),
                    rows_per_image: None,
                },
            },
            self.texture.size(),
        );
        queue.submit([encoder.finish()]);

        let slice = buffer.slice(..);
        let (tx, rx) = crossbeam_channel::bounded(1);
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .context("waiting for the screenshot's copy")?;
        rx.recv()
            .context("the screenshot's copy was dropped")?
            .context("cannot read the screenshot back from the GPU")?;

        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        {
            let data = slice
                .get_mapped_range()
                .map_err(|e| anyhow::anyhow!("cannot read the screenshot back: {e:?}"))?;
            for padded in data.chunks_exact(padded_row as usize) {
                for px in padded[..row as usize].chunks_exact(4) {
                    if swap_red_blue {
                        rgb.extend_from_slice(&[px[2], px[1], px[0]]);
                    } else {
                        rgb.extend_from_slice(&px[..3]);
                    }
                }
            }
        }
        buffer.unmap();
        image::save_buffer(path, &rgb, w, h, image::ExtendedColorType::Rgb8)
            .with_context(|| format!("cannot write the screenshot {}", path.display()))
    }
}

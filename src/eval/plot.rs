//! Line plots written as PNG files, for the evaluation's cumulative error distribution (CED) and
//! NME-per-stage figures.
//!
//! The plot is drawn straight onto an `image::RgbImage`; text is rasterised with `ab_glyph` from a
//! TrueType font looked up on the system at run time (DejaVu Sans from Debian's
//! `fonts-dejavu-core`, see [`FONT_PATHS`]). A missing font is not an error: the frame, grid,
//! ticks, curves and legend swatches are still drawn, and [`PlotOutcome::NoFont`] tells the caller
//! so it can print a warning.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{ImageFormat, Rgb, RgbImage};
use thiserror::Error;

/// The size [`PlotSpec::new`] asks for.
pub const DEFAULT_SIZE: (u32, u32) = (800, 600);
/// Below this the margins leave no room for the plot area.
pub const MIN_SIZE: (u32, u32) = (200, 150);
/// Guards against a typo allocating gigabytes.
pub const MAX_SIDE: u32 = 8192;

/// A font file named here is tried before [`FONT_PATHS`].
pub const FONT_ENV: &str = "FACETRACK_FONT";

/// Where the text font is looked for, in order.
pub const FONT_PATHS: &[&str] = &[
    // Debian and Ubuntu (fonts-dejavu-core, installed by scripts/setup.sh).
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    // Arch.
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    // Fedora.
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    // macOS.
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
];

/// Series colours, in order; they repeat after the last. Chosen to stay distinguishable on white
/// and from each other (the first six in particular, the most a figure here is expected to hold).
pub const PALETTE: [Rgb<u8>; 10] = [
    Rgb([31, 119, 180]),
    Rgb([255, 127, 14]),
    Rgb([44, 160, 44]),
    Rgb([214, 39, 40]),
    Rgb([148, 103, 189]),
    Rgb([140, 86, 75]),
    Rgb([227, 119, 194]),
    Rgb([127, 127, 127]),
    Rgb([188, 189, 34]),
    Rgb([23, 190, 207]),
];

const LINE_WIDTH: u32 = 2;
const SWATCH_WIDTH: u32 = 3;
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const LEGEND_BORDER: Rgb<u8> = Rgb([160, 160, 160]);
/// Bounds the tick loop whatever floating-point rounding does to the step.
const MAX_TICKS: usize = 100;

/// The colour series `index` is drawn in.
pub fn series_colour(index: usize) -> Rgb<u8> {
    PALETTE[index % PALETTE.len()]
}

#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub label: &'a str,
    /// Drawn in order as one polyline; a non-finite point breaks it into separate pieces.
    pub points: &'a [(f64, f64)],
}

/// The corner of the plot area the legend sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegendPosition {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlotSpec<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// The data range shown, (min, max); anything outside is clipped.
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// Image (width, height) in pixels.
    pub size: (u32, u32),
    pub legend: LegendPosition,
}

impl<'a> PlotSpec<'a> {
    /// An 800×600 plot with the legend bottom-right, out of the way of CED curves, which rise
    /// towards the top-left.
    pub fn new(
        title: &'a str,
        x_label: &'a str,
        y_label: &'a str,
        x_range: (f64, f64),
        y_range: (f64, f64),
    ) -> Self {
        PlotSpec {
            title,
            x_label,
            y_label,
            x_range,
            y_range,
            size: DEFAULT_SIZE,
            legend: LegendPosition::BottomRight,
        }
    }
}

#[derive(Debug, Error)]
pub enum PlotError {
    #[error(
        "plot size {width}×{height} is outside {}×{} to {MAX_SIDE}×{MAX_SIDE} pixels",
        MIN_SIZE.0,
        MIN_SIZE.1
    )]
    Size { width: u32, height: u32 },
    #[error("{axis} range ({min}, {max}) is not a finite interval with min < max")]
    Range { axis: char, min: f64, max: f64 },
    #[error("writing the plot to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

/// Whether the plot came out complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotOutcome {
    Complete,
    /// No usable font was found: the plot has no title, axis labels, tick labels or legend
    /// labels.
    NoFont,
}

impl PlotOutcome {
    /// A line for the user when the plot lacks its text.
    pub fn warning(self) -> Option<String> {
        match self {
            PlotOutcome::Complete => None,
            PlotOutcome::NoFont => Some(format!(
                "no font found (looked at ${FONT_ENV} and {}); the plot was drawn without text — \
                 install fonts-dejavu-core",
                FONT_PATHS.join(", ")
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RenderedPlot {
    pub image: RgbImage,
    pub outcome: PlotOutcome,
}

/// Draws the series as lines over the spec's axes.
pub fn render_line_plot(spec: &PlotSpec, series: &[Series]) -> Result<RenderedPlot, PlotError> {
    let font = system_font();
    let (image, _) = render(spec, series, font)?;
    let outcome = if font.is_some() {
        PlotOutcome::Complete
    } else {
        PlotOutcome::NoFont
    };
    Ok(RenderedPlot { image, outcome })
}

/// Renders the plot and writes it to `path` as a PNG, whatever the file's extension.
pub fn write_line_plot(
    path: &Path,
    spec: &PlotSpec,
    series: &[Series],
) -> Result<PlotOutcome, PlotError> {
    let plot = render_line_plot(spec, series)?;
    plot.image
        .save_with_format(path, ImageFormat::Png)
        .map_err(|source| PlotError::Write {
            path: path.to_owned(),
            source,
        })?;
    Ok(plot.outcome)
}

/// Loaded once per process: every figure of a run uses the same font, and the file is ~700 KB.
fn system_font() -> Option<&'static FontVec> {
    static FONT: OnceLock<Option<FontVec>> = OnceLock::new();
    FONT.get_or_init(|| {
        let from_env = std::env::var_os(FONT_ENV).map(PathBuf::from);
        from_env
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from))
            .find_map(|path| {
                let bytes = std::fs::read(path).ok()?;
                FontVec::try_from_vec(bytes).ok()
            })
    })
    .as_ref()
}

/// The plot area in pixels, edges included; the frame is drawn on its border.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Area {
    left: i32,
    top: i32,
    right: i32,
    bottom: i32,
}

impl Area {
    fn contains(&self, x: i32, y: i32) -> bool {
        (self.left..=self.right).contains(&x) && (self.top..=self.bottom).contains(&y)
    }

    /// Pixel position of a point given in [0, 1]² plot-area coordinates, y up.
    fn to_pixel(self, (u, v): (f64, f64)) -> (f64, f64) {
        (
            self.left as f64 + u * (self.right - self.left) as f64,
            self.bottom as f64 - v * (self.bottom - self.top) as f64,
        )
    }
}

fn check_range(axis: char, (min, max): (f64, f64)) -> Result<(), PlotError> {
    // A span that overflows or underflows would make the pixel mapping and tick step meaningless.
    let span = max - min;
    if min.is_finite() && max.is_finite() && span.is_normal() && span > 0.0 {
        Ok(())
    } else {
        Err(PlotError::Range { axis, min, max })
    }
}

fn render(
    spec: &PlotSpec,
    series: &[Series],
    font: Option<&FontVec>,
) -> Result<(RgbImage, Area), PlotError> {
    let (width, height) = spec.size;
    if width < MIN_SIZE.0 || height < MIN_SIZE.1 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(PlotError::Size { width, height });
    }
    check_range('x', spec.x_range)?;
    check_range('y', spec.y_range)?;

    let mut canvas = Canvas {
        image: RgbImage::from_pixel(width, height, WHITE),
        font,
    };
    // Text and spacing follow the image height so a larger figure does not look sparse.
    let s = (height as f32 / DEFAULT_SIZE.1 as f32).clamp(0.5, 3.0);
    let sizes = TextSizes {
        title: 20.0 * s,
        label: 16.0 * s,
        tick: 13.0 * s,
        legend: 14.0 * s,
    };
    let pad = (10.0 * s).round() as i32;
    let tick_len = (5.0 * s).round() as i32;

    let title_h = if spec.title.is_empty() {
        0
    } else {
        canvas.line_height(sizes.title)
    };
    let top = pad + title_h + pad;
    let bottom_margin = tick_len
        + pad / 2
        + canvas.line_height(sizes.tick)
        + pad
        + canvas.line_height(sizes.label)
        + pad;
    let bottom = height as i32 - 1 - bottom_margin.max(pad);

    // The y ticks depend only on the plot height, and their labels' widths set the left margin,
    // which in turn sets the plot width and so the x ticks.
    let y_ticks = Ticks::new(spec.y_range, (bottom - top) as f64 / (60.0 * s as f64));
    let y_tick_width = y_ticks
        .labels()
        .map(|l| canvas.text_width(sizes.tick, &l))
        .max()
        .unwrap_or(0);
    let left_margin =
        pad + canvas.line_height(sizes.label) + pad + y_tick_width + pad / 2 + tick_len;
    let left = left_margin.max(pad + tick_len);
    let right = width as i32 - 1 - (30.0 * s).round() as i32;
    let area = Area {
        left,
        top,
        right,
        bottom,
    };
    let x_ticks = Ticks::new(spec.x_range, (right - left) as f64 / (90.0 * s as f64));

    let unit_x = |x: f64| (x - spec.x_range.0) / (spec.x_range.1 - spec.x_range.0);
    let unit_y = |y: f64| (y - spec.y_range.0) / (spec.y_range.1 - spec.y_range.0);

    for t in &x_ticks.values {
        let (px, _) = area.to_pixel((unit_x(*t), 0.0));
        let px = px.round() as i32;
        canvas.vline(px, area.top, area.bottom, GRID);
        canvas.vline(px, area.bottom, area.bottom + tick_len, BLACK);
    }
    for t in &y_ticks.values {
        let (_, py) = area.to_pixel((0.0, unit_y(*t)));
        let py = py.round() as i32;
        canvas.hline(area.left, area.right, py, GRID);
        canvas.hline(area.left - tick_len, area.left, py, BLACK);
    }
    canvas.hline(area.left, area.right, area.top, BLACK);
    canvas.hline(area.left, area.right, area.bottom, BLACK);
    canvas.vline(area.left, area.top, area.bottom, BLACK);
    canvas.vline(area.right, area.top, area.bottom, BLACK);

    // Curves go over the frame so one lying on an axis (a CED starting at 0) stays visible.
    for (i, s) in series.iter().enumerate() {
        let unit = s.points.iter().map(|&(x, y)| (unit_x(x), unit_y(y)));
        canvas.polyline(area, unit, series_colour(i));
    }

    for (t, label) in x_ticks.values.iter().zip(x_ticks.labels()) {
        let (px, _) = area.to_pixel((unit_x(*t), 0.0));
        let y = (area.bottom + tick_len + pad / 2) as f32;
        canvas.text(sizes.tick, &label, (px as f32, y), (0.5, 0.0), false);
    }
    for (t, label) in y_ticks.values.iter().zip(y_ticks.labels()) {
        let (_, py) = area.to_pixel((0.0, unit_y(*t)));
        let x = (area.left - tick_len - pad / 2) as f32;
        canvas.text(sizes.tick, &label, (x, py as f32), (1.0, 0.5), false);
    }
    let centre_x = (area.left + area.right) as f32 / 2.0;
    let centre_y = (area.top + area.bottom) as f32 / 2.0;
    canvas.text(
        sizes.title,
        spec.title,
        (width as f32 / 2.0, pad as f32),
        (0.5, 0.0),
        false,
    );
    canvas.text(
        sizes.label,
        spec.x_label,
        (centre_x, (height as i32 - pad) as f32),
        (0.5, 1.0),
        false,
    );
    canvas.text(
        sizes.label,
        spec.y_label,
        (pad as f32, centre_y),
        (0.0, 0.5),
        true,
    );

    canvas.legend(area, spec.legend, series, sizes.legend, s);
    Ok((canvas.image, area))
}

#[derive(Debug, Clone, Copy)]
struct TextSizes {
    title: f32,
    label: f32,
    tick: f32,
    legend: f32,
}

/// Tick positions at a 1, 2 or 5 × 10ⁿ step, and how many decimals their labels need.
struct Ticks {
    values: Vec<f64>,
    decimals: usize,
}

impl Ticks {
    fn new((min, max): (f64, f64), target_count: f64) -> Ticks {
        let raw = (max - min) / target_count.max(1.0);
        let magnitude = 10f64.powf(raw.log10().floor());
        let norm = raw / magnitude;
        let multiple = if norm <= 1.0 {
            1.0
        } else if norm <= 2.0 {
            2.0
        } else if norm <= 5.0 {
            5.0
        } else {
            10.0
        };
        let step = multiple * magnitude;
        if !step.is_normal() {
            return Ticks {
                values: Vec::new(),
                decimals: 0,
            };
        }
        let decimals = (-step.log10().floor()).clamp(0.0, 12.0) as usize;
        let first = (min / step).ceil();
        // Relative slack so the tick at `max` itself survives rounding in (first + k) * step.
        let slack = step * 1e-6;
        let values = (0..MAX_TICKS)
            .map(|k| (first + k as f64) * step)
            .take_while(|&t| t <= max + slack)
            .filter(|&t| t >= min - slack)
            // Keeps "-0.00" off the axis.
            .map(|t| if t.abs() < slack { 0.0 } else { t })
            .collect();
        Ticks { values, decimals }
    }

    fn labels(&self) -> impl Iterator<Item = String> + '_ {
        self.values
            .iter()
            .map(|t| format!("{:.*}", self.decimals, t))
    }
}

struct Canvas<'f> {
    image: RgbImage,
    font: Option<&'f FontVec>,
}

impl Canvas<'_> {
    fn put(&mut self, x: i32, y: i32, colour: Rgb<u8>) {
        if x >= 0 && y >= 0 && (x as u32) < self.image.width() && (y as u32) < self.image.height() {
            self.image.put_pixel(x as u32, y as u32, colour);
        }
    }

    fn blend(&mut self, x: i32, y: i32, colour: Rgb<u8>, alpha: f32) {
        if x < 0 || y < 0 || x as u32 >= self.image.width() || y as u32 >= self.image.height() {
            return;
        }
        let alpha = alpha.clamp(0.0, 1.0);
        let pixel = self.image.get_pixel_mut(x as u32, y as u32);
        for (c, new) in pixel.0.iter_mut().zip(colour.0) {
            *c = (*c as f32 * (1.0 - alpha) + new as f32 * alpha).round() as u8;
        }
    }

    fn hline(&mut self, x0: i32, x1: i32, y: i32, colour: Rgb<u8>) {
        for x in x0.min(x1)..=x0.max(x1) {
            self.put(x, y, colour);
        }
    }

    fn vline(&mut self, x: i32, y0: i32, y1: i32, colour: Rgb<u8>) {
        for y in y0.min(y1)..=y0.max(y1) {
            self.put(x, y, colour);
        }
    }

    fn fill(&mut self, area: Area, colour: Rgb<u8>) {
        for y in area.top..=area.bottom {
            self.hline(area.left, area.right, y, colour);
        }
    }

    /// Draws points given in plot-area units ([0, 1]² is the visible range), clipped to `area`.
    /// Non-finite points split the line; a point with no finite neighbour is drawn as a dot so a
    /// one-point series still shows.
    fn polyline(&mut self, area: Area, points: impl Iterator<Item = (f64, f64)>, colour: Rgb<u8>) {
        let mut previous: Option<(f64, f64)> = None;
        let mut run = 0usize;
        for (u, v) in points {
            if !(u.is_finite() && v.is_finite()) {
                if let (Some(p), 1) = (previous, run) {
                    self.dot(area, p, colour);
                }
                previous = None;
                run = 0;
                continue;
            }
            if let Some(p) = previous
                && let Some((a, b)) = clip_to_unit_square(p, (u, v))
            {
                self.segment(area, area.to_pixel(a), area.to_pixel(b), LINE_WIDTH, colour);
            }
            previous = Some((u, v));
            run += 1;
        }
        if let (Some(p), 1) = (previous, run) {
            self.dot(area, p, colour);
        }
    }

    fn dot(&mut self, area: Area, p: (f64, f64), colour: Rgb<u8>) {
        if (0.0..=1.0).contains(&p.0) && (0.0..=1.0).contains(&p.1) {
            let (x, y) = area.to_pixel(p);
            let (x, y) = (x.round() as i32, y.round() as i32);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    if area.contains(x + dx, y + dy) {
                        self.put(x + dx, y + dy, colour);
                    }
                }
            }
        }
    }

    /// A `width`-pixel line from `a` to `b` (pixel coordinates), drawn only inside `area`. The
    /// thickness is laid across the line's major axis, which keeps every step `width` pixels
    /// thick without anti-aliasing, so the series' colour stays exact.
    fn segment(&mut self, area: Area, a: (f64, f64), b: (f64, f64), width: u32, colour: Rgb<u8>) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let steps = dx.abs().max(dy.abs()).ceil().max(1.0) as usize;
        let mostly_horizontal = dx.abs() >= dy.abs();
        let half = (width as f64 - 1.0) / 2.0;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let (x, y) = (a.0 + t * dx, a.1 + t * dy);
            for k in 0..width {
                let offset = k as f64 - half;
                let (px, py) = if mostly_horizontal {
                    (x.round(), (y + offset).round())
                } else {
                    ((x + offset).round(), y.round())
                };
                let (px, py) = (px as i32, py as i32);
                if area.contains(px, py) {
                    self.put(px, py, colour);
                }
            }
        }
    }

    fn line_height(&self, size: f32) -> i32 {
        match self.font {
            Some(font) => {
                let scaled = font.as_scaled(PxScale::from(size));
                (scaled.ascent() - scaled.descent()).ceil() as i32
            }
            None => 0,
        }
    }

    fn text_width(&self, size: f32, text: &str) -> i32 {
        self.font
            .map(|font| TextMask::layout(font, size, text).1.ceil() as i32)
            .unwrap_or(0)
    }

    /// Draws `text` with its box aligned on `anchor`: `align` (0, 0) puts the box's top-left
    /// corner there, (0.5, 0.5) its centre, (1, 1) its bottom-right. `vertical` turns it a
    /// quarter-turn anticlockwise, to read upwards, and the alignment applies to the turned box.
    fn text(
        &mut self,
        size: f32,
        text: &str,
        anchor: (f32, f32),
        align: (f32, f32),
        vertical: bool,
    ) {
        let Some(font) = self.font else { return };
        if text.is_empty() {
            return;
        }
        let mut mask = TextMask::render(font, size, text);
        if vertical {
            mask = mask.turned();
        }
        let x0 = (anchor.0 - align.0 * mask.width as f32).round() as i32;
        let y0 = (anchor.1 - align.1 * mask.height as f32).round() as i32;
        for y in 0..mask.height {
            for x in 0..mask.width {
                let coverage = mask.coverage[y * mask.width + x];
                if coverage > 0.0 {
                    self.blend(x0 + x as i32, y0 + y as i32, BLACK, coverage);
                }
            }
        }
    }

    fn legend(
        &mut self,
        area: Area,
        position: LegendPosition,
        series: &[Series],
        size: f32,
        s: f32,
    ) {
        if series.is_empty() {
            return;
        }
        let pad = (8.0 * s).round() as i32;
        let inset = (10.0 * s).round() as i32;
        let swatch = (28.0 * s).round() as i32;
        let gap = (6.0 * s).round() as i32;
        let row = self.line_height(size).max((12.0 * s).round() as i32) + (4.0 * s).round() as i32;
        let text_width = series
            .iter()
            .map(|s| self.text_width(size, s.label))
            .max()
            .unwrap_or(0);
        let text_part = if self.font.is_some() {
            gap + text_width
        } else {
            0
        };
        let box_width = pad + swatch + text_part + pad;
        let box_height = pad + row * series.len() as i32 + pad;
        let left = match position {
            LegendPosition::TopLeft | LegendPosition::BottomLeft => area.left + inset,
            LegendPosition::TopRight | LegendPosition::BottomRight => {
                area.right - inset - box_width
            }
        };
        let top = match position {
            LegendPosition::TopLeft | LegendPosition::TopRight => area.top + inset,
            LegendPosition::BottomLeft | LegendPosition::BottomRight => {
                area.bottom - inset - box_height
            }
        };
        let frame = Area {
            left,
            top,
            right: left + box_width,
            bottom: top + box_height,
        };
        self.fill(frame, WHITE);
        self.hline(frame.left, frame.right, frame.top, LEGEND_BORDER);
        self.hline(frame.left, frame.right, frame.bottom, LEGEND_BORDER);
        self.vline(frame.left, frame.top, frame.bottom, LEGEND_BORDER);
        self.vline(frame.right, frame.top, frame.bottom, LEGEND_BORDER);
        for (i, s) in series.iter().enumerate() {
            let y = (top + pad + row * i as i32 + row / 2) as f64;
            let x = (left + pad) as f64;
            self.segment(
                frame,
                (x, y),
                (x + swatch as f64, y),
                SWATCH_WIDTH,
                series_colour(i),
            );
            let text_x = (left + pad + swatch + gap) as f32;
            self.text(size, s.label, (text_x, y as f32), (0.0, 0.5), false);
        }
    }
}

/// The part of the segment `a`–`b` inside [0, 1]², by Liang–Barsky clipping; `None` when none
/// of it is.
fn clip_to_unit_square(a: (f64, f64), b: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    if !(dx.is_finite() && dy.is_finite()) {
        return None;
    }
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    // Each pair is (p, q) for one edge: the segment is inside that edge where p·t ≤ q.
    for (p, q) in [(-dx, a.0), (dx, 1.0 - a.0), (-dy, a.1), (dy, 1.0 - a.1)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// A line of text rasterised into coverage values, row-major, 0 = background.
struct TextMask {
    width: usize,
    height: usize,
    coverage: Vec<f32>,
}

impl TextMask {
    /// The glyphs of `text` laid out on one line with their tops at y = 0, and the line's width.
    fn layout(font: &FontVec, size: f32, text: &str) -> (Vec<ab_glyph::Glyph>, f32) {
        let scaled = font.as_scaled(PxScale::from(size));
        let mut caret = 0.0f32;
        let mut previous = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                caret += scaled.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(size, point(caret, scaled.ascent())));
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
        (glyphs, caret)
    }

    fn render(font: &FontVec, size: f32, text: &str) -> TextMask {
        let (glyphs, advance) = Self::layout(font, size, text);
        let scaled = font.as_scaled(PxScale::from(size));
        let width = advance.ceil().max(1.0) as usize;
        let height = (scaled.ascent() - scaled.descent()).ceil().max(1.0) as usize;
        let mut coverage = vec![0.0f32; width * height];
        for glyph in glyphs {
            let Some(outlined) = font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, c| {
                let x = bounds.min.x as i64 + gx as i64;
                let y = bounds.min.y as i64 + gy as i64;
                if (0..width as i64).contains(&x) && (0..height as i64).contains(&y) {
                    let cell = &mut coverage[y as usize * width + x as usize];
                    *cell = cell.max(c);
                }
            });
        }
        TextMask {
            width,
            height,
            coverage,
        }
    }

    /// The mask turned a quarter anticlockwise: the start of the text ends up at the bottom.
    fn turned(&self) -> TextMask {
        let (width, height) = (self.height, self.width);
        let mut coverage = vec![0.0f32; width * height];
        for y in 0..height {
            for x in 0..width {
                coverage[y * width + x] = self.coverage[x * self.width + (self.width - 1 - y)];
            }
        }
        TextMask {
            width,
            height,
            coverage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PlotSpec<'static> {
        PlotSpec::new("Title", "x", "y", (0.0, 1.0), (0.0, 1.0))
    }

    fn near(image: &RgbImage, (x, y): (i32, i32), radius: i32, colour: Rgb<u8>) -> bool {
        (-radius..=radius).any(|dy| {
            (-radius..=radius).any(|dx| {
                let (px, py) = (x + dx, y + dy);
                px >= 0
                    && py >= 0
                    && image
                        .get_pixel_checked(px as u32, py as u32)
                        .is_some_and(|p| *p == colour)
            })
        })
    }

    fn count(image: &RgbImage, colour: Rgb<u8>) -> usize {
        image.pixels().filter(|p| **p == colour).count()
    }

    #[test]
    fn image_has_the_requested_size() {
        for size in [(800, 600), (640, 480), (1200, 900), MIN_SIZE] {
            let spec = PlotSpec { size, ..spec() };
            let plot = render_line_plot(&spec, &[]).unwrap();
            assert_eq!(plot.image.dimensions(), size);
        }
    }

    #[test]
    fn bad_sizes_and_ranges_are_errors() {
        for size in [(0, 0), (100, 600), (800, 100), (MAX_SIDE + 1, 600)] {
            let spec = PlotSpec { size, ..spec() };
            assert!(matches!(
                render_line_plot(&spec, &[]),
                Err(PlotError::Size { .. })
            ));
        }
        for range in [
            (1.0, 1.0),
            (1.0, 0.0),
            (f64::NAN, 1.0),
            (0.0, f64::INFINITY),
            (-f64::MAX, f64::MAX),
        ] {
            let spec = PlotSpec {
                x_range: range,
                ..spec()
            };
            assert!(matches!(
                render_line_plot(&spec, &[]),
                Err(PlotError::Range { axis: 'x', .. })
            ));
        }
    }

    #[test]
    fn diagonal_passes_through_the_centre_in_its_colour() {
        let points = [(0.0, 0.0), (1.0, 1.0)];
        let series = [Series {
            label: "diagonal",
            points: &points,
        }];
        for font in [system_font(), None] {
            let (image, area) = render(&spec(), &series, font).unwrap();
            let colour = series_colour(0);
            let centre = ((area.left + area.right) / 2, (area.top + area.bottom) / 2);
            assert!(near(&image, centre, 1, colour), "no line at the centre");
            // Along the diagonal, a quarter of the way in from each end, too (away from the
            // bottom-right legend).
            let quarter = (
                area.left + (area.right - area.left) / 4,
                area.bottom - (area.bottom - area.top) / 4,
            );
            assert!(near(&image, quarter, 1, colour));
            // Nowhere near the off-diagonal corners.
            assert!(!near(&image, (area.left + 20, area.top + 20), 5, colour));
        }
    }

    #[test]
    fn line_is_two_pixels_thick() {
        let points = [(0.0, 0.5), (1.0, 0.5)];
        let series = [Series {
            label: "flat",
            points: &points,
        }];
        let (image, area) = render(&spec(), &series, None).unwrap();
        let x = (area.left + area.right) / 3;
        let thick = (area.top..=area.bottom)
            .filter(|&y| *image.get_pixel(x as u32, y as u32) == series_colour(0))
            .count();
        assert_eq!(thick, 2);
    }

    #[test]
    fn series_get_distinct_colours_and_legend_swatches() {
        assert!((0..6).all(|i| (0..i).all(|j| series_colour(i) != series_colour(j))));
        let lines: Vec<[(f64, f64); 2]> = (0..6)
            .map(|i| [(0.0, 0.9 - i as f64 * 0.1), (0.3, 0.9 - i as f64 * 0.1)])
            .collect();
        let series: Vec<Series> = lines
            .iter()
            .map(|p| Series {
                label: "s",
                points: p,
            })
            .collect();
        let (image, _) = render(&spec(), &series, None).unwrap();
        for i in 0..6 {
            // A curve of ~0.3 × the plot width plus a legend swatch.
            assert!(count(&image, series_colour(i)) > 300, "series {i}");
        }
    }

    #[test]
    fn points_outside_the_range_are_clipped() {
        let points = [
            (-10.0, -10.0),
            (10.0, 10.0),
            (1e300, -1e300),
            (f64::MAX, 0.5),
        ];
        let series = [Series {
            label: "wild",
            points: &points,
        }];
        let (image, area) = render(&spec(), &series, None).unwrap();
        let colour = series_colour(0);
        let centre = ((area.left + area.right) / 2, (area.top + area.bottom) / 2);
        assert!(near(&image, centre, 1, colour));
        for (x, y, p) in image.enumerate_pixels() {
            if *p == colour {
                // Either inside the plot area or part of the legend, which is inside it too.
                assert!(area.contains(x as i32, y as i32), "({x}, {y}) outside");
            }
        }
    }

    #[test]
    fn empty_series_and_nan_points_do_not_panic() {
        let nan = [(f64::NAN, 0.5), (0.5, f64::NAN), (f64::INFINITY, 0.0)];
        let split = [(0.1, 0.1), (0.2, 0.2), (f64::NAN, 0.0), (0.8, 0.8)];
        let series = [
            Series {
                label: "empty",
                points: &[],
            },
            Series {
                label: "nan",
                points: &nan,
            },
            Series {
                label: "split",
                points: &split,
            },
        ];
        let (image, area) = render(&spec(), &series, system_font()).unwrap();
        // The lone point after the NaN is a dot.
        let (x, y) = area.to_pixel((0.8, 0.8));
        assert!(near(
            &image,
            (x.round() as i32, y.round() as i32),
            0,
            series_colour(2)
        ));
        render_line_plot(&spec(), &[]).unwrap();
    }

    #[test]
    fn without_a_font_the_plot_is_drawn_without_text() {
        let points = [(0.0, 0.0), (1.0, 1.0)];
        let series = [Series {
            label: "a label",
            points: &points,
        }];
        let (image, area) = render(&spec(), &series, None).unwrap();
        assert!(count(&image, series_colour(0)) > 500);
        // The title band holds no text.
        let title_band = (0..area.top as u32)
            .flat_map(|y| (0..image.width()).map(move |x| (x, y)))
            .all(|(x, y)| *image.get_pixel(x, y) == WHITE);
        assert!(title_band);
        assert!(PlotOutcome::NoFont.warning().is_some());
        assert!(PlotOutcome::Complete.warning().is_none());
    }

    #[test]
    fn with_a_font_the_text_is_drawn() {
        let Some(font) = system_font() else {
            eprintln!("skipped: no font installed (scripts/setup.sh installs fonts-dejavu-core)");
            return;
        };
        let (image, area) = render(&spec(), &[], Some(font)).unwrap();
        let dark_in_title = (0..area.top as u32)
            .flat_map(|y| (0..image.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| image.get_pixel(x, y).0[0] < 100)
            .count();
        assert!(dark_in_title > 20, "no title text");
        let ticks = Ticks::new((0.0, 1.0), 8.0);
        assert_eq!(
            ticks.labels().collect::<Vec<_>>(),
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
    }

    #[test]
    fn ticks_fall_on_round_values_inside_the_range() {
        let ticks = Ticks::new((0.0, 0.1), 7.6);
        assert_eq!(
            ticks.labels().collect::<Vec<_>>(),
            ["0.00", "0.02", "0.04", "0.06", "0.08", "0.10"]
        );
        let ticks = Ticks::new((-3.0, 17.0), 5.0);
        assert_eq!(ticks.labels().collect::<Vec<_>>(), ["0", "5", "10", "15"]);
        assert!(Ticks::new((1e15, 1e15 + 1.0), 8.0).values.len() <= MAX_TICKS);
    }

    /// CED curves like the evaluation's, with three methods; written to
    /// `$FACETRACK_PLOT_EXAMPLE` as well when set, to look at.
    #[test]
    fn ced_figure() {
        let curve = |scale: f64| -> Vec<(f64, f64)> {
            (0..=100)
                .map(|i| {
                    let e = i as f64 * 0.001;
                    (e, 1.0 - (-(e / scale).powi(2)).exp())
                })
                .collect()
        };
        let (a, b, c) = (curve(0.02), curve(0.03), curve(0.05));
        let series = [
            Series {
                label: "PARM (4 stages)",
                points: &a,
            },
            Series {
                label: "PRM",
                points: &b,
            },
            Series {
                label: "ERT (dlib)",
                points: &c,
            },
        ];
        let spec = PlotSpec::new(
            "Cumulative error distribution, AFLW2000-3D validation",
            "NME (normalised by the bounding-box size)",
            "Fraction of faces",
            (0.0, 0.1),
            (0.0, 1.0),
        );
        let plot = render_line_plot(&spec, &series).unwrap();
        for i in 0..series.len() {
            assert!(count(&plot.image, series_colour(i)) > 500);
        }
        if let Some(path) = std::env::var_os("FACETRACK_PLOT_EXAMPLE") {
            write_line_plot(Path::new(&path), &spec, &series).unwrap();
        }
    }

    #[test]
    fn writes_a_png_and_reports_unwritable_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.png");
        let points = [(0.0, 0.0), (0.05, 0.7), (0.1, 1.0)];
        let series = [Series {
            label: "PARM",
            points: &points,
        }];
        write_line_plot(&path, &spec(), &series).unwrap();
        let read = image::open(&path).unwrap();
        assert_eq!((read.width(), read.height()), DEFAULT_SIZE);

        let bad = dir.path().join("no such folder").join("plot.png");
        assert!(matches!(
            write_line_plot(&bad, &spec(), &series),
            Err(PlotError::Write { .. })
        ));
    }
}

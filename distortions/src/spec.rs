//! The catalogue of distortion types: typed parameters, their valid ranges,
//! their JSON form, and pipelines of them.
//!
//! Each type is declared once in `catalogue!`; the parameter struct, its range
//! metadata (used by validation, the sampler and `percept distort list`) and
//! the tagged `Distortion` enum are all generated from that single entry, so a
//! range cannot drift between the validator and the sampler.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::error::{DistortionError, Result, MAX_SIDE};
use crate::rng::{step_rng, StepRng};

/// The BAPPS family a type belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Family {
    Photometric,
    Noise,
    Blur,
    Spatial,
    Compression,
}

impl Family {
    /// The snake_case name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Family::Photometric => "photometric",
            Family::Noise => "noise",
            Family::Blur => "blur",
            Family::Spatial => "spatial",
            Family::Compression => "compression",
        }
    }
}

impl From<Family> for &'static str {
    fn from(family: Family) -> Self {
        family.name()
    }
}

/// One parameter of a distortion type.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    /// Inclusive bounds; the sampler draws uniformly between them.
    pub min: f64,
    pub max: f64,
    /// Whole numbers only (JSON integers).
    pub integer: bool,
    #[serde(serialize_with = "serialize_trimmed")]
    pub description: &'static str,
}

impl ParamSpec {
    /// Whether `value` is inside the range. Real parameters are f32, so the
    /// bounds are compared at f32 precision: the f32 nearest to 0.15 is a
    /// hair above the f64 0.15 and must still be accepted. NaN never is.
    pub fn accepts(&self, value: f64) -> bool {
        if self.integer {
            self.min <= value && value <= self.max
        } else {
            let value = value as f32;
            self.min as f32 <= value && value <= self.max as f32
        }
    }

    /// The value as the user wrote it (f32's shortest form, not f64's).
    fn display_value(&self, value: f64) -> String {
        if self.integer {
            value.to_string()
        } else {
            (value as f32).to_string()
        }
    }
}

/// A distortion type as listed by `percept distort list`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DistortionKind {
    /// The JSON `type` tag.
    pub name: &'static str,
    pub family: Family,
    /// What it does, including its border handling.
    #[serde(serialize_with = "serialize_trimmed")]
    pub description: &'static str,
    pub params: &'static [ParamSpec],
}

/// Descriptions come from doc comments, which start with a space.
fn serialize_trimmed<S: serde::Serializer>(
    text: &&'static str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(text.trim())
}

/// Applies one distortion; implemented by every parameter struct in its
/// family's module. Parameters are already validated when this is called.
pub(crate) trait Distort {
    fn distort(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage>;
}

/// Conversion between a parameter's Rust type and the f64 used for ranges.
trait ParamValue: Copy {
    const INTEGER: bool;
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
}

impl ParamValue for f32 {
    const INTEGER: bool = false;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl ParamValue for u32 {
    const INTEGER: bool = true;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(value: f64) -> Self {
        value.round() as u32
    }
}

macro_rules! catalogue {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident = $tag:literal, $family:ident {
            $( $(#[doc = $param_doc:literal])+ $field:ident : $ty:ident in [$min:literal, $max:literal] ),+ $(,)?
        }
    )+) => {
        $(
            $(#[doc = $doc])+
            #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $name {
                $( $(#[doc = $param_doc])+ pub $field: $ty, )+
            }

            impl $name {
                pub const KIND: DistortionKind = DistortionKind {
                    name: $tag,
                    family: Family::$family,
                    description: concat!($($doc),+),
                    params: &[$(ParamSpec {
                        name: stringify!($field),
                        min: $min as f64,
                        max: $max as f64,
                        integer: <$ty as ParamValue>::INTEGER,
                        description: concat!($($param_doc),+),
                    }),+],
                };

                fn param_values(&self) -> Vec<f64> {
                    vec![$(ParamValue::to_f64(self.$field)),+]
                }

                fn from_param_values(values: &[f64]) -> Option<Self> {
                    let mut values = values.iter().copied();
                    Some(Self { $($field: ParamValue::from_f64(values.next()?)),+ })
                }
            }
        )+

        /// One distortion with its parameters; JSON `{"type": "<name>", ...params}`.
        /// Deserialising validates every parameter against its range.
        #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", try_from = "UncheckedDistortion")]
        pub enum Distortion {
            $( #[serde(rename = $tag)] $name($name), )+
        }

        #[derive(Deserialize)]
        #[serde(tag = "type")]
        enum UncheckedDistortion {
            $( #[serde(rename = $tag)] $name($name), )+
        }

        impl TryFrom<UncheckedDistortion> for Distortion {
            type Error = DistortionError;
            fn try_from(unchecked: UncheckedDistortion) -> Result<Self> {
                let distortion = match unchecked {
                    $( UncheckedDistortion::$name(params) => Distortion::$name(params), )+
                };
                distortion.validate()?;
                Ok(distortion)
            }
        }

        /// Every distortion type, in BAPPS' order.
        pub const KINDS: &[DistortionKind] = &[$($name::KIND),+];

        impl Distortion {
            pub fn kind(&self) -> &'static DistortionKind {
                match self { $( Distortion::$name(_) => &$name::KIND, )+ }
            }

            /// Parameter values in the order of `kind().params`.
            pub fn param_values(&self) -> Vec<f64> {
                match self { $( Distortion::$name(params) => params.param_values(), )+ }
            }

            /// Builds a distortion from a type name and values in the order of
            /// its `ParamSpec`s, validating them.
            pub fn from_param_values(type_name: &str, values: &[f64]) -> Result<Self> {
                let distortion = match type_name {
                    $( $tag => $name::from_param_values(values).map(Distortion::$name), )+
                    _ => return Err(unknown_type(type_name)),
                }
                .ok_or_else(|| DistortionError::InvalidSpec(format!(
                    "{type_name} takes {} parameters, got {}",
                    kind_named(type_name).map_or(0, |kind| kind.params.len()),
                    values.len()
                )))?;
                distortion.validate()?;
                Ok(distortion)
            }

            fn dispatch(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
                match self { $( Distortion::$name(params) => params.distort(image, rng), )+ }
            }
        }
    };
}

catalogue! {
    /// Adds the same offset to R, G and B (clipped), moving lightness without
    /// changing hue. Pointwise, so no border handling.
    LightnessShift = "lightness_shift", Photometric {
        /// Offset as a fraction of full scale (255); negative darkens, 0 is the identity.
        amount: f32 in [-0.3, 0.3],
    }
    /// Shifts the BT.601 chroma planes, which is a constant RGB offset that
    /// leaves luma unchanged (clipped). Pointwise.
    ColorShift = "color_shift", Photometric {
        /// Blue-difference (Cb) offset as a fraction of full scale; 0 is the identity.
        cb: f32 in [-0.15, 0.15],
        /// Red-difference (Cr) offset as a fraction of full scale; 0 is the identity.
        cr: f32 in [-0.15, 0.15],
    }
    /// Scales every channel's deviation from the image's mean luma, like PIL's
    /// ImageEnhance.Contrast. Pointwise.
    Contrast = "contrast", Photometric {
        /// Contrast factor; below 1 flattens, above 1 strengthens, 1 is the identity.
        factor: f32 in [0.4, 1.8],
    }
    /// Scales each pixel's deviation from its own luma, like PIL's
    /// ImageEnhance.Color. Pointwise.
    Saturation = "saturation", Photometric {
        /// Saturation factor; 0 is grey, 1 is the identity, above 1 more vivid.
        factor: f32 in [0.0, 2.0],
    }
    /// Adds independent uniform noise to every channel of every pixel.
    UniformNoise = "uniform_noise", Noise {
        /// Half-width of the noise as a fraction of full scale; 0 is the identity.
        amplitude: f32 in [0.0, 0.2],
    }
    /// Adds independent Gaussian noise to every channel of every pixel.
    GaussianNoise = "gaussian_noise", Noise {
        /// Standard deviation as a fraction of full scale; 0 is the identity.
        sigma: f32 in [0.0, 0.1],
    }
    /// Adds Gaussian noise with a 1/f power spectrum (pink), per channel,
    /// zero-mean and scaled to the asked RMS. Generated on a periodic canvas
    /// and cropped, so there is no border.
    PinkNoise = "pink_noise", Noise {
        /// RMS as a fraction of full scale; 0 is the identity.
        sigma: f32 in [0.0, 0.1],
    }
    /// Adds Gaussian noise with an f power spectrum (blue), per channel,
    /// zero-mean and scaled to the asked RMS. Periodic canvas, cropped.
    BlueNoise = "blue_noise", Noise {
        /// RMS as a fraction of full scale; 0 is the identity.
        sigma: f32 in [0.0, 0.1],
    }
    /// Adds Gaussian noise with power spectrum f^exponent, anywhere between
    /// brown (-2) and violet (+2), per channel, scaled to the asked RMS.
    /// Periodic canvas, cropped.
    ColoredNoise = "colored_noise", Noise {
        /// RMS as a fraction of full scale; 0 is the identity.
        sigma: f32 in [0.0, 0.1],
        /// Spectral exponent: -2 brown, -1 pink, 0 white, 1 blue, 2 violet.
        exponent: f32 in [-2.0, 2.0],
    }
    /// Adds a grey checkerboard pattern at a random phase, the artifact of
    /// strided transposed convolutions. The pattern is defined on the whole
    /// plane, so there is no border.
    Checkerboard = "checkerboard", Noise {
        /// Pattern amplitude (plus or minus) as a fraction of full scale; 0 is the identity.
        amplitude: f32 in [0.0, 0.15],
        /// Side of one square in pixels.
        cell: u32 in [1, 4],
    }
    /// Separable Gaussian blur, kernel radius ceil(3 sigma), replicated borders.
    GaussianBlur = "gaussian_blur", Blur {
        /// Standard deviation in pixels; 0 is the identity.
        sigma: f32 in [0.0, 2.5],
    }
    /// Edge-preserving bilateral filter: Gaussian in space over a disc of
    /// radius ceil(2 sigma_spatial) times Gaussian in colour (L1 distance
    /// over the three channels), as OpenCV; replicated borders.
    BilateralFilter = "bilateral_filter", Blur {
        /// Spatial standard deviation in pixels; 0 is the identity.
        sigma_spatial: f32 in [0.0, 2.0],
        /// Colour standard deviation as a fraction of full scale; 0 is the identity.
        sigma_range: f32 in [0.0, 0.3],
    }
    /// Translates the content by (dx, dy) pixels, bilinear for fractions;
    /// uncovered pixels repeat the nearest edge pixel.
    Shift = "shift", Spatial {
        /// Rightward displacement in pixels.
        dx: f32 in [-8.0, 8.0],
        /// Downward displacement in pixels.
        dy: f32 in [-8.0, 8.0],
    }
    /// Rotation, isotropic scale and horizontal shear about the image centre,
    /// bilinear; outside the source repeats the nearest edge pixel.
    AffineWarp = "affine_warp", Spatial {
        /// Counter-clockwise rotation in degrees.
        rotation: f32 in [-15.0, 15.0],
        /// Zoom factor; 1 keeps the size of the content.
        scale: f32 in [0.85, 1.15],
        /// Horizontal shear (x += shear * y).
        shear: f32 in [-0.2, 0.2],
    }
    /// Perspective homography about the image centre (a tilt of the image
    /// plane), bilinear; outside the source repeats the nearest edge pixel.
    Homography = "homography", Spatial {
        /// Perspective term along x, in units of half the width; 0 is the identity.
        perspective_x: f32 in [-0.3, 0.3],
        /// Perspective term along y, in units of half the height; 0 is the identity.
        perspective_y: f32 in [-0.3, 0.3],
    }
    /// Smooth random displacement field: random vectors on a coarse grid,
    /// interpolated piecewise-linearly; bilinear resampling, edge pixels
    /// repeated outside the source.
    LinearWarp = "linear_warp", Spatial {
        /// Largest displacement of a grid point in pixels; 0 is the identity.
        magnitude: f32 in [0.0, 3.0],
        /// Grid cells per side; more cells give a wavier field.
        cells: u32 in [1, 6],
    }
    /// Like linear_warp but the grid is interpolated with Catmull-Rom cubics,
    /// giving a smoother field.
    CubicWarp = "cubic_warp", Spatial {
        /// Largest displacement of a grid point in pixels; 0 is the identity.
        magnitude: f32 in [0.0, 3.0],
        /// Grid cells per side; more cells give a wavier field.
        cells: u32 in [1, 6],
    }
    /// Blends in a copy displaced by (dx, dy), like a double exposure;
    /// the copy repeats edge pixels where it leaves the source.
    Ghosting = "ghosting", Spatial {
        /// Rightward displacement of the ghost in pixels.
        dx: f32 in [-8.0, 8.0],
        /// Downward displacement of the ghost in pixels.
        dy: f32 in [-8.0, 8.0],
        /// Weight of the ghost; 0 is the identity.
        opacity: f32 in [0.0, 0.5],
    }
    /// Lateral chromatic aberration: red displaced by (dx, dy), blue by
    /// (-dx, -dy), green kept; bilinear, edge pixels repeated.
    ChromaticAberration = "chromatic_aberration", Spatial {
        /// Rightward displacement of red (blue goes the other way) in pixels.
        dx: f32 in [-3.0, 3.0],
        /// Downward displacement of red (blue goes the other way) in pixels.
        dy: f32 in [-3.0, 3.0],
    }
    /// Baseline JPEG round trip (4:2:0 chroma) through the jpeg-encoder and
    /// zune-jpeg codecs; partial 8x8 blocks are padded by the encoder.
    Jpeg = "jpeg", Compression {
        /// JPEG quality; lower is blockier. No setting is lossless.
        quality: u32 in [10, 95],
    }
}

/// The catalogue entry for a JSON type name.
pub fn kind_named(type_name: &str) -> Option<&'static DistortionKind> {
    KINDS.iter().find(|kind| kind.name == type_name)
}

fn unknown_type(type_name: &str) -> DistortionError {
    let known: Vec<&str> = KINDS.iter().map(|kind| kind.name).collect();
    DistortionError::InvalidSpec(format!(
        "unknown distortion type `{type_name}`; known types: {}",
        known.join(", ")
    ))
}

impl Distortion {
    /// Checks every parameter against its range (NaN and infinities fail).
    pub fn validate(&self) -> Result<()> {
        let kind = self.kind();
        for (spec, value) in kind.params.iter().zip(self.param_values()) {
            if !spec.accepts(value) {
                return Err(DistortionError::OutOfRange {
                    distortion: kind.name,
                    field: spec.name,
                    value: spec.display_value(value),
                    min: spec.min,
                    max: spec.max,
                });
            }
        }
        Ok(())
    }

    /// Applies this distortion; the output has the input's size.
    pub fn apply(&self, image: &RgbImage, rng: &mut StepRng) -> Result<RgbImage> {
        ensure_supported_size(image)?;
        self.validate()?;
        self.dispatch(image, rng)
    }

    /// Parses one distortion from JSON, validating it.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|error| DistortionError::InvalidSpec(error.to_string()))
    }
}

fn ensure_supported_size(image: &RgbImage) -> Result<()> {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Err(DistortionError::EmptyImage { width, height });
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(DistortionError::ImageTooLarge { width, height });
    }
    Ok(())
}

/// An ordered list of distortions applied one after the other, each output
/// rounded to 8 bits before the next. JSON: an array of distortions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pipeline {
    pub steps: Vec<Distortion>,
}

impl Pipeline {
    pub fn new(steps: Vec<Distortion>) -> Self {
        Self { steps }
    }

    /// Parses a pipeline from a JSON array of distortions, or a single
    /// distortion object; errors name the failing step.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|error| DistortionError::InvalidSpec(format!("malformed JSON: {error}")))?;
        let steps = match value {
            serde_json::Value::Array(items) => items,
            object @ serde_json::Value::Object(_) => vec![object],
            other => {
                return Err(DistortionError::InvalidSpec(format!(
                    "expected an array of distortions or one distortion object, got {other}"
                )))
            }
        };
        let steps = steps
            .into_iter()
            .enumerate()
            .map(|(step, item)| {
                Distortion::deserialize(item).map_err(|error| DistortionError::InvalidStep {
                    step,
                    message: error.to_string(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { steps })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .expect("distortions serialise to JSON infallibly: no maps, finite floats")
    }

    /// Applies every step in order. Step `i` draws from ChaCha stream `i` of
    /// `seed`, so the result is a pure function of (image, pipeline, seed).
    pub fn apply(&self, image: &RgbImage, seed: u64) -> Result<RgbImage> {
        ensure_supported_size(image)?;
        let mut current = image.clone();
        for (step, distortion) in self.steps.iter().enumerate() {
            current = distortion.apply(&current, &mut step_rng(seed, step))?;
        }
        Ok(current)
    }
}

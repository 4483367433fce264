"""Side-by-side timing: each distortion in Rust vs the same operation written
with numpy / scipy / OpenCV, on the same 64x64 patch with the same settings,
in the same run, both single-threaded.

Run from anywhere:  $PERCEPT_VENV/bin/python distortions/benches/compare_python.py
(PERCEPT_VENV defaults to ${XDG_CACHE_HOME:-~/.cache}/percept/venv). It builds
and runs the Rust timer (examples/time_distortions.rs) in release mode, which
reports its settings; the Python side reimplements each with those settings.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Single-threaded on both sides: set before numpy / OpenCV load their pools.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

cv2.setNumThreads(1)
RNG = np.random.default_rng(1)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_u8(values):
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def add_noise(image, noise, scale):
    return to_u8(image.astype(np.float32) + scale * noise)


def power_law_noise(height, width, exponent):
    size = 1 << (max(height, width) - 1).bit_length()
    k = np.fft.fftfreq(size)
    radius_squared = k[None, :] ** 2 + k[:, None] ** 2
    radius_squared[0, 0] = 1.0
    amplitude = radius_squared ** (exponent / 4.0)
    amplitude[0, 0] = 0.0
    channels = []
    for _ in range(2):
        spectrum = amplitude * (RNG.standard_normal((size, size)) + 1j * RNG.standard_normal((size, size)))
        field = np.fft.ifft2(spectrum)[:height, :width]
        channels += [field.real, field.imag]
    noise = np.stack(channels[:3], axis=-1)
    return (noise / np.sqrt((noise**2).mean(axis=(0, 1)))).astype(np.float32)


def checkerboard(image, amplitude, cell):
    y, x = np.indices(image.shape[:2])
    phase_x, phase_y = RNG.integers(0, 2 * cell, size=2)
    sign = np.where(((x + phase_x) // cell + (y + phase_y) // cell) % 2 == 0, 1.0, -1.0).astype(np.float32)
    return add_noise(image, sign[..., None], amplitude * 255)


def remap(image, map_x, map_y):
    return cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def affine(image, rotation, scale, shear):
    height, width = image.shape[:2]
    angle = np.deg2rad(rotation)
    c, s = np.cos(angle), np.sin(angle)
    linear = scale * np.array([[c, c * shear + s], [-s, c - s * shear]])
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    matrix = np.hstack([linear, (centre - linear @ centre)[:, None]])
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def homography(image, px, py):
    height, width = image.shape[:2]
    cx, cy = (width - 1) / 2, (height - 1) / 2
    y, x = np.indices((height, width), dtype=np.float32)
    u, v = (x - cx) / cx, (y - cy) / cy
    w = 1 + px * u + py * v
    return remap(image, cx + u / w * cx, cy + v / w * cy)


def random_warp(image, magnitude, cells, interpolation):
    height, width = image.shape[:2]
    grid = RNG.uniform(-1, 1, size=(cells + 1, cells + 1, 2)).astype(np.float32)
    # Resize the control grid to pixel resolution (pixel centres over the grid span).
    field = cv2.resize(grid, (width, height), interpolation=interpolation)
    y, x = np.indices((height, width), dtype=np.float32)
    return remap(image, x + magnitude * field[..., 0], y + magnitude * field[..., 1])


def ghosting(image, dx, dy, opacity):
    ghost = cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), image.shape[1::-1],
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return to_u8((1 - opacity) * image.astype(np.float32) + opacity * ghost)


def chromatic_aberration(image, dx, dy):
    size = image.shape[1::-1]
    red = cv2.warpAffine(image[..., 0], np.float32([[1, 0, dx], [0, 1, dy]]), size, borderMode=cv2.BORDER_REPLICATE)
    blue = cv2.warpAffine(image[..., 2], np.float32([[1, 0, -dx], [0, 1, -dy]]), size, borderMode=cv2.BORDER_REPLICATE)
    return np.dstack([red, image[..., 1], blue])


def jpeg(image, quality):
    ok, encoded = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]


def contrast(image, factor):
    mean = float((image.astype(np.float32) @ LUMA).mean())
    return to_u8(mean + factor * (image.astype(np.float32) - mean))


def saturation(image, factor):
    values = image.astype(np.float32)
    grey = (values @ LUMA)[..., None]
    return to_u8(grey + factor * (values - grey))


def color_shift(image, cb, cr):
    offset = 255 * np.array([1.402 * cr, -0.344136 * cb - 0.714136 * cr, 1.772 * cb], dtype=np.float32)
    return to_u8(image.astype(np.float32) + offset)


PYTHON = {
    "lightness_shift": lambda im, p: to_u8(im.astype(np.float32) + p["amount"] * 255),
    "color_shift": lambda im, p: color_shift(im, p["cb"], p["cr"]),
    "contrast": lambda im, p: contrast(im, p["factor"]),
    "saturation": lambda im, p: saturation(im, p["factor"]),
    "uniform_noise": lambda im, p: add_noise(im, RNG.uniform(-1, 1, im.shape).astype(np.float32), p["amplitude"] * 255),
    "gaussian_noise": lambda im, p: add_noise(im, RNG.standard_normal(im.shape, dtype=np.float32), p["sigma"] * 255),
    "pink_noise": lambda im, p: add_noise(im, power_law_noise(*im.shape[:2], -1.0), p["sigma"] * 255),
    "blue_noise": lambda im, p: add_noise(im, power_law_noise(*im.shape[:2], 1.0), p["sigma"] * 255),
    "colored_noise": lambda im, p: add_noise(im, power_law_noise(*im.shape[:2], p["exponent"]), p["sigma"] * 255),
    "checkerboard": lambda im, p: checkerboard(im, p["amplitude"], p["cell"]),
    "gaussian_blur": lambda im, p: cv2.GaussianBlur(
        im, (2 * int(np.ceil(3 * p["sigma"])) + 1,) * 2, p["sigma"], borderType=cv2.BORDER_REPLICATE),
    "bilateral_filter": lambda im, p: cv2.bilateralFilter(
        im, 2 * int(np.ceil(2 * p["sigma_spatial"])) + 1, p["sigma_range"] * 255, p["sigma_spatial"],
        borderType=cv2.BORDER_REPLICATE),
    "shift": lambda im, p: cv2.warpAffine(im, np.float32([[1, 0, p["dx"]], [0, 1, p["dy"]]]), im.shape[1::-1],
                                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
    "affine_warp": lambda im, p: affine(im, p["rotation"], p["scale"], p["shear"]),
    "homography": lambda im, p: homography(im, p["perspective_x"], p["perspective_y"]),
    "linear_warp": lambda im, p: random_warp(im, p["magnitude"], p["cells"], cv2.INTER_LINEAR),
    "cubic_warp": lambda im, p: random_warp(im, p["magnitude"], p["cells"], cv2.INTER_CUBIC),
    "ghosting": lambda im, p: ghosting(im, p["dx"], p["dy"], p["opacity"]),
    "chromatic_aberration": lambda im, p: chromatic_aberration(im, p["dx"], p["dy"]),
    "jpeg": lambda im, p: jpeg(im, p["quality"]),
}


def apply_pipeline(image, steps):
    for step in steps:
        image = PYTHON[step["type"]](image, step)
    return image


def median_seconds(run):
    """Median over batches of the mean seconds per call (as the Rust timer)."""
    started, calls = time.perf_counter(), 0
    while time.perf_counter() - started < 0.05:
        run()
        calls += 1
    batches = []
    for _ in range(15):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        batches.append((time.perf_counter() - start) / calls)
    return sorted(batches)[len(batches) // 2]


def main():
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, CARGO_TARGET_DIR=os.environ.get("CARGO_TARGET_DIR", str(root / "target")))
    subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "distortions", "--example", "time_distortions"],
                   cwd=root, env=env, check=True)
    timer = Path(env["CARGO_TARGET_DIR"]) / "release" / "examples" / "time_distortions"
    with tempfile.TemporaryDirectory() as folder:
        patch_path = Path(folder) / "patch.png"
        rust = [json.loads(line) for line in
                subprocess.run([str(timer), str(patch_path)], check=True, capture_output=True, text=True).stdout.splitlines()]
        patch = np.asarray(Image.open(patch_path).convert("RGB"))

    print(f"{'type':<22} {'ours µs':>9} {'python µs':>10} {'ratio':>7}  python implementation")
    for row in rust:
        name, spec = row["name"], row["spec"]
        if name == "sample_and_apply":
            continue
        if name == "three_step_pipeline":
            python = median_seconds(lambda: apply_pipeline(patch, spec))
            how = "the three functions above in sequence"
        else:
            python = median_seconds(lambda: PYTHON[name](patch, spec))
            how = PYTHON_LIBRARY.get(name, "numpy")
        print(f"{name:<22} {row['seconds'] * 1e6:>9.1f} {python * 1e6:>10.1f} {python / row['seconds']:>6.1f}x  {how}")
    sampled = next(row for row in rust if row["name"] == "sample_and_apply")
    print(f"\nsampler + pipeline (Rust, one core): {1 / sampled['seconds']:,.0f} patches/s "
          f"({sampled['seconds'] * 1e6:.1f} µs per patch, 1-3 random steps)")


PYTHON_LIBRARY = {
    "gaussian_blur": "cv2.GaussianBlur", "bilateral_filter": "cv2.bilateralFilter", "shift": "cv2.warpAffine",
    "affine_warp": "cv2.warpAffine", "homography": "numpy map + cv2.remap", "linear_warp": "cv2.resize + cv2.remap",
    "cubic_warp": "cv2.resize + cv2.remap", "ghosting": "cv2.warpAffine + numpy", "chromatic_aberration": "cv2.warpAffine",
    "jpeg": "cv2.imencode/imdecode", "pink_noise": "numpy.fft", "blue_noise": "numpy.fft", "colored_noise": "numpy.fft",
}

if __name__ == "__main__":
    sys.exit(main())

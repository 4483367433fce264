//! The CNN family is neither trivial nor destroyed: LPIPS (alex) between
//! reference and distorted patches spreads over a range comparable to the
//! traditional family's.

use crate::common::{build_bank, demo_photos, env_dir, patches};
use distortions::image::RgbImage;
use distortions::Sampler;
use lpips::{Lpips, Net, Weighting};

const NETWORKS: u32 = 4;
const PATCHES: usize = 60;

#[test]
fn cnn_and_traditional_lpips_interquartile_ranges_overlap() {
    // Shorter training than the default 20–400 iterations keeps the test
    // quick; it errs towards the under-trained, most distorting end.
    let (_dir, bank) = build_bank(NETWORKS, 11, 20..=100);
    let references = patches(&demo_photos(), PATCHES, 64);
    let model = Lpips::from_weights_dir(Net::Alex, Weighting::Lin, &env_dir("PERCEPT_WEIGHTS_DIR"))
        .expect("the converted LPIPS weights load");
    let distance = |a: &RgbImage, b: &RgbImage| f64::from(model.distance(a, b).unwrap());

    let mut cnn = Vec::new();
    for (index, record) in bank.list().unwrap().iter().enumerate() {
        let network = bank.load(&record.id).unwrap();
        let mine: Vec<&RgbImage> = references
            .iter()
            .skip(index)
            .step_by(NETWORKS as usize)
            .collect();
        let seeds: Vec<u64> = (0..mine.len() as u64).collect();
        for (reference, distorted) in mine.iter().zip(network.apply(&mine, &seeds).unwrap()) {
            cnn.push(distance(reference, &distorted));
        }
    }
    let sampler = Sampler::default();
    let traditional: Vec<f64> = references
        .iter()
        .enumerate()
        .map(|(index, reference)| {
            let pipeline = sampler.sample_seeded(index as u64);
            distance(reference, &pipeline.apply(reference, index as u64).unwrap())
        })
        .collect();

    let cnn = quartiles(cnn);
    let traditional = quartiles(traditional);
    eprintln!("LPIPS alex quartiles (q1, median, q3) over {PATCHES} patches each:");
    eprintln!("  traditional {traditional:.3?}");
    eprintln!("  cnn         {cnn:.3?}");
    assert!(
        cnn[0] <= traditional[2] && traditional[0] <= cnn[2],
        "the interquartile ranges do not overlap: cnn {cnn:.3?}, traditional {traditional:.3?}"
    );
}

/// First quartile, median, third quartile (linear interpolation).
fn quartiles(mut values: Vec<f64>) -> [f64; 3] {
    values.sort_by(f64::total_cmp);
    [0.25, 0.5, 0.75].map(|q| {
        let position = q * (values.len() - 1) as f64;
        let (low, high) = (position.floor() as usize, position.ceil() as usize);
        values[low] + (values[high] - values[low]) * (position - low as f64)
    })
}

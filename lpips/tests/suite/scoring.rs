//! The triplet/pair scoring API: sharing patches and batching must not change
//! distances, and bad input is an error.

use crate::common;

use image::RgbImage;
use lpips::{LpipsError, Net, Pair, Scorer, Triplet, Weighting};

fn patches(count: usize) -> Vec<RgbImage> {
    let mut rng = common::Rng::new(11);
    (0..count)
        .map(|i| {
            let image = common::smooth_image(&mut rng, 64, 64);
            if i % 2 == 0 {
                image
            } else {
                common::distort(&mut rng, &image, i as u64)
            }
        })
        .collect()
}

#[test]
fn triplets_equal_their_two_pairs_whatever_the_batching() {
    let patches = patches(12);
    // References shared by several triplets, a patch on both sides.
    let triplets: Vec<Triplet> = (0..20)
        .map(|i| Triplet {
            reference: i % 4,
            p0: 4 + i % 8,
            p1: (7 * i + 3) % 12,
        })
        .collect();
    let pairs: Vec<Pair> = triplets
        .iter()
        .flat_map(|t| {
            [
                Pair {
                    p0: t.reference,
                    p1: t.p0,
                },
                Pair {
                    p0: t.reference,
                    p1: t.p1,
                },
            ]
        })
        .collect();
    let reference = Scorer::new(common::model(Net::Alex, Weighting::Lin))
        .score_pairs(&patches, &pairs)
        .expect("pairs");
    for batch_size in [2, 3, 5, 64] {
        let scorer =
            Scorer::new(common::model(Net::Alex, Weighting::Lin)).with_batch_size(batch_size);
        let scored = scorer
            .score_triplets(&patches, &triplets)
            .expect("triplets");
        assert_eq!(scored.len(), triplets.len());
        for (i, distances) in scored.iter().enumerate() {
            for (ours, expected) in [
                (distances.d0, reference[2 * i]),
                (distances.d1, reference[2 * i + 1]),
            ] {
                assert!(
                    (ours - expected).abs() <= 1e-6,
                    "batch {batch_size}, triplet {i}: {ours} vs {expected}"
                );
            }
        }
    }
    // Distinct patches really differ, so the comparison above is not vacuous.
    assert!(reference.iter().any(|&d| d > 0.05), "{reference:?}");
}

#[test]
fn a_patch_against_itself_is_at_distance_zero() {
    let patches = patches(2);
    for net in Net::ALL {
        let scorer = Scorer::new(common::model(net, Weighting::Lin));
        let distances = scorer
            .score_pairs(&patches, &[Pair { p0: 1, p1: 1 }, Pair { p0: 0, p1: 1 }])
            .expect("pairs");
        assert_eq!(distances[0], 0.0, "{net}");
        assert!(distances[1] > 0.0, "{net}");
    }
}

#[test]
fn minimum_sizes_are_enforced_per_network() {
    assert_eq!(Net::Alex.min_side(), 31);
    assert_eq!(Net::Vgg.min_side(), 16);
    let mut rng = common::Rng::new(3);
    for net in Net::ALL {
        let scorer = Scorer::new(common::model(net, Weighting::Lin));
        let side = net.min_side();
        let fits = vec![
            common::noise_image(&mut rng, side, side + 5),
            common::noise_image(&mut rng, side, side + 5),
        ];
        let distance = scorer
            .score_pairs(&fits, &[Pair { p0: 0, p1: 1 }])
            .expect("minimum size scores");
        assert!(distance[0].is_finite() && distance[0] > 0.0);
        let small = vec![
            common::noise_image(&mut rng, side - 1, 64),
            common::noise_image(&mut rng, side - 1, 64),
        ];
        let error = scorer
            .score_pairs(&small, &[Pair { p0: 0, p1: 1 }])
            .unwrap_err();
        assert!(
            matches!(error, LpipsError::TooSmall { min_side, .. } if min_side == side),
            "{error}"
        );
        assert!(
            error.to_string().contains(&format!("the {net} network")),
            "{error}"
        );
    }
}

#[test]
fn bad_comparisons_are_errors_before_any_work() {
    let mut patches = patches(2);
    patches.push(RgbImage::new(80, 64));
    let scorer = Scorer::new(common::model(Net::Alex, Weighting::Lin));
    let error = scorer
        .score_triplets(
            &patches,
            &[Triplet {
                reference: 0,
                p0: 1,
                p1: 7,
            }],
        )
        .unwrap_err();
    assert!(
        matches!(error, LpipsError::PatchIndex { index: 7, count: 3 }),
        "{error}"
    );
    let error = scorer
        .score_pairs(&patches, &[Pair { p0: 0, p1: 2 }])
        .unwrap_err();
    assert_eq!(error.to_string(), "images differ in size: 64x64 vs 80x64");
}

/// What runs on a GPU (plain strided convolutions on the model's device,
/// indices and images moved there, distances brought back) gives the CPU's
/// oneDNN distances: the CUDA code path, exercised on the CPU.
#[test]
fn the_plain_path_that_cuda_runs_scores_like_the_cpu_s() {
    let patches = patches(8);
    let triplets: Vec<Triplet> = (0..6)
        .map(|i| Triplet {
            reference: i,
            p0: (i + 1) % 8,
            p1: (i + 3) % 8,
        })
        .collect();
    for net in Net::ALL {
        let path = common::weights_dir().join(format!("{net}.safetensors"));
        let onednn = Scorer::new(
            lpips::Lpips::load_on(net, Weighting::Lin, &path, lpips::Device::Cpu).unwrap(),
        );
        let plain =
            Scorer::new(lpips::Lpips::load_plain_on_cpu(net, Weighting::Lin, &path).unwrap());
        assert_eq!(plain.model().device(), lpips::Device::Cpu);
        let (a, b) = (
            onednn.score_triplets(&patches, &triplets).unwrap(),
            plain.score_triplets(&patches, &triplets).unwrap(),
        );
        let worst = a
            .iter()
            .zip(&b)
            .flat_map(|(a, b)| [(a.d0 - b.d0).abs(), (a.d1 - b.d1).abs()])
            .fold(0.0f32, f32::max);
        println!("{net}: plain vs oneDNN max |difference| = {worst:.2e}");
        assert!(worst <= 1e-5, "{net}: {worst}");
    }
    if !tch::Cuda::is_available() {
        let error = "cuda"
            .parse::<lpips::DeviceChoice>()
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(error.to_string().contains("no CUDA device"), "{error}");
    }
}

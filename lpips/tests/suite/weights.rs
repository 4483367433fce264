//! Loading weights: the converted files load; missing, mis-shaped or corrupt
//! tensors are errors that name the tensor.

use crate::common;

use std::path::{Path, PathBuf};

use lpips::{Lpips, LpipsError, Net, Weighting};
use tch::Tensor;

/// Writes `net`'s converted weights, edited by `edit`, to a temp file.
fn edited_weights(net: Net, dir: &Path, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> PathBuf {
    let source = common::weights_dir().join(format!("{net}.safetensors"));
    let mut tensors = Tensor::read_safetensors(&source).expect("converted weights");
    edit(&mut tensors);
    let path = dir.join("edited.safetensors");
    Tensor::write_safetensors(&tensors, &path).expect("write safetensors");
    path
}

#[test]
fn missing_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_weights(Net::Alex, dir.path(), |tensors| {
        tensors.retain(|(name, _)| name != "net.slice3.6.weight")
    });
    let error = Lpips::load(Net::Alex, Weighting::Lin, &path)
        .err()
        .expect("must fail");
    assert!(
        matches!(&error, LpipsError::MissingTensor { name, .. } if name == "net.slice3.6.weight"),
        "{error}"
    );
    assert!(
        error.to_string().contains("`net.slice3.6.weight`"),
        "{error}"
    );
}

#[test]
fn mis_shaped_tensor_is_named_with_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_weights(Net::Vgg, dir.path(), |tensors| {
        for (name, tensor) in tensors.iter_mut() {
            if name == "lin2.model.1.weight" {
                *tensor = tensor.view([256, 1, 1, 1]);
            }
        }
    });
    let error = Lpips::load(Net::Vgg, Weighting::Lin, &path)
        .err()
        .expect("must fail");
    let message = error.to_string();
    assert!(
        message.contains("`lin2.model.1.weight`")
            && message.contains("[256, 1, 1, 1]")
            && message.contains("[1, 256, 1, 1]"),
        "{message}"
    );
}

#[test]
fn non_finite_tensor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_weights(Net::Alex, dir.path(), |tensors| {
        for (name, tensor) in tensors.iter_mut() {
            if name == "net.slice1.0.bias" {
                *tensor = tensor.fill(f64::NAN);
            }
        }
    });
    let error = Lpips::load(Net::Alex, Weighting::Lin, &path)
        .err()
        .expect("must fail");
    assert!(
        matches!(&error, LpipsError::NonFiniteTensor { name, .. } if name == "net.slice1.0.bias"),
        "{error}"
    );
}

#[test]
fn wrong_network_and_corrupt_files_are_errors() {
    let vgg_file = common::weights_dir().join("vgg.safetensors");
    let error = Lpips::load(Net::Alex, Weighting::Lin, &vgg_file)
        .err()
        .expect("must fail");
    assert!(
        error.to_string().contains("is it the alex weights?"),
        "{error}"
    );

    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"not a safetensors file").unwrap();
    let error = Lpips::load(Net::Alex, Weighting::Lin, &corrupt)
        .err()
        .expect("must fail");
    assert!(
        matches!(error, LpipsError::WeightsUnreadable { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("corrupt.safetensors"), "{error}");
}

#[test]
fn channel_sum_needs_no_linear_layers() {
    let dir = tempfile::tempdir().unwrap();
    let path = edited_weights(Net::Alex, dir.path(), |tensors| {
        tensors.retain(|(name, _)| !name.starts_with("lin"))
    });
    let model =
        Lpips::load(Net::Alex, Weighting::ChannelSum, &path).expect("backbone alone suffices");
    assert_eq!(model.weighting(), Weighting::ChannelSum);
    let error = Lpips::load(Net::Alex, Weighting::Lin, &path)
        .err()
        .expect("lin needs its layers");
    assert!(
        error.to_string().contains("`lin0.model.1.weight`"),
        "{error}"
    );
}

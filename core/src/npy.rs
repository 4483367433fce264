//! The one `.npy` shape BAPPS uses: a one-element float array holding a
//! share of judgments (`judge/` for 2AFC, `same/` for JND). Read from
//! untrusted BAPPS trees, so `fuzz/`'s `npy_share` target fuzzes it.

use anyhow::{bail, Context};

/// BAPPS' files hold a little-endian float64 of shape (1,).
pub fn encode_share(value: f64) -> Vec<u8> {
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }";
    // Magic, version 1.0, header length, header padded with spaces to a
    // multiple of 64 bytes and ended by a newline, then the data.
    let unpadded = 10 + header.len() + 1;
    let padding = (64 - unpadded % 64) % 64;
    let header_len = (header.len() + padding + 1) as u16;
    let mut bytes = Vec::with_capacity(unpadded + padding + 8);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(std::iter::repeat_n(b' ', padding));
    bytes.push(b'\n');
    bytes.extend_from_slice(&value.to_le_bytes());
    bytes
}

/// Reads a share written by [`encode_share`] or by numpy: one float32 or
/// float64 (either byte order) in an array of any shape with one element.
pub fn decode_share(bytes: &[u8]) -> anyhow::Result<f64> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        bail!("not a .npy file (no \\x93NUMPY magic)");
    }
    let (header_start, header_len) = match bytes[6] {
        1 => (10, usize::from(u16::from_le_bytes([bytes[8], bytes[9]]))),
        2 | 3 if bytes.len() >= 12 => (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        ),
        version => bail!("unsupported .npy version {version}"),
    };
    let header = bytes
        .get(header_start..header_start + header_len)
        .context("the .npy header is cut short")?;
    let header = std::str::from_utf8(header).context("the .npy header is not text")?;
    let data = &bytes[header_start + header_len..];
    let descr = dictionary_value(header, "descr").context("the .npy header has no 'descr'")?;
    // One element reads the same in C and Fortran order: 'fortran_order' does not matter.
    let shape = dictionary_value(header, "shape").context("the .npy header has no 'shape'")?;
    let shape = &shape[..shape.find(')').map_or(shape.len(), |end| end + 1)];
    let elements = shape
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|dim| !dim.is_empty())
        .try_fold(1usize, |elements, dim| {
            let dim = dim
                .parse::<usize>()
                .with_context(|| format!("bad dimension {dim:?} in shape {shape}"))?;
            // Checked: huge dimensions whose product wraps around to 1 would
            // otherwise pass for one element.
            elements
                .checked_mul(dim)
                .with_context(|| format!("shape {shape} has more elements than memory"))
        })?;
    if elements != 1 {
        bail!("expected one value (BAPPS' shape (1,)), found shape {shape}");
    }
    let dtype = descr
        .trim_start_matches(['\'', '"'])
        .split(['\'', '"'])
        .next()
        .unwrap_or("");
    let value = match dtype {
        "<f8" | "=f8" => f64::from_le_bytes(
            data.get(..8)
                .context("the value is cut short")?
                .try_into()?,
        ),
        ">f8" => f64::from_be_bytes(
            data.get(..8)
                .context("the value is cut short")?
                .try_into()?,
        ),
        "<f4" | "=f4" => f64::from(f32::from_le_bytes(
            data.get(..4)
                .context("the value is cut short")?
                .try_into()?,
        )),
        ">f4" => f64::from(f32::from_be_bytes(
            data.get(..4)
                .context("the value is cut short")?
                .try_into()?,
        )),
        other => bail!("expected a float32 or float64 array, found dtype {other:?}"),
    };
    if !(0.0..=1.0).contains(&value) {
        bail!("expected a share between 0 and 1, found {value}");
    }
    Ok(value)
}

/// The text after `'key':` in a numpy header dictionary.
fn dictionary_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    Some(header[start..].trim_start().strip_prefix(':')?.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_round_trip_and_the_header_is_aligned() {
        for value in [0.0, 0.4, 2.0 / 3.0, 1.0] {
            let bytes = encode_share(value);
            assert_eq!(
                (bytes.len() - 8) % 64,
                0,
                "numpy aligns the data to 64 bytes"
            );
            assert_eq!(decode_share(&bytes).unwrap(), value);
        }
    }

    #[test]
    fn numpy_float32_and_other_shapes_of_one_element_are_read() {
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let padded = format!("{header:<117}\n");
        bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        bytes.extend_from_slice(padded.as_bytes());
        bytes.extend_from_slice(&0.5f32.to_le_bytes());
        assert_eq!(decode_share(&bytes).unwrap(), 0.5);
    }

    #[test]
    fn wrong_shapes_types_and_values_are_named() {
        let with = |descr: &str, shape: &str, data: &[u8]| {
            let header =
                format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(data);
            decode_share(&bytes).unwrap_err().to_string()
        };
        assert!(with("<f8", "(2,)", &[0; 16]).contains("shape (2,)"));
        assert!(with("<i8", "(1,)", &[0; 8]).contains("dtype"));
        assert!(with("<f8", "(1,)", &1.5f64.to_le_bytes()).contains("between 0 and 1"));
        assert!(with("<f8", "(1,)", &[0; 3]).contains("cut short"));
        // 274177 × 67280421310721 = 2^64 + 1, which wraps around to one element.
        assert!(with("<f8", "(274177, 67280421310721)", &[0; 8]).contains("more elements"));
        assert!(decode_share(b"PK\x03\x04 not numpy")
            .unwrap_err()
            .to_string()
            .contains("magic"));
    }
}

//! BAPPS `judge/` and `same/` files read by `percept import-bapps`: the
//! server's `.npy` reader never panics, and every share it returns is one.
#![no_main]

use libfuzzer_sys::fuzz_target;

use percept_core::npy;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(share) = npy::decode_share(bytes) {
        assert!((0.0..=1.0).contains(&share), "{share}");
        // What we write, we read back exactly.
        assert_eq!(npy::decode_share(&npy::encode_share(share)).unwrap(), share);
    }
});

//! Run-time dispatch of hot loops to an AVX2 build of the same code.
//!
//! The crate is compiled for baseline x86-64 (SSE2), where the compiler
//! cannot use 8-lane integer multiplies, 256-bit registers or gathers. A
//! kernel declared with `multiversion!` is compiled twice from one body, once
//! with AVX2 enabled, and the AVX2 copy runs when the CPU has it.
//!
//! Both copies are the same source: integer results are exact, and float
//! operations stay IEEE-754 operations in the order written (Rust never
//! fuses a multiply-add or reorders float sums without being asked), so
//! vectorising changes no bits. The test below checks this on every type.

/// Whether the AVX2 copies may run.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(test)]
    if tests::SCALAR_ONLY.get() {
        return false;
    }
    std::arch::is_x86_feature_detected!("avx2")
}

/// Declares `fn name(args) -> ret { body }` with the body compiled twice,
/// for baseline x86-64 and with AVX2, picking the AVX2 copy at run time.
/// The body is inlined into both copies, so everything it calls that is
/// `#[inline]` is compiled for the target of the copy.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn kernel($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    kernel($($arg),*)
                }
                if $crate::simd::has_avx2() {
                    // SAFETY: `has_avx2` checked that this CPU supports AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            kernel($($arg),*)
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    use rand_chacha::rand_core::{RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::{Distortion, Sampler, KINDS};

    thread_local! {
        /// Forces the baseline copies on this thread.
        pub static SCALAR_ONLY: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `run` with only the baseline copies.
    pub fn scalar_only<T>(run: impl FnOnce() -> T) -> T {
        SCALAR_ONLY.set(true);
        let result = run();
        SCALAR_ONLY.set(false);
        result
    }

    #[test]
    fn the_avx2_and_baseline_copies_give_the_same_bytes() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let sampler = Sampler::new(1, 1, &KINDS.iter().map(|k| k.name).collect::<Vec<_>>())
            .expect("every type");
        let sizes = [(64, 64), (1, 1), (5, 3), (37, 64), (100, 23)];
        for round in 0..200u64 {
            let (width, height) = sizes[round as usize % sizes.len()];
            let mut pixels = vec![0u8; width * height * 3];
            rng.fill_bytes(&mut pixels);
            // Random noise, and a smooth image whose neighbours are close.
            if round % 2 == 1 {
                for (i, value) in pixels.iter_mut().enumerate() {
                    *value = (*value & 7).wrapping_add((i / 3 % width + i / 3 / width) as u8);
                }
            }
            let image = image::RgbImage::from_raw(width as u32, height as u32, pixels)
                .expect("sized to fit");
            let step: Distortion = sampler.sample_seeded(round).steps[0];
            let fast = step.apply(&image, &mut crate::step_rng(round, 0)).unwrap();
            let scalar =
                scalar_only(|| step.apply(&image, &mut crate::step_rng(round, 0))).unwrap();
            assert!(fast == scalar, "{step:?} on {width}x{height}");
        }
    }
}

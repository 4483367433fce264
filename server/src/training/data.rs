//! The triplets a metric is trained and validated on: the experiments' 2AFC
//! triplets with their judgments counted exactly as reports count them
//! (`tallies`: collected judgments without flagged workers unless asked,
//! plus imported BAPPS shares, sentinels left out), each with its judge, the
//! share of people who found p1 closer.

use std::borrow::Cow;
use std::collections::HashMap;

use distortions::image::{self, RgbImage};
use lpips::training::{BoxError, JudgedTriplet, PatchSource};
use lpips::Triplet;
use sqlx::PgPool;

use crate::tallies::{self, StimulusKind, Tally};

/// Judged triplets of some experiments, by triplet id.
pub struct Judged {
    pub tallies: Vec<(i64, Tally)>,
}

impl Judged {
    /// The experiments' judged triplets, in id order.
    pub async fn read(
        pool: &PgPool,
        experiment_ids: &[i64],
        include_flagged: bool,
    ) -> percept_core::Result<Self> {
        let excluded = tallies::excluded_workers(pool, experiment_ids, include_flagged).await?;
        let mut tallies: Vec<(i64, Tally)> =
            tallies::tallies(pool, StimulusKind::Triplet, experiment_ids, &excluded)
                .await?
                .into_iter()
                .collect();
        tallies.sort_by_key(|(id, _)| *id);
        Ok(Self { tallies })
    }

    pub fn judgments(&self) -> f64 {
        self.tallies.iter().map(|(_, t)| t.judgments).sum()
    }

    /// Splits off a seeded `share` of the triplets (at least one when the
    /// share is positive and there are two or more): (kept, held out).
    pub fn hold_out(self, share: f64, seed: u64) -> (Judged, Judged) {
        let count = self.tallies.len();
        let held = ((count as f64 * share).round() as usize)
            .max(usize::from(share > 0.0))
            .min(count.saturating_sub(1));
        let mut order: Vec<usize> = (0..count).collect();
        // SplitMix64 Fisher–Yates: the same split for the same seed.
        let mut state = seed ^ 0x005e_ed0f_7a11;
        for i in (1..count).rev() {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            order.swap(i, (z % (i as u64 + 1)) as usize);
        }
        let mut held_out: Vec<usize> = order[..held].to_vec();
        held_out.sort_unstable();
        let (mut kept, mut out) = (Vec::new(), Vec::new());
        for (index, tally) in self.tallies.into_iter().enumerate() {
            if held_out.binary_search(&index).is_ok() {
                out.push(tally);
            } else {
                kept.push(tally);
            }
        }
        (Judged { tallies: kept }, Judged { tallies: out })
    }
}

/// The patches of a list of triplets, three per triplet (reference, p0, p1),
/// read from the database when the trainer asks for them, a batch per query,
/// and decoded then: only the triplet ids stay in memory, so a training set
/// as large as BAPPS' (151k triplets, 450k PNGs of a few KB each) costs
/// its ids here, not its images. Used from the training's blocking thread,
/// which waits on the runtime for each query.
pub struct StoredPatches {
    pool: PgPool,
    runtime: tokio::runtime::Handle,
    ids: Vec<i64>,
}

impl StoredPatches {
    /// The patches of `triplet_ids`, in that order; the queries run on the
    /// current runtime.
    pub fn new(pool: &PgPool, triplet_ids: Vec<i64>) -> Self {
        Self {
            pool: pool.clone(),
            runtime: tokio::runtime::Handle::current(),
            ids: triplet_ids,
        }
    }

    /// The judged triplets for tallies `tallies`, whose triplets are at
    /// positions `first..` of this store.
    pub fn judged(&self, first: usize, tallies: &[(i64, Tally)]) -> Vec<JudgedTriplet> {
        tallies
            .iter()
            .enumerate()
            .map(|(offset, (id, tally))| {
                let at = first + offset;
                debug_assert_eq!(self.ids[at], *id);
                JudgedTriplet {
                    triplet: Triplet {
                        reference: 3 * at,
                        p0: 3 * at + 1,
                        p1: 3 * at + 2,
                    },
                    judge: tally.share() as f32,
                }
            })
            .collect()
    }
}

impl PatchSource for StoredPatches {
    fn patch_count(&self) -> usize {
        self.ids.len() * 3
    }

    fn patch(&self, index: usize) -> Result<Cow<'_, RgbImage>, BoxError> {
        Ok(self.patches(&[index])?.pop().expect("one patch asked for"))
    }

    fn patches(&self, indices: &[usize]) -> Result<Vec<Cow<'_, RgbImage>>, BoxError> {
        let mut wanted: Vec<i64> = indices.iter().map(|&index| self.ids[index / 3]).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let rows = self.runtime.block_on(
            sqlx::query!(
                "SELECT id, ref_png, p0_png, p1_png FROM triplets WHERE id = ANY($1)",
                &wanted
            )
            .fetch_all(&self.pool),
        )?;
        let pngs: HashMap<i64, [Vec<u8>; 3]> = rows
            .into_iter()
            .map(|row| (row.id, [row.ref_png, row.p0_png, row.p1_png]))
            .collect();
        indices
            .iter()
            .map(|&index| {
                let id = self.ids[index / 3];
                let side = ["reference", "p0", "p1"][index % 3];
                let png = pngs
                    .get(&id)
                    .ok_or_else(|| format!("triplet {id} is no longer in the database"))?;
                let image =
                    image::load_from_memory_with_format(&png[index % 3], image::ImageFormat::Png)
                        .map_err(|error| format!("triplet {id}'s {side} PNG: {error}"))?;
                Ok(Cow::Owned(image.to_rgb8()))
            })
            .collect()
    }
}

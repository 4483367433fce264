//! A contact-sheet row of CNN-distorted patches, laid out like the README's
//! sheet of traditional distortions (`percept distort sample`: 6 columns,
//! ×2), so it can be stacked under it.
//!
//! ```sh
//! cargo run -p cnn_distortions --example cnn_contact_sheet_row -- \
//!     BANK_DIR IMAGE X Y OUT.png [SHEET.png COMBINED.png]
//! ```
//!
//! The first six networks of the bank distort the 64×64 crop of IMAGE at
//! (X, Y), input-degradation seed 7. With SHEET.png, the row is also
//! appended below that sheet into COMBINED.png.

use cnn_distortions::Bank;
use distortions::contact_sheet;
use distortions::image::{self, imageops, RgbImage};

const COLUMNS: usize = 6;
const SCALE: u32 = 2;
/// `contact_sheet`'s gap, which both images start and end with.
const GAP: u32 = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 && args.len() != 7 {
        return Err("usage: BANK_DIR IMAGE X Y OUT.png [SHEET.png COMBINED.png]".into());
    }
    let bank = Bank::open(&args[0])?;
    let photo = image::open(&args[1])?.into_rgb8();
    let (x, y): (u32, u32) = (args[2].parse()?, args[3].parse()?);
    let patch = imageops::crop_imm(&photo, x, y, 64, 64).to_image();
    let mut tiles = Vec::new();
    for record in bank.list()?.iter().take(COLUMNS) {
        tiles.push(bank.load(&record.id)?.apply_one(&patch, 7)?);
        println!(
            "{} {}: {}",
            record.id,
            record.spec.task_name(),
            serde_json::to_string(&record.spec)?
        );
    }
    let row = contact_sheet(&tiles, COLUMNS as u32, SCALE);
    row.save(&args[4])?;
    println!("wrote {}", args[4]);
    if let [sheet, combined] = &args[5..] {
        let sheet = image::open(sheet)?.into_rgb8();
        if sheet.width() != row.width() {
            return Err(format!(
                "the sheet is {} pixels wide, the row {}",
                sheet.width(),
                row.width()
            )
            .into());
        }
        // The row's top gap merges into the sheet's bottom gap.
        let mut out = RgbImage::new(sheet.width(), sheet.height() + row.height() - GAP);
        imageops::replace(&mut out, &sheet, 0, 0);
        imageops::replace(&mut out, &row, 0, i64::from(sheet.height() - GAP));
        out.save(combined)?;
        println!("wrote {combined}");
    }
    Ok(())
}

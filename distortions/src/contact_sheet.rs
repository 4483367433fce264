//! A grid of images for a person to look over.

use image::{Rgb, RgbImage};

const GAP: u32 = 4;
const BACKGROUND: Rgb<u8> = Rgb([48, 48, 48]);

/// Lays `tiles` out left to right, top to bottom, `columns` per row, each
/// enlarged `scale` times with nearest-neighbour (so pixels stay visible)
/// and separated by a dark gap. Cells are sized for the largest tile.
pub fn contact_sheet(tiles: &[RgbImage], columns: u32, scale: u32) -> RgbImage {
    let (columns, scale) = (columns.max(1), scale.max(1));
    let cell_width = tiles.iter().map(RgbImage::width).max().unwrap_or(0) * scale;
    let cell_height = tiles.iter().map(RgbImage::height).max().unwrap_or(0) * scale;
    let rows = (tiles.len() as u32).div_ceil(columns);
    let used_columns = columns.min(tiles.len() as u32);
    let mut sheet = RgbImage::from_pixel(
        GAP + used_columns * (cell_width + GAP),
        GAP + rows * (cell_height + GAP),
        BACKGROUND,
    );
    for (index, tile) in tiles.iter().enumerate() {
        let index = index as u32;
        let left = GAP + (index % columns) * (cell_width + GAP);
        let top = GAP + (index / columns) * (cell_height + GAP);
        for y in 0..tile.height() * scale {
            for x in 0..tile.width() * scale {
                sheet.put_pixel(left + x, top + y, *tile.get_pixel(x / scale, y / scale));
            }
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_land_in_reading_order_enlarged() {
        let tiles: Vec<RgbImage> = (0..3u8)
            .map(|i| RgbImage::from_pixel(2, 2, Rgb([i * 100, 0, 0])))
            .collect();
        let sheet = contact_sheet(&tiles, 2, 3);
        assert_eq!(
            sheet.dimensions(),
            (GAP + 2 * (6 + GAP), GAP + 2 * (6 + GAP))
        );
        assert_eq!(sheet.get_pixel(GAP + 5, GAP + 5)[0], 0);
        assert_eq!(sheet.get_pixel(GAP + 6 + GAP, GAP)[0], 100);
        assert_eq!(sheet.get_pixel(GAP, GAP + 6 + GAP + 5)[0], 200);
        assert_eq!(*sheet.get_pixel(GAP + 6 + GAP, GAP + 6 + GAP), BACKGROUND);
    }
}

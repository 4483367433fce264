//! Rows in PostgreSQL's binary `COPY ... FROM STDIN` format, for the one
//! place that stores rows by the thousand: generation's stimuli. A binary
//! COPY streams each PNG's bytes as they are (no hex text, no array literal
//! to parse, no `UNNEST` materialised on the server), and can be fed while
//! the rest of the rows are still being rendered.
//!
//! The format (PostgreSQL manual, "COPY", "Binary Format"): a signature and
//! two zero words, then per row the field count (int16) and per field its
//! length (int32, -1 for NULL) and its bytes in the type's binary send
//! format (big-endian integers, raw `bytea`, UTF-8 `text`, `jsonb` as a
//! version byte 1 before the JSON text), and an int16 -1 after the last row.

/// Rows being written; [`take`](Self::take) hands over what is written so
/// far, so a long COPY is sent a batch at a time.
pub struct CopyRows {
    buffer: Vec<u8>,
}

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

impl CopyRows {
    /// Starts a COPY's data with its header.
    pub fn new() -> Self {
        let mut buffer = Vec::with_capacity(1 << 16);
        buffer.extend_from_slice(SIGNATURE);
        buffer.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buffer.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        Self { buffer }
    }

    /// Starts a row of `fields` fields, which the next calls write in order.
    pub fn row(&mut self, fields: i16) -> &mut Self {
        self.buffer.extend_from_slice(&fields.to_be_bytes());
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        let length = i32::try_from(bytes.len()).expect("a COPY field is under 2 GiB");
        self.buffer.extend_from_slice(&length.to_be_bytes());
        self.buffer.extend_from_slice(bytes);
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buffer.extend_from_slice(&(-1i32).to_be_bytes());
        self
    }

    pub fn int2(&mut self, value: i16) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn int4(&mut self, value: i32) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn int8(&mut self, value: i64) -> &mut Self {
        self.field(&value.to_be_bytes())
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.field(&[u8::from(value)])
    }

    pub fn bytea(&mut self, value: &[u8]) -> &mut Self {
        self.field(value)
    }

    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(text) => self.field(text.as_bytes()),
            None => self.null(),
        }
    }

    pub fn jsonb(&mut self, value: &serde_json::Value) -> &mut Self {
        let mut bytes = vec![1u8]; // jsonb's binary format version
        serde_json::to_writer(&mut bytes, value).expect("JSON values serialise");
        self.field(&bytes)
    }

    /// The bytes written since the last call.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer)
    }

    /// The rest of the data, ending the COPY.
    pub fn finish(mut self) -> Vec<u8> {
        self.buffer.extend_from_slice(&(-1i16).to_be_bytes());
        self.buffer
    }
}

impl Default for CopyRows {
    fn default() -> Self {
        Self::new()
    }
}

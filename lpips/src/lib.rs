//! LPIPS on tch (work in progress).

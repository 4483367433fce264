//! percept-core's integration tests: one binary, a module per file.

mod ranking;

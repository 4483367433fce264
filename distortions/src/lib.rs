//! BAPPS traditional distortions (work in progress).

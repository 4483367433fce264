//! Running the external programs the setup drives, with their errors made readable.

use std::process::{Command, Stdio};

pub type Result<T = ()> = std::result::Result<T, String>;

/// Announces a step the way every step is announced, so a log reads as a checklist.
pub fn step(name: &str, skipped: bool) {
    if skipped {
        println!("✓ {name}");
    } else {
        println!("→ {name}");
    }
}

/// Runs a command with inherited output; fails with the command line if it fails.
pub fn run(command: &mut Command) -> Result {
    let status = command
        .status()
        .map_err(|error| format!("cannot start {}: {error}", describe(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(command)))
    }
}

/// Runs a command and returns its standard output, trimmed.
pub fn output(command: &mut Command) -> Result<String> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("cannot start {}: {error}", describe(command)))?;
    if !output.status.success() {
        return Err(format!("{} failed ({})", describe(command), output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Whether a command runs and exits 0 (used to probe for installed tools).
pub fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    format!("`{line}`")
}

//! The `xzup` binary: parse the command line, run, turn the outcome into an exit code.

fn main() -> std::process::ExitCode {
    xzup::main_entry(std::env::args_os())
}

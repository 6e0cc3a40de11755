fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(querygate::cli::main() as u8)
}

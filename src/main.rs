/// Room for what hclsyntax accepts and a recursive evaluator walks: a
/// thousand nested levels of expressions, directives and operator chains
/// (see `frontend::hcl::check`). Only the pages touched are ever used.
const STACK: usize = 256 << 20;

fn main() {
    let code = match std::thread::Builder::new()
        .name("kiln".into())
        .stack_size(STACK)
        .spawn(kiln::cli::main)
    {
        Ok(t) => t.join().unwrap_or(101),
        // Under a tight address-space limit: the main thread's stack.
        Err(_) => kiln::cli::main(),
    };
    std::process::exit(code);
}

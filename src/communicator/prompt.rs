//! Answers to an SSH server's keyboard-interactive questions
//! (`ssh_bastion_interactive`), asked on the terminal as Packer asks them:
//! the server's instruction, then each question; an answer the server does
//! not want echoed (a password, a one-time code) is read with echo off.
//! Without a terminal (no `/dev/tty`: CI, a pipe), each answer is one line
//! of standard input, so a script can answer too.

use std::io::{BufRead, BufReader, Write};

/// One question of the server's.
pub struct Question {
    pub prompt: String,
    pub echo: bool,
}

/// One build at a time asks (parallel builds share the terminal).
static TERMINAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Ask `questions` of the user on behalf of `who` (`user@host`). Blocking:
/// run it off the async runtime.
pub fn answer(
    who: &str,
    name: &str,
    instructions: &str,
    questions: &[Question],
) -> Result<Vec<String>, String> {
    if questions.is_empty() {
        return Ok(Vec::new());
    }
    let _turn = TERMINAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut header = format!("SSH login to {who} (keyboard-interactive)");
    for line in [name, instructions]
        .into_iter()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        header.push('\n');
        header.push_str(line);
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    {
        Ok(tty) => on_terminal(tty, &header, questions),
        Err(_) => from_stdin(&header, questions),
    }
}

fn on_terminal(
    tty: std::fs::File,
    header: &str,
    questions: &[Question],
) -> Result<Vec<String>, String> {
    let mut out = tty.try_clone().map_err(|e| format!("the terminal: {e}"))?;
    let mut input = BufReader::new(tty);
    writeln!(out, "{header}").map_err(|e| format!("the terminal: {e}"))?;
    let mut answers = Vec::with_capacity(questions.len());
    for q in questions {
        if q.echo {
            write!(out, "{}", q.prompt)
                .and_then(|_| out.flush())
                .map_err(|e| format!("the terminal: {e}"))?;
            answers.push(read_line(&mut input, &q.prompt)?);
        } else {
            answers.push(
                rpassword::prompt_password(&q.prompt)
                    .map_err(|e| format!("reading the answer to {:?}: {e}", q.prompt))?,
            );
        }
    }
    Ok(answers)
}

fn from_stdin(header: &str, questions: &[Question]) -> Result<Vec<String>, String> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    eprintln!("{header}");
    let mut answers = Vec::with_capacity(questions.len());
    for q in questions {
        // The prompt, never the answer: it may be a secret.
        eprintln!("{} (answer read from standard input)", q.prompt.trim_end());
        answers.push(read_line(&mut input, &q.prompt)?);
    }
    Ok(answers)
}

fn read_line(input: &mut dyn BufRead, prompt: &str) -> Result<String, String> {
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(0) => Err(format!("no answer to {:?}: the input ended (kiln reads the answers from the terminal, else one line each from standard input)", prompt.trim_end())),
        Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_string()),
        Err(e) => Err(format!("reading the answer to {:?}: {e}", prompt.trim_end())),
    }
}

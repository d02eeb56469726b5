//! `invigil-tansu`: the launcher `ops/dev/services.sh` runs its shared dev
//! broker with, so the script, `invigil up` and the tests start tansu the
//! same way (see the library).
//!
//!     invigil-tansu broker DIR ADDRESS   replaces itself with the broker
//!     invigil-tansu version              prints the tansu release used

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["version"] => {
            println!("{}", invigil_tansu::TANSU_VERSION);
            ExitCode::SUCCESS
        }
        ["broker", dir, address] => {
            let address = match address.parse() {
                Ok(address) => address,
                Err(error) => return fail(&format!("{address:?} is not an ip:port: {error}")),
            };
            let binary = match invigil_tansu::find_binary("the dev broker is asked for") {
                Ok(binary) => binary,
                Err(why) => return fail(&why),
            };
            match invigil_tansu::broker_command(&binary, dir.as_ref(), address) {
                // `exec` returns only on failure: on success this process is the broker.
                Ok(mut command) => fail(&format!("starting {}: {}", binary.display(), command.exec())),
                Err(error) => fail(&format!("preparing {dir}: {error}")),
            }
        }
        _ => fail("usage: invigil-tansu broker DIR ADDRESS | invigil-tansu version"),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("invigil-tansu: {message}");
    ExitCode::FAILURE
}

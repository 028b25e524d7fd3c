//! A new operator's first commands, through the real binary: `project create`, config errors,
//! client variables in the server's environment, and what the log looks like.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::{binary_path, eventually, free_port, Binary, OLD_SIGNALS_NO_METRICS};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary_path())
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn project_create_names_its_database_and_never_creates_one_silently() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("data").join("meetinghooks.db");

    let refused = run(dir.path(), &["project", "create", "acme"]);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(
        stderr.starts_with(&format!("error: no database at {}", database.display())),
        "{stderr}"
    );
    assert!(stderr.contains("--create-database"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing may be created");

    let created = run(
        dir.path(),
        &["project", "create", "acme", "--create-database"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let stdout = text(&created.stdout);
    assert!(
        stdout.contains(&format!("created in {}", database.display())),
        "{stdout}"
    );
    assert!(stdout.contains("api key: "), "{stdout}");

    let again = run(dir.path(), &["project", "create", "acme"]);
    assert!(!again.status.success());
    let stderr = text(&again.stderr);
    assert!(
        stderr.contains("a project named \"acme\" already exists"),
        "{stderr}"
    );
    assert!(!stderr.contains("UNIQUE"), "{stderr}");
}

#[test]
fn serve_reports_every_config_problem_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "reconnect_grace = 10\nretry_jiter = 0.1\nlistn = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let output = Command::new(binary_path())
        .args(["serve", "--config", "bad.toml"])
        .current_dir(dir.path())
        .env("MEETINGHOOKS_REQUEST_TIMEOUT", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: invalid configuration (4 problems):"),
        "{stderr}"
    );
    for expected in [
        "bad.toml: reconnect_grace: 10 has no unit",
        "bad.toml: retry_jiter: unknown key (did you mean retry_jitter?)",
        "bad.toml: listn: unknown key (did you mean listen?)",
        "MEETINGHOOKS_REQUEST_TIMEOUT: 1 has no unit",
    ] {
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from {stderr}"
        );
    }
    assert!(
        !stderr.contains('`') && !stderr.contains("default."),
        "{stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

/// `serve` started with the clients' variables exported, its log redirected to a file.
fn serve_logging_to_file(
    dir: &Path,
    flags: &[&str],
    env: &[(&str, &str)],
) -> (Binary, std::path::PathBuf) {
    let log = dir.join("serve.log");
    let port = free_port();
    let child = Command::new(binary_path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(flags)
        .env(
            "MEETINGHOOKS_DATABASE_URL",
            format!("sqlite://{}", dir.join("db.sqlite").display()),
        )
        .env("MEETINGHOOKS_API_KEY", "a-client-key")
        .env(
            "MEETINGHOOKS_LISTEN_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .env("MEETINGHOOKS_URL", "http://127.0.0.1:1")
        .env("MEETINGHOOKS_LOGG", "debug")
        .envs(OLD_SIGNALS_NO_METRICS)
        .envs(env.iter().copied())
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let addr = ([127, 0, 0, 1], port).into();
    (Binary { child, addr }, log)
}

#[tokio::test]
async fn client_variables_do_not_stop_the_server_and_a_redirected_log_has_no_colours() {
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve_logging_to_file(dir.path(), &[], &[]);
    server.wait_ready(&reqwest::Client::new()).await;
    let warned = || async {
        std::fs::read_to_string(&log).is_ok_and(|t| {
            t.contains(
                "ignoring MEETINGHOOKS_LOGG: not a server setting (did you mean MEETINGHOOKS_LOG?)",
            )
        })
    };
    eventually("the unknown variable is reported", warned).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("MEETINGHOOKS_API_KEY"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escapes in a redirected log: {text:?}"
    );
    server.kill9();
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let (server, log) =
        serve_logging_to_file(dir.path(), &[], &[("MEETINGHOOKS_LOG_FORMAT", "json")]);
    server.wait_ready(&reqwest::Client::new()).await;
    eventually("the server has logged", || async {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("MEETINGHOOKS_LOGG"))
    })
    .await;
    server.kill9();
    let text = std::fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(object["level"].is_string(), "{line}");
    }
}

#[tokio::test]
async fn verbose_and_quiet_change_what_serve_logs() {
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve_logging_to_file(dir.path(), &["-v"], &[]);
    server.wait_ready(&client).await;
    eventually("-v logs the configuration in force", || async {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("configuration in force"))
    })
    .await;
    server.kill9();

    let dir = tempfile::tempdir().unwrap();
    let (server, log) = serve_logging_to_file(dir.path(), &["-q"], &[]);
    server.wait_ready(&client).await;
    eventually("-q still logs warnings", || async {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("MEETINGHOOKS_LOGG"))
    })
    .await;
    server.kill9();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("meetinghooks listening"),
        "-q let info through: {text}"
    );
}

//! The Debian package (`scripts/package`): built from the debug binary, unpacked, and its
//! binary, conffile, maintainer scripts and hardened systemd unit checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The highest `systemd-analyze security` exposure the unit may have ("OK" is below 4.0).
const MAX_EXPOSURE: f64 = 2.5;

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds the package from target/debug/roster and returns its path.
fn build_package(out: &Path) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = run(Command::new(manifest.join("scripts/package"))
        .current_dir(manifest)
        .arg("--debug-binary")
        .arg("--output")
        .arg(out));
    let printed = stdout(&output);
    let deb = PathBuf::from(printed.trim());
    assert!(
        deb.is_file(),
        "scripts/package printed {printed:?}, not a package"
    );
    deb
}

/// The unit inside the unpacked root, wherever cargo-deb put it.
fn unit_in(root: &Path) -> PathBuf {
    [
        "lib/systemd/system/roster.service",
        "usr/lib/systemd/system/roster.service",
    ]
    .iter()
    .map(|path| root.join(path))
    .find(|path| path.is_file())
    .unwrap_or_else(|| panic!("no roster.service under {}", root.display()))
}

#[test]
fn the_debian_package_holds_the_binary_the_conffile_and_a_hardened_unit() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_package(&dir.path().join("out"));
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("roster_{}", env!("CARGO_PKG_VERSION")))
            && name.ends_with("_amd64.deb"),
        "package named {name}"
    );

    // Control data: the conffile, and the user made by postinst.
    let control = dir.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert!(
        conffiles
            .lines()
            .any(|line| line == "/etc/roster/roster.toml"),
        "conffiles: {conffiles}"
    );
    let depends = stdout(&run(Command::new("dpkg-deb")
        .arg("-f")
        .arg(&deb)
        .arg("Depends")));
    assert!(depends.contains("adduser"), "Depends: {depends}");
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system --group --home /var/lib/roster"));
    assert!(postinst.contains("install -d -o roster -g roster -m 0750 /var/lib/roster"));
    // Neither enabled nor started on install (a fresh config's LDAP is not the site's).
    assert!(
        !postinst.contains("deb-systemd-invoke $_dh_action"),
        "{postinst}"
    );
    assert!(postinst.contains("deb-systemd-invoke try-restart roster.service"));
    for script in ["postinst", "postrm", "prerm"] {
        run(Command::new("sh").arg("-n").arg(control.join(script)));
    }

    // Contents, unpacked into a root of their own.
    let listing = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)));
    let config_line = listing
        .lines()
        .find(|line| line.ends_with("./etc/roster/roster.toml"))
        .unwrap_or_else(|| panic!("no config in {listing}"));
    assert!(config_line.starts_with("-rw-r-----"), "{config_line}");
    let root = dir.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));

    let help = stdout(&run(Command::new(root.join("usr/bin/roster")).arg("--help")));
    assert!(help.contains("migrate") && help.contains("serve"), "{help}");

    // The packaged config keeps the database and mail in the state directory, and is
    // accepted by the binary (unknown keys are refused): migrate a scratch database with it.
    let config = root.join("etc/roster/roster.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\nurl = \"sqlite:///var/lib/roster/roster.db\"\n"));
    assert!(text.contains("\nfile_dir = \"/var/lib/roster/mail\"\n"));
    let database = dir.path().join("scratch.db");
    run(crate::cli::roster()
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .env(
            "ROSTER_DATABASE__URL",
            format!("sqlite://{}", database.display()),
        )
        .env("ROSTER_MAIL__FILE_DIR", dir.path().join("mail")));
    assert!(database.is_file());

    // The unit, verified and rated inside the unpacked root (its ExecStart resolves
    // there). verify also needs the targets the unit is ordered after: the host's.
    let unit = std::fs::read_to_string(unit_in(&root)).unwrap();
    for line in [
        "User=roster",
        "ExecStartPre=/usr/bin/roster --config /etc/roster/roster.toml migrate",
        "ExecStart=/usr/bin/roster --config /etc/roster/roster.toml serve",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=35",
        "Restart=on-failure",
        "ReadWritePaths=/var/lib/roster",
        "ProtectSystem=strict",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "roster.service lacks {line}"
        );
    }
    assert!(!unit.lines().any(|l| l.starts_with("ExecReload=")));
    let units = root.join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    for entry in std::fs::read_dir("/lib/systemd/system").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "target") {
            std::fs::copy(&path, units.join(path.file_name().unwrap())).unwrap();
        }
    }
    let verify = run(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("roster.service"));
    // verify succeeds despite unknown keys; it only warns.
    let warnings = String::from_utf8_lossy(&verify.stderr);
    assert!(
        !warnings.contains("roster.service"),
        "systemd-analyze verify: {warnings}"
    );

    let security = run(Command::new("systemd-analyze")
        .arg("security")
        .arg("--offline=true")
        .arg(format!("--root={}", root.display()))
        .arg(format!("--threshold={}", (MAX_EXPOSURE * 10.0) as u32))
        .arg("roster.service"));
    let report = stdout(&security);
    let exposure: f64 = report
        .lines()
        .find_map(|line| line.split("exposure level for roster.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in {report}"));
    eprintln!("systemd-analyze security: roster.service exposure {exposure}");
    assert!(
        exposure <= MAX_EXPOSURE,
        "exposure {exposure} > {MAX_EXPOSURE}:\n{report}"
    );
}

//! Names that belong to the system: refused as usernames and as organisation short names
//! (both become POSIX group names in LDAP).

/// Users a system already has, or names that mislead.
const RESERVED: &[&str] = &[
    "root",
    "admin",
    "administrator",
    "daemon",
    "bin",
    "sys",
    "sync",
    "games",
    "man",
    "lp",
    "mail",
    "news",
    "uucp",
    "proxy",
    "www-data",
    "backup",
    "list",
    "irc",
    "gnats",
    "nobody",
    "systemd-network",
    "systemd-resolve",
    "messagebus",
    "sshd",
    "postfix",
    "postgres",
    "mysql",
    "openldap",
    "slapd",
    "ldap",
    "nslcd",
    "sssd",
    "ntp",
    "chrony",
    "operator",
    "halt",
    "shutdown",
    "ftp",
    "git",
    "docker",
    "slurm",
    "munge",
    "apache",
    "nginx",
    "guest",
    "support",
    "helpdesk",
    "security",
    "abuse",
    "postmaster",
    "hostmaster",
    "webmaster",
    "roster",
    "test",
    "user",
];

/// Groups Debian, RHEL and common services create, and names that grant power by convention
/// (`wheel`, `sudo`, `adm`, `docker`...): a portal group of that name would put its members
/// into them on every machine that reads groups from LDAP.
const RESERVED_GROUPS: &[&str] = &[
    "adm",
    "admins",
    "audio",
    "cdrom",
    "crontab",
    "daemon",
    "dialout",
    "dip",
    "disk",
    "docker",
    "fax",
    "floppy",
    "fuse",
    "input",
    "kmem",
    "kvm",
    "libvirt",
    "lpadmin",
    "lxd",
    "netdev",
    "nogroup",
    "plugdev",
    "polkitd",
    "postdrop",
    "render",
    "sambashare",
    "sasl",
    "sgx",
    "shadow",
    "src",
    "ssh",
    "ssl-cert",
    "staff",
    "sudo",
    "sys",
    "systemd-journal",
    "tape",
    "tss",
    "tty",
    "users",
    "utmp",
    "video",
    "voice",
    "wheel",
];

/// Whether `name` is taken by the system or misleads, as a username or a group name:
/// the reserved names, and anything starting `systemd-`.
pub fn is_reserved_system_name(name: &str) -> bool {
    RESERVED.contains(&name) || RESERVED_GROUPS.contains(&name) || name.starts_with("systemd-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_users_and_groups_are_reserved() {
        for name in [
            "root",
            "wheel",
            "sudo",
            "adm",
            "admin",
            "docker",
            "shadow",
            "nogroup",
            "staff",
            "users",
            "systemd-timesync",
            "systemd-coredump",
        ] {
            assert!(is_reserved_system_name(name), "{name}");
        }
        assert!(!is_reserved_system_name("astro"));
    }
}

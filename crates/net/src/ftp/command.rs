//! The FTP commands a download sends, their wire form, and a printable form for logs that
//! never shows the password.
//!
//! Arguments are taken as they are: [`FtpSource`](super::FtpSource) is checked before any
//! command is built, so they hold no line breaks. It must never print a `PASS` argument.

use std::fmt;

/// One command of a download session; Debug and Display both hide the password.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    /// `USER name`.
    User(&'a str),
    /// `PASS password`; its Display hides the argument.
    Pass(&'a str),
    /// `TYPE I`: binary transfers, and sizes in bytes.
    TypeImage,
    /// `SIZE path` (RFC 3659).
    Size(&'a str),
    /// `MDTM path` (RFC 3659).
    Mdtm(&'a str),
    /// `EPSV` (RFC 2428).
    Epsv,
    /// `PASV`.
    Pasv,
    /// `REST offset`: the next RETR starts at this byte.
    Rest(u64),
    /// `RETR path`.
    Retr(&'a str),
    /// `QUIT`.
    Quit,
}

impl Command<'_> {
    /// The command word, for error messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::User(_) => "USER",
            Self::Pass(_) => "PASS",
            Self::TypeImage => "TYPE",
            Self::Size(_) => "SIZE",
            Self::Mdtm(_) => "MDTM",
            Self::Epsv => "EPSV",
            Self::Pasv => "PASV",
            Self::Rest(_) => "REST",
            Self::Retr(_) => "RETR",
            Self::Quit => "QUIT",
        }
    }

    /// Appends the command line, CRLF included, to `out`.
    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name().as_bytes());
        match self {
            Self::User(arg) | Self::Pass(arg) | Self::Size(arg) | Self::Mdtm(arg) | Self::Retr(arg) => {
                out.push(b' ');
                out.extend_from_slice(arg.as_bytes());
            }
            Self::TypeImage => out.extend_from_slice(b" I"),
            Self::Rest(offset) => out.extend_from_slice(format!(" {offset}").as_bytes()),
            Self::Epsv | Self::Pasv | Self::Quit => {}
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl fmt::Display for Command<'_> {
    /// The command as logged: `PASS` shows `****` instead of its argument.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass(_) => f.write_str("PASS ****"),
            other => {
                let mut line = Vec::new();
                other.emit(&mut line);
                f.write_str(String::from_utf8_lossy(&line).trim_end())
            }
        }
    }
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(command: Command<'_>) -> String {
        let mut out = Vec::new();
        command.emit(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn wire_forms() {
        assert_eq!(wire(Command::User("modem")), "USER modem\r\n");
        assert_eq!(wire(Command::Pass("s3cret pw")), "PASS s3cret pw\r\n");
        assert_eq!(wire(Command::TypeImage), "TYPE I\r\n");
        assert_eq!(wire(Command::Size("fw/pkg.bin")), "SIZE fw/pkg.bin\r\n");
        assert_eq!(wire(Command::Mdtm("a b.bin")), "MDTM a b.bin\r\n");
        assert_eq!(wire(Command::Epsv), "EPSV\r\n");
        assert_eq!(wire(Command::Pasv), "PASV\r\n");
        assert_eq!(wire(Command::Rest(u64::MAX)), "REST 18446744073709551615\r\n");
        assert_eq!(wire(Command::Retr("/fw.bin")), "RETR /fw.bin\r\n");
        assert_eq!(wire(Command::Quit), "QUIT\r\n");
    }

    #[test]
    fn display_hides_the_password_only() {
        assert_eq!(Command::Pass("s3cret").to_string(), "PASS ****");
        assert_eq!(format!("{:?}", Command::Pass("s3cret")), "PASS ****");
        assert_eq!(Command::User("modem").to_string(), "USER modem");
        assert_eq!(Command::Rest(10).to_string(), "REST 10");
        assert_eq!(Command::Pass("x").name(), "PASS");
    }
}

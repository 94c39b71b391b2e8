//! `reservnod user …`: the unit's staff accounts from the node's own Unix account (IT; the
//! first unit admin is made here). Like the care commands it asks the running node through
//! its socket, or the data directory itself when none runs; a password is read from the
//! terminal without echo, or from the first line of standard input (`--password-stdin`).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use super::args::{TokenCommand, UserCommand};
use super::care::{present, viewer};
use crate::care::api::{AccountView, Reply, Request, Secret, TokenCreated, UserAddRequest, Users};

/// Runs one `user` command.
pub fn user(cmd: UserCommand) -> Result<ExitCode> {
    match cmd {
        UserCommand::Add(a) => {
            let password = read_password(a.password_stdin)?;
            let request = Request::UserAdd(UserAddRequest {
                login: a.account,
                name: a.name,
                title: a.title,
                roles: a.roles,
                password: Some(password),
            });
            let v = a.view;
            present(
                &v.data.data_dir,
                viewer(v.login),
                request,
                v.json,
                account,
                |o, a| {
                    writeln!(o, "Kontot är skapat.")?;
                    write_account(o, a)
                },
            )
        }
        UserCommand::Passwd(a) => {
            let password = read_password(a.password_stdin)?;
            let request = Request::UserPasswd {
                login: a.account,
                password: Some(password),
            };
            let v = a.view;
            present(
                &v.data.data_dir,
                viewer(v.login),
                request,
                v.json,
                account,
                |o, a| {
                    writeln!(
                    o,
                    "Lösenordet för {} är bytt; det gäller på enhetens alla noder när de fått ändringen.",
                    a.login
                )?;
                    Ok(())
                },
            )
        }
        UserCommand::Roles(a) => {
            let request = Request::UserRoles {
                login: a.account,
                roles: a.roles,
            };
            let v = a.view;
            present(
                &v.data.data_dir,
                viewer(v.login),
                request,
                v.json,
                account,
                write_account,
            )
        }
        UserCommand::Disable(a) => {
            let v = a.view;
            present(
                &v.data.data_dir,
                viewer(v.login),
                Request::UserDisable { login: a.account },
                v.json,
                account,
                |o, a| {
                    writeln!(
                        o,
                        "Kontot {} är spärrat; det kan inte logga in på någon av enhetens noder när de fått ändringen.",
                        a.login
                    )?;
                    Ok(())
                },
            )
        }
        UserCommand::Enable(a) => {
            let v = a.view;
            present(
                &v.data.data_dir,
                viewer(v.login),
                Request::UserEnable { login: a.account },
                v.json,
                account,
                |o, a| {
                    writeln!(o, "Kontot {} är öppnat igen.", a.login)?;
                    Ok(())
                },
            )
        }
        UserCommand::List(v) => present(
            &v.data.data_dir,
            viewer(v.login),
            Request::UserList {},
            v.json,
            |r| match r {
                Reply::Users(u) => Some(u),
                _ => None,
            },
            write_users,
        ),
        UserCommand::Token(TokenCommand::Create {
            view,
            account,
            label,
        }) => present(
            &view.data.data_dir,
            viewer(view.login),
            Request::TokenCreate {
                login: account,
                label,
            },
            view.json,
            |r| match r {
                Reply::TokenCreated(t) => Some(t),
                _ => None,
            },
            write_token,
        ),
        UserCommand::Token(TokenCommand::Revoke {
            view,
            account: login,
            token,
        }) => present(
            &view.data.data_dir,
            viewer(view.login),
            Request::TokenRevoke { login, token },
            view.json,
            account,
            |o, a| {
                writeln!(o, "Nyckeln är återkallad.")?;
                write_account(o, a)
            },
        ),
    }
}

fn account(r: Reply) -> Option<AccountView> {
    match r {
        Reply::Account(a) => Some(a),
        _ => None,
    }
}

/// The password: the first line of standard input, or typed twice on the terminal without
/// echo. Never an argument (it would be in the shell history and the process list).
fn read_password(from_stdin: bool) -> Result<Secret> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("kunde inte läsa lösenordet från standard in")?;
        let password = Secret::new(line.trim_end_matches(['\n', '\r']));
        zeroize::Zeroize::zeroize(&mut line);
        return Ok(password);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("inget lösenord: skriv det på en terminal, eller ge det på standard in med --password-stdin");
    }
    let first = Secret::new(
        rpassword::prompt_password("Lösenord: ").context("kunde inte läsa lösenordet")?,
    );
    let again = Secret::new(
        rpassword::prompt_password("Samma lösenord igen: ")
            .context("kunde inte läsa lösenordet")?,
    );
    if first != again {
        bail!("lösenorden stämmer inte överens: ingenting är ändrat");
    }
    Ok(first)
}

fn write_account(out: &mut impl Write, a: &AccountView) -> Result<()> {
    let title = if a.title.is_empty() {
        String::new()
    } else {
        format!(", {}", a.title)
    };
    writeln!(
        out,
        "{:<16} {}{title}  [{}]{}",
        a.login,
        a.name,
        a.roles.join(", "),
        if a.enabled { "" } else { "  SPÄRRAT" }
    )?;
    for t in &a.tokens {
        writeln!(
            out,
            "    API-nyckel {}  {}  skapad {}",
            t.id,
            if t.label.is_empty() {
                "(ingen beskrivning)"
            } else {
                &t.label
            },
            crate::clock::format_ms_local(t.issued_ms)
        )?;
    }
    Ok(())
}

fn write_users(out: &mut impl Write, u: &Users) -> Result<()> {
    if u.accounts.is_empty() {
        writeln!(
            out,
            "Enheten har inga konton än: skapa administratören med `reservnod user add INLOGGNINGSNAMN --name \"Förnamn Efternamn\" --role admin,personal`."
        )?;
    }
    for a in &u.accounts {
        write_account(out, a)?;
    }
    Ok(())
}

fn write_token(out: &mut impl Write, t: &TokenCreated) -> Result<()> {
    writeln!(out, "API-nyckel {} för {}:", t.id, t.login)?;
    writeln!(out, "  {}", t.token.expose())?;
    writeln!(
        out,
        "Nyckeln visas bara nu och sparas ingenstans: ge den till skriptet (Authorization: Bearer …)."
    )?;
    Ok(())
}

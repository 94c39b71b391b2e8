//! `reservnod outage declare | end | show` and `reservnod reentry list | mark | signoff`:
//! the backup routine's beginning and end and the unit's re-entry into LINK, asked of the
//! node like every care command (its socket, or the data directory when none runs).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use super::args::{OutageCommand, ReentryCommand};
use super::care::{person, present, viewer};
use crate::care::api::{
    OutageDeclareRequest, OutageView, Progress, ReentryList, ReentryMarkRequest, ReentryMarked,
    Reply, Request,
};

fn outage_view(r: Reply) -> Option<OutageView> {
    match r {
        Reply::Outage(v) => Some(v),
        _ => None,
    }
}

fn write_outages(out: &mut impl Write, v: &OutageView) -> Result<()> {
    writeln!(out, "{}", v.banner)?;
    for o in &v.outages {
        writeln!(out)?;
        writeln!(
            out,
            "Driftstörning {}  utlyst {} av {} ({})",
            &o.id[..12],
            o.declared_at,
            o.by,
            o.unit.name
        )?;
        writeln!(out, "  Skäl:        {}", o.reason)?;
        let scope: Vec<&str> = o.scope.iter().map(|u| u.name.as_str()).collect();
        writeln!(out, "  Gäller:      {}", scope.join(", "))?;
        match &o.ended {
            Some(e) => {
                writeln!(out, "  Avslutad:    {} av {} ({})", e.at, e.by, e.unit.name)?;
                if !e.note.is_empty() {
                    writeln!(out, "  Anteckning:  {}", e.note)?;
                }
            }
            None => writeln!(out, "  Pågår")?,
        }
        write_progress(out, &o.reentry)?;
    }
    Ok(())
}

fn write_progress(out: &mut impl Write, p: &Progress) -> Result<()> {
    writeln!(
        out,
        "  Efterregistrering: {} klara, {} kvar{}{}",
        p.done,
        p.left,
        if p.purged > 0 {
            format!(", {} gallrade", p.purged)
        } else {
            String::new()
        },
        if p.signed_off {
            " (resten avskriven)"
        } else if p.closed {
            " (klar)"
        } else {
            ""
        }
    )?;
    Ok(())
}

/// Runs one `outage` command.
pub fn outage(cmd: OutageCommand) -> Result<ExitCode> {
    match cmd {
        OutageCommand::Declare {
            data,
            person: p,
            json,
            reason,
            scope,
        } => present(
            &data.data_dir,
            person(&p),
            Request::OutageDeclare(OutageDeclareRequest { reason, scope }),
            json,
            outage_view,
            |o, v| {
                writeln!(o, "Driftstörningen är utlyst; den når enheterna den gäller när deras noder får den.")?;
                write_outages(o, v)
            },
        ),
        OutageCommand::End {
            data,
            person: p,
            json,
            note,
        } => present(
            &data.data_dir,
            person(&p),
            Request::OutageEnd { note },
            json,
            outage_view,
            |o, v| {
                writeln!(o, "Driftstörningen är avslutad: efterregistrera nu det som skrevs (reservnod reentry list).")?;
                write_outages(o, v)
            },
        ),
        OutageCommand::Show(v) => present(
            &v.data.data_dir,
            viewer(v.login),
            Request::OutageShow {},
            v.json,
            outage_view,
            write_outages,
        ),
    }
}

fn write_list(out: &mut impl Write, l: &ReentryList) -> Result<()> {
    writeln!(
        out,
        "Efterregistrering för {}, driftstörning {} (utlyst {}){}",
        l.unit.name,
        &l.outage.id[..12],
        l.outage.declared_at,
        match &l.outage.ended {
            Some(e) => format!(", avslutad {}", e.at),
            None => ", pågår".into(),
        }
    )?;
    write_progress(out, &l.outage.reentry)?;
    for g in &l.patients {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            if g.patient.is_empty() {
                "Utan patient"
            } else {
                &g.patient
            }
        )?;
        for i in &g.items {
            writeln!(
                out,
                "  {}  {} {}: {} ({}, {})",
                &i.event[..12],
                i.direction,
                i.kind,
                i.title,
                i.from.name,
                i.author
            )?;
            writeln!(
                out,
                "      inträffade {}, skrevs {} ({})",
                i.occurred, i.written, i.placement
            )?;
            if i.marks.is_empty() {
                writeln!(out, "      KVAR att registrera")?;
            }
            for m in &i.marks {
                writeln!(
                    out,
                    "      {}{} – {} {}",
                    m.state,
                    if m.detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", m.detail)
                    },
                    m.by,
                    m.at
                )?;
            }
            if i.marks.len() > 1 {
                writeln!(out, "      OBS: markerad {} gånger", i.marks.len())?;
            }
        }
    }
    if !l.purged.is_empty() {
        writeln!(out)?;
        writeln!(out, "Gallrade (innehållet borttaget, huvudet kvar)")?;
        for p in &l.purged {
            writeln!(
                out,
                "  {}  {} {} → {}, skrevs {}: {} ({})",
                &p.event[..12],
                p.direction,
                p.from.name,
                p.to.iter()
                    .map(|u| u.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                p.written,
                p.state,
                p.purged_at
            )?;
        }
    }
    for s in &l.signoffs {
        writeln!(out)?;
        writeln!(out, "Resten avskriven {} av {}: {}", s.at, s.by, s.reason)?;
    }
    Ok(())
}

/// Runs one `reentry` command.
pub fn reentry(cmd: ReentryCommand) -> Result<ExitCode> {
    match cmd {
        ReentryCommand::List { view, outage } => present(
            &view.data.data_dir,
            viewer(view.login),
            Request::Reentry { outage },
            view.json,
            |r| match r {
                Reply::Reentry(l) => Some(*l),
                _ => None,
            },
            write_list,
        ),
        ReentryCommand::Mark {
            data,
            person: p,
            json,
            item,
            state,
            link_ref,
            reason,
        } => present(
            &data.data_dir,
            person(&p),
            Request::ReentryMark(ReentryMarkRequest {
                item,
                state,
                link_ref,
                reason,
            }),
            json,
            |r| match r {
                Reply::ReentryMarked(m) => Some(m),
                _ => None,
            },
            |o, m: &ReentryMarked| {
                writeln!(
                    o,
                    "Markerad; enhetens andra noder ser det när de fått markeringen."
                )?;
                if m.marks.len() > 1 {
                    writeln!(o, "OBS: händelsen är markerad {} gånger:", m.marks.len())?;
                    for x in &m.marks {
                        writeln!(o, "  {} – {} {}", x.state, x.by, x.at)?;
                    }
                }
                write_progress(o, &m.progress)
            },
        ),
        ReentryCommand::Signoff {
            data,
            person: p,
            json,
            outage,
            reason,
        } => present(
            &data.data_dir,
            person(&p),
            Request::ReentrySignOff { outage, reason },
            json,
            |r| match r {
                Reply::ReentrySignedOff(p) => Some(p),
                _ => None,
            },
            |o, p| {
                writeln!(o, "Det som var kvar är avskrivet.")?;
                write_progress(o, p)
            },
        ),
    }
}

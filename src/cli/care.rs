//! The staff's commands (send, inbox, show, chain, ack, plan, directory, escalations, events): put
//! what was typed into a [`Request`] as it is (the node reads and checks every field, see
//! [`crate::care::api::input`]), have the running node answer it (or the data directory, when no
//! node runs), and print the reply in Swedish or as JSON.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Result};
use reservnod_proto::care::documents::Document;

use super::args::{
    AckArgs, AuditSearchArgs, ChainArgs, EventsArgs, PersonArgs, PlanCommand, PlanContentArgs,
    PlanEditArgs, SendArgs, SendDocument, ShowArgs, ViewArgs,
};
use crate::care::api::{
    document_fields, handle, plan_fields, versions_sv, Acked, AuditFilter, AuditFound, ChainView,
    Directory, DocumentForm, Escalated, EventList, EventsRequest, Field, Inbox, Item, LocalRequest,
    Person, PlanEditRequest, PlanPatch, PlanView, Preview, Reply, Request, SendRequest, Sent,
    Shown, Via,
};
use crate::clock::format_ms_local;
use crate::files::datadir::DataDir;
use crate::serve::socket::{call, CallError};

/// Asks the node of `data_dir` as its own Unix account, naming `local` as the person at the
/// keyboard: the running daemon through its socket, or the data directory itself when none
/// runs.
pub fn ask(data_dir: &Path, local: Person, request: Request) -> Result<Reply> {
    let line = LocalRequest { local, request };
    match call(data_dir, &line) {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(message)) => bail!("{message}"),
        Err(CallError::NotRunning) => {
            let dir = DataDir::new(data_dir);
            let node = super::offline::open_node(&dir).map_err(|e| {
                if super::offline::is_locked(&e) {
                    anyhow!(
                        "noden i {} kör men svarar inte på {}: starta om den",
                        data_dir.display(),
                        crate::serve::socket::SOCKET_FILE
                    )
                } else {
                    anyhow::Error::new(e)
                        .context(format!("kunde inte öppna noden i {}", data_dir.display()))
                }
            })?;
            let (caller, request) = line.into_parts(Via::Cli);
            handle(&node, &caller, request).map_err(|e| anyhow!("{e}"))
        }
        Err(e) => Err(anyhow!("{e}")),
    }
}

/// The person the view commands name: nobody writes, the login is for the audit log.
pub(super) fn viewer(login: Option<String>) -> Person {
    Person {
        login,
        ..Person::default()
    }
}

pub(super) fn person(p: &PersonArgs) -> Person {
    Person {
        name: p.author.clone().unwrap_or_default(),
        role: p.role.clone(),
        login: p.login.clone(),
    }
}

/// A plan's fields as typed; an option not given keeps (in an edit) or leaves empty.
fn plan_patch(c: PlanContentArgs) -> PlanPatch {
    PlanPatch {
        goals: c.goals,
        measures: (!c.measures.is_empty()).then_some(c.measures),
        follow_up: c.follow_up,
        participants: (!c.participants.is_empty()).then_some(c.participants),
        patient_view: c.patient_view,
    }
}

/// The document form of `reservnod send KIND …`, with a message's phrase keys and the
/// message it answers.
fn document(d: SendDocument) -> (DocumentForm, Vec<String>, Option<String>) {
    let mut phrases = Vec::new();
    let mut answer_to = None;
    let form = match d {
        SendDocument::Admission {
            reason,
            municipality,
            needs,
            services,
            preliminary_discharge,
            at,
        } => DocumentForm::Admission {
            reason,
            municipality,
            needs: Some(needs),
            services,
            preliminary_discharge,
            at,
        },
        SendDocument::Ready { physician, at } => DocumentForm::Ready { physician, at },
        SendDocument::WithdrawReady { reason, at } => DocumentForm::WithdrawReady { reason, at },
        SendDocument::MunicipalityReady { measures, from } => {
            DocumentForm::MunicipalityReady { measures, from }
        }
        SendDocument::Discharged { destination, at } => {
            DocumentForm::Discharged { destination, at }
        }
        SendDocument::Plan { kind, content } => DocumentForm::Plan {
            kind: Some(kind),
            content: plan_patch(content),
        },
        SendDocument::PlanNote { plan, text } => DocumentForm::PlanNote { plan, text },
        SendDocument::CareReport {
            reason,
            physician,
            summary,
            complications,
            health,
            risks,
            changes,
            drugs,
        } => DocumentForm::CareReport {
            reason,
            physician,
            summary,
            complications,
            health,
            risks,
            changes,
            drugs,
        },
        SendDocument::Message {
            subject,
            text,
            kind,
            phrases: keys,
            answer_by,
            reply_to,
        } => {
            phrases = keys;
            answer_to = reply_to;
            DocumentForm::Message {
                subject,
                text,
                kind: Some(kind),
                answer_by,
            }
        }
    };
    (form, phrases, answer_to)
}

/// Asks the node, then prints the reply `pick` expects as JSON or with `write`.
pub(super) fn present<T: serde::Serialize>(
    data_dir: &Path,
    local: Person,
    request: Request,
    json: bool,
    pick: impl FnOnce(Reply) -> Option<T>,
    write: impl FnOnce(&mut std::io::StdoutLock<'static>, &T) -> Result<()>,
) -> Result<ExitCode> {
    let reply =
        pick(ask(data_dir, local, request)?).ok_or_else(|| anyhow!("oväntat svar från noden"))?;
    if json {
        print_json(&reply)?;
    } else {
        write(&mut std::io::stdout().lock(), &reply)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_json(reply: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, reply)?;
    writeln!(out)?;
    Ok(())
}

/// `reservnod send`. Without `--to` the node's suggestion is shown first and sent only when
/// the person confirms it on the terminal (or gave `--yes`); what is sent is then addressed
/// to exactly the units shown.
pub fn send(args: SendArgs) -> Result<ExitCode> {
    let (document, phrases, reply_to) = document(args.document);
    let local = person(&args.person);
    let mut request = SendRequest {
        patient: args.patient,
        episode: args.episode,
        to: args.to,
        urgent: args.urgent,
        receipt_required: !args.no_receipt,
        consent: args.consent,
        phrases,
        document,
        reply_to,
    };
    let dir = &args.data.data_dir;
    if request.to.is_empty() && !args.yes {
        let preview = match ask(dir, local.clone(), Request::Preview(request.clone()))? {
            Reply::Preview(p) => p,
            _ => bail!("oväntat svar från noden"),
        };
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin())
            && std::io::IsTerminal::is_terminal(&std::io::stderr());
        if !terminal {
            bail!(
                "ingen mottagare angiven och ingen terminal att bekräfta förslaget på ({}): ange --to, eller --yes för att skicka till förslaget",
                proposal(&preview)
            );
        }
        if !confirmed(
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
            &preview,
        )? {
            bail!("inget skickades");
        }
        request.to = preview.to.iter().map(|u| u.id.clone()).collect();
    }
    present(
        dir,
        local,
        Request::Send(request),
        args.json,
        sent,
        write_sent,
    )
}

/// One line saying what a preview would send, and to whom.
fn proposal(p: &Preview) -> String {
    format!("{} till {}: {}", p.kind, units(&p.to), p.basis)
}

/// Shows the suggestion on `out` and reads the answer from `input`: yes only for `j`, `ja`,
/// `y` or `yes`.
fn confirmed(input: &mut impl BufRead, out: &mut impl Write, p: &Preview) -> Result<bool> {
    writeln!(out, "Förslag: {}", proposal(p))?;
    if let Some(patient) = &p.patient {
        writeln!(out, "Patient: {patient}")?;
    }
    write!(out, "Skicka? [j/N] ")?;
    out.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_lowercase().as_str(),
        "j" | "ja" | "y" | "yes"
    ))
}

fn sent(reply: Reply) -> Option<Sent> {
    match reply {
        Reply::Sent(s) => Some(s),
        _ => None,
    }
}

fn units(to: &[crate::care::api::UnitRef]) -> String {
    to.iter()
        .map(|u| format!("{} ({})", u.name, u.id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_sent(out: &mut impl Write, s: &Sent) -> Result<()> {
    writeln!(
        out,
        "Skickat: {} till {}{}",
        s.kind,
        units(&s.to),
        if s.suggested {
            " (mottagare enligt registret)"
        } else {
            ""
        }
    )?;
    writeln!(out, "Händelse: {}", short(&s.event))?;
    if let Some(p) = &s.plan {
        writeln!(out, "Plan: {}", short(p))?;
    }
    if let Some(e) = &s.episode {
        writeln!(out, "Vårdtillfälle: {}", short(e))?;
    }
    writeln!(out, "Kvittensläget syns i `reservnod inbox`.")?;
    Ok(())
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// `reservnod inbox`.
pub fn inbox(args: ViewArgs) -> Result<ExitCode> {
    present(
        &args.data.data_dir,
        viewer(args.login),
        Request::Inbox {},
        args.json,
        |r| match r {
            Reply::Inbox(i) => Some(i),
            _ => None,
        },
        write_inbox,
    )
}

fn item_line(i: &Item) -> String {
    format!(
        "{}  {}{}  {}{}",
        i.at,
        short(&i.event),
        if i.urgent { "  BRÅDSKANDE" } else { "" },
        i.title,
        i.patient
            .as_deref()
            .map(|p| format!("  patient {p}"))
            .unwrap_or_default()
    )
}

fn recipient_line(r: &crate::care::api::RecipientState) -> String {
    let state = match r.state.as_str() {
        "läst" => format!(
            "läst av {} {}",
            r.read_by.as_deref().unwrap_or("?"),
            r.read_ms.map(format_ms_local).unwrap_or_default()
        ),
        "levererad" => format!(
            "levererad {}{}",
            r.delivered_ms.map(format_ms_local).unwrap_or_default(),
            r.delivered_node
                .as_deref()
                .map(|n| format!(" till noden {n}"))
                .unwrap_or_default()
        ),
        other => other.to_string(),
    };
    let escalated = r
        .escalated_ms
        .map(|at| format!("  ESKALERAD {}", format_ms_local(at)))
        .unwrap_or_default();
    format!("{}: {state}{escalated}", r.unit.name)
}

fn write_inbox(out: &mut impl Write, inbox: &Inbox) -> Result<()> {
    let unread = inbox
        .incoming
        .iter()
        .filter(|i| i.read_ms.is_none())
        .count();
    writeln!(
        out,
        "Inkorg för {} ({}): {} olästa av {}",
        inbox.unit.name,
        inbox.unit.id,
        unread,
        inbox.incoming.len()
    )?;
    for i in &inbox.incoming {
        let state = match (&i.read_by, i.read_ms) {
            (Some(by), Some(at)) => format!("läst av {by} {}", format_ms_local(at)),
            _ => "OLÄST".into(),
        };
        writeln!(
            out,
            "  [{state}] {}  från {} ({})",
            item_line(i),
            i.from.name,
            i.author
        )?;
    }
    writeln!(out)?;
    writeln!(out, "Skickat från enheten: {}", inbox.sent.len())?;
    for i in &inbox.sent {
        writeln!(out, "  {}", item_line(i))?;
        for r in &i.recipients {
            writeln!(out, "      → {}", recipient_line(r))?;
        }
    }
    if inbox.unreadable > 0 {
        writeln!(
            out,
            "Obs: {} händelser till enheten kunde inte öppnas (se loggen).",
            inbox.unreadable
        )?;
    }
    if inbox.incoming.iter().any(|i| i.read_ms.is_none()) {
        writeln!(
            out,
            "Visa med `reservnod show ID`, kvittera med `reservnod ack ID`."
        )?;
    }
    Ok(())
}

/// `reservnod show`.
pub fn show(args: ShowArgs) -> Result<ExitCode> {
    present(
        &args.view.data.data_dir,
        viewer(args.view.login),
        Request::Show { event: args.event },
        args.view.json,
        |r| match r {
            Reply::Shown(s) => Some(*s),
            _ => None,
        },
        write_shown,
    )
}

fn write_fields(out: &mut impl Write, fields: &[Field], indent: &str) -> Result<()> {
    for f in fields.iter().filter(|f| !f.text) {
        writeln!(out, "{indent}{}: {}", f.label, f.value)?;
    }
    for f in fields.iter().filter(|f| f.text) {
        writeln!(out)?;
        writeln!(out, "{indent}{}", f.value)?;
    }
    Ok(())
}

fn write_shown(out: &mut impl Write, s: &Shown) -> Result<()> {
    let i = &s.item;
    writeln!(
        out,
        "{} {}",
        i.kind,
        if i.urgent { "(BRÅDSKANDE)" } else { "" }
    )?;
    writeln!(out, "Händelse: {}", i.event)?;
    if let Some(p) = &i.patient {
        writeln!(out, "Patient: {p}")?;
    }
    writeln!(
        out,
        "Från: {} ({}), {}{}",
        i.from.name,
        i.from.id,
        i.author,
        if s.role.is_empty() {
            String::new()
        } else {
            format!(", {}", s.role)
        }
    )?;
    writeln!(out, "Till: {}", units(&s.to))?;
    writeln!(out, "Skrivet: {}", i.at)?;
    if let (Document::Plan { .. }, Some(p)) = (&s.document, &i.plan) {
        writeln!(out, "Plan: {}", short(p))?;
    }
    write_fields(out, &document_fields(&s.document), "")?;
    if let Some(at) = s.here.as_ref().and_then(|h| h.delivered_ms) {
        writeln!(
            out,
            "Levererad hit {}{}",
            format_ms_local(at),
            s.here
                .as_ref()
                .and_then(|h| h.delivered_node.as_deref())
                .map(|n| format!(" till noden {n}"))
                .unwrap_or_default()
        )?;
    }
    if let (Some(by), Some(at)) = (&i.read_by, i.read_ms) {
        writeln!(out, "Kvitterad av {by} {}", format_ms_local(at))?;
    }
    for r in &i.recipients {
        writeln!(out, "→ {}", recipient_line(r))?;
    }
    if !s.thread.is_empty() {
        writeln!(out)?;
        writeln!(out, "Tråden:")?;
        for t in &s.thread {
            writeln!(
                out,
                "  {}  från {} ({})",
                item_line(t),
                t.from.name,
                t.author
            )?;
        }
    }
    Ok(())
}

/// `reservnod chain`.
pub fn chain(args: ChainArgs) -> Result<ExitCode> {
    present(
        &args.view.data.data_dir,
        viewer(args.view.login),
        Request::Chain {
            patient: args.patient,
        },
        args.view.json,
        |r| match r {
            Reply::Chain(c) => Some(c),
            _ => None,
        },
        write_chain,
    )
}

fn write_plan(out: &mut impl Write, p: &PlanView, indent: &str) -> Result<()> {
    writeln!(
        out,
        "{indent}{} {} ({}){}",
        p.kind,
        short(&p.doc),
        versions_sv(p.versions),
        if p.conflict { "  KONFLIKT" } else { "" }
    )?;
    if p.conflict {
        writeln!(
            out,
            "{indent}  {} versioner skrevs utan kännedom om varandra. Båda visas; lös med `reservnod plan resolve {} --base ID`.",
            p.heads.len(),
            short(&p.doc)
        )?;
    }
    for h in &p.heads {
        writeln!(
            out,
            "{indent}  Version {} av {} ({}), {}",
            short(&h.event),
            h.author,
            h.unit.name,
            h.at
        )?;
        write_fields(out, &plan_fields(&h.content), &format!("{indent}    "))?;
    }
    if p.history.len() > 1 {
        writeln!(out, "{indent}  Historik (äldst först):")?;
        for v in &p.history {
            let replaces: Vec<&str> = v.replaces.iter().map(|r| short(r)).collect();
            writeln!(
                out,
                "{indent}    {}  {}  {} ({}){}  {}",
                v.at,
                short(&v.event),
                v.author,
                v.unit.name,
                if replaces.is_empty() {
                    String::new()
                } else {
                    format!("  ersätter {}", replaces.join(", "))
                },
                v.state
            )?;
        }
    }
    for (v, missing) in &p.waiting {
        writeln!(
            out,
            "{indent}  Version {} väntar på {} tidigare version(er) som inte kommit än",
            short(v),
            missing.len()
        )?;
    }
    for (at, by, text) in &p.notes {
        writeln!(out, "{indent}  Anteckning {at} {by}: {text}")?;
    }
    if !p.participants.is_empty() {
        writeln!(out, "{indent}  Deltagare: {}", units(&p.participants))?;
    }
    if !p.awaiting_first.is_empty() {
        writeln!(
            out,
            "{indent}  {} version(er) eller anteckning(ar) väntar på planens första version, som inte kommit än",
            p.awaiting_first.len()
        )?;
    }
    if !p.untrusted.is_empty() {
        writeln!(
            out,
            "{indent}  {} ej betrodd(a), visas inte som del av planen och får inga mottagare:",
            p.untrusted.len()
        )?;
        for u in &p.untrusted {
            writeln!(
                out,
                "{indent}    {} {} från {} ({}), {}: {}",
                u.what,
                short(&u.event),
                u.unit.name,
                u.unit.id,
                u.at,
                u.reason
            )?;
        }
    }
    Ok(())
}

fn write_chain(out: &mut impl Write, c: &ChainView) -> Result<()> {
    writeln!(out, "Vårdkedja för {}", c.patient)?;
    for e in &c.episodes {
        writeln!(out)?;
        writeln!(
            out,
            "Vårdtillfälle {}: {}",
            short(&e.episode),
            e.state.to_uppercase()
        )?;
        for s in &e.steps {
            writeln!(out, "  {:<28} {}  {} ({})", s.step, s.at, s.by, s.unit.name)?;
        }
        if let Some(d) = e.days_since_ready {
            writeln!(out, "  Dagar sedan utskrivningsklar: {d}")?;
        }
        writeln!(out, "  Betalningsansvar: {}", e.payment)?;
        if e.weekend_risk {
            writeln!(
                out,
                "  Obs: utskrivningsklar torsdag/fredag och kommunen är inte klar (helg)."
            )?;
        }
        for g in &e.gaps {
            writeln!(out, "  Saknas: {g}")?;
        }
        writeln!(out, "  Dokument:")?;
        for d in &e.documents {
            writeln!(out, "    {}  från {}", item_line(d), d.from.name)?;
        }
        for p in &e.plans {
            write_plan(out, p, "  ")?;
        }
    }
    if !c.messages.is_empty() {
        writeln!(out)?;
        writeln!(out, "Meddelanden utan vårdtillfälle:")?;
        for d in &c.messages {
            writeln!(out, "    {}  från {}", item_line(d), d.from.name)?;
        }
    }
    Ok(())
}

/// `reservnod ack`.
pub fn ack(args: AckArgs) -> Result<ExitCode> {
    present(
        &args.data.data_dir,
        person(&args.person),
        Request::Ack { event: args.event },
        args.json,
        |r| match r {
            Reply::Acked(a) => Some(a),
            _ => None,
        },
        write_acked,
    )
}

fn write_acked(out: &mut impl Write, a: &Acked) -> Result<()> {
    if a.already {
        writeln!(
            out,
            "Redan kvitterad av {} {}.",
            a.by,
            format_ms_local(a.at_ms)
        )?;
    } else {
        writeln!(
            out,
            "Kvitterad av {} {}; avsändaren ser det när kvittensen når fram.",
            a.by,
            format_ms_local(a.at_ms)
        )?;
    }
    Ok(())
}

/// `reservnod plan …`.
pub fn plan(cmd: PlanCommand) -> Result<ExitCode> {
    let (args, resolve): (PlanEditArgs, bool) = match cmd {
        PlanCommand::Show { view, plan } => {
            return present(
                &view.data.data_dir,
                viewer(view.login),
                Request::Plan { doc: plan },
                view.json,
                |r| match r {
                    Reply::Plan(p) => Some(p),
                    _ => None,
                },
                |o, p| write_plan(o, p, ""),
            )
        }
        PlanCommand::Edit(a) => (a, false),
        PlanCommand::Resolve(a) => (a, true),
    };
    let request = Request::PlanEdit(PlanEditRequest {
        doc: args.plan,
        resolve,
        base: args.base,
        heads: None,
        patch: plan_patch(args.content),
        urgent: args.urgent,
    });
    present(
        &args.data.data_dir,
        person(&args.person),
        request,
        args.json,
        sent,
        write_sent,
    )
}

/// `reservnod directory`.
pub fn directory(args: ViewArgs) -> Result<ExitCode> {
    present(
        &args.data.data_dir,
        viewer(args.login),
        Request::Directory {},
        args.json,
        |r| match r {
            Reply::Directory(d) => Some(d),
            _ => None,
        },
        write_directory,
    )
}

fn write_directory(out: &mut impl Write, d: &Directory) -> Result<()> {
    writeln!(out, "Den här noden: {} ({})", d.unit.name, d.unit.id)?;
    writeln!(out, "Enheter:")?;
    for (id, name, kind, m) in &d.units {
        writeln!(out, "  {id:<28} {name} ({kind}, kommun {m})")?;
    }
    if !d.routing.is_empty() {
        writeln!(out, "Vägval (patientens kommun → mottagande enhet):")?;
        for (m, u) in &d.routing {
            writeln!(out, "  {m} → {u}")?;
        }
    }
    if !d.phrases.is_empty() {
        writeln!(out, "Frastexter (--phrase NYCKEL):")?;
        for p in &d.phrases {
            writeln!(out, "  {:<12} {}: {}", p.key, p.title, p.text)?;
        }
    }
    writeln!(
        out,
        "Eskalering av olästa: brådskande efter {} min, normala efter {} min.",
        d.escalation_minutes.0, d.escalation_minutes.1
    )?;
    Ok(())
}

/// `reservnod audit verify`: exit 1 when the chain is broken.
pub fn audit_verify(args: ViewArgs) -> Result<ExitCode> {
    let reply = ask(
        &args.data.data_dir,
        viewer(args.login),
        Request::AuditVerify {},
    )?;
    let Reply::AuditVerified(v) = reply else {
        bail!("oväntat svar från noden");
    };
    if args.json {
        print_json(&v)?;
    } else {
        writeln!(std::io::stdout().lock(), "{}", v.line)?;
    }
    Ok(if v.broken.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `reservnod audit search`: a page of entries, or with `--csv` every entry found, page
/// after page, into a new file only its owner can read.
pub fn audit_search(args: AuditSearchArgs) -> Result<ExitCode> {
    let dir = &args.data.data_dir;
    let me = Person {
        name: args.author.clone().unwrap_or_default(),
        login: args.reviewer.clone(),
        ..Person::default()
    };
    let filter = AuditFilter {
        patient: args.patient.clone(),
        account: args.login.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        after: args.after.clone(),
        limit: args.limit,
    };
    let Some(path) = &args.csv else {
        let Reply::AuditFound(found) = ask(dir, me, Request::AuditSearch(filter))? else {
            bail!("oväntat svar från noden");
        };
        if args.json {
            print_json(&found)?;
        } else {
            write_found(&mut std::io::stdout().lock(), &found)?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow!("kunde inte skapa {}: {e}", path.display()))?;
    let mut filter = filter;
    let mut rows = 0u64;
    for _ in 0..crate::limits::AUDIT_EXPORT_PAGES_MAX {
        let Reply::AuditExported(page) =
            ask(dir, me.clone(), Request::AuditExport(filter.clone()))?
        else {
            bail!("oväntat svar från noden");
        };
        file.write_all(page.csv.as_bytes())
            .map_err(|e| anyhow!("kunde inte skriva {}: {e}", path.display()))?;
        rows += page.rows;
        match page.next {
            Some(next) => filter.after = Some(next),
            None => break,
        }
    }
    file.sync_all()
        .map_err(|e| anyhow!("kunde inte skriva {}: {e}", path.display()))?;
    writeln!(
        std::io::stdout().lock(),
        "{rows} poster skrivna till {}",
        path.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn write_found(out: &mut impl Write, f: &AuditFound) -> Result<()> {
    writeln!(
        out,
        "Granskningsloggen, {}: {} poster",
        f.query,
        f.rows.len()
    )?;
    for r in &f.rows {
        let who = match (&r.login, &r.name) {
            (Some(l), Some(n)) => format!("{l} ({n})"),
            (Some(l), None) => l.clone(),
            (None, Some(n)) => n.clone(),
            (None, None) => "-".into(),
        };
        let from = match (&r.via, &r.client) {
            (Some(v), Some(c)) => format!("{v} {c}"),
            (Some(v), None) => v.clone(),
            (None, Some(c)) => c.clone(),
            (None, None) => "-".into(),
        };
        let patients = if r.patients.is_empty() {
            "-".to_string()
        } else {
            r.patients.join(" ")
        };
        writeln!(
            out,
            "{:>6}  {}  {:<18}  {who}  {patients}  {from}  {}",
            r.seq, r.at, r.action, r.detail
        )?;
    }
    if f.unreadable > 0 {
        writeln!(
            out,
            "{} poster kunde inte läsas (kör reservnod audit verify)",
            f.unreadable
        )?;
    }
    if let Some(next) = &f.next {
        writeln!(out, "Fler poster finns: fortsätt med --after {next}")?;
    }
    Ok(())
}

/// `reservnod escalations`.
pub fn escalations(args: ViewArgs) -> Result<ExitCode> {
    present(
        &args.data.data_dir,
        viewer(args.login),
        Request::Escalations {},
        args.json,
        |r| match r {
            Reply::Escalations(l) => Some(l.escalations),
            _ => None,
        },
        |o, l: &Vec<Escalated>| write_escalations(o, l),
    )
}

fn write_escalations(out: &mut impl Write, list: &[Escalated]) -> Result<()> {
    if list.is_empty() {
        writeln!(out, "Inga eskalerade meddelanden.")?;
    }
    for e in list {
        writeln!(
            out,
            "{}  {}  oläst hos {} ({})  eskalerad av {}{}",
            format_ms_local(e.at_ms),
            short(&e.event),
            e.unit.name,
            e.unit.id,
            if e.by_this_node {
                "den här noden".to_string()
            } else {
                format!("{} ({})", e.node_name, short(&e.node))
            },
            if e.command_ran == Some(false) {
                "  (kommandot har inte körts än)"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

/// `reservnod events`.
pub fn events(args: EventsArgs) -> Result<ExitCode> {
    present(
        &args.data.data_dir,
        viewer(args.login),
        Request::Events(EventsRequest {
            class: args.class,
            limit: args.limit,
            since: args.since,
        }),
        args.json,
        |r| match r {
            Reply::Events(l) => Some(l),
            _ => None,
        },
        |o, l: &EventList| write_events(o, l),
    )
}

fn write_events(out: &mut impl Write, list: &EventList) -> Result<()> {
    if list.events.is_empty() {
        writeln!(out, "Inga händelser.")?;
    }
    for h in &list.events {
        let to: Vec<&str> = h.recipients.iter().map(|u| u.name.as_str()).collect();
        writeln!(
            out,
            "{}  {}  {:<8}  {}{}{}{}",
            h.at,
            h.event,
            h.class,
            h.unit.name,
            if to.is_empty() {
                String::new()
            } else {
                format!(" → {}", to.join(", "))
            },
            if h.urgent { "  BRÅDSKANDE" } else { "" },
            h.doc
                .as_deref()
                .map(|d| format!("  dokument {}", short(d)))
                .unwrap_or_default()
        )?;
        if let Some(p) = &h.purged {
            writeln!(out, "    {p}")?;
        }
    }
    if list.more {
        writeln!(
            out,
            "Fler äldre händelser finns: ange --limit, --since eller --class."
        )?;
    }
    Ok(())
}

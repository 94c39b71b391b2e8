//! The printable pages, A4 with a print stylesheet (each patient from a new page), all in
//! Swedish, every text escaped, nothing loaded from anywhere: the export for a person
//! entering it into LINK by hand ([`page`]), and the same patient part for Utskrift
//! ([`chain_body`]): per patient the episodes with their times, the plans with every
//! version, then every document in time order with its author, unit, written and signed
//! times, receipts and content. The header, the stylesheet and the document shell
//! ([`printed_header`], [`STYLE`], [`document`]) are shared with the active patients'
//! sheet (`care::api::print`).

use std::collections::HashMap;

use super::fhir::{content_lines, escape};
use super::model::{ExportFile, PatientExport};
use crate::clock::format_ms_local as local;

/// The print stylesheet: inlined in a file (a download or the paper sheet, opened from
/// disk) and served as an asset to the web interface, whose CSP allows no inline style.
pub const STYLE: &str = "\
@page { size: A4; margin: 18mm 16mm;
  @bottom-right { content: \"Sida \" counter(page) \" av \" counter(pages); font-size: 8pt; } }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10.5pt; color: #000; background: #fff; margin: 0; }
header.export { border-bottom: 2px solid #000; margin-bottom: 8mm; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
h2 { font-size: 13pt; margin: 0 0 3mm; }
h3 { font-size: 11pt; margin: 5mm 0 2mm; }
section.patient { page-break-before: always; break-before: page; }
section.patient:first-of-type { page-break-before: auto; break-before: auto; }
table { border-collapse: collapse; width: 100%; margin-bottom: 3mm; }
th, td { border: 1px solid #777; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; width: 32%; }
table.list { font-size: 9pt; }
table.list th { width: auto; }
.pnr { white-space: nowrap; }
table.list tr { break-inside: avoid; page-break-inside: avoid; }
thead { display: table-header-group; }
.doc { break-inside: avoid; page-break-inside: avoid; border: 1px solid #000; padding: 2mm 3mm; margin-bottom: 4mm; }
.doc p { margin: 0.8mm 0; white-space: pre-wrap; }
.box { display: inline-block; width: 4mm; height: 4mm; border: 1px solid #000; vertical-align: middle; margin-right: 1.5mm; }
.meta { font-size: 9pt; color: #333; }
.screen-only { font-size: 10.5pt; border-bottom: 1px solid #777; padding: 2mm 0; margin-bottom: 4mm; }
.screen-only a { color: #0b4f8a; }
@media screen { body { max-width: 190mm; margin: 10mm auto; padding: 0 4mm; } }
@media print { .screen-only { display: none; } a { color: #000; text-decoration: none; } }
";

/// A whole page: `title`, the stylesheet inlined, and `body` (already escaped HTML) in its
/// main landmark.
pub fn document(title: &str, body: &str) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str(&format!("<title>{}</title>\n<style>\n", escape(title)));
    h.push_str(STYLE);
    h.push_str("</style>\n</head>\n<body>\n<main>\n");
    h.push_str(body);
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

/// The export as a page.
pub fn page(x: &ExportFile) -> String {
    let extra = format!(
        " &middot; export {} (schema {} version {})",
        escape(&x.id),
        x.schema,
        x.version
    );
    let heading = match &x.scope {
        super::model::Scope::Outage { outage, .. } => format!(
            "Reservrutin: driftstörning {} – underlag för efterregistrering i LINK",
            // `header` escapes the heading.
            &outage[..outage.len().min(12)]
        ),
        super::model::Scope::Patient { .. } => {
            "Reservrutin: underlag för efterregistrering i LINK".to_string()
        }
    };
    let mut h = printed_header(&heading, x, &x.node, &extra);
    patients(&mut h, x);
    document("Reservrutin: export för efterregistrering", &h)
}

/// The patients of `x` under a header saying who printed them, when and where: the body of
/// Utskrift's page for one patient.
pub fn chain_body(x: &ExportFile, node: &str) -> String {
    let mut h = printed_header("Reservrutin: vårdkedja", x, node, "");
    patients(&mut h, x);
    h
}

/// The header of every printout: a heading, who printed it when at which unit and `node`
/// (`extra` is appended to that line, already escaped), and what the paper is.
pub fn printed_header(heading: &str, x: &ExportFile, node: &str, extra: &str) -> String {
    let by = x
        .exported_by
        .name
        .as_deref()
        .or(x.exported_by.login.as_deref())
        .unwrap_or("(okänd)");
    let unit = x
        .units
        .iter()
        .find(|u| u.id == x.exported_by.unit)
        .map(|u| u.name.as_str());
    header(
        heading,
        x.exported_at_ms,
        by,
        &x.exported_by.unit,
        unit,
        node,
        extra,
    )
}

/// [`printed_header`] from its parts: `unit` is the HSA-id and `unit_name` its name.
pub fn header(
    heading: &str,
    at_ms: u64,
    by: &str,
    unit: &str,
    unit_name: Option<&str>,
    node: &str,
    extra: &str,
) -> String {
    let unit = match unit_name {
        Some(n) => format!("{} ({})", escape(n), escape(unit)),
        None => escape(unit),
    };
    format!(
        "<header class=\"export\">\n<h1>{}</h1>\n<p class=\"meta\">Utskrivet {} av {} vid {unit} &middot; nod {}{extra}</p>\n<p class=\"meta\">Innehåller patientuppgifter. Utskriften är loggad. Förvaras och förstörs som journalhandling.</p>\n</header>\n",
        escape(heading),
        local(at_ms),
        escape(by),
        escape(node),
    )
}

fn patients(h: &mut String, x: &ExportFile) {
    let names: HashMap<&str, &str> = x
        .units
        .iter()
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .collect();
    let unit = |id: &str| -> String {
        match names.get(id) {
            Some(n) => format!("{} ({id})", escape(n)),
            None => escape(id),
        }
    };
    for p in &x.patients {
        patient(h, p, &unit);
    }
}

fn row(h: &mut String, label: &str, value: &str) {
    h.push_str(&format!("<tr><th>{label}</th><td>{value}</td></tr>\n"));
}

fn patient(h: &mut String, p: &PatientExport, unit: &dyn Fn(&str) -> String) {
    let kind = match p.kind {
        "personnummer" => "Personnummer",
        "samordningsnummer" => "Samordningsnummer",
        _ => "Reservnummer",
    };
    h.push_str("<section class=\"patient\">\n");
    h.push_str(&format!("<h2>{kind}: {}</h2>\n", escape(&p.id)));
    for ep in &p.episodes {
        h.push_str(&format!(
            "<h3>Vårdtillfälle {}</h3>\n<table>\n",
            escape(&ep.episode[..ep.episode.len().min(12)])
        ));
        row(h, "Läge", &escape(&ep.state));
        if let Some(u) = &ep.admitted_by {
            row(h, "Inskrivande enhet", &unit(u));
        }
        let t = |ms: Option<u64>| ms.map(local).unwrap_or_else(|| "–".into());
        row(h, "Inskriven", &t(ep.admitted_at_ms));
        row(h, "Utskrivningsklar", &t(ep.ready_at_ms));
        row(h, "Kommunklar", &t(ep.municipality_ready_at_ms));
        row(h, "Utskriven", &t(ep.discharged_at_ms));
        h.push_str("</table>\n");
    }
    plans(h, p, unit);
    h.push_str(&format!(
        "<h3>Dokument och meddelanden ({})</h3>\n",
        p.events.len()
    ));
    for e in &p.events {
        h.push_str("<div class=\"doc\">\n");
        h.push_str(&format!(
            "<p><span class=\"box\"></span><strong>{}</strong>{}</p>\n",
            escape(&capitalised(&e.title)),
            if e.urgent {
                " &middot; <strong>BRÅDSKANDE</strong>"
            } else {
                ""
            }
        ));
        h.push_str("<table>\n");
        row(h, "Skrivet", &local(e.written_at_ms));
        row(
            h,
            "Av",
            &format!(
                "{}, {} &middot; {}",
                escape(&e.author),
                escape(&e.role),
                unit(&e.unit)
            ),
        );
        for r in &e.recipients {
            let state = match (r.read_at_ms, &r.read_by, r.delivered_at_ms) {
                (Some(at), by, _) => format!(
                    "läst {} av {}",
                    local(at),
                    escape(by.as_deref().unwrap_or("(okänd)"))
                ),
                (None, _, Some(at)) => format!("levererad {}", local(at)),
                _ => "inte levererad".into(),
            };
            row(h, "Till", &format!("{} &middot; {state}", unit(&r.unit)));
        }
        row(h, "Samtyckesgrund", &escape(&e.consent));
        if let Some(r) = &e.reentry {
            // An outage's export: where the item's re-entry stands, every mark.
            let state = match r.state {
                "inregistrerat" => "inregistrerat i LINK",
                "behovs-inte" => "behövs inte",
                _ => "kvar att efterregistrera",
            };
            row(
                h,
                "Efterregistrering",
                &format!("{state} &middot; skrevs {}", escape(&r.placement)),
            );
            for m in &r.marks {
                let what = if m.state == "inregistrerat" {
                    format!("inregistrerat i LINK {}", escape(&m.detail))
                } else {
                    format!("behövs inte: {}", escape(&m.detail))
                };
                row(
                    h,
                    "Markerat",
                    &format!("{} av {}: {what}", local(m.at_ms), escape(&m.by)),
                );
            }
        }
        row(
            h,
            "Händelse-id",
            &format!("<span class=\"meta\">{}</span>", escape(&e.event)),
        );
        h.push_str("</table>\n");
        for l in content_lines(&e.fields) {
            h.push_str(&format!("<p>{}</p>\n", escape(&l)));
        }
        h.push_str(
            "<p class=\"meta\">Inregistrerat i LINK: datum ________ signatur ________</p>\n",
        );
        h.push_str("</div>\n");
    }
    h.push_str("</section>\n");
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Each plan with every version: who wrote it, from which unit, when, what it replaced,
/// and whether it is current (several current versions are a conflict).
fn plans(h: &mut String, p: &PatientExport, unit: &dyn Fn(&str) -> String) {
    if p.plans.is_empty() {
        return;
    }
    let events: HashMap<&str, &super::model::EventExport> =
        p.events.iter().map(|e| (e.event.as_str(), e)).collect();
    h.push_str(&format!("<h3>Planer ({})</h3>\n", p.plans.len()));
    for plan in &p.plans {
        let kind = match plan.plan_kind {
            "sip" => "SIP",
            "lpt" => "Samordnad vårdplan (LPT/LRV)",
            _ => "Utskrivningsplan",
        };
        let state = if plan.heads.len() > 1 {
            " &middot; <strong>KONFLIKT: flera gällande versioner</strong>"
        } else {
            ""
        };
        h.push_str(&format!(
            "<p><strong>{kind}</strong> {} &middot; {}{state}</p>\n<table class=\"list\">\n<thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Skriven</th><th scope=\"col\">Av</th><th scope=\"col\">Ersätter</th><th scope=\"col\">Läge</th></tr></thead>\n<tbody>\n",
            escape(&plan.plan[..plan.plan.len().min(12)]),
            crate::care::api::plan::versions_sv(plan.versions.len())
        ));
        for (i, v) in plan.versions.iter().enumerate() {
            let Some(e) = events.get(v.as_str()) else {
                continue;
            };
            let short = |id: &str| escape(&id[..id.len().min(12)]);
            let replaces: Vec<String> = e.replaces.iter().map(|r| short(r)).collect();
            h.push_str(&format!(
                "<tr><td>{} ({})</td><td>{}</td><td>{}, {} &middot; {}</td><td>{}</td><td>{}</td></tr>\n",
                i + 1,
                short(v),
                local(e.written_at_ms),
                escape(&e.author),
                escape(&e.role),
                unit(&e.unit),
                if replaces.is_empty() { "–".into() } else { replaces.join(", ") },
                if plan.heads.contains(v) { "gällande" } else { "ersatt" }
            ));
        }
        h.push_str("</tbody>\n</table>\n");
    }
}

//! The export as one printable HTML page (A4, a print stylesheet, each patient from a new
//! page), for a person entering it into LINK by hand: per patient the episodes with their
//! times, then every document in time order with its author, unit, written and signed
//! times, receipts and content, all in Swedish. Every text is escaped; the page loads
//! nothing from anywhere.

use std::collections::HashMap;

use super::fhir::{content_lines, escape};
use super::model::{ExportFile, PatientExport};
use crate::clock::format_ms_local as local;

const STYLE: &str = "\
@page { size: A4; margin: 18mm 16mm; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 10.5pt; color: #000; margin: 0; }
header.export { border-bottom: 2px solid #000; margin-bottom: 8mm; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
h2 { font-size: 13pt; margin: 0 0 3mm; }
h3 { font-size: 11pt; margin: 5mm 0 2mm; }
section.patient { page-break-before: always; break-before: page; }
section.patient:first-of-type { page-break-before: auto; break-before: auto; }
table { border-collapse: collapse; width: 100%; margin-bottom: 3mm; }
th, td { border: 1px solid #777; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; width: 32%; }
.doc { break-inside: avoid; page-break-inside: avoid; border: 1px solid #000; padding: 2mm 3mm; margin-bottom: 4mm; }
.doc p { margin: 0.8mm 0; white-space: pre-wrap; }
.box { display: inline-block; width: 4mm; height: 4mm; border: 1px solid #000; vertical-align: middle; margin-right: 1.5mm; }
.meta { font-size: 9pt; color: #333; }
@media screen { body { max-width: 190mm; margin: 10mm auto; } }
";

/// The page.
pub fn page(x: &ExportFile) -> String {
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
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<title>Reservrutin: export för efterregistrering</title>\n<style>\n");
    h.push_str(STYLE);
    h.push_str("</style>\n</head>\n<body>\n<header class=\"export\">\n");
    h.push_str("<h1>Reservrutin: underlag för efterregistrering i LINK</h1>\n");
    h.push_str(&format!(
        "<p class=\"meta\">Utskrivet {} av {} vid {} &middot; nod {} &middot; export {} (schema {} version {})</p>\n",
        local(x.exported_at_ms),
        escape(
            x.exported_by
                .name
                .as_deref()
                .or(x.exported_by.login.as_deref())
                .unwrap_or("(okänd)")
        ),
        unit(&x.exported_by.unit),
        escape(&x.node),
        escape(&x.id),
        x.schema,
        x.version
    ));
    h.push_str("<p class=\"meta\">Innehåller patientuppgifter. Utskriften är loggad. Förvaras och förstörs som journalhandling.</p>\n</header>\n");
    for p in &x.patients {
        patient(&mut h, p, &unit);
    }
    h.push_str("</body>\n</html>\n");
    h
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

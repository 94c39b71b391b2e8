//! Command-line arguments (clap types only; what each command does is in `commands`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// reservnod – reservnod för utskrivningsprocessen när det regionala systemet (Cambio LINK)
/// eller nätet ligger nere.
///
/// Avdelningar, kommunala enheter och vårdcentraler skickar inskrivningsmeddelanden,
/// utskrivningsklar, planer, vårdrapporter och meddelanden med kvittens mellan varandra,
/// och allt som skrivs under driftstoppet finns kvar för efterregistrering.
#[derive(Debug, Parser)]
#[command(name = "reservnod", version, propagate_version = true)]
pub struct Cli {
    /// Vad som ska göras.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Regionens administration: adminnyckel, enheter, noder och roster (förteckningen).
    Admin(AdminArgs),
    /// Sätt upp och sköt den här noden.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Kör noden: ansluter till andra noder, hittar dem på det lokala nätet och håller
    /// förbindelserna uppe tills den stoppas (Ctrl-C eller SIGTERM).
    Run(RunArgs),
    /// Visa nodens status: identitet, roster och lagrets siffror (och grannarna när noden kör).
    Status(StatusArgs),
    /// Visa grannarna (andra noder): tillstånd, adress, senast hörd, svarstid, klockavvikelse.
    Peers(PeersArgs),
    /// Flytta händelser som fil (bärbar dator, USB-minne) när inget nät finns.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Vänta tills noden har tagit emot allt som grannarna har aviserat (med förloppsindikator).
    WaitSync(WaitSyncArgs),
    /// Kontrollera identiteter (personnummer, samordningsnummer, reservnummer, HSA-id).
    #[command(subcommand)]
    Id(IdCommand),
}

/// Where a node's data lives.
#[derive(Debug, Args, Clone)]
pub struct DataDirArg {
    /// Nodens datakatalog (nycklar, roster och lager).
    #[arg(
        long,
        env = "RESERVNOD_DATA_DIR",
        default_value = "reservnod-data",
        value_name = "KATALOG"
    )]
    pub data_dir: PathBuf,
}

/// `reservnod admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Adminkatalogen: adminnyckeln, roster-filen och enheternas nycklar. Förvara den skyddad.
    #[arg(
        long,
        env = "RESERVNOD_ADMIN_DIR",
        default_value = "reservnod-admin",
        value_name = "KATALOG",
        global = true
    )]
    pub admin_dir: PathBuf,
    /// Vad som ska göras.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `reservnod admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Skapa adminnyckeln och en tom roster (version 1) för regionen.
    Init {
        /// Regionens namn, t.ex. "Region Blekinge".
        #[arg(long, value_name = "NAMN")]
        region: String,
    },
    /// Enheter (avdelningar, kommunala enheter, vårdcentraler).
    #[command(subcommand)]
    Unit(UnitCommand),
    /// Noder (datorerna som kör reservnod).
    #[command(subcommand)]
    Node(AdminNodeCommand),
    /// Förslag på mottagande kommunal enhet utifrån patientens kommun.
    #[command(subcommand)]
    Route(RouteCommand),
    /// Frastexter som personalen kan välja.
    #[command(subcommand)]
    Phrase(PhraseCommand),
    /// När olästa meddelanden eskaleras.
    #[command(subcommand)]
    Escalation(EscalationCommand),
    /// Visa roster-filen.
    #[command(subcommand)]
    Roster(RosterCommand),
}

/// `reservnod admin unit …`.
#[derive(Debug, Subcommand)]
pub enum UnitCommand {
    /// Lägg till en enhet. Skriver enhetens nyckelfil, som ges till enhetens noder.
    Add {
        /// Enhetens HSA-id (t.ex. SE2321000081-AVD12) eller lokalt id (LOCAL-…).
        #[arg(long, value_name = "HSA-ID")]
        id: String,
        /// Enhetens namn som personalen känner det.
        #[arg(long, value_name = "NAMN")]
        name: String,
        /// Slag: ward (avdelning), municipal (kommunal enhet), primary-care (vårdcentral),
        /// psychiatry (psykiatri), other (annan).
        #[arg(long, value_name = "SLAG")]
        kind: String,
        /// Kommunkod där enheten finns (fyra siffror, t.ex. 1080 Karlskrona).
        #[arg(long, value_name = "KOMMUNKOD")]
        municipality: String,
    },
}

/// `reservnod admin node …`.
#[derive(Debug, Subcommand)]
pub enum AdminNodeCommand {
    /// Släpp in en nod i nätet för en enhet (nod-id:t visas av `reservnod node init`).
    Add {
        /// Nodens id (8 grupper om 7 tecken).
        #[arg(long, value_name = "NOD-ID")]
        node_id: String,
        /// Enheten noden arbetar för.
        #[arg(long, value_name = "HSA-ID")]
        unit: String,
        /// Ett namn för människor, t.ex. "Avd 12 expeditionen".
        #[arg(long, value_name = "NAMN")]
        name: String,
    },
    /// Återkalla en nod (stulen eller kasserad dator): alla noder stänger ute den.
    Revoke {
        /// Nodens id.
        #[arg(long, value_name = "NOD-ID")]
        node_id: String,
        /// Varför.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

/// `reservnod admin route …`.
#[derive(Debug, Subcommand)]
pub enum RouteCommand {
    /// Ange vilken kommunal enhet som tar emot patienter från en kommun.
    Set {
        /// Kommunkod (fyra siffror).
        #[arg(long, value_name = "KOMMUNKOD")]
        municipality: String,
        /// Den kommunala enhetens HSA-id.
        #[arg(long, value_name = "HSA-ID")]
        unit: String,
    },
}

/// `reservnod admin phrase …`.
#[derive(Debug, Subcommand)]
pub enum PhraseCommand {
    /// Lägg till eller ersätt en frastext.
    Set {
        /// Kort nyckel, t.ex. "recept".
        #[arg(long, value_name = "NYCKEL")]
        key: String,
        /// Rubrik i listan.
        #[arg(long, value_name = "RUBRIK")]
        title: String,
        /// Texten.
        #[arg(long, value_name = "TEXT")]
        text: String,
    },
}

/// `reservnod admin escalation …`.
#[derive(Debug, Subcommand)]
pub enum EscalationCommand {
    /// Ange hur länge ett meddelande får vara oläst innan det eskaleras.
    Set {
        /// Minuter för brådskande meddelanden.
        #[arg(long, value_name = "MINUTER")]
        urgent_minutes: u32,
        /// Minuter för normala meddelanden.
        #[arg(long, value_name = "MINUTER")]
        normal_minutes: u32,
    },
}

/// `reservnod admin roster …`.
#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Visa roster-filen (kontrollerar adminsignaturen).
    Show {
        /// Skriv JSON i stället för text.
        #[arg(long)]
        json: bool,
    },
}

/// `reservnod node …`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Sätt upp en ny nod: skapar nodens nyckel och installerar enhetens nyckelfil.
    ///
    /// Skriv sedan ut nod-id:t för administratören, som släpper in noden med
    /// `reservnod admin node add`.
    Init {
        /// Katalogen.
        #[command(flatten)]
        data: DataDirArg,
        /// Enhetens nyckelfil från administratören.
        #[arg(long, value_name = "FIL")]
        unit_key: PathBuf,
        /// Roster-filen från administratören (kan också installeras senare).
        #[arg(long, value_name = "FIL")]
        roster: Option<PathBuf>,
    },
    /// Installera en nyare roster-fil (måste vara signerad av samma administratör).
    InstallRoster {
        /// Katalogen.
        #[command(flatten)]
        data: DataDirArg,
        /// Roster-filen.
        #[arg(value_name = "FIL")]
        file: PathBuf,
    },
}

/// `reservnod status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
}

/// `reservnod run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Konfigurationsfilen (TOML; se config/node.toml).
    #[arg(long, value_name = "FIL")]
    pub config: PathBuf,
}

/// `reservnod peers`.
#[derive(Debug, Args)]
pub struct PeersArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
}

/// `reservnod bundle …`.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Skriv nodens händelser till en fil (noden ska vara stoppad).
    Export {
        /// Katalogen.
        #[command(flatten)]
        data: DataDirArg,
        /// Bara händelser från denna tidpunkt (UTC): ÅÅÅÅ-MM-DD eller "ÅÅÅÅ-MM-DD TT:MM".
        #[arg(long, value_name = "TID")]
        since: Option<String>,
        /// Filen att skriva.
        #[arg(value_name = "FIL")]
        file: PathBuf,
    },
    /// Läs in händelser från en fil; varje händelse kontrolleras som från nätet och samma fil
    /// kan läsas in igen utan att något dubbleras (noden ska vara stoppad).
    Import {
        /// Katalogen.
        #[command(flatten)]
        data: DataDirArg,
        /// Filen att läsa.
        #[arg(value_name = "FIL")]
        file: PathBuf,
        /// Skriv sammanfattningen som JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `reservnod wait-sync`.
#[derive(Debug, Args)]
pub struct WaitSyncArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Ge upp efter så många sekunder.
    #[arg(long, value_name = "SEKUNDER", default_value_t = 600)]
    pub timeout: u64,
}

/// `reservnod id …`.
#[derive(Debug, Subcommand)]
pub enum IdCommand {
    /// Kontrollera identiteter och visa deras normalform och slag.
    ///
    /// Med `-` läses en identitet per rad från standard in (snabbt även för 100 000).
    /// Giltiga skrivs som "normalform<TAB>slag<TAB>inmatat", ogiltiga som
    /// "inmatat<TAB>FEL<TAB>vad som är fel". Med --json en JSON-rad per identitet.
    /// Slutstatus 0 om alla är giltiga, 1 om någon är ogiltig.
    Check {
        /// Skriv en JSON-rad per identitet.
        #[arg(long)]
        json: bool,
        /// Identiteterna, eller - för att läsa från standard in.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
}

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
    /// Skicka ett dokument eller meddelande (inskrivningsmeddelande, utskrivningsklar, plan …).
    Send(SendArgs),
    /// Inkorgen: det som kommit till enheten (olästa först) och kvittensläget för det enheten skickat.
    Inbox(ViewArgs),
    /// Visa en händelse i sin helhet.
    Show(ShowArgs),
    /// Visa en patients vårdkedja: steg, dagar sedan utskrivningsklar, betalningsansvar, dokument.
    Chain(ChainArgs),
    /// Exportera allt enheten kan läsa om en patient till en fil: HL7 FHIR R4 (Bundle),
    /// JSON eller utskrivbar HTML (A4), för efterregistrering i LINK. Exporten loggas.
    Export(ExportArgs),
    /// Kvittera (läst) en händelse som skickats till enheten.
    Ack(AckArgs),
    /// Planer: visa, ändra, lös konflikter.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Visa registrets enheter, vägval och frastexter.
    Directory(ViewArgs),
    /// Visa olästa meddelanden som enheten eskalerat (av den här eller en annan av enhetens noder).
    Escalations(ViewArgs),
    /// Granskningsloggen (åtkomstloggen): kontrollera kedjan, sök och exportera.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Lista lagrade händelser, nyast först: id, klass, avsändare, tid, mottagare (bara
    /// huvudet, aldrig innehållet).
    Events(EventsArgs),
    /// Starta en liten övningsregion på den här datorn: avdelning, kommun och vårdcentral,
    /// var och en sin egen nod, med påhittade testpatienter. Stoppas med Ctrl-C.
    Demo(DemoArgs),
    /// Säkerhetskopiera nodens datakatalog till en fil (medan noden kör eller när den står).
    /// Nycklarna tas med bara med --with-keys.
    Backup(BackupArgs),
    /// Återställ en säkerhetskopia i en tom datakatalog (en ny dator); noden hämtar sedan
    /// det som skrivits efteråt från grannarna.
    Restore(RestoreArgs),
    /// Kontrollera noden, en rad per kontroll med vad som ska göras när den inte går igenom
    /// (konfiguration, datakatalog och nycklar, roster, klocka, port, grannar, upptäckt,
    /// diskutrymme, eskaleringskommando). Slutkod 1 om någon kontroll visar fel.
    Doctor(DoctorArgs),
    /// Personalens konton på enheten (inloggning i webbgränssnittet): skapa, byt lösenord,
    /// roller, spärra, öppna, lista, API-nycklar. Gäller på enhetens alla noder.
    #[command(subcommand)]
    User(UserCommand),
    /// Driftstörning: utlys (när regionens system är nere), avsluta, visa läget.
    #[command(subcommand)]
    Outage(OutageCommand),
    /// Efterregistrering i LINK efter en driftstörning: enhetens lista, markera, skriv av resten.
    #[command(subcommand)]
    Reentry(ReentryCommand),
    /// Regionens ögonblicksbild före driftstoppet: de aktiva vårdkedjorna (CSV eller JSON,
    /// se docs/snapshot.md).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

/// `reservnod outage …`.
#[derive(Debug, Subcommand)]
pub enum OutageCommand {
    /// Utlys en driftstörning (enhetens administratör): banderoll på alla sidor, och allt som
    /// skrivs kopplas till den.
    Declare {
        /// Katalogen.
        #[command(flatten)]
        data: DataDirArg,
        /// Vem som utlyser.
        #[command(flatten)]
        person: PersonArgs,
        /// Skriv JSON i stället för text.
        #[arg(long)]
        json: bool,
        /// Vad som är nere (skälet).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Enheterna den gäller (HSA-id, flera med komma); utan: regionens alla enheter.
        #[arg(long, value_name = "HSA-ID", value_delimiter = ',')]
        scope: Vec<String>,
    },
    /// Avsluta driftstörningen: sedan tar noden bara emot kvittenser, svar, efterregistrering
    /// och export tills en ny utlyses.
    End {
        /// Katalogen.
        #[command(flatten)]
        data: DataDirArg,
        /// Vem som avslutar.
        #[command(flatten)]
        person: PersonArgs,
        /// Skriv JSON i stället för text.
        #[arg(long)]
        json: bool,
        /// En anteckning.
        #[arg(long, value_name = "TEXT", default_value = "")]
        note: String,
    },
    /// Visa driftstörningarna och enhetens efterregistrering (klara / kvar).
    Show(ViewArgs),
}

/// `reservnod reentry …`.
#[derive(Debug, Subcommand)]
pub enum ReentryCommand {
    /// Enhetens lista: allt den skickat och tagit emot under driftstörningen, per patient.
    List {
        /// Gemensamma val.
        #[command(flatten)]
        view: ViewArgs,
        /// Driftstörningen (id, minst 8 hexsiffror); utan: den senaste.
        #[arg(long, value_name = "ID")]
        outage: Option<String>,
    },
    /// Markera en händelse: inregistrerat (i LINK) eller behovs-inte.
    Mark {
        /// Katalogen.
        #[command(flatten)]
        data: DataDirArg,
        /// Vem som markerar.
        #[command(flatten)]
        person: PersonArgs,
        /// Skriv JSON i stället för text.
        #[arg(long)]
        json: bool,
        /// Händelsens id (minst 8 hexsiffror).
        #[arg(value_name = "HÄNDELSE")]
        item: String,
        /// inregistrerat eller behovs-inte.
        #[arg(value_name = "LÄGE")]
        state: String,
        /// LINK:s referens (för inregistrerat).
        #[arg(long = "link-ref", value_name = "REF", default_value = "")]
        link_ref: String,
        /// Varför det inte behövs (för behovs-inte).
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
    },
    /// Skriv av det som är kvar (enhetens administratör), med skäl.
    Signoff {
        /// Katalogen.
        #[command(flatten)]
        data: DataDirArg,
        /// Vem som skriver av.
        #[command(flatten)]
        person: PersonArgs,
        /// Skriv JSON i stället för text.
        #[arg(long)]
        json: bool,
        /// Driftstörningen (id); utan: den senaste.
        #[arg(long, value_name = "ID")]
        outage: Option<String>,
        /// Varför resten inte behöver registreras.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
}

/// `reservnod snapshot …`.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Importera ögonblicksbilden: varje rad kontrolleras och varje felaktig rad visas (rad,
    /// fält, varför). Finns det fel importeras ingenting, om inte --skip-bad-rows anges.
    /// Samma fil två gånger ändrar ingenting.
    Import(SnapshotImportArgs),
}

/// `reservnod snapshot import`.
#[derive(Debug, Args)]
pub struct SnapshotImportArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Filen (CSV eller JSON).
    #[arg(value_name = "FIL")]
    pub file: PathBuf,
    /// Importera de korrekta raderna även om några är felaktiga.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Ditt namn (står på de importerade vårdkedjorna och i loggen).
    #[arg(long, env = "RESERVNOD_AUTHOR", value_name = "NAMN")]
    pub author: Option<String>,
    /// Ditt användarnamn för loggen (standard: inloggad användare).
    #[arg(long, env = "USER", value_name = "INLOGGNING")]
    pub login: Option<String>,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
}

/// `reservnod user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Skapa ett konto (enhetens första administratör skapas här).
    Add(UserAddArgs),
    /// Byt ett kontos lösenord.
    Passwd(UserPasswdArgs),
    /// Ändra ett kontos roller.
    Roles(UserRolesArgs),
    /// Spärra ett konto på enhetens alla noder.
    Disable(UserLoginArgs),
    /// Öppna ett spärrat konto igen.
    Enable(UserLoginArgs),
    /// Lista enhetens konton.
    List(ViewArgs),
    /// API-nycklar för skript (Bearer).
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `reservnod user add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// Gemensamma val.
    #[command(flatten)]
    pub view: ViewArgs,
    /// Inloggningsnamnet (små bokstäver a–z, siffror, punkt, understreck, bindestreck).
    #[arg(value_name = "INLOGGNINGSNAMN")]
    pub account: String,
    /// Namnet som det ska stå på dokument och kvittenser.
    #[arg(long, value_name = "NAMN")]
    pub name: String,
    /// Titel eller yrkesroll som på dokument (sjuksköterska, läkare …).
    #[arg(long, value_name = "TITEL", default_value = "")]
    pub title: String,
    /// Roller: personal, admin, logggranskare (flera med komma).
    #[arg(
        long = "role",
        value_name = "ROLL",
        value_delimiter = ',',
        default_value = "personal"
    )]
    pub roles: Vec<String>,
    /// Läs lösenordet från första raden på standard in (för skript) i stället för terminalen.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `reservnod user passwd`.
#[derive(Debug, Args)]
pub struct UserPasswdArgs {
    /// Gemensamma val.
    #[command(flatten)]
    pub view: ViewArgs,
    /// Kontots inloggningsnamn.
    #[arg(value_name = "INLOGGNINGSNAMN")]
    pub account: String,
    /// Läs lösenordet från första raden på standard in (för skript) i stället för terminalen.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `reservnod user roles`.
#[derive(Debug, Args)]
pub struct UserRolesArgs {
    /// Gemensamma val.
    #[command(flatten)]
    pub view: ViewArgs,
    /// Kontots inloggningsnamn.
    #[arg(value_name = "INLOGGNINGSNAMN")]
    pub account: String,
    /// De nya rollerna: personal, admin, logggranskare (flera med komma).
    #[arg(
        long = "role",
        value_name = "ROLL",
        value_delimiter = ',',
        required = true
    )]
    pub roles: Vec<String>,
}

/// `reservnod user disable|enable`.
#[derive(Debug, Args)]
pub struct UserLoginArgs {
    /// Gemensamma val.
    #[command(flatten)]
    pub view: ViewArgs,
    /// Kontots inloggningsnamn.
    #[arg(value_name = "INLOGGNINGSNAMN")]
    pub account: String,
}

/// `reservnod user token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Skapa en API-nyckel åt ett konto (visas en gång).
    Create {
        /// Gemensamma val.
        #[command(flatten)]
        view: ViewArgs,
        /// Kontots inloggningsnamn.
        #[arg(value_name = "INLOGGNINGSNAMN")]
        account: String,
        /// Vad nyckeln är till för.
        #[arg(long, value_name = "TEXT", default_value = "")]
        label: String,
    },
    /// Återkalla en API-nyckel.
    Revoke {
        /// Gemensamma val.
        #[command(flatten)]
        view: ViewArgs,
        /// Kontots inloggningsnamn.
        #[arg(value_name = "INLOGGNINGSNAMN")]
        account: String,
        /// Nyckelns id (som `user list` visar det).
        #[arg(value_name = "NYCKEL-ID")]
        token: String,
    },
}

/// Who is at the keyboard (for documents, receipts and the audit log).
#[derive(Debug, Args, Clone)]
pub struct PersonArgs {
    /// Ditt namn som det ska stå på dokument och kvittenser.
    #[arg(long, env = "RESERVNOD_AUTHOR", value_name = "NAMN", global = true)]
    pub author: Option<String>,
    /// Din roll (sjuksköterska, läkare, biståndshandläggare …).
    #[arg(
        long,
        env = "RESERVNOD_ROLE",
        value_name = "ROLL",
        default_value = "",
        global = true
    )]
    pub role: String,
    /// Ditt användarnamn för loggen (standard: inloggad användare).
    #[arg(long, env = "USER", value_name = "INLOGGNING", global = true)]
    pub login: Option<String>,
}

/// The options every care command shares.
#[derive(Debug, Args, Clone)]
pub struct ViewArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
    /// Ditt användarnamn för loggen (standard: inloggad användare).
    #[arg(long, env = "USER", value_name = "INLOGGNING")]
    pub login: Option<String>,
}

/// `reservnod send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Vem som skriver.
    #[command(flatten)]
    pub person: PersonArgs,
    /// Patientens personnummer, samordningsnummer eller reservnummer (R:utfärdare:nummer).
    #[arg(long, value_name = "ID", global = true)]
    pub patient: Option<String>,
    /// Vårdtillfället (standard: patientens senaste; ett inskrivningsmeddelande startar ett nytt).
    #[arg(long, value_name = "EPISOD", global = true)]
    pub episode: Option<String>,
    /// Mottagande enheter (HSA-id, flera med komma). Utan: förslaget (registrets
    /// mottagande enhet, vårdtillfällets eller planens deltagare) visas och bekräftas först.
    #[arg(long, value_name = "HSA-ID", value_delimiter = ',', global = true)]
    pub to: Vec<String>,
    /// Skicka till förslaget utan att fråga (för skript; utan terminal krävs --to eller --yes).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Brådskande.
    #[arg(long, global = true)]
    pub urgent: bool,
    /// Ingen läskvittens önskas.
    #[arg(long, global = true)]
    pub no_receipt: bool,
    /// Grund för att uppgifterna lämnas: samtycke, nödsituation, eller en förklaring.
    #[arg(long, value_name = "GRUND", default_value = "samtycke", global = true)]
    pub consent: String,
    /// Skriv JSON i stället för text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Vad som skickas.
    #[command(subcommand)]
    pub document: SendDocument,
}

/// A plan's content given on the command line.
#[derive(Debug, Args, Clone, Default)]
pub struct PlanContentArgs {
    /// Mål.
    #[arg(long, value_name = "TEXT")]
    pub goals: Option<String>,
    /// En insats: "text; ansvarig; senast ÅÅÅÅ-MM-DD" (ansvarig och datum kan utelämnas).
    /// Upprepa för flera; ersätter alla insatser.
    #[arg(long = "measure", value_name = "INSATS")]
    pub measures: Vec<String>,
    /// Uppföljningsdatum (ÅÅÅÅ-MM-DD).
    #[arg(long, value_name = "DATUM")]
    pub follow_up: Option<String>,
    /// Deltagare (upprepa för flera); ersätter alla deltagare.
    #[arg(long = "participant", value_name = "NAMN")]
    pub participants: Vec<String>,
    /// Patientens egen syn.
    #[arg(long, value_name = "TEXT")]
    pub patient_view: Option<String>,
}

/// What `reservnod send` sends.
#[derive(Debug, Subcommand)]
pub enum SendDocument {
    /// Inskrivningsmeddelande (startar ett nytt vårdtillfälle).
    Admission {
        /// Orsak till inskrivningen.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Patientens kommun (kommunkod); föreslår mottagande kommunal enhet.
        #[arg(long, value_name = "KOMMUNKOD")]
        municipality: Option<String>,
        /// Vem som förväntas behöva insatser: municipality (kommunen), primary-care, both.
        #[arg(long, value_name = "VEM", default_value = "municipality")]
        needs: String,
        /// Insatser före inskrivningen: home-care, home-nursing, nursing-home (komma).
        #[arg(long, value_name = "INSATS", value_delimiter = ',')]
        services: Vec<String>,
        /// Preliminärt utskrivningsdatum (ÅÅÅÅ-MM-DD).
        #[arg(long, value_name = "DATUM")]
        preliminary_discharge: Option<String>,
        /// När patienten skrevs in ("ÅÅÅÅ-MM-DD TT:MM", svensk tid; standard: nu).
        #[arg(long, value_name = "TID")]
        at: Option<String>,
    },
    /// Utskrivningsklar (startar betalningsklockan).
    Ready {
        /// Behandlande läkare.
        #[arg(long, value_name = "NAMN")]
        physician: String,
        /// När ("ÅÅÅÅ-MM-DD TT:MM", svensk tid; standard: nu).
        #[arg(long, value_name = "TID")]
        at: Option<String>,
    },
    /// Återtag av utskrivningsklar.
    WithdrawReady {
        /// Varför.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// När (standard: nu).
        #[arg(long, value_name = "TID")]
        at: Option<String>,
    },
    /// Kommunklar: kommunen kan ta emot patienten.
    MunicipalityReady {
        /// Planerade insatser.
        #[arg(long, value_name = "TEXT")]
        measures: String,
        /// Från när (standard: nu).
        #[arg(long, value_name = "TID")]
        from: Option<String>,
    },
    /// Utskriven.
    Discharged {
        /// Vart: hem, särskilt boende, annat.
        #[arg(long, value_name = "TEXT")]
        destination: String,
        /// När (standard: nu).
        #[arg(long, value_name = "TID")]
        at: Option<String>,
    },
    /// Ny plan: utskrivningsplan, SIP eller samordnad vårdplan (LPT/LRV).
    Plan {
        /// Slag: discharge (utskrivningsplan), sip, lpt.
        #[arg(long, value_name = "SLAG", default_value = "discharge")]
        kind: String,
        /// Innehållet.
        #[command(flatten)]
        content: PlanContentArgs,
    },
    /// Anteckning till en plan (t.ex. SIP-anteckning).
    PlanNote {
        /// Planens id.
        #[arg(long, value_name = "PLAN")]
        plan: String,
        /// Anteckningen.
        #[arg(long, value_name = "TEXT")]
        text: String,
    },
    /// Vårdrapport (omvårdnadsepikris).
    CareReport {
        /// Orsak till inskrivningen.
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        /// Ansvarig läkare.
        #[arg(long, value_name = "NAMN", default_value = "")]
        physician: String,
        /// Sammanfattning av vården.
        #[arg(long, value_name = "TEXT")]
        summary: String,
        /// Komplikationer.
        #[arg(long, value_name = "TEXT", default_value = "")]
        complications: String,
        /// Aktuellt hälsotillstånd och funktion.
        #[arg(long, value_name = "TEXT", default_value = "")]
        health: String,
        /// Riskbedömningar (fall, trycksår, nutrition).
        #[arg(long, value_name = "TEXT", default_value = "")]
        risks: String,
        /// Förändringar sedan planeringen (läkemedel, återbesök).
        #[arg(long, value_name = "TEXT", default_value = "")]
        changes: String,
        /// Läkemedel: "namn; styrka; dos; ändring" (upprepa för flera).
        #[arg(long = "drug", value_name = "LÄKEMEDEL")]
        drugs: Vec<String>,
    },
    /// Fristående meddelande (patient valfri).
    Message {
        /// Ämne (skriv inte patientens namn: ämnen syns i listor).
        #[arg(long, value_name = "TEXT")]
        subject: String,
        /// Texten (kan utelämnas om en frastext används).
        #[arg(long, value_name = "TEXT", default_value = "")]
        text: String,
        /// Slag: prescription (receptförnyelse), doctor (boka läkare), home-visit, question, other.
        #[arg(long, value_name = "SLAG", default_value = "question")]
        kind: String,
        /// Frastexter ur registret (nyckel; upprepa för flera).
        #[arg(long = "phrase", value_name = "NYCKEL")]
        phrases: Vec<String>,
        /// Svar önskas senast ("ÅÅÅÅ-MM-DD TT:MM", svensk tid).
        #[arg(long, value_name = "TID")]
        answer_by: Option<String>,
        /// Svar på meddelandet med detta id.
        #[arg(long, value_name = "HÄNDELSE")]
        reply_to: Option<String>,
    },
}

/// `reservnod show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Gemensamma val.
    #[command(flatten)]
    pub view: ViewArgs,
    /// Händelsens id (minst 8 hexsiffror).
    #[arg(value_name = "HÄNDELSE")]
    pub event: String,
}

/// `reservnod events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
    /// Bara händelser av denna klass: clinical, receipt, control eller roster.
    #[arg(long, value_name = "KLASS")]
    pub class: Option<String>,
    /// Högst så här många (standard 50, högst 1000).
    #[arg(long, value_name = "ANTAL")]
    pub limit: Option<u64>,
    /// Bara händelser skrivna från denna tidpunkt (svensk tid): ÅÅÅÅ-MM-DD eller
    /// "ÅÅÅÅ-MM-DD TT:MM".
    #[arg(long, value_name = "TID")]
    pub since: Option<String>,
    /// Ditt användarnamn (standard: inloggad användare).
    #[arg(long, env = "USER", value_name = "INLOGGNING")]
    pub login: Option<String>,
}

/// `reservnod chain`.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Gemensamma val.
    #[command(flatten)]
    pub view: ViewArgs,
    /// Patientens id.
    #[arg(value_name = "PATIENT")]
    pub patient: String,
}

/// `reservnod export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Patientens id (personnummer, samordningsnummer eller reservnummer).
    #[arg(
        long,
        value_name = "PATIENT",
        required_unless_present = "outage",
        conflicts_with = "outage"
    )]
    pub patient: Option<String>,
    /// Exportera en driftstörning i stället: allt enheten skickat och tagit emot under den
    /// (efterregistreringens poster), alla patienter. Utan ID: den senaste.
    #[arg(long, value_name = "ID", num_args = 0..=1, default_missing_value = "")]
    pub outage: Option<String>,
    /// Format: fhir (HL7 FHIR R4 Bundle), json eller html (utskrift).
    #[arg(long, value_name = "FORMAT")]
    pub format: String,
    /// Filen att skriva (en ny fil, bara läsbar för dig).
    #[arg(long, value_name = "FIL")]
    pub out: PathBuf,
    /// Ditt namn, för loggen.
    #[arg(long, env = "RESERVNOD_AUTHOR", value_name = "NAMN")]
    pub author: Option<String>,
    /// Ditt användarnamn för loggen (standard: inloggad användare).
    #[arg(long, env = "USER", value_name = "INLOGGNING")]
    pub login: Option<String>,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
}

/// `reservnod ack`.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Vem som kvitterar.
    #[command(flatten)]
    pub person: PersonArgs,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
    /// Händelsens id (minst 8 hexsiffror).
    #[arg(value_name = "HÄNDELSE")]
    pub event: String,
}

/// `reservnod plan …`.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Visa planens aktuella version (båda vid en konflikt) och dess historik: alla versioner,
    /// också de som ersatts.
    Show {
        /// Gemensamma val.
        #[command(flatten)]
        view: ViewArgs,
        /// Planens id (minst 8 hexsiffror).
        #[arg(value_name = "PLAN")]
        plan: String,
    },
    /// Skriv en ny version av planen (det som inte anges behålls).
    Edit(PlanEditArgs),
    /// Lös en konflikt: skriv en version som ersätter alla samtidiga versioner.
    Resolve(PlanEditArgs),
}

/// `reservnod plan edit|resolve`.
#[derive(Debug, Args)]
pub struct PlanEditArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Vem som skriver.
    #[command(flatten)]
    pub person: PersonArgs,
    /// Planens id (minst 8 hexsiffror).
    #[arg(value_name = "PLAN")]
    pub plan: String,
    /// Versionen vars text den nya utgår från (krävs vid konflikt).
    #[arg(long, value_name = "HÄNDELSE")]
    pub base: Option<String>,
    /// Ändringarna.
    #[command(flatten)]
    pub content: PlanContentArgs,
    /// Brådskande.
    #[arg(long)]
    pub urgent: bool,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
}

/// `reservnod demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Katalog för övningsregionen (skapas; standard: en ny tillfällig katalog).
    #[arg(long, value_name = "KATALOG")]
    pub dir: Option<PathBuf>,
}

/// `reservnod backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Filen som skrivs (får inte finnas).
    #[arg(value_name = "FIL")]
    pub file: PathBuf,
    /// Ta med nodens och enhetens hemliga nycklar (förvara då filen som nycklarna).
    #[arg(long)]
    pub with_keys: bool,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
    /// Ditt användarnamn för loggen (standard: inloggad användare).
    #[arg(long, env = "USER", value_name = "INLOGGNING")]
    pub login: Option<String>,
}

/// `reservnod doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Konfigurationsfilen som noden körs med.
    #[arg(
        long,
        env = "RESERVNOD_CONFIG",
        default_value = "/etc/reservnod/node.toml",
        value_name = "FIL"
    )]
    pub config: PathBuf,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
}

/// `reservnod restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Katalogen att återställa i (ny eller tom).
    #[command(flatten)]
    pub data: DataDirArg,
    /// Säkerhetskopian.
    #[arg(value_name = "FIL")]
    pub file: PathBuf,
    /// Enhetens nyckelfil från administratören (för en kopia utan nycklar: noden får då en
    /// ny nodnyckel och ett nytt nod-id som administratören släpper in).
    #[arg(long, value_name = "FIL")]
    pub unit_key: Option<PathBuf>,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
}

/// Where a node's data lives.
#[derive(Debug, Args, Clone)]
pub struct DataDirArg {
    /// Nodens datakatalog (nycklar, roster och lager).
    #[arg(
        long,
        env = "RESERVNOD_DATA_DIR",
        default_value = "reservnod-data",
        value_name = "KATALOG",
        global = true
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
    /// För in ett gallringsbeslut i rostern: det följer rostern till alla noder. Inget
    /// gallras av detta: gallringen i noden är inte byggd än (docs/OPERATIONS.md,
    /// Retention).
    PurgeDecision {
        /// Beslutets diarienummer, t.ex. "RS 2026/1234".
        #[arg(long = "ref", value_name = "DIARIENUMMER")]
        reference: String,
        /// Driftstörningen beslutet gäller (id:t på dess utlysning).
        #[arg(
            long,
            value_name = "ID",
            conflicts_with = "before",
            required_unless_present = "before"
        )]
        outage: Option<String>,
        /// Eller: allt som skrevs före denna tid (UTC, ÅÅÅÅ-MM-DD eller ÅÅÅÅ-MM-DD TT:MM).
        #[arg(long, value_name = "TID")]
        before: Option<String>,
        /// En enhet beslutet gäller, när den har meddelat att efterregistreringen är klar
        /// (ange flera gånger).
        #[arg(long = "unit", value_name = "HSA-ID", required = true)]
        units: Vec<String>,
    },
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
        /// Brytpunkt (UTC, ÅÅÅÅ-MM-DD eller ÅÅÅÅ-MM-DD TT:MM; standard nu): händelser noden
        /// skrev före den gäller fortfarande när en insläppt nod för dem vidare, allt från den
        /// avvisas. Sätt den till när datorn senast var i säkra händer.
        #[arg(long, value_name = "TID")]
        cutoff: Option<String>,
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
    /// Installera en nyare roster-fil (måste vara signerad av samma administratör). Kör
    /// noden tar den emot rostern direkt och stänger ute noder den återkallar.
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

/// `reservnod audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Kontrollera att granskningsloggens kedja är obruten: varje post är länkad till den
    /// före med en BLAKE3-hash. Skriver antalet poster och den första brutna länken (post
    /// och tid). Slutstatus 0 om kedjan är hel, 1 om den är bruten.
    Verify(ViewArgs),
    /// Sök i granskningsloggen (för logggranskare och IT): efter patient, konto och period,
    /// en sida i taget, eller allt som hittas som CSV-fil (semikolonseparerad, UTF-8, som
    /// svensk Excel öppnar). Sökningen och exporten loggas också.
    Search(AuditSearchArgs),
}

/// `reservnod audit search`.
#[derive(Debug, Args)]
pub struct AuditSearchArgs {
    /// Katalogen.
    #[command(flatten)]
    pub data: DataDirArg,
    /// Poster om den här patienten (personnummer, samordningsnummer eller reservnummer).
    #[arg(long, value_name = "PATIENT")]
    pub patient: Option<String>,
    /// Poster av det här kontot (inloggningsnamn).
    #[arg(long, value_name = "INLOGGNING")]
    pub login: Option<String>,
    /// Från och med (ÅÅÅÅ-MM-DD eller "ÅÅÅÅ-MM-DD TT:MM", svensk tid).
    #[arg(long, value_name = "DATUM")]
    pub from: Option<String>,
    /// Till och med (ÅÅÅÅ-MM-DD: hela dagen, eller "ÅÅÅÅ-MM-DD TT:MM").
    #[arg(long, value_name = "DATUM")]
    pub to: Option<String>,
    /// Fortsätt efter en tidigare sida (det värde sökningen skrev ut).
    #[arg(long, value_name = "FORTSÄTTNING")]
    pub after: Option<String>,
    /// Högst så många poster på sidan.
    #[arg(long, value_name = "ANTAL")]
    pub limit: Option<u32>,
    /// Skriv allt som hittas till den här CSV-filen (ny fil, bara läsbar för dig).
    #[arg(long, value_name = "FIL")]
    pub csv: Option<std::path::PathBuf>,
    /// Skriv JSON i stället för text.
    #[arg(long)]
    pub json: bool,
    /// Ditt namn, för loggen.
    #[arg(long, env = "RESERVNOD_AUTHOR", value_name = "NAMN")]
    pub author: Option<String>,
    /// Ditt användarnamn för loggen (standard: inloggad användare).
    #[arg(long, env = "USER", value_name = "INLOGGNING")]
    pub reviewer: Option<String>,
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

"""Italian: the second-largest group, mostly on the forum and the mailbox."""

from __future__ import annotations

from communa.demo.phrases.base import Announcement, Bank, Topic

QUESTIONS = {
    "espresso_grind": Topic(
        titles=("Regolazione per espresso sul {grinder}", "Da che numero partire per l'espresso?"),
        openings=(
            "Ho appena preso il {grinder} e con l'espresso non ne vengo fuori. A {setting} l'estrazione dura"
            " 15 secondi ed è acida. Devo stringere molto?",
            "Che macinatura usate per l'espresso col {grinder}? Io sono a {setting} con {grams} g e la macchina"
            " quasi si blocca.",
            "Sono alle prime armi con l'espresso: per una tostatura media su che numeri dovrei stare?",
        ),
        answers=(
            "Stringi un po' alla volta. Col mio le tostature medie stanno tra 8 e 12, e dopo ogni cambio grosso"
            " butto un paio di grammi.",
            "Acido e veloce vuol dire troppo grosso. Scendi di due o tre numeri e tieni la dose fissa a {grams} g"
            " finché non arrivi sui 28 secondi.",
            "Non fidarti dei numeri degli altri, lo zero cambia da macinino a macinino. Trova il punto in cui le"
            " macine si toccano e conta da lì.",
        ),
        staff_answers=(
            "Per l'espresso sul {grinder} consigliamo di partire da 10-14 per le tostature medie, più fine per"
            " quelle chiare. Cambia una cosa alla volta: prima la macinatura, poi la dose. Nel Centro assistenza"
            " trovi la nostra guida con una tabella stampabile.",
            "Ogni {grinder} viene calibrato in fabbrica, ma dopo la spedizione lo zero può spostarsi un po'. Se"
            " sotto {setting} non cambia nulla, scrivici e ti guidiamo nella ricalibrazione.",
        ),
    ),
    "filter_grind": Topic(
        titles=("Macinatura per V60 sul {grinder}?", "Pour-over: che impostazione usate?"),
        openings=(
            "Per il V60 che numero usate? Sono intorno a {setting} con rapporto {ratio} e l'acqua ci mette quasi"
            " cinque minuti a scendere.",
            "I miei filtri vengono piatti e un po' amari. {grams} g di caffè, {ratio}, acqua a {temp}°C."
            " È colpa della macinatura?",
            "Qualcuno fa la Chemex col {grinder}? Cerco un punto di partenza.",
        ),
        answers=(
            "Cinque minuti sono troppi, apri. Io per il V60 sto a 24 e per la Chemex intorno a 28.",
            "Amaro e piatto di solito vuol dire troppo fine. Apri di quattro scatti e vedi se chiudi sui tre minuti.",
            "Prova una prima versata più lenta e una macinatura più grossa. E controlla i filtri, certi si"
            " intasano comunque.",
        ),
        staff_answers=(
            "Per il V60 la maggior parte delle persone sta tra 20 e 26 sul {grinder}. Punta a un tempo totale tra"
            " 2:45 e 3:30 e aggiusta da lì.",
            "Grazie per i dettagli! Con un rapporto {ratio} prova qualche numero più grosso e acqua appena sotto"
            " l'ebollizione. Nella nostra guida al pour-over c'è una ricetta di base che funziona bene.",
        ),
    ),
    "retention": Topic(
        titles=("Ritenzione del {grinder}: quanto è normale?", "Elettricità statica, polvere ovunque"),
        openings=(
            "Metto {grams} g e ne escono circa 0,8 g in meno. È normale per il {grinder}?",
            "Il macinato si attacca al beccuccio e vola su tutto il bancone. Trucchi contro la statica?",
            "Vale la pena comprare il soffietto per il {grinder} o è una trovata commerciale?",
        ),
        answers=(
            "Una goccia d'acqua sui chicchi prima di macinare (RDT) e la statica è sparita.",
            "0,8 g è un po' tanto. Dai due colpetti al beccuccio e usa il soffietto, io sono a 0,1 g.",
            "Il soffietto conviene se macini una dose alla volta. Se cambi caffè ogni giorno, assolutamente sì.",
        ),
        staff_answers=(
            "Con il soffietto la ritenzione dovrebbe restare sotto 0,3 g. Se è di più controlla che il beccuccio"
            " sia pulito: le tostature scure lo sporcano in fretta.",
            "La statica dipende molto dall'umidità. Una leggera spruzzata d'acqua sui chicchi non danneggia le"
            " macine ed è quello che consigliamo.",
        ),
    ),
    "kettle": Topic(
        titles=("Temperatura del bollitore Arco sballata?", "Domanda sulla funzione mantenimento dell'Arco"),
        openings=(
            "Il mio Arco segna {temp}°C ma il termometro dice quattro gradi in meno. Si può calibrare?",
            "Quanto dura il mantenimento della temperatura sull'Arco? Il mio dopo un po' si spegne.",
            "L'Arco va svuotato dopo ogni uso o posso lasciarci l'acqua dentro?",
        ),
        answers=(
            "Anche il mio sbagliava di due gradi, ma misura alla base e non al beccuccio. Mescola prima di misurare.",
            "Il mantenimento dura 60 minuti e poi si spegne apposta. Dall'app puoi allungarlo.",
            "Io ci lascio l'acqua la notte e lo decalcifico una volta al mese, mai avuto problemi.",
        ),
        staff_answers=(
            "L'Arco misura alla base, quindi l'acqua nel beccuccio può essere un paio di gradi più fredda. Se"
            " preferisci, in Impostazioni > Calibrazione puoi aggiungere una correzione.",
            "Il mantenimento dura 60 minuti di default; dall'app puoi portarlo fino a 3 ore. Con acqua dura ti"
            " consigliamo di decalcificare ogni 4-6 settimane.",
        ),
    ),
    "scale_pairing": Topic(
        titles=("La bilancia Lumen non si collega all'app", "Problemi Bluetooth con la Lumen"),
        openings=(
            "La mia Lumen non compare nell'app Aurora Brew. Bluetooth acceso, permessi dati. Cosa mi sfugge?",
            "La bilancia si scollega dal telefono a metà di ogni estrazione. Capita anche a voi?",
            "Si può associare una Lumen a due telefoni? La usiamo in due in casa.",
        ),
        answers=(
            "Successo anche a me! Tieni premuto il tasto del timer per cinque secondi finché la luce lampeggia.",
            "Su Android l'app vuole anche il permesso di posizione per vedere i dispositivi Bluetooth, assurdo ma"
            " è così.",
            "Si collega a un telefono alla volta. Dissociala da uno e si collega all'altro.",
        ),
        staff_answers=(
            "Tieni premuto il tasto del timer per 5 secondi per mettere la Lumen in modalità abbinamento, poi"
            " aggiorna l'elenco nell'app. Se ancora non compare, dicci il modello del telefono e ci guardiamo.",
            "Le disconnessioni durante l'estrazione sono risolte dal firmware {version}. Puoi aggiornare dall'app"
            " in Dispositivi > Lumen > Firmware.",
        ),
    ),
    "firmware": Topic(
        titles=("Aggiornamento firmware bloccato al 60%", "Firmware {version} della Lumen: aggiornamento fallito"),
        openings=(
            "Ho provato ad aggiornare la Lumen alla {version} ed è ferma al 60% da venti minuti. Posso spegnerla o"
            " rischio di romperla?",
            "Dopo l'aggiornamento la bilancia mostra solo trattini. Aiuto!",
            "Conviene installare il firmware {version}? Ho letto pareri contrastanti.",
        ),
        answers=(
            "Stessa cosa a me. Ho tenuto il telefono vicinissimo alla bilancia e al secondo tentativo è andata.",
            "I trattini vogliono dire che è in modalità di ripristino. Apri l'app e ti propone di finire"
            " l'aggiornamento.",
            "A me la {version} ha sistemato il timer che sballava, la installerei.",
        ),
        staff_answers=(
            "Non si rompe: la Lumen tiene il firmware vecchio finché quello nuovo non è verificato. Spegnila,"
            " riaccendila tenendo premuto tara e riavvia l'aggiornamento dall'app.",
            "Grazie della segnalazione. Alcuni aggiornamenti alla {version} si bloccano se il telefono va in"
            " standby. Tieni l'app aperta durante l'aggiornamento; la correzione è in arrivo.",
        ),
    ),
    "cleaning": Topic(
        titles=("Ogni quanto pulite le macine?", "Pulire il {grinder} senza combinare guai"),
        openings=(
            "Ogni quanto smontate le macine per pulirle? Macino circa {grams} g al giorno.",
            "Le pastiglie per la pulizia dei macinini si possono usare nel {grinder}?",
            "Ho aperto il {grinder} per pulirlo e ora non riesco a ritrovare lo zero. Cosa ho sbagliato?",
        ),
        answers=(
            "Io ogni due mesi, con pennello e aspirapolvere. Mai acqua.",
            "Le pastiglie vanno bene, basta macinare qualche grammo di caffè vecchio dopo.",
            "Probabilmente hai rimontato il supporto delle macine uno scatto fuori posto. Allenta, gira finché fa"
            " clic e riprova.",
        ),
        staff_answers=(
            "Con un uso normale consigliamo una pulizia completa delle macine ogni 2-3 mesi. Le pastiglie sono"
            " sicure sul {grinder}: dopo macina 10 g di caffè.",
            "Dopo il rimontaggio gira la ghiera verso il fine finché senti le macine toccarsi, poi imposta quel"
            " punto come zero nel menu di calibrazione. Nel Centro assistenza c'è un breve video.",
        ),
    ),
    "warranty": Topic(
        titles=("Domanda sulla garanzia", "Ricambio per il mio {grinder}"),
        openings=(
            "Ho comprato il {grinder} in negozio e non sul vostro sito. La garanzia vale lo stesso?",
            "Si è crepato il coperchio della tramoggia. Dove posso ordinarne uno nuovo?",
            "Bisogna registrare il prodotto per avere i due anni di garanzia?",
        ),
        answers=(
            "La garanzia è la stessa ovunque lo compri, tieni lo scontrino. A me hanno risolto in una settimana.",
            "I ricambi sono nello shop online sotto Accessori, il coperchio costa poco.",
            "Io non l'ho mai registrato e mi hanno aiutato lo stesso, però con la registrazione si fa prima.",
        ),
        staff_answers=(
            "La garanzia copre ogni {grinder} acquistato da un rivenditore autorizzato: due anni nell'UE. La"
            " registrazione è facoltativa ma velocizza le pratiche.",
            "Ci dispiace per il coperchio! Mandaci il numero d'ordine e una foto e te ne spediamo uno nuovo"
            " gratuitamente.",
        ),
    ),
    "vela2": Topic(
        titles=("Vela 2 o Vela: vale la pena cambiare?", "Domanda sul preordine del Vela 2"),
        openings=(
            "Conviene passare dal Vela al Vela 2 se faccio quasi solo filtro?",
            "Ho preordinato il Vela 2 il giorno del lancio. Si sa quando parte la prima spedizione?",
            "Le macine del Vela 2 si montano sul Vela vecchio? Preferirei cambiare solo le macine.",
        ),
        answers=(
            "Se fai solo filtro la vera novità è la regolazione continua. Per me ne è valsa la pena.",
            "La prima ondata è partita la settimana scorsa, ieri mi è arrivato il tracking.",
            "No, il supporto delle macine è diverso. L'avevo chiesto anch'io su Matrix.",
        ),
        staff_answers=(
            "Il Vela 2 ha regolazione continua, meno ritenzione e un motore più silenzioso. Le macine non sono"
            " compatibili col Vela originale, che però continua a ricevere firmware e ricambi.",
            "I preordini della prima ondata partono nell'ordine in cui sono stati fatti: riceverai una mail col"
            " tracking appena il tuo pacco lascia il magazzino.",
        ),
    ),
}

COMPLAINTS = {
    "burrs": Topic(
        titles=("Rumore strano dalle macine nuove", "Macinatura irregolare: lotto {batch}?"),
        openings=(
            "Il mio {grinder} gratta dal primo giorno e la macinatura è tutta irregolare, pezzi grossi e polvere."
            " Sulla scatola delle macine c'è scritto lotto {batch}. Non me lo aspettavo a questo prezzo.",
            "Qualcun altro con le macine del lotto {batch}? Le mie fischiano sulle macinature fini e l'espresso è"
            " impossibile da regolare.",
            "Secondo macinino, stesso problema: stridio metallico e particelle irregolari. È un difetto noto?",
        ),
        answers=(
            "Stessa cosa, lotto {batch}. L'assistenza mi sta mandando le macine nuove.",
            "Guarda la scatola: se c'è scritto {batch} scrivi all'assistenza con una foto, te le cambiano.",
            "Anche le mie erano {batch}, quelle nuove sono silenziosissime.",
        ),
        staff_answers=(
            "Ci dispiace davvero. Una parte del lotto di macine {batch} è uscita dalla fabbrica con un difetto di"
            " lavorazione. Ti mandiamo gratuitamente un set nuovo e un'etichetta prepagata per il reso. Rispondi"
            " con il numero di serie, per favore.",
            "Grazie della segnalazione e scusa per il disagio. Le macine di ricambio sono in viaggio: riceverai"
            " il tracking entro 48 ore.",
        ),
    ),
    "shipping": Topic(
        titles=("Ordine non ancora consegnato", "Dov'è il mio ordine {order}?"),
        openings=(
            "Ho fatto l'ordine {order} {days} giorni fa e il tracking è fermo da una settimana. Cosa succede?",
            "Aspetto il bollitore da {days} giorni. Nessuno risponde alle mie mail.",
            "Il tracking di {order} dice 'fermo in dogana'. Devo fare qualcosa io?",
        ),
        answers=(
            "Anche il mio è rimasto in dogana dieci giorni, poi è arrivato senza costi extra.",
            "Idem, il corriere questo mese è lentissimo. Alla fine però arriva.",
            "Chiama direttamente il corriere, il mio l'hanno sbloccato il giorno dopo.",
        ),
        staff_answers=(
            "Scusa per l'attesa. Il nostro corriere ha ritardi in dogana questo mese. L'ordine {order} è in"
            " transito; se non arriva entro 5 giorni lavorativi te ne spediamo un altro.",
            "Grazie della pazienza. Ho controllato {order}: oggi è uscito dalla dogana e dovrebbe arrivarti entro"
            " tre giorni.",
        ),
    ),
    "outage": Topic(
        titles=("L'app non sincronizza?", "App Aurora Brew non funziona?"),
        openings=(
            "L'app Aurora Brew è giù? I diari di estrazione non si sincronizzano e la pagina ricette è vuota.",
            "L'app continua a dire 'impossibile raggiungere il server'. Ho perso l'estrazione di stamattina.",
            "Da stamattina non riesco a fare il login nell'app. Anche voi?",
        ),
        answers=(
            "Anche a me, da stamattina non sincronizza niente.",
            "Giù anche per me. Almeno la bilancia funziona offline.",
            "Sì, rotto anche qui. I dati restano sul telefono, si sincronizzano dopo.",
        ),
        staff_answers=(
            "Sappiamo del problema di sincronizzazione e ci stiamo lavorando. I tuoi dati restano sul telefono e"
            " si sincronizzeranno appena il servizio torna. Scusa per il disagio.",
            "La sincronizzazione è tornata! I dati salvati durante il guasto si stanno caricando ora. Grazie"
            " della pazienza.",
        ),
    ),
}

FEATURE_REQUESTS = (
    Topic(
        titles=("Richiesta: esportare i diari in CSV",),
        openings=(
            "Mi piacerebbe esportare i diari di estrazione in CSV per giocarci con un foglio di calcolo.",
            "Fateci esportare i dati, anche un semplice CSV andrebbe benissimo.",
        ),
        answers=("+1, lo userei ogni settimana.", "Sì, vi prego, adesso copio i numeri a mano."),
        staff_answers=("Grazie, è nella lista per il prossimo rilascio dell'app. Vi aggiorniamo qui con la beta.",),
    ),
    Topic(
        titles=("Modalità scura per l'app?",),
        openings=("Avete in programma una modalità scura per Aurora Brew? Lo schermo bianco alle 6 è micidiale.",),
        answers=("Sì! I miei occhi all'alba ringraziano.", "Assolutamente sì."),
        staff_answers=("La modalità scura è in fase di progettazione. Cerchiamo beta tester, rispondete qui!",),
    ),
)

ANNOUNCEMENTS = {
    "launch": Announcement(
        "Ecco il Vela 2",
        "Oggi lanciamo il Vela 2: regolazione continua della macinatura, macine da 64 mm con meno ritenzione,"
        " motore più silenzioso e tramoggia monodose. I preordini sono aperti; la prima ondata parte tra tre"
        " settimane. Domande benvenute qui sotto!",
        (
            "Che bello! Appena preordinato.",
            "C'è uno sconto per chi ha già il Vela?",
            "Finalmente la regolazione continua!",
            "La tramoggia è compatibile con quella vecchia?",
        ),
    ),
    "recall": Announcement(
        "Lotto di macine {batch}: sostituzione gratuita",
        "Alcuni set di macine del {grinder} del lotto {batch} hanno un difetto di lavorazione che causa rumore e"
        " macinatura irregolare. Se sulla scatola c'è scritto {batch}, contatta l'assistenza con il numero di"
        " serie: ti mandiamo un set nuovo e un'etichetta di reso prepagata. Ci scusiamo per il disagio.",
        ("Grazie per la trasparenza.", "Le mie sono {batch}, ho appena scritto all'assistenza.", "Era ora."),
    ),
}

BANK = Bank(
    language="it",
    greetings=("Ciao a tutti,", "Ciao!", "Salve,", "Domanda veloce:", "", "", "Buongiorno,"),
    sign_offs=("Grazie in anticipo!", "Ogni consiglio è ben accetto.", "Grazie!", "", "Dove sbaglio?"),
    answer_openers=("", "", "Successo anche a me.", "Prova così:", "Ciao {name},", "Per esperienza:"),
    thanks=(
        "Era quello, grazie mille!",
        "Funziona alla grande, grazie {name}.",
        "Grazie, ora è tutto a posto.",
        "Mi hai salvato il caffè del mattino, grazie!",
        "Provato e risolto. Grazie!",
    ),
    still_stuck=(
        "Provato, purtroppo è sempre uguale.",
        "Niente da fare per ora, altre idee?",
        "Ho fatto tutto, ma non funziona ancora.",
    ),
    me_too=("Stesso problema anche qui.", "Seguo, ho esattamente lo stesso problema.", "+1, succede anche a me."),
    questions=QUESTIONS,
    complaints=COMPLAINTS,
    praise=(
        "Sei mesi col {grinder} e ogni mattina sorrido ancora. Miglior acquisto dell'anno.",
        "Un grazie all'assistenza: macine nuove arrivate in due giorni, senza storie.",
        "L'Arco è tutta un'altra cosa rispetto al mio vecchio bollitore. Solo il mantenimento vale la spesa.",
        "Finalmente ho regolato le tostature chiare a {setting} e sanno di succo di frutta. Adoro questo macinino.",
        "Lumen più app: basta andare a occhio. Il mio V60 è costante per la prima volta.",
        "Sinceramente la community di caffè più gentile che abbia mai frequentato. Grazie a tutti.",
    ),
    praise_replies=(
        "Concordo in pieno!",
        "Che bello, buon caffè!",
        "Anche per me è stato così.",
        "Benvenuto nel club ☕",
    ),
    feature_requests=FEATURE_REQUESTS,
    plus_ones=("+1", "+1, mi piacerebbe tanto", "Sì, per favore!", "Un altro voto per questa."),
    chatter=(
        "Buongiorno a tutti ☕ cosa c'è nella tazza oggi?",
        "Oggi provo un Etiopia naturale, profuma di mirtilli.",
        "Qualcuno ha provato la moka col {grinder}? Che numero usate?",
        "Progetto del weekend: cold brew a {ratio}. Vi faccio sapere.",
        "Che acqua usate? Qui dal rubinetto esce durissima.",
    ),
    chatter_replies=(
        "Un Kenya, bello acido e succoso.",
        "Bello! Facci sapere com'è venuto.",
        "Io uso la caraffa filtrante e aggiungo un po' di acqua minerale.",
        "Io la moka la faccio intorno a 20, viene bene.",
        "Un espresso qualunque oggi, ma buono.",
        "Ottimo, di che torrefazione?",
    ),
    announcements=ANNOUNCEMENTS,
    announcement_replies=("Grazie dell'aggiornamento!", "Ottima notizia.", "Grazie per averci avvisato."),
    email_greetings=("Buongiorno,", "Salve,", "Gentile assistenza,", "Ciao,"),
    email_sign_offs=("Cordiali saluti,\n{name}", "Grazie,\n{name}", "Un saluto,\n{name}"),
    staff_greeting="Ciao {name},",
    staff_sign_off="Un caro saluto,\n{staff}\nAssistenza Aurora",
    spam=(
        "Guadagna 300 euro al giorno da casa, senza esperienza! Scrivimi o visita http://soldi-facili.example",
        "Macchine da caffè scontate fino all'80%, solo oggi: http://offerte-caffe.example",
    ),
    moderator_notes=(
        "Manteniamo i toni civili, per favore. Si discute delle idee, non delle persone.",
        "Chiudo la discussione per qualche ora. Rileggete le linee guida prima di scrivere di nuovo.",
    ),
    insults=("Che domanda stupida, leggiti il manuale.", "Ma ci sei o ci fai?"),
)
